/**
 * Settlement: resource nodes hand in (order limit, highest order) pairs of shard GETs — POST /v1/orders/settle — and
 * the meta node decides, per item, whether the node is paid for those bytes. A PUT item (from a node older than PUT
 * credits) is refused with ORDER_NOT_NEEDED, so it leaves that node's book: PUTs are credited from the commit that
 * made them part of a file (put-credits.ts), never from orders.
 *
 * A batch is NodeSigned (DOMAIN.settleOrders) by the resource node; a bad batch signature, wrong chain or a batch
 * past its expiry fails the whole request (nothing is paid). Each item is accepted only when:
 *   - the ticket is signed by THIS meta node (expired tickets are fine: orders are settled after the transfer),
 *     for the same chain, and names the batch's node (TICKET_INVALID / UNTRUSTED_ISSUER / TICKET_WRONG_NODE);
 *   - settlement comes at most ORDER_SETTLE_WINDOW_MS after the limit expired (TICKET_EXPIRED);
 *   - the order is signed by the limit's orderKey, same serial and chain, at most the limit's bytes, signed before
 *     the limit expired (verifyOrder: ORDER_INVALID / ORDER_LIMIT_EXCEEDED);
 *   - the serial was never settled before, here or earlier in the batch (REPLAYED_NONCE; remembered durably in LMDB
 *     until the settle window has passed, after which the window check refuses it anyway);
 *   - the node really held the shard (SHARD_NOT_FOUND otherwise): a GET counts when the index has (or, with a delete
 *     pending, had) the shard at that node.
 * Accepted bytes are credited, in the same transaction that marks the serial settled, to (current chain epoch,
 * node, payer), to the node's total and to (file, epoch, op) — see pot-store.ts; the epoch's volume report
 * (reports.ts) is built from those credits. Without a chain, credits go to epoch 0 and are never reported.
 */
import type { NodeKey } from '../../../crypto/node-key.ts'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { StratosError, throwIfAborted, toStratosError } from '../../../errors.ts'
import { CLOCK_SKEW_MS, ORDER_SETTLE_WINDOW_MS } from '../../../limits.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import type { SettleOrdersBody, SettleOrdersResponse } from '../../protocol/api.ts'
import type { Ticket } from '../../protocol/messages.ts'
import { verifyOrder } from '../../protocol/orders.ts'
import { DOMAIN, verifyNodeSigned, verifyOwnNodeSigned } from '../../protocol/signing.ts'
import type { ChainLink } from '../chain-link.ts'
import { canonicalCid } from '../cid.ts'
import type { MetaStore } from '../store.ts'
import type { OzoneGuard } from './ozone-guard.ts'

/** Items verified (two ed25519 signatures each) between two yields to the event loop. */
const VERIFY_PER_YIELD = 64

export interface SettlementOptions {
  store: MetaStore
  /** This meta node's key: only its tickets are settled here. */
  key: NodeKey
  chainId: string
  chain?: Pick<ChainLink, 'epoch' | 'synced'>
  guard?: OzoneGuard
  clock: Clock
  logger: Logger
  settleWindowMs?: number
}

type Result = SettleOrdersResponse['results'][number]

interface Checked {
  index: number
  ticket: Ticket
  bytes: number
}

export class Settlement {
  /** Orders settled since start (metrics): accepted (with their bytes) and rejected. */
  readonly totals = { accepted: 0, rejected: 0, acceptedBytes: 0 }
  readonly #o: SettlementOptions
  readonly #trusted: ReadonlySet<string>
  readonly #window: number

  constructor(options: SettlementOptions) {
    this.#o = options
    this.#trusted = new Set([options.key.address])
    this.#window = options.settleWindowMs ?? ORDER_SETTLE_WINDOW_MS
  }

  async settle(body: SettleOrdersBody, signal?: AbortSignal): Promise<SettleOrdersResponse> {
    const { chainId, clock, chain } = this.#o
    const batch = verifyNodeSigned(DOMAIN.settleOrders, body, { chainId, now: clock.now() })
    if (batch.node !== body.signer)
      throw new StratosError('INVALID_SIGNATURE', `a settlement batch for ${batch.node} must be signed by that node`, {
        node: batch.node,
        signer: body.signer,
      })
    if (chain && !chain.synced)
      throw new StratosError(
        'NODE_UNAVAILABLE',
        'the meta node has not synced with the chain yet; settle again shortly',
      )

    const results: (Result | undefined)[] = new Array(batch.items.length)
    const checked: Checked[] = []
    const seen = new Set<string>()
    for (let i = 0; i < batch.items.length; i++) {
      if (i > 0 && i % VERIFY_PER_YIELD === 0) {
        await yieldToEventLoop()
        throwIfAborted(signal)
      }
      const item = batch.items[i]
      const serial = item.order.payload.serial
      if (item.ticket.payload.op === 'put') {
        results[i] = { serial, status: 'rejected', code: 'ORDER_NOT_NEEDED' }
        continue
      }
      try {
        const ticket = this.#checkItem(batch.node, item.ticket, item.order)
        if (seen.has(ticket.serial)) throw new StratosError('REPLAYED_NONCE', 'serial appears twice in the batch')
        seen.add(ticket.serial)
        checked.push({ index: i, ticket, bytes: item.order.payload.bytes })
      } catch (e) {
        results[i] = { serial, status: 'rejected', code: toStratosError(e).code }
      }
    }

    const accepted: Checked[] = []
    if (checked.length > 0) {
      const { store } = this.#o
      await store.write(() => {
        accepted.length = 0 // a run again (PostgreSQL: after a round of reads, or a conflict) starts over
        // Everything the items read, in one round trip on PostgreSQL: serials, locations, credits, payers' books.
        const epoch = this.#o.chain?.epoch ?? 0
        const items = checked.map((c) => ({
          serial: c.ticket.serial,
          payer: c.ticket.payer,
          op: c.ticket.op,
          context: c.ticket.context,
          shard: c.ticket.shard,
          cid: cidOf(c.ticket.context),
        }))
        const gets = checked.map((c) => [batch.node, c.ticket.shard] as [string, string])
        const { guard } = this.#o
        store.prefetch([
          ...store.pot.settleReads(epoch, batch.node, items),
          ...store.locations.reads(gets),
          ...(guard ? guard.reads([...new Set(items.map((i) => i.payer))]) : []),
        ])
        for (const c of checked) {
          const r = this.#apply(batch.node, c)
          results[c.index] = r
          if (r.status === 'accepted') accepted.push(c)
        }
        // The payers' shared books (pot/ozone-guard.ts), in the transaction that marks the serials settled.
        for (const c of accepted) guard?.settled(c.ticket.payer, c.ticket.size, c.ticket.expiresAt, c.bytes)
      })
    }
    const out = results.filter((r): r is Result => r !== undefined)
    const ok = accepted.length
    this.totals.accepted += ok
    this.totals.rejected += out.length - ok
    for (const c of accepted) this.totals.acceptedBytes += c.bytes
    if (ok < batch.items.length) {
      this.#o.logger.info(
        {
          node: batch.node,
          items: batch.items.length,
          accepted: ok,
          rejected: out.length - ok,
        },
        'orders settled',
      )
    } else {
      this.#o.logger.debug({ node: batch.node, accepted: ok }, 'orders settled')
    }
    return { results: out }
  }

  /** Stateless checks: ticket, order, window. Throws the item's rejection code. */
  #checkItem(
    node: string,
    signedTicket: SettleOrdersBody['payload']['items'][number]['ticket'],
    order: SettleOrdersBody['payload']['items'][number]['order'],
  ): Ticket {
    const now = this.#o.clock.now()
    const { chainId } = this.#o
    // Judge the ticket's freshness at its own expiry: settling happens after the transfer, often after expiry. This
    // node signed it: checked by signing it again (verifyOwnNodeSigned), a third of a verification's CPU.
    const ticket = verifyOwnNodeSigned(
      DOMAIN.ticket,
      this.#o.key,
      signedTicket,
      { chainId, now: Math.min(now, signedTicket.payload.expiresAt), trustedSigners: this.#trusted },
      'TICKET_INVALID',
    )
    if (ticket.node !== node) throw new StratosError('TICKET_WRONG_NODE', `limit is for node ${ticket.node}`)
    if (now > ticket.expiresAt + CLOCK_SKEW_MS + this.#window)
      throw new StratosError('TICKET_EXPIRED', 'the limit expired longer ago than the settle window')
    verifyOrder({ ticket, order, chainId })
    return ticket
  }

  /** Inside the write transaction: replay and location checks, then the credits (GETs only: PUTs never get here). */
  #apply(node: string, c: Checked): Result {
    const { store } = this.#o
    const t = c.ticket
    const serial = t.serial
    if (store.pot.isSettled(serial)) return { serial, status: 'rejected', code: 'REPLAYED_NONCE' }
    if (!store.locations.isKnown(node, t.shard)) return { serial, status: 'rejected', code: 'SHARD_NOT_FOUND' }
    const cid = cidOf(t.context)
    const keepUntil = t.expiresAt + CLOCK_SKEW_MS + this.#window + CLOCK_SKEW_MS
    store.pot.markSettled(serial, keepUntil)
    if (c.bytes > 0) {
      store.pot.creditTraffic({ epoch: this.#o.chain?.epoch ?? 0, node, payer: t.payer, cid, op: t.op, bytes: c.bytes })
    }
    return { serial, status: 'accepted' }
  }
}

/** A GET's file: its context as a canonical CID (or as it is, when it is not one). */
function cidOf(context: string): string {
  try {
    return canonicalCid(context)
  } catch {
    return context
  }
}
