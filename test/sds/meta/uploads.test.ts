/**
 * Upload sessions (src/sds/meta/uploads.ts) through a real meta node: create → plan → replace → commit/abort, receipts,
 * nonces, dedup, refcounts, the sweeper, validation.
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { isStratosError } from '../../../src/errors.ts'
import { MAX_REQUEST_TTL_MS } from '../../../src/limits.ts'
import { shardSizeFor } from '../../../src/sds/protocol/shard.ts'
import { signAsWallet } from '../../../src/sds/protocol/signing.ts'
import {
  TestNode,
  chainId,
  expectCode,
  heartbeatAll,
  makeDag,
  nonce,
  planUpload,
  shardIds,
  signCommit,
  signCreate,
  signDelete,
  startHarness,
  uploadFile,
  waitFor,
  walletA,
  walletB,
  type Harness,
  ORDER_KEY,
  sc,
} from './helpers.ts'

async function codeOf(p: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> | undefined }> {
  try {
    await p
  } catch (e) {
    assert.ok(isStratosError(e))
    return { code: e.code, details: e.details }
  }
  assert.fail('expected an error')
}

function pendingDeletes(deletes: Map<string, string[]>): string[] {
  return [...deletes.entries()].flatMap(([node, ids]) => ids.map((id) => `${node}/${id}`)).sort()
}

test('create → plan → commit: the file becomes visible with its layout, blocks, owner listing and totals', async () => {
  const h = await startHarness({ nodes: 8 })
  try {
    const size = 2500 // 3 segments of 1024: 1024, 1024, 452
    const up = await planUpload(h, walletA, { size })
    assert.equal(up.placements.length, 3)
    for (const seg of up.placements) {
      assert.equal(seg.length, 6)
      assert.equal(new Set(seg.map((p) => p.node)).size, 6)
      for (const p of seg) {
        assert.equal(p.url, h.nodes.get(p.node)!.url)
        assert.equal(p.ticket.payload.op, 'put')
        assert.equal(p.ticket.payload.payer, walletA.address)
        assert.equal(p.ticket.payload.context, up.uploadId)
      }
    }
    // Not visible before commit.
    const dag = makeDag(9)
    await expectCode(h.client.file(dag.cid), 'FILE_NOT_FOUND')
    assert.equal((await h.client.status()).totals.openUploads, 1)

    const file = await h.client.commit(up.uploadId, {
      request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size, blocks: dag.blocks }),
      dagBlocks: dag.blocks.map(toBase64Url),
      receipts: up.receipts,
    })
    assert.equal(file.cid, dag.cid)
    assert.deepEqual(file.owners, [walletA.address])
    assert.deepEqual(
      file.segments.map((s) => s.size),
      [1024, 1024, 452],
    )
    assert.deepEqual(
      file.segments.map((s) => s.shardSize),
      [256, 256, shardSizeFor(452, 4)],
    )
    assert.deepEqual(
      file.segments[2].shards,
      up.placements[2].map((p, i) => ({ id: up.shards[2][i], node: p.node })),
    )
    for (const node of Object.keys(file.nodes))
      assert.deepEqual(file.nodes[node], { url: h.nodes.get(node)!.url, state: 'online' })

    assert.deepEqual(await h.client.file(dag.cid), file)
    assert.deepEqual(await h.client.fileDag(dag.cid), dag.blocks.map(toBase64Url))
    const list = await h.client.listFiles({ owner: walletA.address })
    assert.deepEqual(
      list.files.map((f) => [f.cid, f.size, f.kind]),
      [[dag.cid, size, 'file']],
    )
    const status = await h.client.status()
    assert.equal(status.totals.files, 1)
    assert.equal(status.totals.fileBytes, size)
    assert.equal(status.totals.openUploads, 0)
    // The session is gone.
    await expectCode(
      h.client.planSegment(
        up.uploadId,
        sc(h, up.uploadId, 'upload.plan', { index: 3, size: 8, shardSize: 8, shards: shardIds(h.random, 6) }),
      ),
      'UPLOAD_NOT_FOUND',
    )
    // Nothing to delete anywhere.
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
  } finally {
    await h.close()
  }
})

test('a commit missing a receipt is UPLOAD_INCOMPLETE and the file stays invisible; bad receipts are refused', async () => {
  const h = await startHarness({ nodes: 7 })
  try {
    const up = await planUpload(h, walletA, { size: 2048 })
    const dag = makeDag(3)
    const commit = (receipts = up.receipts, wallet = walletA) =>
      h.client.commit(up.uploadId, {
        request: signCommit(h, wallet, { uploadId: up.uploadId, cid: dag.cid, size: 2048, blocks: dag.blocks }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts,
      })
    const missing = await codeOf(commit(up.receipts.filter((_, i) => i !== 7)))
    assert.equal(missing.code, 'UPLOAD_INCOMPLETE')
    assert.deepEqual(missing.details?.missingShards, [
      { segment: 1, shardIndex: 1, shard: up.shards[1][1], node: up.placements[1][1].node, reason: 'no receipt' },
    ])
    await expectCode(h.client.file(dag.cid), 'FILE_NOT_FOUND')

    // Forged: claims to come from the placed node, signed by another key.
    const placed = up.placements[0][0]
    const intruder = new TestNode(50)
    const forged = h.nodes.get(placed.node)!.receipt(h, placed.ticket, { signer: intruder.key })
    await expectCode(commit([forged, ...up.receipts.slice(1)]), 'INVALID_SIGNATURE')
    // Genuinely signed, but by a node the shard is not placed on.
    const stranger = [...h.nodes.values()].find((n) => !up.placements[0].some((p) => p.node === n.address))!
    const foreignPayload = { ...up.receipts[0].payload, node: stranger.address }
    const { signAsNode, DOMAIN } = await import('../../../src/sds/protocol/signing.ts')
    const foreign = signAsNode(DOMAIN.receipt, stranger.key, foreignPayload)
    assert.equal((await codeOf(commit([foreign, ...up.receipts.slice(1)]))).code, 'UPLOAD_INCOMPLETE')
    // Right node, wrong size.
    const wrongSize = h.nodes.get(placed.node)!.receipt(h, placed.ticket, { size: placed.ticket.payload.size + 8 })
    const sized = await codeOf(commit([wrongSize, ...up.receipts.slice(1)]))
    assert.equal(sized.code, 'UPLOAD_INCOMPLETE')
    assert.equal((sized.details!.missingShards as { reason: string }[])[0].reason, 'size mismatch')

    // Another wallet cannot commit someone's upload; a forged signer field does not verify.
    await expectCode(commit(up.receipts, walletB), 'NOT_OWNER')
    await expectCode(
      h.client.commit(up.uploadId, {
        request: signCommit(h, walletB, {
          uploadId: up.uploadId,
          cid: dag.cid,
          size: 2048,
          blocks: dag.blocks,
          signer: walletA.address,
        }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts: up.receipts,
      }),
      'INVALID_SIGNATURE',
    )

    // Failed commits burned nothing: the complete one goes through.
    const file = await commit()
    assert.equal(file.size, 2048)
  } finally {
    await h.close()
  }
})

test('wallet requests: replayed nonce, wrong chain, expired and too-far expiry are refused (replay also after restart)', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const create = signCreate(h, walletA, { size: 100 })
    await h.client.createUpload(create)
    await expectCode(h.client.createUpload(create), 'REPLAYED_NONCE')
    await expectCode(h.client.createUpload(signCreate(h, walletA, { chainId: 'other-chain' })), 'WRONG_CHAIN')
    await expectCode(
      h.client.createUpload(signCreate(h, walletA, { expiresAt: h.clock.now() - 3_600_000 })),
      'REQUEST_EXPIRED',
    )
    await expectCode(
      h.client.createUpload(signCreate(h, walletA, { expiresAt: h.clock.now() + MAX_REQUEST_TTL_MS + 3_600_000 })),
      'BAD_REQUEST',
    )
    const tampered = signCreate(h, walletA)
    await expectCode(
      h.client.createUpload({ ...tampered, payload: { ...tampered.payload, k: 3 } }),
      'INVALID_SIGNATURE',
    )

    // A committed upload's commit cannot be replayed either.
    const up = await planUpload(h, walletA, { size: 100 })
    const dag = makeDag(4)
    const body = {
      request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 100, blocks: dag.blocks }),
      dagBlocks: dag.blocks.map(toBase64Url),
      receipts: up.receipts,
    }
    await h.client.commit(up.uploadId, body)
    await expectCode(h.client.commit(up.uploadId, body), 'REPLAYED_NONCE')

    await h.restart()
    await expectCode(h.client.createUpload(create), 'REPLAYED_NONCE')
    await expectCode(h.client.commit(up.uploadId, body), 'REPLAYED_NONCE')
    const del = signDelete(h, walletA, dag.cid)
    await h.client.deleteFile(dag.cid, del)
    await expectCode(h.client.deleteFile(dag.cid, del), 'REPLAYED_NONCE')
  } finally {
    await h.close()
  }
})

test("dedup: the same CID committed by two owners is stored once; the second upload's shards are released", async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const a = await uploadFile(h, walletA, { size: 1500, seed: 5 })
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
    assert.deepEqual((await h.client.read(a.file.cid, { orderKey: ORDER_KEY })).file.owners, [walletA.address]) // now cached for reads
    const b = await uploadFile(h, walletB, { size: 1500, seed: 5 })
    assert.equal(b.file.cid, a.file.cid)
    assert.deepEqual(b.file.owners, [walletA.address, walletB.address])
    assert.deepEqual((await h.client.read(a.file.cid, { orderKey: ORDER_KEY })).file.owners, [
      walletA.address,
      walletB.address,
    ])
    assert.equal(
      (await h.client.read(a.file.cid, { orderKey: ORDER_KEY })).tickets[0][0].payload.payer,
      walletA.address,
    )
    assert.deepEqual(b.file.segments, a.file.segments)
    assert.equal((await h.client.status()).totals.files, 1)
    assert.equal((await h.as(walletB).listFiles({ owner: walletB.address })).files.length, 1)

    // B's uploaded copies are not needed: every one of them is handed out for deletion.
    const bShards = b.up.placements.flatMap((seg, i) => seg.map((p, j) => `${p.node}/${b.up.shards[i][j]}`)).sort()
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), bShards)
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), []) // acked

    // One owner leaves: the file stays; the last one leaves: its shards go.
    const r1 = await h.client.deleteFile(a.file.cid, signDelete(h, walletA, a.file.cid))
    assert.deepEqual(r1, { deleted: true, remainingOwners: 1 })
    assert.deepEqual((await h.as(walletB).file(a.file.cid)).owners, [walletB.address])
    // A is a stranger to the (private) file now; B reads it and pays.
    await expectCode(h.client.read(a.file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
    assert.equal(
      (await h.as(walletB).read(a.file.cid, { orderKey: ORDER_KEY })).tickets[0][0].payload.payer,
      walletB.address,
    )
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
    await h.client.deleteFile(a.file.cid, signDelete(h, walletB, a.file.cid))
    const aShards = a.file.segments.flatMap((s) => s.shards.map((x) => `${x.node}/${x.id}`)).sort()
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), aShards)
  } finally {
    await h.close()
  }
})

test('a location shared by two files (and twice within one) is deleted only when the last reference goes', async () => {
  // One node, k=1, m=0: every shard lands on it, so equal shard ids are the same location.
  const h = await startHarness({ nodes: 1 })
  try {
    const [shared, other] = shardIds(h.random, 2)
    const commitWith = async (seed: number, segments: string[]) => {
      const up = await planUpload(h, walletA, {
        size: segments.length * 64,
        segmentSize: 64,
        k: 1,
        m: 0,
        shardIds: (i) => [segments[i]],
      })
      const dag = makeDag(seed)
      await h.client.commit(up.uploadId, {
        request: signCommit(h, walletA, {
          uploadId: up.uploadId,
          cid: dag.cid,
          size: segments.length * 64,
          blocks: dag.blocks,
        }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts: up.receipts,
      })
      return dag.cid
    }
    const x = await commitWith(70, [shared, shared, other]) // the same bytes in two segments
    const y = await commitWith(71, [shared])
    const [node] = h.nodes.keys()
    await h.client.deleteFile(x, signDelete(h, walletA, x))
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [`${node}/${other}`])
    await h.client.deleteFile(y, signDelete(h, walletA, y))
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [`${node}/${shared}`]) // (this heartbeat acked `other`)
  } finally {
    await h.close()
  }
})

test("abort releases the session's shards; replaceShard moves one and releases the old location", async () => {
  const h = await startHarness({ nodes: 8 })
  try {
    const up = await planUpload(h, walletA, { size: 2048 })
    const old = up.placements[1][3]
    const exclude = [...h.nodes.values()].find((n) => !up.placements[1].some((p) => p.node === n.address))!.address
    const placement = await h.client.replaceShard(
      up.uploadId,
      sc(h, up.uploadId, 'upload.replace', { segment: 1, shardIndex: 3, exclude: [exclude] }),
    )
    assert.equal(placement.shardIndex, 3)
    assert.ok(!up.placements[1].some((p) => p.node === placement.node), "a new node, not one of the segment's")
    assert.notEqual(placement.node, exclude)
    assert.equal(placement.ticket.payload.shard, up.shards[1][3])
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [`${old.node}/${up.shards[1][3]}`])

    const dag = makeDag(6)
    const commit = (receipts: typeof up.receipts) =>
      h.client.commit(up.uploadId, {
        request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 2048, blocks: dag.blocks }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts,
      })
    // The old node's receipt no longer counts.
    await expectCode(commit(up.receipts), 'UPLOAD_INCOMPLETE')
    const fresh = h.nodes.get(placement.node)!.receipt(h, placement.ticket)
    const file = await commit([...up.receipts, fresh])
    assert.equal(file.segments[1].shards[3].node, placement.node)

    // Abort: everything the session placed is handed out for deletion; the session is gone.
    const up2 = await planUpload(h, walletA, { size: 1024 })
    await h.client.abort(up2.uploadId, sc(h, up2.uploadId, 'upload.abort', {}))
    await expectCode(h.client.abort(up2.uploadId, sc(h, up2.uploadId, 'upload.abort', {})), 'UPLOAD_NOT_FOUND')
    const expected = up2.placements[0].map((p, j) => `${p.node}/${up2.shards[0][j]}`).sort()
    assert.deepEqual(
      pendingDeletes(await heartbeatAll(h)).filter((x) => expected.includes(x)),
      expected,
    )
  } finally {
    await h.close()
  }
})

test('the sweeper expires idle sessions and releases their shards', async () => {
  const h = await startHarness({ nodes: 7, sessionTtlMs: 10_000, sweepIntervalMs: 10 })
  try {
    const s = await h.client.createUpload(signCreate(h, walletA))
    const ids = [shardIds(h.random, 6), shardIds(h.random, 6)]
    const p0 = await h.client.planSegment(
      s.uploadId,
      sc(h, s.uploadId, 'upload.plan', { index: 0, size: 1024, shardSize: 256, shards: ids[0] }),
    )
    h.clock.advance(9_000)
    await heartbeatAll(h)
    // Activity keeps it alive past the first deadline.
    const p1 = await h.client.planSegment(
      s.uploadId,
      sc(h, s.uploadId, 'upload.plan', { index: 1, size: 1024, shardSize: 256, shards: ids[1] }),
    )
    h.clock.advance(9_000)
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
    assert.equal((await h.client.status()).totals.openUploads, 1)

    h.clock.advance(1_001)
    await waitFor(async () => (await h.client.status()).totals.openUploads === 0)
    const expected = [p0, p1].flatMap((p, i) => p.placements.map((x) => `${x.node}/${ids[i][x.shardIndex]}`)).sort()
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), expected)
    await expectCode(
      h.client.planSegment(
        s.uploadId,
        sc(h, s.uploadId, 'upload.plan', { index: 2, size: 8, shardSize: 8, shards: shardIds(h.random, 6) }),
      ),
      'UPLOAD_NOT_FOUND',
    )
  } finally {
    await h.close()
  }
})

test('create with segment 0: one signed call opens the session and places the segment; a bad plan leaves nothing', async () => {
  const h = await startHarness({ nodes: 8 })
  try {
    const size = 1500 // 1024 planned by the create, 476 on its own
    const up = await planUpload(h, walletA, { size, fold: true })
    assert.equal(up.placements[0].length, 6)
    assert.equal(new Set(up.placements[0].map((p) => p.node)).size, 6)
    for (const p of up.placements[0]) {
      assert.equal(p.ticket.payload.context, up.uploadId)
      assert.equal(p.ticket.payload.payer, walletA.address)
    }
    const dag = makeDag(21)
    const file = await h.client.commit(up.uploadId, {
      request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size, blocks: dag.blocks }),
      dagBlocks: dag.blocks.map(toBase64Url),
      receipts: up.receipts,
    })
    assert.deepEqual(
      file.segments[0].shards,
      up.placements[0].map((p, i) => ({ id: up.shards[0][i], node: p.node })),
    )

    // The create's plan is checked as a plan is; a refused one rolls the whole create back (the nonce stays usable).
    const bad = (segment: { size: number; shardSize: number; shards: string[] }, n = nonce(h.random)) =>
      h.client.createUpload(signCreate(h, walletA, { size, segment, nonce: n }))
    const n = nonce(h.random)
    await expectCode(bad({ size: 1024, shardSize: 256, shards: shardIds(h.random, 5) }, n), 'BAD_REQUEST')
    await expectCode(bad({ size: 1024, shardSize: 264, shards: shardIds(h.random, 6) }), 'BAD_REQUEST')
    await expectCode(bad({ size: 2048, shardSize: 512, shards: shardIds(h.random, 6) }), 'BAD_REQUEST')
    await expectCode(
      h.client.createUpload(
        signCreate(h, walletA, { size: 500, segment: { size: 1024, shardSize: 256, shards: shardIds(h.random, 6) } }),
      ),
      'SIZE_MISMATCH',
    )
    assert.equal((await h.client.status()).totals.openUploads, 0)
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
    const ok = await bad({ size: 1024, shardSize: 256, shards: shardIds(h.random, 6) }, n)
    assert.equal(ok.placements?.length, 6)
    // …and is spent now.
    await expectCode(bad({ size: 1024, shardSize: 256, shards: shardIds(h.random, 6) }, n), 'REPLAYED_NONCE')
    // A changed plan fails the wallet's signature.
    const signed = signCreate(h, walletA, {
      size,
      segment: { size: 1024, shardSize: 256, shards: shardIds(h.random, 6) },
    })
    const tampered = {
      ...signed,
      payload: { ...signed.payload, segment: { ...signed.payload.segment!, shards: shardIds(h.random, 6) } },
    }
    await expectCode(h.client.createUpload(tampered), 'INVALID_SIGNATURE')
  } finally {
    await h.close()
  }
})

test('plan validation: shard count, shard size, order, declared size', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const s = await h.client.createUpload(signCreate(h, walletA, { size: 1500 }))
    const plan = (b: { index: number; size: number; shardSize?: number; shards?: string[] }) =>
      h.client.planSegment(
        s.uploadId,
        sc(h, s.uploadId, 'upload.plan', { shardSize: shardSizeFor(b.size, 4), shards: shardIds(h.random, 6), ...b }),
      )
    await expectCode(plan({ index: 0, size: 1024, shards: shardIds(h.random, 5) }), 'BAD_REQUEST')
    await expectCode(plan({ index: 0, size: 1024, shardSize: 264 }), 'BAD_REQUEST')
    await expectCode(plan({ index: 1, size: 1024 }), 'BAD_REQUEST')
    await expectCode(plan({ index: 0, size: 2048 }), 'BAD_REQUEST')
    await plan({ index: 0, size: 1024 })
    await expectCode(plan({ index: 1, size: 1000 }), 'SIZE_MISMATCH') // past the declared 1500
    await plan({ index: 1, size: 476 })
    await expectCode(plan({ index: 2, size: 8 }), 'BAD_REQUEST') // after a short (last) segment
    await expectCode(
      h.client.planSegment(
        'ab'.repeat(16),
        sc(h, 'ab'.repeat(16), 'upload.plan', { index: 0, size: 8, shardSize: 8, shards: shardIds(h.random, 6) }),
      ),
      'UPLOAD_NOT_FOUND',
    )
    await expectCode(
      h.client.replaceShard(
        s.uploadId,
        sc(h, s.uploadId, 'upload.replace', { segment: 5, shardIndex: 0, exclude: [] }),
      ),
      'BAD_REQUEST',
    )
    await expectCode(
      h.client.replaceShard(
        s.uploadId,
        sc(h, s.uploadId, 'upload.replace', { segment: 0, shardIndex: 6, exclude: [] }),
      ),
      'BAD_REQUEST',
    )
  } finally {
    await h.close()
  }
})

test('commit checks: layout, DAG blocks, CIDs, directories and empty files', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const commit = (
      hh: Harness,
      uploadId: string,
      p: {
        cid: string
        size: number
        blocks?: Uint8Array[]
        sent?: Uint8Array[]
        kind?: 'file' | 'directory'
        children?: string[]
        receipts?: never[] | typeof up.receipts
      },
    ) =>
      hh.client.commit(uploadId, {
        request: signCommit(hh, walletA, { uploadId, cid: p.cid, size: p.size, blocks: p.blocks ?? [], kind: p.kind }),
        dagBlocks: (p.sent ?? p.blocks ?? []).map(toBase64Url),
        receipts: p.receipts ?? up.receipts,
        ...(p.children ? { children: p.children } : {}),
      })
    const up = await planUpload(h, walletA, { size: 2048 })
    const dag = makeDag(20)
    // Fewer bytes planned than the file has; more planned than it has.
    assert.equal(
      (await codeOf(commit(h, up.uploadId, { cid: dag.cid, size: 3000, blocks: dag.blocks }))).code,
      'SIZE_MISMATCH',
    ) // declared 2048
    // Blocks that are not what was signed; a root not among the blocks; not dag-pb; not a CID.
    await expectCode(
      commit(h, up.uploadId, { cid: dag.cid, size: 2048, blocks: dag.blocks, sent: makeDag(21).blocks }),
      'HASH_MISMATCH',
    )
    await expectCode(commit(h, up.uploadId, { cid: makeDag(22).cid, size: 2048, blocks: dag.blocks }), 'HASH_MISMATCH')
    await expectCode(
      commit(h, up.uploadId, { cid: dag.cid, size: 2048, blocks: [new Uint8Array([0xff, 0xff])] }),
      'BAD_REQUEST',
    )
    await expectCode(commit(h, up.uploadId, { cid: 'not-a-cid', size: 2048, blocks: dag.blocks }), 'INVALID_CID')
    // A v1 root's blocks are named as CIDv1 dag-pb.
    const v1 = makeDag(20, { version: 1 })
    const f = await commit(h, up.uploadId, { cid: v1.cid, size: 2048, blocks: v1.blocks })
    assert.equal(f.cid, v1.cid)
    assert.match(f.cid, /^bafy/)

    // Stream upload (no declared size) that planned fewer bytes than it commits.
    const s = await h.client.createUpload(signCreate(h, walletA, { size: null }))
    const plan = await h.client.planSegment(
      s.uploadId,
      sc(h, s.uploadId, 'upload.plan', { index: 0, size: 1024, shardSize: 256, shards: shardIds(h.random, 6) }),
    )
    const receipts = plan.placements.map((p) => h.nodes.get(p.node)!.receipt(h, p.ticket))
    const short = await codeOf(
      commit(h, s.uploadId, { cid: makeDag(30).cid, size: 1500, blocks: makeDag(30).blocks, receipts }),
    )
    assert.equal(short.code, 'UPLOAD_INCOMPLETE')
    assert.equal(short.details?.plannedBytes, 1024)

    // An empty file: no segments, no blocks (Kubo's empty-file CID).
    const empty = await h.client.createUpload(signCreate(h, walletA, { size: 0 }))
    const emptyCid = 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH'
    const ef = await commit(h, empty.uploadId, { cid: emptyCid, size: 0, receipts: [] })
    assert.deepEqual(ef.segments, [])
    assert.deepEqual((await h.client.read(emptyCid, { orderKey: ORDER_KEY })).tickets, [])

    // Directory: its children must already be stored.
    const child = makeDag(40, { leaves: 1 })
    const dirBlock = dagPb.encode(
      dagPb.prepare({
        Data: new Uint8Array([8, 1]),
        Links: [{ Hash: (await import('multiformats/cid')).CID.parse(emptyCid), Name: 'empty', Tsize: 6 }],
      }),
    )
    const { dagPbBlockCid } = await import('../../../src/sds/meta/cid.ts')
    const dirCid = dagPbBlockCid(dirBlock, 0)
    // As the SDK does it: the session declares the directory's total size, and no segment is planned.
    const d1 = await h.client.createUpload(signCreate(h, walletA, { size: 1000 }))
    const dirMissing = await codeOf(
      commit(h, d1.uploadId, {
        cid: dirCid,
        size: 1000,
        kind: 'directory',
        blocks: [dirBlock],
        children: [emptyCid, child.cid],
        receipts: [],
      }),
    )
    assert.equal(dirMissing.code, 'UPLOAD_INCOMPLETE')
    assert.deepEqual(dirMissing.details?.missingChildren, [child.cid])
    const dir = await commit(h, d1.uploadId, {
      cid: dirCid,
      size: 1000,
      kind: 'directory',
      blocks: [dirBlock],
      children: [emptyCid],
      receipts: [],
    })
    assert.equal(dir.kind, 'directory')
    assert.deepEqual(dir.children, [emptyCid])
    // A directory without blocks, a file with children.
    const d2 = await h.client.createUpload(signCreate(h, walletA, { size: 0 }))
    await expectCode(commit(h, d2.uploadId, { cid: dirCid, size: 0, kind: 'directory', receipts: [] }), 'BAD_REQUEST')
    await expectCode(
      commit(h, d2.uploadId, {
        cid: makeDag(50).cid,
        size: 0,
        blocks: makeDag(50).blocks,
        children: [emptyCid],
        receipts: [],
      }),
      'BAD_REQUEST',
    )
    const totals = (await h.client.status()).totals
    assert.deepEqual([totals.files, totals.fileBytes], [3, 2048]) // directories' sizes are not file bytes
  } finally {
    await h.close()
  }
})

test('receipts count for the session that holds their ticket serial, even after their own expiry', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const up = await planUpload(h, walletA, { size: 1024 })
    // The node's receipts expire in 10 minutes (its ticket TTL); the upload takes longer than that to finish.
    const receipts = up.placements[0].map((p) => h.nodes.get(p.node)!.receipt(h, p.ticket, { ttlMs: 600_000 }))
    h.clock.advance(14 * 60_000)
    await heartbeatAll(h)
    const dag = makeDag(80)
    const commit = (rs: typeof receipts) =>
      h.client.commit(up.uploadId, {
        request: signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 1024, blocks: dag.blocks }),
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts: rs,
      })
    // A receipt from another upload of the same shard on the same node (another serial) does not count here.
    const replayed = { ...receipts[0], payload: { ...receipts[0].payload, serial: '00'.repeat(16) } }
    await expectCode(commit([replayed, ...receipts.slice(1)]), 'INVALID_SIGNATURE')
    const { signAsNode, DOMAIN } = await import('../../../src/sds/protocol/signing.ts')
    const other = signAsNode(DOMAIN.receipt, h.nodes.get(up.placements[0][0].node)!.key, {
      ...receipts[0].payload,
      serial: '00'.repeat(16),
    })
    await expectCode(commit([other, ...receipts.slice(1)]), 'UPLOAD_INCOMPLETE')
    assert.equal((await commit(receipts)).size, 1024)
  } finally {
    await h.close()
  }
})

test('chain id of receipts and payload checks in the commit request', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const up = await planUpload(h, walletA, { size: 100 })
    const dag = makeDag(60)
    const request = signCommit(h, walletA, { uploadId: up.uploadId, cid: dag.cid, size: 100, blocks: dag.blocks })
    // The signed upload id must be the path's.
    const other = await h.client.createUpload(signCreate(h, walletA))
    await expectCode(
      h.client.commit(other.uploadId, { request, dagBlocks: dag.blocks.map(toBase64Url), receipts: up.receipts }),
      'BAD_REQUEST',
    )
    const wrongChain = signAsWallet(walletA, { ...request.payload, chainId: 'x-chain', nonce: 'ff'.repeat(16) })
    await expectCode(
      h.client.commit(up.uploadId, {
        request: wrongChain,
        dagBlocks: dag.blocks.map(toBase64Url),
        receipts: up.receipts,
      }),
      'WRONG_CHAIN',
    )
    assert.equal(chainId, request.payload.chainId)
    await h.client.commit(up.uploadId, { request, dagBlocks: dag.blocks.map(toBase64Url), receipts: up.receipts })
  } finally {
    await h.close()
  }
})
