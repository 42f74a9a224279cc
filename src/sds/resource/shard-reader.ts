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
import {
  SHARD_CHUNK_BYTES,
  SHARD_READ_BATCH_CHUNKS,
  SHARD_READ_BUFFERS_IDLE_MS,
  SHARD_READ_POOL_BUFFERS,
} from '../../limits.ts'
import { chunkMatches } from '../protocol/shard.ts'
import { RecyclingBufferPool } from '../../util/buffer-pool.ts'

/** What a reader needs from its store. */
export interface ShardReaderHost {
  /** Quarantines the shard and returns the SHARD_CORRUPT error to throw. */
  corrupt(id: string, problem: string, details?: Record<string, unknown>): Promise<StratosError>
}

export interface PipeOptions {
  /** Called once the first chunk is verified, just before its bytes are written (send headers here). */
  onFirstChunk?: () => void
  signal?: AbortSignal
}

const BATCH_BYTES = SHARD_READ_BATCH_CHUNKS * SHARD_CHUNK_BYTES

/**
 * Read buffers reused across responses (see RecyclingBufferPool): a buffer comes back once the socket
 * has taken its bytes (the write callback), so a busy node allocates only while more reads are in
 * flight than the pool holds. Each batch takes the bytes it reads (a range's first chunk, the rest up to a batch),
 * not a whole batch's: fresh buffers are no larger than needed, and the pool serves a small batch from a small one.
 */
const readPool = new RecyclingBufferPool(SHARD_READ_POOL_BUFFERS, BATCH_BYTES, SHARD_READ_BUFFERS_IDLE_MS)

export class ShardReader implements AsyncIterable<Buffer> {
  readonly id: string
  /** Full shard size. */
  readonly size: number
  /** Verified chunk-hash list of the whole shard (32 bytes per chunk). */
  readonly chunkHashes: Uint8Array
  readonly start: number
  readonly end: number
  readonly #fh: FileHandle
  /** Gives the file handle back (the store's open-handle cache); closes it when absent. */
  readonly #release: () => Promise<void>
  readonly #dataOffset: number
  readonly #host: ShardReaderHost
  #closed = false

  constructor(p: {
    id: string
    size: number
    chunkHashes: Uint8Array
    start: number
    end: number
    fh: FileHandle
    release?: () => Promise<void>
    dataOffset: number
    host: ShardReaderHost
  }) {
    this.id = p.id
    this.size = p.size
    this.chunkHashes = p.chunkHashes
    this.start = p.start
    this.end = p.end
    this.#fh = p.fh
    this.#release = p.release ?? (() => p.fh.close())
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
    await this.#release().catch(() => {})
  }

  /** Yields verified bytes in fresh buffers (safe for any consumer); closes the file at the end. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      const [first, last] = this.#chunkSpan()
      for (let i = first; i < last; i++) {
        const chunk = await this.#loadChunk(i)
        yield this.#visiblePart(i, chunk)
      }
    } finally {
      await this.close()
    }
  }

  /**
   * Writes the verified bytes into `dest` (an HTTP response). Reads are batched (the first read
   * of a range longer than a batch is one chunk so its first byte leaves early, then SHARD_READ_BATCH_CHUNKS chunks per
   * pread) and the next batch is read and verified while the current one is being written.
   * Backpressure: at most one batch waits in user space besides the socket's own buffer; when
   * `dest.write` reports a full buffer we wait for 'drain'. Does not end `dest`.
   */
  async pipeTo(dest: Writable, options: PipeOptions = {}): Promise<void> {
    const [first, last] = this.#chunkSpan()
    let rejectGone: (e: unknown) => void = () => {}
    const gone = new Promise<never>((_, reject) => {
      rejectGone = reject
    })
    gone.catch(() => {})
    const onClose = (): void => rejectGone(new StratosError('ABORTED', 'the receiver closed the connection'))
    const onAbort = (): void =>
      rejectGone(new StratosError('ABORTED', 'operation aborted', undefined, { cause: options.signal?.reason }))
    dest.once('close', onClose)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const load = (from: number): { from: number; to: number; bytes: Promise<Buffer>; pooled: Buffer } => {
      // The first read of a range longer than a batch is one chunk, so its first byte leaves early; a range within
      // one batch is one read (a 1 MiB range: one pread and one write instead of two of each).
      const alone = from === first && last - first > SHARD_READ_BATCH_CHUNKS
      const to = Math.min(last, alone ? from + 1 : from + SHARD_READ_BATCH_CHUNKS)
      const pooled = readPool.take(Math.min(this.size, to * SHARD_CHUNK_BYTES) - from * SHARD_CHUNK_BYTES)
      const bytes = this.#loadChunks(from, to, pooled)
      bytes.catch(() => {}) // awaited below; this only keeps an abandoned read-ahead from being "unhandled"
      return { from, to, bytes, pooled }
    }
    try {
      let next = first < last ? load(first) : undefined
      while (next) {
        const batch = next
        const bytes = await Promise.race([batch.bytes, gone])
        next = batch.to < last ? load(batch.to) : undefined
        if (dest.destroyed || options.signal?.aborted) throw new StratosError('ABORTED', 'the receiver went away')
        if (batch.from === first) options.onFirstChunk?.()
        // The buffer goes back to the pool once the socket has taken its bytes (never, if the write fails).
        if (
          !dest.write(this.#visiblePart(batch.from, bytes), (err) => {
            if (!err) readPool.give(batch.pooled)
          })
        ) {
          await Promise.race([new Promise((resolve) => dest.once('drain', resolve)), gone])
        }
      }
    } finally {
      dest.off('close', onClose)
      options.signal?.removeEventListener('abort', onAbort)
      await this.close()
    }
  }

  /** Reads chunks [from, to) with one pread (into `into` when it is big enough) and verifies each; throws SHARD_CORRUPT (after quarantine) on mismatch. */
  async #loadChunks(from: number, to: number, into?: Buffer): Promise<Buffer> {
    const start = from * SHARD_CHUNK_BYTES
    const end = Math.min(this.size, to * SHARD_CHUNK_BYTES)
    const buf = into && into.length >= end - start ? into.subarray(0, end - start) : Buffer.allocUnsafeSlow(end - start)
    await this.#readFully(buf, start, from)
    for (let i = from; i < to; i++) {
      const chunk = buf.subarray(
        (i - from) * SHARD_CHUNK_BYTES,
        Math.min(buf.length, (i - from + 1) * SHARD_CHUNK_BYTES),
      )
      if (!chunkMatches(this.chunkHashes, i, chunk))
        throw await this.#host.corrupt(this.id, 'chunk does not match its hash', { chunk: i })
    }
    return buf
  }

  #chunkSpan(): [number, number] {
    if (this.end <= this.start) return [0, 0]
    return [Math.floor(this.start / SHARD_CHUNK_BYTES), Math.ceil(this.end / SHARD_CHUNK_BYTES)]
  }

  /** The part of `bytes` (which starts at chunk i) inside [start, end). */
  #visiblePart(i: number, bytes: Buffer): Buffer {
    const chunkStart = i * SHARD_CHUNK_BYTES
    return bytes.subarray(
      Math.max(this.start, chunkStart) - chunkStart,
      Math.min(this.end, chunkStart + bytes.length) - chunkStart,
    )
  }

  /** Reads chunk i whole into `into` and verifies it; throws SHARD_CORRUPT (after quarantine) on mismatch. */
  /** Reads chunk i whole and verifies it (the async-iterator path hands out each chunk in a fresh buffer). */
  #loadChunk(i: number): Promise<Buffer> {
    return this.#loadChunks(i, i + 1)
  }

  /** Fills `into` from shard byte `position` (data area); a short file is corruption (chunk `chunk` is named). */
  async #readFully(into: Buffer, position: number, chunk: number): Promise<void> {
    if (this.#closed) throw new StratosError('ABORTED', 'shard reader is closed')
    let got = 0
    while (got < into.length) {
      const { bytesRead } = await this.#fh.read(into, got, into.length - got, this.#dataOffset + position + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    if (got < into.length) throw await this.#host.corrupt(this.id, 'file is shorter than its header says', { chunk })
  }
}
