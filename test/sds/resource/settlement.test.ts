/**
 * Settlement: the resource node hands due (ticket, highest order) pairs to the meta node in signed
 * batches; answered serials leave the book, unanswered ones and failed batches are retried, orders
 * past the settlement window are dropped, and stopping settles everything still pending.
 * The meta side here is a small real HTTP server that checks each batch with the protocol's own
 * verification functions (the real meta route is helper B's src/sds/meta/pot/).
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { issueTicket } from '../../../src/sds/protocol/ticket.ts'
import { DOMAIN, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { META_ROUTES, zSettleOrdersBody, type SettleOrdersResponse } from '../../../src/sds/protocol/api.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { encodeOrderHeader, signOrder, verifyOrder, OrderSigner } from '../../../src/sds/protocol/orders.ts'
import type { SignedTicket } from '../../../src/sds/protocol/messages.ts'
import { ResourceClient } from '../../../src/net/resource-client.ts'
import { closeDefaultDispatcher } from '../../../src/net/json-request.ts'
import { OrderStore } from '../../../src/sds/resource/order-store.ts'
import { OrderBook } from '../../../src/sds/resource/orders.ts'
import { SettlementLoop } from '../../../src/sds/resource/settlement.ts'
import { startResourceNode } from '../../../src/sds/resource/index.ts'
import { ORDER_SETTLE_WINDOW_MS, TICKET_TTL_MS } from '../../../src/limits.ts'
import { listen, readJsonBody, sendError, sendJson } from '../../../src/net/http-server.ts'
import { StratosError } from '../../../src/errors.ts'
import { seededRandom, silentLogger, type Clock } from '../../../src/util/components.ts'
import { makeShard, tempDir, waitFor } from './helpers.ts'

const chainId = 'settle-chain'
const metaKey = NodeKey.generate(seededRandom(61))
const payer = NodeKey.generate(seededRandom(62))
const nodeKey = NodeKey.generate(seededRandom(63))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const orderKey = Buffer.from(payer.publicKey).toString('base64url')

after(() => closeDefaultDispatcher())
type TestContext = { after: (fn: () => unknown) => void }

/** A meta node's settle route, checking batches with the protocol's verification functions. */
class SettleMeta {
  readonly batches: Array<{ node: string; serials: string[]; bytes: number[] }> = []
  readonly accepted = new Map<string, number>()
  /** Serials to reject / to leave unanswered. */
  readonly reject = new Set<string>()
  readonly ignore = new Set<string>()
  down = false
  url = ''
  readonly #server = http.createServer((req, res) => {
    this.#handle(req, res).catch((e: unknown) => sendError(res, e))
  })

  async start(t: TestContext): Promise<this> {
    this.url = await listen(this.#server, '127.0.0.1', 0)
    t.after(
      () =>
        new Promise<void>((r) => {
          this.#server.closeAllConnections()
          this.#server.close(() => r())
        }),
    )
    return this
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url !== META_ROUTES.settleOrders || req.method !== 'POST')
      throw new StratosError('NOT_FOUND', 'no such route')
    if (this.down) throw new StratosError('NODE_UNAVAILABLE', 'down for the test')
    const parsed = zSettleOrdersBody.safeParse(await readJsonBody(req, 8 << 20))
    if (!parsed.success) throw new StratosError('BAD_REQUEST', 'not a settlement batch')
    const now = Date.now()
    const batch = verifyNodeSigned(DOMAIN.settleOrders, parsed.data, { chainId, now })
    assert.equal(batch.node, parsed.data.signer, 'the batch is signed by the node it names')
    const results: SettleOrdersResponse['results'] = []
    this.batches.push({
      node: batch.node,
      serials: batch.items.map((i) => i.ticket.payload.serial),
      bytes: batch.items.map((i) => i.order.payload.bytes),
    })
    for (const { ticket, order } of batch.items) {
      const serial = ticket.payload.serial
      if (this.ignore.has(serial)) continue
      try {
        const limit = verifyNodeSigned(
          DOMAIN.ticket,
          ticket,
          { chainId, now: Math.min(now, ticket.payload.expiresAt), trustedSigners: new Set([metaKey.address]) },
          'TICKET_INVALID',
        )
        if (limit.node !== batch.node) throw new StratosError('ORDER_INVALID', 'ticket is for another node')
        const o = verifyOrder({ ticket: limit, order, chainId })
        if (this.accepted.has(serial)) throw new StratosError('ORDER_INVALID', 'serial settled before')
        if (this.reject.has(serial)) throw new StratosError('ORDER_INVALID', 'rejected for the test')
        this.accepted.set(serial, o.bytes)
        results.push({ serial, status: 'accepted' })
      } catch (e) {
        results.push({ serial, status: 'rejected', code: e instanceof StratosError ? e.code : 'INTERNAL' })
      }
    }
    sendJson(res, 200, { results })
  }
}

function ticket(size: number, now: number, node = nodeKey.address): SignedTicket {
  return issueTicket({
    key: metaKey,
    chainId,
    op: 'get',
    node,
    shard: 'cd'.repeat(32),
    size,
    payer: wallet.address,
    context: 'c',
    orderKey,
    now,
  })
}

function admit(book: OrderBook, t: SignedTicket, cumulative: number, bytes: number, now: number): void {
  const order = encodeOrderHeader(
    signOrder(payer, { v: 1, chainId, serial: t.payload.serial, bytes: cumulative, signedAt: now }),
  )
  book.admit({ ticket: t, orderHeader: order, bytes, now })
}

test('settlement rounds: due serials only, per-serial answers, retries, the settlement window, and a final round at stop', async (t) => {
  const meta = await new SettleMeta().start(t)
  const store = OrderStore.open(join(tempDir(t), 'orders'))
  t.after(() => store.close())
  let now = Date.now()
  const clock: Clock = { now: () => now }
  const book = new OrderBook({ store, chainId, settleAfterMs: 60_000 })
  const loop = new SettlementLoop({
    book,
    key: nodeKey,
    chainId,
    meta: new MetaClient(meta.url),
    clock,
    logger: silentLogger,
    intervalMs: 3_600_000,
    batchSize: 2,
  })

  const full = ticket(100, now)
  const young = ticket(1000, now)
  const refused = ticket(100, now)
  const silent = ticket(100, now)
  const foreign = ticket(100, now, metaKey.address) // a ticket for another node: the meta node refuses it
  admit(book, full, 100, 100, now)
  admit(book, young, 300, 300, now)
  admit(book, refused, 100, 100, now)
  admit(book, silent, 100, 100, now)
  admit(book, foreign, 100, 100, now)
  meta.reject.add(refused.payload.serial)
  meta.ignore.add(silent.payload.serial)

  // Round 1: the four whose orders reached their limit, in batches of 2; the young partial one waits.
  let r = await loop.round()
  assert.deepEqual(
    { accepted: r.accepted, rejected: r.rejected, failed: r.failed, acceptedBytes: r.acceptedBytes },
    { accepted: 1, rejected: 2, failed: 1, acceptedBytes: 100 },
  )
  assert.deepEqual(
    meta.batches.map((b) => b.serials.length),
    [2, 2],
  )
  assert.ok(meta.batches.every((b) => b.node === nodeKey.address))
  assert.equal(meta.accepted.get(full.payload.serial), 100)
  assert.deepEqual(
    new Set(meta.batches.flatMap((b) => b.serials)),
    new Set([full, refused, silent, foreign].map((x) => x.payload.serial)),
  )
  for (const x of [full, refused, foreign]) assert.equal(book.isSettled(x.payload.serial), true)
  assert.ok(book.inspect(silent.payload.serial), 'an unanswered serial stays')
  assert.ok(book.inspect(young.payload.serial))

  // The young serial grows, then ages past the settle-after period: its highest order settles.
  admit(book, young, 700, 400, now + 1_000)
  now += 60_000
  meta.batches.length = 0
  r = await loop.round()
  assert.equal(r.accepted, 1)
  assert.equal(meta.accepted.get(young.payload.serial), 700)
  assert.ok(book.inspect(silent.payload.serial))

  // Meta node down: nothing is lost, the serials go again next round.
  const later = ticket(100, now)
  admit(book, later, 100, 100, now)
  meta.down = true
  r = await loop.round()
  assert.equal(r.accepted, 0)
  assert.ok(r.failed >= 1)
  assert.ok(book.inspect(later.payload.serial))
  meta.down = false
  r = await loop.round()
  assert.equal(meta.accepted.get(later.payload.serial), 100)
  assert.equal(book.isSettled(later.payload.serial), true)

  // Past its limit's expiry + the settlement window, an unsettled order is dropped (the meta node would refuse it).
  now = silent.payload.expiresAt + ORDER_SETTLE_WINDOW_MS + 1
  r = await loop.round()
  assert.equal(r.dropped, 1)
  assert.equal(book.inspect(silent.payload.serial), undefined)
  assert.equal(book.isSettled(silent.payload.serial), false)
  // …and settled serials whose limits expired were forgotten (the ticket check refuses them now).
  assert.equal(book.isSettled(full.payload.serial), false)

  // Stop settles what is pending even when not yet due.
  now = Date.now()
  const last = ticket(1000, now)
  admit(book, last, 10, 10, now)
  assert.deepEqual(book.due(now, 10), [])
  await loop.start()
  await loop.stop()
  assert.equal(meta.accepted.get(last.payload.serial), 10)
  assert.equal(book.pendingCount, 0)
  assert.equal(book.isSettled(last.payload.serial), true)
  assert.equal(await book.prune(now + TICKET_TTL_MS + 60_000), 1)
})

test('a running resource node settles its GET orders with the meta node on its own; a PUT leaves nothing to settle', async (t) => {
  const meta = await new SettleMeta().start(t)
  const node = await startResourceNode({
    dataDir: tempDir(t),
    port: 0,
    chainId,
    metaUrl: meta.url,
    metaAddresses: [metaKey.address],
    fsync: false,
    heartbeatIntervalMs: 60_000,
    orderSettleIntervalMs: 50,
    logger: silentLogger,
  })
  let stopped = false
  t.after(() => {
    if (!stopped) return node.stop()
  })
  const shard = makeShard(300_000, 9)
  const signer = new OrderSigner(payer)
  const client = new ResourceClient()
  const put = issueTicket({
    key: metaKey,
    chainId,
    op: 'put',
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'up',
    orderKey,
    now: Date.now(),
  })
  await client.putShard({ url: node.url, ticket: put, shardId: shard.id, data: shard.data })
  assert.equal(node.orders.pendingCount, 0, 'a PUT carries no order')
  // A whole-shard read is due at once: settled on the node's own next round.
  const whole = issueTicket({
    key: metaKey,
    chainId,
    op: 'get',
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'cid',
    orderKey,
    now: Date.now(),
  })
  await client.getShard({
    url: node.url,
    ticket: whole,
    shardId: shard.id,
    shardSize: shard.data.length,
    orders: signer,
  })
  await waitFor(() => meta.accepted.has(whole.payload.serial), 5_000, 'the GET order to settle')
  assert.equal(meta.accepted.get(whole.payload.serial), shard.data.length)
  assert.equal(meta.accepted.has(put.payload.serial), false)
  // A partial read is not due yet: it settles when the node stops.
  const get = issueTicket({
    key: metaKey,
    chainId,
    op: 'get',
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'cid',
    orderKey,
    now: Date.now(),
  })
  await client.getShard({
    url: node.url,
    ticket: get,
    shardId: shard.id,
    shardSize: shard.data.length,
    offset: 0,
    length: 1000,
    orders: signer,
  })
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(meta.accepted.has(get.payload.serial), false)
  stopped = true
  await node.stop()
  assert.equal(meta.accepted.get(get.payload.serial), 262_144)
})
