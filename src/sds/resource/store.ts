/**
 * ShardStore: the resource node's content-addressed shard directory.
 *
 *   DATA/shards/<id[0:2]>/<id>             one file per shard (format: shard-file.ts), 256 directories
 *   DATA/tmp/                              uploads in progress (emptied at start)
 *   DATA/corrupt/<id>                      shards that failed verification, kept for inspection
 *
 * Writes stream into a temp file while hashing, are checked (exact size, id) before an atomic
 * rename, and are idempotent. Reads verify every chunk before handing out its bytes (see
 * shard-reader.ts). The in-memory index (id → size) and the used-bytes accounting are rebuilt
 * at start from `stat` alone, so a node with many shards starts fast. A process killed at any
 * moment leaves only whole, verified-at-write shards in shards/ and garbage in tmp/.
 *
 * One level of 256 directories (as Storj's piece store has one of 1024): a second level (shards/ab/cd/, 65,536
 * directories) made nearly every shard PUT of a node's first hundred thousand shards also create a directory, a
 * measured tenth of a small PUT's CPU; ext4's hashed directories keep lookups in a large one cheap. Shards of the
 * two-level layout are moved up at start (#scan).
 *
 * Durability (flusher.ts): `sync: 'always'` fdatasyncs each shard (and fsyncs its directory) before
 * the PUT is acknowledged; `'batch'` (default) acknowledges first and lets a ShardFlusher sync
 * within STORE_SYNC_INTERVAL_MS, and after an unclean stop re-verifies at start every shard written
 * since the last synced-through checkpoint (a torn or missing one is quarantined and reported like a
 * corrupt one); `'none'` never syncs.
 *
 *   DATA/sync-state.json                   mode, clean-shutdown mark, synced-through checkpoint
 *   DATA/sync-pending.log                  ids published since the checkpoint (batch; not fsynced)
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { mkdir, open, readdir, rename, rm, rmdir, stat, statfs, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { isStratosError, StratosError, toStratosError } from '../../errors.ts'
import {
  CHUNK_LIST_CACHE_ENTRIES,
  MAX_SHARD_BYTES,
  NODE_RESERVED_BYTES,
  PUMP_STAGING_BYTES,
  STORE_DIRECT_IO_MIN_BYTES,
  STORE_DISK_SAMPLE_MAX_AGE_MS,
  STORE_RECHECK_CONCURRENCY,
  STORE_RECHECK_MARGIN_MS,
  STORE_SCAN_CONCURRENCY,
} from '../../limits.ts'
import { chunkHashesMatch, computeShardId, isShardId, ShardHasher } from '../protocol/shard.ts'
import { randomHex, silentLogger, systemClock, systemRandom, type Clock, type Logger } from '../../util/components.ts'
import {
  DEFAULT_SYNC_MODE,
  diskSyncOps,
  forEachLimit,
  readPendingLog,
  readSyncState,
  ShardFlusher,
  writeSyncState,
  type FlusherStats,
  type SyncMode,
  type SyncOps,
} from './flusher.ts'
import {
  decodeShardMeta,
  encodeShardTrailer,
  SHARD_DATA_OFFSET,
  shardFileBytes,
  shardFileLayouts,
  shardMetaBytes,
  shardSizeFromFileBytes,
} from './shard-file.ts'
import { ShardFileWriter } from './shard-writer.ts'
import { AlignedBufferPool } from '../../util/aligned-buffers.ts'
import { Lru } from '../../util/lru.ts'
import { drainSource, pumpInto, readWhole } from './pump.ts'
import { SocketBody } from '../../net/socket-body.ts'
import { OpenShards, type ShardHandle } from './open-shards.ts'
import { ShardReader, type ShardReaderHost } from './shard-reader.ts'

export interface ShardStoreOptions {
  dataDir: string
  /** Bytes of shards this node may hold; default: free disk space at start (plus shards already held) minus reservedBytes. */
  capacityBytes?: number
  /** Disk space never filled with shards; default NODE_RESERVED_BYTES. */
  reservedBytes?: number
  /** Durability mode (see flusher.ts); default 'batch'. */
  sync?: SyncMode
  /**
   * Write shard data with direct I/O (O_DIRECT), bypassing the page cache (default true; see
   * shard-writer.ts). Falls back to buffered writes by itself where the file system refuses it.
   */
  directIo?: boolean
  /** Older boolean form of `sync`, used only when `sync` is not given: true = 'always', false = 'none'. */
  fsync?: boolean
  /** Batch mode: a written shard is synced at most this long after it was written (default STORE_SYNC_INTERVAL_MS). */
  syncIntervalMs?: number
  /** Batch mode: unsynced bytes that start an early flush and make new PUTs wait (default STORE_SYNC_MAX_PENDING_BYTES). */
  syncMaxPendingBytes?: number
  /** After an unclean stop, shards changed this long before the last checkpoint are re-verified too (default STORE_RECHECK_MARGIN_MS). */
  recheckMarginMs?: number
  /** The disk flushes (default: the real fdatasync/fsync); tests wrap them to count or delay. */
  syncOps?: SyncOps
  /** Drives the batch flusher's schedule and the age of the free-space sample (default: the system clock). */
  clock?: Clock
  /** Free bytes of the file system holding `dir` (default: statfs's bavail × bsize); tests give a fake disk. */
  diskFree?: (dir: string) => Promise<number>
  logger?: Logger
}

/** What start() found about the previous run and re-verified because of it. */
export interface RecoveryReport {
  /** 'clean': stopped cleanly (or a mode that needs no check); 'unclean': a batch run that did not stop cleanly;
   *  'unknown': no state file (a data dir from before sync modes; nothing is checked); 'unreadable': damaged state file (everything is checked). */
  previous: 'clean' | 'unclean' | 'unknown' | 'unreadable'
  /** Shards fully re-verified before serving. */
  checked: number
  /** Shards that failed the check (torn or corrupt): quarantined and reported. */
  quarantined: string[]
  /** Shards the pending log names that are not on disk: reported as corrupt. */
  missing: string[]
  ms: number
}

export interface StoreStats {
  capacityBytes: number
  usedBytes: number
  freeBytes: number
  shardCount: number
}

export interface PutOptions {
  signal?: AbortSignal
  /** Called once the store has accepted the write (room reserved), just before it starts reading the body. */
  onAccept?: () => void
}

export interface PutResult {
  /** false when the shard was already stored (the body was drained and discarded). */
  created: boolean
  size: number
}

const HEX2 = /^[0-9a-f]{2}$/

/** The directory of shard `id` under a node's shards/ directory: shards/<first two hex digits of the id>. */
export function shardDirOf(shardsDir: string, id: string): string {
  return join(shardsDir, id.slice(0, 2))
}

/** The file of shard `id` under a node's shards/ directory. */
export function shardPathOf(shardsDir: string, id: string): string {
  return join(shardDirOf(shardsDir, id), id)
}

export class ShardStore {
  readonly dataDir: string
  readonly shardsDir: string
  readonly tmpDir: string
  readonly corruptDir: string
  readonly #options: ShardStoreOptions
  readonly #logger: Logger
  readonly #mode: SyncMode
  readonly #ops: SyncOps
  /** Batch mode only. */
  readonly #flusher: ShardFlusher | undefined
  readonly #reservedBytes: number
  /** id → shard size (data bytes). */
  readonly #index = new Map<string, number>()
  /**
   * Chunk-hash lists already checked against their shard id (bounded, FIFO: oldest checked out, a read does not
   * refresh): a read of a hot shard skips the header read. Data chunks are still verified against this list on
   * every read.
   */
  readonly #chunkLists = new Lru<string, { chunkHashes: Uint8Array; dataOffset: number }>({
    maxEntries: CHUNK_LIST_CACHE_ENTRIES,
    order: 'fifo',
  })
  /** Shard files open for reads, shared and kept open a while (open-shards.ts). */
  readonly #handles = new OpenShards()
  /** Aligned staging buffers of shard uploads (pump → direct-I/O writer), reused across uploads. */
  readonly #staging = new AlignedBufferPool(PUMP_STAGING_BYTES)
  /** Cleared once the file system refuses O_DIRECT, so later uploads do not try again. */
  #directIo: boolean
  /** Renames in progress, so two uploads of one id publish it once. */
  readonly #committing = new Map<string, Promise<void>>()
  readonly #corrupt = new Set<string>()
  readonly #knownDirs = new Set<string>()
  readonly #host: ShardReaderHost
  #capacityBytes = 0
  /** Bytes of stored shard files (header + data). */
  #usedBytes = 0
  /** Bytes reserved by writes in progress. */
  #inflightBytes = 0
  /** Shard file bytes published since start (counts up only): what a free-space sample may not show yet. */
  #publishedBytes = 0
  /** The last free-space sample: bytes free, when (clock ms), and #publishedBytes when it was asked for. */
  #disk: { free: number; at: number; published: number } | undefined
  /** A free-space sample being taken for a write's check (one at a time). */
  #diskSample: Promise<number> | undefined
  #started = false
  #recovery: RecoveryReport = { previous: 'clean', checked: 0, quarantined: [], missing: [], ms: 0 }

  constructor(options: ShardStoreOptions) {
    this.#options = options
    this.dataDir = options.dataDir
    this.shardsDir = join(options.dataDir, 'shards')
    this.tmpDir = join(options.dataDir, 'tmp')
    this.corruptDir = join(options.dataDir, 'corrupt')
    this.#logger = options.logger ?? silentLogger
    this.#mode = options.sync ?? (options.fsync === undefined ? DEFAULT_SYNC_MODE : options.fsync ? 'always' : 'none')
    this.#ops = options.syncOps ?? diskSyncOps
    this.#directIo = options.directIo ?? true
    this.#flusher =
      this.#mode === 'batch'
        ? new ShardFlusher({
            dataDir: options.dataDir,
            clock: options.clock ?? systemClock,
            logger: this.#logger,
            ops: this.#ops,
            intervalMs: options.syncIntervalMs,
            maxPendingBytes: options.syncMaxPendingBytes,
            onSyncFailed: (id, error) => this.#quarantine(id, 'fdatasync failed', { error: String(error) }),
          })
        : undefined
    this.#reservedBytes = options.reservedBytes ?? NODE_RESERVED_BYTES
    this.#host = {
      corrupt: (id, problem, details) => this.#quarantine(id, problem, details),
    }
  }

  /**
   * Creates the directories, removes upload leftovers and rebuilds the index from the files on disk.
   * After an unclean stop of a batch-mode run, first re-verifies every shard that may not have
   * reached the disk (see flusher.ts), so the node never serves or vouches for a torn shard.
   */
  async start(): Promise<void> {
    if (this.#started) return
    const began = performance.now()
    await Promise.all([this.shardsDir, this.tmpDir, this.corruptDir].map((d) => mkdir(d, { recursive: true })))
    const leftovers = await readdir(this.tmpDir)
    await Promise.all(leftovers.map((name) => rm(join(this.tmpDir, name), { force: true, recursive: true })))
    if (leftovers.length) this.#logger.info({ count: leftovers.length }, 'removed unfinished uploads from tmp/')
    const prior = await readSyncState(this.dataDir)
    const previous: RecoveryReport['previous'] =
      prior === undefined
        ? 'unknown'
        : prior === 'unreadable'
          ? 'unreadable'
          : !prior.clean && prior.mode === 'batch'
            ? 'unclean'
            : 'clean'
    const recheckSince =
      previous === 'unreadable'
        ? -Infinity
        : previous === 'unclean' && prior !== undefined && prior !== 'unreadable'
          ? prior.syncedThroughMs - (this.#options.recheckMarginMs ?? STORE_RECHECK_MARGIN_MS)
          : undefined
    const recheck = await this.#scan(recheckSince)
    const missing: string[] = []
    if (recheckSince !== undefined) {
      for (const id of await readPendingLog(this.dataDir)) {
        if (this.#index.has(id)) recheck.add(id)
        else if (!existsSync(join(this.corruptDir, id))) missing.push(id)
      }
    }
    // Quarantined shards the meta node may not have heard about (a crash before the next heartbeat):
    // report again every one this node does not hold (any more). Reporting twice is harmless.
    for (const name of await readdir(this.corruptDir)) {
      const id = name.slice(0, 64)
      if (isShardId(id) && !this.#index.has(id)) this.#corrupt.add(id)
    }
    const quarantined = await this.#recheck(recheck)
    for (const id of missing) {
      this.#corrupt.add(id)
      this.#logger.warn({ shard: id }, 'shard acknowledged before an unclean stop is missing: reported as corrupt')
    }
    this.#recovery = {
      previous,
      checked: recheck.size,
      quarantined,
      missing,
      ms: Math.round(performance.now() - began),
    }
    if (recheckSince !== undefined)
      this.#logger.warn(
        { ...this.#recovery, quarantined: quarantined.length, missing: missing.length },
        'unclean stop: re-verified shards written after the last sync checkpoint',
      )
    // Everything on disk now is durable (synced before, or re-verified and synced just now).
    await writeSyncState(
      this.dataDir,
      {
        version: 1,
        mode: this.#mode,
        clean: false,
        syncedThroughMs: Date.now(),
        writtenAt: this.#clockNow(),
        shardsSynced: 0,
      },
      this.#ops,
    )
    await this.#flusher?.start()
    const diskAvailable = await this.#diskAvailable()
    this.#capacityBytes =
      this.#options.capacityBytes ?? this.#usedBytes + Math.max(0, diskAvailable - this.#reservedBytes)
    this.#started = true
    this.#logger.info(
      { shards: this.#index.size, usedBytes: this.#usedBytes, capacityBytes: this.#capacityBytes },
      'shard store ready',
    )
  }

  has(id: string): boolean {
    return this.#index.has(id)
  }

  /** Size of a stored shard, undefined when not stored. */
  sizeOf(id: string): number | undefined {
    return this.#index.get(id)
  }

  ids(): IterableIterator<string> {
    return this.#index.keys()
  }

  get shardCount(): number {
    return this.#index.size
  }

  /** Path of a shard's file (whether or not it exists). */
  pathOf(id: string): string {
    return join(this.#dirOf(id), id)
  }

  async stats(): Promise<StoreStats> {
    const free = this.#freeBytes(await this.#diskAvailable())
    return {
      capacityBytes: this.#capacityBytes,
      usedBytes: this.#usedBytes,
      freeBytes: free,
      shardCount: this.#index.size,
    }
  }

  get syncMode(): SyncMode {
    return this.#mode
  }

  /** What start() re-verified after the previous run. */
  get recovery(): RecoveryReport {
    return this.#recovery
  }

  /** Whether new shards are written with direct I/O (false when disabled or refused by the file system). */
  get directIo(): boolean {
    return this.#directIo
  }

  /** Batch mode: the flusher's counters (undefined in other modes). */
  syncStats(): FlusherStats | undefined {
    return this.#flusher?.stats()
  }

  /** Batch mode: makes every acknowledged shard durable now and records the checkpoint (no-op in other modes). */
  async flush(): Promise<void> {
    await this.#flusher?.flush()
  }

  /** Batch mode: flushes if the oldest unsynced shard is due by the injected clock (what the flusher's timer runs); true when it flushed. */
  async flushDue(): Promise<boolean> {
    return (await this.#flusher?.flushDue()) ?? false
  }

  /** Shards found corrupt (and quarantined) that the meta node has not acknowledged yet. */
  pendingCorrupt(): string[] {
    return [...this.#corrupt]
  }

  /** The meta node has received these corrupt reports. */
  ackCorrupt(ids: Iterable<string>): void {
    for (const id of ids) this.#corrupt.delete(id)
  }

  /**
   * Stores a shard from a byte stream. Checks room before reading a byte (INSUFFICIENT_STORAGE),
   * then streams into tmp/ while hashing; the exact size (SIZE_MISMATCH) and the id
   * (HASH_MISMATCH) are checked before the atomic rename. On any failure the temp file is gone
   * and nothing is stored. An id already stored is drained and acknowledged (idempotent).
   */
  async put(
    id: string,
    size: number,
    body: Readable | SocketBody | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<PutResult> {
    this.#assertStarted()
    if (!isShardId(id)) throw new StratosError('BAD_REQUEST', 'shard id is 64 lowercase hex characters')
    if (!Number.isSafeInteger(size) || size < 1) throw new StratosError('BAD_REQUEST', `invalid shard size ${size}`)
    if (size > MAX_SHARD_BYTES)
      throw new StratosError('PAYLOAD_TOO_LARGE', `shard of ${size} bytes exceeds the ${MAX_SHARD_BYTES}-byte limit`)
    const source =
      body instanceof Readable || body instanceof SocketBody ? body : Readable.from(body, { objectMode: false })

    const storedSize = this.#index.get(id)
    if (storedSize !== undefined) {
      // The id commits to the size; a different size cannot be this shard (and must not get a receipt).
      if (storedSize !== size)
        throw new StratosError('SIZE_MISMATCH', `shard ${id} has ${storedSize} bytes, not ${size}`, {
          expected: storedSize,
          got: size,
        })
      options.onAccept?.()
      const got =
        source instanceof SocketBody ? await source.drain(size) : await drainSource(source, size, options.signal)
      if (got !== size)
        throw new StratosError('SIZE_MISMATCH', `expected ${size} bytes, got ${got}`, { expected: size, got })
      return { created: false, size }
    }

    const fileBytes = shardFileBytes(size)
    // Batch mode backpressure: wait (before reading the body) while too much waits for the disk.
    await this.#flusher?.admit(options.signal)
    await this.#reserve(fileBytes)
    const tmp = join(this.tmpDir, `${id}.${randomHex(systemRandom, 6)}.tmp`)
    let published = false
    try {
      if (
        size < STORE_DIRECT_IO_MIN_BYTES &&
        shardFileBytes(size) <= PUMP_STAGING_BYTES &&
        this.#mode !== 'always' &&
        source instanceof Readable
      ) {
        const chunkHashes = await this.#writeSmall(id, size, tmp, source, options)
        const created = await this.#publish(id, size, tmp, true)
        published = true
        if (created) this.#rememberChunkHashes(id, { chunkHashes, dataOffset: SHARD_DATA_OFFSET })
        return { created, size }
      }
      // The writer owns its file handle and closes it only after its last write, so no write can
      // outlive a failure; the data goes in at offset 0, the hash trailer after it (shard-file.ts).
      const direct = this.#directIo && size >= STORE_DIRECT_IO_MIN_BYTES
      const writer = await ShardFileWriter.create(tmp, { pool: this.#staging, direct })
      if (direct && !writer.direct) {
        this.#directIo = false
        this.#logger.info(
          { dir: this.tmpDir },
          'the file system refuses O_DIRECT: shards are written through the page cache',
        )
      }
      const writerClosed = new Promise<void>((resolve) => writer.once('close', () => resolve()))
      let chunkHashes: Uint8Array = new Uint8Array(0)
      writer.on('error', () => {}) // reported through pumpInto
      const hasher = new ShardHasher()
      options.onAccept?.()
      try {
        const inspect = (piece: Buffer): void => {
          if (hasher.size + piece.length > size)
            throw new StratosError('SIZE_MISMATCH', `body is longer than the expected ${size} bytes`, {
              expected: size,
            })
          hasher.update(piece)
        }
        if (source instanceof SocketBody) {
          if (source.length !== size)
            throw new StratosError('SIZE_MISMATCH', `body of ${source.length} bytes for a ${size}-byte shard`, {
              expected: size,
              got: source.length,
            })
          await source.pump(writer, inspect, this.#staging, options.signal)
        } else {
          await pumpInto(source, writer, inspect, options.signal, this.#staging)
        }
        const digest = verifiedDigest(hasher, id, size)
        await writer.complete(
          encodeShardTrailer(size, digest.chunkHashes),
          this.#mode === 'always' ? (fh) => this.#ops.datasync(fh, id) : undefined,
        )
        chunkHashes = digest.chunkHashes
      } finally {
        writer.destroy()
        await writerClosed
      }
      const created = await this.#publish(id, size, tmp)
      published = true
      // The data went to the disk around the page cache: the first read of a fresh shard skips the
      // trailer read (the list was just computed from the verified bytes).
      if (created) this.#rememberChunkHashes(id, { chunkHashes, dataOffset: SHARD_DATA_OFFSET })
      return { created, size }
    } catch (e) {
      throw mapWriteError(e)
    } finally {
      this.#inflightBytes -= fileBytes
      if (!published) await rm(tmp, { force: true }).catch(() => {})
    }
  }

  /**
   * Opens a verified reader of bytes [start, end) of a shard. The stored chunk-hash list is checked
   * against the id here; each chunk is checked as it is read. SHARD_NOT_FOUND, RANGE_NOT_SATISFIABLE,
   * SHARD_CORRUPT (the file is then quarantined and reported).
   */
  async openRead(id: string, start = 0, end?: number): Promise<ShardReader> {
    this.#assertStarted()
    return this.#openRead(id, start, end)
  }

  async #openRead(id: string, start = 0, end?: number): Promise<ShardReader> {
    const size = isShardId(id) ? this.#index.get(id) : undefined
    if (size === undefined) throw new StratosError('SHARD_NOT_FOUND', `shard ${id} is not stored here`, { shard: id })
    const stop = end ?? size
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop) || start < 0 || stop > size || start > stop) {
      throw new StratosError('RANGE_NOT_SATISFIABLE', `range [${start}, ${stop}) is outside the ${size}-byte shard`, {
        size,
      })
    }
    let handle: ShardHandle
    try {
      handle = await this.#handles.acquire(id, this.pathOf(id))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        // Deleted meanwhile (fine) or lost behind our back (report it).
        if (this.#index.has(id)) throw await this.#quarantine(id, 'file is missing')
        throw new StratosError('SHARD_NOT_FOUND', `shard ${id} is not stored here`, { shard: id })
      }
      throw toStratosError(e)
    }
    try {
      let located = this.#chunkLists.get(id)
      if (!located) {
        located = await this.#locateChunkHashes(id, size, handle.fh)
        this.#rememberChunkHashes(id, located)
      }
      return new ShardReader({
        id,
        size,
        chunkHashes: located.chunkHashes,
        start,
        end: stop,
        fh: handle.fh,
        release: handle.release,
        dataOffset: located.dataOffset,
        host: this.#host,
      })
    } catch (e) {
      await handle.release().catch(() => {})
      throw e
    }
  }

  #rememberChunkHashes(id: string, located: { chunkHashes: Uint8Array; dataOffset: number }): void {
    this.#chunkLists.set(id, located)
  }

  /**
   * Reads a shard file's chunk-hash list and where its data starts: the format 2 trailer, else a
   * format 1 header (files written before format 2). Whichever list hashes to the id decides;
   * none does → quarantined (SHARD_CORRUPT).
   */
  async #locateChunkHashes(
    id: string,
    size: number,
    fh: FileHandle,
  ): Promise<{ chunkHashes: Uint8Array; dataOffset: number }> {
    const metaBytes = shardMetaBytes(size)
    const meta = Buffer.allocUnsafe(metaBytes)
    let problem = ''
    for (const layout of shardFileLayouts(size)) {
      const { bytesRead } = await fh.read(meta, 0, metaBytes, layout.metaOffset)
      const decoded = decodeShardMeta(meta.subarray(0, bytesRead), size, layout.magic)
      if (!('problem' in decoded) && chunkHashesMatch(id, size, decoded.chunkHashes))
        return { chunkHashes: decoded.chunkHashes, dataOffset: layout.dataOffset }
      // Report what is wrong with the current format's block.
      problem ||= 'problem' in decoded ? decoded.problem : 'chunk-hash list does not hash to the id'
    }
    throw await this.#quarantine(id, problem)
  }

  /** Deletes a shard; false when it was not stored. Readers already open finish their read. */
  async delete(id: string): Promise<boolean> {
    this.#assertStarted()
    const size = this.#index.get(id)
    if (size === undefined) return false
    this.#forget(id, size)
    await this.#flusher?.removed(id)
    await rm(this.pathOf(id), { force: true })
    return true
  }

  /** Batch mode: syncs everything still pending; then marks a clean shutdown (the next start checks nothing). */
  async stop(): Promise<void> {
    if (!this.#started) {
      await this.#flusher?.stop() // a start that failed after opening the pending log
      return
    }
    this.#started = false
    await this.#handles.closeAll()
    await this.#flusher?.stop()
    try {
      await writeSyncState(
        this.dataDir,
        {
          version: 1,
          mode: this.#mode,
          clean: true,
          syncedThroughMs: Date.now(),
          writtenAt: this.#clockNow(),
          shardsSynced: this.#flusher?.stats().shardsSynced ?? 0,
        },
        this.#ops,
      )
    } catch (e) {
      this.#logger.error({ err: e }, 'could not mark a clean shutdown (the next start re-verifies recent shards)')
    }
  }

  #clockNow(): number {
    return (this.#options.clock ?? systemClock).now()
  }

  #assertStarted(): void {
    if (!this.#started) throw new StratosError('INTERNAL', 'shard store is not started')
  }

  #dirOf(id: string): string {
    return shardDirOf(this.shardsDir, id)
  }

  #forget(id: string, size: number): void {
    this.#index.delete(id)
    this.#chunkLists.delete(id)
    this.#handles.forget(id)
    this.#usedBytes -= shardFileBytes(size)
  }

  /** Free disk bytes now (a fresh sample, which later write checks reuse). */
  async #diskAvailable(): Promise<number> {
    const at = (this.#options.clock ?? systemClock).now()
    const published = this.#publishedBytes
    const free = this.#options.diskFree ? await this.#options.diskFree(this.dataDir) : await statfsFree(this.dataDir)
    this.#disk = { free, at, published }
    return free
  }

  /**
   * Free disk bytes for a write's check: a sample at most STORE_DISK_SAMPLE_MAX_AGE_MS old, less every shard byte
   * published since it was asked for (bytes published while it was taken count twice: the estimate only errs low),
   * so a small shard's PUT does not wait for a statfs. Space others fill meanwhile is seen by the next sample; a
   * write that still finds the disk full fails with INSUFFICIENT_STORAGE (mapWriteError).
   */
  async #diskAvailableForWrite(): Promise<number> {
    const d = this.#disk
    const age = d ? (this.#options.clock ?? systemClock).now() - d.at : Number.POSITIVE_INFINITY
    if (d && age >= 0 && age < STORE_DISK_SAMPLE_MAX_AGE_MS) return d.free - (this.#publishedBytes - d.published)
    this.#diskSample ??= this.#diskAvailable().finally(() => {
      this.#diskSample = undefined
    })
    return this.#diskSample
  }

  #freeBytes(diskAvailable: number): number {
    const byQuota = this.#capacityBytes - this.#usedBytes - this.#inflightBytes
    const byDisk = diskAvailable - this.#reservedBytes - this.#inflightBytes
    return Math.max(0, Math.min(byQuota, byDisk))
  }

  /** Reserves room for a write; the check and the reservation happen in one synchronous step. */
  async #reserve(fileBytes: number): Promise<void> {
    const diskAvailable = await this.#diskAvailableForWrite()
    const free = this.#freeBytes(diskAvailable)
    if (fileBytes > free) {
      throw new StratosError('INSUFFICIENT_STORAGE', `no room for a ${fileBytes}-byte shard (${free} bytes free)`, {
        needed: fileBytes,
        free,
      })
    }
    this.#inflightBytes += fileBytes
  }

  /**
   * A shard under STORE_DIRECT_IO_MIN_BYTES (except in `--sync always`, whose flushes must stay off the event loop):
   * the body is read into memory, hashed and checked in one piece, and the file (data, then trailer) is created, written
   * and closed with synchronous calls, then renamed into place the same way (#publish). Page-cache writes of at most
   * 256 KiB take tens of µs; each of the four asynchronous calls they replace was a thread-pool round trip, and on a
   * busy machine a wait for this process to be scheduled again (0.5–2 ms apiece in a traced devnet run, most of a
   * small PUT's time). Returns the verified chunk-hash list.
   */
  async #writeSmall(id: string, size: number, tmp: string, source: Readable, options: PutOptions): Promise<Uint8Array> {
    // The whole file in one reused staging buffer (no fresh 32–256 KiB allocation per PUT for the GC to account for):
    // the body lands in its first `size` bytes (one copy per socket piece), is hashed in one call per chunk once
    // complete, and the trailer goes after it. Nothing keeps a view of the buffer once the file is written.
    const slot = this.#staging.take()
    try {
      const file = slot.subarray(0, shardFileBytes(size))
      const body = file.subarray(0, size)
      options.onAccept?.()
      const got = await readWhole(source, body, options.signal)
      if (got !== size)
        throw new StratosError('SIZE_MISMATCH', `expected ${size} bytes, got ${got}`, { expected: size, got })
      const digest = computeShardId(body)
      if (digest.id !== id)
        throw new StratosError('HASH_MISMATCH', 'the bytes do not hash to the shard id', {
          expected: id,
          got: digest.id,
        })
      encodeShardTrailer(size, digest.chunkHashes).copy(file, size)
      writeNewFileSync(tmp, file)
      return digest.chunkHashes
    } finally {
      this.#staging.give(slot)
    }
  }

  /** Renames a finished temp file into place, once per id even under concurrent uploads (`sync`: a small shard's). */
  async #publish(id: string, size: number, tmp: string, sync = false): Promise<boolean> {
    for (let pending = this.#committing.get(id); pending; pending = this.#committing.get(id)) await pending
    if (this.#index.has(id)) {
      await rm(tmp, { force: true })
      return false
    }
    const dir = this.#dirOf(id)
    const work = (async () => {
      await this.#ensureDir(dir, sync)
      const flusher = this.#flusher
      const token = flusher?.renameStarting()
      try {
        if (sync) renameSync(tmp, join(dir, id))
        else await rename(tmp, join(dir, id))
      } catch (e) {
        if (token !== undefined) flusher?.renameFailed(token)
        throw e
      }
      if (this.#mode === 'always') await this.#ops.syncDir(dir)
      this.#index.set(id, size)
      this.#usedBytes += shardFileBytes(size)
      this.#publishedBytes += shardFileBytes(size)
      this.#corrupt.delete(id) // a good copy is back
      if (flusher && token !== undefined)
        await flusher.added(token, { id, path: join(dir, id), dir, fileBytes: shardFileBytes(size) })
    })()
    this.#committing.set(
      id,
      work.catch(() => {}),
    )
    try {
      await work
    } finally {
      this.#committing.delete(id)
    }
    return true
  }

  /** Creates a shard directory the first time (`sync`: with mkdirSync, for a small shard's synchronous publish). */
  async #ensureDir(dir: string, sync = false): Promise<void> {
    if (this.#knownDirs.has(dir)) return
    const made = sync ? mkdirSync(dir, { recursive: true }) : await mkdir(dir, { recursive: true })
    // A new directory entry must itself be durable before the shard renamed into it is.
    if (made !== undefined && this.#mode === 'always') await this.#ops.syncDir(dirname(dir))
    else if (made !== undefined) this.#flusher?.dirtyDir(dirname(dir))
    this.#knownDirs.add(dir)
  }

  /** Moves a shard that failed verification to corrupt/, forgets it and records it for the next heartbeat. */
  async #quarantine(id: string, problem: string, details: Record<string, unknown> = {}): Promise<StratosError> {
    const size = this.#index.get(id)
    if (size !== undefined) {
      this.#forget(id, size)
      void this.#flusher?.removed(id) // moved to corrupt/ and reported either way
      this.#corrupt.add(id)
      try {
        await rename(this.pathOf(id), join(this.corruptDir, id))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          this.#logger.error({ err: e, shard: id }, 'could not move a corrupt shard to corrupt/')
      }
      this.#logger.warn({ shard: id, problem, ...details }, 'shard failed verification: quarantined')
    }
    return new StratosError('SHARD_CORRUPT', `shard ${id} failed verification on this node`, { shard: id, ...details })
  }

  /**
   * Rebuilds the index from shards/ using stat only; files that cannot be shards are quarantined.
   * Returns the shards changed (ctime or mtime, system clock) at or after `recheckSince`.
   */
  async #scan(recheckSince: number | undefined): Promise<Set<string>> {
    const recent = new Set<string>()
    /** `legacy`: in the two-level layout (shards/ab/cd/<id>), moved up to shards/ab/<id> once stat'ed. */
    const files: { id: string; path: string; legacy: boolean }[] = []
    const legacyDirs: string[] = []
    for (const a of await readdir(this.shardsDir)) {
      if (!HEX2.test(a)) continue
      const dir = join(this.shardsDir, a)
      this.#knownDirs.add(dir)
      for (const name of await readdirOrEmpty(dir)) {
        if (isShardId(name) && name.startsWith(a)) files.push({ id: name, path: join(dir, name), legacy: false })
        else if (HEX2.test(name)) {
          legacyDirs.push(join(dir, name))
          for (const old of await readdirOrEmpty(join(dir, name))) {
            if (isShardId(old) && old.startsWith(a + name))
              files.push({ id: old, path: join(dir, name, old), legacy: true })
            else this.#logger.warn({ path: join(dir, name, old) }, 'ignoring a file that is not a shard')
          }
        } else this.#logger.warn({ path: join(dir, name) }, 'ignoring a file that is not a shard')
      }
    }
    const misfits: string[] = []
    const moved = new Set<string>()
    const current = new Set(files.filter((f) => !f.legacy).map((f) => f.id))
    await forEachLimit(files, STORE_SCAN_CONCURRENCY, async ({ id, path, legacy }) => {
      // A copy in both layouts (a move cut short): the one-level one counts, the other goes.
      if (legacy && current.has(id)) {
        await rm(path, { force: true })
        return
      }
      // stat before a move: the move sets ctime, which must not make every moved shard look freshly written.
      const st = await stat(path)
      if (legacy) {
        await rename(path, this.pathOf(id))
        moved.add(this.#dirOf(id))
      }
      const size = st.isFile() ? shardSizeFromFileBytes(st.size) : undefined
      if (size === undefined) {
        misfits.push(id)
        return
      }
      this.#index.set(id, size)
      this.#usedBytes += shardFileBytes(size)
      // ctime: the rename that published the shard sets it (mtime alone can be set back by anyone).
      if (recheckSince !== undefined && Math.max(st.ctimeMs, st.mtimeMs) >= recheckSince) recent.add(id)
    })
    if (legacyDirs.length) {
      // The moves are durable before the emptied directories go (a crash in between leaves a shard in both places
      // at worst: the same bytes, moved again at the next start).
      if (this.#mode !== 'none') for (const d of moved) await this.#ops.syncDir(d)
      // Emptied directories only: a file that is not a shard was warned about above and stays where it is.
      for (const d of legacyDirs)
        await rmdir(d).catch(() => this.#logger.warn({ path: d }, 'left a non-empty directory'))
      this.#logger.info({ shards: files.filter((f) => f.legacy).length }, 'moved shards to the one-level layout')
    }
    for (const id of misfits) {
      this.#corrupt.add(id)
      await rename(this.pathOf(id), join(this.corruptDir, id)).catch(() => {})
      this.#logger.warn({ shard: id }, 'shard file has an impossible length: quarantined')
    }
    return recent
  }

  /**
   * Fully verifies shards before the node serves (header chunk-hash list against the id, every chunk
   * against its hash, through the same ShardReader the read path uses); a bad one is quarantined
   * and reported. A good one is fdatasynced (unless mode 'none'): after a process crash its bytes
   * may still only be in the page cache. Returns the quarantined ids.
   */
  async #recheck(ids: ReadonlySet<string>): Promise<string[]> {
    const bad: string[] = []
    const dirs = new Set<string>()
    await forEachLimit([...ids], STORE_RECHECK_CONCURRENCY, async (id) => {
      try {
        const reader = await this.#openRead(id)
        for await (const piece of reader) void piece
        if (this.#mode !== 'none') {
          const fh = await open(this.pathOf(id), 'r')
          try {
            await this.#ops.datasync(fh, id)
          } finally {
            await fh.close()
          }
          dirs.add(this.#dirOf(id))
        }
      } catch (e) {
        if (!isStratosError(e, 'SHARD_CORRUPT')) await this.#quarantine(id, 'unreadable', { error: String(e) })
        bad.push(id)
      }
    })
    for (const d of dirs) await this.#ops.syncDir(d)
    return bad
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR' || (e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
}

function mapWriteError(e: unknown): StratosError {
  const code = (e as NodeJS.ErrnoException)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StratosError('INSUFFICIENT_STORAGE', 'the disk is full', undefined, { cause: e })
  }
  return toStratosError(e)
}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir)
  return Number(s.bavail) * Number(s.bsize)
}

/** The digest of a body that must be exactly `size` bytes hashing to shard `id` (SIZE_MISMATCH, HASH_MISMATCH). */
function verifiedDigest(hasher: ShardHasher, id: string, size: number): ReturnType<ShardHasher['digest']> {
  if (hasher.size !== size)
    throw new StratosError('SIZE_MISMATCH', `expected ${size} bytes, got ${hasher.size}`, {
      expected: size,
      got: hasher.size,
    })
  const digest = hasher.digest()
  if (digest.id !== id)
    throw new StratosError('HASH_MISMATCH', 'the bytes do not hash to the shard id', {
      expected: id,
      got: digest.id,
    })
  return digest
}

/** Creates `path` (it must not exist) holding `bytes`, with synchronous calls (small files only). */
function writeNewFileSync(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
  try {
    for (let off = 0; off < bytes.length; ) {
      const n = writeSync(fd, bytes, off, bytes.length - off, off)
      if (n === 0) throw new StratosError('INTERNAL', 'the disk accepted no bytes')
      off += n
    }
  } finally {
    closeSync(fd)
  }
}
