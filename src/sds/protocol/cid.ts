/**
 * The CIDs of the contract: the meta node indexes dag-pb and raw blocks hashed with sha2-256 (what Kubo's `ipfs add`
 * writes), so a CID the client sends or receives is one of those. `parseCid` is the one parser of such CIDs for
 * both sides of the wire; an IPFS path's root (any CID, ipfs/path.ts) is parsed more leniently on purpose.
 */
import { CID } from 'multiformats/cid'
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
