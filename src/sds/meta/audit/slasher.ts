/**
 * Reports slashing incidents (reputation.ts) to the chain: one slash_resource_node per incident, sent by the meta
 * node's owner wallet through ChainLink.submit, naming this meta node and the incident's debt.
 *
 * Exactly once: the incident is marked `submitting` (durably) before the transaction leaves and `submitted` (with
 * its hash and height) after inclusion. A restart that finds an incident still `submitting` cannot know whether
 * the transaction made it: if the chain already shows the node suspended it counts as submitted, otherwise it is
 * sent again (a lost transaction is the likelier case; the chain itself refuses a second slash in one block).
 * Without a chain, or for a node the chain does not know, the incident is settled as `skipped` (local suspension
 * still applies). A failed submission goes back to `pending` and is retried on the next audit round.
 */
import type { Msg } from '../../../chain/msgs.ts'
import { toStratosError } from '../../../errors.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import type { ChainLink } from '../chain-link.ts'
import type { Reputation, SlashIncident } from './reputation.ts'

export interface SlasherOptions {
  reputation: Reputation
  /** Undefined: storage-only mode, incidents are skipped. */
  chain?: ChainLink
  /** This meta node's address (the slash message names it; its owner wallet signs). */
  metaNode: string
  clock: Clock
  logger: Logger
}

export class Slasher {
  readonly #o: SlasherOptions

  constructor(options: SlasherOptions) {
    this.#o = options
  }

  /** Settles every open incident it can now; never throws (errors stay on the incident for the next try). */
  async run(): Promise<void> {
    for (const { node, incident } of this.#o.reputation.openIncidents()) await this.#settle(node, incident)
  }

  async #settle(node: string, incident: SlashIncident): Promise<void> {
    const { reputation, chain, clock, logger, metaNode } = this.#o
    const now = clock.now()
    if (!chain) {
      await reputation.setIncident(node, { status: 'skipped', note: 'no chain configured' }, now)
      return
    }
    if (!chain.synced) return
    const status = chain.nodeStatus(node)
    if (status === 'unregistered') {
      await reputation.setIncident(node, { status: 'skipped', note: 'the node is not registered on chain' }, now)
      return
    }
    if (incident.status === 'submitting' && status === 'suspended') {
      await reputation.setIncident(
        node,
        { status: 'submitted', note: 'found suspended on chain after an interrupted submission' },
        now,
      )
      return
    }
    await reputation.setIncident(node, { status: 'submitting', attempts: incident.attempts + 1 }, now)
    const msg = { type: 'slash_resource_node', metaNode, node, debtOzone: BigInt(incident.debtOzone) } as Msg
    try {
      const tx = await chain.submit([msg], { memo: `audit incident ${incident.id}` })
      await reputation.setIncident(
        node,
        { status: 'submitted', txHash: tx.hash, ...(tx.height !== undefined ? { height: tx.height } : {}) },
        clock.now(),
      )
      logger.warn(
        { node, incident: incident.id, debtOzone: incident.debtOzone, tx: tx.hash },
        'resource node slashed on chain',
      )
    } catch (e) {
      const err = toStratosError(e)
      await reputation
        .setIncident(node, { status: 'pending', note: `${err.code}: ${err.message}` }, clock.now())
        .catch(() => {})
      logger.error({ node, incident: incident.id, code: err.code, err: err.message }, 'slash report failed; will retry')
    }
  }
}
