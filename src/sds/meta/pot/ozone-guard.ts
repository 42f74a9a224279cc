/**
 * OzoneGuard: the meta node signs an order limit only when the payer's prepaid traffic (ozone) covers it.
 *
 *   available = ozone on chain (ChainLink.ozone, cached OZONE_CACHE_MS)
 *             − promised  (bytes of this meta node's unexpired, unsettled order limits of that payer)
 *             − accepted  (bytes of orders settled here whose volume report the chain has not charged yet)
 *             − held      (bytes charged on chain so recently that a cached balance may predate the charge)
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
 *   - create upload with a declared size: checked (some ozone must be left), not reserved; plans reserve as they go.
 *
 * The books are shared: promised, accepted and held live in the payer's row of the index (stores/ozone.ts), read and
 * written inside the transaction that grants (reserve), settles (settled) or reports (charged). Every process of
 * a meta node over one PostgreSQL therefore counts every other process's promises: two grants to one payer at once
 * write the same row, so one of them runs again on top of the other (engine/postgres.ts), and the total promised
 * across processes never exceeds the payer's ozone. On LMDB the same row survives a restart, so promises made just
 * before it still count after it. A grant that is not committed (a rollback, a failed request) promised nothing.
 * Only the chain balance cache (and the last balance seen, used while the chain cannot be read) is per process.
 *
 * A read's limits have no transaction of their own to go in: grant() runs one, and batches — while one payer's
 * grant transaction is in flight in this process, that payer's next requests wait and then go together in one
 * transaction (each checked in turn, a refused one refused alone), so a payer reading fast costs about one
 * transaction per round trip instead of one per read, and its row is not fought over by its own requests.
 *
 * Charges: once a volume report is included, its bytes leave `accepted` and are `held` for HOLD_MS — twice the
 * balance cache's lifetime — because another process may still use a balance it read before the charge.
 */
import { StratosError } from '../../../errors.ts'
import { OZONE_CACHE_MS, OZONE_GUARD_MAX_PAYERS } from '../../../limits.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import { Lru } from '../../../util/lru.ts'
import type { ChainLink } from '../chain-link.ts'
import type { PrefetchRead } from '../engine/table.ts'
import type { MetaStore } from '../store.ts'
import type { OzoneTotals } from '../stores/ozone.ts'

/** How long charged bytes stay counted after the charge (see above). */
const HOLD_MS = 2 * OZONE_CACHE_MS

export interface OzoneGuardOptions {
  chain: Pick<ChainLink, 'ozone'>
  /** The index holding the books (stores/ozone.ts). */
  store: Pick<MetaStore, 'ozone' | 'write' | 'prefetch'>
  clock: Clock
  logger: Logger
  maxPayers?: number
  /** How long charged bytes stay counted (default twice OZONE_CACHE_MS). */
  holdMs?: number
}

/** A read's reservation waiting for its payer's next grant transaction. */
interface Waiting {
  ozone: bigint
  bytes: number
  expiresAt: number
  resolve: () => void
  reject: (e: unknown) => void
}

export class OzoneGuard {
  readonly #o: OzoneGuardOptions
  /** Per payer with a grant transaction in flight: the requests waiting for the next one. */
  readonly #waiting = new Map<string, Waiting[]>()
  /** Payers charged since their balance was last read: the next read bypasses the cache. */
  readonly #stale = new Set<string>()
  /** The last balance read per payer (fallback while the chain is unreachable); least recently read out. */
  readonly #lastKnown: Lru<string, bigint>
  readonly #holdMs: number

  constructor(options: OzoneGuardOptions) {
    this.#o = options
    this.#lastKnown = new Lru({ maxEntries: options.maxPayers ?? OZONE_GUARD_MAX_PAYERS })
    this.#holdMs = options.holdMs ?? HOLD_MS
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

  /** The reads reserve / check / settled / charged make for these payers, for MetaStore.prefetch. */
  reads(payers: string[]): PrefetchRead[] {
    return this.#o.store.ozone.reads(payers)
  }

  /** What the payer can still be promised given `ozone` (never negative). */
  available(payer: string, ozone: bigint): bigint {
    const t = this.outstanding(payer)
    const left = ozone - BigInt(Math.ceil(t.promised + t.accepted + t.held))
    return left > 0n ? left : 0n
  }

  /** Throws INSUFFICIENT_OZONE unless `bytes` more fit; reserves nothing. */
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

  /**
   * Inside write() — the transaction that hands the limits out: checks and reserves `bytes` under limits expiring at
   * `expiresAt`. `ozone` is the balance read before the transaction (balance()).
   */
  reserve(payer: string, ozone: bigint, bytes: number, expiresAt: number): void {
    this.check(payer, ozone, bytes)
    this.#o.store.ozone.promise(payer, bytes, expiresAt, this.#o.clock.now())
  }

  /**
   * Outside any transaction: checks and reserves `bytes` under limits expiring at `expiresAt` in a transaction of its
   * own (not durable: a promise lost in a crash is bounded by one ticket lifetime), batched with this process's other
   * grants to the same payer (see above). Rejects with INSUFFICIENT_OZONE, or the index's error.
   */
  grant(payer: string, ozone: bigint, bytes: number, expiresAt: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const item = { ozone, bytes, expiresAt, resolve, reject }
      const queue = this.#waiting.get(payer)
      if (queue) queue.push(item)
      else {
        this.#waiting.set(payer, [item])
        void this.#flush(payer)
      }
    })
  }

  /** Runs the payer's waiting grants, a batch per transaction, until none wait. */
  async #flush(payer: string): Promise<void> {
    const { store } = this.#o
    for (;;) {
      const batch = this.#waiting.get(payer)!
      if (batch.length === 0) {
        this.#waiting.delete(payer)
        return
      }
      // Requests arriving from now on wait for the next transaction.
      this.#waiting.set(payer, [])
      let refused: (unknown | undefined)[] = []
      try {
        await store.write(
          () => {
            refused = batch.map(() => undefined) // a run again starts over
            store.prefetch(this.reads([payer]))
            for (let i = 0; i < batch.length; i++) {
              const w = batch[i]!
              try {
                this.reserve(payer, w.ozone, w.bytes, w.expiresAt)
              } catch (e) {
                if ((e as { code?: string }).code !== 'INSUFFICIENT_OZONE') throw e
                refused[i] = e
              }
            }
          },
          { durable: false },
        )
      } catch (e) {
        for (const w of batch) w.reject(e)
        continue
      }
      for (let i = 0; i < batch.length; i++) {
        if (refused[i] === undefined) batch[i]!.resolve()
        else batch[i]!.reject(refused[i])
      }
    }
  }

  /**
   * Inside write() — the transaction that accepts the order: its limit (all of `limitBytes`, whatever was spent: a
   * settled serial is never spent again) stops being a promise, and its bytes wait to be charged.
   */
  settled(payer: string, limitBytes: number, expiresAt: number, bytes: number): void {
    this.#o.store.ozone.settle(payer, limitBytes, expiresAt, bytes, this.#o.clock.now())
  }

  /**
   * Inside write(): a volume report charged `bytes` to the payer on chain (`onChain`), or its credits were dropped
   * and will never be charged. The next balance this process reads is fresh.
   */
  charged(payer: string, bytes: number, onChain = true): void {
    this.#stale.add(payer)
    const now = this.#o.clock.now()
    this.#o.store.ozone.charge(payer, bytes, now, onChain ? now + this.#holdMs : undefined)
  }

  /**
   * Inside write(), once per index: bytes accepted before the books were kept in the index (the credits of epochs not
   * yet charged, pot-store.ts); a no-op once done. True when it restored.
   */
  restoreAccepted(unreported: () => Iterable<{ payer: string; bytes: number }>): boolean {
    const { ozone } = this.#o.store
    if (ozone.restored()) return false
    const now = this.#o.clock.now()
    for (const c of unreported()) ozone.addAccepted(c.payer, c.bytes, now)
    ozone.markRestored()
    return true
  }

  /** The payer's promised, accepted and held bytes right now (inside write(), or a read of the index). */
  outstanding(payer: string): OzoneTotals {
    return this.#o.store.ozone.totals(payer, this.#o.clock.now())
  }

  /** Inside write(): forgets up to `limit` payers after `after` with nothing outstanding (stores/ozone.ts prune). */
  prune(after: string, limit: number): { last: string | undefined; removed: number } {
    return this.#o.store.ozone.prune(this.#o.clock.now(), after, limit)
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
