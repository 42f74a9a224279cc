/**
 * CID handling for the index: parsing client-supplied CIDs into one canonical string (CIDv0 base58btc, CIDv1
 * base32) so the same content is one key however it was spelled, and naming DAG blocks the way Kubo does.
 */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import * as dagPb from '@ipld/dag-pb'
import { sha256 } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'

export const DAG_PB_CODE = 0x70
export const RAW_CODE = 0x55
export const SHA2_256_CODE = 0x12

/** Parses a CID we can index: dag-pb or raw codec, sha2-256 multihash. INVALID_CID otherwise. */
export function parseCid(s: string): CID {
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch (e) {
    throw new StratosError('INVALID_CID', `not a CID: ${s.slice(0, 100)}`, { cid: s.slice(0, 200) }, { cause: e })
  }
  if (cid.code !== DAG_PB_CODE && cid.code !== RAW_CODE) {
    throw new StratosError('INVALID_CID', `CID codec 0x${cid.code.toString(16)} is not dag-pb or raw`, { cid: s })
  }
  if (cid.multihash.code !== SHA2_256_CODE) {
    throw new StratosError('INVALID_CID', `CID hash 0x${cid.multihash.code.toString(16)} is not sha2-256`, { cid: s })
  }
  return cid
}

/** The canonical key string of a CID. */
export function canonicalCid(s: string): string {
  return parseCid(s).toString()
}

/** CID of a dag-pb block: CIDv0 when the DAG's root is v0 (Kubo's default), CIDv1 dag-pb otherwise. */
export function dagPbBlockCid(bytes: Uint8Array, version: 0 | 1): string {
  const digest = Digest.create(SHA2_256_CODE, sha256(bytes))
  return (version === 0 ? CID.createV0(digest) : CID.createV1(DAG_PB_CODE, digest)).toString()
}

/** Throws BAD_REQUEST when bytes are not a dag-pb node. */
export function assertDagPbBlock(bytes: Uint8Array, index: number): void {
  try {
    dagPb.decode(bytes)
  } catch (e) {
    throw new StratosError('BAD_REQUEST', `DAG block ${index} is not a dag-pb node`, { block: index }, { cause: e })
  }
}
