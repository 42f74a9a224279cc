import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { issueTicket, encodeTicketHeader, verifyTicket } from '../../../src/sds/protocol/ticket.ts'
import {
  DOMAIN,
  signAsWallet,
  verifyNodeSigned,
  verifyOwnNodeSigned,
  verifyWalletSigned,
  ReplayGuard,
} from '../../../src/sds/protocol/signing.ts'
import { computeShardId, ShardHasher, chunkHashesMatch, shardSizeFor } from '../../../src/sds/protocol/shard.ts'
import { canonicalJson } from '../../../src/crypto/canonical.ts'
import { isStratosError } from '../../../src/errors.ts'
import { seededRandom } from '../../../src/util/components.ts'

const chainId = 'test-chain'
const meta = NodeKey.generate(seededRandom(1))
const node = NodeKey.generate(seededRandom(2))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const shard = 'ab'.repeat(32)
const now = 1_700_000_000_000

function ticket(overrides: Partial<Parameters<typeof issueTicket>[0]> = {}) {
  return issueTicket({
    key: meta,
    chainId,
    op: 'put',
    node: node.address,
    shard,
    size: 100,
    payer: wallet.address,
    context: 'u',
    orderKey: 'A'.repeat(43),
    now,
    ...overrides,
  })
}

function check(header: string | undefined, over: Partial<Parameters<typeof verifyTicket>[0]> = {}) {
  return verifyTicket({
    header,
    chainId,
    now: now + 1000,
    trustedIssuers: new Set([meta.address]),
    node: node.address,
    op: 'put',
    shard,
    ...over,
  })
}

function assertCode(fn: () => unknown, code: string) {
  assert.throws(fn, (e) => isStratosError(e) && e.code === code)
}

test('a valid ticket verifies', () => {
  const t = check(encodeTicketHeader(ticket()))
  assert.equal(t.size, 100)
  assert.match(node.address, /^stsds1/)
  assert.match(wallet.address, /^st1/)
})

test('missing, forged, expired, foreign and mismatched tickets are refused with stable codes', () => {
  assertCode(() => check(undefined), 'TICKET_MISSING')
  assertCode(() => check('not-base64-json'), 'TICKET_INVALID')
  const forged = ticket()
  forged.payload = { ...forged.payload, size: 10_000 }
  assertCode(() => check(encodeTicketHeader(forged)), 'TICKET_INVALID')
  assertCode(() => check(encodeTicketHeader(ticket({ now: now - 3_600_000 }))), 'TICKET_EXPIRED')
  const stranger = NodeKey.generate(seededRandom(3))
  assertCode(() => check(encodeTicketHeader(ticket({ key: stranger }))), 'UNTRUSTED_ISSUER')
  assertCode(() => check(encodeTicketHeader(ticket({ node: stranger.address }))), 'TICKET_WRONG_NODE')
  assertCode(() => check(encodeTicketHeader(ticket({ op: 'get' }))), 'TICKET_MISMATCH')
  assertCode(() => check(encodeTicketHeader(ticket({ chainId: 'other' }))), 'WRONG_CHAIN')
})

test('a node checks its own signature by signing again: same answers and codes as verifying it', () => {
  const opts = { chainId, now: now + 1000, trustedSigners: new Set([meta.address]) }
  const own = ticket()
  assert.deepEqual(verifyOwnNodeSigned(DOMAIN.ticket, meta, own, opts, 'TICKET_INVALID'), own.payload)
  assert.deepEqual(verifyNodeSigned(DOMAIN.ticket, own, opts, 'TICKET_INVALID'), own.payload)
  // A changed payload, a changed signature, another domain: refused like verifyNodeSigned refuses them.
  const cases = [
    { ...own, payload: { ...own.payload, size: 101 } },
    { ...own, signature: ticket({ size: 101 }).signature },
    { ...own, signature: own.signature.slice(0, -2) },
  ]
  for (const forged of cases) {
    assertCode(() => verifyOwnNodeSigned(DOMAIN.ticket, meta, forged, opts, 'TICKET_INVALID'), 'TICKET_INVALID')
    assertCode(() => verifyNodeSigned(DOMAIN.ticket, forged, opts, 'TICKET_INVALID'), 'TICKET_INVALID')
  }
  assertCode(() => verifyOwnNodeSigned(DOMAIN.receipt, meta, own, opts, 'TICKET_INVALID'), 'TICKET_INVALID')
  // Another node's (valid) ticket is verified the ordinary way: not trusted here.
  const foreign = ticket({ key: node })
  assertCode(() => verifyOwnNodeSigned(DOMAIN.ticket, meta, foreign, opts, 'TICKET_INVALID'), 'UNTRUSTED_ISSUER')
  // Expiry is checked as verifyNodeSigned checks it.
  assertCode(
    () => verifyOwnNodeSigned(DOMAIN.ticket, meta, own, { ...opts, now: now + 10 * 60 * 60_000 }, 'TICKET_INVALID'),
    'REQUEST_EXPIRED',
  )
})

test('wallet-signed requests recover the signer and reject tampering and replays', () => {
  const payload = { chainId, signer: wallet.address, nonce: '00'.repeat(16), expiresAt: now + 60_000, action: 'x' }
  const signed = signAsWallet(wallet, payload)
  assert.deepEqual(verifyWalletSigned(signed, { chainId, now }), payload)
  assertCode(
    () => verifyWalletSigned({ ...signed, payload: { ...payload, action: 'y' } }, { chainId, now }),
    'INVALID_SIGNATURE',
  )
  const guard = new ReplayGuard(10)
  assert.equal(guard.check(payload.nonce, payload.expiresAt, now), true)
  assert.equal(guard.check(payload.nonce, payload.expiresAt, now), false)
})

test('canonical JSON sorts keys and writes bigint as strings', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 2n], c: undefined }), '{"a":[true,null,"2"],"b":1}')
  assertCode(() => canonicalJson({ x: 1.5 }), 'BAD_REQUEST')
})

test('shard ids: streaming hasher equals one-shot, chunk list binds to the id', () => {
  const data = new Uint8Array(700_000).map((_, i) => (i * 31) & 0xff)
  const oneShot = computeShardId(data)
  const h = new ShardHasher()
  for (let i = 0; i < data.length; i += 65_537) h.update(data.subarray(i, i + 65_537))
  const streamed = h.digest()
  assert.equal(streamed.id, oneShot.id)
  assert.ok(chunkHashesMatch(oneShot.id, data.length, oneShot.chunkHashes))
  const bad = oneShot.chunkHashes.slice()
  bad[0] ^= 1
  assert.ok(!chunkHashesMatch(oneShot.id, data.length, bad))
  assert.equal(shardSizeFor(32 * 1024 * 1024, 4), 8 * 1024 * 1024)
  assert.equal(shardSizeFor(13, 4), 8)
})
