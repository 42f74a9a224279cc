/**
 * The sharing subsystem's stores: share links and their wrong-password counters (ShareStore: `shares`,
 * `shareAttempts`), read grants (GrantStore: `grants`) and public-read budgets (BudgetStore: `budgets`). shares.ts,
 * grants.ts and access.ts decide (ownership, expiry, locks, caps); these stores keep the rows and their key layouts:
 *
 *   shares         ['id', id] → ShareRecord (kept after revocation as a tombstone, so the link answers SHARE_REVOKED)
 *                  ['owner', owner, id] → true: the owner's live links (removed on revocation)
 *   shareAttempts  ['client', id, client] → ShareAttempts { count, windowStart }
 *                  ['expiry', windowEnd, id, client] → true: oldest windows first (pruning, and the bound on counters)
 *                  ['total'] → how many counters there are (kept in the same transactions: no range count)
 *   grants         ['id', id] → GrantRecord (kept after revocation); ['owner', owner, id] → true for live grants
 *   budgets        ['cap', owner, cid | ''] → { bytesPerEpoch, setAt } ('' = wallet-wide)
 *                  ['spent', owner, cid | '', epoch] → bytes strangers read in that epoch
 *
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import {
  SHARE_ATTEMPTS_PRUNE_PER_WRITE,
  SHARE_FAILURE_TRACKER_ENTRIES,
  SHARE_PASSWORD_WINDOW_MS,
} from '../../../limits.ts'
import type { GrantView, ShareView } from '../../protocol/api.ts'
import type { SharePasswordHash } from '../../protocol/share-password.ts'
import { KEY_STRING_MAX, type PrefetchRead, type Table } from '../engine/table.ts'

/** A link as the store keeps it: the view's fields (hasPassword and state are derived) with the password's hash. */
export type ShareRecord = Omit<ShareView, 'hasPassword' | 'state'> & { password: SharePasswordHash | null }

/** Wrong passwords of one client for one link, in the window that started with its first failure. */
export interface ShareAttempts {
  count: number
  windowStart: number
}

export type GrantRecord = Omit<GrantView, 'state'>

export interface Budget {
  bytesPerEpoch: number
  setAt: number
}

type ShareKey = ['id', string] | ['owner', string, string]
type ShareEntry = ShareRecord | true
type AttemptKey = ['client', string, string] | ['expiry', number, string, string] | ['total']
type AttemptEntry = ShareAttempts | true | number
type GrantKey = ['id', string] | ['owner', string, string]
type GrantEntry = GrantRecord | true
type BudgetKey = ['cap', string, string] | ['spent', string, string, number]
type BudgetEntry = Budget | number

/** Tables of the sharing stores (store.ts opens them). */
export interface SharingTables {
  shares: Table<ShareEntry, ShareKey>
  shareAttempts: Table<AttemptEntry, AttemptKey>
  grants: Table<GrantEntry, GrantKey>
  budgets: Table<BudgetEntry, BudgetKey>
}

/** Records under ['id', id] plus a live-owner index ['owner', owner, id] (shares, grants and delegations alike). */
export class OwnedRecords<R extends { id: string; owner: string; createdAt: number; revokedAt?: number }> {
  readonly #t: Table<R | true, ['id', string] | ['owner', string, string]>

  constructor(table: Table<R | true, ['id', string] | ['owner', string, string]>) {
    this.#t = table
  }

  get(id: string): R | undefined {
    const r = this.#t.get(['id', id])
    return r === undefined || r === true ? undefined : r
  }

  exists(id: string): boolean {
    return this.#t.get(['id', id]) !== undefined
  }

  liveCount(owner: string): number {
    return this.#t.getCount({ start: ['owner', owner, ''], end: ['owner', owner, KEY_STRING_MAX] })
  }

  /**
   * The reads byOwner makes (the owner's index, then each record), for MetaStore.prefetch: inside a transaction the
   * records are read in one round trip, not one per record. Calling it reads the owner's index.
   */
  byOwnerReads(owner: string): PrefetchRead[] {
    const keys: ['id', string][] = []
    for (const key of this.#t.getKeys({ start: ['owner', owner, ''], end: ['owner', owner, KEY_STRING_MAX] }))
      keys.push(['id', (key as ['owner', string, string])[2]])
    return [{ table: this.#t, keys }]
  }

  byOwner(owner: string): R[] {
    const out: R[] = []
    for (const key of this.#t.getKeys({ start: ['owner', owner, ''], end: ['owner', owner, KEY_STRING_MAX] })) {
      const r = this.get((key as ['owner', string, string])[2])
      if (r) out.push(r)
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  put(record: R): void {
    this.#t.putSync(['id', record.id], record)
    if (record.revokedAt === undefined) this.#t.putSync(['owner', record.owner, record.id], true)
    else this.#t.removeSync(['owner', record.owner, record.id])
  }
}

export interface ShareStore {
  get(id: string): ShareRecord | undefined
  /** Some link (live or revoked) has this id: a new link must not reuse it. */
  exists(id: string): boolean
  /** Live (unrevoked) links of `owner`. */
  liveCount(owner: string): number
  /** Live links of `owner`, oldest first. */
  byOwner(owner: string): ShareRecord[]
  /** The reads byOwner makes, for MetaStore.prefetch (calling it reads the owner's index). */
  byOwnerReads(owner: string): PrefetchRead[]
  /** Inside write(): stores a link; a revoked one leaves its owner's live list (its record stays, a tombstone). */
  put(record: ShareRecord): void
  /** `client`'s wrong-password counter for link `id` in its current window (undefined: none, or the window ended). */
  attempts(id: string, client: string, now: number): ShareAttempts | undefined
  /**
   * Inside write(): one more wrong password of `client` for `id`: prunes a few ended windows
   * (SHARE_ATTEMPTS_PRUNE_PER_WRITE), then bumps the live counter or starts a window at `now` — dropping the counter
   * whose window ends first while there are SHARE_FAILURE_TRACKER_ENTRIES of them.
   */
  countFailure(id: string, client: string, now: number): void
  /** Inside write(): takes one counted failure back (the password was right after all). */
  uncountFailure(id: string, client: string): void
  /** Inside write(): forgets every counter of link `id` (revoked: its counters are moot). */
  clearAttempts(id: string): void
  /** How many counters there are, and how many expiry index entries (operators' view and tests). */
  attemptTotals(): { counters: number; windows: number }
}

export class TableShareStore implements ShareStore {
  readonly #records: OwnedRecords<ShareRecord>
  readonly #a: Table<AttemptEntry, AttemptKey>

  constructor(shares: Table<ShareEntry, ShareKey>, attempts: Table<AttemptEntry, AttemptKey>) {
    this.#records = new OwnedRecords(shares)
    this.#a = attempts
  }

  get(id: string): ShareRecord | undefined {
    return this.#records.get(id)
  }

  exists(id: string): boolean {
    return this.#records.exists(id)
  }

  liveCount(owner: string): number {
    return this.#records.liveCount(owner)
  }

  byOwner(owner: string): ShareRecord[] {
    return this.#records.byOwner(owner)
  }

  byOwnerReads(owner: string): PrefetchRead[] {
    return this.#records.byOwnerReads(owner)
  }

  put(record: ShareRecord): void {
    this.#records.put(record)
  }

  attempts(id: string, client: string, now: number): ShareAttempts | undefined {
    const a = this.#stored(id, client)
    if (a === undefined || now - a.windowStart >= SHARE_PASSWORD_WINDOW_MS) return undefined
    return a
  }

  countFailure(id: string, client: string, now: number): void {
    this.#prune(now)
    const a = this.attempts(id, client, now)
    if (a !== undefined) {
      this.#a.putSync(['client', id, client], { count: a.count + 1, windowStart: a.windowStart })
      return
    }
    this.#remove(id, client) // an ended window not pruned yet
    // Bounded: the oldest window goes first (its client regains its tries early; documented in limits.md).
    while (this.#total() >= SHARE_FAILURE_TRACKER_ENTRIES) {
      if (!this.#removeOldest()) break
    }
    this.#a.putSync(['client', id, client], { count: 1, windowStart: now })
    this.#a.putSync(['expiry', now + SHARE_PASSWORD_WINDOW_MS, id, client], true)
    this.#a.putSync(['total'], this.#total() + 1)
  }

  uncountFailure(id: string, client: string): void {
    const a = this.#stored(id, client)
    if (a === undefined || a.count === 0) return
    this.#a.putSync(['client', id, client], { count: a.count - 1, windowStart: a.windowStart })
  }

  clearAttempts(id: string): void {
    const clients: string[] = []
    for (const key of this.#a.getKeys({ start: ['client', id, ''], end: ['client', id, KEY_STRING_MAX] }))
      clients.push(key[2] as string)
    for (const client of clients) this.#remove(id, client)
  }

  attemptTotals(): { counters: number; windows: number } {
    return {
      counters: this.#total(),
      windows: this.#a.getCount({ start: ['expiry', 0, '', ''], end: ['expiry', Number.MAX_SAFE_INTEGER, '', ''] }),
    }
  }

  #stored(id: string, client: string): ShareAttempts | undefined {
    const a = this.#a.get(['client', id, client])
    return typeof a === 'object' ? a : undefined
  }

  #total(): number {
    const t = this.#a.get(['total'])
    return typeof t === 'number' ? t : 0
  }

  /** Removes a counter, its expiry entry, and counts it out of the total. */
  #remove(id: string, client: string): void {
    const a = this.#stored(id, client)
    if (a === undefined) return
    this.#a.removeSync(['expiry', a.windowStart + SHARE_PASSWORD_WINDOW_MS, id, client])
    this.#a.removeSync(['client', id, client])
    this.#a.putSync(['total'], Math.max(0, this.#total() - 1))
  }

  /** Drops counters whose window ended (a few per call, so one request never does much work). */
  #prune(now: number): void {
    const expired: [number, string, string][] = []
    for (const key of this.#a.getKeys({
      start: ['expiry', 0, '', ''],
      end: ['expiry', now + 1, '', ''],
      limit: SHARE_ATTEMPTS_PRUNE_PER_WRITE,
    })) {
      expired.push([key[1] as number, key[2] as string, key[3] as string])
    }
    for (const [end, id, client] of expired) this.#removeWindow(end, id, client)
  }

  /** Drops the counter whose window ends first; false when there is none. */
  #removeOldest(): boolean {
    for (const key of this.#a.getKeys({
      start: ['expiry', 0, '', ''],
      end: ['expiry', Number.MAX_SAFE_INTEGER, '', ''],
      limit: 1,
    })) {
      const [, end, id, client] = key as [string, number, string, string]
      this.#removeWindow(end, id, client)
      return true
    }
    return false
  }

  /** Removes the counter of the window ending at `end` — only if it is still that window; else the entry is a stray. */
  #removeWindow(end: number, id: string, client: string): void {
    const a = this.#stored(id, client)
    if (a !== undefined && a.windowStart + SHARE_PASSWORD_WINDOW_MS === end) this.#remove(id, client)
    else this.#a.removeSync(['expiry', end, id, client])
  }
}

export interface GrantStore {
  get(id: string): GrantRecord | undefined
  /** Some grant (live or revoked) has this id. */
  exists(id: string): boolean
  liveCount(owner: string): number
  /** Live grants of `owner`, oldest first. */
  byOwner(owner: string): GrantRecord[]
  /** The reads byOwner makes, for MetaStore.prefetch (calling it reads the owner's index). */
  byOwnerReads(owner: string): PrefetchRead[]
  /** Inside write(): stores a grant; a revoked one leaves its owner's live list (its record stays). */
  put(record: GrantRecord): void
}

export class TableGrantStore extends OwnedRecords<GrantRecord> implements GrantStore {}

export interface BudgetStore {
  /** `owner`'s cap on strangers' reads, wallet-wide (`cid` '') or of one file. */
  cap(owner: string, cid: string): Budget | undefined
  /** The reads `cap` makes for these caps of `owner`, for MetaStore.prefetch. */
  capReads(owner: string, cids: string[]): PrefetchRead[]
  /** `owner`'s caps, wallet-wide ('') first then by CID. */
  caps(owner: string): { cid: string; budget: Budget }[]
  /** Inside write(): sets a cap, or lifts it (null). */
  setCap(owner: string, cid: string, budget: Budget | null): void
  /** Bytes strangers read under `owner`'s cap `cid` in `epoch`. */
  spent(owner: string, cid: string, epoch: number): number
  /** The reads `spent` makes for these caps of `owner`, for MetaStore.prefetch. */
  spentReads(owner: string, cids: string[], epoch: number): PrefetchRead[]
  /** Inside write(). */
  setSpent(owner: string, cid: string, epoch: number, bytes: number): void
  /** Inside write(): forgets spending of epochs before `before` (at most `limit` rows). Returns how many. */
  pruneSpent(before: number, limit: number): number
}

export class TableBudgetStore implements BudgetStore {
  readonly #t: Table<BudgetEntry, BudgetKey>

  constructor(table: Table<BudgetEntry, BudgetKey>) {
    this.#t = table
  }

  cap(owner: string, cid: string): Budget | undefined {
    const b = this.#t.get(['cap', owner, cid])
    return typeof b === 'object' ? b : undefined
  }

  capReads(owner: string, cids: string[]): PrefetchRead[] {
    return [{ table: this.#t, keys: cids.map((cid) => ['cap', owner, cid]) }]
  }

  caps(owner: string): { cid: string; budget: Budget }[] {
    const out: { cid: string; budget: Budget }[] = []
    for (const { key, value } of this.#t.getRange({ start: ['cap', owner, ''], end: ['cap', owner, KEY_STRING_MAX] }))
      if (typeof value === 'object') out.push({ cid: key[2], budget: value })
    return out
  }

  setCap(owner: string, cid: string, budget: Budget | null): void {
    if (budget === null) this.#t.removeSync(['cap', owner, cid])
    else this.#t.putSync(['cap', owner, cid], budget)
  }

  spent(owner: string, cid: string, epoch: number): number {
    const v = this.#t.get(['spent', owner, cid, epoch])
    return typeof v === 'number' ? v : 0
  }

  spentReads(owner: string, cids: string[], epoch: number): PrefetchRead[] {
    return [{ table: this.#t, keys: cids.map((cid) => ['spent', owner, cid, epoch]) }]
  }

  setSpent(owner: string, cid: string, epoch: number, bytes: number): void {
    this.#t.putSync(['spent', owner, cid, epoch], bytes)
  }

  pruneSpent(before: number, limit: number): number {
    const stale: BudgetKey[] = []
    for (const { key, value } of this.#t.getRange({ start: ['spent'], end: ['spent', KEY_STRING_MAX] })) {
      if (stale.length >= limit) break
      if (typeof value === 'number' && typeof key[3] === 'number' && key[3] < before) stale.push(key)
    }
    for (const k of stale) this.#t.removeSync(k)
    return stale.length
  }
}
