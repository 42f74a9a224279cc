/**
 * The shard → file index (`shardFiles` [shard, cid] → true): which records name a shard id.
 *
 * The `refs` keyspace already answers "which shards does node N hold" ([node, shard], a range scan); this index
 * answers the next question, "which segments of which files use that shard", so when a node goes bad the checker
 * walks only that node's shards instead of every file. A shard id names bytes, so two files with an identical
 * segment share it: several [shard, cid] keys per shard. Repair moves a shard to another node but never changes its
 * id, so only commit (a new record) and the last owner's delete (record gone) touch this index.
 *
 * Kept by uploads.ts (commit) and files.ts (delete) inside their write transactions; `backfill` indexes records
 * written before the index existed (idempotent, run by the slow sweep).
 */
import type { FileRecord, MetaStore } from '../store.ts'
import { KEY_STRING_MAX } from '../store.ts'

/** Inside store.write(): the record's shards point back to it. */
export function indexRecordShards(store: MetaStore, r: Pick<FileRecord, 'cid' | 'segments'>): void {
  for (const seg of r.segments) for (const s of seg.shards) store.shardFiles.putSync([s.id, r.cid], true)
}

/** Inside store.write(): the record is gone. */
export function unindexRecordShards(store: MetaStore, r: Pick<FileRecord, 'cid' | 'segments'>): void {
  for (const seg of r.segments) for (const s of seg.shards) store.shardFiles.removeSync([s.id, r.cid])
}

/** CIDs of the records naming `shard`. */
export function filesWithShard(store: MetaStore, shard: string): string[] {
  const out: string[] = []
  for (const key of store.shardFiles.getKeys({ start: [shard, ''], end: [shard, KEY_STRING_MAX] })) out.push(key[1])
  return out
}

/** Whether the record's first shard is indexed (records are indexed whole, in one transaction). */
export function isIndexed(store: MetaStore, r: Pick<FileRecord, 'cid' | 'segments'>): boolean {
  const first = r.segments[0]?.shards[0]
  return first === undefined || store.shardFiles.get([first.id, r.cid]) !== undefined
}
