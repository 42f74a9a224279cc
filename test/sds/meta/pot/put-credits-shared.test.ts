/**
 * PUT credits over one PostgreSQL shared by two processes of one meta node (two MetaNodes in this test process, one
 * index, a chain double so the ozone guard keeps its books): uploads committed through both, then both processes'
 * sweeps run at once, several times. Every committed placement's shard size is credited exactly once to (epoch, node,
 * payer), the node's total and the file; the pending rows are gone; the payer's PUT promises became accepted bytes;
 * the aborted upload's placements are never credited.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ManualClock, seededRandom } from '../../../../src/util/components.ts'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { createDatabase, postgresSkip, startPostgres } from '../../../support/postgres.ts'
import { MemoryChain, MemoryChainLink } from '../chain-link-double.ts'
import { planUpload, sc, startHarness, TestNode, tempDir, uploadFile } from '../helpers.ts'

const payers = [WalletKey.fromPrivateKeyHex('51'.repeat(32)), WalletKey.fromPrivateKeyHex('52'.repeat(32))]

const skip = postgresSkip()
test('two processes sweeping PUT credits at once over one PostgreSQL credit each committed placement once', {
  skip,
}, async (t) => {
  const server = await startPostgres()
  t.after(() => server.stop())
  const index = await createDatabase(server)
  const dir = tempDir()
  const clock = new ManualClock()
  const chain = new MemoryChain()
  for (const i of [1, 2, 3, 4]) chain.addNode(new TestNode(i).address, 'active')
  for (const p of payers) chain.account(p.address).ozone = 10n ** 12n
  const link = () => new MemoryChainLink(chain, { owner: 'st1metaowner', syncIntervalMs: 20, ozoneCacheMs: 0 })
  const linkA = link()
  const linkB = link()
  await Promise.all([linkA.start(), linkB.start()])
  t.after(() => Promise.all([linkA.stop(), linkB.stop()]))

  const a = await startHarness({ dir: join(dir, 'a'), index, chainLink: linkA, clock, nodes: 4 })
  t.after(() => a.close())
  mkdirSync(join(dir, 'b'), { recursive: true })
  copyFileSync(join(dir, 'a', 'node-key.json'), join(dir, 'b', 'node-key.json'))
  const b = await startHarness({ dir: join(dir, 'b'), index, chainLink: linkB, clock })
  t.after(() => b.close())
  b.nodes = a.nodes
  b.random = seededRandom(8) // its own nonces

  // Uploads committed through both processes, by two payers; one upload aborted.
  const files = []
  for (let i = 0; i < 6; i++) {
    const h = i % 2 === 0 ? a : b
    const payer = payers[Math.floor(i / 3)]!
    files.push({
      payer: payer.address,
      file: (await uploadFile(h, payer, { size: 1500 + 700 * i, k: 2, m: 1, segmentSize: 1024, seed: 10 + i })).file,
    })
  }
  const aborted = await planUpload(a, payers[0]!, { size: 2000, k: 2, m: 1, segmentSize: 1024 })
  await a.client.abort(aborted.uploadId, sc(a, aborted.uploadId, 'upload.abort', {}))

  const view = await MetaStore.open(index)
  t.after(() => view.close())
  assert.equal((await view.read(() => view.pot.pendingPutCredits(100))).length, files.length)
  const promisedBefore = payers.map((p) => view.ozone.totals(p.address, clock.now()))
  assert.ok(promisedBefore.every((x) => x.promised > 0 && x.accepted === 0))

  const want = new Map<string, number>()
  let placements = 0
  for (const { payer, file } of files)
    for (const seg of file.segments)
      for (const s of seg.shards) {
        const key = `${s.node} ${payer}`
        want.set(key, (want.get(key) ?? 0) + seg.shardSize)
        placements++
      }

  // Both processes sweep at once (one of them loses each conflict and runs again), three times.
  const sweeps = [a.meta.putCredits, b.meta.putCredits]
  let credited = 0
  for (let round = 0; round < 3; round++) {
    const n = await Promise.all(sweeps.map((s) => s.sweep()))
    credited += n[0]! + n[1]!
  }
  assert.equal(credited, placements, 'every placement credited once across both processes')
  assert.deepEqual(await view.read(() => view.pot.pendingPutCredits(100)), [])

  const epoch = linkA.epoch
  const got = new Map<string, number>()
  for (const c of await view.read(() => view.pot.epochCredits(epoch))) got.set(`${c.node} ${c.payer}`, c.credit.bytes)
  assert.deepEqual(got, want)
  const total = [...want.values()].reduce((x, y) => x + y, 0)
  const nodes = [...new Set(files.flatMap(({ file }) => file.segments.flatMap((s) => s.shards.map((x) => x.node))))]
  const totals = await view.read(() => nodes.map((n) => view.pot.nodeTotal(n)?.bytes ?? 0))
  assert.equal(
    totals.reduce((x, y) => x + y, 0),
    total,
  )
  for (const { file } of files) {
    const put = file.segments.reduce((n, s) => n + s.shardSize * s.shards.length, 0)
    assert.deepEqual(
      (await view.read(() => view.pot.fileTraffic(file.cid))).map((x) => [x.op, x.credit.bytes]),
      [['put', put]],
    )
  }
  // The payers' books: the committed PUTs are accepted (waiting to be charged), their promises gone.
  for (const [i, p] of payers.entries()) {
    const after = view.ozone.totals(p.address, clock.now())
    const bytes = [...want].filter(([k]) => k.endsWith(` ${p.address}`)).reduce((n, [, v]) => n + v, 0)
    assert.equal(after.accepted, bytes)
    assert.ok(after.promised <= promisedBefore[i]!.promised - bytes, 'the credited tickets are no longer promised')
  }
})
