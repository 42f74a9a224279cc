/**
 * OzoneGuard: the meta node signs an order limit only when the payer's prepaid traffic (ozone) covers it.
 *
 *   available = ozone on chain (ChainLink.ozone, cached OZONE_CACHE_MS)
 *             − promised  (bytes of this meta node's unexpired, unsettled order limits of that payer)
 *             − accepted  (bytes of orders settled here whose volume report the chain has not charged yet)
 *
 * A request whose new limits exceed `available` is refused with INSUFFICIENT_OZONE before any byte moves.
 *
 * What counts as promised:
 *   - PUT limits (plan, replace): every shard, k + m per segment — an upload moves all of them.
 *   - GET limits (read): k shards per segment. A read response carries k + m tickets per segment, but a healthy read
 *     moves only the k data shards; reserving all k + m would lock (k+m)/k of every read for TICKET_TTL_MS and refuse
 *     owners long before their ozone runs out. A degraded read that also uses parity moves more than reserved, by at
 *     most m/k of the segment, and settlement then counts the real bytes (accepted) — the chain never charges more
 *     than a wallet holds anyway.
 *   - create upload with a declared size: checked (size·(k+m)/k must fit), not reserved; plans reserve as they go.
 *
 * Bookkeeping (memory only, O(1) per request): per payer, buckets keyed by the limits' expiry time (one bucket per
 * request; all tickets of a request share `expiresAt`). A bucket leaves when its limits expired; settling an order
 * moves its limit's share from the bucket to `accepted`; an included volume report takes its bytes off `accepted`.
 * Payers and buckets are bounded (OZONE_GUARD_MAX_PAYERS, OZONE_GUARD_MAX_BUCKETS_PER_PAYER: a payer past it has its
 * newest buckets merged, which keeps them longer, i.e. stays conservative).
 *
 * Across restarts: `accepted` is rebuilt from the LMDB traffic credits of unreported epochs (settlement.ts), so it is
 * exact. `promised` is lost: limits issued in the last TICKET_TTL_MS before a restart can still be spent without being
 * counted. That is safe enough: it is bounded by one ticket lifetime of traffic, those bytes are still settled and
 * charged (the chain charges at most the wallet's ozone, so the worst case is some unpaid traffic, never a negative
 * balance), and a meta node restarts rarely. Persisting every limit would put an LMDB write on the read path.
 */
import { StratosError } from '../../../errors.ts'
import { CLOCK_SKEW_MS, OZONE_GUARD_MAX_BUCKETS_PER_PAYER, OZONE_GUARD_MAX_PAYERS } from '../../../limits.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import { Lru } from '../../../util/lru.ts'
import type { ChainLink } from '../chain-link.ts'

interface PayerBook {
  /** expiresAt (ms) → bytes still promised under limits expiring then (insertion order = expiry order). */
  buckets: Map<number, number>
  promised: number
  /** Settled here, not yet charged on chain. */
  accepted: number
}

export interface OzoneGuardOptions {
  chain: Pick<ChainLink, 'ozone'>
  clock: Clock
  logger: Logger
  maxPayers?: number
  maxBucketsPerPayer?: number
}

export class OzoneGuard {
  readonly #o: OzoneGuardOptions
  readonly #books = new Map<string, PayerBook>()
  /** Payers charged since their balance was last read: the next read bypasses the cache. */
  readonly #stale = new Set<string>()
  /** The last balance read per payer (fallback while the chain is unreachable); least recently read out. */
  readonly #lastKnown: Lru<string, bigint>
  readonly #maxPayers: number
  readonly #maxBuckets: number

  constructor(options: OzoneGuardOptions) {
    this.#o = options
    this.#maxPayers = options.maxPayers ?? OZONE_GUARD_MAX_PAYERS
    this.#maxBuckets = options.maxBucketsPerPayer ?? OZONE_GUARD_MAX_BUCKETS_PER_PAYER
    this.#lastKnown = new Lru({ maxEntries: this.#maxPayers })
  }

  /**
   * The payer's ozone on chain (cached; fresh after one of its reports was charged). When the chain cannot be read,
   * the last balance seen is used (reads must not fail while a validator restarts; the promises on top still
   * bound what is handed out); a payer never seen is refused with NODE_UNAVAILABLE.
   */
  async balance(payer: string, signal?: AbortSignal): Promise<bigint> {
    const fresh = this.#stale.delete(payer)
    try {
      const value = await this.#o.chain.ozone(payer, { fresh, ...(signal ? { signal } : {}) })
      this.#lastKnown.set(payer, value)
      return value
    } catch (e) {
      if (fresh) this.#stale.add(payer)
      const last = this.#lastKnown.peek(payer) // falling back is not a read: the order stays by balance reads
      if (last !== undefined) {
        this.#o.logger.warn(
          { payer, err: (e as Error).message },
          'chain unreachable: using the last ozone balance seen',
        )
        return last
      }
      throw new StratosError(
        'NODE_UNAVAILABLE',
        `cannot read the ozone balance of ${payer} from the chain: ${(e as Error).message}`,
        { payer },
        { cause: e },
      )
    }
  }

  /** What the payer can still be promised given `ozone` (never negative). */
  available(payer: string, ozone: bigint): bigint {
    const b = this.#book(payer, false)
    const left = ozone - BigInt(Math.ceil((b?.promised ?? 0) + (b?.accepted ?? 0)))
    return left > 0n ? left : 0n
  }

  /** Throws INSUFFICIENT_OZONE unless `bytes` more fit; reserves nothing (create upload's early check). */
  check(payer: string, ozone: bigint, bytes: number): void {
    const available = this.available(payer, ozone)
    const needed = BigInt(Math.ceil(bytes))
    if (needed > available) {
      // The owner will likely prepay now and retry: read the balance fresh next time, not from the cache.
      this.#stale.add(payer)
      throw insufficient(payer, needed, available)
    }
  }

  /**
   * Refuses a payer with no ozone available at all (create upload: its declared size is not reserved, see above);
   * `estimate` is what the refusal names as needed.
   */
  checkAny(payer: string, ozone: bigint, estimate: number): void {
    if (this.available(payer, ozone) > 0n) return
    this.#stale.add(payer)
    throw insufficient(payer, BigInt(Math.max(1, Math.ceil(estimate))), 0n)
  }

  /** Checks and reserves `bytes` under limits expiring at `expiresAt`. Synchronous: call right after balance(). */
  reserve(payer: string, ozone: bigint, bytes: number, expiresAt: number): void {
    this.check(payer, ozone, bytes)
    if (bytes <= 0) return
    const b = this.#book(payer, true)!
    const last = [...b.buckets.keys()].at(-1)
    if (b.buckets.has(expiresAt) || b.buckets.size < this.#maxBuckets || last === undefined) {
      b.buckets.set(expiresAt, (b.buckets.get(expiresAt) ?? 0) + bytes)
    } else {
      // Full: fold into the latest bucket, which now lives until the later of the two expiries (conservative).
      const merged = (b.buckets.get(last) ?? 0) + bytes
      b.buckets.delete(last)
      b.buckets.set(Math.max(last, expiresAt), merged)
    }
    b.promised += bytes
  }

  /** Gives back a reservation whose limits were never handed out (the request failed after reserve()). */
  release(payer: string, bytes: number, expiresAt: number): void {
    const b = this.#book(payer, false)
    if (!b) return
    const have = b.buckets.get(expiresAt)
    if (have === undefined) return
    const take = Math.min(have, bytes)
    if (have - take <= 0) b.buckets.delete(expiresAt)
    else b.buckets.set(expiresAt, have - take)
    b.promised = Math.max(0, b.promised - take)
  }

  /**
   * An order was accepted: its limit (all of `limitBytes`, whatever was spent: a settled serial is never spent again)
   * stops being a promise, and its bytes wait to be charged. Settling k data shards of a read drains its bucket.
   */
  settled(payer: string, limitBytes: number, expiresAt: number, bytes: number): void {
    this.release(payer, limitBytes, expiresAt)
    if (bytes > 0) this.#book(payer, true)!.accepted += bytes
  }

  /** Restart: bytes accepted earlier whose report is not charged yet (from LMDB). */
  restoreAccepted(payer: string, bytes: number): void {
    if (bytes > 0) this.#book(payer, true)!.accepted += bytes
  }

  /** A volume report charged `bytes` to the payer on chain. */
  charged(payer: string, bytes: number): void {
    this.#stale.add(payer)
    const b = this.#book(payer, false)
    if (b) b.accepted = Math.max(0, b.accepted - bytes)
  }

  /** For views and tests: the payer's promised and accepted bytes right now. */
  outstanding(payer: string): { promised: number; accepted: number } {
    const b = this.#book(payer, false)
    return { promised: b?.promised ?? 0, accepted: b?.accepted ?? 0 }
  }

  #book(payer: string, create: boolean): PayerBook | undefined {
    let b = this.#books.get(payer)
    if (b) {
      this.#expire(b)
    } else if (create) {
      if (this.#books.size >= this.#maxPayers) this.#evict()
      b = { buckets: new Map(), promised: 0, accepted: 0 }
      this.#books.set(payer, b)
    }
    return b
  }

  #expire(b: PayerBook): void {
    const now = this.#o.clock.now()
    for (const [expiresAt, bytes] of b.buckets) {
      // A resource node honours a limit until expiresAt + CLOCK_SKEW_MS.
      if (expiresAt + CLOCK_SKEW_MS > now) break
      b.buckets.delete(expiresAt)
      b.promised = Math.max(0, b.promised - bytes)
    }
    if (b.buckets.size === 0) b.promised = 0
  }

  /** Drops the least recently created payer with nothing outstanding, else the oldest one (logged: it under-counts). */
  #evict(): void {
    for (const [payer, b] of this.#books) {
      this.#expire(b)
      if (b.promised === 0 && b.accepted === 0) {
        this.#books.delete(payer)
        return
      }
    }
    const oldest = this.#books.keys().next().value
    if (oldest !== undefined) {
      this.#books.delete(oldest)
      this.#o.logger.warn({ payer: oldest }, 'ozone guard full: forgot the promises of the oldest payer')
    }
  }
}

export function insufficient(payer: string, needed: bigint, available: bigint): StratosError {
  const shortfall = needed - available
  return new StratosError(
    'INSUFFICIENT_OZONE',
    `${payer} needs ${needed} bytes of ozone for this transfer but has ${available} available (short by ${shortfall}); buy more with \`stratos prepay AMOUNT\``,
    { payer, needed: needed.toString(), available: available.toString(), shortfall: shortfall.toString() },
  )
}
