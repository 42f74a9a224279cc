/** Pure parts of repair: read counting, location health decisions, and the journal of copies in flight. */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { MetaStore, type FileRecord, type NodeRecord } from '../../../src/sds/meta/store.ts'
import { Registry } from '../../../src/sds/meta/registry.ts'
import { RecordCache } from '../../../src/sds/meta/record-cache.ts'
import { HotTracker } from '../../../src/sds/meta/repair/hot.ts'
import { LocationHealth, type NodeHealth } from '../../../src/sds/meta/repair/health.ts'
import { RepairService } from '../../../src/sds/meta/repair/service.ts'
import { repairPayer } from '../../../src/sds/meta/repair/transfer.ts'
import { isWalletAddress } from '../../../src/crypto/wallet-key.ts'
import { seededRandom, silentLogger } from '../../../src/util/components.ts'

describe('HotTracker', () => {
  test('a segment is hot above the threshold within the window, and the window slides', () => {
    const t = new HotTracker({ readsPerWindow: 3, windowMs: 60_000, maxTracked: 100 })
    let now = 1_000_000
    for (let i = 0; i < 3; i++) t.onRead('Qa', 0, 2, now)
    assert.deepEqual(t.takeNewlyHot(), [])
    t.onRead('Qa', 1, 2, now)
    assert.deepEqual(t.takeNewlyHot(), ['Qa/1'])
    assert.deepEqual(t.takeNewlyHot(), [], 'reported once')
    assert.equal(t.reads('Qa', 1, now), 4)
    assert.equal(t.lastHot('Qa/1'), now)
    assert.equal(t.lastHot('Qa/0'), undefined)
    now += 61_000
    assert.equal(t.reads('Qa', 1, now), 0, 'old reads leave the window')
    assert.equal(t.isHot('Qa/1', now), false)
    // Hot again later: reported again.
    for (let i = 0; i < 4; i++) t.onRead('Qa', 1, 2, now)
    assert.deepEqual(t.takeNewlyHot(), ['Qa/1'])
  })

  test('memory is bounded: the least recently read segment is forgotten', () => {
    const t = new HotTracker({ readsPerWindow: 1, windowMs: 60_000, maxTracked: 2 })
    t.onRead('Qa', 0, 1, 1)
    t.onRead('Qb', 0, 1, 2)
    t.onRead('Qa', 0, 1, 3)
    t.onRead('Qc', 0, 1, 4)
    assert.equal(t.tracked, 2)
    assert.equal(t.reads('Qb', 0, 5), 0)
    assert.equal(t.reads('Qa', 0, 5), 2)
  })
})

describe('repair on a real index', () => {
  let dir: string
  let store: MetaStore
  const key = NodeKey.generate()
  const nodes = [NodeKey.generate().address, NodeKey.generate().address, NodeKey.generate().address]
  const now = 10_000_000
  const clock = { now: () => now }
  const record = (address: string, lastSeen: number): NodeRecord => ({
    address,
    url: 'http://127.0.0.1:1',
    version: 'test',
    registeredAt: 0,
    lastSeen,
    seq: 1,
    capacityBytes: 1 << 30,
    freeBytes: 1 << 30,
    usedBytes: 0,
    shardCount: 0,
    load: 0,
  })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratos-repair-units-'))
    store = await MetaStore.open(join(dir, 'index'))
  })
  after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('LocationHealth: grace period, maintenance, audit suspension, bad locations', async () => {
    await store.write(() => {
      store.nodes.put(record(nodes[0], now)) // online
      store.nodes.put(record(nodes[1], now - 1_500)) // offline 1.5 s (offline after 1 s)
      store.nodes.put(record(nodes[2], now - 10_000)) // offline 10 s
    })
    const registry = new Registry({
      store,
      key,
      chainId: 'c',
      clock,
      logger: silentLogger,
      offlineAfterMs: 1_000,
      heartbeatIntervalMs: 100,
    })
    const suspended = new Set<string>()
    const maintenance = new Map<string, number>()
    const audits: NodeHealth = {
      isNodeHealthy: (n) => !suspended.has(n),
      maintenanceUntil: (n, at = now) => {
        const u = maintenance.get(n)
        return u !== undefined && u > at ? u : undefined
      },
      acceptsNewData: (n, at = now) => !suspended.has(n) && !(maintenance.get(n)! > at),
    }
    const h = new LocationHealth({ store, registry, offlineAfterMs: 1_000, graceMs: 5_000, health: audits })
    assert.equal(h.node(nodes[0], now).state, 'healthy')
    assert.deepEqual(h.node(nodes[1], now), { state: 'waiting', reason: 'offline' })
    assert.deepEqual(h.node(nodes[2], now), { state: 'unhealthy', reason: 'offline', online: false })
    assert.deepEqual(h.node(NodeKey.generate().address, now), { state: 'unhealthy', reason: 'unknown', online: false })
    maintenance.set(nodes[2], now + 60_000)
    assert.deepEqual(h.node(nodes[2], now), { state: 'waiting', reason: 'maintenance' })
    assert.equal(h.node(nodes[2], now + 60_001).state, 'unhealthy', 'repaired once the window is over')
    suspended.add(nodes[0])
    assert.deepEqual(h.node(nodes[0], now), { state: 'unhealthy', reason: 'suspended', online: true })
    assert.equal(h.placeable(nodes[0], now), false)
    suspended.clear()
    const shard = 'ab'.repeat(32)
    await store.write(() => {
      store.locations.addRef(nodes[0], shard)
      store.locations.markBad(nodes[0], shard, now)
    })
    assert.deepEqual(h.location(nodes[0], shard, now), { state: 'unhealthy', reason: 'corrupt', online: false })
    assert.equal(h.location(nodes[0], 'cd'.repeat(32), now).state, 'healthy')
  })

  test('the shard index maps shards back to the records using them', async () => {
    const full = (x: Pick<FileRecord, 'cid' | 'segments'>): FileRecord => ({
      ...x,
      kind: 'file',
      size: 10,
      owners: ['st1owner'],
      createdAt: 1,
      k: 1,
      m: 1,
      segmentSize: 4096,
      blockCount: 0,
    })
    const r = {
      cid: 'QmTest',
      segments: [
        {
          index: 0,
          size: 10,
          shardSize: 4096,
          shards: [
            { id: 'a1'.repeat(32), node: nodes[0] },
            { id: 'b2'.repeat(32), node: nodes[1] },
          ],
        },
      ],
    }
    const r2 = {
      cid: 'QmOther',
      segments: [{ index: 0, size: 10, shardSize: 4096, shards: [{ id: 'a1'.repeat(32), node: nodes[2] }] }],
    }
    const entry = { createdAt: 1, kind: 'file', size: 10 } as const
    await store.write(() => {
      store.files.create(full(r), 'st1owner', entry, [])
      store.files.create(full(r2), 'st1owner', entry, [])
    })
    assert.deepEqual(store.files.filesWithShard('a1'.repeat(32)).sort(), ['QmOther', 'QmTest'])
    await store.write(() => store.files.removeOwner(full(r), 'st1owner'))
    assert.deepEqual(store.files.filesWithShard('a1'.repeat(32)), ['QmOther'])
    assert.deepEqual(store.files.filesWithShard('b2'.repeat(32)), [])
  })

  test('a copy left in flight by a killed process is released at start: its node is told to delete it', async () => {
    const shard = 'ef'.repeat(32)
    await store.write(() => {
      store.locations.addRef(nodes[1], shard)
      store.repair.startCopy(nodes[1], shard, { cid: 'QmTest', segment: 0, startedAt: now })
    })
    const registry = new Registry({
      store,
      key,
      chainId: 'c',
      clock,
      logger: silentLogger,
      offlineAfterMs: 1_000,
      heartbeatIntervalMs: 100,
    })
    const service = new RepairService(
      {
        store,
        registry,
        records: new RecordCache(1 << 20),
        key,
        chainId: 'c',
        clock,
        random: seededRandom(1),
        logger: silentLogger,
        offlineAfterMs: 1_000,
      },
      { checkIntervalMs: 60_000 },
    )
    await service.start()
    try {
      assert.equal(store.repair.copyInFlight(nodes[1], shard), false)
      assert.equal(store.locations.refCount(nodes[1], shard), undefined)
      assert.ok(store.locations.pendingDelete(nodes[1], shard) !== undefined)
    } finally {
      await service.stop()
    }
  })

  test('repair traffic is paid by the meta node owner, or a placeholder address without a chain', () => {
    const placeholder = repairPayer(key)
    assert.ok(isWalletAddress(placeholder))
    assert.equal(repairPayer(key), placeholder, 'stable')
    assert.notEqual(repairPayer(NodeKey.generate()), placeholder)
    assert.equal(repairPayer(key, 'st1owner'), 'st1owner')
  })
})
