/**
 * Settlement at the meta node (POST /v1/orders/settle): a real MetaNode (storage-only mode: credits land in epoch 0),
 * real tickets from real uploads and reads, orders signed with the reader's order key, batches signed by the test
 * nodes' keys. Every kind of fraud is rejected and pays nothing; the traffic views show only what was accepted. PUTs
 * are credited from their upload's commit by the PUT-credit sweep (pot/put-credits.ts), never from orders.
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
import { toBase64Url } from '../../../../src/crypto/hash.ts'
import {
  chainId,
  expectCode,
  makeDag,
  planUpload,
  signCommit,
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

test('settlement pays verified GET orders once and rejects every kind of fraud; PUT orders are not settled', async (t) => {
  const h = await startHarness({ nodes: 6 })
  t.after(() => h.close())
  const { file, up } = await uploadFile(h, walletA, { size: 3000, segmentSize: 2048 })
  const put0 = up.placements[0][0]
  const node0 = h.nodes.get(put0.node)!

  // A PUT order (from a node older than PUT credits): refused with its own code, so it leaves the node's book.
  let r = await h.client.settleOrders(batch(h, node0, [{ ticket: put0.ticket, order: order(h, put0.ticket) }]))
  assert.deepEqual(codes(r), ['ORDER_NOT_NEEDED'])

  const read = await h.client.read(file.cid, { orderKey: put0.ticket.payload.orderKey })
  const all = read.tickets.flat()
  const g0 = all.find((x) => x.payload.node === node0.address)!
  // A valid GET order for a shard the node holds: accepted.
  r = await h.client.settleOrders(batch(h, node0, [{ ticket: g0, order: order(h, g0, { bytes: 100 }) }]))
  assert.deepEqual(codes(r), ['accepted'])
  // Replayed serial: rejected (durably: also after a restart).
  r = await h.client.settleOrders(batch(h, node0, [{ ticket: g0, order: order(h, g0, { bytes: 100 }) }]))
  assert.deepEqual(codes(r), ['REPLAYED_NONCE'])
  await h.restart()
  r = await h.client.settleOrders(batch(h, node0, [{ ticket: g0, order: order(h, g0, { bytes: 100 }) }]))
  assert.deepEqual(codes(r), ['REPLAYED_NONCE'])

  // Fraud on another GET limit: forged payer signature, bytes above the limit, an order signed after the limit
  // expired.
  const g1 = all.find((x) => x.payload.node !== node0.address)!
  const n1 = h.nodes.get(g1.payload.node)!
  r = await h.client.settleOrders(
    batch(h, n1, [
      { ticket: g1, order: order(h, g1, { key: otherKey }) },
      { ticket: g1, order: order(h, g1, { bytes: g1.payload.size + 1 }) },
      { ticket: g1, order: order(h, g1, { signedAt: g1.payload.expiresAt + CLOCK_SKEW_MS + 1 }) },
    ]),
  )
  assert.deepEqual(codes(r), ['ORDER_INVALID', 'ORDER_LIMIT_EXCEEDED', 'ORDER_INVALID'])

  // A ticket for node A handed in by node B: rejected; a batch signed by another key than its node: whole batch refused.
  r = await h.client.settleOrders(batch(h, n1, [{ ticket: g0, order: order(h, g0) }]))
  assert.deepEqual(codes(r), ['TICKET_WRONG_NODE'])
  await expectCode(
    h.client.settleOrders(batch(h, n1, [{ ticket: g1, order: order(h, g1) }], node0.key)),
    'INVALID_SIGNATURE',
  )

  // A limit signed by another meta node: untrusted.
  const foreign = issueTicket({
    key: otherKey,
    chainId,
    op: 'get',
    node: n1.address,
    shard: g1.payload.shard,
    size: 100,
    payer: walletA.address,
    context: file.cid,
    orderKey: g1.payload.orderKey,
    now: h.clock.now(),
  })
  r = await h.client.settleOrders(batch(h, n1, [{ ticket: foreign, order: order(h, foreign) }]))
  assert.deepEqual(codes(r), ['UNTRUSTED_ISSUER'])

  // GET orders: the serial twice in a batch: the second is a replay; a PUT order in the same batch: not settled.
  const p1 = up.placements.flat().find((p) => p.node === n1.address)
  r = await h.client.settleOrders(
    batch(h, n1, [
      { ticket: g1, order: order(h, g1, { bytes: 500 }) },
      { ticket: g1, order: order(h, g1, { bytes: 500 }) },
      ...(p1 ? [{ ticket: p1.ticket, order: order(h, p1.ticket) }] : []),
    ]),
  )
  assert.deepEqual(codes(r), ['accepted', 'REPLAYED_NONCE', ...(p1 ? ['ORDER_NOT_NEEDED'] : [])])

  // The views show exactly the accepted GET bytes, and the PUTs the commit credited (swept when the restart stopped
  // the node).
  const traffic = await h.client.trafficNodes({ epoch: 0 })
  const bytesOf = (a: string) => traffic.nodes.find((n) => n.node === a)?.bytes ?? 0
  const putsOf = (a: string) =>
    file.segments.reduce((n, seg) => n + seg.shardSize * seg.shards.filter((s) => s.node === a).length, 0)
  assert.equal(bytesOf(node0.address), 100 + putsOf(node0.address))
  assert.equal(bytesOf(n1.address), 500 + putsOf(n1.address))
  const ft = await h.client.fileTraffic(file.cid)
  const puts = file.segments.reduce((n, seg) => n + seg.shardSize * seg.shards.length, 0)
  assert.deepEqual(ft.totals, { put: puts, get: 600 })

  // Past the settle window: the limit is too old to settle.
  const late = all.find((x) => x.payload.node === node0.address && x !== g0) ?? g0
  h.clock.advance(TICKET_TTL_MS + ORDER_SETTLE_WINDOW_MS + 2 * CLOCK_SKEW_MS)
  r = await h.client.settleOrders(
    batch(h, node0, [{ ticket: late, order: order(h, late, { signedAt: late.payload.expiresAt - 1 }) }]),
  )
  assert.deepEqual(codes(r), ['TICKET_EXPIRED'])
})

test("a committed upload credits each placement's shard size once; aborted, replaced and deduplicated ones never", async (t) => {
  const h = await startHarness({ nodes: 7 })
  t.after(() => h.close())
  // Aborted: nothing credited.
  const aborted = await planUpload(h, walletA, { size: 1000 })
  await h.client.abort(aborted.uploadId, sc(h, aborted.uploadId, 'upload.abort', {}))
  // Committed with one placement replaced before the commit: the old node gets nothing, the new one the shard.
  const up = await planUpload(h, walletA, { size: 3000, segmentSize: 2048 })
  const old = up.placements[1][3]
  const moved = await h.client.replaceShard(
    up.uploadId,
    sc(h, up.uploadId, 'upload.replace', { segment: 1, shardIndex: 3, exclude: [] }),
  )
  assert.notEqual(moved.node, old.node)
  const receipts = up.receipts.filter((r) => r.payload.serial !== old.ticket.payload.serial)
  receipts.push(h.nodes.get(moved.node)!.receipt(h, moved.ticket))
  const dag = makeDag(5)
  const file = await h.client.commit(up.uploadId, {
    request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 3000, blocks: dag.blocks }),
    dagBlocks: dag.blocks.map(toBase64Url),
    receipts,
  })
  // The same content again by another session: deduplicated, its placements released, nothing credited.
  const again = await planUpload(h, walletA, { size: 3000, segmentSize: 2048 })
  await h.client.commit(again.uploadId, {
    request: signCommit(h, walletA, { uploadId: again.uploadId, cid: dag.cid, size: 3000, blocks: dag.blocks }),
    dagBlocks: dag.blocks.map(toBase64Url),
    receipts: again.receipts,
  })

  const want = new Map<string, { bytes: number; orders: number }>()
  for (const seg of file.segments)
    for (const s of seg.shards) {
      const w = want.get(s.node) ?? { bytes: 0, orders: 0 }
      want.set(s.node, { bytes: w.bytes + seg.shardSize, orders: w.orders + 1 })
    }
  const total = file.segments.reduce((n, seg) => n + seg.shardSize * seg.shards.length, 0)
  assert.ok(file.segments[1].shards.some((s) => s.node === moved.node && s.id === old.ticket.payload.shard))

  const view = async () => {
    const traffic = await h.client.trafficNodes({ epoch: 0 })
    return new Map(traffic.nodes.filter((n) => n.bytes > 0).map((n) => [n.node, { bytes: n.bytes, orders: n.orders }]))
  }
  assert.deepEqual(await view(), new Map(), 'nothing is credited before the sweep')
  assert.equal(await h.meta.putCredits.sweep(), file.segments.length * 6)
  assert.deepEqual(await view(), want)
  assert.deepEqual((await h.client.fileTraffic(file.cid)).totals, { put: total, get: 0 })
  // Swept again, and after a restart (whose stop sweeps once more): never twice.
  assert.equal(await h.meta.putCredits.sweep(), 0)
  await h.restart()
  assert.equal(await h.meta.putCredits.sweep(), 0)
  assert.deepEqual(await view(), want)
  const totals = await h.client.trafficNodes({ epoch: 0 })
  assert.equal(
    totals.nodes.reduce((n, x) => n + x.totalBytes, 0),
    total,
  )
})

test('settlement refuses a GET limit for a shard the node does not hold', async (t) => {
  const h = await startHarness({ nodes: 6 })
  t.after(() => h.close())
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
  const r = await h.client.settleOrders(batch(h, stranger, [{ ticket: forged, order: order(h, forged) }]))
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
