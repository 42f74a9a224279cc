/**
 * The gateway's hot-range cache (the "CDN" part): verified file bytes in fixed pieces, in memory and on disk.
 *
 * A file is cut into pieces of GATEWAY_CACHE_PIECE_BYTES ([i·P, (i+1)·P) ∩ [0, size)). A read takes the pieces it
 * touches from memory, then disk; a missing piece is fetched with one SDK range read (which fetches only the shard
 * bytes of that piece, verified chunk by chunk against the shard hashes). Once the first piece is there, the pieces
 * after it in the same read are fetched in parallel (up to GATEWAY_CACHE_FETCH_AHEAD_PIECES ahead) while it is sent,
 * so the first byte waits for one piece, not for the whole range; concurrent reads of one piece share its fetch.
 * A large read (GATEWAY_CACHE_STREAM_MIN_BYTES or more after its first piece, whose next piece is cold) instead streams
 * the rest from the shard transfers in one SDK read (segments in parallel, verified in place) in the SDK's recycled
 * read buffers (`reuseBuffers`), handed on as they are; the whole pieces they hold are copied into the memory tier (no
 * disk write in front of the reader: a piece read again from memory is persisted then). While a stream runs, a read of
 * the same file that needs a piece the stream will still pass (a second viewer arriving during the first one's read)
 * waits for it instead of fetching it: one network transfer serves both (if the stream ends first — its reader went
 * away — the waiting read fetches the piece itself). `prefetch()` starts one piece ahead of any read (the path gateway
 * calls it while it confirms a file's record). Only bytes the SDK handed out — verified — enter the cache.
 *
 * Memory: whole pieces live in piece-sized buffers ("slots") that are recycled, not allocated per read: a slot goes
 * back to a free list once nothing holds it — not the memory tier (evicted), not a reader (each read holds the piece
 * it handed out until its consumer asks for the next chunk), not a disk write. Why: every fresh buffer is external
 * memory to V8 (a full collection per ~64 MB of it) and a page fault per 4 KiB; a cold 200 MiB read in fresh buffers
 * spent half of the gateway's CPU on that (bench/README.md, "Gateway cold read"). So a chunk `read` yields is valid
 * only until the consumer asks for the next one (or ends the iteration); a consumer that keeps bytes copies them.
 *
 * Both tiers are LRU and bounded (GATEWAY_CACHE_MEMORY_BYTES, GATEWAY_CACHE_DISK_BYTES). On disk a piece is one file
 * `<dir>/<cid>.<index>`: sha256(data) ‖ data, written to a temp file and renamed into place (a crash leaves either
 * the old state or the whole piece), and checked against its sha256 on every read (a damaged piece is dropped and
 * fetched again). The disk tier survives restarts (rebuilt from the directory, oldest first).
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { StratosError, throwIfAborted } from '../errors.ts'
import {
  GATEWAY_CACHE_DISK_BYTES,
  GATEWAY_CACHE_SPARE_SLOTS,
  GATEWAY_CACHE_DISK_WRITES_IN_FLIGHT,
  GATEWAY_CACHE_FETCH_AHEAD_PIECES,
  GATEWAY_CACHE_MEMORY_BYTES,
  GATEWAY_CACHE_PIECE_BYTES,
  GATEWAY_CACHE_STREAM_MIN_BYTES,
} from '../limits.ts'
import type { ContentReader } from '../ipfs/dag.ts'
import { silentLogger, type Logger } from '../util/components.ts'
import { Lru } from '../util/lru.ts'

const HASH_BYTES = 32

/**
 * Where the cache reads bytes on a miss (StratosClient.cat). With `reuseBuffers` (always passed) a chunk may be reused
 * once the cache asks for the next one (the SDK's recycled read buffers); the cache copies what it keeps.
 */
export type PieceSource = (
  file: string,
  options: { offset: number; length: number; signal?: AbortSignal; reuseBuffers?: boolean },
) => AsyncIterable<Uint8Array>

export interface HotRangeCacheOptions {
  /** Where the bytes come from on a miss (StratosClient.cat). */
  source: PieceSource
  /** A file's size, when the caller does not pass it. */
  sizeOf: (file: string, signal?: AbortSignal) => Promise<number>
  /** Directory of the disk tier; without it the cache is memory-only. */
  dir?: string
  memoryBytes?: number
  diskBytes?: number
  pieceBytes?: number
  /** Bytes left after a read's first piece from which the rest streams in one SDK read. @default GATEWAY_CACHE_STREAM_MIN_BYTES */
  streamMinBytes?: number
  logger?: Logger
}

export interface HotRangeCacheStats {
  memoryBytes: number
  memoryPieces: number
  diskBytes: number
  diskPieces: number
  hits: number
  diskHits: number
  misses: number
  /** Bytes fetched from the network. */
  fetchedBytes: number
  /** Reads whose rest streamed from the shard transfers (one SDK read each). */
  streams: number
  /** Piece-sized buffers the memory tier has allocated and not dropped (in the tier, held by reads, or spare). */
  slots: number
}

export class HotRangeCache {
  readonly pieceBytes: number
  readonly #streamMin: number
  readonly #o: HotRangeCacheOptions
  readonly #memoryMax: number
  readonly #diskMax: number
  /** Memory tier: key → piece, bounded by the pieces' buffers, least recently used out (its slot released). */
  readonly #memory: Lru<string, Piece>
  readonly #slots: Slots
  /** Disk tier: key → piece data size; a piece evicted from it is removed from the directory. */
  readonly #disk: Lru<string, number>
  readonly #log: Logger
  /** Pieces being written to disk. */
  readonly #writing = new Set<string>()
  #tmpSeq = 0
  readonly #stats = { hits: 0, diskHits: 0, misses: 0, fetchedBytes: 0, streams: 0 }
  /** Pieces being fetched, shared by every read that needs them. */
  readonly #inFlight = new Map<string, Promise<Piece>>()
  /** Streams in progress per file: a read of a piece one of them will pass waits for it instead of fetching it. */
  readonly #streaming = new Map<string, Set<ActiveStream>>()

  constructor(options: HotRangeCacheOptions) {
    this.#o = options
    this.pieceBytes = options.pieceBytes ?? GATEWAY_CACHE_PIECE_BYTES
    this.#streamMin = options.streamMinBytes ?? GATEWAY_CACHE_STREAM_MIN_BYTES
    this.#memoryMax = options.memoryBytes ?? GATEWAY_CACHE_MEMORY_BYTES
    this.#diskMax = options.diskBytes ?? GATEWAY_CACHE_DISK_BYTES
    this.#log = options.logger ?? silentLogger
    this.#slots = new Slots(this.pieceBytes, GATEWAY_CACHE_SPARE_SLOTS)
    this.#memory = new Lru({
      maxBytes: this.#memoryMax,
      cost: (p) => p.slot?.buf.length ?? p.data.length,
      onEvict: (_k, p) => this.#slots.release(p),
    })
    this.#disk = new Lru({ maxBytes: this.#diskMax, cost: (s) => s, onEvict: (k) => this.#removeDisk(k) })
    if (options.dir) this.#loadDisk(options.dir)
  }

  /** Rebuilds the disk index from the directory (oldest first), dropping temp files and anything over the limit. */
  #loadDisk(dir: string): void {
    mkdirSync(dir, { recursive: true })
    const found: { key: string; size: number; mtime: number }[] = []
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (name.endsWith('.tmp') || !/^[A-Za-z0-9]+\.\d+$/.test(name)) {
        rmSync(path, { force: true, recursive: true })
        continue
      }
      const st = statSync(path)
      if (st.size < HASH_BYTES) {
        rmSync(path, { force: true })
        continue
      }
      found.push({ key: name, size: st.size - HASH_BYTES, mtime: st.mtimeMs })
    }
    found.sort((a, b) => a.mtime - b.mtime)
    for (const f of found) this.#disk.set(f.key, f.size)
  }

  stats(): HotRangeCacheStats {
    return {
      memoryBytes: this.#memory.bytes,
      memoryPieces: this.#memory.size,
      diskBytes: this.#disk.bytes,
      diskPieces: this.#disk.size,
      ...this.#stats,
      slots: this.#slots.allocated,
    }
  }

  /** The ContentReader the DAG reader and the gateway read files through. */
  readonly read: ContentReader = (file, options) => this.#read(file, options)

  async *#read(
    file: string,
    o: { offset: number; length: number; fileSize?: number; signal?: AbortSignal },
  ): AsyncIterable<Uint8Array> {
    const { offset, length, signal } = o
    if (length === 0) return
    const size = o.fileSize ?? (await this.#o.sizeOf(file, signal))
    const end = offset + length
    if (offset < 0 || length < 0 || end > size)
      throw new StratosError('RANGE_NOT_SATISFIABLE', `bytes [${offset}, ${end}) are outside the ${size}-byte file`)
    const P = this.pieceBytes
    const last = Math.floor((end - 1) / P)
    for (let i = Math.floor(offset / P); i <= last; i++) {
      throwIfAborted(signal)
      // Held until the consumer asks for the next chunk (or stops): its slot is not recycled before.
      const piece = await this.#piece(file, i, size, signal)
      try {
        const pieceStart = i * P
        const out = piece.data.subarray(
          Math.max(offset, pieceStart) - pieceStart,
          Math.min(end, pieceStart + piece.data.length) - pieceStart,
        )
        const next = pieceStart + P
        if (i < last && end - next >= this.#streamMin && !this.#cachedOrFetching(file, i + 1)) {
          // A large cold rest: one SDK read from the shard transfers, started on the next turn of the event loop (see
          // below) so that this piece goes out first.
          // Registered now, in the same turn as the decision: a read of this file waiting on the same first piece
          // resumes after this one and must see the stream (or it would start a transfer of its own).
          yield* this.#handOffThenStream(out, file, next, end, size, signal, this.#register(file, next, end, size))
          return
        }
        // Then keep the next pieces of this read in flight while this one is handed out. Not before: parallel fetches
        // share the nodes and the connections, so starting them with the first piece would delay the first byte. And
        // only on the next turn of the event loop: node:http sends what the caller writes on process.nextTick, so the
        // fetches' setup (order signing, request writes; cost in bench/README.md) would otherwise run before those bytes go out.
        if (i < last) {
          const from = i + 1
          const to = Math.min(last, i + GATEWAY_CACHE_FETCH_AHEAD_PIECES)
          setImmediate(() => {
            if (!signal?.aborted) this.#fetchAhead(file, from, to, size)
          })
        }
        yield out
      } finally {
        this.#slots.release(piece)
      }
    }
  }

  #cachedOrFetching(file: string, i: number): boolean {
    const k = key(file, i)
    return this.#memory.has(k) || this.#disk.has(k) || this.#inFlight.has(k) || this.#streamOf(file, i) !== undefined
  }

  /** A stream in progress that will still pass piece i of the file whole (and keep it), if any. */
  #streamOf(file: string, i: number): ActiveStream | undefined {
    for (const s of this.#streaming.get(file) ?? []) if (i >= s.next && i < s.end) return s
    return undefined
  }

  /**
   * Piece i from the stream `s` will pass it in, or undefined when the stream ends (fails, or its reader went away)
   * without passing it; stops waiting when `signal` fires.
   */
  #fromStream(s: ActiveStream, i: number, signal: AbortSignal | undefined): Promise<Piece | undefined> {
    return new Promise<Piece | undefined>((resolve, reject) => {
      let settled = false
      const onAbort = (): void => {
        settled = true
        reject(new StratosError('ABORTED', 'read aborted'))
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      const waiters = s.waiters.get(i) ?? []
      waiters.push((piece) => {
        signal?.removeEventListener('abort', onAbort)
        if (settled) return
        settled = true
        // Held now, while the stream that passed it still holds it: this read releases it once it handed it out.
        resolve(piece && this.#slots.hold(piece) ? piece : undefined)
      })
      s.waiters.set(i, waiters)
    })
  }

  /** Hands `first` out, then the stream of [from, end) (piece-aligned `from`), whose first request starts meanwhile. */
  async *#handOffThenStream(
    first: Uint8Array,
    file: string,
    from: number,
    end: number,
    size: number,
    signal: AbortSignal | undefined,
    stream: ActiveStream,
  ): AsyncGenerator<Uint8Array> {
    const rest = this.#streamThrough(file, from, end, size, signal, stream)
    try {
      const started = new Promise<IteratorResult<Uint8Array>>((resolve, reject) =>
        setImmediate(() => rest.next().then(resolve, reject)),
      )
      started.catch(() => undefined)
      yield first
      for (let r = await started; !r.done; r = await rest.next()) yield r.value
    } finally {
      try {
        await rest.return(undefined)
      } finally {
        this.#unregister(file, stream)
      }
    }
  }

  /**
   * A stream of [from, end) of the file (from on a piece boundary), registered while it runs: a concurrent read of
   * the same file (a second viewer) takes the pieces it passes instead of starting a transfer of its own. It keeps
   * the pieces that end at or before `end`.
   */
  #register(file: string, from: number, end: number, size: number): ActiveStream {
    const P = this.pieceBytes
    const stream: ActiveStream = {
      next: from / P,
      end: end === size ? Math.ceil(size / P) : Math.floor(end / P),
      waiters: new Map(),
    }
    const streams = this.#streaming.get(file) ?? new Set()
    streams.add(stream)
    this.#streaming.set(file, streams)
    return stream
  }

  /** Ends a stream's registration; reads still waiting for a piece it did not pass fetch the piece themselves. */
  #unregister(file: string, stream: ActiveStream): void {
    const streams = this.#streaming.get(file)
    streams?.delete(stream)
    if (streams?.size === 0) this.#streaming.delete(file)
    stream.next = stream.end
    for (const waiters of stream.waiters.values()) for (const w of waiters) w(undefined)
    stream.waiters.clear()
  }

  /**
   * Bytes [from, end) of the file (from on a piece boundary) in one SDK read, in the SDK's recycled buffers, handed on
   * as they arrive (each valid until the consumer asks for the next). The whole pieces each chunk holds are copied
   * into the memory tier, a piece split across two chunks joined there; a piece the read ends inside of is not kept.
   */
  async *#streamThrough(
    file: string,
    from: number,
    end: number,
    size: number,
    signal: AbortSignal | undefined,
    stream: ActiveStream,
  ): AsyncGenerator<Uint8Array> {
    this.#stats.streams++
    const P = this.pieceBytes
    /** A piece being joined from two or more chunks: how much of it is filled. */
    let joining: { i: number; piece: Piece; at: number } | undefined
    let pos = from
    try {
      for await (const chunk of this.#o.source(file, {
        offset: from,
        length: end - from,
        signal,
        reuseBuffers: true,
      })) {
        if (pos + chunk.length > end)
          throw new StratosError('UPSTREAM_ERROR', 'file read returned more bytes than asked')
        let c = 0
        if (joining) {
          const n = Math.min(joining.piece.data.length - joining.at, chunk.length)
          joining.piece.data.set(chunk.subarray(0, n), joining.at)
          joining.at += n
          c = n
          if (joining.at === joining.piece.data.length) {
            this.#passed(file, joining.i, joining.piece, stream)
            this.#slots.release(joining.piece)
            joining = undefined
          }
        }
        while (c < chunk.length) {
          const at = pos + c
          const i = Math.floor(at / P)
          const pieceEnd = Math.min((i + 1) * P, size)
          const n = pieceEnd - at
          if (c + n <= chunk.length) this.#passWhole(file, i, chunk.subarray(c, c + n), stream)
          else if (pieceEnd <= end) {
            const piece = this.#newPiece(n)
            piece.data.set(chunk.subarray(c))
            joining = { i, piece, at: chunk.length - c }
          }
          c += n
        }
        pos += chunk.length
        yield chunk
      }
    } finally {
      if (joining) this.#slots.release(joining.piece)
    }
    if (pos !== end) throw new StratosError('UPSTREAM_ERROR', `file read returned ${pos - from} of ${end - from} bytes`)
  }

  /** Whole piece i of the file, which a stream passed in a buffer the SDK will reuse: copied into the memory tier. */
  #passWhole(file: string, i: number, bytes: Uint8Array, stream: ActiveStream): void {
    const cached = this.#memory.peek(key(file, i))
    if (cached) {
      this.#passed(file, i, cached, stream)
      return
    }
    const piece = this.#newPiece(bytes.length)
    piece.data.set(bytes)
    this.#passed(file, i, piece, stream)
    this.#slots.release(piece)
  }

  /**
   * Whole piece i a stream passed: memory tier only (persisted once read again), unless already cached; and to the
   * reads waiting for it (each holds it before this returns).
   */
  #passed(file: string, i: number, piece: Piece, stream: ActiveStream): void {
    const k = key(file, i)
    this.#stats.misses++
    this.#stats.fetchedBytes += piece.data.length
    if (!this.#memory.has(k)) this.#putMemory(k, piece)
    stream.next = i + 1
    const waiters = stream.waiters.get(i)
    if (waiters) {
      stream.waiters.delete(i)
      for (const w of waiters) w(piece)
    }
  }

  /**
   * Starts fetching the piece that holds byte `offset` of `file`, unless it is cached or already being fetched; returns
   * at once. The gateway calls it for a file it served before while it confirms the file's record with the meta node,
   * so the first piece's network read overlaps that round trip (the bytes are verified against the file's shard
   * hashes either way; whether they are served is decided by the confirmed record).
   */
  prefetch(file: string, offset: number, fileSize: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= fileSize) return
    const i = Math.floor(offset / this.pieceBytes)
    this.#fetchAhead(file, i, i, fileSize)
  }

  /** Starts fetching pieces [from, to] that are neither cached nor being fetched (failures surface to the reads that wait on them). */
  #fetchAhead(file: string, from: number, to: number, size: number): void {
    for (let j = from; j <= to; j++) {
      if (!this.#cachedOrFetching(file, j)) this.#fetchPiece(file, j, size).catch(() => undefined)
    }
  }

  /**
   * Piece i of the file, held for the caller (who releases it): memory, then disk, then a fetch (shared with any read
   * already fetching it).
   */
  async #piece(file: string, i: number, size: number, signal?: AbortSignal): Promise<Piece> {
    const k = key(file, i)
    for (;;) {
      const cached = await this.#get(k)
      if (cached) return cached
      const stream = this.#inFlight.has(k) ? undefined : this.#streamOf(file, i)
      if (stream) {
        const passed = await this.#fromStream(stream, i, signal)
        if (passed) {
          this.#stats.hits++
          return passed
        }
      }
      const fetching = this.#inFlight.get(k) ?? this.#fetchPiece(file, i, size)
      const piece = signal ? await abortable(fetching, signal) : await fetching
      // The memory tier holds it; unless ~a whole tier of other pieces came in before this read resumed and its slot was
      // recycled (then: look again).
      if (this.#slots.hold(piece)) return piece
    }
  }

  /** Fetches piece i from the network (one verified SDK range read) and stores it. */
  #fetchPiece(file: string, i: number, size: number): Promise<Piece> {
    const k = key(file, i)
    const P = this.pieceBytes
    const from = i * P
    const length = Math.min(P, size - from)
    const p = (async () => {
      this.#stats.misses++
      const piece = this.#newPiece(length)
      try {
        let at = 0
        for await (const chunk of this.#o.source(file, { offset: from, length, reuseBuffers: true })) {
          if (at + chunk.length > length)
            throw new StratosError('UPSTREAM_ERROR', 'file read returned more bytes than asked')
          piece.data.set(chunk, at)
          at += chunk.length
        }
        if (at !== length) throw new StratosError('UPSTREAM_ERROR', `file read returned ${at} of ${length} bytes`)
        this.#stats.fetchedBytes += length
        this.#put(k, piece)
        return piece
      } finally {
        this.#slots.release(piece)
      }
    })()
    this.#inFlight.set(k, p)
    void p.finally(() => this.#inFlight.delete(k)).catch(() => undefined)
    return p
  }

  /** A piece of `length` bytes, held by the caller: a recycled slot when it is a whole piece the memory tier can keep. */
  #newPiece(length: number): Piece {
    if (length === this.pieceBytes && length <= this.#memoryMax) return this.#slots.take()
    return { data: new Uint8Array(length), gen: 0 }
  }

  #has(k: string): boolean {
    return this.#memory.has(k) || this.#disk.has(k)
  }

  /** Piece k from memory or disk, held for the caller. */
  async #get(k: string): Promise<Piece | undefined> {
    const m = this.#memory.get(k)
    if (m) {
      this.#stats.hits++
      this.#slots.hold(m)
      // Read again while only in memory (its disk write was skipped when writes were busy): persist it now.
      this.#persist(k, m)
      return m
    }
    if (!this.#o.dir || this.#disk.get(k) === undefined) return undefined
    let raw: Buffer
    try {
      raw = await readFile(join(this.#o.dir, k))
    } catch {
      this.#disk.delete(k)
      return undefined
    }
    const data = raw.subarray(HASH_BYTES)
    if (raw.length < HASH_BYTES || !createHash('sha256').update(data).digest().equals(raw.subarray(0, HASH_BYTES))) {
      this.#log.warn({ piece: k }, 'damaged cache piece dropped')
      this.#disk.delete(k)
      this.#removeDisk(k)
      return undefined
    }
    this.#stats.diskHits++
    const piece: Piece = { data, gen: 0 }
    // Unless a read of the same piece put it there meanwhile (its memory slot would leak otherwise).
    if (!this.#memory.has(k)) this.#putMemory(k, piece)
    return piece
  }

  #put(k: string, piece: Piece): void {
    this.#putMemory(k, piece)
    this.#persist(k, piece)
  }

  #persist(k: string, piece: Piece): void {
    if (!this.#o.dir || this.#disk.has(k) || this.#writing.has(k)) return
    if (this.#writing.size >= GATEWAY_CACHE_DISK_WRITES_IN_FLIGHT || piece.data.length > this.#diskMax) return
    // Counted as written from now (the bound above and flushed() see it), started on the next turn of the event
    // loop: hashing and copying a piece costs CPU time (bench/README.md) that must not sit in front of the bytes the read hands out.
    // Held until written: its slot is not recycled under the write.
    if (!this.#slots.hold(piece)) return
    this.#writing.add(k)
    setImmediate(() => void this.#writeDisk(k, piece))
  }

  /** Puts a piece in the memory tier (which holds it from then on, until evicted); replaces nothing. */
  #putMemory(k: string, piece: Piece): void {
    if (piece.data.length > this.#memoryMax || this.#memory.has(k) || !this.#slots.hold(piece)) return
    this.#memory.set(k, piece)
  }

  /** Writes a piece #persist admitted (and counted in #writing). */
  async #writeDisk(k: string, piece: Piece): Promise<void> {
    const data = piece.data
    const dir = this.#o.dir as string
    const tmp = join(dir, `${k}.${process.pid}.${++this.#tmpSeq}.tmp`)
    try {
      const hash = createHash('sha256').update(data).digest()
      // Hash and piece in one gathered write: no joined copy (and no 256 KiB of new memory) per persisted piece.
      const fh = await open(tmp, 'w')
      try {
        const total = HASH_BYTES + data.length
        let written = 0
        while (written < total) {
          const parts = written < HASH_BYTES ? [hash.subarray(written), data] : [data.subarray(written - HASH_BYTES)]
          const { bytesWritten } = await fh.writev(parts)
          if (bytesWritten === 0) throw new StratosError('INTERNAL', 'cache piece write made no progress')
          written += bytesWritten
        }
      } finally {
        await fh.close()
      }
      await rename(tmp, join(dir, k))
      this.#disk.set(k, data.length)
    } catch (e) {
      this.#log.warn({ err: e, piece: k }, 'cache piece not written')
      await rm(tmp, { force: true }).catch(() => undefined)
    } finally {
      this.#writing.delete(k)
      this.#slots.release(piece)
    }
  }

  #removeDisk(k: string): void {
    if (this.#o.dir) void rm(join(this.#o.dir, k), { force: true }).catch(() => undefined)
  }

  /** Resolves when no disk write is in flight (tests, shutdown). */
  async flushed(): Promise<void> {
    while (this.#writing.size > 0) await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * A piece's bytes: in a slot (a recycled piece-sized buffer) or, for a short last piece or a piece read from disk, in
 * memory of its own (left to the garbage collector).
 */
interface Piece {
  data: Uint8Array
  slot?: Slot
  /** The slot's generation this piece was put in: once they differ the slot holds another piece. */
  gen: number
}

interface Slot {
  buf: Uint8Array
  /** Holders: the memory tier, reads handing the piece out, a disk write, its creator while it fills it. */
  refs: number
  /** Bumped each time the slot is recycled. */
  gen: number
}

/** Piece-sized buffers, recycled once nothing holds them; keeps up to `maxSpare` idle ones. */
class Slots {
  readonly #spare: Slot[] = []
  /** Slots allocated and not dropped. */
  allocated = 0

  constructor(
    readonly bytes: number,
    readonly maxSpare: number,
  ) {}

  /** A piece in a slot, held once (by the caller). */
  take(): Piece {
    let slot = this.#spare.pop()
    if (!slot) {
      slot = { buf: new Uint8Array(new ArrayBuffer(this.bytes)), refs: 0, gen: 0 }
      this.allocated++
    }
    slot.refs = 1
    return { data: slot.buf, slot, gen: slot.gen }
  }

  /** One more holder of the piece; false when its slot was recycled already (the piece is gone). */
  hold(piece: Piece): boolean {
    const s = piece.slot
    if (!s) return true
    if (s.gen !== piece.gen || s.refs === 0) return false
    s.refs++
    return true
  }

  /** One holder fewer; the last one recycles the slot. */
  release(piece: Piece): void {
    const s = piece.slot
    if (!s || s.gen !== piece.gen || s.refs === 0) return
    if (--s.refs > 0) return
    s.gen++
    if (this.#spare.length < this.maxSpare) this.#spare.push(s)
    else this.allocated--
  }
}

/** Waits for `p`, or rejects with ABORTED when `signal` fires first (`p` goes on for whoever else waits on it). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new StratosError('ABORTED', 'read aborted'))
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** A stream in progress (see #streamThrough). */
interface ActiveStream {
  /** The next piece it will pass whole; pieces before it were passed. */
  next: number
  /** The piece after the last one it will keep. */
  end: number
  /** Per piece: the reads waiting for it (called with undefined when the stream ends without passing it). */
  waiters: Map<number, ((piece: Piece | undefined) => void)[]>
}

function key(file: string, index: number): string {
  return `${file}.${index}`
}
