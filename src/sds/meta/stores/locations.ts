/**
 * The shard-location ledger: it owns `refs` ([node, shard] → how many committed file placements and open upload
 * placements name it), `bad` ([node, shard] → BadLocation: reported corrupt or lost; the refs it had move here and
 * leave with the records using it) and `deletes` ([node, shard] → PendingDelete: nothing references it, the node
 * should delete it; handed out in heartbeat replies).
 *
 * Invariants (kept because every change to them happens here, inside one write()):
 *   - A (node, shard) location is in at most one of refs / bad / deletes.
 *   - A ref is only added by placement, and placement never picks a location that is bad or whose delete was already
 *     handed to the node (`sentAt`), so a node is never told to delete a shard something references.
 *   - Releasing the last ref queues a delete; releasing a bad location decrements its `refs` (the node already
 *     quarantined the bytes, there is nothing to delete).
 *
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import { KEY_STRING_MAX, type PrefetchRead, type Table } from '../engine/table.ts'

export interface PendingDelete {
  queuedAt: number
  /** First time it was listed in a heartbeat reply; from then on placement avoids the location until acked. */
  sentAt?: number
}

export interface BadLocation {
  reportedAt: number
  /** References (file or session placements) still naming this location. */
  refs: number
}

type Pair = [string, string]

export interface LocationStore {
  /** Inside write(): one more placement names (node, shard). Cancels a delete not yet handed to the node. */
  addRef(node: string, shard: string): void
  /** Inside write(): one placement of (node, shard) goes away; the last one queues the shard's deletion on the node. */
  releaseRef(node: string, shard: string, now: number): void
  /** Inside write(): queues a delete for (node, shard) when nothing references it (idempotent). */
  queueDeleteIfUnreferenced(node: string, shard: string, now: number): void
  /** Inside write(): queues a delete for (node, shard) (idempotent). */
  queueDelete(node: string, shard: string, now: number): void
  /**
   * Inside write(): the node no longer has (node, shard) intact: its references move to `bad` (records keep naming
   * it so repair finds them) and any pending delete is moot. False when nothing referenced the location.
   */
  markBad(node: string, shard: string, now: number): boolean
  /** Placement must not pick (node, shard): reported bad, or its delete is already in the node's hands. */
  locationBlocked(node: string, shard: string): boolean
  /** References to (node, shard) outside `bad` (undefined when none). */
  refCount(node: string, shard: string): number | undefined
  badLocation(node: string, shard: string): BadLocation | undefined
  isBad(node: string, shard: string): boolean
  pendingDelete(node: string, shard: string): PendingDelete | undefined
  /** The index knows (node, shard) at all: referenced, bad, or still to be deleted (a GET order on it is payable). */
  isKnown(node: string, shard: string): boolean
  /** Shards referenced on `node` from `after` (excluded; '' = from the start) in key order, at most `limit`. */
  referencedShards(node: string, after: string, limit: number): string[]
  /** The first shard referenced on `node` at or after `from` in key order (an auditor's random pick). */
  firstReferencedAtOrAfter(node: string, from: string): string | undefined
  /** Locations reported bad, in key order from after `after` (undefined = from the start), at most `limit`. */
  badLocations(after: Pair | undefined, limit: number): Pair[]
  /** Pending deletes of one node, in key order, at most `limit`. */
  pendingDeletes(node: string, limit: number): { shard: string; value: PendingDelete }[]
  countPendingDeletes(node: string): number
  /** Inside write(): the node acknowledged these deletes (at-least-once: unknown ones are ignored). */
  ackDeletes(node: string, shards: readonly string[]): void
  /** Inside write(): the next pending deletes for a heartbeat reply, each marked handed out at `now` (first time). */
  handOutDeletes(node: string, limit: number, now: number): string[]
  /**
   * The reads this store makes to place, reference, release or check these locations, for MetaStore.prefetch (one
   * round trip on PostgreSQL for all of them, instead of one per key).
   */
  reads(pairs: Pair[]): PrefetchRead[]
}

export class TableLocationStore implements LocationStore {
  readonly #refs: Table<number, Pair>
  readonly #bad: Table<BadLocation, Pair>
  readonly #deletes: Table<PendingDelete, Pair>

  constructor(refs: Table<number, Pair>, bad: Table<BadLocation, Pair>, deletes: Table<PendingDelete, Pair>) {
    this.#refs = refs
    this.#bad = bad
    this.#deletes = deletes
  }

  reads(pairs: Pair[]): PrefetchRead[] {
    return [
      { table: this.#refs, keys: pairs },
      { table: this.#bad, keys: pairs },
      { table: this.#deletes, keys: pairs },
    ]
  }

  addRef(node: string, shard: string): void {
    const key: Pair = [node, shard]
    const count = this.#refs.get(key) ?? 0
    this.#refs.putSync(key, count + 1)
    if (count === 0) this.#deletes.removeSync(key)
  }

  releaseRef(node: string, shard: string, now: number): void {
    const key: Pair = [node, shard]
    const bad = this.#bad.get(key)
    if (bad !== undefined) {
      if (bad.refs > 1) this.#bad.putSync(key, { ...bad, refs: bad.refs - 1 })
      else this.#bad.removeSync(key)
      return
    }
    const count = this.#refs.get(key) ?? 0
    if (count > 1) {
      this.#refs.putSync(key, count - 1)
      return
    }
    this.#refs.removeSync(key)
    this.queueDelete(node, shard, now)
  }

  queueDeleteIfUnreferenced(node: string, shard: string, now: number): void {
    const key: Pair = [node, shard]
    if (this.#refs.get(key) !== undefined || this.#bad.get(key) !== undefined) return
    this.queueDelete(node, shard, now)
  }

  queueDelete(node: string, shard: string, now: number): void {
    const key: Pair = [node, shard]
    if (this.#deletes.get(key) === undefined) this.#deletes.putSync(key, { queuedAt: now })
  }

  markBad(node: string, shard: string, now: number): boolean {
    const key: Pair = [node, shard]
    this.#deletes.removeSync(key)
    const count = this.#refs.get(key)
    if (count === undefined) return false
    this.#refs.removeSync(key)
    const prev = this.#bad.get(key)
    this.#bad.putSync(key, { reportedAt: now, refs: (prev?.refs ?? 0) + count })
    return true
  }

  locationBlocked(node: string, shard: string): boolean {
    const key: Pair = [node, shard]
    if (this.#bad.get(key) !== undefined) return true
    const d = this.#deletes.get(key)
    return d !== undefined && d.sentAt !== undefined
  }

  refCount(node: string, shard: string): number | undefined {
    return this.#refs.get([node, shard])
  }

  badLocation(node: string, shard: string): BadLocation | undefined {
    return this.#bad.get([node, shard])
  }

  isBad(node: string, shard: string): boolean {
    return this.#bad.get([node, shard]) !== undefined
  }

  pendingDelete(node: string, shard: string): PendingDelete | undefined {
    return this.#deletes.get([node, shard])
  }

  isKnown(node: string, shard: string): boolean {
    const key: Pair = [node, shard]
    return this.#refs.get(key) !== undefined || this.#bad.get(key) !== undefined || this.#deletes.get(key) !== undefined
  }

  referencedShards(node: string, after: string, limit: number): string[] {
    const out: string[] = []
    for (const key of this.#refs.getKeys({ start: [node, after], end: [node, KEY_STRING_MAX], limit: limit + 1 })) {
      if (after !== '' && key[1] === after) continue
      if (out.length >= limit) break
      out.push(key[1])
    }
    return out
  }

  firstReferencedAtOrAfter(node: string, from: string): string | undefined {
    for (const key of this.#refs.getKeys({ start: [node, from], end: [node, KEY_STRING_MAX], limit: 1 })) return key[1]
    return undefined
  }

  badLocations(after: Pair | undefined, limit: number): Pair[] {
    const out: Pair[] = []
    for (const key of this.#bad.getKeys(after ? { start: after, limit: limit + 1 } : { limit })) {
      if (after && key[0] === after[0] && key[1] === after[1]) continue
      if (out.length >= limit) break
      out.push(key)
    }
    return out
  }

  pendingDeletes(node: string, limit: number): { shard: string; value: PendingDelete }[] {
    const out: { shard: string; value: PendingDelete }[] = []
    for (const { key, value } of this.#deletes.getRange({ start: [node, ''], end: [node, KEY_STRING_MAX], limit })) {
      out.push({ shard: key[1], value })
    }
    return out
  }

  countPendingDeletes(node: string): number {
    return this.#deletes.getCount({ start: [node, ''], end: [node, KEY_STRING_MAX] })
  }

  ackDeletes(node: string, shards: readonly string[]): void {
    for (const shard of shards) this.#deletes.removeSync([node, shard])
  }

  handOutDeletes(node: string, limit: number, now: number): string[] {
    const out: string[] = []
    for (const { shard, value } of this.pendingDeletes(node, limit)) {
      out.push(shard)
      if (value.sentAt === undefined) this.#deletes.putSync([node, shard], { ...value, sentAt: now })
    }
    return out
  }
}
