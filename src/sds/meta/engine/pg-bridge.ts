/**
 * Synchronous PostgreSQL calls for the meta index (postgres.ts): reads outside a transaction and the schema only.
 *
 * Why synchronous: the stores' read methods are synchronous (stores/index.ts), and a read outside `write` must answer
 * before it returns. (Transactions do not come here: postgres.ts runs them asynchronously on a connection pool.)
 * So a call posts its batch of statements to a worker thread that owns the connection (pg-worker.ts) and blocks
 * this thread on a shared flag (Atomics.wait) until the worker answers, then takes the answer off the port
 * (receiveMessageOnPort). The price: this process's event loop waits for the round trip, so such reads stay off
 * hot paths (periodic refreshes, the status view, records missing from the record cache).
 *
 * A batch that does not answer within `timeoutMs` fails with NODE_UNAVAILABLE and the worker drops its connection
 * (the server rolls back whatever transaction it held); the next call connects again.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads'
import { StratosError } from '../../../errors.ts'

export interface Statement {
  sql: string
  params?: unknown[]
}

/** A statement PostgreSQL refused, with its SQLSTATE (`40001`: serialization failure, retry the transaction). */
export class SqlError extends Error {
  constructor(
    message: string,
    readonly sqlState: string,
  ) {
    super(message)
  }
}

export interface PgBridgeOptions {
  /** How long one batch may take before the index counts as unreachable (default 5000 ms). */
  timeoutMs?: number
  /** The time PostgreSQL may spend connecting (default 2000 ms). */
  connectTimeoutMs?: number
}

/**
 * The built code (dist/) starts pg-worker.js directly. Run from source (tests, through tsx), whose loader hooks a
 * worker thread does not inherit on Node 20, a bootstrap registers tsx in the worker first (as recovery-pool.ts).
 */
function workerEntry(): { script: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { script: new URL('./pg-worker.js', import.meta.url), eval: false }
  const url = new URL('./pg-worker.ts', import.meta.url)
  const tsxApi = import.meta.resolve('tsx/esm/api')
  return {
    script: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}) })`,
    eval: true,
  }
}

export class PgBridge {
  /** Calls that blocked a thread of this process, over every bridge (tests: a request path that must not block). */
  static calls = 0
  readonly #worker: Worker
  readonly #port: MessagePort
  readonly #flag: Int32Array
  readonly #timeoutMs: number
  #next = 1
  #closed = false

  constructor(connectionString: string, options: PgBridgeOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5_000
    this.#flag = new Int32Array(new SharedArrayBuffer(4))
    const { port1, port2 } = new MessageChannel()
    this.#port = port1
    const entry = workerEntry()
    this.#worker = new Worker(entry.script, {
      eval: entry.eval,
      workerData: {
        connectionString,
        flag: this.#flag,
        port: port2,
        statementTimeoutMs: this.#timeoutMs,
        connectTimeoutMs: options.connectTimeoutMs ?? 2_000,
      },
      transferList: [port2],
    })
    this.#worker.unref()
    this.#port.unref()
  }

  /**
   * Runs the statements in order on the connection; answers each one's rows (arrays of column values). `timeoutMs`
   * overrides the bridge's for this call (opening the index: the worker starts and the schema is created).
   */
  run(statements: Statement[], timeoutMs = this.#timeoutMs): unknown[][][] {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    PgBridge.calls++
    const id = this.#next++
    this.#port.postMessage({ id, statements })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const seen = Atomics.load(this.#flag, 0)
      if (seen === id) break
      const left = deadline - Date.now()
      if (left <= 0) {
        this.#port.postMessage({ reset: true })
        throw new StratosError('NODE_UNAVAILABLE', `the meta index (PostgreSQL) did not answer within ${timeoutMs} ms`)
      }
      Atomics.wait(this.#flag, 0, seen, left)
    }
    for (;;) {
      const got = receiveMessageOnPort(this.#port)
      if (got === undefined) throw new StratosError('NODE_UNAVAILABLE', 'the meta index (PostgreSQL) answered nothing')
      const reply = got.message as { id: number; results?: unknown[][][]; error?: { message: string; code: string } }
      if (reply.id !== id) continue // the late answer of a batch that timed out
      if (reply.error) {
        if (reply.error.code.length === 5) throw new SqlError(reply.error.message, reply.error.code)
        throw new StratosError('NODE_UNAVAILABLE', `the meta index (PostgreSQL) is unreachable: ${reply.error.message}`)
      }
      return reply.results ?? []
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#port.close()
    await this.#worker.terminate()
  }
}
