/** OzoneGuard: balance minus promised (unexpired limits) minus accepted (settled, not yet charged) bounds new limits. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { StratosError } from '../../../../src/errors.ts'
import { CLOCK_SKEW_MS } from '../../../../src/limits.ts'
import { ManualClock, silentLogger } from '../../../../src/util/components.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'

const payer = 'st1payer'

/** The guard's one chain dependency: balances by wallet, counting reads and fresh reads. */
function chainWith(balances: Map<string, bigint>) {
  const reads = { cached: 0, fresh: 0 }
  return {
    reads,
    ozone: async (w: string, o: { fresh?: boolean } = {}) => {
      reads[o.fresh ? 'fresh' : 'cached']++
      return balances.get(w) ?? 0n
    },
  }
}

function refused(fn: () => void): Record<string, unknown> {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof StratosError)
    assert.equal(e.code, 'INSUFFICIENT_OZONE')
    assert.match(e.message, /stratos prepay/)
    return e.details as Record<string, unknown>
  }
  assert.fail('expected INSUFFICIENT_OZONE')
}

test('limits are granted while ozone minus promises covers them; the refusal names the shortfall', async () => {
  const clock = new ManualClock()
  const balances = new Map([[payer, 1_000n]])
  const g = new OzoneGuard({ chain: chainWith(balances), clock, logger: silentLogger })
  const oz = await g.balance(payer)
  const exp = clock.now() + 60_000
  g.reserve(payer, oz, 600, exp)
  g.reserve(payer, oz, 400, exp)
  assert.deepEqual(
    refused(() => g.reserve(payer, oz, 1, exp)),
    { payer, needed: '1', available: '0', shortfall: '1' },
  )
  assert.deepEqual(
    refused(() => g.check('st1nobody', 0n, 10)),
    { payer: 'st1nobody', needed: '10', available: '0', shortfall: '10' },
  )
  // A failed request gives its reservation back.
  g.release(payer, 400, exp)
  g.reserve(payer, oz, 300, exp)
  assert.deepEqual(g.outstanding(payer), { promised: 900, accepted: 0 })
  // Expired limits stop counting (after the clock skew a node allows).
  clock.advance(60_000 + CLOCK_SKEW_MS)
  assert.deepEqual(g.outstanding(payer), { promised: 0, accepted: 0 })
  g.reserve(payer, oz, 1_000, clock.now() + 60_000)
})

test('settled orders move from promised to accepted until their report is charged; then the balance is re-read', async () => {
  const clock = new ManualClock()
  const balances = new Map([[payer, 1_000n]])
  const chain = chainWith(balances)
  const g = new OzoneGuard({ chain, clock, logger: silentLogger })
  const exp = clock.now() + 60_000
  g.reserve(payer, await g.balance(payer), 800, exp)
  // One 400-byte limit settled with 300 bytes spent: its 400 promised go, 300 wait for the chain.
  g.settled(payer, 400, exp, 300)
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 300 })
  assert.equal(g.available(payer, 1_000n), 300n)
  // Restart: accepted bytes come back from LMDB (promises do not).
  g.restoreAccepted('st1other', 50)
  assert.deepEqual(g.outstanding('st1other'), { promised: 0, accepted: 50 })
  // The report is included: the chain charged 300; the next balance read bypasses the cache.
  balances.set(payer, 700n)
  g.charged(payer, 300)
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 0 })
  const before = chain.reads.fresh
  assert.equal(await g.balance(payer), 700n)
  assert.equal(chain.reads.fresh, before + 1)
  assert.equal(g.available(payer, 700n), 300n)
})

test('memory stays bounded: payers and expiry buckets', async () => {
  const clock = new ManualClock()
  const g = new OzoneGuard({
    chain: chainWith(new Map()),
    clock,
    logger: silentLogger,
    maxPayers: 3,
    maxBucketsPerPayer: 2,
  })
  for (let i = 0; i < 10; i++) g.reserve(`st1p${i}`, 100n, 10, clock.now() + 1_000)
  // Only the last three payers are remembered.
  assert.equal(g.outstanding('st1p0').promised, 0)
  assert.equal(g.outstanding('st1p9').promised, 10)
  // Buckets: the third expiry merges into the latest one (kept until the later expiry: conservative).
  g.reserve(payer, 100n, 10, clock.now() + 1_000)
  g.reserve(payer, 100n, 10, clock.now() + 2_000)
  g.reserve(payer, 100n, 10, clock.now() + 3_000)
  assert.equal(g.outstanding(payer).promised, 30)
  clock.advance(2_000 + CLOCK_SKEW_MS)
  assert.equal(g.outstanding(payer).promised, 20)
  clock.advance(1_000)
  assert.equal(g.outstanding(payer).promised, 0)
})

test('a chain that cannot be read: the last balance seen is used; an unknown payer is refused as unavailable', async () => {
  const clock = new ManualClock()
  let up = true
  const chain = {
    ozone: async () => {
      if (!up) throw new Error('connection refused')
      return 500n
    },
  }
  const g = new OzoneGuard({ chain, clock, logger: silentLogger })
  assert.equal(await g.balance(payer), 500n)
  up = false
  assert.equal(await g.balance(payer), 500n)
  await assert.rejects(g.balance('st1never'), (e) => e instanceof StratosError && e.code === 'NODE_UNAVAILABLE')
})
