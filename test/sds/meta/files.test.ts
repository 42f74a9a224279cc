/**
 * Files (src/sds/meta/files.ts) through a real meta node: delete and delete acks, listing, read tickets, restart on the
 * same dataDir.
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { MAX_READ_SEGMENTS } from '../../../src/sds/protocol/api.ts'
import { encodeTicketHeader, verifyTicket } from '../../../src/sds/protocol/ticket.ts'
import {
  chainId,
  expectCode,
  heartbeatAll,
  makeDag,
  planUpload,
  signCommit,
  signDelete,
  startHarness,
  uploadFile,
  walletA,
  walletB,
  ORDER_KEY,
} from './helpers.ts'

function pendingDeletes(deletes: Map<string, string[]>): string[] {
  return [...deletes.entries()].flatMap(([node, ids]) => ids.map((id) => `${node}/${id}`)).sort()
}

test("delete: a non-owner is refused; the owner's delete hands the shards to their nodes, and acks clear them", async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 2048 })
    await expectCode(h.client.deleteFile(file.cid, signDelete(h, walletB, file.cid)), 'NOT_OWNER')
    // The signed CID must be the one in the path.
    await expectCode(h.client.deleteFile(file.cid, signDelete(h, walletA, makeDag(77).cid)), 'BAD_REQUEST')
    await h.client.file(file.cid)

    const r = await h.client.deleteFile(file.cid, signDelete(h, walletA, file.cid))
    assert.deepEqual(r, { deleted: true, remainingOwners: 0 })
    await expectCode(h.client.file(file.cid), 'FILE_NOT_FOUND')
    await expectCode(h.client.fileDag(file.cid), 'FILE_NOT_FOUND')
    await expectCode(h.client.deleteFile(file.cid, signDelete(h, walletA, file.cid)), 'FILE_NOT_FOUND')
    assert.deepEqual((await h.client.listFiles({ owner: walletA.address })).files, [])
    const status = await h.client.status()
    assert.equal(status.totals.files, 0)
    assert.equal(status.totals.fileBytes, 0)

    const expected = file.segments.flatMap((s) => s.shards.map((x) => `${x.node}/${x.id}`)).sort()
    // Handed out until acknowledged (a lost reply is repaired by the next heartbeat).
    const first = await heartbeatAll(h)
    assert.deepEqual(pendingDeletes(first), expected)
    for (const n of h.nodes.values()) n.toAck.clear()
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), expected)
    // These heartbeats ack; nothing is left.
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), [])
  } finally {
    await h.close()
  }
})

test('listing is paginated by CID, per owner or for everyone', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const cids: string[] = []
    for (let i = 0; i < 5; i++) cids.push((await uploadFile(h, walletA, { size: 100 + i, seed: 100 + i })).file.cid)
    await uploadFile(h, walletB, { size: 10, seed: 200 })
    cids.sort()
    const seen: string[] = []
    let after: string | undefined
    let pages = 0
    for (;;) {
      const page = await h.client.listFiles({ owner: walletA.address, limit: 2, ...(after ? { after } : {}) })
      pages++
      seen.push(...page.files.map((f) => f.cid))
      if (!page.next) break
      after = page.next
    }
    assert.deepEqual(seen, cids)
    assert.equal(pages, 3)
    // Without an owner: the public files only (none here); another wallet's files: its own session only.
    assert.equal((await h.client.listFiles()).files.length, 0)
    await expectCode(h.client.listFiles({ owner: walletB.address }), 'ACCESS_DENIED')
    await expectCode(h.as(null).listFiles({ owner: walletA.address }), 'ACCESS_DENIED')
    assert.equal((await h.as(walletB).listFiles({ owner: walletB.address })).files.length, 1)
    await expectCode(h.client.listFiles({ owner: 'nobody' }), 'BAD_REQUEST')
    await expectCode(h.client.listFiles({ limit: 0 }), 'BAD_REQUEST')
  } finally {
    await h.close()
  }
})

test('read: GET tickets per shard for the asked segments, capped, checked by the nodes', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 3 * 1024 + 5, segmentSize: 1024 })
    const r = await h.client.read(file.cid, { orderKey: ORDER_KEY, from: 1, to: 3 })
    assert.equal(r.from, 1)
    assert.equal(r.to, 3)
    assert.equal(r.tickets.length, 2)
    assert.deepEqual(r.file, file)
    for (let i = 0; i < 2; i++) {
      const seg = file.segments[1 + i]
      r.tickets[i].forEach((t, j) => {
        const checked = verifyTicket({
          header: encodeTicketHeader(t),
          chainId,
          now: h.clock.now(),
          trustedIssuers: new Set([h.meta.address]),
          node: seg.shards[j].node,
          op: 'get',
          shard: seg.shards[j].id,
        })
        assert.equal(checked.size, seg.shardSize)
        assert.equal(checked.payer, walletA.address)
        assert.equal(checked.context, file.cid)
      })
    }
    const all = await h.client.read(file.cid, { orderKey: ORDER_KEY })
    assert.deepEqual([all.from, all.to, all.tickets.length], [0, 4, 4])
    assert.equal((await h.client.read(file.cid, { orderKey: ORDER_KEY, from: 4 })).tickets.length, 0)
    await expectCode(h.client.read(file.cid, { orderKey: ORDER_KEY, from: 5 }), 'RANGE_NOT_SATISFIABLE')
    await expectCode(h.client.read(file.cid, { orderKey: ORDER_KEY, from: 2, to: 1 }), 'RANGE_NOT_SATISFIABLE')
    await expectCode(h.client.read(file.cid, { orderKey: ORDER_KEY, to: 9 }), 'RANGE_NOT_SATISFIABLE')
    await expectCode(h.client.read(makeDag(1234).cid, { orderKey: ORDER_KEY }), 'FILE_NOT_FOUND')
    await expectCode(h.client.read('Qm-not-a-cid', { orderKey: ORDER_KEY }), 'INVALID_CID')

    // More segments than one read may cover: capped at MAX_READ_SEGMENTS.
    const big = await uploadFile(h, walletA, { size: (MAX_READ_SEGMENTS + 2) * 8, segmentSize: 8, k: 1, m: 1, seed: 3 })
    const capped = await h.client.read(big.file.cid, { orderKey: ORDER_KEY })
    assert.deepEqual([capped.from, capped.to, capped.tickets.length], [0, MAX_READ_SEGMENTS, MAX_READ_SEGMENTS])
    assert.equal((await h.client.read(big.file.cid, { orderKey: ORDER_KEY, from: 2 })).to, MAX_READ_SEGMENTS + 2)
    // A node that stopped heartbeating shows as offline in the record.
    h.clock.advance(6_000)
    const nodes = (await h.client.file(file.cid)).nodes
    assert.ok(Object.values(nodes).every((n) => n.state === 'offline'))
  } finally {
    await h.close()
  }
})

test('a restart on the same dataDir keeps files, open sessions, pending deletes and the identity', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const address = h.meta.address
    const kept = await uploadFile(h, walletA, { size: 1500, seed: 1 })
    const gone = await uploadFile(h, walletA, { size: 700, seed: 2 })
    await h.client.deleteFile(gone.file.cid, signDelete(h, walletA, gone.file.cid))
    const open = await planUpload(h, walletA, { size: 2048 })

    await h.restart()
    assert.equal(h.meta.address, address)
    assert.equal((await h.client.info()).address, address)
    assert.deepEqual(await h.client.file(kept.file.cid), kept.file)
    assert.deepEqual(await h.client.fileDag(kept.file.cid), kept.blocks.map(toBase64Url))
    assert.equal((await h.client.nodes()).length, 6)
    const status = await h.client.status()
    assert.deepEqual([status.totals.files, status.totals.fileBytes, status.totals.openUploads], [1, 1500, 1])

    // The deleted file's shards are still due for deletion (a node's seq continues where it was).
    const expected = gone.file.segments.flatMap((s) => s.shards.map((x) => `${x.node}/${x.id}`)).sort()
    assert.deepEqual(pendingDeletes(await heartbeatAll(h)), expected)
    // The open session commits with the receipts it got before the restart.
    const dag = makeDag(3)
    const file = await h.client.commit(open.uploadId, {
      request: signCommit(h, walletA, { uploadId: open.uploadId, cid: dag.cid, size: 2048, blocks: dag.blocks }),
      dagBlocks: dag.blocks.map(toBase64Url),
      receipts: open.receipts,
    })
    assert.equal(file.size, 2048)
  } finally {
    await h.close()
  }
})
