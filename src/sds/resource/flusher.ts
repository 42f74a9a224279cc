/**
 * Durability of acknowledged shards (`stratos node resource --sync always|batch|none`).
 *
 * - `always`: the store fdatasyncs every shard file and fsyncs its directory before the PUT is
 *   acknowledged (one disk flush on every upload's critical path).
 * - `batch` (default): the shard is acknowledged once it is verified and renamed into place; this
 *   ShardFlusher makes every shard written since its last flush durable (fdatasync each file, fsync
 *   each touched directory) at most `intervalMs` after it was written, earlier when `maxPendingBytes`
 *   wait, and then records a durable "synced-through" checkpoint in DATA/sync-state.json. While
 *   `maxPendingBytes` wait for the disk, new PUTs wait (backpressure) instead of piling up.
 * - `none`: never fsync (tests, benchmarks).
 *
 * Crash window and self-check: after an unclean stop (sync-state.json says `clean: false` and the run
 * was `batch`), a shard may be torn or missing only if it was written after the last checkpoint. Such
 * a shard has a ctime (set by the rename that published it) at or after the checkpoint's
 * `syncedThroughMs`, or is listed in DATA/sync-pending.log (ids published since the last checkpoint,
 * appended without fsync: exact after a process crash, best effort after a power loss). The store
 * re-verifies exactly those before serving (see ShardStore.start). The timestamps compared with
 * file ctimes come from the system clock (the kernel stamps files with it), not the injected clock,
 * which only drives the flush schedule.
 */
import { writeSync } from 'node:fs'
import { open, readFile, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { StratosError } from '../../errors.ts'
import {
  STORE_SYNC_CONCURRENCY,
  STORE_SYNC_INTERVAL_MS,
  STORE_SYNC_MAX_PENDING_BYTES,
  STORE_SYNC_MIN_ENTRY_BYTES,
} from '../../limits.ts'
import { isShardId } from '../protocol/shard.ts'
import { silentLogger, systemClock, type Clock, type Logger, type Startable } from '../../util/components.ts'

export const SYNC_MODES = ['always', 'batch', 'none'] as const
export type SyncMode = (typeof SYNC_MODES)[number]
export const DEFAULT_SYNC_MODE: SyncMode = 'batch'

export function isSyncMode(s: unknown): s is SyncMode {
  return typeof s === 'string' && (SYNC_MODES as readonly string[]).includes(s)
}

/** The disk flushes the store and flusher perform; injectable so tests can count and delay them on a real filesystem. */
export interface SyncOps {
  /** fdatasync of an open file; `what` names it (a shard id, or the state file's name). */
  datasync(fh: FileHandle, what: string): Promise<void>
  /** fsync of a directory; errors are ignored (some filesystems refuse it; the rename is still atomic). */
  syncDir(dir: string): Promise<void>
}

export const diskSyncOps: SyncOps = {
  datasync: (fh) => fh.datasync(),
  async syncDir(dir) {
    let fh: FileHandle | undefined
    try {
      fh = await open(dir, 'r')
      await fh.sync()
    } catch {
      // Some filesystems refuse fsync on directories.
    } finally {
      await fh?.close().catch(() => {})
    }
  },
}

export const SYNC_STATE_FILE = 'sync-state.json'
export const SYNC_PENDING_LOG = 'sync-pending.log'

/** DATA/sync-state.json: written atomically and durably (temp file, fdatasync, rename, directory fsync). */
export interface SyncState {
  version: 1
  /** Mode of the run that wrote it. */
  mode: SyncMode
  /** true only when written by a clean stop (everything acknowledged was synced). */
  clean: boolean
  /** System-clock ms: every shard whose publishing rename started before this is durable. */
  syncedThroughMs: number
  /** Injected-clock ms when written (for people reading the file). */
  writtenAt: number
  /** Shards synced by the flusher since this run started. */
  shardsSynced: number
}

/** The state left by the previous run: undefined when there is none (a data dir from before sync modes), 'unreadable' when damaged. */
export async function readSyncState(dataDir: string): Promise<SyncState | undefined | 'unreadable'> {
  let text: string
  try {
    text = await readFile(join(dataDir, SYNC_STATE_FILE), 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return 'unreadable'
  }
  try {
    const s = JSON.parse(text) as Partial<SyncState>
    if (s.version !== 1 || !isSyncMode(s.mode) || typeof s.clean !== 'boolean' || !Number.isFinite(s.syncedThroughMs))
      return 'unreadable'
    return s as SyncState
  } catch {
    return 'unreadable'
  }
}

/** Atomic, durable replacement of sync-state.json (async: never blocks the event loop on the disk). */
export async function writeSyncState(dataDir: string, state: SyncState, ops: SyncOps): Promise<void> {
  const path = join(dataDir, SYNC_STATE_FILE)
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(JSON.stringify(state) + '\n')
    await ops.datasync(fh, SYNC_STATE_FILE)
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await ops.syncDir(dataDir)
}

/** Ids the pending log says were published and not yet synced (replays `+id` / `-id` lines; a torn last line is ignored). */
export async function readPendingLog(dataDir: string): Promise<Set<string>> {
  const ids = new Set<string>()
  let text: string
  try {
    text = await readFile(join(dataDir, SYNC_PENDING_LOG), 'latin1')
  } catch {
    return ids
  }
  for (const line of text.split('\n')) {
    const id = line.slice(1)
    if (!isShardId(id)) continue
    if (line[0] === '+') ids.add(id)
    else if (line[0] === '-') ids.delete(id)
  }
  return ids
}

/** One shard acknowledged but not yet synced. */
export interface PendingShard {
  id: string
  /** Path of the published shard file. */
  path: string
  /** Directory the shard was renamed into (its entry must be synced too). */
  dir: string
  fileBytes: number
}

export interface ShardFlusherOptions {
  dataDir: string
  /** Drives the flush schedule (tests: ManualClock + flushDue()). */
  clock?: Clock
  logger?: Logger
  ops?: SyncOps
  intervalMs?: number
  maxPendingBytes?: number
  /** A shard whose fdatasync failed: its bytes may never reach the disk (the store quarantines and reports it). */
  onSyncFailed: (id: string, error: unknown) => Promise<unknown>
}

export interface FlusherStats {
  pendingShards: number
  /** Bytes waiting for a flush plus bytes being flushed (what backpressure counts). */
  unsyncedBytes: number
  flushes: number
  shardsSynced: number
  /** System-clock ms of the last durable checkpoint (0 before the first). */
  syncedThroughMs: number
}

interface Entry extends PendingShard {
  /** Injected-clock ms when it became pending. */
  at: number
  cost: number
}

/** The `batch` mode's background flusher (Startable). */
export class ShardFlusher implements Startable {
  readonly #o: Required<Omit<ShardFlusherOptions, 'onSyncFailed'>> & Pick<ShardFlusherOptions, 'onSyncFailed'>
  readonly #pending = new Map<string, Entry>()
  /** Being synced by the running flush (removed from #pending). */
  readonly #syncing = new Set<string>()
  /** System-clock start times of publishing renames in progress (a rename started before a checkpoint may land after its snapshot). */
  readonly #renames = new Map<number, number>()
  /** New directories whose own entries (in their parents) the next flush syncs. */
  #dirtyDirs = new Set<string>()
  #renameSeq = 0
  #pendingBytes = 0
  #syncingBytes = 0
  #waiters: (() => void)[] = []
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #flushRequested = false
  #running = false
  #log: FileHandle | undefined
  /** Serializes pending-log writes (appends and the truncation after a checkpoint). */
  #logChain: Promise<void> = Promise.resolve()
  /** Operations on #logChain not finished yet: while there are none, an append is one synchronous write. */
  #logQueued = 0
  #flushes = 0
  #shardsSynced = 0
  #syncedThroughMs = 0

  constructor(options: ShardFlusherOptions) {
    this.#o = {
      dataDir: options.dataDir,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
      ops: options.ops ?? diskSyncOps,
      intervalMs: options.intervalMs ?? STORE_SYNC_INTERVAL_MS,
      maxPendingBytes: options.maxPendingBytes ?? STORE_SYNC_MAX_PENDING_BYTES,
      onSyncFailed: options.onSyncFailed,
    }
  }

  /** Opens a fresh pending log. The store has already recovered from the previous run and written the start checkpoint. */
  async start(): Promise<void> {
    if (this.#running) return
    // O_APPEND: every write lands at the end, also after the truncation that follows a checkpoint.
    this.#log = await open(join(this.#o.dataDir, SYNC_PENDING_LOG), 'a')
    await this.#log.truncate(0)
    this.#running = true
  }

  /** Flushes everything, closes the log; the store then writes the clean-shutdown mark. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.flush()
    await this.#logChain
    await this.#log?.close().catch(() => {})
    this.#log = undefined
    this.#wake()
  }

  stats(): FlusherStats {
    return {
      pendingShards: this.#pending.size + this.#syncing.size,
      unsyncedBytes: this.#pendingBytes + this.#syncingBytes,
      flushes: this.#flushes,
      shardsSynced: this.#shardsSynced,
      syncedThroughMs: this.#syncedThroughMs,
    }
  }

  /**
   * Backpressure: resolves once fewer than maxPendingBytes wait for the disk. Called before a PUT
   * accepts its body, so a node whose disk is slower than its network slows its uploaders down
   * instead of holding ever more unsynced data.
   */
  async admit(signal?: AbortSignal): Promise<void> {
    while (this.#running && this.#pendingBytes + this.#syncingBytes >= this.#o.maxPendingBytes) {
      signal?.throwIfAborted()
      void this.flush()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void =>
          reject(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
        signal?.addEventListener('abort', onAbort, { once: true })
        this.#waiters.push(() => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
  }

  /** Call just before the rename that publishes a shard; pass the token to added() (or renameFailed()). */
  renameStarting(): number {
    const token = ++this.#renameSeq
    this.#renames.set(token, Date.now())
    return token
  }

  renameFailed(token: number): void {
    this.#renames.delete(token)
  }

  /** A shard was published (renamed into place) without a sync; it becomes durable by the next flush. */
  async added(token: number, shard: PendingShard): Promise<void> {
    const cost = Math.max(shard.fileBytes, STORE_SYNC_MIN_ENTRY_BYTES)
    this.#pending.set(shard.id, { ...shard, at: this.#o.clock.now(), cost })
    this.#pendingBytes += cost
    this.#renames.delete(token)
    const logged = this.#appendLog(`+${shard.id}\n`)
    if (!this.#running)
      await this.flush() // a put that raced stop(): sync it now
    else if (this.#pendingBytes + this.#syncingBytes >= this.#o.maxPendingBytes) void this.flush()
    else this.#arm()
    await logged
  }

  /** A shard was deleted or quarantined: nothing left to sync (resolves once the pending log says so). */
  async removed(id: string): Promise<void> {
    const e = this.#pending.get(id)
    if (e) {
      this.#pending.delete(id)
      this.#pendingBytes -= e.cost
      this.#wake()
    }
    if (e || this.#syncing.has(id)) await this.#appendLog(`-${id}\n`)
  }

  /** A directory gained an entry (a new subdirectory) that the next flush must make durable. */
  dirtyDir(dir: string): void {
    this.#dirtyDirs.add(dir)
  }

  /** Flushes if the oldest pending shard has waited intervalMs (by the injected clock); true when it flushed. */
  async flushDue(): Promise<boolean> {
    const oldest = this.#pending.values().next().value as Entry | undefined
    if (!oldest || this.#o.clock.now() - oldest.at < this.#o.intervalMs) return false
    await this.flush()
    return true
  }

  /** Makes every shard published before this call durable and records the checkpoint. */
  flush(): Promise<void> {
    this.#flushRequested = true
    this.#flushing ??= (async () => {
      try {
        while (this.#flushRequested) {
          this.#flushRequested = false
          await this.#flushOnce()
        }
      } finally {
        this.#flushing = undefined
        this.#arm()
      }
    })()
    return this.#flushing
  }

  /** Keeps one timer while something is pending, due when the oldest entry reaches intervalMs. */
  #arm(): void {
    if (this.#timer || !this.#running || this.#pending.size === 0 || this.#flushing) return
    const oldest = this.#pending.values().next().value as Entry
    const wait = Math.max(0, oldest.at + this.#o.intervalMs - this.#o.clock.now())
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.flushDue()
          .catch((e: unknown) => this.#o.logger.error({ err: e }, 'shard flush failed'))
          .finally(() => this.#arm())
      },
      Math.max(wait, 1),
    )
    this.#timer.unref()
  }

  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return
    // Every shard whose rename started before `through` is in this batch (or synced earlier).
    let through = Date.now()
    for (const t of this.#renames.values()) through = Math.min(through, t)
    const batch = [...this.#pending.values()]
    this.#pending.clear()
    const dirs = this.#dirtyDirs
    this.#dirtyDirs = new Set()
    for (const e of batch) dirs.add(e.dir)
    let bytes = 0
    for (const e of batch) {
      bytes += e.cost
      this.#syncing.add(e.id)
    }
    this.#pendingBytes -= bytes
    this.#syncingBytes += bytes
    const failed: { id: string; error: unknown }[] = []
    const started = performance.now()
    try {
      await forEachLimit(batch, STORE_SYNC_CONCURRENCY, async (e) => {
        let fh: FileHandle | undefined
        try {
          fh = await open(e.path, 'r')
          await this.#o.ops.datasync(fh, e.id)
        } catch (error) {
          // ENOENT: deleted or quarantined meanwhile, nothing to keep.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') failed.push({ id: e.id, error })
        } finally {
          await fh?.close().catch(() => {})
        }
      })
      for (const d of dirs) await this.#o.ops.syncDir(d)
      this.#shardsSynced += batch.length - failed.length
      this.#flushes++
      await writeSyncState(
        this.#o.dataDir,
        {
          version: 1,
          mode: 'batch',
          clean: false,
          syncedThroughMs: through,
          writtenAt: this.#o.clock.now(),
          shardsSynced: this.#shardsSynced,
        },
        this.#o.ops,
      )
      this.#syncedThroughMs = through
      // The log now only needs what was published after the snapshot.
      const rest = [...this.#pending.keys()].map((id) => `+${id}\n`).join('')
      await this.#rewriteLog(rest)
      this.#o.logger.debug(
        { shards: batch.length, bytes, ms: Math.round(performance.now() - started) },
        'shards synced',
      )
    } catch (e) {
      // The checkpoint stays where it was: a crash now re-verifies more than needed, never less.
      this.#o.logger.error({ err: e }, 'could not record the sync checkpoint')
    } finally {
      for (const e of batch) this.#syncing.delete(e.id)
      this.#syncingBytes -= bytes
      this.#wake()
    }
    for (const { id, error } of failed) {
      this.#o.logger.error({ err: error, shard: id }, 'fdatasync of a shard failed: its bytes may not be on disk')
      await this.#o.onSyncFailed(id, error)
    }
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  /**
   * Appends a line in order with the other log operations. With none queued (the usual case) it is one synchronous
   * O_APPEND write of a few dozen bytes to the page cache, not a thread-pool round trip on a PUT's path.
   */
  #appendLog(line: string): Promise<void> {
    if (this.#logQueued === 0) {
      try {
        if (this.#log) writeSync(this.#log.fd, line)
      } catch (e) {
        this.#o.logger.warn({ err: e }, 'could not append to the sync pending log')
      }
      return Promise.resolve()
    }
    return this.#chainLog(async () => {
      await this.#log?.write(line)
    }, 'could not append to the sync pending log')
  }

  #rewriteLog(content: string): Promise<void> {
    return this.#chainLog(async () => {
      if (!this.#log) return
      await this.#log.truncate(0)
      if (content) await this.#log.write(content)
    }, 'could not rewrite the sync pending log')
  }

  #chainLog(op: () => Promise<void>, failure: string): Promise<void> {
    this.#logQueued++
    const next = this.#logChain
      .then(op)
      .catch((e: unknown) => this.#o.logger.warn({ err: e }, failure))
      .finally(() => {
        this.#logQueued--
      })
    this.#logChain = next
    return next
  }
}

export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
