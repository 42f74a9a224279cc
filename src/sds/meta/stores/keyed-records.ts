/**
 * A table of records that each carry their own key (a node's address, …): get one, list all, put one. The node
 * registry (nodes.ts) and the reputation store (reputation.ts) are this shape; their interfaces say what each owns.
 */
import type { PrefetchRead, Table } from '../engine/table.ts'

export class KeyedRecordTable<V> {
  readonly #t: Table<V, string>
  readonly #keyOf: (record: V) => string

  constructor(table: Table<V, string>, keyOf: (record: V) => string) {
    this.#t = table
    this.#keyOf = keyOf
  }

  get(key: string): V | undefined {
    return this.#t.get(key)
  }

  all(): V[] {
    return [...this.#t.getRange()].map((e) => e.value)
  }

  /** The read `all` makes, for MetaStore.prefetch. */
  allReads(): PrefetchRead[] {
    return [{ table: this.#t, keys: [], ranges: [{ options: {} }] }]
  }

  /** Inside write(). */
  put(record: V): void {
    this.#t.putSync(this.#keyOf(record), record)
  }
}
