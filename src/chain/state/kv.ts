/**
 * The key-value interface the state machine runs on, and its in-memory implementation.
 *
 * Keys are strings (ASCII paths like `bank/bal/st1…`), values are bytes. `iterate(prefix)` yields
 * the entries whose key starts with `prefix` in ascending key order (UTF-16 code units, which for
 * our ASCII keys is byte order, as LMDB sorts), as a snapshot taken at the call: the caller may
 * write to the store while it iterates.
 *
 * A persistent store (LMDB in the chain node) implements `BatchKvStore.writeBatch` as one
 * transaction, so a block's writes land all together or not at all.
 */
import { SortedKeys } from './sorted-keys.ts'

export interface KvStore {
  get(key: string): Uint8Array | undefined
  set(key: string, value: Uint8Array): void
  delete(key: string): void
  iterate(prefix: string): Iterable<readonly [string, Uint8Array]>
}

/** One write of a batch: a value, or null to delete the key. */
export type KvWrite = readonly [key: string, value: Uint8Array | null]

export interface BatchKvStore extends KvStore {
  /** Applies every write atomically (all or nothing). */
  writeBatch(writes: readonly KvWrite[]): void
}

/** A sorted in-memory store (tests, benchmarks, and a node that keeps state in RAM). */
export class MemoryKvStore implements BatchKvStore {
  readonly #map = new Map<string, Uint8Array>()
  readonly #keys = new SortedKeys()
  readonly #has = (k: string): boolean => this.#map.has(k)

  get size(): number {
    return this.#map.size
  }

  get(key: string): Uint8Array | undefined {
    return this.#map.get(key)
  }

  set(key: string, value: Uint8Array): void {
    if (!this.#map.has(key)) this.#keys.add(key)
    this.#map.set(key, value)
  }

  delete(key: string): void {
    if (this.#map.delete(key)) this.#keys.markRemoved()
  }

  iterate(prefix: string): Iterable<readonly [string, Uint8Array]> {
    return this.#keys.range(prefix, this.#has).map((k) => [k, this.#map.get(k)!] as const)
  }

  writeBatch(writes: readonly KvWrite[]): void {
    for (const [k, v] of writes) {
      if (v === null) this.delete(k)
      else this.set(k, v)
    }
  }
}
