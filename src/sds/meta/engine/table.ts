/**
 * The storage engine under the meta index (store.ts): named, ordered key → value tables and one write transaction
 * at a time. Two engines implement it — LMDB (lmdb.ts, the embedded default) and PostgreSQL (postgres.ts, the index
 * that several processes of one meta node share) — and test/sds/meta/engine/engine-suite.ts holds both to the same
 * contract.
 *
 * The contract is the part of lmdb-js's `Database` the meta node uses, so the LMDB engine hands out its databases
 * as they are:
 *   - keys are strings, numbers or arrays of them, ordered as lmdb-js orders them (`ordered-binary`: arrays compare
 *     element by element, a shorter prefix first); values are anything msgpack carries (records, numbers, `true`,
 *     bytes);
 *   - ranges are [start, end): `start` included, `end` excluded, ascending, at most `limit`;
 *   - `putSync` / `removeSync` are only called inside `write(fn)`; reads may happen anywhere and see committed data
 *     (inside `write`, also that transaction's own writes).
 *
 * Unit of work: `write(fn)` runs `fn` synchronously and commits everything it wrote at once, or nothing (a throw
 * rolls back and rejects with that error). Every subsystem's keys that must change together (a nonce recorded with
 * the effect it authorises, a file record with its owners, refs and PoT entries) change inside one `write`, whatever
 * tables they live in. An engine may run `fn` more than once (PostgreSQL runs it once per round of reads it needs,
 * each run ending at its first read not made yet, and again after a write conflict), so `fn` does nothing but read
 * and write tables and derive its result: side effects on memory (caches, reservations, arrays outside `fn`) must
 * be idempotent or undone at the start of the next run, keys it reads must not depend on randomness drawn inside it
 * (draw ids before `write`), and anything else happens after `write` resolves.
 */

/** Sorts after every string used as a key part (CIDs, addresses and hex ids are ASCII): a range's open end. */
export const KEY_STRING_MAX = '\uffff'

export type Key = string | number | boolean | null | (string | number | boolean | null)[]

/** Bounds may be shorter than the table's keys (a prefix): `['spent']` starts before every `['spent', …]`. */
export interface RangeOptions {
  start?: Key
  end?: Key
  limit?: number
}

/** One named table. */
export interface Table<V, K extends Key = Key> {
  get(key: K): V | undefined
  putSync(key: K, value: V): void
  removeSync(key: K): void
  getRange(options?: RangeOptions): Iterable<{ key: K; value: V }>
  getKeys(options?: RangeOptions): Iterable<K>
  /** Entries in the range (`limit` does not apply). */
  getCount(options?: RangeOptions): number
}

export interface WriteOptions {
  /** Resolve only once the commit is on disk (default true); false lets lost bookkeeping be re-sent instead. */
  durable?: boolean
}

/** Keys of one table a transaction is about to read (StorageEngine.prefetch). */
export interface PrefetchRead {
  table: Table<unknown, Key>
  keys: Key[]
  /** Ranges the transaction is about to read with getRange (or getKeys: `keysOnly`), with the same options. */
  ranges?: { options: RangeOptions; keysOnly?: boolean }[]
}

/** What opens, writes and closes a set of tables. */
export interface StorageEngine {
  /**
   * Inside `write(fn)`: the keys `fn` is about to `get`. An engine whose reads are round trips (PostgreSQL) reads them
   * all at once (ending this run of `fn` when some are missing: the next run finds them) and answers the `get`s from
   * that; one whose reads are memory reads (LMDB) does nothing. Only a hint: every `get` answers the same with or
   * without it.
   */
  prefetch(reads: PrefetchRead[]): void
  /** `lmdb` or `postgres`: the status view and the logs name it. */
  readonly kind: 'lmdb' | 'postgres'
  /** Several processes may open this engine's index at once (background duties then take leases). */
  readonly shared: boolean
  /** Opens (creating when missing) one table per name. */
  openTables<T extends Record<string, Table<unknown, Key>>>(names: readonly (keyof T & string)[]): T
  write<T>(fn: () => T, options?: WriteOptions): Promise<T>
  /**
   * Runs `fn`, which only reads, on one consistent view, without blocking the event loop where reads are round trips
   * (PostgreSQL: a transaction run as `write`'s, so `fn` must be re-runnable and should prefetch what it reads).
   * `fn` must not write (PostgreSQL refuses: `putSync` / `removeSync` throw there).
   */
  read<T>(fn: () => T): Promise<T>
  /** True while the engine can commit (PostgreSQL: reachable within its timeout). */
  ready(): Promise<boolean>
  close(): Promise<void>
}
