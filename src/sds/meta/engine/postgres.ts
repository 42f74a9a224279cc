/**
 * The shared engine: the meta index in PostgreSQL, so several stateless processes of one meta node (same identity
 * key) serve over one database (`stratos node meta --index postgres://…`, docs/operations.md).
 *
 * Layout: one SQL table per index table, `meta_<name> (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)`, keys in
 * `ordered-binary` (codec.ts) so SQL's byte order is LMDB's key order, values in msgpack. The SQL stays within
 * what CockroachDB also runs — CREATE TABLE IF NOT EXISTS, BYTEA primary keys, `'\x…'::BYTEA` hex literals,
 * `k IN (…)`, INSERT … VALUES … ON CONFLICT DO UPDATE, several statements in one simple query, REPEATABLE READ
 * transactions (CockroachDB runs them as SERIALIZABLE) — and uses no sequences, advisory locks or LISTEN/NOTIFY.
 *
 * Isolation: REPEATABLE READ (snapshot isolation): each transaction reads one snapshot, and of two concurrent
 * transactions that write the same key one fails with 40001 and runs again — including a write to a key another
 * transaction deleted since the snapshot, which is why keys seen present are written with UPDATE (#commit). That is what the meta node's
 * transactions rely on: each decides on keys it also writes — a nonce is written by the request it authorises (two
 * uses of one nonce write the same key), a file record by its commit, a session record by every call on that upload,
 * a location's ref count by everyone who changes it — so two processes can never both accept one upload or one
 * replayed request. SERIALIZABLE was measured first (bench/README.md, meta index): PostgreSQL's predicate locks
 * are index pages, and the index tables are small and hot, so nearly every pair of concurrent upload commits
 * (different uploads, different keys) was aborted as a false conflict — about one 40001 per commit.
 *
 * Transactions never block the event loop. `write(fn)` takes a connection from a pool (several transactions of
 * one process run at once, each on its own connection) and runs `fn` synchronously against what the transaction
 * has read so far: a read it has not made yet (a `get`, a `prefetch`, a range or a count) is noted and ends that run
 * of `fn` early (it throws a private marker, NEED). The engine then makes every noted read in one round trip —
 * the first one opens the transaction in the same round trip — and runs `fn` again, until a run needs
 * nothing new; its writes (buffered in memory, read back by later reads of the same run, ranges and counts
 * included) go to the server with the COMMIT, in one round trip. So a transaction costs one round trip per level
 * of dependent reads plus one, and `fn` runs once more per level (each run stops at its first unmet read, so the
 * early runs are cheap). A run that swallowed the marker (a `catch` inside `fn`) is not trusted: any unmet read
 * means another round. This is why `fn` must be re-runnable (table.ts) — as it already had to be for retries.
 *
 * A serialization failure (SQLSTATE 40001, or 40P01 deadlock) rolls back and runs the transaction again with a
 * random backoff, for up to WRITE_RETRY_MS, then gives up with BUSY. Several transactions of one process
 * committing at once share PostgreSQL's WAL flush (its group commit), so a busy process pays far less than one
 * flush per transaction.
 *
 * Reads outside `write` are synchronous (the stores' read methods are): each is one statement through the worker
 * bridge (pg-bridge.ts), which blocks this thread for its round trip — keep them off hot paths (a meta process
 * caches file records, uploads.ts and access.ts).
 *
 * Cut off from the server: a call that gets no answer within the timeout fails with NODE_UNAVAILABLE, and for
 * UNREACHABLE_BACKOFF_MS after that every call fails at once instead of waiting again (so the process keeps
 * answering — with 503s and a failing /readyz — while the other processes serve).
 */
import pg from 'pg'
import { StratosError } from '../../../errors.ts'
import { decodeKey, decodeValue, encodeKey, encodeValue } from './codec.ts'
import { PgBridge, SqlError, type PgBridgeOptions, type Statement } from './pg-bridge.ts'
import type { Key, PrefetchRead, RangeOptions, StorageEngine, Table, WriteOptions } from './table.ts'

/** How long a transaction that keeps losing serialization conflicts is retried before it fails with BUSY. */
export const WRITE_RETRY_MS = 10_000
/** Longest backoff between two runs of a conflicting transaction. */
const RETRY_BACKOFF_CAP_MS = 100
/** Rows fetched per round trip while iterating a range outside a transaction. */
const RANGE_PAGE = 512
/** After the server did not answer, how long calls fail fast before trying it again. */
const UNREACHABLE_BACKOFF_MS = 1_000
/** Opening: the worker thread starts, connects and creates the tables. */
const OPEN_TIMEOUT_MS = 30_000
/** Connections one process keeps to the server (transactions in flight at once). */
const POOL_SIZE = 8
/** Rounds of reads one run of a transaction may take before it counts as a bug (keys that change every run). */
const MAX_READ_ROUNDS = 64

const RETRYABLE = new Set(['40001', '40P01'])

export interface PostgresEngineOptions extends PgBridgeOptions {
  /** Random numbers in [0, 1) for the retry backoff (default Math.random). */
  random?: () => number
  /** Prefix of every SQL table (default `meta_`); tests give each run its own. */
  tablePrefix?: string
  /** Connections to the server for transactions (default POOL_SIZE). */
  poolSize?: number
}

interface Pending {
  k: Buffer
  v: Buffer | null
}

/** A range's rows as fetched: sorted by key bytes; `all` when the server had no more rows in the bounds. */
interface FetchedRange {
  rows: { k: Buffer; hex: string; v: Buffer | null }[]
  /** Rows asked for (undefined: the whole range). */
  limit: number | undefined
  all: boolean
}

interface RangeRequest {
  table: string
  start: Buffer | undefined
  end: Buffer | undefined
  limit: number | undefined
  values: boolean
}

/** Ends a run of `fn` that needs a read the transaction has not made yet (thrown, never shown to a caller). */
class NeedReads extends Error {}
const NEED = new NeedReads('the transaction needs reads it has not made yet')

/** A failure of the driver or the server (not of `fn`), as `cause`. */
class DriverError extends Error {
  constructor(readonly failure: unknown) {
    super('meta index driver failure', { cause: failure })
  }
}

/** A key's bytes (codec.ts) and their hex, the identity every map of a transaction files it under. */
export interface EncodedKey {
  k: Buffer
  hex: string
}

function encoded(key: Key): EncodedKey {
  const k = encodeKey(key)
  return { k, hex: k.toString('hex') }
}

/** A level of KeyCache's tree of array keys: the key that ends here, and the next part's levels. */
interface KeyNode {
  e: EncodedKey | undefined
  next: Map<unknown, KeyNode> | undefined
}

/**
 * The encoded keys of one transaction. `fn` runs once per round of reads and reads or writes mostly the same keys
 * each run: each distinct key is encoded (and hexed) once per transaction instead of once per use. Strings (most
 * keys) and other scalars are looked up as they are; arrays part by part down a tree of maps — no key text is built
 * per look-up. Maps tell parts apart as SameValueZero does: `'1'` from `1`, `null` from `'null'`, but not -0 from
 * 0, which the codec may encode differently: a key with a -0 (or, outside the Key type, an object) is encoded
 * every time instead.
 */
export class KeyCache {
  readonly #scalars = new Map<unknown, EncodedKey>()
  readonly #arrays: KeyNode = { e: undefined, next: undefined }

  of(key: Key): EncodedKey {
    if (!Array.isArray(key)) {
      if (!cacheable(key)) return encoded(key)
      let e = this.#scalars.get(key)
      if (e === undefined) this.#scalars.set(key, (e = encoded(key)))
      return e
    }
    let node = this.#arrays
    for (let i = 0; i < key.length; i++) {
      const part = key[i]
      if (!cacheable(part)) return encoded(key)
      node.next ??= new Map()
      let child = node.next.get(part)
      if (child === undefined) node.next.set(part, (child = { e: undefined, next: undefined }))
      node = child
    }
    node.e ??= encoded(key)
    return node.e
  }
}

function cacheable(part: unknown): boolean {
  return typeof part === 'number' ? !Object.is(part, -0) : typeof part !== 'object' || part === null
}

/** One transaction: what it read (its snapshot), what the current run wrote, what it still needs. */
class Tx {
  constructor(
    readonly readOnly: boolean,
    keys: KeyCache,
  ) {
    this.keys = keys
  }
  begun = false
  /** Every key this transaction encoded, across its runs (and its retries' runs: the cache outlives one Tx). */
  readonly keys: KeyCache
  /** Values read, per SQL table, by hex key (null: absent). */
  readonly read = new Map<string, Map<string, Buffer | null>>()
  /** Keys a keys-only range showed present (their values were not read), per SQL table. */
  readonly seenKeys = new Map<string, Set<string>>()
  /** Ranges read, by range id. */
  readonly ranges = new Map<string, FetchedRange>()
  /** Counts read, by range id. */
  readonly counts = new Map<string, number>()
  /** Writes of the current run, per SQL table, by hex key. */
  readonly pending = new Map<string, Map<string, Pending>>()
  /** Reads the current run needed and did not find. */
  readonly needKeys = new Map<string, Map<string, Buffer>>()
  readonly needRanges = new Map<string, RangeRequest>()
  readonly needCounts = new Map<string, RangeRequest>()

  startRun(): void {
    this.pending.clear()
    this.needKeys.clear()
    this.needRanges.clear()
    this.needCounts.clear()
  }

  get needs(): boolean {
    return this.needKeys.size > 0 || this.needRanges.size > 0 || this.needCounts.size > 0
  }

  readOf(table: string, hex: string): Buffer | null | undefined {
    return this.read.get(table)?.get(hex)
  }

  /** The key was there in this transaction's snapshot (read with its value, or listed by a range). */
  existed(table: string, hex: string): boolean {
    return (this.read.get(table)?.get(hex) ?? null) !== null || this.seenKeys.get(table)?.has(hex) === true
  }

  remember(table: string, hex: string, v: Buffer | null): void {
    let m = this.read.get(table)
    if (!m) this.read.set(table, (m = new Map()))
    m.set(hex, v)
  }

  needKey(table: string, hex: string, k: Buffer): void {
    let m = this.needKeys.get(table)
    if (!m) this.needKeys.set(table, (m = new Map()))
    m.set(hex, k)
  }
}

/** SQL table name of an index table: `meta_` + the name in snake case. */
function sqlName(prefix: string, name: string): string {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  if (!/^[a-z0-9_]+$/.test(prefix + snake)) throw new Error(`bad table name ${prefix}${name}`)
  return prefix + snake
}

/** A BYTEA literal (hex format: only [0-9a-f] inside the quotes, so nothing to escape). */
function lit(b: Buffer): string {
  return `'\\x${b.toString('hex')}'::BYTEA`
}

function whereOf(start: Buffer | undefined, end: Buffer | undefined): string {
  const conds: string[] = []
  if (start !== undefined) conds.push(`k >= ${lit(start)}`)
  if (end !== undefined) conds.push(`k < ${lit(end)}`)
  return conds.length ? ` WHERE ${conds.join(' AND ')}` : ''
}

function inRange(k: Buffer, start: Buffer | undefined, end: Buffer | undefined): boolean {
  return (start === undefined || Buffer.compare(k, start) >= 0) && (end === undefined || Buffer.compare(k, end) < 0)
}

function rangeId(table: string, values: boolean, start: EncodedKey | undefined, end: EncodedKey | undefined): string {
  return `${table}|${values ? 1 : 0}|${start?.hex ?? '-'}|${end?.hex ?? '-'}`
}

/** The SQLSTATE of a server error, or undefined when the failure is not the server's answer to a statement. */
function sqlStateOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && code.length === 5 ? code : undefined
}

/**
 * SQLSTATEs that mean the server (not the statement) failed: class 08 (connection exception) and 57P01–57P03
 * (admin shutdown, crash shutdown, cannot connect now). CockroachDB uses the same codes when a node drains or dies.
 */
function isConnectionLost(sqlState: string): boolean {
  return sqlState.startsWith('08') || sqlState === '57P01' || sqlState === '57P02' || sqlState === '57P03'
}

export class PostgresEngine implements StorageEngine {
  readonly kind = 'postgres'
  readonly shared = true
  readonly #connectionString: string
  readonly #options: PostgresEngineOptions
  readonly #pool: pg.Pool
  #bridge: PgBridge | undefined
  readonly #random: () => number
  readonly #prefix: string
  readonly #timeoutMs: number
  /** The transaction whose `fn` is running right now (synchronously), if any. */
  #tx: Tx | undefined
  #unreachableUntil = 0
  #closed = false

  constructor(connectionString: string, options: PostgresEngineOptions = {}) {
    this.#connectionString = connectionString
    this.#options = options
    this.#random = options.random ?? Math.random
    this.#prefix = options.tablePrefix ?? 'meta_'
    this.#timeoutMs = options.timeoutMs ?? 5_000
    this.#pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? POOL_SIZE,
      // Waiting for a free connection counts too: a process whose transactions do not finish is as good as cut off.
      connectionTimeoutMillis: Math.max(this.#timeoutMs, options.connectTimeoutMs ?? 2_000),
      statement_timeout: this.#timeoutMs,
      query_timeout: this.#timeoutMs + 1_000,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
    })
    // An idle connection the server dropped: the pool forgets it; the next transaction opens another.
    this.#pool.on('error', () => {})
    // The index tables start small, where the planner prefers scanning a whole table to the primary key's index;
    // they do not stay small. (Its answer is ignored: CockroachDB may not know the setting.)
    this.#pool.on('connect', (client) => {
      // A checked-out connection whose socket fails (reset mid-transaction) fails its query, which #transaction
      // turns into NODE_UNAVAILABLE; pg also emits the error on the client, where the pool listens only while the
      // connection is idle. Without this listener that second copy is an uncaught exception: the process dies.
      client.on('error', () => {})
      client.query('SET enable_seqscan = off').catch(() => {})
    })
  }

  /** The synchronous path (reads outside a transaction, and the schema): one worker thread, started when needed. */
  #syncBridge(): PgBridge {
    if (!this.#bridge) this.#bridge = new PgBridge(this.#connectionString, this.#options)
    return this.#bridge
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

  #checkOpen(): void {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    if (Date.now() < this.#unreachableUntil)
      throw new StratosError('NODE_UNAVAILABLE', 'the meta index (PostgreSQL) is unreachable')
  }

  /** Runs statements synchronously outside any transaction (each on its own snapshot), failing fast while cut off. */
  exec(statements: Statement[], timeoutMs?: number): unknown[][][] {
    this.#checkOpen()
    try {
      return this.#syncBridge().run(statements, timeoutMs)
    } catch (e) {
      if (e instanceof StratosError && e.code === 'NODE_UNAVAILABLE')
        this.#unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS
      throw e
    }
  }

  /** The transaction whose `fn` runs now, or undefined outside one. */
  get tx(): Tx | undefined {
    return this.#tx
  }

  /**
   * Inside `write`: every key of every given table not read yet. A run that still lacks some ends here, and the
   * engine reads them all in one round trip before the next run. Outside `write` it does nothing: single reads there
   * are each their own snapshot.
   */
  prefetch(reads: PrefetchRead[]): void {
    const tx = this.#tx
    if (!tx) return
    let missing = false
    for (const r of reads) {
      if (!(r.table instanceof PgTable)) continue
      const table = (r.table as PgTable<unknown, Key>).sql
      for (const { options, keysOnly } of r.ranges ?? []) {
        const start = options.start === undefined ? undefined : tx.keys.of(options.start)
        const end = options.end === undefined ? undefined : tx.keys.of(options.end)
        const values = keysOnly !== true
        const id = rangeId(table, values, start, end)
        if (tx.ranges.has(id) || (keysOnly && tx.ranges.has(rangeId(table, true, start, end)))) continue
        // The run's own deletes may hide rows when the range is read; the read itself asks again if so.
        tx.needRanges.set(id, { table, start: start?.k, end: end?.k, values, limit: options.limit })
        missing = true
      }
      const pending = tx.pending.get(table)
      for (const key of r.keys) {
        const { k, hex } = tx.keys.of(key)
        if (pending?.has(hex) || tx.readOf(table, hex) !== undefined) continue
        tx.needKey(table, hex, k)
        missing = true
      }
    }
    if (missing) throw NEED
  }

  read<T>(fn: () => T): Promise<T> {
    return this.#transaction(fn, true)
  }

  write<T>(fn: () => T, _options: WriteOptions = {}): Promise<T> {
    return this.#transaction(fn, false)
  }

  async #transaction<T>(fn: () => T, readOnly: boolean): Promise<T> {
    if (this.#tx) throw new Error('PostgresEngine.write: nested write')
    this.#checkOpen()
    const started = Date.now()
    const keys = new KeyCache()
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect()
      const tx = new Tx(readOnly, keys)
      let broken: Error | undefined
      try {
        return await this.#run(client, tx, fn)
      } catch (e) {
        const failure = e instanceof DriverError ? e.failure : undefined
        const state = failure === undefined ? undefined : sqlStateOf(failure)
        if (failure !== undefined && (state === undefined || isConnectionLost(state))) {
          // No answer, or the connection went: the server rolls back; this connection is not reused.
          broken = failure as Error
          throw this.#unreachable(failure)
        }
        if (tx.begun) {
          try {
            await client.query('ROLLBACK')
          } catch (r) {
            broken = r as Error
          }
        }
        if (state === undefined) throw e // fn's own error
        if (!RETRYABLE.has(state)) throw new SqlError((failure as Error).message, state)
        if (Date.now() - started >= WRITE_RETRY_MS)
          throw new StratosError('BUSY', 'the meta index is busy (too many conflicting writes); try again', {
            attempts: attempt,
          })
      } finally {
        client.release(broken)
      }
      // Off the server's back while the other writer finishes: 1, 2, 4 … ms (capped), times a random factor.
      const ms = Math.min(2 ** (attempt - 1), RETRY_BACKOFF_CAP_MS) * (0.5 + this.#random())
      await new Promise((r) => setTimeout(r, ms))
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    this.#checkOpen()
    try {
      return await this.#pool.connect()
    } catch (e) {
      throw this.#unreachable(e)
    }
  }

  /** The server did not answer (or refused the connection): NODE_UNAVAILABLE, and fail fast for a while. */
  #unreachable(e: unknown): StratosError {
    if (e instanceof StratosError) return e
    this.#unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS
    return new StratosError(
      'NODE_UNAVAILABLE',
      `the meta index (PostgreSQL) is unreachable: ${(e as Error | undefined)?.message ?? String(e)}`,
      {},
      { cause: e },
    )
  }

  /** Runs `fn` until it needs no more reads, then commits its writes. */
  async #run<T>(client: pg.PoolClient, tx: Tx, fn: () => T): Promise<T> {
    for (let round = 0; ; round++) {
      tx.startRun()
      let result: T | undefined
      let threw: unknown
      let failed = false
      this.#tx = tx
      try {
        result = fn()
      } catch (e) {
        failed = true
        threw = e
      } finally {
        this.#tx = undefined
      }
      if (tx.needs) {
        if (round >= MAX_READ_ROUNDS)
          throw new StratosError('INTERNAL', `a meta index transaction still needed reads after ${round} rounds`)
        await this.#driver(this.#fetch(client, tx))
        continue
      }
      if (failed) throw threw
      await this.#driver(this.#commit(client, tx))
      return result as T
    }
  }

  /** Marks a failure of the server or the connection apart from `fn`'s own errors. */
  async #driver(p: Promise<void>): Promise<void> {
    try {
      await p
    } catch (e) {
      throw new DriverError(e)
    }
  }

  /** One round trip: every read the last run lacked (opening the transaction first when this is its first). */
  async #fetch(client: pg.PoolClient, tx: Tx): Promise<void> {
    const sql: string[] = []
    const handlers: ((rows: unknown[][]) => void)[] = []
    if (!tx.begun) sql.push('BEGIN ISOLATION LEVEL REPEATABLE READ')
    for (const [table, keys] of tx.needKeys) {
      sql.push(`SELECT k, v FROM ${table} WHERE k IN (${[...keys.values()].map(lit).join(', ')})`)
      handlers.push((rows) => {
        const found = new Map<string, Buffer>()
        for (const row of rows) found.set((row[0] as Buffer).toString('hex'), row[1] as Buffer)
        for (const hex of keys.keys()) tx.remember(table, hex, found.get(hex) ?? null)
      })
    }
    for (const [id, r] of tx.needRanges) {
      const cols = r.values ? 'k, v' : 'k'
      const limit = r.limit === undefined ? '' : ` LIMIT ${r.limit}`
      sql.push(`SELECT ${cols} FROM ${r.table}${whereOf(r.start, r.end)} ORDER BY k${limit}`)
      handlers.push((rows) => {
        const out = rows.map((row) => {
          const k = row[0] as Buffer
          return { k, hex: k.toString('hex'), v: r.values ? (row[1] as Buffer) : null }
        })
        tx.ranges.set(id, { rows: out, limit: r.limit, all: r.limit === undefined || out.length < r.limit })
        // The same snapshot: a key seen in a range reads the same by itself.
        if (r.values) for (const { hex, v } of out) tx.remember(r.table, hex, v)
        else {
          let seen = tx.seenKeys.get(r.table)
          if (!seen) tx.seenKeys.set(r.table, (seen = new Set()))
          for (const { hex } of out) seen.add(hex)
        }
      })
    }
    for (const [id, r] of tx.needCounts) {
      sql.push(`SELECT count(*) FROM ${r.table}${whereOf(r.start, r.end)}`)
      handlers.push((rows) => tx.counts.set(id, Number(rows[0]![0])))
    }
    const results = await this.#query(client, sql.join('; '))
    if (!tx.begun) {
      tx.begun = true
      results.shift()
    }
    for (let i = 0; i < handlers.length; i++) handlers[i]!(results[i]!)
  }

  /**
   * One round trip: the run's writes and COMMIT (or nothing, for a transaction that read nothing and wrote nothing).
   *
   * A key the transaction saw present is written with UPDATE, not an upsert: if another transaction deleted it since
   * this one's snapshot, PostgreSQL's INSERT … ON CONFLICT finds no row to conflict with and inserts it again — the
   * delete would be lost without a conflict (a file's last owner leaves while another owner joins: the record comes
   * back with its shards already released) — whereas UPDATE (and DELETE) of a row changed or deleted since the
   * snapshot fails with 40001, and the transaction runs again on the new state. A key seen absent, or never read, is
   * upserted (an insert by someone else since the snapshot fails the ON CONFLICT with 40001 too).
   */
  async #commit(client: pg.PoolClient, tx: Tx): Promise<void> {
    const sql: string[] = []
    for (const [table, m] of tx.pending) {
      const puts: string[] = []
      const updates: string[] = []
      const dels: string[] = []
      for (const [hex, { k, v }] of m) {
        // A key this transaction read as absent is not sent: its DELETE would find nothing in this snapshot (a row
        // another transaction inserted since is invisible to it, so it would not be deleted either) — the same outcome
        // with one statement less (a create clears the pending deletes of the locations it places, usually none).
        if (v === null) {
          if (tx.readOf(table, hex) !== null || tx.existed(table, hex)) dels.push(lit(k))
        } else if (tx.existed(table, hex)) updates.push(`(${lit(k)}, ${lit(v)})`)
        else puts.push(`(${lit(k)}, ${lit(v)})`)
      }
      if (dels.length) sql.push(`DELETE FROM ${table} WHERE k IN (${dels.join(', ')})`)
      if (updates.length)
        sql.push(`UPDATE ${table} AS t SET v = d.v FROM (VALUES ${updates.join(', ')}) AS d (k, v) WHERE t.k = d.k`)
      if (puts.length)
        sql.push(`INSERT INTO ${table} (k, v) VALUES ${puts.join(', ')} ON CONFLICT (k) DO UPDATE SET v = excluded.v`)
    }
    if (!tx.begun && sql.length === 0) return
    if (!tx.begun) sql.unshift('BEGIN ISOLATION LEVEL REPEATABLE READ')
    tx.begun = true
    sql.push('COMMIT')
    await this.#query(client, sql.join('; '))
    tx.begun = false
  }

  /** One simple query of one or more statements; answers each statement's rows (arrays of column values). */
  async #query(client: pg.PoolClient, text: string): Promise<unknown[][][]> {
    const r = (await client.query({ text, rowMode: 'array' } as pg.QueryConfig)) as unknown as
      | pg.QueryArrayResult
      | pg.QueryArrayResult[]
    return Array.isArray(r) ? r.map((x) => x.rows) : [r.rows]
  }

  async ready(): Promise<boolean> {
    if (this.#closed) return false
    try {
      const client = await this.#connect()
      let broken: Error | undefined
      try {
        await client.query('SELECT 1')
        return true
      } catch (e) {
        broken = e as Error
        return false
      } finally {
        client.release(broken)
      }
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([this.#bridge?.close(), this.#pool.end().catch(() => {})])
  }
}

class PgTable<V, K extends Key> implements Table<V, K> {
  readonly #engine: PostgresEngine
  readonly sql: string

  constructor(engine: PostgresEngine, sql: string) {
    this.#engine = engine
    this.sql = sql
  }

  get(key: K): V | undefined {
    const tx = this.#engine.tx
    if (tx) {
      const { k, hex } = tx.keys.of(key)
      const p = tx.pending.get(this.sql)?.get(hex)
      if (p !== undefined) return p.v === null ? undefined : decodeValue<V>(p.v)
      const seen = tx.readOf(this.sql, hex)
      if (seen !== undefined) return seen === null ? undefined : decodeValue<V>(seen)
      tx.needKey(this.sql, hex, k)
      throw NEED
    }
    const [rows] = this.#engine.exec([{ sql: `SELECT v FROM ${this.sql} WHERE k = $1`, params: [encodeKey(key)] }])
    const row = rows?.[0]
    return row === undefined ? undefined : decodeValue<V>(row[0] as Uint8Array)
  }

  #buffer(key: K, v: Buffer | null): void {
    const tx = this.#engine.tx
    if (!tx || tx.readOnly) throw new Error('putSync / removeSync outside write()')
    const { k, hex } = tx.keys.of(key)
    let m = tx.pending.get(this.sql)
    if (!m) tx.pending.set(this.sql, (m = new Map()))
    m.set(hex, { k, v })
  }

  putSync(key: K, value: V): void {
    this.#buffer(key, encodeValue(value))
  }

  removeSync(key: K): void {
    this.#buffer(key, null)
  }

  /**
   * Inside a transaction: the range as this transaction sees it — the rows it read, overlaid with this run's
   * writes — or NEED when it has not read enough of the range yet.
   */
  #txRows(tx: Tx, options: RangeOptions | undefined, values: boolean): { k: Buffer; v: Buffer | null }[] {
    const startKey = options?.start === undefined ? undefined : tx.keys.of(options.start)
    const endKey = options?.end === undefined ? undefined : tx.keys.of(options.end)
    const start = startKey?.k
    const end = endKey?.k
    const limit = options?.limit
    // This run's writes in the range, by hex key.
    const mine = new Map<string, Pending>()
    let deletes = 0
    for (const [hex, p] of tx.pending.get(this.sql) ?? []) {
      if (!inRange(p.k, start, end)) continue
      mine.set(hex, p)
      if (p.v === null) deletes++
    }
    // Rows the server must answer so that, after this run's deletes hide some, `limit` are still left.
    const want = limit === undefined ? undefined : limit + deletes
    const base = { table: this.sql, start, end, values }
    const id = rangeId(this.sql, values, startKey, endKey)
    // A range read with values also answers the same range's keys.
    const fetched = tx.ranges.get(id) ?? (values ? undefined : tx.ranges.get(rangeId(this.sql, true, startKey, endKey)))
    if (!fetched || (!fetched.all && (want === undefined || (fetched.limit ?? 0) < want))) {
      const asked = tx.needRanges.get(id)
      // Asked again (deletes hid rows): twice as many, so a run does not come back for a few more each time.
      const grown = want === undefined ? undefined : Math.max(want, 2 * (fetched?.limit ?? 0))
      const next =
        asked && asked.limit === undefined
          ? undefined
          : grown === undefined
            ? undefined
            : Math.max(grown, asked?.limit ?? 0)
      tx.needRanges.set(id, { ...base, limit: next })
      throw NEED
    }
    const out: { k: Buffer; v: Buffer | null }[] = []
    for (const row of fetched.rows) if (!mine.has(row.hex)) out.push(row)
    for (const p of mine.values()) if (p.v !== null) out.push({ k: p.k, v: values ? p.v : null })
    if (mine.size > 0) out.sort((a, b) => Buffer.compare(a.k, b.k))
    // Past the fetched rows (a partial fetch), a pending put may not be in order with rows the server did not send.
    const last = fetched.all ? undefined : fetched.rows[fetched.rows.length - 1]?.k
    const upTo = last === undefined ? out : out.filter((r) => Buffer.compare(r.k, last) <= 0)
    return limit === undefined ? upTo : upTo.slice(0, limit)
  }

  /** Rows of the range outside a transaction, a page per round trip. */
  *#syncRows(options: RangeOptions | undefined, withValues: boolean): Generator<unknown[]> {
    let left = options?.limit ?? Number.POSITIVE_INFINITY
    let after: Buffer | undefined
    while (left > 0) {
      const page = Math.min(left, RANGE_PAGE)
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
      const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : ''
      const cols = withValues ? 'k, v' : 'k'
      const [rows = []] = this.#engine.exec([
        { sql: `SELECT ${cols} FROM ${this.sql}${where} ORDER BY k LIMIT ${page}`, params },
      ])
      for (const row of rows) yield row
      if (rows.length < page) return
      left -= rows.length
      after = Buffer.from(rows[rows.length - 1]![0] as Uint8Array)
    }
  }

  *getRange(options?: RangeOptions): Iterable<{ key: K; value: V }> {
    const tx = this.#engine.tx
    if (tx) {
      for (const { k, v } of this.#txRows(tx, options, true))
        yield { key: decodeKey<K>(k), value: decodeValue<V>(v as Buffer) }
      return
    }
    for (const row of this.#syncRows(options, true))
      yield { key: decodeKey<K>(row[0] as Uint8Array), value: decodeValue<V>(row[1] as Uint8Array) }
  }

  *getKeys(options?: RangeOptions): Iterable<K> {
    const tx = this.#engine.tx
    if (tx) {
      for (const { k } of this.#txRows(tx, options, false)) yield decodeKey<K>(k)
      return
    }
    for (const row of this.#syncRows(options, false)) yield decodeKey<K>(row[0] as Uint8Array)
  }

  getCount(options?: RangeOptions): number {
    const tx = this.#engine.tx
    const startKey = options?.start === undefined ? undefined : tx ? tx.keys.of(options.start) : encoded(options.start)
    const endKey = options?.end === undefined ? undefined : tx ? tx.keys.of(options.end) : encoded(options.end)
    const start = startKey?.k
    const end = endKey?.k
    if (tx) {
      const id = rangeId(this.sql, false, startKey, endKey)
      const counted = tx.counts.get(id)
      let missing = counted === undefined
      if (missing) tx.needCounts.set(id, { table: this.sql, start, end, limit: undefined, values: false })
      // This run's writes change the count by whether each key was there before: read those keys too.
      let delta = 0
      for (const [hex, p] of tx.pending.get(this.sql) ?? []) {
        if (!inRange(p.k, start, end)) continue
        const before = tx.readOf(this.sql, hex)
        if (before === undefined) {
          tx.needKey(this.sql, hex, p.k)
          missing = true
          continue
        }
        delta += (p.v === null ? 0 : 1) - (before === null ? 0 : 1)
      }
      if (missing) throw NEED
      return counted! + delta
    }
    const where = whereOf(start, end)
    const [rows] = this.#engine.exec([{ sql: `SELECT count(*) FROM ${this.sql}${where}` }])
    return Number(rows![0]![0])
  }
}
