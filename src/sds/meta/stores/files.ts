/**
 * The files subsystem's store: it owns the stored records and everything keyed by them —
 *
 *   files        cid                 → FileRecord (layout and owners; its DAG blocks live apart)
 *   blocks       [cid, i]            → bytes of the i-th inner DAG block (a file read never loads them)
 *   owners       [owner, cid]        → OwnerEntry (createdAt plus the summary `ls` prints; `public` when published)
 *   publicFiles  cid                 → publisher: the public files, for anonymous listing
 *   blockIndex   [digest hex, cid]   → true: record `cid` holds the DAG block with that sha256 (blocks.ts)
 *   shardFiles   [shard, cid]        → true: record `cid` names shard id `shard` (repair walks a bad node's shards)
 *   meta         'counters:NNNN'     → Counters (records and file bytes) of the records whose CID hashes to shard NNNN
 *                                       (COUNTER_SHARDS of them, summed on read: commits of different files write
 *                                       different rows, so concurrent commits rarely conflict on one; an index
 *                                       written before the shards has one 'counters' row, one written with 64
 *                                       shards 'counters:NN' rows, all counted in too — only the sum means anything,
 *                                       so a record counted into one row may be counted out of another);
 *                'blockIndexReady'   → true once backfilled
 *                                       (the `meta` table's other keys are MetaStore's: one owner per key)
 *
 * so a record, its owner entries, blocks and indexes change together in one named operation (create, setOwner,
 * removeOwner, setSegments). files.ts, uploads.ts (commit), access.ts, repair/ and blocks.ts go through it.
 * The shard references a record holds are the location ledger's (stores/locations.ts): callers add and release
 * them in the same write().
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { FileRecordView, SegmentRecord } from '../../protocol/api.ts'
import { blockDigests } from '../blocks.ts'
import { KEY_STRING_MAX, type PrefetchRead, type RangeOptions, type Table } from '../engine/table.ts'

export type FileKind = FileRecordView['kind']

/** A stored file: the API view without live node state, plus where its DAG blocks are. */
export interface FileRecord extends Omit<FileRecordView, 'nodes' | 'owners' | 'public'> {
  owners: string[]
  /** How many inner DAG blocks are stored under `blocks` [cid, 0..blockCount). */
  blockCount: number
  /** Set when the file is public: the owner who published it, whose ozone pays strangers' reads (access.ts). */
  publicBy?: string
}

export interface OwnerEntry {
  createdAt: number
  kind: FileKind
  size: number
  name?: string
  /** This owner published the file (anyone may read it, paid by this owner). */
  public?: boolean
}

export interface Counters {
  files: number
  /** Sum of the sizes of kind 'file' records. */
  fileBytes: number
}

const COUNTERS = 'counters'
/**
 * Rows the counters are spread over (meta 'counters:0000' … ), each written only by commits of its files. Two commits
 * in flight at once that hit one row conflict (PostgreSQL: one runs again): with 64 rows and ~16 commits in flight,
 * measured, about one commit in five did; with 1024, about one in seventy. A status read sums them all (one range).
 */
const COUNTER_SHARDS = 1024

/** The counters row of a record: `counters:NNNN`, NNNN from an FNV-1a hash of its CID. */
function counterKey(cid: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < cid.length; i++) h = Math.imul(h ^ cid.charCodeAt(i), 0x01000193)
  return `${COUNTERS}:${((h >>> 0) % COUNTER_SHARDS).toString().padStart(4, '0')}`
}
/** Marks (in `meta`) that every stored record's blocks are in the block index. */
const BLOCK_INDEX_READY = 'blockIndexReady'

type Pair = [string, string]

/** Tables of the FileStore (store.ts opens them). */
export interface FileTables {
  files: Table<FileRecord, string>
  blocks: Table<Uint8Array, [string, number]>
  owners: Table<OwnerEntry, Pair>
  publicFiles: Table<string, string>
  blockIndex: Table<true, Pair>
  shardFiles: Table<true, Pair>
  meta: Table<unknown, string>
}

export interface FileStore {
  get(cid: string): FileRecord | undefined
  /** The record's inner DAG blocks, in the order the upload gave them. */
  blocks(cid: string): Uint8Array[]
  ownerEntry(owner: string, cid: string): OwnerEntry | undefined
  /** The reads `ownerEntry` makes for these records of `owner`, for MetaStore.prefetch. */
  ownerEntryReads(owner: string, cids: readonly string[]): PrefetchRead[]
  /** `owner`'s files in CID order after `after` ('' = from the start), at most `limit`. */
  ownedBy(owner: string, after: string, limit: number): { cid: string; entry: OwnerEntry }[]
  /** Public files in CID order after `after` ('' = from the start), at most `limit`. */
  publicAfter(after: string, limit: number): { cid: string; record: FileRecord }[]
  /** The first `limit` public CIDs after `after` (the keys publicAfter reads first: prefetch their records). */
  publicCids(after: string, limit: number): string[]
  /** Records in CID order after `after` ('' = from the start), at most `limit` (repair's slow sweep). */
  scan(after: string, limit: number): { cid: string; record: FileRecord }[]
  /**
   * Inside write(): stores a new record of one owner (`record.owners` = [owner]) with its owner entry, inner blocks
   * (findable by digest), shard index and counters. Returns the stored record (publisher set).
   */
  create(record: FileRecord, owner: string, entry: OwnerEntry, blocks: readonly Uint8Array[]): FileRecord
  /** Inside write(): `owner` joins `record` or changes its entry (visibility); the publisher follows. */
  setOwner(record: FileRecord, owner: string, entry: OwnerEntry): FileRecord
  /**
   * Inside write(): `owner` leaves `record`. Answers the record left, or undefined when that was its last owner:
   * then the record, blocks and indexes are gone and the counters count it out (its shard refs are the caller's).
   */
  removeOwner(record: FileRecord, owner: string): FileRecord | undefined
  /** Inside write(): a repair moved shards; the record's segments are replaced (shard ids never change). */
  setSegments(cid: string, segments: SegmentRecord[]): void
  /** Records holding the block with this sha256 (hex), in CID order, at most `limit`. */
  blockHolders(digestHex: string, limit: number): string[]
  /** CIDs of the records naming shard id `shard`. */
  filesWithShard(shard: string): string[]
  /** The reads `filesWithShard` makes for these shards, for MetaStore.prefetch. */
  filesWithShardReads(shards: string[]): PrefetchRead[]
  /** The record's shards are in the shard index (records are indexed whole, in one transaction). */
  shardsIndexed(record: Pick<FileRecord, 'cid' | 'segments'>): boolean
  /** Inside write(): indexes a record written before the shard index existed (idempotent). */
  indexShards(record: Pick<FileRecord, 'cid' | 'segments'>): void
  counters(): Counters
  /** The reads `counters` makes, for MetaStore.prefetch. */
  countersReads(): PrefetchRead[]
  /** Inside write(): indexes the blocks of records committed before the block index existed; once per index. */
  backfillBlockIndex(): number
  /** The block index needs a backfill (an index written by older software). */
  blockIndexPending(): boolean
  /** The reads `get` makes for these records, and the counters' (a commit's), for MetaStore.prefetch. */
  reads(cids: string[]): PrefetchRead[]
  /** The reads `shardsIndexed` makes for these records, for MetaStore.prefetch. */
  shardIndexReads(records: Pick<FileRecord, 'cid' | 'segments'>[]): PrefetchRead[]
}

export class TableFileStore implements FileStore {
  readonly #t: FileTables

  constructor(tables: FileTables) {
    this.#t = tables
  }

  reads(cids: string[]): PrefetchRead[] {
    return [
      { table: this.#t.files, keys: cids },
      { table: this.#t.meta, keys: cids.map(counterKey) },
    ]
  }

  shardIndexReads(records: Pick<FileRecord, 'cid' | 'segments'>[]): PrefetchRead[] {
    const keys: Pair[] = []
    for (const r of records) {
      const first = r.segments[0]?.shards[0]
      if (first !== undefined) keys.push([first.id, r.cid])
    }
    return [{ table: this.#t.shardFiles, keys }]
  }

  get(cid: string): FileRecord | undefined {
    return this.#t.files.get(cid)
  }

  blocks(cid: string): Uint8Array[] {
    return [...this.#t.blocks.getRange({ start: [cid, 0], end: [cid, Number.MAX_SAFE_INTEGER] })].map((e) => e.value)
  }

  ownerEntry(owner: string, cid: string): OwnerEntry | undefined {
    return this.#t.owners.get([owner, cid])
  }

  ownerEntryReads(owner: string, cids: readonly string[]): PrefetchRead[] {
    return [{ table: this.#t.owners, keys: cids.map((cid): Pair => [owner, cid]) }]
  }

  ownedBy(owner: string, after: string, limit: number): { cid: string; entry: OwnerEntry }[] {
    const out: { cid: string; entry: OwnerEntry }[] = []
    for (const { key, value } of this.#t.owners.getRange({
      start: [owner, after],
      end: [owner, KEY_STRING_MAX],
      limit: limit + 1,
    })) {
      if (after !== '' && key[1] === after) continue
      if (out.length >= limit) break
      out.push({ cid: key[1], entry: value })
    }
    return out
  }

  publicCids(after: string, limit: number): string[] {
    return [...this.#t.publicFiles.getKeys({ start: after, limit: limit + 1 })]
      .filter((cid) => after === '' || cid !== after)
      .slice(0, limit)
  }

  publicAfter(after: string, limit: number): { cid: string; record: FileRecord }[] {
    const out: { cid: string; record: FileRecord }[] = []
    // A page of keys at a time (a bounded range inside a PostgreSQL transaction; publicCids, for prefetching).
    for (let start = after; ; ) {
      const cids = this.publicCids(start, limit)
      for (const cid of cids) {
        const record = this.#t.files.get(cid)
        if (record) out.push({ cid, record })
        if (out.length >= limit) return out
      }
      if (cids.length < limit) return out
      start = cids[cids.length - 1]!
    }
  }

  scan(after: string, limit: number): { cid: string; record: FileRecord }[] {
    const out: { cid: string; record: FileRecord }[] = []
    for (const { key, value } of this.#t.files.getRange({ start: after, limit: limit + 1 })) {
      if (after !== '' && key === after) continue
      if (out.length >= limit) break
      out.push({ cid: key, record: value })
    }
    return out
  }

  create(record: FileRecord, owner: string, entry: OwnerEntry, blocks: readonly Uint8Array[]): FileRecord {
    const cid = record.cid
    this.#t.owners.putSync([owner, cid], entry)
    const stored = this.#putWithPublisher(record)
    for (let i = 0; i < blocks.length; i++) this.#t.blocks.putSync([cid, i], blocks[i])
    for (const d of blockDigests(record.kind, blocks)) this.#t.blockIndex.putSync([d, cid], true)
    this.indexShards(record)
    this.#addCounters(cid, 1, record.kind === 'file' ? record.size : 0)
    return stored
  }

  setOwner(record: FileRecord, owner: string, entry: OwnerEntry): FileRecord {
    this.#t.owners.putSync([owner, record.cid], entry)
    const owners = record.owners.includes(owner) ? record.owners : [...record.owners, owner]
    return this.#putWithPublisher({ ...record, owners })
  }

  removeOwner(record: FileRecord, owner: string): FileRecord | undefined {
    const cid = record.cid
    this.#t.owners.removeSync([owner, cid])
    const owners = record.owners.filter((o) => o !== owner)
    if (owners.length > 0) return this.#putWithPublisher({ ...record, owners })
    const blocks = this.blocks(cid)
    this.#t.files.removeSync(cid)
    this.#t.publicFiles.removeSync(cid)
    for (const d of blockDigests(record.kind, blocks)) this.#t.blockIndex.removeSync([d, cid])
    for (const seg of record.segments) for (const s of seg.shards) this.#t.shardFiles.removeSync([s.id, cid])
    for (let i = 0; i < record.blockCount; i++) this.#t.blocks.removeSync([cid, i])
    this.#addCounters(cid, -1, record.kind === 'file' ? -record.size : 0)
    return undefined
  }

  setSegments(cid: string, segments: SegmentRecord[]): void {
    const r = this.#t.files.get(cid)
    if (r) this.#t.files.putSync(cid, { ...r, segments })
  }

  blockHolders(digestHex: string, limit: number): string[] {
    const out: string[] = []
    for (const key of this.#t.blockIndex.getKeys({ start: [digestHex, ''], end: [digestHex, KEY_STRING_MAX] })) {
      if (out.length >= limit) break
      out.push(key[1])
    }
    return out
  }

  filesWithShard(shard: string): string[] {
    const out: string[] = []
    for (const key of this.#t.shardFiles.getKeys({ start: [shard, ''], end: [shard, KEY_STRING_MAX] })) out.push(key[1])
    return out
  }

  filesWithShardReads(shards: string[]): PrefetchRead[] {
    const ranges = shards.map((shard) => ({
      options: { start: [shard, ''], end: [shard, KEY_STRING_MAX] } as RangeOptions,
      keysOnly: true,
    }))
    return [{ table: this.#t.shardFiles, keys: [], ranges }]
  }

  shardsIndexed(r: Pick<FileRecord, 'cid' | 'segments'>): boolean {
    const first = r.segments[0]?.shards[0]
    return first === undefined || this.#t.shardFiles.get([first.id, r.cid]) !== undefined
  }

  indexShards(r: Pick<FileRecord, 'cid' | 'segments'>): void {
    for (const seg of r.segments) for (const s of seg.shards) this.#t.shardFiles.putSync([s.id, r.cid], true)
  }

  countersReads(): PrefetchRead[] {
    return [
      {
        table: this.#t.meta,
        keys: [COUNTERS],
        ranges: [{ options: { start: `${COUNTERS}:`, end: `${COUNTERS}:${KEY_STRING_MAX}` } }],
      },
    ]
  }

  counters(): Counters {
    const sum = { ...((this.#t.meta.get(COUNTERS) as Counters | undefined) ?? { files: 0, fileBytes: 0 }) }
    for (const { value } of this.#t.meta.getRange({ start: `${COUNTERS}:`, end: `${COUNTERS}:${KEY_STRING_MAX}` })) {
      const c = value as Counters
      sum.files += c.files
      sum.fileBytes += c.fileBytes
    }
    return sum
  }

  blockIndexPending(): boolean {
    return this.#t.meta.get(BLOCK_INDEX_READY) !== true
  }

  backfillBlockIndex(): number {
    if (!this.blockIndexPending()) return 0
    let n = 0
    for (const { key, value } of this.#t.files.getRange()) {
      for (const d of blockDigests(value.kind, this.blocks(key))) this.#t.blockIndex.putSync([d, key], true)
      n++
    }
    this.#t.meta.putSync(BLOCK_INDEX_READY, true)
    return n
  }

  /** Stores `r` with `publicBy` = its first owner (in owner order) whose entry publishes it, or none; keeps the
   * publicFiles index in step. */
  #putWithPublisher(r: FileRecord): FileRecord {
    const publisher = r.owners.find((o) => this.#t.owners.get([o, r.cid])?.public === true)
    const { publicBy: _old, ...rest } = r
    const next: FileRecord = publisher !== undefined ? { ...rest, publicBy: publisher } : rest
    this.#t.files.putSync(r.cid, next)
    if (publisher !== undefined) this.#t.publicFiles.putSync(r.cid, publisher)
    else this.#t.publicFiles.removeSync(r.cid)
    return next
  }

  #addCounters(cid: string, files: number, fileBytes: number): void {
    const key = counterKey(cid)
    const c = (this.#t.meta.get(key) as Counters | undefined) ?? { files: 0, fileBytes: 0 }
    this.#t.meta.putSync(key, { files: c.files + files, fileBytes: c.fileBytes + fileBytes } satisfies Counters)
  }
}
