/** Storage audit protocol: challenge, answer, and what the meta node catches without holding the data. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { fromBase64Url, toBase64Url } from '../../../src/crypto/hash.ts'
import { isStratosError } from '../../../src/errors.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { SHARD_CHUNK_BYTES } from '../../../src/limits.ts'
import { computeShardId } from '../../../src/sds/protocol/shard.ts'
import {
  answerAuditChallenge,
  challengedChunk,
  chunkRange,
  createAuditChallenge,
  verifyAuditAnswer,
  verifyAuditChallenge,
  type AuditAnswer,
} from '../../../src/sds/protocol/audit.ts'
import { DOMAIN, signAsNode } from '../../../src/sds/protocol/signing.ts'

const chainId = 'audit-test-1'
const now = 1_800_000_000_000
const meta = NodeKey.generate(seededRandom(1))
const node = NodeKey.generate(seededRandom(2))
const other = NodeKey.generate(seededRandom(3))

function bytes(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed)
  return r(n)
}

// 3.5 chunks: the last chunk is short.
const data = bytes(3 * SHARD_CHUNK_BYTES + 1000, 9)
const shard = computeShardId(data)

function challenge(random = seededRandom(5)) {
  return createAuditChallenge({ key: meta, chainId, node: node.address, shard: shard.id, now, random })
}

function honestAnswer(c = challenge(), key = node, content = data): AuditAnswer {
  const { id, chunkHashes } = computeShardId(content)
  assert.equal(id, shard.id)
  const { start, end } = chunkRange(challengedChunk(c.payload, content.length), content.length)
  return answerAuditChallenge({
    key,
    challenge: c.payload,
    size: content.length,
    chunkHashes,
    data: content.subarray(start, end),
    now,
  })
}

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    assert.ok(isStratosError(e), String(e))
    return e.code
  }
  return 'OK'
}

test('an honest answer verifies, for every chunk position including the short last one', () => {
  const seen = new Set<number>()
  for (let seed = 1; seen.size < 4 && seed < 200; seed++) {
    const c = challenge(seededRandom(seed))
    const r = verifyAuditAnswer(honestAnswer(c), c.payload, { chainId, now })
    assert.equal(r.shard, shard.id)
    assert.equal(r.size, data.length)
    seen.add(r.chunk)
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3])
})

test('the node checks the challenge: trusted meta signer, its own address, chain, expiry', () => {
  const c = challenge()
  const trusted = new Set([meta.address])
  assert.equal(
    verifyAuditChallenge(c, { chainId, now, node: node.address, trustedIssuers: trusted }).nonce,
    c.payload.nonce,
  )
  assert.equal(
    code(() => verifyAuditChallenge(c, { chainId, now, node: other.address, trustedIssuers: trusted })),
    'AUDIT_INVALID',
  )
  assert.equal(
    code(() => verifyAuditChallenge(c, { chainId, now, node: node.address, trustedIssuers: new Set([other.address]) })),
    'UNTRUSTED_ISSUER',
  )
  assert.equal(
    code(() => verifyAuditChallenge(c, { chainId: 'other', now, node: node.address, trustedIssuers: trusted })),
    'WRONG_CHAIN',
  )
  assert.equal(
    code(() => verifyAuditChallenge(c, { chainId, now: now + 3_600_000, node: node.address, trustedIssuers: trusted })),
    'REQUEST_EXPIRED',
  )
  const forged = { ...c, payload: { ...c.payload, shard: '00'.repeat(32) } }
  assert.equal(
    code(() => verifyAuditChallenge(forged, { chainId, now, node: node.address, trustedIssuers: trusted })),
    'INVALID_SIGNATURE',
  )
})

test('wrong chunk: bytes of another chunk, or altered bytes, fail', () => {
  const c = challenge()
  const index = challengedChunk(c.payload, data.length)
  const otherIndex = (index + 1) % 3
  const a = honestAnswer(c)
  const { start, end } = chunkRange(otherIndex, data.length)
  assert.equal(
    code(() => verifyAuditAnswer({ ...a, data: toBase64Url(data.subarray(start, end)) }, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
  const flipped = Buffer.from(fromBase64Url(a.data))
  flipped[17] ^= 0xff
  assert.equal(
    code(() => verifyAuditAnswer({ ...a, data: toBase64Url(flipped) }, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
})

test('a node that lost a chunk cannot answer with a forged chunk list, even one it signs consistently', () => {
  const c = challenge()
  const index = challengedChunk(c.payload, data.length)
  // The node lost chunk `index` and makes up bytes, signing a chunk-hash list and proof that match them.
  const fake = Buffer.from(data)
  const { start, end } = chunkRange(index, data.length)
  fake.fill(7, start, end)
  const forged = computeShardId(fake)
  const answer = answerAuditChallenge({
    key: node,
    challenge: c.payload,
    size: fake.length,
    chunkHashes: forged.chunkHashes,
    data: fake.subarray(start, end),
    now,
  })
  assert.equal(
    code(() => verifyAuditAnswer(answer, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
  // Claiming another size does not help either.
  const short = answerAuditChallenge({
    key: node,
    challenge: c.payload,
    size: data.length - 1,
    chunkHashes: shard.chunkHashes,
    data: data.subarray(start, end),
    now,
  })
  assert.equal(
    code(() => verifyAuditAnswer(short, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
})

test('stale nonce: an answer recorded for an earlier challenge fails the next one', () => {
  const first = challenge(seededRandom(11))
  let second = challenge(seededRandom(12))
  // Same chunk for both, so only the nonce differs.
  for (let s = 13; challengedChunk(second.payload, data.length) !== challengedChunk(first.payload, data.length); s++)
    second = challenge(seededRandom(s))
  const old = honestAnswer(first)
  assert.equal(
    code(() => verifyAuditAnswer(old, second.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
  // Re-signing the old bytes under the new nonce without recomputing the proof fails too.
  const resigned = signAsNode(DOMAIN.auditResponse, node, { ...old.response.payload, nonce: second.payload.nonce })
  assert.equal(
    code(() => verifyAuditAnswer({ ...old, response: resigned }, second.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
})

test('wrong node: another node answering (even with the right bytes), or a forged signature, fails', () => {
  const c = challenge()
  assert.equal(
    code(() => verifyAuditAnswer(honestAnswer(c, other), c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
  const a = honestAnswer(c)
  const tampered = {
    ...a,
    response: { ...a.response, payload: { ...a.response.payload, chunk: a.response.payload.chunk + 1 } },
  }
  assert.equal(
    code(() => verifyAuditAnswer(tampered, c.payload, { chainId, now })),
    'INVALID_SIGNATURE',
  )
  const stolenKey = { ...a, response: { ...a.response, signer: other.address } }
  assert.equal(
    code(() => verifyAuditAnswer(stolenKey, c.payload, { chainId, now })),
    'INVALID_SIGNATURE',
  )
})

test('an answer for another shard, or a malformed one, fails', () => {
  const c = challenge()
  const otherData = bytes(1000, 77)
  const o = computeShardId(otherData)
  const oc = createAuditChallenge({ key: meta, chainId, node: node.address, shard: o.id, now, random: seededRandom(5) })
  const answer = answerAuditChallenge({
    key: node,
    challenge: oc.payload,
    size: otherData.length,
    chunkHashes: o.chunkHashes,
    data: otherData,
    now,
  })
  assert.equal(
    code(() => verifyAuditAnswer(answer, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
  assert.equal(
    code(() => verifyAuditAnswer({ response: honestAnswer(c).response, data: '!!' }, c.payload, { chainId, now })),
    'AUDIT_INVALID',
  )
})
