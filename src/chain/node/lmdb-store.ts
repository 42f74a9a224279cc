/**
 * The chain node's persistent store: one LMDB environment in `dataDir/chain` with three named
 * databases:
 *
 *   state    state key (ASCII string)  → value bytes          the BatchKvStore the ChainApp runs on
 *   blocks   height (number)           → stored block, canonical JSON text (see StoredBlock)
 *   txs      tx hash (hex)             → { height, index, result }, canonical JSON text
 *   account-txs  `{address}/{height:12}/{index:6}` → tx hash   every tx an address sent or received (wallet history)
 *
 * Atomicity: the state machine commits a block with ONE `writeBatch` (state writes + its `app/`
 * height/time/state-hash keys). The node stages the block record and its tx index entries with
 * `withBlock(...)` around that commit, and `writeBatch` writes all of it in ONE synchronous LMDB
 * transaction (`transactionSync`, fsynced before it returns). So after a kill -9 at any moment the
 * store holds either the whole block — state, block and tx index — or none of it, and a block is
 * durable before the node announces it (SSE, /txs/:hash).
 *
 * Key order: string keys use lmdb's ordered-binary encoding (UTF-8 bytes), which for our ASCII
 * keys is the JS string order `iterate(prefix)` promises.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { StratosError } from '../../errors.ts'
import type { BatchKvStore, KvWrite } from '../state/kv.ts'

/** Sorts after every ASCII key: the exclusive end of a prefix range. */
const PREFIX_END = '\uffff'

/** What a block commit adds next to the state writes. */
export interface BlockRecordWrite {
  readonly height: number
  /** Canonical JSON text of the stored block. */
  readonly blockJson: string
  /** [tx hash, canonical JSON text of { height, index, result }]. */
  readonly txs: ReadonlyArray<readonly [string, string]>
  /** [accountTxKey(address, height, index), tx hash]: the history index of the addresses each tx touches. */
  readonly accountTxs?: ReadonlyArray<readonly [string, string]>
}

/** Key of the account history index: ordered by height, then position in the block. */
export function accountTxKey(address: string, height: number, index: number): string {
  return `${address}/${String(height).padStart(12, '0')}/${String(index).padStart(6, '0')}`
}

/** One entry of an account's history. */
export interface AccountTxRef {
  hash: string
  height: number
  index: number
}

/** BatchKvStore on the `state` database; `writeBatch` also writes a staged block record. */
export class LmdbKvStore implements BatchKvStore {
  readonly #root: RootDatabase
  readonly #state: Database<Buffer, string>
  readonly #blocks: Database<string, number>
  readonly #txs: Database<string, string>
  readonly #accountTxs: Database<string, string>
  #staged: BlockRecordWrite | undefined

  constructor(
    root: RootDatabase,
    state: Database<Buffer, string>,
    blocks: Database<string, number>,
    txs: Database<string, string>,
    accountTxs: Database<string, string>,
  ) {
    this.#root = root
    this.#state = state
    this.#blocks = blocks
    this.#txs = txs
    this.#accountTxs = accountTxs
  }

  get(key: string): Uint8Array | undefined {
    return this.#state.get(key)
  }

  set(key: string, value: Uint8Array): void {
    this.#state.putSync(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength))
  }

  delete(key: string): void {
    this.#state.removeSync(key)
  }

  iterate(prefix: string): Iterable<readonly [string, Uint8Array]> {
    // getRange reads in a snapshot (read transaction) taken when iteration starts; the result is
    // materialised so that snapshot is not held open across the caller's writes.
    const range =
      prefix === '' ? this.#state.getRange({}) : this.#state.getRange({ start: prefix, end: prefix + PREFIX_END })
    const out: Array<readonly [string, Uint8Array]> = []
    for (const { key, value } of range) out.push([key, value])
    return out
  }

  writeBatch(writes: readonly KvWrite[]): void {
    const staged = this.#staged
    this.#staged = undefined
    this.#root.transactionSync(() => {
      for (const [k, v] of writes) {
        if (v === null) this.#state.remove(k)
        else this.#state.put(k, Buffer.from(v.buffer, v.byteOffset, v.byteLength))
      }
      if (staged) {
        this.#blocks.put(staged.height, staged.blockJson)
        for (const [hash, json] of staged.txs) this.#txs.put(hash, json)
        for (const [key, hash] of staged.accountTxs ?? []) this.#accountTxs.put(key, hash)
      }
    })
  }

  /**
   * Runs `commit` (which must call `writeBatch` once, as PendingBlock.commit does) with `record`
   * staged, so the block record lands in the same transaction as the block's state.
   */
  withBlock(record: BlockRecordWrite, commit: () => void): void {
    this.#staged = record
    try {
      commit()
      if (this.#staged) throw new StratosError('INTERNAL', 'block commit did not write a batch')
    } finally {
      this.#staged = undefined
    }
  }
}

export class LmdbChainStore {
  readonly state: LmdbKvStore
  readonly #root: RootDatabase
  readonly #blocks: Database<string, number>
  readonly #txs: Database<string, string>
  readonly #accountTxs: Database<string, string>

  private constructor(root: RootDatabase) {
    this.#root = root
    const state = root.openDB<Buffer, string>({ name: 'state', encoding: 'binary' })
    this.#blocks = root.openDB<string, number>({ name: 'blocks', encoding: 'string' })
    this.#txs = root.openDB<string, string>({ name: 'txs', encoding: 'string' })
    this.#accountTxs = root.openDB<string, string>({ name: 'account-txs', encoding: 'string' })
    this.state = new LmdbKvStore(root, state, this.#blocks, this.#txs, this.#accountTxs)
  }

  /** Opens (creating) the environment in `dataDir/chain`. */
  static open(dataDir: string): LmdbChainStore {
    const path = join(dataDir, 'chain')
    mkdirSync(path, { recursive: true })
    // maxDbs: the four named databases; default (synchronous, fsynced) commits.
    return new LmdbChainStore(open({ path, maxDbs: 4 }))
  }

  /** Stored block JSON at `height`, or undefined. */
  blockJson(height: number): string | undefined {
    return this.#blocks.get(height)
  }

  /** Highest stored block height, or undefined for an empty store. */
  lastBlockHeight(): number | undefined {
    for (const key of this.#blocks.getKeys({ reverse: true, limit: 1 })) return key
    return undefined
  }

  txJson(hash: string): string | undefined {
    return this.#txs.get(hash)
  }

  /**
   * The newest `limit` txs that `address` sent or received, newest first, below height `beforeHeight` when given
   * (the next page starts below the last entry's height). Blocks committed before this index existed are not in it.
   */
  accountTxs(address: string, limit: number, beforeHeight?: number): AccountTxRef[] {
    // Reverse ranges include `start`: `{address}/{height}` sorts just below every key of that height.
    const start =
      beforeHeight === undefined ? `${address}/${PREFIX_END}` : `${address}/${String(beforeHeight).padStart(12, '0')}`
    const out: AccountTxRef[] = []
    for (const { key, value } of this.#accountTxs.getRange({ start, end: `${address}/`, reverse: true, limit })) {
      const [, height, index] = key.split('/')
      out.push({ hash: value, height: Number(height), index: Number(index) })
    }
    return out
  }

  /** Writes a block record on its own (only the genesis header, whose state is already written). */
  putBlockRecord(record: BlockRecordWrite): void {
    this.#root.transactionSync(() => {
      this.#blocks.put(record.height, record.blockJson)
      for (const [hash, json] of record.txs) this.#txs.put(hash, json)
    })
  }

  async close(): Promise<void> {
    await this.#root.close()
  }
}
