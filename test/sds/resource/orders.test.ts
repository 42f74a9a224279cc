/**
 * Proof of Traffic on the resource node: every shard PUT/GET needs a signed order covering what
 * was served under its serial plus this request's bytes, checked before a single byte moves.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { request } from 'undici'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { issueTicket, encodeTicketHeader } from '../../../src/sds/protocol/ticket.ts'
import { TICKET_HEADER, type SignedTicket } from '../../../src/sds/protocol/messages.ts'
import { ORDER_HEADER, encodeOrderHeader, signOrder, type Order } from '../../../src/sds/protocol/orders.ts'
import { ResourceClient } from '../../../src/net/resource-client.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { closeDefaultDispatcher, defaultDispatcher } from '../../../src/net/json-request.ts'
import { startResourceNode, type ResourceNodeOptions } from '../../../src/sds/resource/index.ts'
import { ShardStore } from '../../../src/sds/resource/store.ts'
import { ResourceServer } from '../../../src/sds/resource/server.ts'
import { OrderStore } from '../../../src/sds/resource/order-store.ts'
import { OrderBook } from '../../../src/sds/resource/orders.ts'
import { SHARD_CHUNK_BYTES, TICKET_TTL_MS } from '../../../src/limits.ts'
import { seededRandom, silentLogger, systemClock } from '../../../src/util/components.ts'
import { listFiles, makeShard, tempDir } from './helpers.ts'

const C = SHARD_CHUNK_BYTES
const chainId = 'orders-chain'
const meta = NodeKey.generate(seededRandom(41))
const payerKey = NodeKey.generate(seededRandom(42))
const intruder = NodeKey.generate(seededRandom(43))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const orderKey = Buffer.from(payerKey.publicKey).toString('base64url')

after(() => closeDefaultDispatcher())

type TestContext = { after: (fn: () => unknown) => void }

async function startNode(t: TestContext, over: Partial<ResourceNodeOptions> = {}) {
  const dataDir = tempDir(t)
  const node = await startResourceNode({
    dataDir,
    port: 0,
    chainId,
    metaUrl: 'http://127.0.0.1:9',
    metaAddresses: [meta.address],
    fsync: false,
    heartbeatIntervalMs: 60_000,
    orderSettleIntervalMs: 3_600_000,
    logger: silentLogger,
    ...over,
  })
  t.after(() => node.stop())
  return { node, dataDir }
}

function ticketFor(
  node: { address: string },
  shard: { id: string; data: Uint8Array },
  over: Partial<Parameters<typeof issueTicket>[0]> = {},
): SignedTicket {
  return issueTicket({
    key: meta,
    chainId,
    op: 'put',
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'orders',
    orderKey,
    now: Date.now(),
    ...over,
  })
}

function order(ticket: SignedTicket, bytes: number, over: Partial<Order> = {}, key: NodeKey = payerKey): string {
  return encodeOrderHeader(
    signOrder(key, { v: 1, chainId, serial: ticket.payload.serial, bytes, signedAt: Date.now(), ...over }),
  )
}

async function send(
  url: string,
  method: 'GET' | 'PUT' | 'HEAD',
  ticket: SignedTicket,
  orderHeader: string | undefined,
  o: { range?: string; body?: Uint8Array } = {},
) {
  const headers: Record<string, string> = { [TICKET_HEADER]: encodeTicketHeader(ticket) }
  if (orderHeader !== undefined) headers[ORDER_HEADER] = orderHeader
  if (o.range) headers.range = o.range
  const res = await request(url, { method, headers, body: o.body, dispatcher: defaultDispatcher() })
  const bytes = Buffer.from(await res.body.arrayBuffer())
  let json: { error?: { code: string; details?: Record<string, unknown> } } | undefined
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {
    json = undefined
  }
  return { status: res.statusCode, bytes, code: json?.error?.code, details: json?.error?.details }
}

test('shard PUT: a ticket but no order; an order header (valid, forged or garbage) is ignored, nothing is counted', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(2 * C + 100, 1)
  const url = `${node.url}/v1/shards/${shard.id}`
  const size = shard.data.length
  const tk = ticketFor(node, shard)
  // An expired ticket is still refused.
  const expired = ticketFor(node, shard, { now: Date.now() - 2 * TICKET_TTL_MS })
  assert.equal((await send(url, 'PUT', expired, undefined, { body: shard.data })).code, 'TICKET_EXPIRED')
  assert.deepEqual(listFiles(join(dataDir, 'shards')), [])

  const ok = await send(url, 'PUT', tk, undefined, { body: shard.data })
  assert.equal(ok.status, 201)
  // What an older client sends: an order (valid or not) next to the ticket; ignored.
  const headers: [string, string | undefined][] = [
    ['valid order', order(tk, size)],
    ['garbage', 'garbage!'],
    ['signed by another key', order(tk, size, {}, intruder)],
  ]
  for (const [what, header] of headers) {
    const again = await send(url, 'PUT', ticketFor(node, shard), header, { body: shard.data })
    assert.equal(again.status, 200, what)
  }
  assert.equal(node.orders.pendingCount, 0, 'a PUT leaves no order to settle')
  assert.equal(node.orders.inspect(tk.payload.serial), undefined)
})

test('shard GET: cumulative orders cover exactly the bytes served; replays, overdraws and out-of-order arrival', async (t) => {
  const { node } = await startNode(t)
  const shard = makeShard(6 * C, 2)
  const url = `${node.url}/v1/shards/${shard.id}`
  await new ResourceClient().putShard({
    url: node.url,
    ticket: ticketFor(node, shard),
    shardId: shard.id,
    data: shard.data,
  })

  const get = ticketFor(node, shard, { op: 'get' })
  const range = (a: number, b: number) => `bytes=${a}-${b - 1}`
  assert.equal((await send(url, 'GET', get, undefined, { range: range(0, C) })).code, 'ORDER_MISSING')
  // HEAD moves no body bytes: no order needed, nothing counted.
  const head = await send(url, 'HEAD', get, undefined)
  assert.equal(head.status, 200)
  assert.equal(node.orders.inspect(get.payload.serial), undefined)

  const first = await send(url, 'GET', get, order(get, C), { range: range(0, C) })
  assert.equal(first.status, 206)
  assert.ok(first.bytes.equals(shard.data.subarray(0, C)))
  // A range's bytes count exactly (not the shard size): C + 10 bytes need an order for 2C + 10 in total.
  const unaligned = await send(url, 'GET', get, order(get, 2 * C + 9), { range: range(C, 2 * C + 10) })
  assert.equal(unaligned.code, 'ORDER_INVALID')
  assert.deepEqual(
    { needed: unaligned.details?.needed, signed: unaligned.details?.signed },
    { needed: 2 * C + 10, signed: 2 * C + 9 },
  )
  // A replayed (lower) order covers nothing new.
  assert.equal((await send(url, 'GET', get, order(get, C), { range: range(C, 2 * C) })).code, 'ORDER_INVALID')
  assert.equal((await send(url, 'GET', get, order(get, 2 * C), { range: range(C, 2 * C) })).status, 206)
  assert.deepEqual(node.orders.inspect(get.payload.serial), { served: 2 * C, highest: 2 * C })

  // Two requests signed in sequence arrive in reverse order: the later order already covers both.
  const o3 = order(get, 3 * C)
  const o4 = order(get, 4 * C)
  assert.equal((await send(url, 'GET', get, o4, { range: range(2 * C, 3 * C) })).status, 206)
  const late = await send(url, 'GET', get, o3, { range: range(3 * C, 4 * C) })
  assert.equal(late.status, 206)
  assert.ok(late.bytes.equals(shard.data.subarray(3 * C, 4 * C)))
  assert.deepEqual(node.orders.inspect(get.payload.serial), { served: 4 * C, highest: 4 * C })
  // …but replaying one of them again does not.
  assert.equal((await send(url, 'GET', get, o3, { range: range(4 * C, 5 * C) })).code, 'ORDER_INVALID')

  // Bytes beyond the limit: 4C served + 3C asked > 6C, whatever the order says.
  const over = await send(url, 'GET', get, order(get, 6 * C), { range: range(0, 3 * C) })
  assert.equal(over.code, 'ORDER_LIMIT_EXCEEDED')
  assert.equal(over.details?.needed, 7 * C)
  assert.equal((await send(url, 'GET', get, order(get, 7 * C), { range: range(0, C) })).code, 'ORDER_LIMIT_EXCEEDED')
  // The rest of the limit: then the serial is closed (due for settlement) even for bytes it could cover.
  assert.equal((await send(url, 'GET', get, order(get, 6 * C), { range: range(4 * C, 6 * C) })).status, 206)
  const closed = await send(url, 'GET', get, order(get, 6 * C), { range: range(0, 1) })
  assert.equal(closed.code, 'ORDER_LIMIT_EXCEEDED')
  assert.equal(closed.details?.closed, true)
  assert.deepEqual(node.orders.inspect(get.payload.serial), { served: 6 * C, highest: 6 * C })

  // An order for a GET limit is refused on another limit's serial, and on a limit with another order key.
  const second = ticketFor(node, shard, { op: 'get' })
  assert.equal((await send(url, 'GET', second, order(get, C), { range: range(0, C) })).code, 'ORDER_INVALID')
  const foreign = ticketFor(node, shard, { op: 'get', orderKey: Buffer.from(intruder.publicKey).toString('base64url') })
  assert.equal((await send(url, 'GET', foreign, order(foreign, C), { range: range(0, C) })).code, 'ORDER_INVALID')
  assert.equal((await send(url, 'GET', foreign, order(foreign, C, {}, intruder), { range: range(0, C) })).status, 206)
})

test('ResourceClient signs cumulative orders: repeated range reads under one limit, then ORDER_LIMIT_EXCEEDED', async (t) => {
  const { node } = await startNode(t)
  const shard = makeShard(3 * C + 50, 3)
  const signer = new OrderSigner(payerKey)
  const client = new ResourceClient()
  await client.putShard({
    url: node.url,
    ticket: ticketFor(node, shard),
    shardId: shard.id,
    data: shard.data,
  })
  const get = ticketFor(node, shard, { op: 'get' })
  const read = (offset: number, length: number) =>
    client.getShard({
      url: node.url,
      ticket: get,
      shardId: shard.id,
      shardSize: shard.data.length,
      offset,
      length,
      orders: signer,
    })
  assert.ok(Buffer.from(await read(10, 100)).equals(shard.data.subarray(10, 110)))
  assert.ok(Buffer.from(await read(C + 5, C)).equals(shard.data.subarray(C + 5, 2 * C + 5)))
  // Whole chunks are fetched (and paid) around each range: 1 chunk, then chunks 1–2.
  assert.deepEqual(node.orders.inspect(get.payload.serial), { served: 3 * C, highest: 3 * C })
  assert.equal(signer.signed(get.payload.serial), 3 * C)
  // Re-reading chunk 0 would need 4C under a 3C+50 limit.
  await assert.rejects(read(0, 10), (e: { code?: string }) => e.code === 'ORDER_LIMIT_EXCEEDED')
})

test('a node holding MAX_UNSETTLED_ORDERS serials refuses new ones with BUSY until settlement frees room', async (t) => {
  const dataDir = tempDir(t)
  const key = NodeKey.generate(seededRandom(44))
  const store = new ShardStore({ dataDir, fsync: false })
  await store.start()
  const orderStore = OrderStore.open(join(dataDir, 'orders'))
  t.after(() => orderStore.close())
  const book = new OrderBook({ store: orderStore, chainId, maxUnsettled: 1 })
  const server = new ResourceServer({
    store,
    key,
    chainId,
    trust: { issuers: new Set([meta.address]) },
    orders: book,
    clock: systemClock,
    logger: silentLogger,
  })
  const base = await server.listen('127.0.0.1', 0)
  t.after(() => server.close())
  const node = { address: key.address }
  const shard = makeShard(4 * C, 4)
  const client = new ResourceClient()
  const put = ticketFor(node, shard)
  await client.putShard({ url: base, ticket: put, shardId: shard.id, data: shard.data })
  assert.equal(book.pendingCount, 0, 'a PUT takes no room')
  const url = `${base}/v1/shards/${shard.id}`
  const first = ticketFor(node, shard, { op: 'get' })
  assert.equal((await send(url, 'GET', first, order(first, C), { range: `bytes=0-${C - 1}` })).status, 206)
  const get = ticketFor(node, shard, { op: 'get' })
  const busy = await send(url, 'GET', get, order(get, C), { range: `bytes=0-${C - 1}` })
  assert.equal(busy.code, 'BUSY')
  assert.equal(busy.status, 503)
  assert.equal(book.pendingCount, 1)
  await book.settled([{ serial: first.payload.serial, expiresAt: first.payload.expiresAt }])
  assert.equal((await send(url, 'GET', get, order(get, C), { range: `bytes=0-${C - 1}` })).status, 206)
  assert.equal(book.pendingCount, 1)
})
