/**
 * Settlement at the meta node (POST /v1/orders/settle): a real MetaNode (storage-only mode: credits land in epoch 0),
 * real tickets from real uploads, orders signed with the uploader's order key, batches signed by the test nodes'
 * keys. Every kind of fraud is rejected and pays nothing; the traffic views show only what was accepted.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { NodeKey } from '../../../../src/crypto/node-key.ts'
import { CLOCK_SKEW_MS, ORDER_SETTLE_WINDOW_MS, TICKET_TTL_MS } from '../../../../src/limits.ts'
import { seededRandom } from '../../../../src/util/components.ts'
import type { SettleOrdersBody } from '../../../../src/sds/protocol/api.ts'
import type { SignedTicket } from '../../../../src/sds/protocol/messages.ts'
import { signOrder, type SignedOrder } from '../../../../src/sds/protocol/orders.ts'
import { DOMAIN, signAsNode } from '../../../../src/sds/protocol/signing.ts'
import { issueTicket } from '../../../../src/sds/protocol/ticket.ts'
import {
  chainId,
  expectCode,
  planUpload,
  startHarness,
  uploadFile,
  walletA,
  type Harness,
  type TestNode,
  sc,
} from '../helpers.ts'

/** The private half of helpers.ts ORDER_KEY: the uploader's and reader's order key in these tests. */
const orderKey = NodeKey.generate(seededRandom(4242))
const otherKey = NodeKey.generate(seededRandom(999))

function order(h: Harness, t: SignedTicket, o: { bytes?: number; key?: NodeKey; signedAt?: number } = {}): SignedOrder {
  return signOrder(o.key ?? orderKey, {
    v: 1,
    chainId,
    serial: t.payload.serial,
    bytes: o.bytes ?? t.payload.size,
    signedAt: o.signedAt ?? h.clock.now(),
  })
}

function batch(
  h: Harness,
  node: TestNode,
  items: { ticket: SignedTicket; order: SignedOrder }[],
  signer: NodeKey = node.key,
): SettleOrdersBody {
  return signAsNode(DOMAIN.settleOrders, signer, {
    v: 1,
    chainId,
    node: node.address,
    items,
    expiresAt: h.clock.now() + 60_000,
  })
}

function codes(r: { results: { serial: string; status: string; code?: string }[] }): string[] {
  return r.results.map((x) => (x.status === 'accepted' ? 'accepted' : (x.code ?? 'rejected')))
}

test('settlement pays verified PUT and GET orders once and rejects every kind of fraud', async (t) => {
  const h = await startHarness({ nodes: 6 })
  t.after(() => h.close())
  const { file, up } = await uploadFile(h, walletA, { size: 3000, segmentSize: 2048 })
  const put0 = up.placements[0][0]
  const node0 = h.nodes.get(put0.node)!

  // A valid PUT order for a committed placement: accepted.
  let r = await h.client.settleOrders(batch(h, node0, [{ ticket: put0.ticket, order: order(h, put0.ticket) }]))
  assert.deepEqual(codes(r), ['accepted'])
  // Replayed serial: rejected (durably: also after a restart).
  r = await h.client.settleOrders(batch(h, node0, [{ ticket: put0.ticket, order: order(h, put0.ticket) }]))
  assert.deepEqual(codes(r), ['REPLAYED_NONCE'])
  await h.restart()
  r = await h.client.settleOrders(batch(h, node0, [{ ticket: put0.ticket, order: order(h, put0.ticket) }]))
  assert.deepEqual(codes(r), ['REPLAYED_NONCE'])

  // Fraud on other PUT limits of the same upload: forged payer signature, bytes above the limit, an order signed
  // after the limit expired, a serial twice in one batch.
  const others = up.placements
    .flat()
    .filter((p) => p.node === put0.node && p.ticket.payload.serial !== put0.ticket.payload.serial)
  const p1 = up.placements[1].find((p) => p.node !== put0.node)!
  const n1 = h.nodes.get(p1.node)!
  r = await h.client.settleOrders(
    batch(h, n1, [
      { ticket: p1.ticket, order: order(h, p1.ticket, { key: otherKey }) },
      { ticket: p1.ticket, order: order(h, p1.ticket, { bytes: p1.ticket.payload.size + 1 }) },
      { ticket: p1.ticket, order: order(h, p1.ticket, { signedAt: p1.ticket.payload.expiresAt + CLOCK_SKEW_MS + 1 }) },
    ]),
  )
  assert.deepEqual(codes(r), ['ORDER_INVALID', 'ORDER_LIMIT_EXCEEDED', 'ORDER_INVALID'])

  // A ticket for node A handed in by node B: rejected; a batch signed by another key than its node: whole batch refused.
  r = await h.client.settleOrders(
    batch(h, n1, [{ ticket: others[0]?.ticket ?? put0.ticket, order: order(h, others[0]?.ticket ?? put0.ticket) }]),
  )
  assert.deepEqual(codes(r), ['TICKET_WRONG_NODE'])
  await expectCode(
    h.client.settleOrders(batch(h, n1, [{ ticket: p1.ticket, order: order(h, p1.ticket) }], node0.key)),
    'INVALID_SIGNATURE',
  )

  // A limit signed by another meta node: untrusted.
  const foreign = issueTicket({
    key: otherKey,
    chainId,
    op: 'get',
    node: n1.address,
    shard: p1.ticket.payload.shard,
    size: 100,
    payer: walletA.address,
    context: file.cid,
    orderKey: p1.ticket.payload.orderKey,
    now: h.clock.now(),
  })
  r = await h.client.settleOrders(batch(h, n1, [{ ticket: foreign, order: order(h, foreign) }]))
  assert.deepEqual(codes(r), ['UNTRUSTED_ISSUER'])

  // GET orders for the file's shards: accepted; the serial twice in a batch: the second is a replay.
  const read = await h.client.read(file.cid, { orderKey: up.placements[0][0].ticket.payload.orderKey })
  const g =
    read.tickets[0].find((x) => x.payload.node === n1.address) ??
    read.tickets[1].find((x) => x.payload.node === n1.address)!
  r = await h.client.settleOrders(
    batch(h, n1, [
      { ticket: g, order: order(h, g, { bytes: 500 }) },
      { ticket: g, order: order(h, g, { bytes: 500 }) },
      { ticket: p1.ticket, order: order(h, p1.ticket) },
    ]),
  )
  assert.deepEqual(codes(r), ['accepted', 'REPLAYED_NONCE', 'accepted'])

  // The views show exactly the accepted bytes.
  const traffic = await h.client.trafficNodes({ epoch: 0 })
  const bytesOf = (a: string) => traffic.nodes.find((n) => n.node === a)?.bytes ?? 0
  const want0 = put0.ticket.payload.size + (put0.node === n1.address ? 0 : 0)
  assert.equal(bytesOf(node0.address), want0)
  assert.equal(bytesOf(n1.address), 500 + p1.ticket.payload.size)
  const ft = await h.client.fileTraffic(file.cid)
  assert.deepEqual(ft.totals, { put: put0.ticket.payload.size + p1.ticket.payload.size, get: 500 })

  // Past the settle window: the limit is too old to settle.
  const late = read.tickets[0].find((x) => x.payload.node === node0.address)!
  h.clock.advance(TICKET_TTL_MS + ORDER_SETTLE_WINDOW_MS + 2 * CLOCK_SKEW_MS)
  r = await h.client.settleOrders(
    batch(h, node0, [{ ticket: late, order: order(h, late, { signedAt: late.payload.expiresAt - 1 }) }]),
  )
  assert.deepEqual(codes(r), ['TICKET_EXPIRED'])
})

test('PUT orders are deferred while the upload is open and never paid for a placement that was not committed', async (t) => {
  const h = await startHarness({ nodes: 6 })
  t.after(() => h.close())
  const open = await planUpload(h, walletA, { size: 1000 })
  const p = open.placements[0][0]
  const n = h.nodes.get(p.node)!
  // Open upload: no result for the item (the node keeps it and sends it again).
  let r = await h.client.settleOrders(batch(h, n, [{ ticket: p.ticket, order: order(h, p.ticket) }]))
  assert.deepEqual(r.results, [])
  // The upload is aborted: the shard never became part of a file, so the node "never held" it for pay.
  await h.client.abort(open.uploadId, sc(h, open.uploadId, 'upload.abort', {}))
  r = await h.client.settleOrders(batch(h, n, [{ ticket: p.ticket, order: order(h, p.ticket) }]))
  assert.deepEqual(codes(r), ['SHARD_NOT_FOUND'])
  // A GET limit for a shard the node does not hold (a ticket naming another node's shard, re-addressed): also refused.
  const { file, up } = await uploadFile(h, walletA, { size: 1000, seed: 3 })
  const held = up.placements[0].map((x) => x.node)
  const elsewhere = up.placements[0][0]
  const stranger =
    [...h.nodes.values()].find((x) => x.address !== elsewhere.node && !held.slice(1).includes(x.address)) ??
    [...h.nodes.values()].find((x) => x.address !== elsewhere.node)!
  const forged = issueTicket({
    key: metaKeyOf(h),
    chainId,
    op: 'get',
    node: stranger.address,
    shard: elsewhere.ticket.payload.shard,
    size: elsewhere.ticket.payload.size,
    payer: walletA.address,
    context: file.cid,
    orderKey: elsewhere.ticket.payload.orderKey,
    now: h.clock.now(),
  })
  r = await h.client.settleOrders(batch(h, stranger, [{ ticket: forged, order: order(h, forged) }]))
  assert.deepEqual(codes(r), ['SHARD_NOT_FOUND'])
  const traffic = await h.client.trafficNodes({ epoch: 0 })
  assert.equal(
    traffic.nodes.reduce((a, x) => a + x.bytes, 0),
    0,
  )
})

/** The harness's meta node key (its data dir's node-key.json), to mint a limit the meta node would never sign. */
function metaKeyOf(h: Harness): NodeKey {
  return NodeKey.loadOrCreate(h.dir)
}
