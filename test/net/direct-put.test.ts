/**
 * Shard PUTs whose body the node reads straight off the socket (Upgrade: stratos-shard-body;
 * socket-body.ts on the node, direct-put.ts in the client): same checks and answers as the plain
 * route, nothing stored on any failure, and a sender that misbehaves cannot wedge the node.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NodeKey } from '../../src/crypto/node-key.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { issueTicket, encodeTicketHeader } from '../../src/sds/protocol/ticket.ts'
import { TICKET_HEADER, type SignedTicket } from '../../src/sds/protocol/messages.ts'
import { ResourceClient } from '../../src/net/resource-client.ts'
import { ORDER_HEADER, OrderSigner, encodeOrderHeader } from '../../src/sds/protocol/orders.ts'
import { closeDefaultDispatcher } from '../../src/net/json-request.ts'
import { SHARD_BODY_UPGRADE } from '../../src/sds/protocol/api.ts'
import { startResourceNode } from '../../src/sds/resource/index.ts'
import { PUMP_STAGING_BYTES, SHARD_CHUNK_BYTES } from '../../src/limits.ts'
import { seededRandom, silentLogger } from '../../src/util/components.ts'
import { isStratosError } from '../../src/errors.ts'
import { listFiles, makeShard, tempDir, waitFor } from '../sds/resource/helpers.ts'

const C = SHARD_CHUNK_BYTES
const chainId = 'test-chain'
const meta = NodeKey.generate(seededRandom(21))
const stranger = NodeKey.generate(seededRandom(22))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const orders = new OrderSigner(NodeKey.generate(seededRandom(23)))
const direct = new ResourceClient()
const plain = new ResourceClient({ directPut: false })

after(() => closeDefaultDispatcher())

async function startNode(t: { after: (fn: () => unknown) => void }) {
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
  })
  t.after(() => node.stop())
  return {
    node,
    dataDir,
    stored: () => ({ shards: listFiles(join(dataDir, 'shards')), tmp: listFiles(join(dataDir, 'tmp')) }),
  }
}

function ticketFor(node: { address: string }, shard: { id: string; data: Uint8Array }, key = meta): SignedTicket {
  return issueTicket({
    key,
    chainId,
    op: 'put',
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'upload-1',
    orderKey: orders.publicKey,
    now: Date.now(),
  })
}

/** Sends raw bytes and reads until the node closes; returns the status and JSON body. */
function rawExchange(
  url: string,
  head: string,
  body: Uint8Array,
  o: { stopAfter?: number } = {},
): Promise<{ status: number; json: { error?: { code: string } } | undefined }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(head, 'latin1')
      if (o.stopAfter !== undefined) {
        socket.end(body.subarray(0, o.stopAfter)) // the sender gives up mid-body
        return
      }
      socket.write(body)
    })
    const parts: Buffer[] = []
    socket.on('data', (d: Buffer) => parts.push(d))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(parts).toString('utf8')
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text)
      const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4)
      let json: { error?: { code: string } } | undefined
      try {
        json = JSON.parse(bodyText)
      } catch {
        json = undefined
      }
      resolve({ status: m ? Number(m[1]) : 0, json })
    })
  })
}

function putHead(
  shard: { id: string; data: Uint8Array },
  ticket: SignedTicket,
  over: { upgrade?: string; length?: number } = {},
): string {
  const order = encodeOrderHeader(orders.next(ticket.payload, shard.data.length, Date.now()))
  return (
    `PUT /v1/shards/${shard.id} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: ${over.upgrade ?? SHARD_BODY_UPGRADE}\r\n` +
    `content-length: ${over.length ?? shard.data.length}\r\n${TICKET_HEADER}: ${encodeTicketHeader(ticket)}\r\n${ORDER_HEADER}: ${order}\r\n\r\n`
  )
}

test('a direct PUT stores the same file as a plain one and answers with a receipt; re-PUT is idempotent', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  const shard = makeShard(2 * PUMP_STAGING_BYTES + 3 * C + 4097, 1) // several staging buffers and an unaligned tail
  const viaDirect = await direct.putShard({
    url: a.node.url,
    ticket: ticketFor(a.node, shard),
    shardId: shard.id,
    data: shard.data,
  })
  const viaPlain = await plain.putShard({
    url: b.node.url,
    ticket: ticketFor(b.node, shard),
    shardId: shard.id,
    data: shard.data,
  })
  assert.equal(viaDirect.payload.shard, shard.id)
  assert.equal(viaPlain.payload.shard, shard.id)
  const fileA = a.node.store.pathOf(shard.id)
  const fileB = b.node.store.pathOf(shard.id)
  assert.ok(readFileSync(fileA).equals(readFileSync(fileB)))
  const again = await direct.putShard({
    url: a.node.url,
    ticket: ticketFor(a.node, shard),
    shardId: shard.id,
    data: shard.data,
  })
  assert.equal(again.payload.shard, shard.id)
  assert.deepEqual(a.stored().tmp, [])
  assert.equal(a.node.store.shardCount, 1)
})

test('direct PUT refusals keep their codes and store nothing: forged ticket, wrong bytes', async (t) => {
  const { node, stored } = await startNode(t)
  const shard = makeShard(PUMP_STAGING_BYTES + 5, 2)
  await assert.rejects(
    direct.putShard({
      url: node.url,
      ticket: ticketFor(node, shard, stranger),
      shardId: shard.id,
      data: shard.data,
    }),
    (e: unknown) =>
      (isStratosError(e) && e.code === 'UNTRUSTED_ISSUER') || (isStratosError(e) && e.code.startsWith('TICKET_')),
  )
  const other = makeShard(shard.data.length, 3)
  await assert.rejects(
    direct.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: other.data }),
    (e: unknown) => isStratosError(e) && e.code === 'HASH_MISMATCH',
  )
  assert.deepEqual(stored(), { shards: [], tmp: [] })
  // The node still serves.
  await direct.putShard({ url: node.url, ticket: ticketFor(node, shard), shardId: shard.id, data: shard.data })
  assert.equal(node.store.shardCount, 1)
})

test('protocol misuse: another upgrade token, a missing length, a sender gone mid-body, bytes past the body', async (t) => {
  const { node, stored } = await startNode(t)
  const shard = makeShard(3 * C, 4)
  const wrongToken = await rawExchange(
    node.url,
    putHead(shard, ticketFor(node, shard), { upgrade: 'websocket' }),
    shard.data,
  )
  assert.equal(wrongToken.status, 400)
  assert.equal(wrongToken.json?.error?.code, 'BAD_REQUEST')

  const noLength = await rawExchange(
    node.url,
    putHead(shard, ticketFor(node, shard)).replace(/content-length: \d+\r\n/, ''),
    new Uint8Array(0),
  )
  assert.equal(noLength.status, 400)
  assert.equal(noLength.json?.error?.code, 'BAD_REQUEST')

  const gone = await rawExchange(node.url, putHead(shard, ticketFor(node, shard)), shard.data, { stopAfter: C + 10 })
  assert.notEqual(gone.status, 201)
  await waitFor(() => stored().tmp.length === 0, 5_000, 'the unfinished upload to be removed')
  assert.deepEqual(stored().shards, [])

  // Bytes past the declared body are never read (each read is sized to what the body still lacks):
  // the shard is stored and the connection closes after the answer.
  const extra = Buffer.concat([shard.data, Buffer.from('GET / HTTP/1.1\r\n\r\n')])
  const pipelined = await rawExchange(node.url, putHead(shard, ticketFor(node, shard)), extra)
  assert.equal(pipelined.status, 201)
  assert.equal(node.store.shardCount, 1)
  assert.ok(readFileSync(node.store.pathOf(shard.id)).subarray(0, shard.data.length).equals(shard.data))
})
