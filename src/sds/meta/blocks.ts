/**
 * Block index: which stored records hold a given DAG block, so a block can be fetched by CID alone
 * (Kubo's `block/get`, the gateway's `?format=raw` without a root).
 *
 * Keyspace `blockIndex`: [sha256 digest hex, record CID] → true. Keyed by the digest, not the CID string, so a
 * CIDv0 and a CIDv1 dag-pb spelling of one block find it alike. Filled at commit from the inner blocks a commit
 * carries: every inner block of a file or directory, and for files also every block an inner node links to (the
 * leaves, which live only as byte ranges of the file). A one-chunk file has no inner blocks: its root is its record.
 * Removed when the record goes (last owner's delete). Readers still confirm each hit against the records.
 */
import * as dagPb from '@ipld/dag-pb'
import { sha256Hex, toHex } from '../../crypto/hash.ts'
import { SHA2_256_CODE, parseCid } from '../protocol/cid.ts'
import type { FileKind, MetaStore } from './store.ts'

/** Most records one lookup returns. */
export const MAX_BLOCK_HOLDERS = 16

/** The digests a record's blocks make findable (hex sha256, deduplicated). */
export function blockDigests(kind: FileKind, blocks: Uint8Array[]): Set<string> {
  const out = new Set<string>()
  for (const bytes of blocks) {
    out.add(sha256Hex(bytes))
    if (kind !== 'file') continue
    let links: dagPb.PBLink[]
    try {
      links = dagPb.decode(bytes).Links
    } catch {
      continue // commit already refused non-dag-pb blocks; be lenient when unindexing
    }
    for (const l of links) if (l.Hash.multihash.code === SHA2_256_CODE) out.add(toHex(l.Hash.multihash.digest))
  }
  return out
}

/** Inside write(): makes the record's blocks findable by digest. */
export function indexRecordBlocks(store: MetaStore, cid: string, kind: FileKind, blocks: Uint8Array[]): void {
  for (const d of blockDigests(kind, blocks)) store.blockIndex.putSync([d, cid], true)
}

/** Inside write(), before the record's blocks are removed: forgets them. */
export function unindexRecordBlocks(store: MetaStore, cid: string, kind: FileKind, blocks: Uint8Array[]): void {
  for (const d of blockDigests(kind, blocks)) store.blockIndex.removeSync([d, cid])
}

/**
 * The records holding the block `cidText` (a CID string; INVALID_CID if it is not one we index): the record of
 * that CID itself first when there is one, then the records whose DAG contains it. Empty when nobody has it.
 */
export function blockHolders(store: MetaStore, cidText: string): string[] {
  const cid = parseCid(cidText)
  const out: string[] = []
  const own = cid.toString()
  if (store.files.get(own) !== undefined) out.push(own)
  const digest = toHex(cid.multihash.digest)
  for (const key of store.blockIndex.getKeys({ start: [digest, ''], end: [digest, '\uffff'] })) {
    if (out.length >= MAX_BLOCK_HOLDERS) break
    if (key[1] !== own && store.files.get(key[1]) !== undefined) out.push(key[1])
  }
  return out
}

/** Marks (in `meta`) that every stored record's blocks are in the block index. */
const BLOCK_INDEX_READY = 'blockIndexReady'

/**
 * Indexes the blocks of records committed before the block index existed (an index written by older software).
 * Runs once per index, in one transaction, at open.
 */
export async function backfillBlockIndex(store: MetaStore): Promise<number> {
  if (store.meta.get(BLOCK_INDEX_READY) === true) return 0
  return store.write(() => {
    let n = 0
    for (const { key, value } of store.files.getRange()) {
      indexRecordBlocks(store, key, value.kind, store.fileBlocks(key))
      n++
    }
    store.meta.putSync(BLOCK_INDEX_READY, true)
    return n
  })
}
