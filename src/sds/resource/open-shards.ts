/**
 * Open file handles of shards being read, shared by concurrent reads of a shard and kept open a while after the last
 * one (at most SHARD_OPEN_IDLE_HANDLES idle, least recently used closed first): a node serving many range reads of a
 * few hot shards opened and closed the file per GET, two thread-pool round trips for a few hundred µs of reading.
 *
 * A handle names one file (inode): `forget` (the store deleted or quarantined the shard) takes it out of use, so the
 * next read opens whatever file the path holds then; reads already holding it finish on it (as they did on their
 * own handle before). Bytes are verified against the chunk-hash list on every read, whatever handle they come from.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { SHARD_OPEN_IDLE_HANDLES } from '../../limits.ts'

interface Entry {
  fh: FileHandle
  refs: number
  /** Out of use (forgotten, or pushed out of the idle list): closes once its last reader releases it. */
  retired: boolean
}

export interface ShardHandle {
  readonly fh: FileHandle
  /** Gives the handle back (once): it stays open for later reads, or closes if retired. */
  release(): Promise<void>
}

export class OpenShards {
  /** Handles in use or idle, by shard id; a Map's order is insertion order, so idle ones are re-inserted on release. */
  readonly #open = new Map<string, Entry>()
  /** Opens in progress, so concurrent first reads of a shard open it once. */
  readonly #opening = new Map<string, Promise<Entry>>()
  #idle = 0

  constructor(readonly maxIdle = SHARD_OPEN_IDLE_HANDLES) {}

  /** A handle of `path` (the file of shard `id`); rejects as `open` would (ENOENT: not there). */
  async acquire(id: string, path: string): Promise<ShardHandle> {
    let e = this.#open.get(id)
    if (!e) {
      let opening = this.#opening.get(id)
      if (!opening) {
        opening = open(path, 'r').then((fh) => ({ fh, refs: 0, retired: false }))
        this.#opening.set(id, opening)
        opening.then(
          (fresh) => {
            if (this.#opening.get(id) === opening) {
              this.#opening.delete(id)
              this.#open.set(id, fresh)
              this.#idle++ // counted idle until taken below
            } else fresh.retired = true // forgotten while opening
          },
          () => {
            if (this.#opening.get(id) === opening) this.#opening.delete(id)
          },
        )
      }
      e = await opening
    }
    if (e.refs === 0 && !e.retired) this.#idle--
    e.refs++
    const entry = e
    let released = false
    return {
      fh: entry.fh,
      release: async () => {
        if (released) return
        released = true
        await this.#release(id, entry)
      },
    }
  }

  async #release(id: string, e: Entry): Promise<void> {
    e.refs--
    if (e.refs > 0) return
    if (e.retired) {
      await e.fh.close().catch(() => {})
      return
    }
    // Most recently used last; beyond maxIdle, the least recently used idle handle closes.
    this.#open.delete(id)
    this.#open.set(id, e)
    this.#idle++
    while (this.#idle > this.maxIdle) {
      const oldest = this.#oldestIdle()
      if (!oldest) break
      this.#open.delete(oldest[0])
      this.#idle--
      await oldest[1].fh.close().catch(() => {})
    }
  }

  #oldestIdle(): [string, Entry] | undefined {
    for (const kv of this.#open) if (kv[1].refs === 0) return kv
    return undefined
  }

  /** The shard's file is gone or replaced: its handle serves no new read (and closes once unused). */
  forget(id: string): void {
    this.#opening.delete(id)
    const e = this.#open.get(id)
    if (!e) return
    this.#open.delete(id)
    e.retired = true
    if (e.refs === 0) {
      this.#idle--
      void e.fh.close().catch(() => {})
    }
  }

  /** Closes every idle handle and retires the rest (store stop). */
  async closeAll(): Promise<void> {
    for (const id of [...this.#open.keys()]) this.forget(id)
  }

  /** Handles open now (tests). */
  get size(): number {
    return this.#open.size
  }
}
