/**
 * Verified reads of one stored shard.
 *
 * The chunk-hash list was already checked against the shard id when the reader was opened;
 * every chunk is read whole (pread), hashed and compared with its list entry BEFORE any of its
 * bytes leave this module, and only the asked [start, end) part is handed out. A mismatch hands
 * control to the store (quarantine, report) and throws SHARD_CORRUPT: a corrupt byte is never
 * served.
 */
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { StratosError } from '../../errors.ts'
import { SHARD_CHUNK_BYTES } from '../../limits.ts'
import { chunkMatches } from '../protocol/shard.ts'

/** What a reader needs from its store. */
export interface ShardReaderHost {
  /** Quarantines the shard and returns the SHARD_CORRUPT error to throw. */
  corrupt(id: string, problem: string, details?: Record<string, unknown>): Promise<StratosError>
  acquireBuffer(): Buffer
  releaseBuffer(buf: Buffer): void
}

export interface PipeOptions {
  /** Called once the first chunk is verified, just before its bytes are written (send headers here). */
  onFirstChunk?: () => void
  signal?: AbortSignal
}

export class ShardReader implements AsyncIterable<Buffer> {
  readonly id: string
  /** Full shard size. */
  readonly size: number
  /** Verified chunk-hash list of the whole shard (32 bytes per chunk). */
  readonly chunkHashes: Uint8Array
  readonly start: number
  readonly end: number
  readonly #fh: FileHandle
  readonly #dataOffset: number
  readonly #host: ShardReaderHost
  #closed = false

  constructor(p: { id: string; size: number; chunkHashes: Uint8Array; start: number; end: number; fh: FileHandle; dataOffset: number; host: ShardReaderHost }) {
    this.id = p.id
    this.size = p.size
    this.chunkHashes = p.chunkHashes
    this.start = p.start
    this.end = p.end
    this.#fh = p.fh
    this.#dataOffset = p.dataOffset
    this.#host = p.host
  }

  /** Bytes this reader yields (end - start). */
  get length(): number {
    return this.end - this.start
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#fh.close().catch(() => {})
  }

  /** Yields verified bytes in fresh buffers (safe for any consumer); closes the file at the end. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      const [first, last] = this.#chunkSpan()
      for (let i = first; i < last; i++) {
        const chunk = await this.#loadChunk(i, Buffer.allocUnsafe(this.#chunkLength(i)))
        yield this.#visiblePart(i, chunk)
      }
    } finally {
      await this.close()
    }
  }

  /**
   * Writes the verified bytes into `dest` (an HTTP response) through two pooled buffers. A buffer
   * is refilled only after `dest` has handed its previous contents to the kernel (write callback),
   * so at most two chunks wait in user space: that is the backpressure. Does not end `dest`.
   */
  async pipeTo(dest: Writable, options: PipeOptions = {}): Promise<void> {
    const [first, last] = this.#chunkSpan()
    const buffers: Buffer[] = []
    const inFlight: (Promise<void> | undefined)[] = [undefined, undefined]
    let cleanEnd = false
    let rejectGone: (e: unknown) => void = () => {}
    const gone = new Promise<never>((_, reject) => { rejectGone = reject })
    gone.catch(() => {})
    const onClose = (): void => rejectGone(new StratosError('ABORTED', 'the receiver closed the connection'))
    const onAbort = (): void => rejectGone(new StratosError('ABORTED', 'operation aborted', undefined, { cause: options.signal?.reason }))
    dest.once('close', onClose)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      for (let i = first, n = 0; i < last; i++, n++) {
        const slot = n & 1
        const pending = inFlight[slot]
        if (pending) await Promise.race([pending, gone])
        if (dest.destroyed || options.signal?.aborted) throw new StratosError('ABORTED', 'the receiver went away')
        buffers[slot] ??= this.#host.acquireBuffer()
        const chunk = await this.#loadChunk(i, buffers[slot].subarray(0, this.#chunkLength(i)))
        if (n === 0) options.onFirstChunk?.()
        inFlight[slot] = new Promise<void>((resolve) => { dest.write(this.#visiblePart(i, chunk), () => resolve()) })
      }
      await Promise.race([Promise.all(inFlight), gone])
      cleanEnd = true
    } finally {
      dest.off('close', onClose)
      options.signal?.removeEventListener('abort', onAbort)
      // A buffer whose write never completed may still be referenced by the socket: let GC have it.
      if (cleanEnd) for (const b of buffers) this.#host.releaseBuffer(b)
      await this.close()
    }
  }

  #chunkSpan(): [number, number] {
    if (this.end <= this.start) return [0, 0]
    return [Math.floor(this.start / SHARD_CHUNK_BYTES), Math.ceil(this.end / SHARD_CHUNK_BYTES)]
  }

  #chunkLength(i: number): number {
    return Math.min(SHARD_CHUNK_BYTES, this.size - i * SHARD_CHUNK_BYTES)
  }

  #visiblePart(i: number, chunk: Buffer): Buffer {
    const chunkStart = i * SHARD_CHUNK_BYTES
    return chunk.subarray(Math.max(this.start, chunkStart) - chunkStart, Math.min(this.end, chunkStart + chunk.length) - chunkStart)
  }

  /** Reads chunk i whole into `into` and verifies it; throws SHARD_CORRUPT (after quarantine) on mismatch. */
  async #loadChunk(i: number, into: Buffer): Promise<Buffer> {
    if (this.#closed) throw new StratosError('ABORTED', 'shard reader is closed')
    const position = this.#dataOffset + i * SHARD_CHUNK_BYTES
    let got = 0
    while (got < into.length) {
      const { bytesRead } = await this.#fh.read(into, got, into.length - got, position + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    if (got < into.length) throw await this.#host.corrupt(this.id, 'file is shorter than its header says', { chunk: i })
    if (!chunkMatches(this.chunkHashes, i, into)) throw await this.#host.corrupt(this.id, 'chunk does not match its hash', { chunk: i })
    return into
  }
}
