/**
 * Storage audits, reputation, suspension, slashing and maintenance at the meta node.
 *
 * For repair (and anyone else deciding about a node's shards), read `NodeHealth` (implemented by `Reputation`):
 *   health.isNodeHealthy(node)          false while suspended → its shards count as unhealthy, rebuild them elsewhere
 *   health.maintenanceUntil(node, now)  a number while a maintenance window is open → do not repair its shards yet
 *   health.acceptsNewData(node, now)    placement: not suspended and not in maintenance (already a registry filter)
 * MetaNode exposes it as `metaNode.health` (see node.ts) and passes it to components it builds.
 */
export { Auditor, type AuditOutcome, type AuditRound, type AuditorOptions } from './auditor.ts'
export { applyMaintenance, type MaintenanceOptions } from './maintenance.ts'
export {
  DEFAULT_REPUTATION_PARAMS,
  Reputation,
  scoreOf,
  type NodeHealth,
  type NodeReputation,
  type ReputationParams,
  type SlashIncident,
} from './reputation.ts'
export { Slasher, type SlasherOptions } from './slasher.ts'

import type { NodeKey } from '../../../crypto/node-key.ts'
import type { Clock, Logger, RandomBytes } from '../../../util/components.ts'
import type { ChainLink } from '../chain-link.ts'
import type { Registry } from '../registry.ts'
import type { MetaStore } from '../store.ts'
import { Auditor } from './auditor.ts'
import { Reputation, type ReputationParams } from './reputation.ts'
import { Slasher } from './slasher.ts'

export interface AuditSystemOptions {
  store: MetaStore
  registry: Registry
  key: NodeKey
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
  chain?: ChainLink
  params?: Partial<ReputationParams>
  intervalMs?: number
  nodeMinIntervalMs?: number
  onlineSampleIntervalMs?: number
  /** See AuditorOptions.onDuty. */
  onDuty?: () => boolean
}

/** Builds reputation + slasher + auditor and hooks them into the registry (placement filter, node views). */
export function createAuditSystem(o: AuditSystemOptions): {
  reputation: Reputation
  slasher: Slasher
  auditor: Auditor
} {
  const reputation = new Reputation({
    store: o.store,
    clock: o.clock,
    logger: o.logger,
    ...(o.params ? { params: o.params } : {}),
  })
  const slasher = new Slasher({
    reputation,
    metaNode: o.key.address,
    clock: o.clock,
    logger: o.logger,
    ...(o.chain ? { chain: o.chain } : {}),
  })
  const auditor = new Auditor({
    store: o.store,
    registry: o.registry,
    reputation,
    slasher,
    key: o.key,
    chainId: o.chainId,
    clock: o.clock,
    random: o.random,
    logger: o.logger,
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    ...(o.nodeMinIntervalMs !== undefined ? { nodeMinIntervalMs: o.nodeMinIntervalMs } : {}),
    ...(o.onlineSampleIntervalMs !== undefined ? { onlineSampleIntervalMs: o.onlineSampleIntervalMs } : {}),
    ...(o.onDuty ? { onDuty: o.onDuty } : {}),
  })
  o.registry.addPlacementFilter((node, now) => reputation.acceptsNewData(node, now))
  o.registry.extendViews((view, now) => ({
    ...view,
    reputation: reputation.view(view.address, view.state === 'online', now),
  }))
  return { reputation, slasher, auditor }
}
