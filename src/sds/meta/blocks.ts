/**
 * Block index: which stored records hold a given DAG block, so a block can be fetched by CID alone
 * (Kubo's `block/get`, the gateway's `?format=raw` without a root).
 *
 * The index (`blockIndex`, kept by the FileStore, stores/files.ts): [sha256 digest hex, record CID] → true. Keyed by the digest, not the CID string, so a
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
export function blockDigests(kind: FileKind, blocks: readonly Uint8Array[]): Set<string> {
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

/**
 * The records holding the block `cidText` (a CID string; INVALID_CID if it is not one we index): the record of
 * that CID itself first when there is one, then the records whose DAG contains it. Empty when nobody has it.
 */
export function blockHolders(store: MetaStore, cidText: string): string[] {
  const cid = parseCid(cidText)
  const out: string[] = []
  const own = cid.toString()
  if (store.files.get(own) !== undefined) out.push(own)
  // One more than needed: the record itself may be among them. Their records are read together inside a transaction
  // (MetaStore.read on PostgreSQL: one round trip, not one per holder).
  const holders = store.files.blockHolders(toHex(cid.multihash.digest), MAX_BLOCK_HOLDERS + 1)
  store.prefetch(store.files.reads(holders).slice(0, 1))
  for (const holder of holders) {
    if (out.length >= MAX_BLOCK_HOLDERS) break
    if (holder !== own && store.files.get(holder) !== undefined) out.push(holder)
  }
  return out
}
