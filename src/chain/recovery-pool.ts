/**
 * Signer recovery on worker threads, so mempool admission is not bound by one core.
 *
 * secp256k1 recovery (keccak-256 of the signing bytes + ECDSA public key recovery + the address)
 * is most of a signed transfer's admission cost, and it is a pure function of (signature, signing
 * bytes). The pool runs it on `workers` threads while the main thread decodes, checks nonces and
 * balances and executes blocks; the answers land in the ChainApp's signature cache
 * (`ChainApp.rememberSigners`) and checkTx / block execution then skip recovery.
 *
 * Agreement: each worker runs the very function the app would (recovery-worker.ts): native
 * libsecp256k1 when `native` is true, @noble/curves otherwise. `start()` fails if a worker could
 * not load the backend it was asked for, so a pool never answers with a different implementation.
 *
 * Batching: calls made in the same turn of the event loop are queued together and sent as one
 * message per worker (at most RECOVERY_BATCH_MAX_TXS signatures each), so one POST /txs per tx
 * and one POST /txs/batch of 1,000 both cost few messages. A worker that dies or errors is not
 * replaced: its queued and in-flight work is recovered on the main thread by `fallback` (the
 * app's own recovery), and so is all later work once no worker is left. Nothing is lost and no
 * answer changes; it only gets slower (logged once).
 */
import { Worker } from 'node:worker_threads'
import { StratosError } from '../errors.ts'
import { silentLogger, type Logger } from '../util/components.ts'
import { RECOVERY_BATCH_MAX_TXS } from './params.ts'
import type { RecoveryRequest, RecoveryResponse } from './recovery-worker.ts'
import type { TxEnvelope } from './tx.ts'

export interface RecoveryPoolOptions {
  /** Worker threads (≥ 1). */
  workers: number
  /** libsecp256k1 (true) or @noble/curves (false): must be the backend of the app's `recoverSigner`. */
  native: boolean
  /** Recovery on the main thread when no worker can do it (the app's own `recoverSigner`). */
  fallback: (env: TxEnvelope) => string | null
  /** Most signatures per worker message (default RECOVERY_BATCH_MAX_TXS). */
  maxBatch?: number
  logger?: Logger
}

interface Item {
  readonly env: TxEnvelope
  readonly done: (signer: string | null) => void
}

interface Slot {
  readonly worker: Worker
  /** Batches sent and not answered, by request id. */
  readonly inFlight: Map<number, Item[]>
  items: number
  alive: boolean
}

/**
 * How a worker is started. The built code (dist/, what `stratos` runs) starts recovery-worker.js directly.
 * Run from source (tests import src/ through tsx), whose loader hooks a worker thread does not inherit on
 * Node 20, a `.ts` worker is started by a small bootstrap that registers tsx in the worker first (resolved
 * from here, so it does not depend on the cwd).
 */
function workerEntry(): { script: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { script: new URL('./recovery-worker.js', import.meta.url), eval: false }
  const url = new URL('./recovery-worker.ts', import.meta.url)
  const tsxApi = import.meta.resolve('tsx/esm/api')
  return {
    script: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}) })`,
    eval: true,
  }
}

export class RecoveryPool {
  readonly #o: RecoveryPoolOptions
  readonly #maxBatch: number
  readonly #logger: Logger
  readonly #slots: Slot[] = []
  #queue: Item[] = []
  #flushScheduled = false
  #nextId = 1
  #stopped = false
  #warned = false

  private constructor(o: RecoveryPoolOptions) {
    this.#o = o
    this.#maxBatch = o.maxBatch ?? RECOVERY_BATCH_MAX_TXS
    this.#logger = o.logger ?? silentLogger
  }

  /** Starts `workers` threads and waits until each has loaded its recovery backend. */
  static async start(o: RecoveryPoolOptions): Promise<RecoveryPool> {
    if (!Number.isSafeInteger(o.workers) || o.workers < 1)
      throw new StratosError('BAD_REQUEST', `a recovery pool needs at least one worker, got ${o.workers}`)
    const pool = new RecoveryPool(o)
    try {
      await Promise.all(Array.from({ length: o.workers }, () => pool.#spawn()))
    } catch (e) {
      await pool.stop()
      throw e
    }
    return pool
  }

  /** Signatures queued or being recovered (admission refuses new work above RECOVERY_QUEUE_MAX_TXS). */
  get pending(): number {
    let n = this.#queue.length
    for (const s of this.#slots) n += s.items
    return n
  }

  /** Worker threads still running. */
  get workers(): number {
    return this.#slots.filter((s) => s.alive).length
  }

  #spawn(): Promise<void> {
    const entry = workerEntry()
    const worker = new Worker(entry.script, { eval: entry.eval, workerData: { native: this.#o.native } })
    const slot: Slot = { worker, inFlight: new Map(), items: 0, alive: true }
    return new Promise<void>((resolve, reject) => {
      let ready = false
      worker.on('message', (m: RecoveryResponse | { ready: true; native: boolean }) => {
        if ('ready' in m) {
          if (m.native !== this.#o.native) {
            reject(
              new StratosError(
                'INTERNAL',
                `a recovery worker loaded the ${m.native ? 'native' : 'pure-JS'} backend, the app uses the ${this.#o.native ? 'native' : 'pure-JS'} one`,
              ),
            )
            void worker.terminate()
            return
          }
          ready = true
          this.#slots.push(slot)
          worker.unref()
          resolve()
          return
        }
        this.#answer(slot, m)
      })
      worker.on('error', (e) => {
        if (!ready) reject(e)
        else this.#fail(slot, e)
      })
      worker.on('exit', (code) => {
        if (!ready) reject(new StratosError('INTERNAL', `recovery worker exited with ${code} while starting`))
        else if (slot.alive) this.#fail(slot, new Error(`recovery worker exited with ${code}`))
      })
    })
  }

  /** Recovers the signer of each envelope (same answers as the app's recoverSigner). */
  recover(envs: readonly TxEnvelope[]): Promise<Array<string | null>> {
    if (envs.length === 0) return Promise.resolve([])
    return new Promise((resolve) => {
      const out: Array<string | null> = new Array(envs.length)
      let left = envs.length
      envs.forEach((env, i) => {
        this.#queue.push({
          env,
          done: (signer) => {
            out[i] = signer
            if (--left === 0) resolve(out)
          },
        })
      })
      if (this.#queue.length >= this.#maxBatch * Math.max(1, this.workers)) this.#flush()
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  #flush(): void {
    this.#flushScheduled = false
    const queue = this.#queue
    this.#queue = []
    if (queue.length === 0) return
    const live = this.#slots.filter((s) => s.alive)
    if (live.length === 0 || this.#stopped) {
      for (const item of queue) item.done(this.#fallback(item.env))
      return
    }
    // Even chunks, each to the least loaded worker.
    const chunks = Math.max(live.length, Math.ceil(queue.length / this.#maxBatch))
    const size = Math.ceil(queue.length / chunks)
    for (let i = 0; i < queue.length; i += size) {
      const slot = live.reduce((a, b) => (b.items < a.items ? b : a))
      this.#send(slot, queue.slice(i, i + size))
    }
  }

  #send(slot: Slot, items: Item[]): void {
    let total = 0
    for (const it of items) total += it.env.signingBytes.byteLength
    const bytes = new Uint8Array(total)
    const ends = new Uint32Array(items.length)
    const signatures: string[] = new Array(items.length)
    let at = 0
    items.forEach((it, i) => {
      bytes.set(it.env.signingBytes, at)
      at += it.env.signingBytes.byteLength
      ends[i] = at
      signatures[i] = it.env.signed.signature
    })
    const id = this.#nextId++
    slot.inFlight.set(id, items)
    slot.items += items.length
    // Keep the process alive while work is out (an idle pool must not keep it alive).
    slot.worker.ref()
    slot.worker.postMessage({ id, signatures, bytes, ends } satisfies RecoveryRequest, [bytes.buffer])
  }

  #answer(slot: Slot, m: RecoveryResponse): void {
    const items = slot.inFlight.get(m.id)
    if (!items) return
    slot.inFlight.delete(m.id)
    slot.items -= items.length
    if (slot.inFlight.size === 0) slot.worker.unref()
    for (const [i, it] of items.entries()) it.done(m.signers[i] ?? null)
  }

  /** A worker failed: finish its work on the main thread; later work goes to the others (or the main thread). */
  #fail(slot: Slot, e: unknown): void {
    if (!slot.alive) return
    slot.alive = false
    if (!this.#stopped && !this.#warned) {
      this.#warned = true
      this.#logger.error({ err: e }, 'signature recovery worker failed; recovering on the main thread')
    }
    for (const items of slot.inFlight.values()) for (const it of items) it.done(this.#fallback(it.env))
    slot.inFlight.clear()
    slot.items = 0
    void slot.worker.terminate()
  }

  #fallback(env: TxEnvelope): string | null {
    try {
      return this.#o.fallback(env)
    } catch {
      return null
    }
  }

  /** Terminates the workers; work still queued or in flight is finished on the main thread. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#flush()
    const slots = this.#slots.splice(0)
    for (const slot of slots) {
      slot.alive = false
      for (const items of slot.inFlight.values()) for (const it of items) it.done(this.#fallback(it.env))
      slot.inFlight.clear()
    }
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }
}
