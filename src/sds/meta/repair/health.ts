/**
 * Is a shard location healthy? The one place repair, drain and replica placement decide it.
 *
 * A location (node, shard) is unhealthy — its shard must be rebuilt or moved — when
 *   - the location is marked bad (the node reported the shard corrupt or lost, store `bad`);
 *   - the node is unknown to the registry, or offline for longer than `graceMs` beyond the registry's offline
 *     threshold (measured from its last heartbeat: last heartbeat older than offlineAfterMs + graceMs);
 *   - the meta node suspended it (audits, NodeHealth from audit/);
 *   - its on-chain status is suspended, unbonding (drain: its deposit returns only after the unbonding period,
 *     which is the time budget to move its data) or unregistered — only once the chain link has synced.
 * A node inside an announced maintenance window is not repaired while the window lasts, even when offline: its
 * locations are 'waiting' instead.
 */
import type { ChainLink } from '../chain-link.ts'
import type { Registry } from '../registry.ts'
import type { MetaStore } from '../store.ts'

/** Meta-side node health from audits and maintenance windows: audit/ (Reputation) implements it. */
export type { NodeHealth } from '../audit/index.ts'
import type { NodeHealth } from '../audit/index.ts'

export type NodeCondition =
  | { state: 'healthy' }
  /** Offline (not yet past the grace period) or in maintenance: not repaired yet, not a placement target. */
  | { state: 'waiting'; reason: 'offline' | 'maintenance' }
  | {
      state: 'unhealthy'
      reason: 'offline' | 'corrupt' | 'unknown' | 'suspended' | 'chain-suspended' | 'unbonding' | 'unregistered'
      online: boolean
    }

export interface HealthOptions {
  store: MetaStore
  registry: Registry
  offlineAfterMs: number
  graceMs: number
  health?: NodeHealth
  chain?: ChainLink
}

export class LocationHealth {
  constructor(readonly o: HealthOptions) {}

  node(address: string, now: number): NodeCondition {
    const { registry, health, chain, offlineAfterMs, graceMs } = this.o
    const r = registry.get(address)
    if (!r) return { state: 'unhealthy', reason: 'unknown', online: false }
    const online = now - r.lastSeen <= offlineAfterMs
    if (chain?.synced) {
      const s = chain.nodeStatus(address)
      if (s === 'unbonding') return { state: 'unhealthy', reason: 'unbonding', online }
      if (s === 'suspended') return { state: 'unhealthy', reason: 'chain-suspended', online }
      if (s === 'unregistered') return { state: 'unhealthy', reason: 'unregistered', online }
    }
    if (health && !health.isNodeHealthy(address)) return { state: 'unhealthy', reason: 'suspended', online }
    if (online) return { state: 'healthy' }
    const until = health?.maintenanceUntil(address, now)
    if (until !== undefined && until > now) return { state: 'waiting', reason: 'maintenance' }
    if (now - r.lastSeen > offlineAfterMs + graceMs) return { state: 'unhealthy', reason: 'offline', online: false }
    return { state: 'waiting', reason: 'offline' }
  }

  /** 'healthy' | 'waiting' | 'unhealthy' for one location (a bad location is unhealthy whatever its node). */
  location(node: string, shard: string, now: number): NodeCondition {
    if (this.o.store.locations.isBad(node, shard)) return { state: 'unhealthy', reason: 'corrupt', online: false }
    return this.node(node, now)
  }

  /** May receive new repair copies or replicas: healthy and online. */
  placeable(address: string, now: number): boolean {
    return this.node(address, now).state === 'healthy' && (this.o.health?.acceptsNewData(address, now) ?? true)
  }
}
