/**
 * The block format of the chain node.
 *
 *   header = { chainId, height, time, parentHash, proposer, txRoot, txCount, stateHash }
 *   block  = { header, hash, txs }         txs: the signed transactions in execution order
 *
 * - `hash` = sha256 hex of the canonical JSON of the header (crypto/canonical.ts). The header
 *   carries the chain id, so two chains never share a block hash.
 * - `parentHash` = hash of the block at height − 1; the genesis header (height 0) has 64 zeros.
 * - `stateHash` = the state hash AFTER executing this block (state/state-hash.ts), so a header
 *   commits to the resulting state; the genesis header carries the genesis state hash.
 * - `txRoot` = binary Merkle root over the tx hashes in block order (RFC 6962 shape):
 *     leaf(h)    = sha256(0x00 ‖ h)              h: the 32-byte tx hash
 *     node(l, r) = sha256(0x01 ‖ l ‖ r)
 *     root of n > 1 leaves = node(root of the first k, root of the rest), k = largest power of 2 < n
 *     root of no leaves    = sha256("") (empty block)
 *   The leaf/node prefixes keep a leaf from being passed off as an inner node; a Merkle root
 *   (rather than one hash over the list) lets a light client prove one tx with log2(n) hashes.
 */
import { createHash, hash } from 'node:crypto'
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { sha256Hex } from '../../crypto/hash.ts'
import { GENESIS_PARENT_HASH } from '../state/state-hash.ts'

export interface BlockHeader {
  readonly chainId: string
  readonly height: number
  readonly time: number
  readonly parentHash: string
  readonly proposer: string
  readonly txRoot: string
  readonly txCount: number
  readonly stateHash: string
}

export { GENESIS_PARENT_HASH }

export function blockHash(header: BlockHeader): string {
  return sha256Hex(canonicalJson(header as unknown as CanonicalValue))
}

const EMPTY_ROOT = createHash('sha256').digest()

/** Merkle root (hex) over tx hashes (hex, 32 bytes each) in block order; see the file comment. */
export function txMerkleRoot(txHashes: readonly string[]): string {
  if (txHashes.length === 0) return EMPTY_ROOT.toString('hex')
  // One-shot crypto.hash over prefix ‖ data: half the CPU of a createHash object per node (a leaf per tx per block).
  const leaves = txHashes.map((h) => hash('sha256', Buffer.from(`00${h}`, 'hex'), 'buffer'))
  return merkle(leaves, 0, leaves.length).toString('hex')
}

const NODE_PREFIX = Buffer.of(1)

function merkle(leaves: readonly Buffer[], start: number, end: number): Buffer {
  const n = end - start
  if (n === 1) return leaves[start]!
  let k = 1
  while (k * 2 < n) k *= 2
  const left = merkle(leaves, start, start + k)
  const right = merkle(leaves, start + k, end)
  return hash('sha256', Buffer.concat([NODE_PREFIX, left, right], 65), 'buffer')
}

/** The header of height 0: the chain's genesis state, no transactions. */
export function genesisHeader(chainId: string, genesisTime: number, stateHash: string): BlockHeader {
  return {
    chainId,
    height: 0,
    time: genesisTime,
    parentHash: GENESIS_PARENT_HASH,
    proposer: '',
    txRoot: txMerkleRoot([]),
    txCount: 0,
    stateHash,
  }
}
