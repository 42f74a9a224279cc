import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { existsSync, rmSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { issueTicket } from '../../../src/sds/protocol/ticket.ts'
import { DOMAIN, signAsNode, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { zSignedHeartbeat, type Heartbeat } from '../../../src/sds/protocol/messages.ts'
import { META_ROUTES, type MetaInfo } from '../../../src/sds/protocol/api.ts'
import { ResourceClient } from '../../../src/net/resource-client.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { closeDefaultDispatcher } from '../../../src/net/json-request.ts'
import { startResourceNode, type ResourceNode, type ResourceNodeOptions } from '../../../src/sds/resource/index.ts'
import { SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { listen, readJsonBody, sendError, sendJson } from '../../../src/net/http-server.ts'
import { seededRandom, silentLogger } from '../../../src/util/components.ts'
import { StratosError } from '../../../src/errors.ts'
import { SHARD_CHUNK_BYTES } from '../../../src/limits.ts'
import { flipByte, makeShard, rejectsWithCode, tempDir, waitFor } from './helpers.ts'

const chainId = 'test-chain'
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const client = new ResourceClient()
/** Signs the orders every shard GET carries (Proof of Traffic); tickets name its key. */
const orders = new OrderSigner()
after(() => closeDefaultDispatcher())

type TestContext = { after: (fn: () => unknown) => void }

/**
 * A small but real meta node stand-in: it verifies every signed heartbeat and answers with a
 * reply signed by `replyKey` (normally its own key), carrying whatever deletions the test queues.
 */
class FakeMeta {
  readonly heartbeats: Heartbeat[] = []
  readonly deletes: string[] = []
  key: NodeKey
  replyKey: NodeKey
  infoUp = true
  replyIntervalMs = 30
  url = ''
  readonly #server: http.Server

  constructor(key: NodeKey) {
    this.key = key
    this.replyKey = key
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => sendError(res, e))
    })
  }

  async start(t: TestContext, port = 0): Promise<this> {
    this.url = await listen(this.#server, '127.0.0.1', port)
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
    if (req.url === META_ROUTES.info && req.method === 'GET') {
      if (!this.infoUp) throw new StratosError('NODE_UNAVAILABLE', 'starting up')
      const info: MetaInfo = {
        address: this.key.address,
        key: toBase64Url(this.key.publicKey),
        chainId,
        version: 'test',
        defaults: { k: 4, m: 2, segmentSize: 1 << 25 },
      }
      return sendJson(res, 200, info)
    }
    if (req.url === META_ROUTES.heartbeat && req.method === 'POST') {
      const signed = zSignedHeartbeat.parse(await readJsonBody(req, 1 << 20))
      const hb = verifyNodeSigned(DOMAIN.heartbeat, signed, { chainId, now: Date.now() })
      assert.equal(hb.node, signed.signer, 'a node signs its own heartbeats')
      this.heartbeats.push(hb)
      const reply = signAsNode(DOMAIN.heartbeatReply, this.replyKey, {
        v: 1,
        chainId,
        node: hb.node,
        seq: hb.seq,
        deletes: this.deletes.splice(0),
        heartbeatIntervalMs: this.replyIntervalMs,
        expiresAt: Date.now() + 30_000,
      })
      return sendJson(res, 200, reply)
    }
    throw new StratosError('NOT_FOUND', 'no such route')
  }
}

async function startNode(
  t: TestContext,
  meta: FakeMeta,
  over: Partial<ResourceNodeOptions> = {},
): Promise<ResourceNode> {
  const node = await startResourceNode({
    dataDir: over.dataDir ?? tempDir(t),
    port: 0,
    chainId,
    metaUrl: meta.url,
    fsync: false,
    heartbeatIntervalMs: 10_000,
    logger: silentLogger,
    ...over,
  })
  t.after(() => node.stop())
  return node
}

function ticket(
  metaKey: NodeKey,
  node: ResourceNode,
  shard: { id: string; data: Uint8Array },
  op: 'put' | 'get' = 'put',
) {
  return issueTicket({
    key: metaKey,
    chainId,
    op,
    node: node.address,
    shard: shard.id,
    size: shard.data.length,
    payer: wallet.address,
    context: 'hb-test',
    orderKey: orders.publicKey,
    now: Date.now(),
  })
}

test('signed heartbeats report the node; signed replies delete shards, acknowledged as `deleted`; corrupt shards are reported', async (t) => {
  const metaKey = NodeKey.generate(seededRandom(31))
  const meta = await new FakeMeta(metaKey).start(t)
  const node = await startNode(t, meta, { metaAddresses: [metaKey.address], publicUrl: 'http://node-7.example:7207' })
  const a = makeShard(5000, 1)
  const b = makeShard(2 * SHARD_CHUNK_BYTES, 2)
  for (const s of [a, b])
    await client.putShard({ url: node.url, ticket: ticket(metaKey, node, s), shardId: s.id, data: s.data })

  // The node started with a 10 s interval; the reply's 30 ms takes over, so beats keep coming.
  await waitFor(() => meta.heartbeats.length >= 3, 5_000, 'three heartbeats')
  const hb = meta.heartbeats.at(-1)!
  assert.equal(hb.node, node.address)
  assert.equal(hb.url, 'http://node-7.example:7207')
  assert.equal(hb.chainId, chainId)
  await waitFor(() => meta.heartbeats.at(-1)!.shardCount === 2, 5_000, 'shardCount 2')
  const last = meta.heartbeats.at(-1)!
  assert.ok(last.usedBytes > 0 && last.capacityBytes >= last.usedBytes + last.freeBytes - 1)
  assert.deepEqual(last.deleted, [])
  assert.deepEqual(last.corrupt, [])

  // The meta node releases shard a.
  const before = meta.heartbeats.length
  meta.deletes.push(a.id)
  await waitFor(() => meta.heartbeats.some((h) => h.deleted.includes(a.id)), 5_000, 'deletion reported')
  assert.equal(node.store.has(a.id), false)
  assert.equal(existsSync(node.store.pathOf(a.id)), false)
  assert.equal(node.store.has(b.id), true)
  // Reported once it was done, and dropped from the report once acknowledged.
  const reportedAt = meta.heartbeats.findIndex((h) => h.deleted.includes(a.id))
  assert.ok(reportedAt >= before)
  await waitFor(() => meta.heartbeats.length > reportedAt + 2, 5_000, 'more heartbeats')
  assert.deepEqual(meta.heartbeats.at(-1)!.deleted, [])
  assert.equal(meta.heartbeats.at(-1)!.shardCount, 1)

  // A corrupt shard found by a read is reported in the next heartbeat, then acknowledged.
  flipByte(node.store.pathOf(b.id), SHARD_DATA_OFFSET + 10, 0x08)
  await rejectsWithCode(
    client.getShard({
      orders,
      url: node.url,
      ticket: ticket(metaKey, node, b, 'get'),
      shardId: b.id,
      shardSize: b.data.length,
    }),
    'SHARD_CORRUPT',
  )
  await waitFor(() => meta.heartbeats.some((h) => h.corrupt.includes(b.id)), 5_000, 'corrupt reported')
  const corruptAt = meta.heartbeats.findIndex((h) => h.corrupt.includes(b.id))
  await waitFor(() => meta.heartbeats.length > corruptAt + 2, 5_000, 'more heartbeats')
  assert.deepEqual(meta.heartbeats.at(-1)!.corrupt, [])
  assert.equal(meta.heartbeats.at(-1)!.shardCount, 0)

  for (let i = 1; i < meta.heartbeats.length; i++)
    assert.ok(meta.heartbeats[i].seq > meta.heartbeats[i - 1].seq, 'seq strictly increases')
})

test('a reply signed by anyone but the trusted meta node changes nothing', async (t) => {
  const metaKey = NodeKey.generate(seededRandom(32))
  const meta = await new FakeMeta(metaKey).start(t)
  meta.replyKey = NodeKey.generate(seededRandom(33)) // an impostor signs the replies
  const node = await startNode(t, meta, { metaAddresses: [metaKey.address] })
  const a = makeShard(3000, 3)
  await client.putShard({ url: node.url, ticket: ticket(metaKey, node, a), shardId: a.id, data: a.data })
  meta.deletes.push(a.id)
  const seen = meta.heartbeats.length
  // Replies are refused, so the node keeps its 10 s interval: drive beats by hand.
  await node.heartbeat.beat()
  await node.heartbeat.beat()
  assert.ok(meta.heartbeats.length >= seen + 2, 'the loop keeps going')
  assert.equal(node.store.has(a.id), true)
  assert.equal(node.heartbeat.intervalMs, 10_000)
  assert.deepEqual(node.heartbeat.pendingDeleted(), [])
})

test('no meta addresses: trust on first use, pinned in meta.json, a different meta node is refused until unpinned', async (t) => {
  const dataDir = tempDir(t)
  const firstKey = NodeKey.generate(seededRandom(34))
  const meta = await new FakeMeta(firstKey).start(t)
  meta.infoUp = false // the meta node is not ready yet: starting must not wait for it
  meta.replyIntervalMs = 20
  const node = await startNode(t, meta, { dataDir, heartbeatIntervalMs: 20 })
  const s1 = makeShard(4000, 4)
  await rejectsWithCode(
    client.putShard({ url: node.url, ticket: ticket(firstKey, node, s1), shardId: s1.id, data: s1.data }),
    'UNTRUSTED_ISSUER',
  )
  meta.infoUp = true
  await waitFor(() => meta.heartbeats.length > 0, 5_000, 'first heartbeat after the meta node came up')
  const pin = JSON.parse(readFileSync(join(dataDir, 'meta.json'), 'utf8')) as { addresses: string[] }
  assert.deepEqual(pin.addresses, [firstKey.address])
  await client.putShard({ url: node.url, ticket: ticket(firstKey, node, s1), shardId: s1.id, data: s1.data })
  const lastSeq = meta.heartbeats.at(-1)!.seq
  await node.stop()

  // Same URL, another meta node identity.
  const secondKey = NodeKey.generate(seededRandom(35))
  meta.key = secondKey
  meta.replyKey = secondKey
  const again = await startNode(t, meta, { dataDir, heartbeatIntervalMs: 20 })
  const s2 = makeShard(4000, 5)
  await rejectsWithCode(
    client.putShard({ url: again.url, ticket: ticket(secondKey, again, s2), shardId: s2.id, data: s2.data }),
    'UNTRUSTED_ISSUER',
  )
  await client.putShard({ url: again.url, ticket: ticket(firstKey, again, s2), shardId: s2.id, data: s2.data })
  const count = meta.heartbeats.length
  await waitFor(() => meta.heartbeats.length > count, 5_000, 'heartbeats keep being sent')
  assert.ok(meta.heartbeats.at(-1)!.seq > lastSeq, 'seq keeps increasing across restarts')
  await again.stop()

  // The operator removes the pin: the new meta node is learned.
  rmSync(join(dataDir, 'meta.json'))
  const third = await startNode(t, meta, { dataDir, heartbeatIntervalMs: 20 })
  await waitFor(() => existsSync(join(dataDir, 'meta.json')), 5_000, 'a new pin')
  const s3 = makeShard(4000, 6)
  await client.putShard({ url: third.url, ticket: ticket(secondKey, third, s3), shardId: s3.id, data: s3.data })
  await rejectsWithCode(
    client.putShard({
      url: third.url,
      ticket: ticket(firstKey, third, makeShard(10, 7)),
      shardId: makeShard(10, 7).id,
      data: makeShard(10, 7).data,
    }),
    'UNTRUSTED_ISSUER',
  )
})

test('stop() is idempotent and a node starts while the meta node is unreachable', async (t) => {
  const node = await startResourceNode({
    dataDir: tempDir(t),
    port: 0,
    chainId,
    metaUrl: 'http://127.0.0.1:9',
    fsync: false,
    heartbeatIntervalMs: 20,
    logger: silentLogger,
  })
  const info = await client.info(node.url)
  assert.equal(info.address, node.address)
  await new Promise((r) => setTimeout(r, 60)) // a few failing heartbeat rounds
  await Promise.all([node.stop(), node.stop()])
  await node.stop()
  await assert.rejects(client.info(node.url))
})

test('options that cannot work are refused at construction (NETWORK_CONFIG)', async (t) => {
  const base = { dataDir: tempDir(t), port: 0, chainId, metaUrl: 'http://127.0.0.1:9', logger: silentLogger }
  for (const over of [
    { metaUrl: 'ftp://x' },
    { publicUrl: 'not a url' },
    { host: '0.0.0.0' },
    { host: '::' },
    { capacityBytes: -1 },
    { heartbeatIntervalMs: 0 },
    { port: 70_000 },
    { metaAddresses: ['stsds1nope'] },
  ]) {
    await rejectsWithCode(() => startResourceNode({ ...base, ...over }), 'NETWORK_CONFIG')
  }
  // Every address, with the URL to advertise: fine.
  const wildcard = await startResourceNode({ ...base, host: '0.0.0.0', publicUrl: 'http://node-1.example:7201' })
  await wildcard.stop()
})
