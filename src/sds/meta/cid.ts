/**
 * CID handling for the index: client-supplied CIDs (parsed by the contract's parseCid, protocol/cid.ts) turned into
 * one canonical string (CIDv0 base58btc, CIDv1 base32) so the same content is one key however it was spelled, and
 * naming DAG blocks the way Kubo does.
 */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import * as dagPb from '@ipld/dag-pb'
import { sha256 } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import { DAG_PB_CODE, parseCid, SHA2_256_CODE } from '../protocol/cid.ts'

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
