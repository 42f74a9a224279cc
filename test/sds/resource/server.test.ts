import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { connect, type Socket, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { request } from 'undici'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { issueTicket, encodeTicketHeader } from '../../../src/sds/protocol/ticket.ts'
import { DOMAIN, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { TICKET_HEADER, type SignedTicket } from '../../../src/sds/protocol/messages.ts'
import { ResourceClient } from '../../../src/net/resource-client.ts'
import { ORDER_HEADER, OrderSigner, encodeOrderHeader, signOrder } from '../../../src/sds/protocol/orders.ts'
import { OrderStore } from '../../../src/sds/resource/order-store.ts'
import { OrderBook } from '../../../src/sds/resource/orders.ts'
import { closeDefaultDispatcher, defaultDispatcher } from '../../../src/net/json-request.ts'
import { SHARD_HEADERS, type ResourceNodeInfo } from '../../../src/sds/protocol/api.ts'
import { startResourceNode, type ResourceNodeOptions } from '../../../src/sds/resource/index.ts'
import { ShardStore, shardPathOf } from '../../../src/sds/resource/store.ts'
import { ResourceServer } from '../../../src/sds/resource/server.ts'
import { shardFileBytes, SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { SHARD_CHUNK_BYTES, TICKET_TTL_MS } from '../../../src/limits.ts'
import { seededRandom, silentLogger, systemClock } from '../../../src/util/components.ts'
import { isStratosError } from '../../../src/errors.ts'
import { flipByte, listFiles, makeShard, rejectsWithCode, tempDir, waitFor } from './helpers.ts'

const C = SHARD_CHUNK_BYTES
const chainId = 'test-chain'
const meta = NodeKey.generate(seededRandom(11))
const stranger = NodeKey.generate(seededRandom(12))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const client = new ResourceClient()
/** Orders (Proof of Traffic): tickets name this key; the client signs with `orders`, raw requests with orderFor(). */
const orderKey = NodeKey.generate(seededRandom(13))
const orders = new OrderSigner(orderKey)

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
    context: 'upload-1',
    orderKey: orders.publicKey,
    now: Date.now(),
    ...over,
  })
}

/** An order header for the whole of a ticket's limit. */
function orderFor(ticketHeader: string): string {
  const ticket = (JSON.parse(Buffer.from(ticketHeader, 'base64url').toString('utf8')) as SignedTicket).payload
  return encodeOrderHeader(
    signOrder(orderKey, {
      v: 1,
      chainId: ticket.chainId,
      serial: ticket.serial,
      bytes: ticket.size,
      signedAt: Date.now(),
    }),
  )
}

/** A request as given; a decodable ticket header without an order gets one for the ticket's whole limit. */
async function raw(
  url: string,
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST',
  headers: Record<string, string> = {},
  body?: Uint8Array,
) {
  const ticket = headers[TICKET_HEADER]
  if (ticket !== undefined && headers[ORDER_HEADER] === undefined) {
    try {
      headers = { ...headers, [ORDER_HEADER]: orderFor(ticket) }
    } catch {
      /* not a ticket: sent as is */
    }
  }
  const res = await request(url, { method, headers, body, dispatcher: defaultDispatcher() })
  const bytes = Buffer.from(await res.body.arrayBuffer())
  let json: { error?: { code: string } } | undefined
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, bytes, json, code: json?.error?.code }
}

function stored(dataDir: string): { shards: string[]; tmp: string[] } {
  return { shards: listFiles(join(dataDir, 'shards')), tmp: listFiles(join(dataDir, 'tmp')) }
}

test('ResourceClient against the node: PUT with receipt, full GET, unaligned and chunk-spanning ranges', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(4 * C + 1234, 1)
  const putTicket = ticketFor(node, shard)
  const receipt = await client.putShard({
    url: node.url,
    ticket: putTicket,
    shardId: shard.id,
    data: shard.data,
  })
  const r = verifyNodeSigned(DOMAIN.receipt, receipt, {
    chainId,
    now: Date.now(),
    trustedSigners: new Set([node.address]),
  })
  assert.equal(r.shard, shard.id)
  assert.equal(r.size, shard.data.length)
  assert.equal(r.serial, putTicket.payload.serial)
  assert.equal(r.node, node.address)
  assert.ok(r.expiresAt >= r.storedAt + TICKET_TTL_MS)
  assert.equal(stored(dataDir).shards.length, 1)

  // A GET limit covers the shard once: each read gets its own.
  const whole = await client.getShard({
    orders,
    url: node.url,
    ticket: ticketFor(node, shard, { op: 'get' }),
    shardId: shard.id,
    shardSize: shard.data.length,
  })
  assert.ok(Buffer.from(whole).equals(shard.data))
  for (const [offset, length] of [
    [1000, 5000],
    [C - 100, 300],
    [C + 7, 2 * C + 11],
    [4 * C, 1234],
    [0, 1],
  ]) {
    const part = await client.getShard({
      orders,
      url: node.url,
      ticket: ticketFor(node, shard, { op: 'get' }),
      shardId: shard.id,
      shardSize: shard.data.length,
      offset,
      length,
    })
    assert.ok(Buffer.from(part).equals(shard.data.subarray(offset, offset + length)), `range ${offset}+${length}`)
  }

  // Re-PUT is idempotent: 200 with a fresh receipt for the new ticket.
  const again = ticketFor(node, shard)
  const res = await raw(
    `${node.url}/v1/shards/${shard.id}`,
    'PUT',
    { [TICKET_HEADER]: encodeTicketHeader(again) },
    shard.data,
  )
  assert.equal(res.status, 200)
  assert.equal(
    (res.json as unknown as { receipt: { payload: { serial: string } } }).receipt.payload.serial,
    again.payload.serial,
  )

  const info = await client.info(node.url)
  assert.equal(info.address, node.address)
  assert.equal(info.shardCount, 1)
  assert.equal(info.usedBytes, shardFileBytes(shard.data.length))
  assert.equal(info.chainId, chainId)
  assert.equal(info.load, 0)
})

test('ResourceClient range reads: bytes that do not match their chunk hash are HASH_MISMATCH, in an edge chunk or a middle one', async (t) => {
  const shard = makeShard(6 * C + 99, 3)
  let flipAt = -1
  // A node that answers ranges with the right chunk-hash list and one byte of the body changed (at shard byte flipAt).
  const server = http.createServer((req, res) => {
    const m = /bytes=(\d+)-(\d+)/.exec(String(req.headers.range))
    const start = Number(m?.[1] ?? 0)
    const end = m ? Number(m[2]) + 1 : shard.data.length
    const body = Buffer.from(shard.data.subarray(start, end))
    if (flipAt >= start && flipAt < end) body[flipAt - start] ^= 1
    res.writeHead(m ? 206 : 200, {
      'content-length': body.length,
      [SHARD_HEADERS.shardSize]: shard.data.length,
      [SHARD_HEADERS.chunkHashes]: Buffer.from(shard.chunkHashes).toString('base64url'),
    })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const read = (offset: number, length: number) =>
    client.getShard({
      orders,
      url,
      ticket: ticketFor({ address: stranger.address }, shard, { op: 'get' }),
      shardId: shard.id,
      shardSize: shard.data.length,
      offset,
      length,
      into: new Uint8Array(length),
    })
  // Asked: [C + 10, 5C + 20): chunks 1 and 5 are edge chunks (partly asked), 2–4 land in place.
  const [offset, length] = [C + 10, 4 * C + 10]
  assert.ok(Buffer.from(await read(offset, length)).equals(shard.data.subarray(offset, offset + length)))
  // A changed byte outside the asked bytes but inside a fetched edge chunk, one in an asked edge byte, one in the middle.
  for (const at of [C + 3, 5 * C + 15, 3 * C + 77]) {
    flipAt = at
    await rejectsWithCode(read(offset, length), 'HASH_MISMATCH')
  }
  // The client's scratch buffers are reused after those failures: a clean read is still right.
  flipAt = -1
  assert.ok(Buffer.from(await read(offset + 1, length)).equals(shard.data.subarray(offset + 1, offset + 1 + length)))
})

test('PUT without a valid ticket for this node, shard and op is refused and stores nothing', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(C + 10, 2)
  const url = `${node.url}/v1/shards/${shard.id}`
  const attempt = (header: string | undefined) =>
    raw(url, 'PUT', header === undefined ? {} : { [TICKET_HEADER]: header }, shard.data)
  const forged = ticketFor(node, shard)
  forged.payload = { ...forged.payload, size: forged.payload.size + 8 }
  const other = makeShard(100, 3)
  const cases: [string | undefined, string, number][] = [
    [undefined, 'TICKET_MISSING', 401],
    ['garbage', 'TICKET_INVALID', 401],
    [encodeTicketHeader(forged), 'TICKET_INVALID', 401],
    [encodeTicketHeader(ticketFor(node, shard, { now: Date.now() - 2 * TICKET_TTL_MS })), 'TICKET_EXPIRED', 401],
    [encodeTicketHeader(ticketFor({ address: stranger.address }, shard)), 'TICKET_WRONG_NODE', 403],
    [encodeTicketHeader(ticketFor(node, shard, { key: stranger })), 'UNTRUSTED_ISSUER', 403],
    [encodeTicketHeader(ticketFor(node, shard, { op: 'get' })), 'TICKET_MISMATCH', 403],
    [encodeTicketHeader(ticketFor(node, other)), 'TICKET_MISMATCH', 403],
    [encodeTicketHeader(ticketFor(node, shard, { chainId: 'other-chain' })), 'WRONG_CHAIN', 401],
  ]
  for (const [header, code, status] of cases) {
    const res = await attempt(header)
    assert.equal(res.code, code, `expected ${code}`)
    assert.equal(res.status, status)
  }
  assert.deepEqual(stored(dataDir), { shards: [], tmp: [] })
  // The same connection pool still works afterwards (refused bodies were drained).
  await client.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: shard.data })
})

test('PUT bodies that do not match the ticket or the id are refused: HASH_MISMATCH, SIZE_MISMATCH', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(2 * C + 5, 4)
  const tampered = shard.data.slice()
  tampered[C + 3] ^= 0xff
  await rejectsWithCode(
    client.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: tampered }),
    'HASH_MISMATCH',
  )
  // Content-Length differs from the ticket's size.
  const short = await raw(
    `${node.url}/v1/shards/${shard.id}`,
    'PUT',
    { [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, shard)) },
    shard.data.subarray(0, C),
  )
  assert.equal(short.code, 'SIZE_MISMATCH')
  // A ticket whose size lies about the shard: the bytes cannot hash to the id.
  const lying = ticketFor(node, { id: shard.id, data: shard.data.subarray(8) })
  const res = await raw(
    `${node.url}/v1/shards/${shard.id}`,
    'PUT',
    { [TICKET_HEADER]: encodeTicketHeader(lying) },
    shard.data.subarray(8),
  )
  assert.equal(res.code, 'HASH_MISMATCH')
  assert.equal(res.status, 422)
  assert.deepEqual(stored(dataDir), { shards: [], tmp: [] })
})

test('PUT without Content-Length (chunked) is a BAD_REQUEST', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(1000, 5)
  const reply = await rawHttp(node.url, [
    `PUT /v1/shards/${shard.id} HTTP/1.1\r\nHost: x\r\n${TICKET_HEADER}: ${encodeTicketHeader(ticketFor(node, shard))}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    `3e8\r\n`,
    Buffer.from(shard.data),
    `\r\n0\r\n\r\n`,
  ])
  assert.match(reply, /^HTTP\/1\.1 400/)
  assert.match(reply, /"BAD_REQUEST"/)
  assert.deepEqual(stored(dataDir), { shards: [], tmp: [] })
})

test('GET and HEAD: tickets, ranges, 416, headers', async (t) => {
  const { node } = await startNode(t)
  const shard = makeShard(3 * C + 100, 6)
  await client.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: shard.data })
  const url = `${node.url}/v1/shards/${shard.id}`
  const size = shard.data.length
  // A GET limit covers the shard once: every request gets its own.
  const get = () => ({ [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, shard, { op: 'get' })) })

  const full = await raw(url, 'GET', get())
  assert.equal(full.status, 200)
  assert.ok(full.bytes.equals(shard.data))
  assert.equal(full.headers['content-length'], String(size))
  assert.equal(full.headers['accept-ranges'], 'bytes')
  assert.equal(full.headers[SHARD_HEADERS.shardSize], String(size))
  assert.deepEqual(
    new Uint8Array(Buffer.from(String(full.headers[SHARD_HEADERS.chunkHashes]), 'base64url')),
    shard.chunkHashes,
  )

  const ranges: [string, number, number][] = [
    ['bytes=1000-5999', 1000, 6000],
    ['bytes=262100-262200', 262100, 262201],
    [`bytes=${C - 1}-${2 * C}`, C - 1, 2 * C + 1],
    [`bytes=${3 * C}-`, 3 * C, size],
    ['bytes=-50', size - 50, size],
    [`bytes=10-${size + 1000}`, 10, size],
    [`bytes=-${size + 5}`, 0, size],
  ]
  for (const [range, a, b] of ranges) {
    const res = await raw(url, 'GET', { ...get(), range })
    assert.equal(res.status, 206, range)
    assert.equal(res.headers['content-range'], `bytes ${a}-${b - 1}/${size}`)
    assert.equal(res.headers['content-length'], String(b - a))
    assert.equal(res.headers[SHARD_HEADERS.shardSize], String(size))
    assert.ok(res.bytes.equals(shard.data.subarray(a, b)), range)
  }
  for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
    const res = await raw(url, 'GET', { ...get(), range })
    assert.equal(res.status, 416, range)
    assert.equal(res.code, 'RANGE_NOT_SATISFIABLE')
    assert.equal(res.headers['content-range'], `bytes */${size}`)
  }
  // Ranges we do not serve as ranges are ignored (RFC 9110): the whole shard.
  for (const range of ['bytes=5-2', 'items=0-5', 'bytes=0-1,5-6', 'bytes=x-y']) {
    const res = await raw(url, 'GET', { ...get(), range })
    assert.equal(res.status, 200, range)
    assert.equal(res.bytes.length, size)
  }

  const head = await raw(url, 'HEAD', { ...get(), range: 'bytes=10-19' })
  assert.equal(head.status, 206)
  assert.equal(head.bytes.length, 0)
  assert.equal(head.headers['content-length'], '10')
  assert.equal(head.headers[SHARD_HEADERS.chunkHashes], full.headers[SHARD_HEADERS.chunkHashes])
  const headFull = await raw(url, 'HEAD', get())
  assert.equal(headFull.status, 200)
  assert.equal(headFull.headers['content-length'], String(size))

  assert.equal((await raw(url, 'GET')).code, 'TICKET_MISSING')
  assert.equal(
    (await raw(url, 'GET', { [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, shard)) })).code,
    'TICKET_MISMATCH',
  )
  assert.equal(
    (
      await raw(url, 'GET', {
        [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, shard, { op: 'get', size: size - 8 })),
      })
    ).code,
    'TICKET_MISMATCH',
  )
  assert.equal(
    (
      await raw(url, 'GET', {
        [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, shard, { op: 'get', key: stranger })),
      })
    ).code,
    'UNTRUSTED_ISSUER',
  )
  const missing = makeShard(500, 7)
  const notFound = await raw(`${node.url}/v1/shards/${missing.id}`, 'GET', {
    [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, missing, { op: 'get' })),
  })
  assert.equal(notFound.status, 404)
  assert.equal(notFound.code, 'SHARD_NOT_FOUND')
  const bad = await raw(`${node.url}/v1/shards/${shard.id.toUpperCase()}`, 'GET', get())
  assert.equal(bad.status, 400)
  assert.equal(bad.code, 'BAD_REQUEST')
  assert.equal((await raw(`${node.url}/v1/shards/abc`, 'GET')).code, 'BAD_REQUEST')
  const del = await raw(url, 'DELETE', get())
  assert.equal(del.status, 405)
  assert.equal(del.code, 'METHOD_NOT_ALLOWED')
  assert.equal((await raw(`${node.url}/v1/info`, 'POST')).status, 405)
  const nowhere = await raw(`${node.url}/v2/whatever`, 'GET')
  assert.equal(nowhere.status, 404)
  assert.equal(nowhere.code, 'NOT_FOUND')
})

test('507 INSUFFICIENT_STORAGE when the configured capacity is too small; nothing left behind', async (t) => {
  const size = 200_000
  const { node, dataDir } = await startNode(t, { capacityBytes: shardFileBytes(size) + 100 })
  const a = makeShard(size, 8)
  const b = makeShard(size, 9)
  await client.putShard({ url: node.url, ticket: ticketFor(node, a), shardId: a.id, data: a.data })
  const res = await raw(
    `${node.url}/v1/shards/${b.id}`,
    'PUT',
    { [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, b)) },
    b.data,
  )
  assert.equal(res.status, 507)
  assert.equal(res.code, 'INSUFFICIENT_STORAGE')
  assert.equal(stored(dataDir).shards.length, 1)
  assert.deepEqual(stored(dataDir).tmp, [])
  const info = (await raw(`${node.url}/v1/info`, 'GET')).json as unknown as ResourceNodeInfo
  assert.equal(info.freeBytes, 100)
  // Re-putting what is already stored needs no room.
  await client.putShard({ url: node.url, ticket: ticketFor(node, a), shardId: a.id, data: a.data })
})

test('a client that aborts mid-upload leaves no temp file and no shard', async (t) => {
  const { node, dataDir } = await startNode(t)
  const shard = makeShard(512 * 1024, 10)
  const socket = await openSocket(node.url)
  const ticket = encodeTicketHeader(ticketFor(node, shard))
  socket.write(
    `PUT /v1/shards/${shard.id} HTTP/1.1\r\nHost: x\r\n${TICKET_HEADER}: ${ticket}\r\n${ORDER_HEADER}: ${orderFor(ticket)}\r\nContent-Length: ${shard.data.length}\r\n\r\n`,
  )
  socket.write(shard.data.subarray(0, 200_000))
  await waitFor(() => stored(dataDir).tmp.length === 1, 5_000, 'the upload to start')
  socket.destroy()
  await waitFor(() => stored(dataDir).tmp.length === 0, 5_000, 'the temp file to go')
  assert.deepEqual(stored(dataDir), { shards: [], tmp: [] })
  await waitFor(async () => (await client.info(node.url)).load === 0, 5_000, 'load to drop')
  // The same shard uploads fine afterwards.
  await client.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: shard.data })
  assert.equal(stored(dataDir).shards.length, 1)
})

test('Expect: 100-continue gets the interim answer only when the upload is accepted', async (t) => {
  const { node } = await startNode(t)
  const shard = makeShard(3000, 13)
  const head = (ticket: string) =>
    `PUT /v1/shards/${shard.id} HTTP/1.1\r\nHost: x\r\n${TICKET_HEADER}: ${ticket}\r\n${ticket === 'garbage' ? '' : `${ORDER_HEADER}: ${orderFor(ticket)}\r\n`}Content-Length: ${shard.data.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`
  const refused = await rawHttp(node.url, [head('garbage')])
  assert.match(refused, /^HTTP\/1\.1 401/)
  assert.doesNotMatch(refused, /100 Continue/)
  const socket = await openSocket(node.url)
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.write(head(encodeTicketHeader(ticketFor(node, shard))))
  await waitFor(() => Buffer.concat(chunks).toString().includes('100 Continue'), 5_000, '100 Continue')
  socket.write(shard.data)
  await new Promise((r) => socket.once('close', r))
  assert.match(Buffer.concat(chunks).toString(), /HTTP\/1\.1 201/)
})

test('uploads beyond the concurrency limit get 503 NODE_UNAVAILABLE', async (t) => {
  const dataDir = tempDir(t)
  const key = NodeKey.generate(seededRandom(21))
  const store = new ShardStore({ dataDir, fsync: false })
  await store.start()
  const orderStore = OrderStore.open(join(dataDir, 'orders'))
  t.after(() => orderStore.close())
  const server = new ResourceServer({
    store,
    key,
    chainId,
    trust: { issuers: new Set([meta.address]) },
    orders: new OrderBook({ store: orderStore, chainId }),
    clock: systemClock,
    logger: silentLogger,
    maxConcurrentWrites: 1,
  })
  const url = await server.listen('127.0.0.1', 0)
  t.after(() => server.close())
  const slow = makeShard(300_000, 14)
  const fast = makeShard(1000, 15)
  const socket = await openSocket(url)
  const slowTicket = encodeTicketHeader(ticketFor(key, slow))
  socket.write(
    `PUT /v1/shards/${slow.id} HTTP/1.1\r\nHost: x\r\n${TICKET_HEADER}: ${slowTicket}\r\n${ORDER_HEADER}: ${orderFor(slowTicket)}\r\nContent-Length: ${slow.data.length}\r\n\r\n`,
  )
  socket.write(slow.data.subarray(0, 1000))
  await waitFor(() => server.load === 1, 5_000, 'the slow upload to start')
  await rejectsWithCode(
    client.putShard({ url, ticket: ticketFor(key, fast), shardId: fast.id, data: fast.data }),
    'NODE_UNAVAILABLE',
  )
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.write(slow.data.subarray(1000))
  await waitFor(() => Buffer.concat(chunks).toString().includes('201 Created'), 5_000, 'the slow upload to finish')
  await client.putShard({ url, ticket: ticketFor(key, fast), shardId: fast.id, data: fast.data })
  assert.equal(store.shardCount, 2)
  socket.destroy()
})

test('a corrupt shard is never served: JSON 500 before headers, a cut connection after', async (t) => {
  const { node, dataDir } = await startNode(t)
  const first = makeShard(2 * C, 16)
  const later = makeShard(3 * C, 17)
  for (const s of [first, later])
    await client.putShard({ url: node.url, ticket: ticketFor(node, s), shardId: s.id, data: s.data })
  const path = (id: string) => shardPathOf(join(dataDir, 'shards'), id)
  flipByte(path(first.id), SHARD_DATA_OFFSET + 5, 0x01)
  flipByte(path(later.id), SHARD_DATA_OFFSET + 2 * C + 5, 0x01)

  const res = await raw(`${node.url}/v1/shards/${first.id}`, 'GET', {
    [TICKET_HEADER]: encodeTicketHeader(ticketFor(node, first, { op: 'get' })),
  })
  assert.equal(res.status, 500)
  assert.equal(res.code, 'SHARD_CORRUPT')

  // Headers went out with chunk 0; chunk 2 is bad: the connection is cut, the client sees an error, never the bad bytes.
  const getLater = ticketFor(node, later, { op: 'get' })
  await assert.rejects(
    client.getShard({ orders, url: node.url, ticket: getLater, shardId: later.id, shardSize: later.data.length }),
    (e) => isStratosError(e),
  )
  const gone = await raw(`${node.url}/v1/shards/${later.id}`, 'GET', { [TICKET_HEADER]: encodeTicketHeader(getLater) })
  assert.equal(gone.code, 'SHARD_NOT_FOUND')
  assert.deepEqual(listFiles(join(dataDir, 'corrupt')).sort(), [first.id, later.id].sort())
  assert.deepEqual(node.store.pendingCorrupt().sort(), [first.id, later.id].sort())
})

async function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

/** Sends raw HTTP/1.1 bytes and returns everything the server answers until it closes. */
async function rawHttp(url: string, parts: (string | Buffer)[]): Promise<string> {
  const socket = await openSocket(url)
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('error', () => {})
  for (const p of parts) socket.write(p)
  // Ask the server to close after answering.
  const closed = new Promise((r) => socket.once('close', r))
  setTimeout(() => socket.end(), 200)
  await closed
  return Buffer.concat(chunks).toString('latin1')
}
