/**
 * The one bounded cache of the code base: a Map kept in least-recently-used (or insertion) order and bounded by
 * entry count, by bytes, or both.
 *
 * Guarantees:
 * - After every `set` (and `recost`) the cache holds at most `maxEntries` entries and `maxBytes` bytes, evicting
 *   oldest first; the entry just set is the newest, so it goes last (with `keepOne`, never: the last entry left
 *   stays even when it alone is over `maxBytes`).
 * - An entry's bytes are `cost(value, key)`, taken when it is set (values that grow in place say so with `recost`).
 * - `onEvict` runs for entries evicted to stay within the bounds only — not for `delete`, `clear`, a value replaced
 *   by `set`, or a value refused by `maxEntryBytes` — so it can release what the entry holds (a file on disk).
 *
 * Order: with `order: 'lru'` (the default) `get` and `set` make an entry the newest and `peek` reads without doing
 * so; with `order: 'fifo'` entries keep the place where they were first inserted (a Map's own order), which is what
 * the bounded "remember the last N" sets of the code base want.
 */

export interface LruOptions<K, V> {
  /** Most entries kept. @default Infinity */
  maxEntries?: number
  /** Most bytes kept, as counted by `cost`. @default Infinity */
  maxBytes?: number
  /**
   * An entry whose own cost is over this is not kept: `set` drops any previous value of the key and returns false
   * (as lru-cache's maxEntrySize). Without it a too-large entry is inserted and evicts everything, itself last.
   * @default Infinity
   */
  maxEntryBytes?: number
  /** Bytes an entry counts for. @default () => 0 */
  cost?: (value: V, key: K) => number
  /** 'lru': get and set make an entry the newest; 'fifo': entries keep their first insertion place. @default 'lru' */
  order?: 'lru' | 'fifo'
  /** Never evict the only entry left, so one entry larger than maxBytes is still kept on its own. @default false */
  keepOne?: boolean
  /** Called for each entry evicted to stay within the bounds. */
  onEvict?: (key: K, value: V) => void
}

interface Slot<V> {
  value: V
  cost: number
}

export class Lru<K, V> {
  readonly maxEntries: number
  readonly maxBytes: number
  readonly #maxEntryBytes: number
  readonly #cost: (value: V, key: K) => number
  readonly #lru: boolean
  readonly #keepOne: boolean
  readonly #onEvict: ((key: K, value: V) => void) | undefined
  readonly #map = new Map<K, Slot<V>>()
  #bytes = 0

  constructor(options: LruOptions<K, V> = {}) {
    this.maxEntries = options.maxEntries ?? Infinity
    this.maxBytes = options.maxBytes ?? Infinity
    this.#maxEntryBytes = options.maxEntryBytes ?? Infinity
    this.#cost = options.cost ?? (() => 0)
    this.#lru = (options.order ?? 'lru') === 'lru'
    this.#keepOne = options.keepOne ?? false
    this.#onEvict = options.onEvict
  }

  /** Entries kept. */
  get size(): number {
    return this.#map.size
  }

  /** Sum of the kept entries' costs. */
  get bytes(): number {
    return this.#bytes
  }

  /** The value of `key`; in LRU order it becomes the newest entry. */
  get(key: K): V | undefined {
    const slot = this.#map.get(key)
    if (slot === undefined) return undefined
    if (this.#lru) {
      this.#map.delete(key)
      this.#map.set(key, slot)
    }
    return slot.value
  }

  /** The value of `key`, leaving the order as it is. */
  peek(key: K): V | undefined {
    return this.#map.get(key)?.value
  }

  has(key: K): boolean {
    return this.#map.has(key)
  }

  /**
   * Stores `value` under `key` and evicts what no longer fits. In LRU order the entry becomes the newest; in FIFO
   * order a key already present keeps its place. Returns false when `maxEntryBytes` refused the value.
   */
  set(key: K, value: V): boolean {
    const cost = this.#cost(value, key)
    const old = this.#map.get(key)
    if (cost > this.#maxEntryBytes) {
      if (old !== undefined) this.#remove(key, old)
      return false
    }
    if (old !== undefined) {
      this.#bytes -= old.cost
      if (this.#lru) this.#map.delete(key)
    }
    this.#map.set(key, { value, cost })
    this.#bytes += cost
    this.#evict()
    return true
  }

  /** Takes `key`'s cost again (its value grew or shrank in place) and evicts what no longer fits; order unchanged. */
  recost(key: K): void {
    const slot = this.#map.get(key)
    if (slot === undefined) return
    const cost = this.#cost(slot.value, key)
    this.#bytes += cost - slot.cost
    slot.cost = cost
    this.#evict()
  }

  /** Removes `key` (no onEvict); true when it was there. */
  delete(key: K): boolean {
    const slot = this.#map.get(key)
    if (slot === undefined) return false
    this.#remove(key, slot)
    return true
  }

  /** Removes every entry (no onEvict). */
  clear(): void {
    this.#map.clear()
    this.#bytes = 0
  }

  /** Keys, oldest first. */
  keys(): IterableIterator<K> {
    return this.#map.keys()
  }

  /** [key, value] pairs, oldest first; iterating does not change the order. */
  *entries(): IterableIterator<[K, V]> {
    for (const [k, slot] of this.#map) yield [k, slot.value]
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries()
  }

  #remove(key: K, slot: Slot<V>): void {
    this.#map.delete(key)
    this.#bytes -= slot.cost
  }

  #evict(): void {
    for (const [k, slot] of this.#map) {
      if (this.#map.size <= this.maxEntries && this.#bytes <= this.maxBytes) return
      if (this.#keepOne && this.#map.size === 1) return
      this.#remove(k, slot)
      this.#onEvict?.(k, slot.value)
    }
  }
}
