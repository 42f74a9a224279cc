/**
 * The ozone guard's store (pot/ozone-guard.ts decides; this store keeps the books): it owns `ozone`, one row per
 * payer with what this meta node has promised or accepted against the payer's prepaid traffic, so that every
 * process of the meta node (several over one PostgreSQL) counts the same promises — a grant reads and writes the
 * payer's row in the transaction that grants (or in the one that takes the lease it is granted from, see `leased`),
 * and two processes granting to one payer at once write the same key, so one of them runs again and sees the other's
 * promise.
 *
 *   ['p', payer] → OzoneBook:
 *     promised  [bucketEnd, bytes][], ascending: bytes of unexpired, unsettled order limits, by expiry bucket. A limit
 *               expiring at t counts in the bucket ending at t rounded up to OZONE_PROMISE_BUCKET_MS (so a payer's row
 *               holds about TICKET_TTL_MS / OZONE_PROMISE_BUCKET_MS buckets whatever its request rate); a bucket
 *               stops counting once bucketEnd + CLOCK_SKEW_MS has passed (a node honours a limit that long).
 *     accepted  bytes of orders settled here whose volume report the chain has not charged yet.
 *     held      [until, bytes][]: bytes just charged on chain, still counted until every process's cached balance
 *               was read after the charge (OZONE_CACHE_MS after it), so no process counts them neither on chain nor
 *               here.
 *     leased    [holder, until, end, bytes][] (absent: none): a process's lease (pot/ozone-guard.ts) — `bytes` it may
 *               promise on its own, without writing this row, until `until`. The holder writes its entry back when it
 *               renews or returns it, with what it promised from it (spent) moved into `promised`; until then the
 *               whole lease counts, and an entry never written back (its holder died) counts like a promise expiring
 *               in bucket `end` (the bucket of the last limit it could have granted), i.e. until end + CLOCK_SKEW_MS.
 *   ['restored'] → true: `accepted` was filled once from the PoT credits of an index written before this table.
 *
 * A row with nothing left is deleted when it is written; rows whose promises only expired are deleted by prune().
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import { CLOCK_SKEW_MS, OZONE_GUARD_MAX_BUCKETS_PER_PAYER, OZONE_PROMISE_BUCKET_MS } from '../../../limits.ts'
import { KEY_STRING_MAX, type PrefetchRead, type Table } from '../engine/table.ts'

export interface OzoneBook {
  promised: [number, number][]
  accepted: number
  held: [number, number][]
  leased?: LeaseEntry[]
}

/** [holder, until, end, bytes]: see above. */
export type LeaseEntry = [string, number, number, number]

/** Another process's lease on a payer's row. */
export interface OzoneLease {
  holder: string
  /** It grants from the lease until then (its clock), then writes it back. */
  until: number
  bytes: number
}

export type OzoneKey = ['p', string] | ['restored']

/** A payer's outstanding bytes right now. */
export interface OzoneTotals {
  /** Unexpired, unsettled order limits. */
  promised: number
  /** Settled, not charged yet. */
  accepted: number
  /** Charged on chain so recently that a cached balance may not show it yet. */
  held: number
  /** Leases of processes (all, or all but one holder's): bytes they may be promising without writing the row. */
  leased: number
}

export interface OzoneStore {
  /** The reads every other method makes for these payers, for MetaStore.prefetch. */
  reads(payers: string[]): PrefetchRead[]
  /** `except`: a holder whose lease is left out of `leased` (a process looking at everyone else's). */
  totals(payer: string, now: number, except?: string): OzoneTotals
  /** The live leases of holders other than `except`. */
  leases(payer: string, now: number, except?: string): OzoneLease[]
  /** Inside write(): `bytes` more promised under limits expiring at `expiresAt`. */
  promise(payer: string, bytes: number, expiresAt: number, now: number): void
  /**
   * Inside write(): an order under a limit of `limitBytes` expiring at `expiresAt` was accepted for `bytes`: the limit
   * stops being a promise (a settled serial is never spent again), its bytes wait to be charged.
   */
  settle(payer: string, limitBytes: number, expiresAt: number, bytes: number, now: number): void
  /**
   * Inside write(): `bytes` of accepted traffic leave the books — charged on chain (kept counted until `holdUntil`,
   * see above), or never to be charged (no `holdUntil`).
   */
  charge(payer: string, bytes: number, now: number, holdUntil?: number): void
  /**
   * Inside write(): `holder` writes its lease back: what it promised from it (`spent`, [expiresAt, bytes] pairs) becomes
   * promised like promise() would make it, and its lease becomes `bytes` granted until `until` whose limits expire by
   * `end` at the latest (bytes 0: the lease is gone).
   */
  lease(
    payer: string,
    holder: string,
    spent: [number, number][],
    lease: { bytes: number; until: number; end: number },
    now: number,
  ): void
  /** Inside write(): bytes accepted before this table existed (restore, once). */
  addAccepted(payer: string, bytes: number, now: number): void
  restored(): boolean
  /** Inside write(). */
  markRestored(): void
  /**
   * Inside write(): looks at up to `limit` rows of payers after `after` ('' from the start) and deletes those with
   * nothing live; `last` is the last payer looked at (undefined: none left, start again from '').
   */
  prune(now: number, after: string, limit: number): { last: string | undefined; removed: number }
}

const EMPTY: OzoneBook = { promised: [], accepted: 0, held: [] }
const NO_LEASES: LeaseEntry[] = []

export function promiseBucket(expiresAt: number): number {
  return Math.ceil(expiresAt / OZONE_PROMISE_BUCKET_MS) * OZONE_PROMISE_BUCKET_MS
}

/** The book without what no longer counts at `now`. */
function live(b: OzoneBook, now: number): OzoneBook {
  const promised = b.promised.filter(([end]) => end + CLOCK_SKEW_MS > now)
  const held = b.held.filter(([until]) => until > now)
  const leased = (b.leased ?? NO_LEASES).filter(([, , end]) => end + CLOCK_SKEW_MS > now)
  return promised.length === b.promised.length &&
    held.length === b.held.length &&
    leased.length === (b.leased ?? NO_LEASES).length
    ? b
    : { promised, accepted: b.accepted, held, ...(leased.length > 0 ? { leased } : {}) }
}

function sum(xs: [number, number][]): number {
  let s = 0
  for (const [, bytes] of xs) s += bytes
  return s
}

function isEmpty(b: OzoneBook): boolean {
  return b.promised.length === 0 && b.accepted <= 0 && b.held.length === 0 && (b.leased?.length ?? 0) === 0
}

/** `promised` with `bytes` more under limits expiring at `expiresAt` (a new array; at most `maxBuckets` buckets). */
function addPromise(
  promised: [number, number][],
  bytes: number,
  expiresAt: number,
  maxBuckets: number,
): [number, number][] {
  const end = promiseBucket(expiresAt)
  const out = promised.map(([e, n]): [number, number] => [e, n])
  const at = out.findIndex(([e]) => e === end)
  if (at >= 0) out[at]![1] += bytes
  else {
    out.push([end, bytes])
    out.sort((x, y) => x[0] - y[0])
    // Full: the two latest buckets merge, kept until the later expiry (conservative).
    while (out.length > maxBuckets) {
      const last = out.pop()!
      out[out.length - 1] = [last[0], out[out.length - 1]![1] + last[1]]
    }
  }
  return out
}

export class TableOzoneStore implements OzoneStore {
  readonly #t: Table<OzoneBook | true, OzoneKey>
  readonly #maxBuckets: number

  constructor(table: Table<OzoneBook | true, OzoneKey>, maxBuckets = OZONE_GUARD_MAX_BUCKETS_PER_PAYER) {
    this.#t = table
    this.#maxBuckets = maxBuckets
  }

  reads(payers: string[]): PrefetchRead[] {
    return [{ table: this.#t, keys: payers.map((p) => ['p', p] as OzoneKey) }]
  }

  #get(payer: string, now: number): OzoneBook {
    const b = this.#t.get(['p', payer])
    return b === undefined || b === true ? EMPTY : live(b, now)
  }

  #put(payer: string, b: OzoneBook): void {
    if (isEmpty(b)) this.#t.removeSync(['p', payer])
    else this.#t.putSync(['p', payer], b)
  }

  totals(payer: string, now: number, except?: string): OzoneTotals {
    const b = this.#get(payer, now)
    let leased = 0
    for (const [holder, , , bytes] of b.leased ?? NO_LEASES) if (holder !== except) leased += bytes
    return { promised: sum(b.promised), accepted: b.accepted, held: sum(b.held), leased }
  }

  leases(payer: string, now: number, except?: string): OzoneLease[] {
    const out: OzoneLease[] = []
    for (const [holder, until, , bytes] of this.#get(payer, now).leased ?? NO_LEASES)
      if (holder !== except) out.push({ holder, until, bytes })
    return out
  }

  promise(payer: string, bytes: number, expiresAt: number, now: number): void {
    if (bytes <= 0) return
    const b = this.#get(payer, now)
    this.#put(payer, { ...b, promised: addPromise(b.promised, bytes, expiresAt, this.#maxBuckets) })
  }

  lease(
    payer: string,
    holder: string,
    spent: [number, number][],
    lease: { bytes: number; until: number; end: number },
    now: number,
  ): void {
    const b = this.#get(payer, now)
    let promised = b.promised
    for (const [expiresAt, bytes] of spent)
      if (bytes > 0) promised = addPromise(promised, bytes, expiresAt, this.#maxBuckets)
    const leased = (b.leased ?? NO_LEASES).filter(([h]) => h !== holder)
    if (lease.bytes > 0) leased.push([holder, lease.until, lease.end, lease.bytes])
    const { leased: _, ...rest } = b
    this.#put(payer, { ...rest, promised, ...(leased.length > 0 ? { leased } : {}) })
  }

  settle(payer: string, limitBytes: number, expiresAt: number, bytes: number, now: number): void {
    const b = this.#get(payer, now)
    const end = promiseBucket(expiresAt)
    // The bucket it was promised in (gone once expired; merged into a later one while full: then it stays counted
    // until that one expires, which is conservative).
    const at = b.promised.findIndex(([e]) => e === end)
    let promised = b.promised
    if (at >= 0 && limitBytes > 0) {
      promised = b.promised.map(([e, n]): [number, number] => [e, n])
      const left = promised[at]![1] - Math.min(promised[at]![1], limitBytes)
      if (left > 0) promised[at]![1] = left
      else promised.splice(at, 1)
    }
    this.#put(payer, { ...b, promised, accepted: b.accepted + Math.max(0, bytes) })
  }

  charge(payer: string, bytes: number, now: number, holdUntil?: number): void {
    if (bytes <= 0) return
    const b = this.#get(payer, now)
    const taken = Math.min(b.accepted, bytes)
    let held = b.held
    if (holdUntil !== undefined && holdUntil > now && taken > 0) {
      held = b.held.map(([u, n]): [number, number] => [u, n])
      const last = held.at(-1)
      // Charges close together share one entry (kept until the later time: conservative).
      if (last && holdUntil - last[0] < OZONE_PROMISE_BUCKET_MS) last[0] = Math.max(last[0], holdUntil)
      else held.push([holdUntil, 0])
      held[held.length - 1]![1] += taken
    }
    this.#put(payer, { ...b, accepted: b.accepted - taken, held })
  }

  addAccepted(payer: string, bytes: number, now: number): void {
    if (bytes <= 0) return
    const b = this.#get(payer, now)
    this.#put(payer, { ...b, accepted: b.accepted + bytes })
  }

  restored(): boolean {
    return this.#t.get(['restored']) === true
  }

  markRestored(): void {
    this.#t.putSync(['restored'], true)
  }

  prune(now: number, after: string, limit: number): { last: string | undefined; removed: number } {
    let last: string | undefined
    let removed = 0
    const stale: string[] = []
    for (const { key, value } of this.#t.getRange({
      start: ['p', `${after}\u0000`],
      end: ['p', KEY_STRING_MAX],
      limit,
    })) {
      last = key[1] as string
      if (value !== true && isEmpty(live(value, now))) stale.push(last)
    }
    for (const payer of stale) {
      this.#t.removeSync(['p', payer])
      removed++
    }
    return { last, removed }
  }
}
