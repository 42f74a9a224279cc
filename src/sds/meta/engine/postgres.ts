/**
 * The shared engine: the meta index in PostgreSQL, so several stateless processes of one meta node (same identity
 * key) serve over one database (`stratos node meta --index postgres://…`, docs/operations.md).
 *
 * Layout: one SQL table per index table, `meta_<name> (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)`, keys in
 * `ordered-binary` (codec.ts) so SQL's byte order is LMDB's key order, values in msgpack. The SQL stays within
 * what CockroachDB also runs — CREATE TABLE IF NOT EXISTS, BYTEA primary keys, INSERT … ON CONFLICT DO UPDATE,
 * `unnest` of two arrays, `= ANY(array)`, SERIALIZABLE transactions (CockroachDB's only isolation) — and uses no
 * sequences, advisory locks or LISTEN/NOTIFY.
 *
 * Transactions: `write(fn)` opens a SERIALIZABLE transaction with its first statement, runs `fn` synchronously
 * (reads go to the server at once through pg-bridge.ts; puts and removes are buffered and sent with the commit, or
 * before a range read of the same table so the read sees them) and commits. A serialization failure (SQLSTATE
 * 40001, or 40P01 deadlock) rolls back and runs `fn` again, up to WRITE_ATTEMPTS times with a random backoff —
 * so `fn` must be re-runnable (table.ts). Reads outside `write` are single statements, each on its own snapshot.
 *
 * Cut off from the server: a call that gets no answer within the bridge's timeout fails with NODE_UNAVAILABLE, and
 * for UNREACHABLE_BACKOFF_MS after that every call fails at once instead of waiting again (so the process keeps
 * answering — with 503s and a failing /readyz — while the other processes serve).
 */
import { StratosError } from '../../../errors.ts'
import { decodeKey, decodeValue, encodeKey, encodeValue } from './codec.ts'
import { PgBridge, SqlError, type PgBridgeOptions, type Statement } from './pg-bridge.ts'
import type { Key, PrefetchRead, RangeOptions, StorageEngine, Table, WriteOptions } from './table.ts'

/** Runs of one transaction before a serialization failure is given up on (as BUSY). */
export const WRITE_ATTEMPTS = 12
/** Rows fetched per round trip while iterating a range. */
const RANGE_PAGE = 512
/** After the server did not answer, how long calls fail fast before trying it again. */
const UNREACHABLE_BACKOFF_MS = 1_000
/** Opening: the worker thread starts, connects and creates the tables. */
const OPEN_TIMEOUT_MS = 30_000

const RETRYABLE = new Set(['40001', '40P01'])

export interface PostgresEngineOptions extends PgBridgeOptions {
  /** Random numbers in [0, 1) for the retry backoff (default Math.random). */
  random?: () => number
  /** Prefix of every SQL table (default `meta_`); tests give each run its own. */
  tablePrefix?: string
}

interface Pending {
  k: Buffer
  v: Buffer | null
}

/** SQL table name of an index table: `meta_` + the name in snake case. */
function sqlName(prefix: string, name: string): string {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  if (!/^[a-z0-9_]+$/.test(prefix + snake)) throw new Error(`bad table name ${prefix}${name}`)
  return prefix + snake
}

export class PostgresEngine implements StorageEngine {
  readonly kind = 'postgres'
  readonly shared = true
  readonly #bridge: PgBridge
  readonly #random: () => number
  readonly #prefix: string
  /** Buffered writes of the running transaction, per SQL table, by hex key. */
  readonly #pending = new Map<string, Map<string, Pending>>()
  /**
   * What the running transaction read, per SQL table, by hex key (null: absent). A SERIALIZABLE transaction sees its
   * own snapshot, so a key read once reads the same until the transaction writes it (its buffered write answers
   * first, and a flushed write lands here); each key costs one round trip at most, and `prefetch` reads many in one.
   */
  readonly #read = new Map<string, Map<string, Buffer | null>>()
  #inWrite = false
  #txOpen = false
  #unreachableUntil = 0
  #closed = false

  constructor(connectionString: string, options: PostgresEngineOptions = {}) {
    this.#bridge = new PgBridge(connectionString, options)
    this.#random = options.random ?? Math.random
    this.#prefix = options.tablePrefix ?? 'meta_'
  }

  openTables<T extends Record<string, Table<unknown, Key>>>(names: readonly (keyof T & string)[]): T {
    const out: Record<string, unknown> = {}
    const ddl: Statement[] = []
    for (const name of names) {
      const sql = sqlName(this.#prefix, name)
      ddl.push({ sql: `CREATE TABLE IF NOT EXISTS ${sql} (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)` })
      out[name] = new PgTable(this, sql)
    }
    this.exec(ddl, OPEN_TIMEOUT_MS)
    return out as T
  }

  /** Runs statements (inside `write`, within its transaction), failing fast while the server is unreachable. */
  exec(statements: Statement[], timeoutMs?: number): unknown[][][] {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    if (Date.now() < this.#unreachableUntil)
      throw new StratosError('NODE_UNAVAILABLE', 'the meta index (PostgreSQL) is unreachable')
    let offset = 0
    if (this.#inWrite && !this.#txOpen) {
      statements = [{ sql: 'BEGIN ISOLATION LEVEL SERIALIZABLE' }, ...statements]
      this.#txOpen = true
      offset = 1
    }
    try {
      return this.#bridge.run(statements, timeoutMs).slice(offset)
    } catch (e) {
      if (e instanceof StratosError && e.code === 'NODE_UNAVAILABLE') {
        this.#unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS
        this.#txOpen = false // the worker dropped the connection: the server rolled the transaction back
      }
      throw e
    }
  }

  get inWrite(): boolean {
    return this.#inWrite
  }

  pendingOf(table: string): Map<string, Pending> | undefined {
    return this.#pending.get(table)
  }

  /** Inside `write`: the value this transaction read for a key (null: absent), undefined when not read yet. */
  readOf(table: string, hex: string): Buffer | null | undefined {
    return this.#inWrite ? this.#read.get(table)?.get(hex) : undefined
  }

  /** Inside `write`: remembers what this transaction read (or wrote and sent) for a key. */
  remember(table: string, hex: string, v: Buffer | null): void {
    if (!this.#inWrite) return
    let m = this.#read.get(table)
    if (!m) this.#read.set(table, (m = new Map()))
    m.set(hex, v)
  }

  /**
   * Inside `write`: reads every key of every given table not read yet in one round trip (then `get` answers them from
   * memory). Outside `write` it does nothing: single reads there are each their own snapshot.
   */
  prefetch(reads: PrefetchRead[]): void {
    if (!this.#inWrite) return
    const requests = reads
      .filter((r) => r.table instanceof PgTable && r.keys.length > 0)
      .map((r) => (r.table as PgTable<unknown, Key>).prefetchRequest(r.keys))
    const statements: Statement[] = []
    const asked: { table: string; keys: Map<string, Buffer> }[] = []
    for (const { table, keys } of requests) {
      const want = new Map<string, Buffer>()
      const pending = this.#pending.get(table)
      for (const k of keys) {
        const hex = k.toString('hex')
        if (pending?.has(hex) || this.readOf(table, hex) !== undefined) continue
        want.set(hex, k)
      }
      if (want.size === 0) continue
      statements.push({ sql: `SELECT k, v FROM ${table} WHERE k = ANY($1::BYTEA[])`, params: [[...want.values()]] })
      asked.push({ table, keys: want })
    }
    if (statements.length === 0) return
    const results = this.exec(statements)
    asked.forEach(({ table, keys }, i) => {
      const found = new Map<string, Buffer>()
      for (const row of results[i] ?? []) {
        const k = Buffer.from(row[0] as Uint8Array)
        found.set(k.toString('hex'), Buffer.from(row[1] as Uint8Array))
      }
      for (const hex of keys.keys()) this.remember(table, hex, found.get(hex) ?? null)
    })
  }

  /** Inside `write`: buffers a put (v) or a remove (null). Outside: writes it at once (its own transaction). */
  buffer(table: string, k: Buffer, v: Buffer | null): void {
    if (!this.#inWrite) {
      this.exec(flushStatements(table, new Map([[k.toString('hex'), { k, v }]])))
      return
    }
    let m = this.#pending.get(table)
    if (!m) this.#pending.set(table, (m = new Map()))
    m.set(k.toString('hex'), { k, v })
  }

  /** The statements that send the buffered writes of `table` (and forgets them). */
  takePending(table: string): Statement[] {
    const m = this.#pending.get(table)
    if (!m || m.size === 0) return []
    this.#pending.delete(table)
    // Sent now, so reads later in the transaction must see them: they join what it read.
    for (const [hex, { v }] of m) this.remember(table, hex, v)
    return flushStatements(table, m)
  }

  async write<T>(fn: () => T, _options: WriteOptions = {}): Promise<T> {
    if (this.#inWrite) throw new Error('PostgresEngine.write: nested write')
    for (let attempt = 1; ; attempt++) {
      this.#inWrite = true
      this.#txOpen = false
      this.#pending.clear()
      this.#read.clear()
      try {
        const result = fn()
        const statements: Statement[] = []
        for (const table of [...this.#pending.keys()]) statements.push(...this.takePending(table))
        if (this.#txOpen || statements.length > 0) this.exec([...statements, { sql: 'COMMIT' }])
        this.#txOpen = false
        return result
      } catch (e) {
        this.#rollback()
        if (!(e instanceof SqlError && RETRYABLE.has(e.sqlState))) throw e
        if (attempt >= WRITE_ATTEMPTS)
          throw new StratosError('BUSY', 'the meta index is busy (too many conflicting writes); try again', {
            attempts: attempt,
          })
      } finally {
        this.#inWrite = false
        this.#pending.clear()
        this.#read.clear()
      }
      // Off the event loop's back while the other writer finishes: 1, 2, 4 … ms (capped), times a random factor.
      const ms = Math.min(2 ** (attempt - 1), 50) * (0.5 + this.#random())
      await new Promise((r) => setTimeout(r, ms))
    }
  }

  #rollback(): void {
    if (!this.#txOpen) return
    this.#txOpen = false
    this.#inWrite = false
    try {
      this.#bridge.run([{ sql: 'ROLLBACK' }])
    } catch {
      // Unreachable: the server rolls back when the connection goes.
    }
  }

  async ready(): Promise<boolean> {
    if (this.#closed || this.#inWrite) return !this.#closed
    try {
      this.exec([{ sql: 'SELECT 1' }])
      return true
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#bridge.close()
  }
}

function flushStatements(table: string, m: Map<string, Pending>): Statement[] {
  const putK: Buffer[] = []
  const putV: Buffer[] = []
  const del: Buffer[] = []
  for (const { k, v } of m.values()) {
    if (v === null) del.push(k)
    else {
      putK.push(k)
      putV.push(v)
    }
  }
  const out: Statement[] = []
  if (del.length) out.push({ sql: `DELETE FROM ${table} WHERE k = ANY($1::BYTEA[])`, params: [del] })
  if (putK.length)
    out.push({
      sql: `INSERT INTO ${table} (k, v) SELECT * FROM unnest($1::BYTEA[], $2::BYTEA[]) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
      params: [putK, putV],
    })
  return out
}

function bounds(options: RangeOptions | undefined, after: Buffer | undefined): { where: string; params: Buffer[] } {
  const conds: string[] = []
  const params: Buffer[] = []
  if (after !== undefined) {
    params.push(after)
    conds.push(`k > $${params.length}`)
  } else if (options?.start !== undefined) {
    params.push(encodeKey(options.start))
    conds.push(`k >= $${params.length}`)
  }
  if (options?.end !== undefined) {
    params.push(encodeKey(options.end))
    conds.push(`k < $${params.length}`)
  }
  return { where: conds.length ? ` WHERE ${conds.join(' AND ')}` : '', params }
}

class PgTable<V, K extends Key> implements Table<V, K> {
  readonly #engine: PostgresEngine
  readonly #sql: string

  constructor(engine: PostgresEngine, sql: string) {
    this.#engine = engine
    this.#sql = sql
  }

  get(key: K): V | undefined {
    const k = encodeKey(key)
    const hex = k.toString('hex')
    const p = this.#engine.pendingOf(this.#sql)?.get(hex)
    if (p !== undefined) return p.v === null ? undefined : decodeValue<V>(p.v)
    const seen = this.#engine.readOf(this.#sql, hex)
    if (seen !== undefined) return seen === null ? undefined : decodeValue<V>(seen)
    const [rows] = this.#engine.exec([{ sql: `SELECT v FROM ${this.#sql} WHERE k = $1`, params: [k] }])
    const row = rows?.[0]
    const v = row === undefined ? null : Buffer.from(row[0] as Uint8Array)
    this.#engine.remember(this.#sql, hex, v)
    return v === null ? undefined : decodeValue<V>(v)
  }

  /** Keys for PostgresEngine.prefetch. */
  prefetchRequest(keys: K[]): { table: string; keys: Buffer[] } {
    return { table: this.#sql, keys: keys.map((key) => encodeKey(key)) }
  }

  putSync(key: K, value: V): void {
    this.#engine.buffer(this.#sql, encodeKey(key), encodeValue(value))
  }

  removeSync(key: K): void {
    this.#engine.buffer(this.#sql, encodeKey(key), null)
  }

  /** Rows of the range, a page per round trip, after sending this table's buffered writes. */
  *#rows(options: RangeOptions | undefined, withValues: boolean): Generator<unknown[]> {
    let left = options?.limit ?? Number.POSITIVE_INFINITY
    let after: Buffer | undefined
    while (left > 0) {
      const page = Math.min(left, RANGE_PAGE)
      const { where, params } = bounds(options, after)
      const cols = withValues ? 'k, v' : 'k'
      const select: Statement = {
        sql: `SELECT ${cols} FROM ${this.#sql}${where} ORDER BY k LIMIT ${page}`,
        params,
      }
      const flush = this.#engine.takePending(this.#sql)
      const results = this.#engine.exec([...flush, select])
      const rows = results[results.length - 1] ?? []
      for (const row of rows) yield row
      if (rows.length < page) return
      left -= rows.length
      after = Buffer.from(rows[rows.length - 1]![0] as Uint8Array)
    }
  }

  *getRange(options?: RangeOptions): Iterable<{ key: K; value: V }> {
    for (const row of this.#rows(options, true))
      yield { key: decodeKey<K>(row[0] as Uint8Array), value: decodeValue<V>(row[1] as Uint8Array) }
  }

  *getKeys(options?: RangeOptions): Iterable<K> {
    for (const row of this.#rows(options, false)) yield decodeKey<K>(row[0] as Uint8Array)
  }

  getCount(options?: RangeOptions): number {
    const { where, params } = bounds(options, undefined)
    const flush = this.#engine.takePending(this.#sql)
    const results = this.#engine.exec([...flush, { sql: `SELECT count(*) FROM ${this.#sql}${where}`, params }])
    return Number(results[results.length - 1]![0]![0])
  }
}
