/**
 * The resource node's own metrics and readiness (ops.ts serves them): what it stores, its transfers, its heartbeats
 * and settled orders, read from the node's parts at scrape time. Shard bytes served and received and audits answered
 * are counted by the server as they happen (server.ts). Ready means the meta node heard this node lately: its last
 * acknowledged heartbeat is at most RESOURCE_READY_HEARTBEATS intervals old (a node cut off from its meta node is
 * not ready, and the meta node stops placing data on it at about the same time).
 */
import { RESOURCE_READY_HEARTBEATS } from '../../limits.ts'
import type { Ops } from '../../net/ops.ts'
import type { Clock } from '../../util/components.ts'
import type { HeartbeatLoop } from './heartbeat.ts'
import type { SettlementLoop } from './settlement.ts'
import type { ShardStore } from './store.ts'

export interface ResourceMetricsParts {
  store: ShardStore
  /** The heartbeats of every meta node served, as one (meta-links.ts: counts summed, the latest acknowledgement). */
  heartbeat: Pick<HeartbeatLoop, 'acknowledged' | 'pendingDeleted' | 'lastAcknowledgedAt' | 'intervalMs'>
  /** The settlement of every meta node served, as one (counts summed). */
  settlement: Pick<SettlementLoop, 'totals'>
  clock: Clock
  /** Shard transfers in progress. */
  load: () => number
}

export function registerResourceMetrics(ops: Ops, p: ResourceMetricsParts): void {
  const m = ops.metrics
  m.gauge('stratos_resource_stored_bytes', 'Bytes of shards stored', async () => (await p.store.stats()).usedBytes)
  m.gauge(
    'stratos_resource_capacity_bytes',
    'Bytes offered to the network',
    async () => (await p.store.stats()).capacityBytes,
  )
  m.gauge('stratos_resource_free_bytes', 'Bytes still free', async () => (await p.store.stats()).freeBytes)
  m.gauge('stratos_resource_shards', 'Shards stored', async () => (await p.store.stats()).shardCount)
  m.gauge('stratos_resource_transfers_in_progress', 'Shard reads and writes in progress', p.load)
  m.counterFrom(
    'stratos_resource_heartbeats_acknowledged_total',
    'Heartbeats the meta node answered with a verified reply',
    () => p.heartbeat.acknowledged,
  )
  m.gauge(
    'stratos_resource_pending_deleted_reports',
    'Deletions done but not yet acknowledged by the meta node',
    () => p.heartbeat.pendingDeleted().length,
  )
  m.counterFrom(
    'stratos_resource_orders_settled_total',
    'Traffic orders the meta node answered, by result',
    () =>
      new Map([
        ['accepted', p.settlement.totals.accepted],
        ['rejected', p.settlement.totals.rejected],
      ]),
    'result',
  )
  m.counterFrom(
    'stratos_resource_settled_bytes_total',
    'Bytes of traffic orders the meta node accepted',
    () => p.settlement.totals.acceptedBytes,
  )
  ops.health.addCheck('meta-heartbeat', () => {
    const at = p.heartbeat.lastAcknowledgedAt
    if (at === undefined) return 'no heartbeat acknowledged by the meta node yet'
    const age = p.clock.now() - at
    const limit = RESOURCE_READY_HEARTBEATS * p.heartbeat.intervalMs
    return age <= limit ? undefined : `last heartbeat acknowledged ${age} ms ago (limit ${limit} ms)`
  })
}
