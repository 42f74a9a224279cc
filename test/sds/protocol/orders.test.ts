/** Orders (Proof of Traffic): signing, header coding, verification against a limit, the settlement batch schema. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../../src/errors.ts'
import { CLOCK_SKEW_MS, MAX_ORDER_HEADER_BYTES, MAX_SETTLE_BATCH } from '../../../src/limits.ts'
import { issueTicket } from '../../../src/sds/protocol/ticket.ts'
import {
  ORDER_HEADER,
  OrderSigner,
  decodeOrderHeader,
  encodeOrderHeader,
  signOrder,
  verifyOrder,
} from '../../../src/sds/protocol/orders.ts'
import { DOMAIN, signAsNode, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { META_ROUTES, zSettleOrdersBody } from '../../../src/sds/protocol/api.ts'
import { seededRandom } from '../../../src/util/components.ts'

const chainId = 'orders-unit'
const meta = NodeKey.generate(seededRandom(81))
const node = NodeKey.generate(seededRandom(82))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const now = 1_700_000_000_000

function limit(orderKey: string, size = 1000) {
  return issueTicket({
    key: meta,
    chainId,
    op: 'get',
    node: node.address,
    shard: 'ef'.repeat(32),
    size,
    payer: wallet.address,
    context: 'cid',
    orderKey,
    now,
  })
}

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (isStratosError(e)) return e.code
    throw e
  }
  return 'OK'
}

test('OrderSigner signs cumulative bytes per serial, capped at the limit', () => {
  const signer = new OrderSigner(NodeKey.generate(seededRandom(83)))
  const a = limit(signer.publicKey).payload
  const b = limit(signer.publicKey).payload
  assert.equal(signer.next(a, 300, now).payload.bytes, 300)
  assert.equal(signer.next(b, 10, now).payload.bytes, 10)
  assert.equal(signer.next(a, 400, now).payload.bytes, 700)
  assert.equal(signer.next(a, 400, now).payload.bytes, 1000, 'capped at the limit size')
  assert.equal(signer.signed(a.serial), 1000)
  assert.equal(signer.signed('00'.repeat(16)), 0)
  const o = signer.next(b, 5, now + 7)
  assert.deepEqual(o.payload, { v: 1, chainId, serial: b.serial, bytes: 15, signedAt: now + 7 })
  assert.equal(verifyOrder({ ticket: b, order: o, chainId }).bytes, 15)
})

test('verifyOrder: chain, serial, key, signature, size and expiry each have their code', () => {
  const key = NodeKey.generate(seededRandom(84))
  const signer = new OrderSigner(key)
  const t = limit(signer.publicKey).payload
  const good = signOrder(key, { v: 1, chainId, serial: t.serial, bytes: 1000, signedAt: now })
  assert.equal(
    code(() => verifyOrder({ ticket: t, order: good, chainId })),
    'OK',
  )
  const other = limit(signer.publicKey).payload
  const cases: [string, () => unknown, string][] = [
    ['other chain', () => verifyOrder({ ticket: t, order: good, chainId: 'x' }), 'ORDER_INVALID'],
    ['other serial', () => verifyOrder({ ticket: other, order: good, chainId }), 'ORDER_INVALID'],
    [
      'other key',
      () => verifyOrder({ ticket: t, order: signOrder(NodeKey.generate(seededRandom(85)), good.payload), chainId }),
      'ORDER_INVALID',
    ],
    [
      'tampered bytes',
      () => verifyOrder({ ticket: t, order: { ...good, payload: { ...good.payload, bytes: 999 } }, chainId }),
      'ORDER_INVALID',
    ],
    [
      'bad signature encoding',
      () => verifyOrder({ ticket: t, order: { ...good, signature: 'not base64url!' }, chainId }),
      'ORDER_INVALID',
    ],
    [
      'above the limit',
      () => verifyOrder({ ticket: t, order: signOrder(key, { ...good.payload, bytes: 1001 }), chainId }),
      'ORDER_LIMIT_EXCEEDED',
    ],
    [
      'signed after expiry',
      () =>
        verifyOrder({
          ticket: t,
          order: signOrder(key, { ...good.payload, signedAt: t.expiresAt + CLOCK_SKEW_MS + 1 }),
          chainId,
        }),
      'ORDER_INVALID',
    ],
  ]
  for (const [what, fn, expected] of cases) assert.equal(code(fn), expected, what)
  assert.equal(
    code(() =>
      verifyOrder({
        ticket: t,
        order: signOrder(key, { ...good.payload, signedAt: t.expiresAt + CLOCK_SKEW_MS }),
        chainId,
      }),
    ),
    'OK',
    'skew tolerated',
  )
})

test('order header: round trip; missing, oversized and malformed headers', () => {
  const key = NodeKey.generate(seededRandom(86))
  const o = signOrder(key, { v: 1, chainId, serial: 'ab'.repeat(16), bytes: 5, signedAt: now })
  assert.deepEqual(decodeOrderHeader(encodeOrderHeader(o)), o)
  assert.equal(ORDER_HEADER, 'x-stratos-order')
  assert.equal(
    code(() => decodeOrderHeader(undefined)),
    'ORDER_MISSING',
  )
  assert.equal(
    code(() => decodeOrderHeader('')),
    'ORDER_MISSING',
  )
  assert.equal(
    code(() => decodeOrderHeader(['a', 'b'])),
    'ORDER_INVALID',
  )
  assert.equal(
    code(() => decodeOrderHeader('A'.repeat(MAX_ORDER_HEADER_BYTES + 1))),
    'ORDER_INVALID',
  )
  assert.equal(
    code(() => decodeOrderHeader('%%%')),
    'ORDER_INVALID',
  )
  const extra = Buffer.from(JSON.stringify({ ...o, payload: { ...o.payload, extra: 1 } })).toString('base64url')
  assert.equal(
    code(() => decodeOrderHeader(extra)),
    'ORDER_INVALID',
    'strict: no unknown fields',
  )
  const negative = Buffer.from(JSON.stringify({ ...o, payload: { ...o.payload, bytes: -1 } })).toString('base64url')
  assert.equal(
    code(() => decodeOrderHeader(negative)),
    'ORDER_INVALID',
  )
})

test('settlement batch: NodeSigned by the resource node, schema-checked, bounded', () => {
  const key = NodeKey.generate(seededRandom(87))
  const signer = new OrderSigner(key)
  const t = limit(signer.publicKey)
  const item = { ticket: t, order: signer.next(t.payload, 100, now) }
  const batch = signAsNode(DOMAIN.settleOrders, node, {
    v: 1 as const,
    chainId,
    node: node.address,
    items: [item],
    expiresAt: now + 30_000,
  })
  assert.equal(META_ROUTES.settleOrders, '/v1/orders/settle')
  const parsed = zSettleOrdersBody.parse(JSON.parse(JSON.stringify(batch)))
  const payload = verifyNodeSigned(DOMAIN.settleOrders, parsed, { chainId, now })
  assert.equal(payload.items[0].order.payload.bytes, 100)
  assert.equal(
    code(() => verifyNodeSigned(DOMAIN.heartbeat, parsed, { chainId, now })),
    'INVALID_SIGNATURE',
    'domain-separated',
  )
  assert.equal(zSettleOrdersBody.safeParse({ ...batch, payload: { ...batch.payload, items: [] } }).success, false)
  assert.equal(
    zSettleOrdersBody.safeParse({
      ...batch,
      payload: { ...batch.payload, items: new Array(MAX_SETTLE_BATCH + 1).fill(item) },
    }).success,
    false,
  )
})
