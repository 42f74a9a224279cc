/**
 * A write overlay over another store: reads see the overlay's own writes first, writes stay in
 * the overlay until `commit()` pushes them down (or `discard()` drops them).
 *
 * The state machine stacks them: store ← block overlay ← tx overlay ← message overlay. A failing
 * message discards its overlay, so a failed transaction changes nothing but its fee and nonce;
 * a transaction rejected before execution changes nothing at all; the block overlay's sorted
 * writes are what the state hash covers and what the store persists in one batch.
 */
import type { KvStore, KvWrite } from './kv.ts'
import { SortedKeys } from './sorted-keys.ts'

export class OverlayKv implements KvStore {
  /** Pending writes; null marks a deletion. */
  #writes = new Map<string, Uint8Array | null>()
  #keys = new SortedKeys()
  readonly #has = (k: string): boolean => this.#writes.has(k)

  constructor(readonly base: KvStore) {}

  get(key: string): Uint8Array | undefined {
    const w = this.#writes.get(key)
    if (w !== undefined) return w ?? undefined
    return this.base.get(key)
  }

  set(key: string, value: Uint8Array): void {
    if (!this.#writes.has(key)) this.#keys.add(key)
    this.#writes.set(key, value)
  }

  delete(key: string): void {
    if (!this.#writes.has(key)) this.#keys.add(key)
    this.#writes.set(key, null)
  }

  iterate(prefix: string): Iterable<readonly [string, Uint8Array]> {
    const own = this.#keys.range(prefix, this.#has)
    const out: Array<readonly [string, Uint8Array]> = []
    let i = 0
    const emitOwnUpTo = (limit: string | undefined): void => {
      while (i < own.length && (limit === undefined || own[i]! < limit)) {
        const k = own[i++]!
        const v = this.#writes.get(k)
        if (v) out.push([k, v])
      }
    }
    for (const entry of this.base.iterate(prefix)) {
      emitOwnUpTo(entry[0])
      if (i < own.length && own[i] === entry[0]) {
        const v = this.#writes.get(own[i++]!)
        if (v) out.push([entry[0], v])
      } else {
        out.push(entry)
      }
    }
    emitOwnUpTo(undefined)
    return out
  }

  /** Number of keys written (including deletions). */
  get size(): number {
    return this.#writes.size
  }

  /** The overlay's writes in ascending key order. */
  writes(): KvWrite[] {
    return this.#keys.range('', this.#has).map((k) => [k, this.#writes.get(k)!] as const)
  }

  /**
   * Pushes every write down to the base store and empties the overlay. Keys are distinct, so the
   * order does not matter and no sort is paid here (the block's sorted write set is taken once,
   * with `writes()`, for the state hash).
   */
  commit(): void {
    if (this.base instanceof OverlayKv) {
      this.base.#absorb(this)
      return
    }
    for (const [k, v] of this.#writes) {
      if (v === null) this.base.delete(k)
      else this.base.set(k, v)
    }
    this.discard()
  }

  /**
   * Takes a child overlay's writes. When the child holds more writes than this overlay (a big
   * message over a fresh transaction overlay), this overlay's few writes move into the child's
   * map and the map changes hands: O(smaller) instead of copying 10,000 entries per level.
   */
  #absorb(child: OverlayKv): void {
    if (child.#writes.size >= this.#writes.size) {
      for (const [k, v] of this.#writes) {
        if (!child.#writes.has(k)) {
          child.#writes.set(k, v)
          child.#keys.add(k)
        }
      }
      this.#writes = child.#writes
      this.#keys = child.#keys
      child.#writes = new Map()
      child.#keys = new SortedKeys()
    } else {
      for (const [k, v] of child.#writes) {
        if (!this.#writes.has(k)) this.#keys.add(k)
        this.#writes.set(k, v)
      }
      child.discard()
    }
  }

  discard(): void {
    this.#writes.clear()
    this.#keys.clear()
  }
}
