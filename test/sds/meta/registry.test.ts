/**
 * The node registry (src/sds/meta/registry.ts) through a real meta node: heartbeats, liveness, stale and forged heartbeats,
 * reservations, corrupt reports, repeated delete acks.
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import assert from 'node:assert/strict'
import { DOMAIN, signAsNode, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { shardSizeFor } from '../../../src/sds/protocol/shard.ts'
import {
  TestNode,
  chainId,
  expectCode,
  heartbeatAll,
  makeDag,
  planUpload,
  shardIds,
  signCommit,
  signCreate,
  signDelete,
  startHarness,
  uploadFile,
  walletA,
  sc,
} from './helpers.ts'

test('heartbeats register nodes; they go offline after offlineAfterMs of clock time and back online with the next one', async () => {
  const h = await startHarness({ nodes: 3 })
  try {
    const info = await h.client.info()
    assert.equal(info.address, h.meta.address)
    assert.equal(info.chainId, chainId)
    let nodes = await h.client.nodes()
    assert.equal(nodes.length, 3)
    assert.ok(nodes.every((n) => n.state === 'online' && n.url.startsWith('http://127.0.0.1:') && n.freeBytes > 0))

    h.clock.advance(5_000)
    assert.ok((await h.client.nodes()).every((n) => n.state === 'online'))
    h.clock.advance(1)
    nodes = await h.client.nodes()
    assert.ok(nodes.every((n) => n.state === 'offline'))
    const status = await h.client.status()
    assert.equal(status.totals.nodesOffline, 3)
    assert.equal(status.totals.nodesOnline, 0)

    const [first] = h.nodes.values()
    const reply = await first.heartbeat(h)
    // The reply is signed by the meta node, for this node and seq.
    const payload = verifyNodeSigned(DOMAIN.heartbeatReply, reply, {
      chainId,
      now: h.clock.now(),
      trustedSigners: new Set([info.address]),
    })
    assert.equal(payload.node, first.address)
    assert.deepEqual(payload.deletes, [])
    assert.equal((await h.client.nodes()).find((n) => n.address === first.address)?.state, 'online')
    assert.equal((await h.client.status()).totals.nodesOnline, 1)
  } finally {
    await h.close()
  }
})

test('stale, foreign, forged and wrong-chain heartbeats are refused', async () => {
  const h = await startHarness({ nodes: 1 })
  try {
    const [n] = h.nodes.values()
    const now = h.clock.now()
    // Not newer than the last one.
    await expectCode(h.client.heartbeat(n.heartbeatMessage(now, { seq: n.seq })), 'CONFLICT')
    await expectCode(h.client.heartbeat(n.heartbeatMessage(now, { seq: 0 })), 'CONFLICT')
    // Signed by one node about another.
    const other = new TestNode(99)
    const foreign = signAsNode(DOMAIN.heartbeat, other.key, { ...n.heartbeatMessage(now).payload })
    await expectCode(h.client.heartbeat(foreign), 'INVALID_SIGNATURE')
    // Tampered after signing.
    const tampered = n.heartbeatMessage(now)
    tampered.payload = { ...tampered.payload, freeBytes: tampered.payload.freeBytes + 1 }
    await expectCode(h.client.heartbeat(tampered), 'INVALID_SIGNATURE')
    await expectCode(h.client.heartbeat(n.heartbeatMessage(now, { chainId: 'other-chain' })), 'WRONG_CHAIN')
    await expectCode(h.client.heartbeat(n.heartbeatMessage(now, { expiresAt: now - 3_600_000 })), 'REQUEST_EXPIRED')
    // Malformed.
    await expectCode(h.client.heartbeat({ ...n.heartbeatMessage(now), signer: 'nope' }), 'BAD_REQUEST')
    // A valid next one still works.
    await n.heartbeat(h)
  } finally {
    await h.close()
  }
})

test('offline nodes get no placements; too few online nodes → NOT_ENOUGH_NODES', async () => {
  const h = await startHarness({ nodes: 7 })
  try {
    const nodes = [...h.nodes.values()]
    const gone = nodes[0]
    h.clock.advance(4_000)
    for (const n of nodes.slice(1)) await n.heartbeat(h)
    h.clock.advance(2_000) // gone: 6 s since its heartbeat; the rest: 2 s
    const up = await planUpload(h, walletA, { size: 4096 })
    for (const seg of up.placements) {
      assert.equal(new Set(seg.map((p) => p.node)).size, 6)
      assert.ok(seg.every((p) => p.node !== gone.address))
    }
    // One more goes offline: 5 online < k + m.
    h.clock.advance(4_000)
    for (const n of nodes.slice(2)) await n.heartbeat(h)
    await expectCode(
      h.client.planSegment(
        up.uploadId,
        sc(h, up.uploadId, 'upload.plan', {
          index: 3,
          size: 1024,
          shardSize: shardSizeFor(1024, 4),
          shards: up.shards[3],
        }),
      ),
      'NOT_ENOUGH_NODES',
    )
  } finally {
    await h.close()
  }
})

test('placements are reserved against free space until the node heartbeats again', async () => {
  const segmentSize = 4096
  const shardSize = shardSizeFor(segmentSize, 4)
  // Room for exactly two shards per node.
  const h = await startHarness({ nodes: 6, freeBytes: 2 * shardSize })
  try {
    const s = await h.client.createUpload(signCreate(h, walletA, { segmentSize }))
    const plan = (index: number) =>
      h.client.planSegment(
        s.uploadId,
        sc(h, s.uploadId, 'upload.plan', { index, size: segmentSize, shardSize, shards: shardIds(h.random, 6) }),
      )
    await plan(0)
    await plan(1)
    await expectCode(plan(2), 'NOT_ENOUGH_NODES')
    // The nodes report (their disks would now show the shards; here they still claim the same free space).
    await heartbeatAll(h)
    await plan(2)
    // Full nodes are never chosen.
    for (const n of h.nodes.values()) n.freeBytes = shardSize - 1
    await heartbeatAll(h)
    await expectCode(plan(3), 'NOT_ENOUGH_NODES')
  } finally {
    await h.close()
  }
})

test('corrupt reports drop the location: no delete is ever sent for it, and placement avoids it', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 1000 })
    const bad = file.segments[0].shards[0]
    const reporter = h.nodes.get(bad.node)!
    await reporter.heartbeat(h, { corrupt: [bad.id] })

    // The same shard id again: it must not go back onto the node that quarantined it.
    for (let t = 0; t < 5; t++) {
      const up = await planUpload(h, walletA, { size: 1000, shardIds: () => [bad.id, ...shardIds(h.random, 5)] })
      assert.notEqual(up.placements[0][0].node, bad.node)
      await h.client.abort(up.uploadId, sc(h, up.uploadId, 'upload.abort', {}))
    }
    await heartbeatAll(h) // hands out the aborted sessions' deletes
    await heartbeatAll(h) // acks them

    await h.client.deleteFile(file.cid, signDelete(h, walletA, file.cid))
    const deletes = await heartbeatAll(h)
    const all = [...deletes.entries()].flatMap(([node, ids]) => ids.map((id) => `${node}/${id}`)).sort()
    const expected = file.segments[0].shards
      .filter((s) => s !== bad)
      .map((s) => `${s.node}/${s.id}`)
      .sort()
    assert.deepEqual(all, expected)
  } finally {
    await h.close()
  }
})

test('a repeated delete ack (its reply was lost) does not touch the shard stored there again since', async () => {
  // One node, k=1, m=0: the same shard id always lands on the same node.
  const h = await startHarness({ nodes: 1 })
  try {
    const [node] = h.nodes.values()
    const shard = shardIds(h.random, 1)[0]
    const put = async (seed: number) => {
      const up = await planUpload(h, walletA, { size: 64, segmentSize: 64, k: 1, m: 0, shardIds: () => [shard] })
      const dag = makeDag(seed)
      await h.client.commit(up.uploadId, {
        request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 64, blocks: dag.blocks }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts: up.receipts,
      })
      return dag.cid
    }
    const first = await put(1)
    await h.client.deleteFile(first, signDelete(h, walletA, first))
    assert.deepEqual((await node.heartbeat(h)).payload.deletes, [shard])
    assert.deepEqual((await node.heartbeat(h)).payload.deletes, []) // acked
    const second = await put(2)
    await node.heartbeat(h, { deleted: [shard] }) // the same ack again
    await h.client.deleteFile(second, signDelete(h, walletA, second))
    assert.deepEqual((await node.heartbeat(h)).payload.deletes, [shard])
  } finally {
    await h.close()
  }
})
