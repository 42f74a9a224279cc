/**
 * Moves a request body into a file stream with backpressure, inspecting every piece on the way.
 *
 * Unlike stream.pipeline, a failure here never destroys the source: an HTTP server still needs
 * the request's socket to answer the error (it drains the rest of the body itself), and only a
 * client that really went away ends the connection.
 */
import type { Readable, Writable } from 'node:stream'
import { StratosError } from '../../errors.ts'
import { PUMP_STAGING_BUFFERS, PUMP_STAGING_BYTES } from '../../limits.ts'

/**
 * Moves a body into a sink: every piece goes through a StagedWrites (staging, inspection, backpressure),
 * and the promise settles once the sink has finished, or with the first failure of the source, the sink,
 * `inspect` or `signal`. At the end every listener is removed and, on failure, the sink destroyed; the
 * source is left as it is (see the file header).
 */
export function pumpInto(
  source: Readable,
  sink: Writable,
  inspect: (piece: Buffer) => void,
  signal?: AbortSignal,
  staging: StagingBuffers = allocatingStaging,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const writes = new StagedWrites(source, sink, inspect, staging)
    let ended = false

    const finish = (err?: unknown): void => {
      if (writes.closed) return
      writes.close()
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onSourceError)
      source.off('close', onSourceClose)
      sink.off('error', onSinkError)
      sink.off('finish', onFinish)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) {
        resolve()
      } else {
        if (!sink.destroyed) sink.destroy()
        reject(err)
      }
    }
    const onData = (piece: Buffer): void => {
      try {
        writes.push(piece)
      } catch (e) {
        source.pause()
        finish(e)
      }
    }
    const onEnd = (): void => {
      ended = true
      try {
        writes.flush()
      } catch (e) {
        finish(e)
        return
      }
      sink.end()
    }
    const onFinish = (): void => finish()
    const onSourceError = (e: unknown): void => finish(asAborted(e))
    const onSourceClose = (): void => {
      if (!ended) finish(new StratosError('ABORTED', 'the body ended before all bytes arrived'))
    }
    const onSinkError = (e: unknown): void => finish(e)
    const onAbort = (): void =>
      finish(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))

    if (signal?.aborted) return onAbort()
    if (source.destroyed && !source.readableEnded)
      return finish(new StratosError('ABORTED', 'the body was already closed'))
    signal?.addEventListener('abort', onAbort, { once: true })
    sink.on('error', onSinkError)
    sink.on('finish', onFinish)
    source.on('error', onSourceError)
    source.on('close', onSourceClose)
    source.on('end', onEnd)
    if (source.readableEnded) onEnd()
    else source.on('data', onData)
  })
}

/**
 * The staging half of pumpInto, apart from its event wiring: moves a body into a sink through
 * PUMP_STAGING_BYTES staging buffers: a socket delivers ~64 KiB pieces, each of which used to become
 * its own file write. Copying them into 1 MiB buffers and writing those whole costs a memcpy but saves
 * 15 of every 16 write calls, and less CPU per MB in total (bench/README.md, "Measurements cited by the
 * code"). Buffers are aligned to the start of the body, so `inspect` (the shard hasher) sees whole
 * 256 KiB chunks. At most PUMP_STAGING_BUFFERS are being written at once; the source is paused until
 * one comes back. Every byte passes `inspect` before it reaches the sink, the last, partial buffer at
 * the end. Staging buffers come from `staging` (a resource node passes its aligned pool, so the sink
 * can write them with direct I/O) and go back to it once their write is done, or at close when never
 * written.
 */
class StagedWrites {
  /** The staging buffer being filled, and how many of its bytes are. */
  #current: Buffer | undefined
  #fill = 0
  /** Buffers handed to the sink whose write has not called back yet. */
  #inFlight = 0
  /** The source is paused for backpressure (not for a failure). */
  #paused = false
  #closed = false

  constructor(
    readonly source: Readable,
    readonly sink: Writable,
    readonly inspect: (piece: Buffer) => void,
    readonly staging: StagingBuffers,
  ) {}

  /** The pump has settled: a write that ends later gives its buffer back but resumes nothing. */
  get closed(): boolean {
    return this.#closed
  }

  /** Copies a piece into staging buffers, writing each one as it fills. Throws what `inspect` throws. */
  push(piece: Buffer): void {
    let off = 0
    while (off < piece.length) {
      this.#current ??= this.staging.take()
      const n = Math.min(this.#current.length - this.#fill, piece.length - off)
      piece.copy(this.#current, this.#fill, off, off + n)
      this.#fill += n
      off += n
      if (this.#fill === this.#current.length) this.flush()
    }
  }

  /** Inspects and writes the staged bytes, pausing the source while PUMP_STAGING_BUFFERS writes are pending. */
  flush(): void {
    const buf = this.#current
    if (!buf || this.#fill === 0) return
    const bytes = this.#fill === buf.length ? buf : buf.subarray(0, this.#fill)
    this.inspect(bytes)
    this.#current = undefined
    this.#fill = 0
    this.#inFlight++
    // The callback comes once the sink is done with the buffer (written, or never started).
    this.sink.write(bytes, (err) => {
      this.#inFlight--
      this.staging.give(buf)
      if (err) return
      if (this.#paused && !this.#closed && this.#inFlight < PUMP_STAGING_BUFFERS) {
        this.#paused = false
        this.source.resume()
      }
    })
    if (this.#inFlight >= PUMP_STAGING_BUFFERS && !this.#paused) {
      this.#paused = true
      this.source.pause()
    }
  }

  /** Ends the staging: the buffer being filled, never written, goes back to `staging`. */
  close(): void {
    this.#closed = true
    if (this.#current) this.staging.give(this.#current)
    this.#current = undefined
  }
}

/** Where pumpInto's staging buffers come from; every buffer is PUMP_STAGING_BYTES long. */
export interface StagingBuffers {
  take(): Buffer
  give(buf: Buffer): void
}

/** Fresh buffers per PUT (tests and callers without a pool). */
const allocatingStaging: StagingBuffers = { take: () => Buffer.allocUnsafeSlow(PUMP_STAGING_BYTES), give: () => {} }

/**
 * Reads a (small) body whole into `into` (one copy per piece, no staging buffers, no sink): what a small shard's write
 * needs, which hashes and writes the body in one piece once it is complete. Resolves with the byte count once the
 * source ended; fails with SIZE_MISMATCH as soon as more than `into.length` bytes arrive (the source is paused, never
 * destroyed: see the file header), ABORTED when the source goes away first or `signal` aborts.
 */
export async function readWhole(source: Readable, into: Buffer, signal?: AbortSignal): Promise<number> {
  let filled = 0
  await consume(source, signal, (piece) => {
    if (filled + piece.length > into.length)
      return new StratosError('SIZE_MISMATCH', `body is longer than the expected ${into.length} bytes`, {
        expected: into.length,
      })
    filled += piece.copy(into, filled)
  })
  return filled
}

/** Reads a source to its end, discarding the bytes; fails if more than `maxBytes` arrive. Returns the byte count. */
export async function drainSource(source: Readable, maxBytes: number, signal?: AbortSignal): Promise<number> {
  let total = 0
  await consume(source, signal, (piece) => {
    total += piece.length
    if (total > maxBytes) return new StratosError('SIZE_MISMATCH', `body is longer than the expected ${maxBytes} bytes`)
  })
  return total
}

/**
 * Hands each piece of `source` to `onPiece` until the source ends; a StratosError that `onPiece` returns ends it
 * early (the source paused, never destroyed), as do the source going away (ABORTED) and `signal`.
 */
function consume(
  source: Readable,
  signal: AbortSignal | undefined,
  onPiece: (piece: Buffer) => StratosError | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false
    const finish = (err?: unknown): void => {
      if (done) return
      done = true
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onError)
      source.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onData = (piece: Buffer): void => {
      const refused = onPiece(piece)
      if (refused) {
        source.pause()
        finish(refused)
      }
    }
    const onEnd = (): void => finish()
    const onError = (e: unknown): void => finish(asAborted(e))
    const onClose = (): void => {
      if (!source.readableEnded) finish(new StratosError('ABORTED', 'the body ended before all bytes arrived'))
    }
    const onAbort = (): void =>
      finish(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
    if (signal?.aborted) return onAbort()
    if (source.readableEnded) return finish()
    if (source.destroyed) return finish(new StratosError('ABORTED', 'the body was already closed'))
    signal?.addEventListener('abort', onAbort, { once: true })
    source.on('end', onEnd)
    source.on('error', onError)
    source.on('close', onClose)
    source.on('data', onData)
  })
}

/** Errors of the body source mean the sender went away (connection reset, aborted request). */
function asAborted(e: unknown): StratosError {
  if (e instanceof StratosError) return e
  return new StratosError('ABORTED', 'the sender went away before the body was complete', undefined, { cause: e })
}
