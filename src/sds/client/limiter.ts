/**
 * Small concurrency helpers for the client pipelines: a counting semaphore (the global bound on
 * shard transfers), a pool of reusable buffers, and signal plumbing.
 */
import { StratosError, throwIfAborted } from '../../errors.ts'
import { allocAligned } from '../../util/aligned-buffers.ts'
import type { RecyclingBufferPool } from '../../util/buffer-pool.ts'

/** Counting semaphore; waiters are served first come, first served. */
export class Semaphore {
  #free: number
  readonly #waiters: Array<() => void> = []

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new StratosError('INTERNAL', `semaphore size must be ≥ 1, got ${size}`)
    this.#free = size
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal)
    if (this.#free > 0) {
      this.#free--
      return
    }
    await waitInLine<void>(this.#waiters, signal)
  }

  release(): void {
    const next = this.#waiters.shift()
    if (next) next()
    else this.#free++
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await fn()
    } finally {
      this.release()
    }
  }
}

/**
 * Fixed set of equally sized buffers handed out and returned; `take` waits while all are in use.
 * With `recycle` (a client's pool shared by its uploads) the buffers come from it and go back to it
 * on `close`: fresh multi-MiB buffers cost a page fault per 4 KiB on first touch (a sizeable share of an
 * upload's client CPU when every upload allocated its segment buffers afresh; bench/README.md).
 */
export class BufferPool {
  readonly #free: Uint8Array[] = []
  readonly #waiters: Array<(b: Uint8Array) => void> = []
  readonly #allocated: Buffer[] = []

  /** `aligned`: page-aligned buffers, for a source read with direct I/O (source.ts); never recycled. */
  constructor(
    readonly count: number,
    readonly bytes: number,
    readonly aligned = false,
    readonly recycle?: RecyclingBufferPool,
  ) {}

  async take(signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal)
    const b = this.#free.pop()
    if (b) return b
    if (this.#allocated.length < this.count) {
      // Not zero-filled: callers write every byte they use (padding is zeroed explicitly).
      const buf = this.aligned
        ? allocAligned(this.bytes)
        : this.recycle
          ? this.recycle.take(this.bytes)
          : Buffer.allocUnsafeSlow(this.bytes)
      this.#allocated.push(buf)
      return new Uint8Array(buf.buffer, buf.byteOffset, this.bytes)
    }
    return waitInLine<Uint8Array>(this.#waiters, signal)
  }

  give(b: Uint8Array): void {
    const next = this.#waiters.shift()
    if (next) next(b)
    else this.#free.push(b)
  }

  /** Hands every buffer back to `recycle`. Only once nothing reads or writes any of them any more. */
  close(): void {
    if (!this.aligned && this.recycle) for (const buf of this.#allocated) this.recycle.give(buf)
    this.#allocated.length = 0
    this.#free.length = 0
  }
}

/**
 * Joins a FIFO line of waiters and resolves with what the granter hands over; an abort leaves the
 * line (so nothing is granted to a waiter that is gone) and rejects with ABORTED.
 */
function waitInLine<T>(waiters: Array<(value: T) => void>, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const grant = (value: T): void => {
      signal?.removeEventListener('abort', onAbort)
      resolve(value)
    }
    const onAbort = (): void => {
      const i = waiters.indexOf(grant)
      if (i >= 0) waiters.splice(i, 1)
      reject(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
    }
    waiters.push(grant)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A controller that also fires when `parent` fires; `dispose` detaches it. */
export function linkedController(parent: AbortSignal | undefined): {
  controller: AbortController
  dispose: () => void
} {
  const controller = new AbortController()
  if (!parent) return { controller, dispose: () => {} }
  const onAbort = (): void => controller.abort(parent.reason)
  if (parent.aborted) controller.abort(parent.reason)
  else parent.addEventListener('abort', onAbort, { once: true })
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) }
}

/** Resolves after `ms`, or rejects with ABORTED when the signal fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted)
      return reject(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal.reason }))
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(t)
      reject(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
