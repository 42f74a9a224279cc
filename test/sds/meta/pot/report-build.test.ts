/** buildReport and Reporter.freeze: the volume report the chain accepts — sorted, totals equal, within caps (rest carried), known nodes only. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeKey } from '../../../../src/crypto/node-key.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { buildReport, Reporter } from '../../../../src/sds/meta/pot/reports.ts'
import { seededRandom, silentLogger, systemClock } from '../../../../src/util/components.ts'

const credit = (node: string, payer: string, bytes: number) => ({ node, payer, credit: { bytes, orders: 1 } })

test('wallets and nodes are sorted and aggregated, and both sides add up to the same bytes', () => {
  const b = buildReport(
    [
      credit('stsds1b', 'st1y', 10),
      credit('stsds1a', 'st1y', 5),
      credit('stsds1a', 'st1x', 7),
      credit('stsds1c', 'st1x', 0),
    ],
    { chainId: 'c', epoch: 4, metaNode: 'stsds1meta' },
  )
  assert.deepEqual(b.report, {
    chainId: 'c',
    epoch: 4,
    metaNode: 'stsds1meta',
    wallets: [
      { wallet: 'st1x', bytes: '7' },
      { wallet: 'st1y', bytes: '15' },
    ],
    nodes: [
      { node: 'stsds1a', bytes: '12' },
      { node: 'stsds1b', bytes: '10' },
    ],
  })
  const sum = (xs: { bytes: string }[]) => xs.reduce((a, x) => a + BigInt(x.bytes), 0n)
  assert.equal(sum(b.report.wallets), sum(b.report.nodes))
  assert.deepEqual(b.carried, [])
})

test('over the caps the rest is carried; nodes unknown to the chain are left out', () => {
  const credits = [
    credit('stsds1a', 'st1x', 1),
    credit('stsds1a', 'st1y', 2),
    credit('stsds1b', 'st1z', 3),
    credit('stsds1c', 'st1x', 4),
    credit('stsds1gone', 'st1x', 9),
  ]
  const b = buildReport(credits, {
    chainId: 'c',
    epoch: 1,
    metaNode: 'm',
    maxWallets: 2,
    maxNodes: 2,
    known: (n) => n !== 'stsds1gone',
  })
  // a/x, a/y fit; b/z would be a third wallet (carried); c/x adds only a second node (fits).
  assert.deepEqual(b.report.wallets, [
    { wallet: 'st1x', bytes: '5' },
    { wallet: 'st1y', bytes: '2' },
  ])
  assert.deepEqual(b.report.nodes, [
    { node: 'stsds1a', bytes: '3' },
    { node: 'stsds1c', bytes: '4' },
  ])
  assert.deepEqual(
    b.carried.map((c) => [c.node, c.payer, c.bytes]),
    [['stsds1b', 'st1z', 3]],
  )
  assert.deepEqual(
    b.unknown.map((u) => [u.node, u.bytes]),
    [['stsds1gone', 9]],
  )
})

test('freezing a report moves what does not fit to the next epoch and drops nodes unknown to the chain (LMDB)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-pot-freeze-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const store = await MetaStore.open(dir)
  t.after(() => store.close())
  await store.write(() => {
    store.pot.creditTraffic({ epoch: 1, node: 'stsds1a', payer: 'st1x', cid: 'bafytest', op: 'get', bytes: 10 })
    store.pot.creditTraffic({ epoch: 1, node: 'stsds1a', payer: 'st1y', cid: 'bafytest', op: 'get', bytes: 20 })
    store.pot.creditTraffic({ epoch: 1, node: 'stsds1gone', payer: 'st1x', cid: 'bafytest', op: 'get', bytes: 5 })
  })
  const chain = {
    epoch: 3,
    synced: true,
    onEpoch: () => () => {},
    nodeStatus: (n: string) => (n === 'stsds1gone' ? ('unregistered' as const) : ('active' as const)),
    submit: async () => {
      throw new Error('not in this test')
    },
    reported: async () => false,
  }
  const key = NodeKey.generate(seededRandom(5))
  const r = new Reporter({ store, key, chainId: 'c', chain, clock: systemClock, logger: silentLogger, maxWallets: 1 })
  const rec = await r.freeze(1)
  assert.equal(rec?.state, 'pending')
  assert.deepEqual(rec?.report.wallets, [{ wallet: 'st1x', bytes: '10' }])
  assert.equal(rec?.carried, 1)
  assert.deepEqual(
    store.pot.epochCredits(1).map((c) => [c.node, c.payer, c.credit.bytes]),
    [['stsds1a', 'st1x', 10]],
  )
  assert.deepEqual(
    store.pot.epochCredits(2).map((c) => [c.node, c.payer, c.credit.bytes]),
    [['stsds1a', 'st1y', 20]],
  )
  // Frozen once: a second freeze of the same epoch changes nothing.
  assert.equal(await r.freeze(1), undefined)
  assert.equal(store.pot.report(1)?.report.wallets.length, 1)
})
