import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { ReadCache } from '../../../src/sds/client/read-cache.ts'
import { StratosClient } from '../../../src/sds/client/index.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { ManualClock } from '../../../src/util/components.ts'
import { CLIENT_READ_CACHE_TTL_MS, TICKET_TTL_MS, CLIENT_READ_CACHE_MARGIN_MS } from '../../../src/limits.ts'
import { startNetwork, wallet, MiB, type TestNetwork } from '../network.ts'

let net: TestNetwork
let cid: string

before(async () => {
  net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
  const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
  // Public: the bare meta clients below read anonymously.
  cid = (await client.put(randomBytes(3 * MiB), { public: true })).cid
  await client.close()
})
after(async () => {
  await net.close()
})

/** The real MetaClient, counting how often the meta node is asked. */
function countingMeta(): { meta: MetaClient; calls: () => number } {
  const meta = new MetaClient(net.meta.url)
  let n = 0
  const read = meta.read.bind(meta)
  meta.read = (...args: Parameters<MetaClient['read']>) => {
    n++
    return read(...args)
  }
  return { meta, calls: () => n }
}

test('a covered window is served from the cache while fresh; a wider one asks the meta node', async () => {
  const { meta, calls } = countingMeta()
  const clock = new ManualClock(Date.now())
  const cache = new ReadCache(meta, clock, 'A'.repeat(43))
  const first = await cache.read(cid, { from: 0, to: 2 })
  assert.equal(calls(), 1)
  assert.equal(await cache.read(cid, { from: 1, to: 2 }), first)
  assert.equal(calls(), 1)
  await cache.read(cid, { from: 1, to: 3 }) // not covered: segment 2 is outside the cached window
  assert.equal(calls(), 2)
})

test('entries expire after the cache TTL and when tickets run short; refresh and forget bypass', async () => {
  const { meta, calls } = countingMeta()
  const clock = new ManualClock(Date.now())
  const cache = new ReadCache(meta, clock, 'A'.repeat(43))
  await cache.read(cid, { from: 0, to: 1 })
  clock.advance(CLIENT_READ_CACHE_TTL_MS)
  await cache.read(cid, { from: 0, to: 1 })
  assert.equal(calls(), 2, 'stale after the TTL')
  // Tickets are issued by the meta node's real clock. Start 10 s before the margin is reached: the
  // window is reused; 15 s later (still inside the cache TTL) too little ticket life is left.
  const clock2 = new ManualClock(Date.now() + TICKET_TTL_MS - CLIENT_READ_CACHE_MARGIN_MS - 10_000)
  const c2 = new ReadCache(meta, clock2, 'A'.repeat(43))
  await c2.read(cid, { from: 0, to: 1 })
  await c2.read(cid, { from: 0, to: 1 })
  assert.equal(calls(), 3, 'reused while tickets have enough life left')
  clock2.advance(15_000)
  await c2.read(cid, { from: 0, to: 1 })
  assert.equal(calls(), 4, 'tickets with too little life left are not reused')
  await cache.refresh(cid, { from: 0, to: 1 })
  assert.equal(calls(), 5)
  cache.forget(cid)
  assert.equal(cache.has(cid), false)
  await cache.read(cid, { from: 0, to: 1 })
  assert.equal(calls(), 6)
})

test('a window holding a ticket this client has used up is not reused; a partly used one is', async () => {
  const { meta, calls } = countingMeta()
  const signed = new Map<string, number>()
  const cache = new ReadCache(
    meta,
    new ManualClock(Date.now()),
    'A'.repeat(43),
    (t) => t.size - (signed.get(t.serial) ?? 0),
  )
  const first = await cache.read(cid, { from: 0, to: 2 })
  const ticket = first.tickets[1][0]
  signed.set(ticket.payload.serial, ticket.payload.size - 1)
  assert.equal(await cache.read(cid, { from: 0, to: 2 }), first, 'one byte left: still reused')
  assert.equal(calls(), 1)
  signed.set(ticket.payload.serial, ticket.payload.size)
  const second = await cache.read(cid, { from: 0, to: 2 })
  assert.notEqual(second, first)
  assert.equal(calls(), 2, 'a used-up ticket sends the read to the meta node')
  assert.notEqual(second.tickets[1][0].payload.serial, ticket.payload.serial)
})

test('reading a file whole again asks the meta node no more often than the first read did', async () => {
  const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
  try {
    let n = 0
    const read = client.meta.read.bind(client.meta)
    client.meta.read = (...args: Parameters<MetaClient['read']>) => {
      n++
      return read(...args)
    }
    const wholeRead = async (): Promise<number> => {
      const before = n
      let bytes = 0
      for await (const chunk of client.cat(cid)) bytes += chunk.length
      assert.equal(bytes, 3 * MiB)
      return n - before
    }
    const first = await wholeRead()
    // Every data shard's limit is spent now: the cached windows must not be used shard by shard
    // (each GET refused, then one refresh per segment), but replaced window by window.
    assert.equal(await wholeRead(), first)
    assert.equal(await wholeRead(), first)
  } finally {
    await client.close()
  }
})
