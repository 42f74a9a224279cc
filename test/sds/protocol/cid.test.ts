/** The contract's CID parser (src/sds/protocol/cid.ts): dag-pb or raw, sha2-256, INVALID_CID otherwise. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { DAG_PB_CODE, parseCid, RAW_CODE, SHA2_256_CODE } from '../../../src/sds/protocol/cid.ts'
import { isStratosError } from '../../../src/errors.ts'

const digest = Digest.create(SHA2_256_CODE, new Uint8Array(32).fill(7))

function invalid(s: string): void {
  assert.throws(
    () => parseCid(s),
    (e: unknown) => isStratosError(e, 'INVALID_CID'),
    s,
  )
}

test('dag-pb (v0 and v1) and raw CIDs hashed with sha2-256 parse', () => {
  for (const c of [CID.createV0(digest), CID.createV1(DAG_PB_CODE, digest), CID.createV1(RAW_CODE, digest)]) {
    assert.equal(parseCid(c.toString()).toString(), c.toString())
  }
})

test('malformed text, another codec or another hash: INVALID_CID', () => {
  invalid('')
  invalid('not-a-cid')
  invalid(CID.createV1(0x71, digest).toString()) // dag-cbor
  invalid(CID.createV1(RAW_CODE, Digest.create(0x13, new Uint8Array(64))).toString()) // sha2-512
})
