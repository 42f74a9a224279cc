/**
 * Compliance suite of the meta node's subsystem stores (src/sds/meta/stores/): engine-suite.ts runs it for every
 * engine (lmdb.test.ts, postgres.test.ts on a real PostgreSQL), so each store's behaviour — not only the engine
 * under it — is held to the same expectations on LMDB and on PostgreSQL. Where the engine is shared, a second
 * process's view (`reopen`) must see what the first committed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { CLOCK_SKEW_MS, OZONE_PROMISE_BUCKET_MS, SHARE_PASSWORD_WINDOW_MS } from '../../../../src/limits.ts'
import type { NodeRecord } from '../../../../src/sds/meta/stores/nodes.ts'
import type { FileRecord, OwnerEntry } from '../../../../src/sds/meta/stores/files.ts'
import type { SessionRecord, SessionSegment } from '../../../../src/sds/meta/stores/uploads.ts'
import type { NodeReputation } from '../../../../src/sds/meta/audit/reputation.ts'
import type { GrantRecord, ShareRecord } from '../../../../src/sds/meta/stores/sharing.ts'
import type { EngineSuiteFactories } from './engine-suite.ts'

const replayed = (e: Error & { code?: string }): boolean => e.code === 'REPLAYED_NONCE'

function node(address: string, seq: number, lastSeen = 1_000): NodeRecord {
  return {
    address,
    url: `http://${address}.test`,
    version: '1',
    registeredAt: 1,
    lastSeen,
    seq,
    capacityBytes: 10,
    freeBytes: 5,
    usedBytes: 5,
    shardCount: 1,
    load: 0,
  }
}

export function storeSuite(name: string, f: EngineSuiteFactories): void {
  test(`${name}: NodeStore keeps one record per node, listed by address`, async (t) => {
    const store = await f.store(t)
    assert.deepEqual(store.nodes.all(), [])
    await store.write(() => {
      store.nodes.put(node('st1b', 1))
      store.nodes.put(node('st1a', 1))
    })
    await store.write(() => store.nodes.put(node('st1b', 2, 2_000)))
    assert.deepEqual(
      store.nodes.all().map((r) => [r.address, r.seq]),
      [
        ['st1a', 1],
        ['st1b', 2],
      ],
    )
    assert.deepEqual(store.nodes.get('st1b'), node('st1b', 2, 2_000))
    assert.equal(store.nodes.get('st1c'), undefined)
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.equal(other.nodes.get('st1b')?.seq, 2, 'another process sees the heartbeat')
  })

  test(`${name}: LocationStore counts refs, queues the last release's delete and hands deletes out once`, async (t) => {
    const store = await f.store(t)
    const loc = store.locations
    await store.write(() => {
      loc.addRef('n1', 's1')
      loc.addRef('n1', 's1')
      loc.addRef('n1', 's2')
    })
    assert.equal(loc.refCount('n1', 's1'), 2)
    await store.write(() => loc.releaseRef('n1', 's1', 5))
    assert.deepEqual(loc.pendingDeletes('n1', 10), [], 'one ref is left')
    await store.write(() => loc.releaseRef('n1', 's1', 6))
    assert.equal(loc.refCount('n1', 's1'), undefined)
    assert.deepEqual(loc.pendingDeletes('n1', 10), [{ shard: 's1', value: { queuedAt: 6 } }])
    assert.equal(loc.isKnown('n1', 's1'), true, 'still to be deleted: a GET order on it is payable')
    assert.equal(loc.locationBlocked('n1', 's1'), false, 'a delete not handed out yet can be cancelled')
    // Placement takes it again before the node heard of the delete: the delete is cancelled.
    await store.write(() => loc.addRef('n1', 's1'))
    assert.equal(loc.pendingDelete('n1', 's1'), undefined)
    await store.write(() => {
      loc.releaseRef('n1', 's1', 7)
      loc.queueDelete('n1', 's9', 7)
      loc.queueDelete('n1', 's9', 8) // idempotent: keeps the first time
      loc.queueDeleteIfUnreferenced('n1', 's2', 8) // referenced: nothing
    })
    assert.equal(loc.countPendingDeletes('n1'), 2)
    assert.deepEqual(loc.pendingDelete('n1', 's9'), { queuedAt: 7 })
    assert.deepEqual(await store.write(() => loc.handOutDeletes('n1', 1, 10)), ['s1'])
    assert.equal(loc.locationBlocked('n1', 's1'), true, 'handed out: placement must not pick it')
    assert.deepEqual(await store.write(() => loc.handOutDeletes('n1', 10, 11)), ['s1', 's9'])
    assert.deepEqual(loc.pendingDelete('n1', 's1'), { queuedAt: 7, sentAt: 10 }, 'sentAt is the first hand-out')
    await store.write(() => loc.ackDeletes('n1', ['s1', 'never-queued']))
    assert.deepEqual(
      loc.pendingDeletes('n1', 10).map((d) => d.shard),
      ['s9'],
    )
    assert.equal(loc.isKnown('n1', 's1'), false)
  })

  test(`${name}: LocationStore moves a bad location's refs to bad until the records using it let go`, async (t) => {
    const store = await f.store(t)
    const loc = store.locations
    await store.write(() => {
      loc.addRef('n1', 's1')
      loc.addRef('n1', 's1')
      loc.queueDelete('n1', 's2', 1)
    })
    assert.equal(await store.write(() => loc.markBad('n1', 's1', 3)), true)
    assert.equal(await store.write(() => loc.markBad('n1', 's2', 3)), false, 'unreferenced: nothing to move')
    assert.equal(loc.pendingDelete('n1', 's2'), undefined, 'its pending delete is moot')
    assert.equal(loc.refCount('n1', 's1'), undefined)
    assert.deepEqual(loc.badLocation('n1', 's1'), { reportedAt: 3, refs: 2 })
    assert.equal(loc.isBad('n1', 's1'), true)
    assert.equal(loc.locationBlocked('n1', 's1'), true)
    assert.equal(loc.isKnown('n1', 's1'), true)
    assert.deepEqual(loc.badLocations(undefined, 10), [['n1', 's1']])
    await store.write(() => loc.releaseRef('n1', 's1', 4))
    assert.deepEqual(loc.badLocation('n1', 's1'), { reportedAt: 3, refs: 1 })
    await store.write(() => loc.releaseRef('n1', 's1', 5))
    assert.equal(loc.isBad('n1', 's1'), false)
    assert.deepEqual(loc.pendingDeletes('n1', 10), [], 'the node quarantined the bytes: nothing to delete')
  })

  test(`${name}: LocationStore pages a node's referenced shards and the bad locations in key order`, async (t) => {
    const store = await f.store(t)
    const loc = store.locations
    const shards = Array.from({ length: 7 }, (_, i) => `s${i}`)
    await store.write(() => {
      for (const s of shards) loc.addRef('n1', s)
      loc.addRef('n0', 'x')
      loc.addRef('n2', 'y')
    })
    assert.deepEqual(loc.referencedShards('n1', '', 3), ['s0', 's1', 's2'])
    assert.deepEqual(loc.referencedShards('n1', 's2', 3), ['s3', 's4', 's5'], '`after` is excluded')
    assert.deepEqual(loc.referencedShards('n1', 's5', 3), ['s6'], 'never past the node')
    assert.deepEqual(loc.referencedShards('n3', '', 3), [])
    assert.equal(loc.firstReferencedAtOrAfter('n1', 's3'), 's3')
    assert.equal(loc.firstReferencedAtOrAfter('n1', 's35'), 's4')
    assert.equal(loc.firstReferencedAtOrAfter('n1', 's7'), undefined, 'never past the node')
    await store.write(() => {
      for (const s of ['s1', 's3', 's5']) loc.markBad('n1', s, 1)
      loc.markBad('n2', 'y', 1)
    })
    assert.deepEqual(loc.badLocations(undefined, 2), [
      ['n1', 's1'],
      ['n1', 's3'],
    ])
    assert.deepEqual(loc.badLocations(['n1', 's3'], 2), [
      ['n1', 's5'],
      ['n2', 'y'],
    ])
    assert.deepEqual(loc.badLocations(['n2', 'y'], 2), [])
  })

  test(`${name}: LocationStore keeps a location in at most one of refs, bad and deletes (model)`, async (t) => {
    const store = await f.store(t)
    const loc = store.locations
    type Op = { op: 'add' | 'release' | 'bad' | 'hand' | 'ack'; shard: 'a' | 'b' | 'c' }
    const opArb = fc.record({
      op: fc.constantFrom<Op['op']>('add', 'release', 'bad', 'hand', 'ack'),
      shard: fc.constantFrom<Op['shard']>('a', 'b', 'c'),
    })
    let round = 0
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 15 }), async (ops) => {
        const n = `m${round++}`
        // The model: refs, bad refs and pending deletes per shard, as the ledger's invariants say they move.
        const refs = new Map<string, number>()
        const bad = new Map<string, number>()
        const deletes = new Set<string>()
        const sent = new Set<string>()
        for (const { op, shard } of ops) {
          if (op === 'release' && !refs.has(shard) && !bad.has(shard)) continue // callers release only what they hold
          // Placement adds a ref only where locationBlocked says it may: the store answers it, the model agrees.
          assert.equal(loc.locationBlocked(n, shard), bad.has(shard) || sent.has(shard), `blocked ${shard}`)
          if (op === 'add' && (bad.has(shard) || sent.has(shard))) continue
          await store.write(() => {
            if (op === 'add') loc.addRef(n, shard)
            else if (op === 'release') loc.releaseRef(n, shard, 1)
            else if (op === 'bad') loc.markBad(n, shard, 1)
            else if (op === 'hand') loc.handOutDeletes(n, 10, 1)
            else loc.ackDeletes(n, [shard])
          })
          if (op === 'add') {
            if (!refs.has(shard)) deletes.delete(shard)
            sent.delete(shard)
            refs.set(shard, (refs.get(shard) ?? 0) + 1)
          } else if (op === 'release') {
            if (bad.has(shard)) {
              const left = bad.get(shard)! - 1
              if (left > 0) bad.set(shard, left)
              else bad.delete(shard)
            } else {
              const left = refs.get(shard)! - 1
              if (left > 0) refs.set(shard, left)
              else {
                refs.delete(shard)
                deletes.add(shard)
              }
            }
          } else if (op === 'bad') {
            deletes.delete(shard)
            sent.delete(shard)
            if (refs.has(shard)) {
              bad.set(shard, (bad.get(shard) ?? 0) + refs.get(shard)!)
              refs.delete(shard)
            }
          } else if (op === 'hand') for (const d of deletes) sent.add(d)
          else {
            deletes.delete(shard)
            sent.delete(shard)
          }
        }
        for (const shard of ['a', 'b', 'c']) {
          assert.equal(loc.refCount(n, shard), refs.get(shard), `refs of ${shard}`)
          assert.equal(loc.badLocation(n, shard)?.refs, bad.get(shard), `bad refs of ${shard}`)
          assert.equal(loc.pendingDelete(n, shard) !== undefined, deletes.has(shard), `delete of ${shard}`)
          const places = [refs.has(shard), bad.has(shard), deletes.has(shard)].filter(Boolean).length
          assert.ok(places <= 1, `${shard} is in at most one place`)
        }
      }),
      { numRuns: 15 },
    )
  })

  test(`${name}: NonceStore refuses a replay, forgets expired nonces, and rolls back with its write`, async (t) => {
    const store = await f.store(t)
    const nonces = store.nonces
    await store.write(() => {
      nonces.use('st1w', 'n1', 1_000)
      nonces.useUntil('upload:u1', 'n1', 500) // another namespace: the same nonce is fresh there
    })
    assert.equal(nonces.isUsed('st1w', 'n1'), true)
    assert.equal(nonces.isUsed('st1w', 'n2'), false)
    await assert.rejects(
      store.write(() => nonces.use('st1w', 'n1', 2_000)),
      replayed,
    )
    // A request whose effect fails leaves its nonce unused.
    await assert.rejects(
      store.write(() => {
        nonces.use('st1w', 'n3', 1_000)
        throw new Error('effect failed')
      }),
      /effect failed/,
    )
    assert.equal(nonces.isUsed('st1w', 'n3'), false)
    const other = f.reopen ? await f.reopen(t, store) : store
    await assert.rejects(
      other.write(() => other.nonces.use('st1w', 'n1', 1_000)),
      replayed,
      'another process refuses the replay too',
    )
    // use() keeps a nonce until its request's expiry plus the clock skew.
    assert.equal(nonces.hasExpired(500), false)
    assert.equal(nonces.hasExpired(501), true)
    assert.equal(await store.write(() => nonces.prune(1_000 + CLOCK_SKEW_MS, 10)), 1, 'only upload:u1 is past')
    assert.equal(nonces.isUsed('upload:u1', 'n1'), false)
    assert.equal(nonces.isUsed('st1w', 'n1'), true)
    assert.equal(await store.write(() => nonces.prune(1_001 + CLOCK_SKEW_MS, 10)), 1)
    assert.equal(nonces.isUsed('st1w', 'n1'), false)
    assert.equal(nonces.hasExpired(Number.MAX_SAFE_INTEGER), false)
  })

  test(`${name}: ShareStore and GrantStore keep records by id and each owner's live ones, oldest first`, async (t) => {
    const store = await f.store(t)
    const share = (id: string, owner: string, createdAt: number): ShareRecord => ({
      id,
      cid: 'bafyc',
      kind: 'file',
      owner,
      createdAt,
      expiresAt: null,
      password: null,
    })
    const grant = (id: string, owner: string, createdAt: number): GrantRecord => ({
      id,
      owner,
      scope: { prefixes: ['a/'] },
      createdAt,
      expiresAt: 10_000,
    })
    await store.write(() => {
      store.shares.put(share('s2', 'st1a', 5))
      store.shares.put(share('s1', 'st1a', 5))
      store.shares.put(share('s0', 'st1a', 1))
      store.shares.put(share('s9', 'st1b', 1))
      store.grants.put(grant('g1', 'st1a', 2))
      store.grants.put(grant('g0', 'st1a', 3))
    })
    assert.deepEqual(
      store.shares.byOwner('st1a').map((r) => r.id),
      ['s0', 's1', 's2'],
      'by creation time, then id',
    )
    assert.equal(store.shares.liveCount('st1a'), 3)
    assert.deepEqual(
      store.grants.byOwner('st1a').map((g) => g.id),
      ['g1', 'g0'],
    )
    assert.equal(store.shares.exists('g1'), false, 'shares and grants are separate namespaces')
    await store.write(() => {
      store.shares.put({ ...share('s1', 'st1a', 5), revokedAt: 7 })
      store.grants.put({ ...grant('g1', 'st1a', 2), revokedAt: 7 })
    })
    assert.deepEqual(
      store.shares.byOwner('st1a').map((r) => r.id),
      ['s0', 's2'],
      'a revoked link leaves the live list',
    )
    assert.equal(store.shares.get('s1')?.revokedAt, 7, 'its record stays: the link answers SHARE_REVOKED')
    assert.equal(store.shares.exists('s1'), true, 'its id is never handed out again')
    assert.equal(store.grants.liveCount('st1a'), 1)
    assert.equal(store.grants.get('g1')?.revokedAt, 7)
    assert.equal(store.grants.get('nope'), undefined)
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.equal(other.shares.get('s1')?.revokedAt, 7, 'another process sees the revocation at once')
  })

  test(`${name}: ShareStore counts wrong passwords per window, bounded, and forgets ended windows`, async (t) => {
    const store = await f.store(t)
    const sh = store.shares
    const W = SHARE_PASSWORD_WINDOW_MS
    await store.write(() => {
      sh.countFailure('L', '10.0.0.1', 100)
      sh.countFailure('L', '10.0.0.1', 200)
      sh.countFailure('L', '10.0.0.2', 300)
    })
    assert.deepEqual(sh.attempts('L', '10.0.0.1', 200), { count: 2, windowStart: 100 })
    assert.equal(sh.attempts('L', '10.0.0.1', 100 + W), undefined, 'its window ended')
    await store.write(() => sh.uncountFailure('L', '10.0.0.1'))
    assert.deepEqual(sh.attempts('L', '10.0.0.1', 200), { count: 1, windowStart: 100 })
    assert.deepEqual(sh.attemptTotals(), { counters: 2, windows: 2 })
    // Past the first window: the next failure prunes it and starts a new window for its client.
    await store.write(() => sh.countFailure('L', '10.0.0.1', 150 + W))
    assert.deepEqual(sh.attempts('L', '10.0.0.1', 150 + W), { count: 1, windowStart: 150 + W })
    assert.deepEqual(sh.attemptTotals(), { counters: 2, windows: 2 })
    await store.write(() => sh.clearAttempts('L'))
    assert.deepEqual(sh.attemptTotals(), { counters: 0, windows: 0 })
  })

  test(`${name}: BudgetStore keeps caps and per-epoch spending, and prunes old epochs`, async (t) => {
    const store = await f.store(t)
    const b = store.budgets
    await store.write(() => {
      b.setCap('st1a', '', { bytesPerEpoch: 100, setAt: 1 })
      b.setCap('st1a', 'bafyz', { bytesPerEpoch: 10, setAt: 2 })
      b.setCap('st1b', '', { bytesPerEpoch: 5, setAt: 3 })
      b.setSpent('st1a', '', 4, 50)
      b.setSpent('st1a', 'bafyz', 4, 7)
      b.setSpent('st1a', '', 6, 1)
    })
    assert.deepEqual(b.caps('st1a'), [
      { cid: '', budget: { bytesPerEpoch: 100, setAt: 1 } },
      { cid: 'bafyz', budget: { bytesPerEpoch: 10, setAt: 2 } },
    ])
    assert.deepEqual(b.cap('st1a', 'bafyz'), { bytesPerEpoch: 10, setAt: 2 })
    // In an async read, prefetched (one round of reads on PostgreSQL).
    assert.deepEqual(
      await store.read(() => {
        store.prefetch(b.capReads('st1b', ['', 'bafyz']))
        return [b.cap('st1b', ''), b.cap('st1b', 'bafyz')]
      }),
      [{ bytesPerEpoch: 5, setAt: 3 }, undefined],
    )
    assert.equal(b.spent('st1a', '', 4), 50)
    assert.equal(b.spent('st1a', '', 5), 0)
    await store.write(() => b.setCap('st1a', 'bafyz', null))
    assert.equal(b.cap('st1a', 'bafyz'), undefined, 'a lifted cap is gone')
    assert.equal(await store.write(() => b.pruneSpent(5, 1)), 1, 'at most `limit`')
    assert.equal(await store.write(() => b.pruneSpent(5, 10)), 1)
    assert.equal(b.spent('st1a', 'bafyz', 4), 0)
    assert.equal(b.spent('st1a', '', 6), 1, 'epochs from `before` on stay')
    assert.deepEqual(b.cap('st1a', ''), { bytesPerEpoch: 100, setAt: 1 }, 'pruning spending leaves the caps')
  })

  test(`${name}: RepairStore tracks copies in flight and a segment's replicas`, async (t) => {
    const store = await f.store(t)
    const rs = store.repair
    await store.write(() => {
      rs.startCopy('n1', 's1', { cid: 'bafy1', segment: 0, startedAt: 5 })
      rs.startCopy('n2', 's2', { cid: 'bafy1', segment: 1, startedAt: 6 })
    })
    assert.equal(rs.copyInFlight('n1', 's1'), true)
    assert.equal(rs.copyInFlight('n1', 's2'), false)
    assert.deepEqual(rs.copiesInFlight(1), [
      { node: 'n1', shard: 's1', copy: { cid: 'bafy1', segment: 0, startedAt: 5 } },
    ])
    await store.write(() => rs.endCopy('n1', 's1'))
    assert.deepEqual(
      rs.copiesInFlight(10).map((c) => c.node),
      ['n2'],
    )
    const at = (segment: number, shardIndex: number, node: string) => ({ cid: 'bafy1', segment, shardIndex, node })
    await store.write(() => {
      rs.putReplica(at(0, 1, 'n3'), { shard: 's1', size: 10, addedAt: 1 })
      rs.putReplica(at(0, 0, 'n4'), { shard: 's0', size: 10, addedAt: 2 })
      rs.putReplica(at(1, 0, 'n3'), { shard: 's5', size: 7, addedAt: 3 })
      rs.putReplica({ cid: 'bafy2', segment: 0, shardIndex: 0, node: 'n3' }, { shard: 's9', size: 1, addedAt: 4 })
    })
    assert.deepEqual(
      rs.segmentReplicas('bafy1', 0).map((r) => [r.at.shardIndex, r.at.node, r.record.shard]),
      [
        [0, 'n4', 's0'],
        [1, 'n3', 's1'],
      ],
      'one segment only, by shard position',
    )
    assert.equal(rs.replica(at(1, 0, 'n3'))?.size, 7)
    assert.equal(rs.allReplicas().length, 4)
    await store.write(() => rs.removeReplica(at(0, 1, 'n3')))
    assert.equal(rs.replica(at(0, 1, 'n3')), undefined)
    assert.equal(rs.segmentReplicas('bafy1', 0).length, 1)
  })

  test(`${name}: ReputationStore keeps one record per node`, async (t) => {
    const store = await f.store(t)
    const rep = (node: string, audits: number) =>
      ({
        node,
        audit: { alpha: 20, beta: 0 },
        online: { alpha: 20, beta: 0 },
        audits,
      }) as unknown as NodeReputation
    await store.write(() => {
      store.reputation.put(rep('st1b', 1))
      store.reputation.put(rep('st1a', 2))
    })
    await store.write(() => store.reputation.put(rep('st1b', 3)))
    assert.deepEqual(
      store.reputation.all().map((r) => [r.node, r.audits]),
      [
        ['st1a', 2],
        ['st1b', 3],
      ],
    )
    assert.equal(store.reputation.get('st1c'), undefined)
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.equal(other.reputation.get('st1b')?.audits, 3, 'another process sees the audit outcome')
  })

  test(`${name}: FileStore keeps a record with its owners, blocks, indexes and counters, and removes them together`, async (t) => {
    const store = await f.store(t)
    const fs = store.files
    const seg = (index: number, ids: string[]) => ({
      index,
      size: 8,
      shardSize: 4,
      shards: ids.map((id, i) => ({ id, node: `n${i}` })),
    })
    const rec = (cid: string, kind: 'file' | 'directory', size: number, shardIds: string[]): FileRecord => ({
      cid,
      kind,
      size,
      owners: ['st1a'],
      createdAt: 1,
      k: 1,
      m: 1,
      segmentSize: 8,
      segments: shardIds.length ? [seg(0, shardIds)] : [],
      blockCount: 0,
    })
    const block = new Uint8Array([0x0a, 0x02, 0x08, 0x02]) // a dag-pb node with data only
    const digest = createHash('sha256').update(block).digest('hex')
    await store.write(() => {
      fs.create({ ...rec('bafyA', 'file', 100, ['sA0', 'sA1']), blockCount: 1 }, 'st1a', entry(100), [block])
      fs.create(rec('bafyB', 'file', 20, ['sA0']), 'st1a', entry(20), [])
      fs.create(rec('bafyD', 'directory', 120, []), 'st1a', { ...entry(120), kind: 'directory' }, [])
    })
    assert.deepEqual(fs.counters(), { files: 3, fileBytes: 120 }, 'directories add no file bytes')
    assert.deepEqual(
      fs.blocks('bafyA').map((b) => [...b]),
      [[...block]],
    )
    assert.deepEqual(fs.blockHolders(digest, 10), ['bafyA'])
    assert.deepEqual(fs.filesWithShard('sA0'), ['bafyA', 'bafyB'])
    assert.equal(fs.shardsIndexed(fs.get('bafyA')!), true)
    assert.deepEqual(
      fs.ownedBy('st1a', '', 2).map((e) => e.cid),
      ['bafyA', 'bafyB'],
    )
    assert.deepEqual(
      fs.ownedBy('st1a', 'bafyB', 10).map((e) => e.cid),
      ['bafyD'],
      '`after` is excluded',
    )
    assert.deepEqual(
      fs.scan('bafyA', 1).map((e) => e.cid),
      ['bafyB'],
    )
    assert.deepEqual(fs.publicAfter('', 10), [])
    // A second owner publishes: the record names its publisher and is listed publicly.
    const b1 = await store.write(() => fs.setOwner(fs.get('bafyB')!, 'st1b', { ...entry(20), public: true }))
    assert.deepEqual(b1.owners, ['st1a', 'st1b'])
    assert.equal(b1.publicBy, 'st1b')
    assert.deepEqual(
      fs.publicAfter('', 10).map((e) => e.cid),
      ['bafyB'],
    )
    // Its publisher leaves: the record stays with its first owner, no longer public.
    const b2 = await store.write(() => fs.removeOwner(fs.get('bafyB')!, 'st1b'))
    assert.deepEqual(b2?.owners, ['st1a'])
    assert.equal(b2?.publicBy, undefined)
    assert.deepEqual(fs.publicAfter('', 10), [])
    assert.equal(fs.ownerEntry('st1b', 'bafyB'), undefined)
    // A repair moves a shard: only the segments change.
    const moved = {
      ...seg(0, ['sA0', 'sA1']),
      shards: [
        { id: 'sA0', node: 'n9' },
        { id: 'sA1', node: 'n1' },
      ],
    }
    await store.write(() => fs.setSegments('bafyA', [moved]))
    assert.equal(fs.get('bafyA')?.segments[0]?.shards[0]?.node, 'n9')
    assert.equal(fs.get('bafyA')?.owners.length, 1)
    // The last owner leaves: record, blocks, owner entry, indexes and counters go together.
    assert.equal(await store.write(() => fs.removeOwner(fs.get('bafyA')!, 'st1a')), undefined)
    assert.equal(fs.get('bafyA'), undefined)
    assert.deepEqual(fs.blocks('bafyA'), [])
    assert.deepEqual(fs.blockHolders(digest, 10), [])
    assert.deepEqual(fs.filesWithShard('sA0'), ['bafyB'])
    assert.equal(fs.ownerEntry('st1a', 'bafyA'), undefined)
    assert.deepEqual(fs.counters(), { files: 2, fileBytes: 20 })
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.deepEqual(other.files.counters(), { files: 2, fileBytes: 20 }, 'another process sees the same counters')
  })

  test(`${name}: UploadStore keeps a session, its segments, tickets and expiry, and removes them together`, async (t) => {
    const store = await f.store(t)
    const up = store.uploads
    const session = (uploadId: string, expiresAt: number): SessionRecord => ({
      uploadId,
      owner: 'st1a',
      k: 1,
      m: 1,
      segmentSize: 8,
      declaredSize: null,
      orderKey: 'ok',
      createdAt: 1,
      lastActivity: 1,
      expiresAt,
      segmentCount: 0,
    })
    const segment = (index: number): SessionSegment => ({
      index,
      size: 8,
      shardSize: 8,
      shards: [{ id: `s${index}`, node: 'n1', serial: `x${index}`, attempts: 1 }],
    })
    await store.write(() => {
      up.put(session('u1', 100))
      up.put(session('u2', 50))
      up.putSegment('u1', 1, segment(1))
      up.putSegment('u1', 0, segment(0))
      up.addTicket('u1', 'n1', 's0')
      up.addTicket('u1', 'n2', 's0')
      up.addTicket('u2', 'n1', 's0')
    })
    assert.equal(up.count(), 2)
    assert.deepEqual(
      up.segments('u1').map((s) => s.index),
      [0, 1],
    )
    assert.deepEqual(up.segment('u1', 1), segment(1))
    assert.deepEqual(up.tickets('u1'), [
      ['n1', 's0'],
      ['n2', 's0'],
    ])
    assert.equal(up.hasTicket('u1', 'n2', 's0'), true)
    assert.equal(up.hasTicket('u2', 'n2', 's0'), false)
    assert.equal(up.holdsLocation('n1', 's0'), true)
    assert.deepEqual(up.expired(60, 10), ['u2'])
    // Activity moves the expiry: the sweeper's index follows.
    await store.write(() => up.put({ ...session('u2', 500), lastActivity: 40 }))
    assert.deepEqual(up.expired(60, 10), [])
    assert.deepEqual(up.expired(500, 10), ['u1', 'u2'], 'oldest expiry first')
    assert.deepEqual(up.expired(500, 1), ['u1'])
    await store.write(() => {
      for (const [node, shard] of up.tickets('u2')) up.removeTicket('u2', node, shard)
      up.remove('u2')
    })
    assert.equal(up.get('u2'), undefined)
    assert.equal(up.count(), 1)
    assert.deepEqual(up.expired(500, 10), ['u1'])
    assert.equal(up.holdsLocation('n1', 's0'), true, 'u1 still holds it')
    await store.write(() => {
      for (const [node, shard] of up.tickets('u1')) up.removeTicket('u1', node, shard)
      up.remove('u1')
    })
    assert.equal(up.holdsLocation('n1', 's0'), false)
    assert.deepEqual(up.segments('u1'), [])
    assert.equal(up.hasTicket('u1', 'n1', 's0'), false)
    assert.equal(up.locationsPending(), false)
  })

  test(`${name}: PotStore settles a serial once, credits traffic and committed PUTs per epoch, node and file, and prunes`, async (t) => {
    const store = await f.store(t)
    const pot = store.pot
    await store.write(() => {
      pot.markSettled('ser1', 100)
      pot.creditTraffic({ epoch: 3, node: 'stsds1a', payer: 'st1x', cid: 'bafyF', op: 'get', bytes: 10 })
      pot.creditTraffic({ epoch: 3, node: 'stsds1a', payer: 'st1x', cid: 'bafyF', op: 'get', bytes: 5 })
      pot.creditTraffic({ epoch: 4, node: 'stsds1b', payer: 'st1y', cid: 'bafyF', op: 'put', bytes: 7 })
      pot.addPutCredit('up1', {
        payer: 'st1y',
        cid: 'bafyG',
        puts: [
          ['stsds1b', 4, 4, 1_000],
          ['stsds1c', 3, 0, 0],
        ],
      })
      pot.addPutCredit('up2', { payer: 'st1y', cid: 'bafyG', puts: [['stsds1b', 4, 4, 1_000]] })
    })
    const pending = pot.pendingPutCredits(10)
    assert.deepEqual(
      pending.map((p) => [p.id, p.credit.puts.length]),
      [
        ['up1', 2],
        ['up2', 1],
      ],
    )
    assert.deepEqual(pot.pendingPutCredits(1).length, 1, 'limit')
    // Credited in one batch: each aggregate row once, the pending rows gone.
    await store.write(() => {
      store.prefetch(
        pot.putCreditReads(
          5,
          pending.map((p) => p.credit),
        ),
      )
      pot.creditPuts(5, pending)
    })
    assert.deepEqual(pot.pendingPutCredits(10), [])
    assert.deepEqual(
      pot.epochCredits(5).map((c) => [c.node, c.payer, c.credit]),
      [
        ['stsds1b', 'st1y', { bytes: 8, orders: 2 }],
        ['stsds1c', 'st1y', { bytes: 3, orders: 1 }],
      ],
    )
    assert.deepEqual(
      pot.fileTraffic('bafyG').map((e) => [e.epoch, e.op, e.credit.bytes, e.credit.orders]),
      [[5, 'put', 11, 3]],
    )
    assert.equal(pot.isSettled('ser1'), true)
    assert.equal(pot.isSettled('ser2'), false)
    assert.deepEqual(pot.epochCredits(3), [{ node: 'stsds1a', payer: 'st1x', credit: { bytes: 15, orders: 2 } }])
    assert.deepEqual(pot.creditedEpochs(10), [3, 4, 5])
    assert.deepEqual(pot.nodeTotal('stsds1a'), { bytes: 15, orders: 2 })
    assert.deepEqual(
      pot.fileTraffic('bafyF').map((e) => [e.epoch, e.op, e.credit.bytes]),
      [
        [3, 'get', 15],
        [4, 'put', 7],
      ],
    )
    // A report that did not fit moves a credit on to the next epoch.
    await store.write(() => pot.carryCredit(3, 'stsds1a', 'st1x', { bytes: 15, orders: 2 }))
    assert.deepEqual(pot.epochCredits(3), [])
    assert.deepEqual(
      pot.epochCredits(4).map((c) => [c.node, c.credit.bytes]),
      [
        ['stsds1a', 15],
        ['stsds1b', 7],
      ],
    )
    assert.equal(pot.hasPrunable(99), false)
    assert.equal(pot.hasPrunable(100), true)
    assert.equal(await store.write(() => pot.prune(99, 10)), 0)
    assert.equal(pot.isSettled('ser1'), true, 'kept until 100: still settled')
    assert.equal(await store.write(() => pot.prune(100, 10)), 1)
    assert.equal(pot.isSettled('ser1'), false)
    assert.equal(await store.write(() => pot.pruneEpochsBefore(6, 10)), 4)
    assert.deepEqual(pot.creditedEpochs(10), [])
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.deepEqual(other.pot.nodeTotal('stsds1b'), { bytes: 15, orders: 3 }, 'all-time totals are never pruned')
  })

  test(`${name}: OzoneStore keeps each payer's promises by expiry bucket, accepted and held bytes`, async (t) => {
    const store = await f.store(t)
    const oz = store.ozone
    const B = OZONE_PROMISE_BUCKET_MS
    const now = 100 * B
    const none = { promised: 0, accepted: 0, held: 0, leased: 0 }
    assert.deepEqual(oz.totals('st1x', now), none)
    await store.write(() => {
      store.prefetch(oz.reads(['st1x', 'st1y']))
      oz.promise('st1x', 100, now + 10 * B, now)
      oz.promise('st1x', 50, now + 10 * B - 1, now) // rounds up into the same bucket
      oz.promise('st1x', 7, now + 20 * B, now)
      oz.promise('st1y', 0, now + 20 * B, now) // nothing: no row
    })
    assert.deepEqual(oz.totals('st1x', now), { promised: 157, accepted: 0, held: 0, leased: 0 })
    assert.deepEqual(oz.totals('st1y', now), none)
    // Settling drains the limit's own bucket (never below zero) and adds what was spent.
    await store.write(() => oz.settle('st1x', 120, now + 10 * B, 90, now))
    assert.deepEqual(oz.totals('st1x', now), { promised: 37, accepted: 90, held: 0, leased: 0 })
    await store.write(() => oz.settle('st1x', 120, now + 10 * B, 1, now))
    assert.deepEqual(oz.totals('st1x', now), { promised: 7, accepted: 91, held: 0, leased: 0 })
    // Charged on chain: accepted leaves, held until the given time; never more than accepted leaves.
    await store.write(() => oz.charge('st1x', 1_000, now, now + 5))
    assert.deepEqual(oz.totals('st1x', now), { promised: 7, accepted: 0, held: 91, leased: 0 })
    assert.deepEqual(oz.totals('st1x', now + 5), { promised: 7, accepted: 0, held: 0, leased: 0 })
    // A bucket counts until its end plus the clock skew a node allows.
    assert.equal(oz.totals('st1x', now + 20 * B + CLOCK_SKEW_MS - 1).promised, 7)
    assert.equal(oz.totals('st1x', now + 20 * B + CLOCK_SKEW_MS).promised, 0)
    assert.equal(oz.restored(), false)
    await store.write(() => {
      oz.addAccepted('st1z', 5, now)
      oz.markRestored()
    })
    assert.equal(oz.restored(), true)
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.deepEqual(
      other.ozone.totals('st1z', now),
      { promised: 0, accepted: 5, held: 0, leased: 0 },
      'another process sees it',
    )
    // Prune: rows with nothing live go, a batch at a time after a cursor; live rows stay.
    const later = now + 30 * B + CLOCK_SKEW_MS
    assert.deepEqual(await store.write(() => oz.prune(later, '', 1)), { last: 'st1x', removed: 1 })
    assert.deepEqual(await store.write(() => oz.prune(later, 'st1x', 10)), { last: 'st1z', removed: 0 })
    assert.deepEqual(await store.write(() => oz.prune(later, 'st1z', 10)), { last: undefined, removed: 0 })
    assert.equal(oz.restored(), true, 'the marker is not a payer row')
  })

  test(`${name}: OzoneStore leases: counted for everyone but their holder, written back as promises, abandoned ones expire`, async (t) => {
    const store = await f.store(t)
    const oz = store.ozone
    const B = OZONE_PROMISE_BUCKET_MS
    const now = 100 * B
    await store.write(() => {
      store.prefetch(oz.reads(['st1l']))
      oz.promise('st1l', 10, now + 10 * B, now)
      oz.lease('st1l', 'A', [], { bytes: 1_000, until: now + 1_000, end: now + 60 * B }, now)
      oz.lease('st1l', 'B', [], { bytes: 300, until: now + 2_000, end: now + 70 * B }, now)
    })
    assert.deepEqual(oz.totals('st1l', now), { promised: 10, accepted: 0, held: 0, leased: 1_300 })
    assert.equal(oz.totals('st1l', now, 'A').leased, 300, "a holder's own lease left out")
    assert.deepEqual(oz.leases('st1l', now, 'A'), [{ holder: 'B', until: now + 2_000, bytes: 300 }])
    // A writes its lease back: what it granted from it, by expiry, becomes promised; it renews for 200.
    await store.write(() =>
      oz.lease(
        'st1l',
        'A',
        [
          [now + 10 * B - 5, 40],
          [now + 12 * B, 60],
        ],
        { bytes: 200, until: now + 3_000, end: now + 61 * B },
        now,
      ),
    )
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.deepEqual(other.ozone.totals('st1l', now), { promised: 110, accepted: 0, held: 0, leased: 500 })
    assert.equal(other.ozone.totals('st1l', now + 10 * B + CLOCK_SKEW_MS).promised, 60, 'the promises expire by bucket')
    // Returned (bytes 0): the lease is gone.
    await store.write(() => oz.lease('st1l', 'A', [], { bytes: 0, until: 0, end: 0 }, now))
    assert.deepEqual(oz.leases('st1l', now), [{ holder: 'B', until: now + 2_000, bytes: 300 }])
    // B's holder never writes its lease back: it counts until its end bucket plus the clock skew, then the row is
    // empty and pruned.
    const gone = now + 70 * B + CLOCK_SKEW_MS
    assert.equal(oz.totals('st1l', gone - 1).leased, 300)
    assert.deepEqual(oz.totals('st1l', gone), { promised: 0, accepted: 0, held: 0, leased: 0 })
    assert.deepEqual(await store.write(() => oz.prune(gone - 1, '', 10)), { last: 'st1l', removed: 0 })
    assert.deepEqual(await store.write(() => oz.prune(gone, '', 10)), { last: 'st1l', removed: 1 })
  })

  test(`${name}: OzoneStore: concurrent grants to one payer never promise more than the limit`, async (t) => {
    const store = await f.store(t)
    const other = f.reopen ? await f.reopen(t, store) : store
    const limit = 1_000
    const now = 1_000_000
    let granted = 0
    const grant = (s: typeof store) =>
      s
        .write(() => {
          s.prefetch(s.ozone.reads(['st1p']))
          const t0 = s.ozone.totals('st1p', now)
          if (t0.promised + 100 > limit) return 0
          s.ozone.promise('st1p', 100, now + 60_000, now)
          return 100
        })
        .then((n) => {
          granted += n
        })
    await Promise.all(Array.from({ length: 30 }, (_, i) => grant(i % 2 ? store : other)))
    assert.equal(granted, limit)
    assert.equal(store.ozone.totals('st1p', now).promised, limit)
  })
}

function entry(size: number): OwnerEntry {
  return { createdAt: 1, kind: 'file', size }
}
