/**
 * OzoneGuard: the meta node signs an order limit only when the payer's prepaid traffic (ozone) covers it.
 *
 *   available = ozone on chain (ChainLink.ozone, cached OZONE_CACHE_MS)
 *             − promised  (bytes of this meta node's unexpired, unsettled order limits of that payer)
 *             − accepted  (bytes of orders settled here whose volume report the chain has not charged yet)
 *             − held      (bytes charged on chain so recently that a cached balance may predate the charge)
 *             − leased    (bytes processes reserved to grant reads from on their own: leases, below)
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
 * written inside the transaction that grants (reserve, or a lease: below), settles (settled) or reports (charged).
 * Every process of a meta node over one PostgreSQL therefore counts every other process's promises: two grants at once
 * to one payer write the same row, so one of them runs again on top of the other (engine/postgres.ts), and the total
 * promised across processes never exceeds the payer's ozone. On LMDB the same row survives a restart, so promises made just
 * before it still count after it. A grant that is not committed (a rollback, a failed request) promised nothing.
 * Only the chain balance cache (and the last balance seen, used while the chain cannot be read) is per process.
 *
 * Leases: a read's limits have no transaction of their own to go in, and a popular file whose owner pays for every
 * viewer's reads would make every process write that owner's row for every read — the processes' transactions then
 * conflict, and the one whose batches hold the row starves the others. So grant() promises from a lease: a chunk of
 * the payer's ozone this process reserved on the row (`leased`, counted by every process like a promise) and now
 * grants from in memory, without a transaction, for up to OZONE_LEASE_MS. A read the lease cannot cover (ran out,
 * time up) waits for the payer's next grant transaction in this process, which takes every request waiting by then
 * (each checked in turn against the row, a refused one refused alone), writes the old lease back — its promises into
 * `promised`, by expiry bucket, the rest returned — and takes a new one, sized to what this process granted per
 * OZONE_LEASE_MS from the last (so a payer read through both processes at one rate is served about equally by both)
 * but at most 1/OZONE_LEASE_SHARE of what nobody has promised or leased: the last bytes are never all in one lease,
 * and a lease smaller than LEASE_MIN_REQUESTS requests is not taken: every grant writes the row (exact, as before). An idle lease is
 * written back when its time is up, and every lease at shutdown (close()). A request refused while other processes'
 * leases hold what it needs waits for those to come back (at most two lease periods) and is checked again, so when
 * the ozone is nearly gone whoever asks still gets the last bytes. Safety: at every moment the row counts, for each
 * lease, all its bytes (granted or not), so promised + leased + accepted + held across processes never exceeds the
 * balance; a lease whose holder died is never written back and counts until the limits it could have granted expired.
 * Orders settled before their lease was written back drain promises that are not there yet (never below zero):
 * counted too much for a while, never too little. On LMDB (one process) the same leases save it a transaction per read.
 *
 * Charges: once a volume report is included, its bytes leave `accepted` and are `held` for HOLD_MS — twice the
 * balance cache's lifetime — because another process may still use a balance it read before the charge.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { StratosError } from '../../../errors.ts'
import {
  OZONE_CACHE_MS,
  OZONE_GUARD_MAX_PAYERS,
  OZONE_LEASE_MS,
  OZONE_LEASE_SHARE,
  TICKET_TTL_MS,
} from '../../../limits.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import { Lru } from '../../../util/lru.ts'
import type { ChainLink } from '../chain-link.ts'
import type { PrefetchRead } from '../engine/table.ts'
import type { MetaStore } from '../store.ts'
import { promiseBucket, type OzoneLease, type OzoneTotals } from '../stores/ozone.ts'

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
  /** This process's name on its leases (default random). */
  holder?: string
}

/** A read's reservation waiting for its payer's next grant transaction. */
interface Waiting {
  ozone: bigint
  bytes: number
  expiresAt: number
  resolve: () => void
  reject: (e: unknown) => void
  /** Refused while other processes' leases held enough: retried until then (performance.now()). */
  deadline?: number
}

/** This process's lease of a payer's ozone (see above). */
interface Lease {
  /** Bytes leased, as the payer's row says. */
  bytes: number
  /** Of which promised (limits granted from it). */
  used: number
  /** What was promised from it by expiry bucket, for the row's promises when it is written back. */
  spent: Map<number, number>
  /** Granted from until then (clock time, as the row says), and for OZONE_LEASE_MS of real time at most. */
  until: number
  realUntil: number
  /** The latest bucket its limits may expire in (the row counts an abandoned lease until then). */
  end: number
  /** When it was taken (performance.now()): the rate it is used at sizes the next one. */
  since: number
}

/** What this process does for one payer right now; forgotten when idle. */
interface PayerState {
  /** Requests waiting for the next grant transaction. */
  waiting: Waiting[]
  lease: Lease | undefined
  /** The grant transactions in flight (#flush), if any. */
  running: Promise<void> | undefined
  /** Writes the lease back once its time is up. */
  timer: NodeJS.Timeout | undefined
  /** Refused requests waiting for other processes' leases. */
  delayed: number
}

/** The smallest lease worth taking, in requests (of the largest waiting): below, grants write the row. */
const LEASE_MIN_REQUESTS = 4

/** After another process's lease ends, how long to give it to be written back before asking again. */
const LEASE_RETRY_GRACE_MS = 50

/**
 * Bytes to lease next: what this process promised from its last lease, per OZONE_LEASE_MS at the rate it did (at
 * most 8× the last lease: a lease used up at once grows fast but not without bound), and at least 4× what waits now.
 */
function leaseTarget(old: Lease | undefined, need: number, now: number): number {
  const least = 4 * need
  if (!old) return least
  const rate = (old.used * OZONE_LEASE_MS) / Math.max(1, now - old.since)
  return Math.max(least, Math.min(rate, 8 * old.bytes))
}

export class OzoneGuard {
  readonly #o: OzoneGuardOptions
  /** Per payer with a lease, grants waiting or in flight (#flush). */
  readonly #payers = new Map<string, PayerState>()
  /** This process's name on the leases it takes (random: a restarted process never mistakes an old one for its own). */
  readonly #holder: string
  #closing = false
  /** Payers charged since their balance was last read: the next read bypasses the cache. */
  readonly #stale = new Set<string>()
  /** The last balance read per payer (fallback while the chain is unreachable); least recently read out. */
  readonly #lastKnown: Lru<string, bigint>
  readonly #holdMs: number

  constructor(options: OzoneGuardOptions) {
    this.#o = options
    this.#lastKnown = new Lru({ maxEntries: options.maxPayers ?? OZONE_GUARD_MAX_PAYERS })
    this.#holdMs = options.holdMs ?? HOLD_MS
    this.#holder = options.holder ?? randomBytes(8).toString('hex')
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
    const left = ozone - BigInt(Math.ceil(t.promised + t.accepted + t.held + t.leased))
    return left > 0n ? left : 0n
  }

  /** Throws INSUFFICIENT_OZONE unless `bytes` more fit; reserves nothing. */
  check(payer: string, ozone: bigint, bytes: number): void {
    const available = this.available(payer, ozone)
    const needed = BigInt(Math.ceil(bytes))
    if (needed > available) {
      // The owner will likely prepay now and retry: read the balance fresh next time, not from the cache.
      this.#stale.add(payer)
      // What this process's lease holds counts here: returned (once this transaction is done), it is there for the
      // retry.
      queueMicrotask(() => this.#giveBack(payer, this.#payers.get(payer)))
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
   * Outside any transaction: checks and reserves `bytes` under limits expiring at `expiresAt` (not durable: a promise
   * lost in a crash is bounded by one ticket lifetime). From this process's lease of the payer's ozone when it covers
   * them (no transaction at all), else in a transaction batched with this process's other grants to the payer, which
   * also writes the lease back and takes a new one (see above). Rejects with INSUFFICIENT_OZONE, or the index's error.
   */
  grant(payer: string, ozone: bigint, bytes: number, expiresAt: number): Promise<void> {
    const s = this.#state(payer)
    // (While a grant transaction writes the lease back, the lease is closed: nothing is taken from it.)
    if (this.#take(s, bytes, expiresAt)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#enqueue(payer, s, { ozone, bytes, expiresAt, resolve, reject })
    })
  }

  /**
   * Writes back every lease this process holds (what it promised from them, and the rest returned) and takes no new
   * ones; grants after this go to the payer's row. Before the index closes (a lease not written back stays counted
   * until its limits could have expired, like a crashed process's).
   */
  async close(): Promise<void> {
    this.#closing = true
    for (;;) {
      const pending: Promise<void>[] = []
      for (const [payer, s] of this.#payers) {
        if (s.running) pending.push(s.running)
        else if (s.lease) pending.push(this.#run(payer, s, true))
      }
      if (pending.length === 0) return
      await Promise.allSettled(pending)
    }
  }

  #state(payer: string): PayerState {
    let s = this.#payers.get(payer)
    if (!s) {
      s = { waiting: [], lease: undefined, running: undefined, timer: undefined, delayed: 0 }
      this.#payers.set(payer, s)
    }
    return s
  }

  /** Promises `bytes` from the payer's lease if it covers them (then true). */
  #take(s: PayerState, bytes: number, expiresAt: number): boolean {
    const l = s.lease
    const n = Math.ceil(bytes)
    if (!l || l.used + n > l.bytes || this.#o.clock.now() >= l.until || performance.now() >= l.realUntil) return false
    const bucket = promiseBucket(expiresAt)
    if (bucket > l.end) return false
    l.used += n
    l.spent.set(bucket, (l.spent.get(bucket) ?? 0) + n)
    return true
  }

  #enqueue(payer: string, s: PayerState, w: Waiting): void {
    if (this.#take(s, w.bytes, w.expiresAt)) {
      w.resolve()
      return
    }
    s.waiting.push(w)
    if (!s.running) void this.#run(payer, s, false)
  }

  /** Writes the payer's lease back now if nothing else will (the lease ran out of time, or a reservation wants it). */
  #giveBack(payer: string, s: PayerState | undefined): void {
    if (s?.lease && !s.running) void this.#run(payer, s, true)
  }

  #run(payer: string, s: PayerState, giveBack: boolean): Promise<void> {
    s.running = this.#flush(payer, s, giveBack).finally(() => {
      s.running = undefined
      if (s.waiting.length > 0) void this.#run(payer, s, false)
      else if (!s.lease && s.delayed === 0) this.#payers.delete(payer)
    })
    return s.running
  }

  /**
   * Runs the payer's waiting grants, a batch per transaction, until none wait; each transaction writes this process's
   * lease back (its promises into the row, the rest returned) and takes a new one sized to the rate this process
   * grants at. `giveBack`: at least one transaction, even with nothing waiting.
   */
  async #flush(payer: string, s: PayerState, giveBack: boolean): Promise<void> {
    const { store, clock } = this.#o
    for (let first = true; s.waiting.length > 0 || (first && giveBack); first = false) {
      const batch = s.waiting
      s.waiting = []
      // Closed: nothing is granted from the old lease while it is written back.
      const old = s.lease
      s.lease = undefined
      if (s.timer) clearTimeout(s.timer)
      s.timer = undefined
      if (batch.length === 0 && !old) return
      const now = clock.now()
      const started = performance.now()
      const spent: [number, number][] = old ? [...old.spent] : []
      const spentBytes = old?.used ?? 0
      let need = 0
      let largest = 0
      let ozone: bigint | undefined
      for (const w of batch) {
        need += Math.ceil(w.bytes)
        largest = Math.max(largest, Math.ceil(w.bytes))
        if (ozone === undefined || w.ozone < ozone) ozone = w.ozone
      }
      const target = ozone === undefined || this.#closing ? 0 : leaseTarget(old, need, started)
      const until = now + OZONE_LEASE_MS
      const end = promiseBucket(until + TICKET_TTL_MS)
      let out: { available: bigint[]; chunk: number; free: number; others: OzoneLease[] }
      try {
        out = await store.write(
          () => {
            store.prefetch(this.reads([payer]))
            const t = store.ozone.totals(payer, now, this.#holder)
            let counted = Math.ceil(t.promised + t.accepted + t.held + t.leased) + spentBytes
            // Per request: -1n granted, else what was available to it.
            const available = batch.map((w) => {
              const left = w.ozone - BigInt(counted)
              if (BigInt(Math.ceil(w.bytes)) > left) return left > 0n ? left : 0n
              counted += Math.ceil(w.bytes)
              return -1n
            })
            const free = ozone === undefined ? 0 : Math.max(0, Number(ozone - BigInt(counted)))
            let chunk = Math.min(target, Math.floor(free / OZONE_LEASE_SHARE))
            if (chunk < LEASE_MIN_REQUESTS * largest) chunk = 0
            const promises = [...spent]
            for (let i = 0; i < batch.length; i++)
              if (available[i] === -1n) promises.push([batch[i]!.expiresAt, Math.ceil(batch[i]!.bytes)])
            store.ozone.lease(payer, this.#holder, promises, { bytes: chunk, until, end }, now)
            const others = available.some((a) => a !== -1n) ? store.ozone.leases(payer, now, this.#holder) : []
            return { available, chunk, free, others }
          },
          { durable: false },
        )
      } catch (e) {
        for (const w of batch) w.reject(e)
        // Nothing was written (or, if the commit's fate is unknown, writing the same promises again only counts them
        // twice until they expire): keep the old lease, closed, to write it back later — unless closing.
        if (old && !this.#closing) {
          s.lease = { ...old, until: -Infinity, realUntil: -Infinity }
          s.timer = setTimeout(() => this.#expire(payer, s), OZONE_LEASE_MS).unref()
        }
        continue
      }
      if (out.chunk > 0) {
        s.lease = {
          bytes: out.chunk,
          used: 0,
          spent: new Map(),
          until,
          realUntil: started + OZONE_LEASE_MS,
          end,
          since: started,
        }
        s.timer = setTimeout(() => this.#expire(payer, s), OZONE_LEASE_MS).unref()
      }
      const leased = out.others.reduce((n, l) => n + l.bytes, 0)
      for (let i = 0; i < batch.length; i++) {
        const w = batch[i]!
        const available = out.available[i]!
        if (available === -1n) {
          w.resolve()
          continue
        }
        // Refused, but other processes' leases hold enough: wait for them to come back (each is written back within
        // OZONE_LEASE_MS of being taken), then once more, for up to two lease periods in all.
        const t = performance.now()
        if (out.free + leased >= Math.ceil(w.bytes) && (w.deadline === undefined || t < w.deadline)) {
          w.deadline ??= t + 2 * OZONE_LEASE_MS
          const latest = out.others.reduce((u, l) => Math.max(u, l.until), now)
          const wait = Math.min(Math.max(0, latest - now), OZONE_LEASE_MS, w.deadline - t) + LEASE_RETRY_GRACE_MS
          s.delayed++
          setTimeout(() => {
            s.delayed--
            this.#enqueue(payer, s, w)
          }, wait)
          continue
        }
        this.#stale.add(payer)
        w.reject(insufficient(payer, BigInt(Math.ceil(w.bytes)), available))
      }
      // Requests that came in meanwhile: the new lease may cover them.
      s.waiting = s.waiting.filter((w) => {
        if (!this.#take(s, w.bytes, w.expiresAt)) return true
        w.resolve()
        return false
      })
    }
  }

  /** A lease's time is up: written back unless a transaction for its payer will do it anyway. */
  #expire(payer: string, s: PayerState): void {
    s.timer = undefined
    this.#giveBack(payer, s)
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
