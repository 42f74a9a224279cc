/**
 * The PostgreSQL connection of one meta process, on a worker thread (pg-bridge.ts is the side the meta node calls).
 *
 * It runs each batch of statements the main thread posts, in order, on one connection, and answers
 * `{ id, results }` (rows as arrays) or `{ id, error }` on the port, then wakes the main thread through the shared
 * flag (Atomics.notify). A batch that fails stops at the failing statement. A lost connection is replaced on the
 * next batch; `{ reset: true }` (the caller gave up waiting) destroys the current connection at once, so a
 * transaction left open by an abandoned batch is rolled back by the server.
 */
import { workerData, type MessagePort } from 'node:worker_threads'
import pg from 'pg'

interface Init {
  connectionString: string
  flag: Int32Array
  port: MessagePort
  statementTimeoutMs: number
  connectTimeoutMs: number
}

interface Statement {
  sql: string
  params?: unknown[]
}

type Request = { id: number; statements: Statement[] } | { reset: true }

const init = workerData as Init
let client: pg.Client | undefined
let queue: Promise<void> = Promise.resolve()

async function connection(): Promise<pg.Client> {
  if (client) return client
  const c = new pg.Client({
    connectionString: init.connectionString,
    connectionTimeoutMillis: init.connectTimeoutMs,
    statement_timeout: init.statementTimeoutMs,
    query_timeout: init.statementTimeoutMs + 1_000,
    keepAlive: true,
  })
  // An error outside a query (the server went away): forget the connection, the next batch opens another.
  c.on('error', () => {
    if (client === c) client = undefined
  })
  client = c
  try {
    await c.connect()
  } catch (e) {
    if (client === c) client = undefined
    throw e
  }
  return c
}

function drop(): void {
  const c = client
  client = undefined
  if (c) {
    const stream = (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream
    stream?.destroy()
    c.end().catch(() => {})
  }
}

async function run(id: number, statements: Statement[]): Promise<void> {
  let reply: unknown
  try {
    const c = await connection()
    const results: unknown[][][] = []
    for (const s of statements) {
      const r = await c.query({ text: s.sql, values: s.params ?? [], rowMode: 'array' })
      results.push(r.rows as unknown[][])
    }
    reply = { id, results }
  } catch (e) {
    const err = e as { message?: string; code?: string }
    // A failure that is not the server's answer to a statement, or the server saying it is going away, leaves the
    // connection unusable: drop it, and answer with no SQLSTATE so the caller sees the index as unreachable.
    const lost = typeof err.code !== 'string' || err.code.length !== 5 || isConnectionLost(err.code)
    if (lost) drop()
    reply = { id, error: { message: String(err.message ?? e), code: lost ? '' : (err.code as string) } }
  }
  init.port.postMessage(reply)
  Atomics.store(init.flag, 0, id)
  Atomics.notify(init.flag, 0)
}

init.port.on('message', (msg: Request) => {
  if ('reset' in msg) {
    drop()
    return
  }
  queue = queue.then(() => run(msg.id, msg.statements))
})

/**
 * SQLSTATEs that mean the server (not the statement) failed: class 08 (connection exception) and 57P01–57P03
 * (admin shutdown, crash shutdown — "terminating connection due to unexpected postmaster exit" — and cannot connect
 * now). CockroachDB uses the same codes when a node drains or dies.
 */
function isConnectionLost(sqlState: string): boolean {
  return sqlState.startsWith('08') || sqlState === '57P01' || sqlState === '57P02' || sqlState === '57P03'
}
