/**
 * The meta node's own metrics and readiness (ops.ts serves them), read at scrape time from the running node's parts:
 * resource nodes by state, files and bytes in the index, open uploads, the repair queue and what repair did, audits
 * by outcome, traffic orders settled, and the chain height it follows. The parts are looked up on each scrape
 * (`running()`), so a node stopped and started again reports its new parts and a stopped node reports nothing.
 * Ready means the index is open and, with a chain, the first chain sync is done (before it, uploads are refused).
 */
import type { Ops } from '../../net/ops.ts'
import type { NetworkStatus } from '../protocol/api.ts'
import type { Auditor } from './audit/index.ts'
import type { ChainLink } from './chain-link.ts'
import type { PutCredits } from './pot/put-credits.ts'
import type { Settlement } from './pot/settlement.ts'
import type { RepairService } from './repair/index.ts'

export interface MetaMetricsParts {
  status: () => Promise<NetworkStatus>
  repair: RepairService
  auditor: Auditor
  settlement: Settlement
  putCredits: PutCredits
  chain: ChainLink | undefined
  /** True while the index can commit (PostgreSQL: reachable); a process cut off from its index is not ready. */
  indexReady: () => Promise<boolean>
}

const NONE: ReadonlyMap<string, number> = new Map()
/** One scrape reads the status once for its five gauges (an async read of the index each time otherwise). */
const STATUS_REUSE_MS = 500

export function registerMetaMetrics(ops: Ops, running: () => MetaMetricsParts | undefined): void {
  const m = ops.metrics
  const read =
    (f: (p: MetaMetricsParts) => number): (() => number) =>
    () => {
      const p = running()
      return p ? f(p) : 0
    }
  const readMap = (f: (p: MetaMetricsParts) => ReadonlyMap<string, number>) => () => {
    const p = running()
    return p ? f(p) : NONE
  }
  let last: { parts: MetaMetricsParts; at: number; status: Promise<NetworkStatus> } | undefined
  const status = (p: MetaMetricsParts): Promise<NetworkStatus> => {
    const now = Date.now()
    if (last?.parts !== p || now - last.at >= STATUS_REUSE_MS) {
      last = { parts: p, at: now, status: p.status() }
      last.status.catch(() => {}) // each gauge that awaits it sees the failure
    }
    return last.status
  }
  const readStatus =
    <T>(f: (s: NetworkStatus) => T, none: T): (() => Promise<T>) =>
    async () => {
      const p = running()
      return p ? f(await status(p)) : none
    }
  m.gauge(
    'stratos_meta_nodes',
    'Resource nodes known to this meta node, by state',
    readStatus((s): ReadonlyMap<string, number> => {
      const byState = new Map<string, number>([
        ['online', 0],
        ['offline', 0],
      ])
      for (const n of s.nodes) byState.set(n.state, (byState.get(n.state) ?? 0) + 1)
      return byState
    }, NONE),
    'state',
  )
  m.gauge(
    'stratos_meta_files',
    'Files in the index',
    readStatus((s) => s.totals.files, 0),
  )
  m.gauge(
    'stratos_meta_file_bytes',
    'Bytes of the files in the index',
    readStatus((s) => s.totals.fileBytes, 0),
  )
  m.gauge(
    'stratos_meta_open_uploads',
    'Upload sessions not yet committed',
    readStatus((s) => s.totals.openUploads, 0),
  )
  m.gauge(
    'stratos_meta_network_stored_bytes',
    'Bytes stored on the online resource nodes, as their heartbeats report',
    readStatus((s) => s.totals.usedBytes, 0),
  )
  m.gauge(
    'stratos_meta_repair_queue',
    'Segments queued for repair or replication',
    read((p) => p.repair.stats().queued),
  )
  m.gauge(
    'stratos_meta_repair_in_flight',
    'Segments being repaired now',
    read((p) => p.repair.stats().inFlight),
  )
  m.counterFrom(
    'stratos_meta_repaired_segments_total',
    'Segments repaired since start',
    read((p) => p.repair.stats().repairedSegments),
  )
  m.counterFrom(
    'stratos_meta_repair_failed_segments_total',
    'Segment repairs that failed (retried later)',
    read((p) => p.repair.stats().failedSegments),
  )
  m.counterFrom(
    'stratos_meta_repaired_shards_total',
    'Shards moved by repair, by how: copied from a live copy or rebuilt from k others',
    readMap((p) => {
      const s = p.repair.stats()
      return new Map([
        ['copied', s.copiedShards],
        ['rebuilt', s.rebuiltShards],
      ])
    }),
    'how',
  )
  m.counterFrom(
    'stratos_meta_audits_total',
    'Storage audits since start, by outcome',
    readMap((p) => new Map(Object.entries(p.auditor.outcomes))),
    'outcome',
  )
  m.counterFrom(
    'stratos_meta_orders_settled_total',
    'Traffic orders resource nodes settled here, by result',
    readMap(
      (p) =>
        new Map([
          ['accepted', p.settlement.totals.accepted],
          ['rejected', p.settlement.totals.rejected],
        ]),
    ),
    'result',
  )
  m.counterFrom(
    'stratos_meta_settled_bytes_total',
    'Bytes of the traffic orders accepted',
    read((p) => p.settlement.totals.acceptedBytes),
  )
  m.counterFrom(
    'stratos_meta_put_credits_total',
    'Committed PUT placements this process credited (pot/put-credits.ts)',
    read((p) => p.putCredits.totals.puts),
  )
  m.counterFrom(
    'stratos_meta_put_credited_bytes_total',
    'Bytes of the committed PUT placements this process credited',
    read((p) => p.putCredits.totals.bytes),
  )
  m.gauge(
    'stratos_meta_chain_height',
    'Chain height of the last chain sync (0 without a chain)',
    read((p) => p.chain?.height ?? 0),
  )
  ops.health.addCheck('index', async () => {
    const p = running()
    if (!p) return 'the meta node is not running'
    return (await p.indexReady()) ? undefined : 'the meta index is unreachable'
  })
  ops.health.addCheck('chain', () => {
    const chain = running()?.chain
    return !chain || chain.synced ? undefined : 'not synced with the chain yet'
  })
}
