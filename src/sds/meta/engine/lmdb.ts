/**
 * The embedded engine (what `npm start` uses): one LMDB environment, one named database per table. The tables are
 * lmdb-js databases as they are; `write(fn)` runs `fn` synchronously inside a child transaction of lmdb-js's next
 * write batch — so no other JS interleaves with it and a throw rolls all of it back — while the commit and the disk
 * flush happen on lmdb's write thread, never blocking the event loop. One process owns the environment.
 */
import { mkdirSync } from 'node:fs'
import { open, type RootDatabase } from 'lmdb'
import { StratosError } from '../../../errors.ts'
import type { Key, PrefetchRead, StorageEngine, Table, WriteOptions } from './table.ts'

export class LmdbEngine implements StorageEngine {
  readonly kind = 'lmdb'
  readonly shared = false
  readonly #root: RootDatabase
  #closed = false

  private constructor(root: RootDatabase) {
    this.#root = root
  }

  static open(path: string, options: { maxTables?: number } = {}): LmdbEngine {
    mkdirSync(path, { recursive: true })
    try {
      return new LmdbEngine(open({ path, maxDbs: options.maxTables ?? 32, compression: false }))
    } catch (e) {
      throw new StratosError(
        'NETWORK_CONFIG',
        `cannot open the meta index at ${path}: ${(e as Error).message}`,
        { path },
        { cause: e },
      )
    }
  }

  openTables<T extends Record<string, Table<unknown, Key>>>(names: readonly (keyof T & string)[]): T {
    // One transaction for all of them: creating each named database on its own costs a synced commit apiece.
    return this.#root.transactionSync(() => {
      const out: Record<string, unknown> = {}
      for (const name of names) out[name] = this.#root.openDB({ name })
      return out as T
    })
  }

  async write<T>(fn: () => T, options: WriteOptions = {}): Promise<T> {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    const result = await this.#root.childTransaction(fn)
    if (options.durable !== false) await this.#root.flushed
    return result
  }

  /** LMDB reads are memory reads: `fn` runs at once. */
  async read<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    return fn()
  }

  /** LMDB reads are memory-mapped: nothing to gain from reading ahead. */
  prefetch(_reads: PrefetchRead[]): void {}

  async ready(): Promise<boolean> {
    return !this.#closed
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#root.flushed
    await this.#root.close()
  }
}
