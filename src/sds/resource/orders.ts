/**
 * OrderBook: the resource node's side of Proof of Traffic (see src/sds/protocol/orders.ts).
 *
 * Every shard GET carries, besides its ticket (the meta node's order limit), an order signed by the
 * limit's order key. (A PUT carries none: its upload's commit is its proof of traffic, credited by
 * the meta node; docs/protocol.md, Orders.) Before a single byte moves, `admit` checks the order and that it covers
 * everything served under the serial so far plus this request's bytes, then counts those bytes as
 * served and keeps the highest order. The settlement loop (settlement.ts) later hands each
 * (ticket, highest order) pair to the meta node, which pays the node `order.bytes`.
 *
 * Coverage rule: a request of n bytes needs max(order.bytes, highest order held) ≥ served + n, and
 * served + n ≤ the limit's size. Using the highest order already held (not only this request's) lets
 * concurrent requests of one client arrive out of order — their orders were signed in sequence, so a
 * later-signed order may arrive first — while the node still never serves more than the largest
 * order it can settle. A replayed old order gains nothing: it covers nothing new.
 *
 * A serial is closed once it is due for settlement (limit expired, highest order at the limit's size,
 * or older than the settle-after period) or settled: further requests get ORDER_LIMIT_EXCEEDED and
 * the client asks for a fresh limit. So the order that settles is final; nothing is served under a
 * serial after its order left for the meta node.
 *
 * Memory: one small entry per unsettled serial (≤ MAX_UNSETTLED_ORDERS; new serials beyond get BUSY)
 * plus settled serials until their limit expires (same bound, oldest forgotten first — forgetting
 * one can only cost this node: the meta node refuses a serial settled twice).
 */
import { StratosError } from '../../errors.ts'
import { CLOCK_SKEW_MS, MAX_UNSETTLED_ORDERS, ORDER_SETTLE_AFTER_MS, ORDER_SETTLE_WINDOW_MS } from '../../limits.ts'
import type { SignedTicket, Ticket } from '../protocol/messages.ts'
import { decodeOrderHeader, verifyOrder } from '../protocol/orders.ts'
import type { OrderStore, StoredSerial } from './order-store.ts'

interface Entry {
  served: number
  /** order.payload.bytes of the highest order held. */
  highest: number
  size: number
  expiresAt: number
  firstAt: number
  /** The meta node that signed the limit: it settles the serial. */
  issuer: string
}

export interface OrderBookOptions {
  store: OrderStore
  chainId: string
  /** Default ORDER_SETTLE_AFTER_MS. */
  settleAfterMs?: number
  /** Default MAX_UNSETTLED_ORDERS. */
  maxUnsettled?: number
}

export interface AdmitParameters {
  /** The verified ticket (stored with the first order of a serial); `ticket.payload` is what it permits. */
  ticket: SignedTicket
  orderHeader: string | string[] | undefined
  /** Bytes this request moves (PUT: the shard; GET: the response body). */
  bytes: number
  now: number
}

/** What the settlement loop needs to know about a due serial. */
export interface DueSerial {
  serial: string
  expiresAt: number
  /** Past the settlement window: the meta node would refuse it. */
  stale: boolean
}

export class OrderBook {
  readonly #store: OrderStore
  readonly #chainId: string
  readonly #settleAfterMs: number
  readonly #max: number
  readonly #pending = new Map<string, Entry>()
  /** serial → limit expiry; insertion order ≈ settlement order. */
  readonly #settled = new Map<string, number>()

  constructor(options: OrderBookOptions) {
    this.#store = options.store
    this.#chainId = options.chainId
    this.#settleAfterMs = options.settleAfterMs ?? ORDER_SETTLE_AFTER_MS
    this.#max = options.maxUnsettled ?? MAX_UNSETTLED_ORDERS
  }

  /** Loads the unsettled and settled serials from the store (at start). */
  load(): void {
    this.#pending.clear()
    this.#settled.clear()
    for (const s of this.#store.loadPending()) this.#pending.set(s.serial, entryOf(s))
    for (const [serial, expiresAt] of this.#store.loadSettled()) this.#settled.set(serial, expiresAt)
  }

  /** Unsettled serials. */
  get pendingCount(): number {
    return this.#pending.size
  }

  /** Bytes served under unsettled serials: traffic this node has yet to be paid for. */
  get unsettledBytes(): number {
    let sum = 0
    for (const e of this.#pending.values()) sum += e.served
    return sum
  }

  /** Settled serials still remembered (refused until their limits expire). */
  get settledCount(): number {
    return this.#settled.size
  }

  /** Bytes served and highest order held under an unsettled serial (operators' tools, tests). */
  inspect(serial: string): { served: number; highest: number } | undefined {
    const e = this.#pending.get(serial)
    return e ? { served: e.served, highest: e.highest } : undefined
  }

  isSettled(serial: string): boolean {
    return this.#settled.has(serial)
  }

  /**
   * Checks the request's order and counts its bytes; throws ORDER_MISSING, ORDER_INVALID,
   * ORDER_LIMIT_EXCEEDED or BUSY. Call after every other check, just before bytes move.
   */
  admit(p: AdmitParameters): void {
    const signed = decodeOrderHeader(p.orderHeader)
    const limit: Ticket = p.ticket.payload
    const order = verifyOrder({ ticket: limit, order: signed, chainId: this.#chainId })
    const serial = limit.serial
    const entry = this.#pending.get(serial)
    if (this.#settled.has(serial) || (entry && this.#due(entry, p.now))) {
      throw new StratosError(
        'ORDER_LIMIT_EXCEEDED',
        'this order limit is closed for settlement; ask the meta node for a new one',
        { serial, closed: true },
      )
    }
    const served = entry?.served ?? 0
    const needed = served + p.bytes
    if (needed > limit.size) {
      throw new StratosError(
        'ORDER_LIMIT_EXCEEDED',
        `${needed} bytes under this limit would exceed its ${limit.size}`,
        { serial, needed, limit: limit.size },
      )
    }
    if (Math.max(order.bytes, entry?.highest ?? 0) < needed) {
      throw new StratosError('ORDER_INVALID', `order covers ${order.bytes} bytes, ${needed} are needed`, {
        serial,
        needed,
        signed: order.bytes,
      })
    }
    if (!entry) {
      if (this.#pending.size >= this.#max) {
        throw new StratosError('BUSY', `node holds ${this.#pending.size} unsettled orders; try another node or later`, {
          retryable: true,
        })
      }
      this.#pending.set(serial, {
        served: needed,
        highest: order.bytes,
        size: limit.size,
        expiresAt: limit.expiresAt,
        firstAt: p.now,
        issuer: p.ticket.signer,
      })
      this.#store.create(serial, p.ticket, { order: signed, served: needed, firstAt: p.now })
      return
    }
    entry.served = needed
    if (order.bytes > entry.highest) {
      entry.highest = order.bytes
      this.#store.update(serial, { order: signed, served: needed, firstAt: entry.firstAt })
    }
    // Otherwise (an order that arrived after a later-signed one) only the in-memory count moves: the
    // stored order is not re-read (an uncommitted newer one would be invisible). After a crash the
    // node may then serve that slack again, unpaid — its own loss, never the payer's.
  }

  /**
   * Serials ready for settlement (at most `limit`), oldest first; `all` takes every pending serial (at stop).
   * `issuer`: only serials whose limit that meta node signed (each meta node settles its own).
   */
  due(now: number, limit: number, all = false, issuer?: (address: string) => boolean): DueSerial[] {
    const out: DueSerial[] = []
    for (const [serial, e] of this.#pending) {
      if (out.length >= limit) break
      if (issuer && !issuer(e.issuer)) continue
      if (all || this.#due(e, now))
        out.push({ serial, expiresAt: e.expiresAt, stale: now > e.expiresAt + ORDER_SETTLE_WINDOW_MS })
    }
    return out
  }

  /** Resolves once every order admitted so far is committed to the store (settlement reads from it). */
  flushed(): Promise<void> {
    return this.#store.flushed()
  }

  /** The stored ticket and highest order of a pending serial (call after `flushed`). */
  record(serial: string): StoredSerial | undefined {
    return this.#store.get(serial)
  }

  /** Serials the meta node answered (accepted or rejected): they leave the book, are refused until they expire. */
  async settled(items: Array<{ serial: string; expiresAt: number }>): Promise<void> {
    if (items.length === 0) return
    for (const { serial, expiresAt } of items) {
      this.#pending.delete(serial)
      this.#settled.set(serial, expiresAt)
    }
    const overflow: string[] = []
    while (this.#settled.size > this.#max) {
      const oldest = this.#settled.keys().next().value as string
      this.#settled.delete(oldest)
      overflow.push(oldest)
    }
    await this.#store.settle(items)
    if (overflow.length) await this.#store.forgetSettled(overflow)
  }

  /** Forgets pending serials past the settlement window (unpaid). */
  async drop(serials: string[]): Promise<void> {
    if (serials.length === 0) return
    for (const s of serials) this.#pending.delete(s)
    await this.#store.drop(serials)
  }

  /** Forgets settled serials whose limits have expired (the ticket check refuses them from now on). */
  async prune(now: number): Promise<number> {
    const gone: string[] = []
    for (const [serial, expiresAt] of this.#settled) if (now > expiresAt + CLOCK_SKEW_MS) gone.push(serial)
    for (const s of gone) this.#settled.delete(s)
    if (gone.length) await this.#store.forgetSettled(gone)
    return gone.length
  }

  #due(e: Entry, now: number): boolean {
    return now > e.expiresAt + CLOCK_SKEW_MS || e.highest >= e.size || now - e.firstAt >= this.#settleAfterMs
  }
}

function entryOf(s: StoredSerial): Entry {
  return {
    served: s.served,
    highest: s.order.payload.bytes,
    size: s.ticket.payload.size,
    expiresAt: s.ticket.payload.expiresAt,
    firstAt: s.firstAt,
    issuer: s.ticket.signer,
  }
}
