/**
 * Repair, drain and hot-segment replication against a real meta node and real resource nodes (in process).
 * Short grace periods and check intervals via MetaNodeOptions.repair keep each scenario to a few seconds.
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { flipByte } from '../resource/helpers.ts'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { StratosClient } from '../../../src/sds/client/index.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { startResourceNode } from '../../../src/sds/resource/index.ts'
import type { FileRecordView } from '../../../src/sds/protocol/api.ts'
import type { ChainLink, ChainNodeStatus } from '../../../src/sds/meta/chain-link.ts'
import { StratosError } from '../../../src/errors.ts'
import { closeDefaultDispatcher } from '../../../src/net/json-request.ts'
import { silentLogger } from '../../../src/util/components.ts'
import type { MetaNodeOptions } from '../../../src/sds/meta/index.ts'
import { collect, patternBytes, shardPath, startNetwork, until, wallet, type TestNetwork } from '../network.ts'

const CHAIN_ID = 'repair-test-1'
const KiB = 1024

/** The shared test network (../network.ts), paced for repair (heartbeats every 50 ms, offline after 1 s), with a client. */
interface RepairNet extends TestNetwork {
  client: StratosClient
}

async function startRepairNet(o: {
  nodes: number
  k: number
  m: number
  segmentSize: number
  meta?: Partial<MetaNodeOptions>
}): Promise<RepairNet> {
  const net = await startNetwork({
    ...o,
    chainId: CHAIN_ID,
    heartbeatIntervalMs: 50,
    offlineAfterMs: 1_000,
    capacity: () => 1024 * 1024 * 1024,
  })
  const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
  return {
    ...net,
    client,
    async close() {
      await client.close()
      await net.close()
    },
  }
}

// Keep-alive connections of the process-wide agent would hold the test process open for their idle timeout.
after(() => closeDefaultDispatcher())

interface Stored {
  cid: string
  data: Uint8Array
}

async function uploadAll(net: RepairNet, sizes: number[], seed: number): Promise<Stored[]> {
  const out: Stored[] = []
  for (const [i, size] of sizes.entries()) {
    const data = patternBytes(size, seed + i)
    // Public: the checks below read them as anyone would (fresh clients, bare meta reads), not as their owner.
    const r = await net.client.put(data, { public: true })
    out.push({ cid: r.cid, data })
  }
  return out
}

async function records(net: RepairNet, files: Stored[]): Promise<FileRecordView[]> {
  const meta = new MetaClient(net.meta.url)
  return Promise.all(files.map((f) => meta.file(f.cid)))
}

/** Every file reads byte-exact through a fresh client (no cached record or tickets). */
async function assertReadable(net: RepairNet, files: Stored[]): Promise<void> {
  const client = await StratosClient.connect({ metaUrl: net.meta.url })
  try {
    for (const f of files) assert.ok((await collect(client.cat(f.cid))).equals(f.data), `bytes of ${f.cid}`)
  } finally {
    await client.close()
  }
}

/** Every segment names k+m distinct nodes, none of them in `gone`, all online. */
function fullyRedundant(views: FileRecordView[], gone: ReadonlySet<string>): boolean {
  for (const v of views) {
    for (const seg of v.segments) {
      const nodes = seg.shards.map((s) => s.node)
      if (new Set(nodes).size !== v.k + v.m) return false
      if (nodes.some((n) => gone.has(n) || v.nodes[n]?.state !== 'online')) return false
    }
  }
  return true
}

function positionsOn(views: FileRecordView[], node: string): number {
  let n = 0
  for (const v of views) for (const seg of v.segments) for (const s of seg.shards) if (s.node === node) n++
  return n
}

function busiestNode(views: FileRecordView[]): string {
  const count = new Map<string, number>()
  for (const v of views)
    for (const seg of v.segments) for (const s of seg.shards) count.set(s.node, (count.get(s.node) ?? 0) + 1)
  return [...count.entries()].sort((a, b) => b[1] - a[1])[0][0]
}

describe('repair: a node offline past the grace period', () => {
  let net: RepairNet
  before(async () => {
    net = await startRepairNet({
      nodes: 8,
      k: 4,
      m: 2,
      segmentSize: 256 * KiB,
      meta: { repair: { graceMs: 300, checkIntervalMs: 100, retryMs: 200 } },
    })
  })
  after(async () => {
    await net?.close()
  })

  test('its segments are rebuilt on other nodes to full redundancy, files read byte-exact, the old node is told to delete', async () => {
    const files = await uploadAll(net, [600_000, 100, 2 * 256 * KiB + 5], 1)
    const before = await records(net, files)
    const victim = busiestNode(before)
    const lost = positionsOn(before, victim)
    const victimShards = before.flatMap((v) =>
      v.segments.flatMap((s) => s.shards.filter((x) => x.node === victim).map((x) => x.id)),
    )
    const victimDir = net.dataDirs.get(victim)!
    for (const id of victimShards) assert.ok(existsSync(shardPath(net, victim, id)))
    await net.stopNode(victim)

    await until(
      async () => fullyRedundant(await records(net, files), new Set([victim])),
      'segments repaired off the stopped node',
    )
    await net.meta.repair.idle()
    const stats = net.meta.repair.stats()
    assert.equal(stats.movedShards, lost)
    assert.equal(stats.rebuiltShards, lost, 'an offline node cannot be copied from: every shard was rebuilt')
    assert.equal(stats.copiedShards, 0)
    await assertReadable(net, files)

    // The repaired shards are real: with two more nodes down (m = 2), every segment still decodes.
    const after = await records(net, files)
    const others = [...new Set(after.flatMap((v) => v.segments.flatMap((s) => s.shards.map((x) => x.node))))].slice(
      0,
      2,
    )
    for (const n of others) await net.stopNode(n)
    await until(async () => {
      const v = await records(net, files)
      return others.every((n) => v[0].nodes[n] === undefined || v[0].nodes[n].state === 'offline')
    }, 'two more nodes offline')
    await assertReadable(net, files)

    // The old node comes back: its heartbeat reply tells it to delete what was moved away.
    const back = await startResourceNode({
      dataDir: victimDir,
      port: 0,
      metaUrl: net.meta.url,
      chainId: CHAIN_ID,
      metaAddresses: [net.meta.address],
      heartbeatIntervalMs: 50,
      fsync: false,
      capacityBytes: 1024 * 1024 * 1024,
      logger: silentLogger,
    })
    try {
      await until(
        () => victimShards.every((id) => !existsSync(shardPath(net, victim, id))),
        'old copies deleted on the returning node',
      )
    } finally {
      await back.stop()
    }
  })
})

describe('repair: a corrupt shard', () => {
  let net: RepairNet
  before(async () => {
    net = await startRepairNet({
      nodes: 7,
      k: 4,
      m: 2,
      segmentSize: 256 * KiB,
      meta: { repair: { graceMs: 60_000, checkIntervalMs: 100, retryMs: 200 } },
    })
  })
  after(async () => {
    await net?.close()
  })

  test('reported by its node, it is rebuilt on another node and the file reads byte-exact', async () => {
    const [file] = await uploadAll(net, [300_000], 7)
    const [view] = await records(net, [file])
    const seg = view.segments[0]
    const loc = seg.shards[1]
    const path = shardPath(net, loc.node, loc.id)
    flipByte(path, SHARD_DATA_OFFSET + 1000, 0xff)
    // A read finds it (the node verifies what it serves), quarantines it and reports it in its next heartbeat.
    await assertReadable(net, [file])
    await until(async () => {
      const [v] = await records(net, [file])
      return v.segments[0].shards[1].node !== loc.node && fullyRedundant([v], new Set())
    }, 'corrupt shard moved to another node')
    await net.meta.repair.idle()
    const stats = net.meta.repair.stats()
    assert.equal(stats.movedShards, 1)
    assert.equal(stats.rebuiltShards, 1)
    // Only the corrupt position moved.
    const [v] = await records(net, [file])
    for (let i = 0; i < seg.shards.length; i++) if (i !== 1) assert.deepEqual(v.segments[0].shards[i], seg.shards[i])
    assert.equal(v.segments[0].shards[1].id, loc.id, 'same bytes, same id')
    await assertReadable(net, [file])
  })

  test('found by an audit, it is rebuilt too', async () => {
    const [file] = await uploadAll(net, [200_000], 9)
    const [view] = await records(net, [file])
    const seg = view.segments[0]
    const loc = seg.shards[4] // a parity shard: no read would ever notice it
    assert.ok(seg.shardSize <= 256 * KiB, 'one verification chunk: any audited range covers the flipped byte')
    flipByte(shardPath(net, loc.node, loc.id), SHARD_DATA_OFFSET + 10, 0xff)
    const moved = net.meta.repair.stats().movedShards
    assert.equal(await net.meta.auditor.audit(loc.node, view.nodes[loc.node].url, loc.id), 'failed')
    await until(async () => {
      const [v] = await records(net, [file])
      return v.segments[0].shards[4].node !== loc.node && fullyRedundant([v], new Set())
    }, 'audited corrupt shard moved to another node')
    await net.meta.repair.idle()
    assert.equal(net.meta.repair.stats().movedShards, moved + 1)
    await assertReadable(net, [file])
  })
})

/** A ChainLink whose node statuses the test sets (the on-chain registry is exercised in the e2e tests). */
class TestChainLink implements ChainLink {
  readonly owner = wallet.address
  readonly height = 1
  readonly epoch = 1
  readonly synced = true
  readonly statuses = new Map<string, ChainNodeStatus>()
  nodeStatus(node: string): ChainNodeStatus {
    return this.statuses.get(node) ?? 'active'
  }
  resourceNodes(): [] {
    return []
  }
  async ozone(): Promise<bigint> {
    return 10n ** 30n
  }
  async submit(): Promise<never> {
    throw new StratosError('NETWORK_CONFIG', 'this test has no chain to submit to')
  }
  onEpoch(): () => void {
    return () => {}
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

describe('drain: a node that unbonds on chain', () => {
  let net: RepairNet
  const chain = new TestChainLink()
  before(async () => {
    net = await startRepairNet({
      nodes: 8,
      k: 4,
      m: 2,
      segmentSize: 256 * KiB,
      meta: { chainLink: chain, repair: { graceMs: 60_000, checkIntervalMs: 100, retryMs: 200 } },
    })
  })
  after(async () => {
    await net?.close()
  })

  test('all its shards are copied off it while it is online (no rebuild); it gets no new data; files read byte-exact', async () => {
    const files = await uploadAll(net, [500_000, 3_000], 20)
    const before = await records(net, files)
    const draining = busiestNode(before)
    const held = positionsOn(before, draining)
    assert.ok(held > 0)
    chain.statuses.set(draining, 'unbonding')
    await until(
      async () =>
        positionsOn(await records(net, files), draining) === 0 &&
        fullyRedundant(await records(net, files), new Set([draining])),
      'node drained',
    )
    await net.meta.repair.idle()
    const stats = net.meta.repair.stats()
    assert.equal(stats.movedShards, held)
    assert.equal(stats.copiedShards, held, 'copied straight from the draining node')
    assert.equal(stats.rebuiltShards, 0)
    await assertReadable(net, files)
    // New uploads avoid the draining node.
    const more = await uploadAll(net, [200_000], 40)
    assert.equal(positionsOn(await records(net, more), draining), 0)
  })
})

describe('auto-scaling replication of hot segments', () => {
  let net: RepairNet
  before(async () => {
    net = await startRepairNet({
      nodes: 8,
      k: 2,
      m: 1,
      segmentSize: 128 * KiB,
      meta: {
        repair: {
          graceMs: 60_000,
          checkIntervalMs: 100,
          retryMs: 200,
          hotReadsPerWindow: 3,
          hotCooldownMs: 1500,
          replicationExtraNodes: 2,
        },
      },
    })
  })
  after(async () => {
    await net?.close()
  })

  test('a hot segment gets replicas, reads spread over them, and they are dropped when it cools', async () => {
    const [file] = await uploadAll(net, [200 * KiB], 50)
    const [view] = await records(net, [file])
    const seg0 = view.segments[0]
    const meta = new MetaClient(net.meta.url)
    const orderKey = new OrderSigner().publicKey
    for (let i = 0; i < 4; i++) await meta.read(file.cid, { from: 0, to: 1, orderKey })
    await until(
      () => net.meta.repair.stats().replicatedSegments === 1 && net.meta.repair.stats().inFlight === 0,
      'segment 0 replicated',
    )
    const stats = net.meta.repair.stats()
    assert.equal(stats.replicaBytes, 2 /* data shards */ * 2 /* extra nodes */ * seg0.shardSize)
    // Segment 1 was never read: no replicas.
    assert.equal(net.meta.repair.replicas.holders(file.cid, 1, 0).length, 0)
    const replicaNodes = [0, 1].flatMap((j) => net.meta.repair.replicas.holders(file.cid, 0, j).map((n) => ({ j, n })))
    for (const { j, n } of replicaNodes) {
      assert.ok(
        !seg0.shards.some((s) => s.node === n && s.id === seg0.shards[j].id),
        'a replica is on a node without that shard',
      )
      assert.ok(existsSync(shardPath(net, n, seg0.shards[j].id)), 'replica stored')
    }

    // Reads are spread over primary + replicas; each ticket names the node the view shows.
    const seen = [new Set<string>(), new Set<string>()]
    for (let i = 0; i < 6; i++) {
      const r = await meta.read(file.cid, { from: 0, to: 1, orderKey })
      for (const j of [0, 1]) {
        const node = r.file.segments[0].shards[j].node
        assert.equal(r.tickets[0][j].payload.node, node)
        assert.equal(r.file.nodes[node]?.state, 'online')
        seen[j].add(node)
      }
      assert.deepEqual(r.file.segments[0].shards[2], seg0.shards[2], 'parity is not replicated')
    }
    assert.equal(seen[0].size, 3)
    assert.equal(seen[1].size, 3)
    // Real reads through replicas are byte-exact (fresh clients: each asks the meta node for tickets).
    for (let i = 0; i < 3; i++) await assertReadable(net, [file])

    // Cooling: no reads for the cooldown → replicas dropped, their nodes told to delete them.
    await until(() => net.meta.repair.stats().replicatedSegments === 0, 'replicas dropped after the cooldown')
    assert.equal(net.meta.repair.stats().replicaBytes, 0)
    await until(
      () => replicaNodes.every(({ j, n }) => !existsSync(shardPath(net, n, seg0.shards[j].id))),
      'replica copies deleted on their nodes',
    )
    for (const j of [0, 1])
      assert.ok(existsSync(shardPath(net, seg0.shards[j].node, seg0.shards[j].id)), 'primary copies stay')
    await sleep(10)
    await assertReadable(net, [file])
  })
})
