/**
 * The mining schedule inside the running chain: a state whose mined total sits exactly at a
 * stage threshold (or near the pool's end) pays the next stage's reward at the next epoch end,
 * split by that stage's basis points. Expected values are hand-computed bigint literals.
 *
 * The state is prepared by editing a snapshot (moving already "mined" wei from the mining pool
 * to a wallet, as if it had been paid and withdrawn), which keeps the supply at 100M.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChainApp } from '../../src/chain/app.ts'
import { MemoryKvStore } from '../../src/chain/state/kv.ts'
import { stateDigest } from '../../src/chain/state/state-hash.ts'
import { assertSupply, finishEpoch, makeFixture, type Fixture } from './helpers.ts'

const STOS = 10n ** 18n

/** A fixture whose chain has already mined `mined` wei (paid out to wallets[3]). */
function minedFixture(mined: bigint): Fixture {
  const f = makeFixture()
  const snap = f.app.exportState()
  const store = new MemoryKvStore()
  for (const [k, v] of snap.entries) store.set(k, new Uint8Array(Buffer.from(v, 'base64')))
  const read = (k: string) => BigInt(Buffer.from(store.get(k) ?? Buffer.from('0')).toString())
  const write = (k: string, v: bigint) => store.set(k, new TextEncoder().encode(v.toString()))
  const holder = `bank/bal/${f.wallets[3]!.address}`
  write('pot/mined', mined)
  write('bank/bal/module:mining_pool', read('bank/bal/module:mining_pool') - mined)
  write(holder, read(holder) + mined)
  const entries = [...store.iterate('')].map(([k, v]) => [k, Buffer.from(v).toString('base64')] as const)
  f.app = ChainApp.importState({ ...snap, entries, digest: stateDigest(store) })
  assertSupply(f.app)
  return f
}

/** With no traffic the resource share stays in the pool; meta and validator shares are paid. */
function epochPays(f: Fixture): { mining: bigint; distributed: bigint; stage: number } {
  finishEpoch(f)
  const s = f.app.query.epochSummary(f.app.epoch - 1)!
  assertSupply(f.app)
  return { mining: s.miningReward, distributed: s.distributed, stage: s.stage }
}

test('the first epoch after each stage threshold pays the next stage, split by its basis points', () => {
  const cases: Array<[bigint, bigint, bigint, number]> = [
    // [mined before, reward, paid without traffic = meta + validator shares, stage]
    [0n, 80n * STOS, 32n * STOS, 1], // 80 · (2000 + 2000)/10000 = 32
    [16_819_200n * STOS, 40n * STOS, 15_200_000_000_000_000_000n, 2], // 40 · (1800 + 2000)/10000 = 15.2
    [25_228_800n * STOS, 20n * STOS, 7_200_000_000_000_000_000n, 3], // 20 · 3600/10000 = 7.2
    [29_433_600n * STOS, 10n * STOS, 3_400_000_000_000_000_000n, 4], // 10 · 3400/10000 = 3.4
    [31_536_000n * STOS, 5n * STOS, 1_600_000_000_000_000_000n, 5], // 5 · 3200/10000 = 1.6
    [32_587_200n * STOS, 2_500_000_000_000_000_000n, 750_000_000_000_000_000n, 6], // 2.5 · 3000/10000 = 0.75
    [39_999_999n * STOS, 1n * STOS, 300_000_000_000_000_000n, 6], // crossing the end: 1 STOS left · 3000/10000 = 0.3
  ]
  for (const [mined, reward, paid, stage] of cases) {
    const f = minedFixture(mined)
    assert.deepEqual(epochPays(f), { mining: reward, distributed: paid, stage }, `mined ${mined / STOS} STOS`)
    assert.equal(f.app.query.mining().totalMined, mined + paid)
  }
})

test('once the pool is exhausted epochs mine nothing', () => {
  const f = minedFixture(40_000_000n * STOS)
  assert.equal(f.app.query.mining().nextEpochReward, 0n)
  assert.deepEqual(epochPays(f), { mining: 0n, distributed: 0n, stage: 0 })
  assert.equal(f.app.query.mining().miningPool, 0n)
})
