/**
 * Two processes of one meta node over one PostgreSQL (two MetaNodes in this test process, each with its own
 * connections, HTTP server and OzoneGuard; the same node key, one index) and one payer whose ozone covers ten reads
 * of its file: reads sent through both at once are granted ten times in all, not ten per process — the guard's
 * promises are the payer's row of the shared index (pot/ozone-guard.ts, stores/ozone.ts). The same with OS processes,
 * guard and store only: test/sds/meta/engine/postgres.test.ts.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ManualClock } from '../../../../src/util/components.ts'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import type { StratosError } from '../../../../src/errors.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { createDatabase, postgresSkip, startPostgres } from '../../../support/postgres.ts'
import { MemoryChain, MemoryChainLink } from '../chain-link-double.ts'
import { ORDER_KEY, startHarness, TestNode, tempDir, uploadFile } from '../helpers.ts'

const payer = WalletKey.fromPrivateKeyHex('44'.repeat(32))

const skip = postgresSkip()
test('two meta processes over one PostgreSQL grant one payer no more reads than its ozone covers', {
  skip,
}, async (t) => {
  const server = await startPostgres()
  t.after(() => server.stop())
  const index = await createDatabase(server)
  const dir = tempDir()
  const clock = new ManualClock()
  const chain = new MemoryChain()
  for (const i of [1, 2, 3]) chain.addNode(new TestNode(i).address, 'active')
  chain.account(payer.address).ozone = 10n ** 12n
  const link = () => new MemoryChainLink(chain, { owner: 'st1metaowner', syncIntervalMs: 20, ozoneCacheMs: 0 })
  const linkA = link()
  const linkB = link()
  await Promise.all([linkA.start(), linkB.start()])
  t.after(() => Promise.all([linkA.stop(), linkB.stop()]))

  const a = await startHarness({ dir: join(dir, 'a'), index, chainLink: linkA, clock, nodes: 3 })
  t.after(() => a.close())
  mkdirSync(join(dir, 'b'), { recursive: true })
  copyFileSync(join(dir, 'a', 'node-key.json'), join(dir, 'b', 'node-key.json'))
  const b = await startHarness({ dir: join(dir, 'b'), index, chainLink: linkB, clock })
  t.after(() => b.close())
  assert.equal(b.meta.address, a.meta.address, 'one meta node, two processes')

  const { file } = await uploadFile(a, payer, { size: 3000, k: 2, m: 1, segmentSize: 1024 })
  // A read of the whole file promises its k data shards per segment.
  const readBytes = file.segments.reduce((s, seg) => s + 2 * seg.shardSize, 0)
  // A third view of the index (what an operator's query would see).
  const view = await MetaStore.open(index)
  t.after(() => view.close())
  const promised = view.ozone.totals(payer.address, clock.now())
  assert.ok(promised.promised > 0, "the upload's PUT limits are promised")
  // Ozone for the upload's limits and ten reads and a half.
  chain.account(payer.address).ozone = BigInt(promised.promised + promised.accepted + 10 * readBytes + readBytes / 2)

  let granted = 0
  const refusals: string[] = []
  const reader = async (h: typeof a): Promise<void> => {
    for (;;) {
      try {
        await h.as(payer).read(file.cid, { orderKey: ORDER_KEY })
        granted++
      } catch (e) {
        refusals.push((e as StratosError).code)
        return
      }
    }
  }
  await Promise.all([reader(a), reader(b), reader(a), reader(b), reader(a), reader(b)])
  assert.deepEqual(refusals, Array(6).fill('INSUFFICIENT_OZONE'))
  assert.equal(granted, 10, 'ten reads in all, through both processes')
  assert.equal(view.ozone.totals(payer.address, clock.now()).promised, promised.promised + 10 * readBytes)
})
