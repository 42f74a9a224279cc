/**
 * Maintenance mode: a resource node's operator announces planned downtime (`stratos node maintenance on|off`), in a
 * request signed by the node key (protocol: ../../protocol/audit.ts, POST /v1/nodes/maintenance). While the window
 * lasts the node gets no new shards, its offline time does not count against its online score, it is not audited,
 * and repair leaves its shards alone (Reputation.maintenanceUntil). The window is bounded by MAINTENANCE_MAX_MS;
 * a node that stays away longer is treated like any offline node.
 */
import { StratosError } from '../../../errors.ts'
import { MAINTENANCE_MAX_MS, MAX_REQUEST_TTL_MS } from '../../../limits.ts'
import type { Clock } from '../../../util/components.ts'
import type { NodeView } from '../../protocol/api.ts'
import type { SignedMaintenance } from '../../protocol/audit.ts'
import { DOMAIN, verifyNodeSigned } from '../../protocol/signing.ts'
import type { Registry } from '../registry.ts'
import type { MetaStore } from '../store.ts'
import type { Reputation } from './reputation.ts'

export interface MaintenanceOptions {
  store: MetaStore
  registry: Registry
  reputation: Reputation
  chainId: string
  clock: Clock
  maxWindowMs?: number
}

export async function applyMaintenance(msg: SignedMaintenance, o: MaintenanceOptions): Promise<NodeView> {
  const now = o.clock.now()
  const p = verifyNodeSigned(DOMAIN.maintenance, msg, { chainId: o.chainId, now })
  if (p.node !== msg.signer)
    throw new StratosError('INVALID_SIGNATURE', 'a maintenance request must be signed by the node it names', {
      node: p.node,
      signer: msg.signer,
    })
  if (p.expiresAt > now + MAX_REQUEST_TTL_MS)
    throw new StratosError('BAD_REQUEST', `the request may not expire more than ${MAX_REQUEST_TTL_MS} ms ahead`)
  const record = o.registry.get(p.node)
  if (!record)
    throw new StratosError('NODE_NOT_REGISTERED', `node ${p.node} has never sent a heartbeat to this meta node`, {
      node: p.node,
    })
  const max = o.maxWindowMs ?? MAINTENANCE_MAX_MS
  if (p.on) {
    if (p.until === null || p.until <= now || p.until > now + max) {
      throw new StratosError('BAD_REQUEST', `a maintenance window must end within ${max} ms from now`, {
        until: p.until,
        now,
        maxMs: max,
      })
    }
  } else if (p.until !== null) {
    throw new StratosError('BAD_REQUEST', 'ending maintenance takes no `until`')
  }
  await o.store.write(() => o.store.nonces.use(msg.signer, p.nonce, p.expiresAt))
  await o.reputation.setMaintenance(p.node, p.on ? (p.until ?? undefined) : undefined, now)
  return o.registry.view(record, now)
}
