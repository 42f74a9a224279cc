/**
 * Orders end to end through the client SDK on a real in-process network (meta node + 6 resource
 * nodes): reads carry orders, uploads none (the commit is their proof of traffic); a re-read handed cached read tickets whose limits are
 * spent refreshes them before any GET (one refresh per segment) instead of being refused, and never
 * falls back to parity; limits the nodes closed for settlement are refused and refreshed.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { StratosClient, readFile, type ProgressEvent } from '../../../src/sds/client/index.ts'
import { ReadCache } from '../../../src/sds/client/read-cache.ts'
import { Semaphore } from '../../../src/sds/client/limiter.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { ResourceClient, type GetShardParameters } from '../../../src/net/resource-client.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { systemClock, systemRandom } from '../../../src/util/components.ts'
import { isStratosError } from '../../../src/errors.ts'
import { startNetwork, patternBytes, collect, wallet, MiB, type TestNetwork } from '../network.ts'

/** A ResourceClient that records the serial and outcome of every shard GET. */
class RecordingClient extends ResourceClient {
  readonly gets: Array<{ serial: string; code?: string }> = []
  override async getShard(p: GetShardParameters): Promise<Uint8Array> {
    try {
      const out = await super.getShard(p)
      this.gets.push({ serial: p.ticket.payload.serial })
      return out
    } catch (e) {
      this.gets.push({ serial: p.ticket.payload.serial, code: isStratosError(e) ? e.code : 'OTHER' })
      throw e
    }
  }
}

/** No hedged reads here (a loaded test box is slow): every GET's outcome is then the node's answer. */
const NO_HEDGE = 120_000

/** Counts the read requests (ticket issues) the meta node gets. */
class CountingMeta extends MetaClient {
  reads = 0
  override read(...args: Parameters<MetaClient['read']>): ReturnType<MetaClient['read']> {
    this.reads++
    return super.read(...args)
  }
}

let net: TestNetwork
let client: StratosClient
/** PUTs retried on another node (a slow, loaded test box): the first node holds bytes no file references. */
let putRetries = 0
const countRetries = {
  onProgress: (e: ProgressEvent) => {
    if (e.type === 'upload:retry') putRetries++
  },
}
before(async () => {
  net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
  client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
})
after(async () => {
  await client?.close()
  await net?.close()
})

test('no shard PUT of an upload carries an order; every shard GET of a read does, and the nodes count it', async () => {
  const data = patternBytes(2 * MiB + 12_345, 71)
  // Serials the nodes hold, settled or not (their settlement loops run meanwhile).
  const serials = () => net.nodes.reduce((n, node) => n + node.orders.pendingCount + node.orders.settledCount, 0)
  const before = serials()
  const { cid } = await client.put(data, countRetries)
  const afterPut = serials()
  // 3 segments × (k + m) shard PUTs, none with an order (retries elsewhere neither).
  assert.equal(afterPut - before, 0, `${putRetries} PUT retries`)
  assert.ok(Buffer.from(await collect(client.cat(cid))).equals(data))
  const afterRead = serials()
  assert.ok(afterRead - afterPut >= 12, 'one GET serial per data shard (more if a slow one was hedged with parity)')
})

test('re-reading a file with cached read tickets whose limits are spent: refreshed before any GET → same bytes, nothing refused, no parity fallback', async () => {
  const data = patternBytes(MiB + 4_096, 72)
  // Public: the bare meta client below reads anonymously (public files only).
  const { cid } = await client.put(data, { ...countRetries, public: true })
  const orders = new OrderSigner()
  const resource = new RecordingClient()
  const meta = new CountingMeta(net.meta.url)
  // A cache that does not know what the client spent (so it hands out the spent window): the read itself must notice.
  const c = {
    meta,
    reads: new ReadCache(meta, systemClock, orders.publicKey),
    orders,
    resource,
    shardLimiter: new Semaphore(8),
    chainId: client.chainId,
    clock: systemClock,
    random: systemRandom,
  }

  const events: ProgressEvent[] = []
  const first = await collect(
    readFile(c, { cid, segmentSizeHint: MiB, hedgeAfterMs: NO_HEDGE, onProgress: (e) => events.push(e) }),
  )
  assert.ok(first.equals(data))
  assert.ok(resource.gets.every((g) => g.code === undefined))
  const firstSerials = new Set(resource.gets.map((g) => g.serial))
  resource.gets.length = 0
  meta.reads = 0

  // The cache is still fresh: the same tickets come back, and their limits are spent (whole shards were read).
  const second = await collect(
    readFile(c, { cid, segmentSizeHint: MiB, hedgeAfterMs: NO_HEDGE, onProgress: (e) => events.push(e) }),
  )
  assert.ok(second.equals(data))
  assert.deepEqual(
    resource.gets.filter((g) => g.code !== undefined),
    [],
    'no GET was sent under a spent limit',
  )
  assert.ok(resource.gets.length >= 8)
  assert.ok(
    resource.gets.every((g) => !firstSerials.has(g.serial)),
    'served under fresh limits',
  )
  assert.deepEqual(
    events.filter((e) => e.type === 'download:fallback'),
    [],
    'no parity fallback was needed',
  )
  // The shards of one segment share one refresh: one per segment.
  assert.equal(meta.reads, 2)

  // A partial re-read of the first bytes works the same way.
  const part = await collect(
    readFile(c, { cid, offset: 10, length: 100, segmentSizeHint: MiB, hedgeAfterMs: NO_HEDGE }),
  )
  assert.ok(part.equals(data.subarray(10, 110)))
})

test('the nodes settle those orders with the real meta node: every PUT of a committed file and every GET accepted', async () => {
  const settled = () => net.nodes.reduce((n, node) => n + node.orders.settledCount, 0)
  const before = settled()
  const data = patternBytes(MiB + 777, 73)
  const { cid } = await client.put(data, countRetries)
  assert.ok(Buffer.from(await collect(client.cat(cid))).equals(data))
  let rejected = 0
  let failed = 0
  const codes: Record<string, number> = {}
  for (const node of net.nodes) {
    // Everything pending, due or not (as at stop); the nodes' own loops may have settled some already.
    const r = await node.settlement.round({ all: true })
    rejected += r.rejected
    failed += r.failed
    for (const [code, n] of Object.entries(r.rejectedCodes)) codes[code] = (codes[code] ?? 0) + n
  }
  // A PUT retried elsewhere is refused (SHARD_NOT_FOUND: that placement is in no file); nothing else may be.
  assert.ok(
    rejected <= putRetries && Object.keys(codes).every((c) => c === 'SHARD_NOT_FOUND'),
    JSON.stringify({ codes, putRetries }),
  )
  assert.equal(failed, 0)
  assert.equal(
    net.nodes.reduce((n, node) => n + node.orders.pendingCount, 0),
    0,
  )
  // 2 segments × 6 PUTs + 8 data-shard GETs of this file (and whatever the earlier tests left pending).
  assert.ok(settled() - before >= 12 + 8)
  // Settled limits are closed: a re-read gets fresh ones (ORDER_LIMIT_EXCEEDED → refresh) and still works.
  assert.ok(Buffer.from(await collect(client.cat(cid))).equals(data))
})
