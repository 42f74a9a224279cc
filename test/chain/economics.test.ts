/**
 * The formulas and the mining schedule against hand-computed numbers. Expected values are
 * bigint literals computed by hand (arithmetic in the comments), never by the code under test.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  applyDepositChange,
  miningRewardForEpoch,
  ozonePrice,
  ozonePriceScaled,
  ozoneToWei,
  prepay,
  splitByBps,
  splitByWeights,
  trafficReward,
} from '../../src/chain/economics.ts'

const STOS = 1_000_000_000_000_000_000n // 10^18 wei

test('prepay: ozone = floor(L·X/(S+P+X)), L −= ozone, P += X', () => {
  // S=100, P=50, L=1000, X=150: 1000·150/(100+50+150) = 150000/300 = 500 → L = 500, P = 200
  assert.deepEqual(prepay({ S: 100n, P: 50n, L: 1000n }, 150n), { ozone: 500n, market: { S: 100n, P: 200n, L: 500n } })
  // S=7, P=3, L=10, X=4: 40/14 = 2.857… → 2 → L = 8, P = 7
  assert.deepEqual(prepay({ S: 7n, P: 3n, L: 10n }, 4n), { ozone: 2n, market: { S: 7n, P: 7n, L: 8n } })
  // Devnet-like: S = 6,000 STOS, P = 1,000 STOS, L = 7,000 · 2^30 = 7,516,192,768,000 (price 1 STOS/GiB), X = 1 STOS:
  // 7,516,192,768,000 · 10^18 / (7,001 · 10^18) = 7,516,192,768,000 / 7,001 = 1,073,588,454.220… → 1,073,588,454
  // (check: 7,001 · 1,073,588,454 = 7,516,192,766,454; remainder 1,546 < 7,001)
  const r = prepay({ S: 6_000n * STOS, P: 1_000n * STOS, L: 7_516_192_768_000n }, STOS)
  assert.equal(r.ozone, 1_073_588_454n)
  assert.equal(r.market.L, 7_516_192_768_000n - 1_073_588_454n)
  assert.equal(r.market.P, 1_001n * STOS)
})

test('traffic reward: R = floor((S+P)·Y/(L+Y)), L += Y, paid out of P (capped at P)', () => {
  // S=100, P=200, L=500, Y=500: 300·500/1000 = 150 → P = 50, L = 1000
  assert.deepEqual(trafficReward({ S: 100n, P: 200n, L: 500n }, 500n), {
    reward: 150n,
    formulaReward: 150n,
    market: { S: 100n, P: 50n, L: 1000n },
  })
  // S=10, P=5, L=20, Y=7: 15·7/27 = 105/27 = 3.88… → 3
  assert.equal(trafficReward({ S: 10n, P: 5n, L: 20n }, 7n).reward, 3n)
  // Deposits dwarf the pool: S=1000, P=10, L=100, Y=100: formula 1010·100/200 = 505 > P → capped at 10, P = 0
  assert.deepEqual(trafficReward({ S: 1000n, P: 10n, L: 100n }, 100n), {
    reward: 10n,
    formulaReward: 505n,
    market: { S: 1000n, P: 0n, L: 200n },
  })
  // Y = 0 pays nothing
  assert.equal(trafficReward({ S: 1n, P: 1n, L: 1n }, 0n).reward, 0n)
})

test('price, deposit changes keep the price, debts convert at the price', () => {
  // price = (S+P)/L = 150/1000; scaled by 10^18: 0.15·10^18
  assert.deepEqual(ozonePrice({ S: 100n, P: 50n, L: 1000n }), { num: 150n, den: 1000n })
  assert.equal(ozonePriceScaled({ S: 100n, P: 50n, L: 1000n }), 150_000_000_000_000_000n)
  assert.equal(ozonePriceScaled({ S: 1n, P: 0n, L: 0n }), null)
  // ΔS = +30: ΔL = 30·1000/150 = 200 → L = 1200 (price 180/1200 = 0.15, unchanged)
  assert.deepEqual(applyDepositChange({ S: 100n, P: 50n, L: 1000n }, 30n), { S: 130n, P: 50n, L: 1200n })
  // ΔS = −7: |ΔL| = 7000/150 = 46.67 → 46 (toward zero) → L = 954
  assert.deepEqual(applyDepositChange({ S: 100n, P: 50n, L: 1000n }, -7n), { S: 93n, P: 50n, L: 954n })
  // debt 10 ozone at 150/1000 → 1.5 → 1 wei
  assert.equal(ozoneToWei({ S: 100n, P: 50n, L: 1000n }, 10n), 1n)
})

test('mining schedule: the first epoch after each stage threshold, hand-computed', () => {
  // Each of stages 1–5 lasts 210,240 full epochs: 16,819,200/80 = (25,228,800−16,819,200)/40 = 8,409,600/40
  // = (29,433,600−25,228,800)/20 = 4,204,800/20 = (31,536,000−29,433,600)/10 = 2,102,400/10
  // = (32,587,200−31,536,000)/5 = 1,051,200/5 = 210,240. Mined before epoch n (1-based, all paid) in stage 1 = (n−1)·80.
  const cases: Array<[string, bigint, bigint, bigint, bigint, bigint]> = [
    // [what, mined before (wei), reward, resource, meta, validator]
    ['epoch 1', 0n, 80n * STOS, 48n * STOS, 16n * STOS, 16n * STOS], // 80 · 60/20/20 %
    [
      'epoch 210,240 (last of stage 1): mined 210,239·80 = 16,819,120',
      16_819_120n * STOS,
      80n * STOS,
      48n * STOS,
      16n * STOS,
      16n * STOS,
    ],
    // epoch 210,241: mined 16,819,200 → 40 STOS at 6200/1800/2000 → 24.8 / 7.2 / 8
    [
      'epoch 210,241',
      16_819_200n * STOS,
      40n * STOS,
      24_800_000_000_000_000_000n,
      7_200_000_000_000_000_000n,
      8n * STOS,
    ],
    // epoch 420,481: mined 16,819,200 + 210,240·40 = 25,228,800 → 20 at 6400/1600/2000 → 12.8 / 3.2 / 4
    [
      'epoch 420,481',
      25_228_800n * STOS,
      20n * STOS,
      12_800_000_000_000_000_000n,
      3_200_000_000_000_000_000n,
      4n * STOS,
    ],
    // epoch 630,721: mined 25,228,800 + 210,240·20 = 29,433,600 → 10 at 6600/1400/2000 → 6.6 / 1.4 / 2
    [
      'epoch 630,721',
      29_433_600n * STOS,
      10n * STOS,
      6_600_000_000_000_000_000n,
      1_400_000_000_000_000_000n,
      2n * STOS,
    ],
    // epoch 840,961: mined 29,433,600 + 210,240·10 = 31,536,000 → 5 at 6800/1200/2000 → 3.4 / 0.6 / 1
    ['epoch 840,961', 31_536_000n * STOS, 5n * STOS, 3_400_000_000_000_000_000n, 600_000_000_000_000_000n, 1n * STOS],
    // epoch 1,051,201: mined 31,536,000 + 210,240·5 = 32,587,200 → 2.5 at 7000/1000/2000 → 1.75 / 0.25 / 0.5
    [
      'epoch 1,051,201',
      32_587_200n * STOS,
      2_500_000_000_000_000_000n,
      1_750_000_000_000_000_000n,
      250_000_000_000_000_000n,
      500_000_000_000_000_000n,
    ],
    // last epoch 4,016,320 = 5·210,240 + 2,965,120 (7,412,800/2.5): mined 40,000,000 − 2.5 = 39,999,997.5 → exactly 2.5
    [
      'epoch 4,016,320 (last)',
      39_999_997_500_000_000_000_000_000n,
      2_500_000_000_000_000_000n,
      1_750_000_000_000_000_000n,
      250_000_000_000_000_000n,
      500_000_000_000_000_000n,
    ],
    // an epoch that would cross the pool's end pays what remains: mined 39,999,999 → 1 STOS = 0.7 / 0.1 / 0.2
    [
      'crossing the end',
      39_999_999n * STOS,
      1n * STOS,
      700_000_000_000_000_000n,
      100_000_000_000_000_000n,
      200_000_000_000_000_000n,
    ],
    // epoch 4,016,321 and later: the pool is empty
    ['epoch 4,016,321 (pool exhausted)', 40_000_000n * STOS, 0n, 0n, 0n, 0n],
  ]
  for (const [what, mined, reward, resource, meta, validator] of cases) {
    const r = miningRewardForEpoch(mined)
    assert.deepEqual([r.reward, r.resource, r.meta, r.validator], [reward, resource, meta, validator], what)
  }
  // Stage is chosen by the mined total before the epoch: just below a threshold still pays the lower stage.
  assert.equal(miningRewardForEpoch(16_819_199n * STOS).reward, 80n * STOS)
  assert.equal(miningRewardForEpoch(16_819_199n * STOS).stage?.stage, 1)
  assert.equal(miningRewardForEpoch(32_587_200n * STOS).stage?.stage, 6)
  assert.equal(miningRewardForEpoch(40_000_000n * STOS).stage, null)
})

test('splitting by basis points and by weights conserves every wei', () => {
  // 7 wei at 60/20/20 %: 4.2→4, 1.4→1, 1.4→1 = 6; the remaining 1 goes to part 0
  assert.deepEqual(splitByBps(7n, [6000n, 2000n, 2000n]), [5n, 1n, 1n])
  // 10 wei by weights b:1, a:2 → sorted a, b: a = 20/3 → 6, b = 10/3 → 3; remainder 1 → a (first by key)
  assert.deepEqual(
    splitByWeights(10n, [
      ['b', 1n],
      ['a', 2n],
    ]),
    [
      ['a', 7n],
      ['b', 3n],
    ],
  )
  // the remainder skips zero-weight recipients
  assert.deepEqual(
    splitByWeights(5n, [
      ['a', 0n],
      ['b', 2n],
      ['c', 1n],
    ]),
    [
      ['a', 0n],
      ['b', 4n],
      ['c', 1n],
    ],
  )
  assert.equal(splitByWeights(5n, [['a', 0n]]), null)
  assert.throws(() => splitByBps(1n, [5000n, 4000n]), RangeError)

  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 30n }),
      fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.bigInt({ min: 0n, max: 10n ** 24n })), {
        minLength: 1,
        maxLength: 20,
        selector: (t) => t[0],
      }),
      (amount, weights) => {
        const s = splitByWeights(amount, weights)
        if (s === null) return weights.every(([, w]) => w === 0n)
        return s.reduce((a, [, v]) => a + v, 0n) === amount && s.every(([, v]) => v >= 0n)
      },
    ),
  )
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 30n }),
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 10_000 }),
      (amount, a, b) => {
        const [x, y] = [Math.min(a, b), Math.max(a, b)]
        const parts = splitByBps(amount, [BigInt(x), BigInt(y - x), BigInt(10_000 - y)])
        return parts.reduce((s, p) => s + p, 0n) === amount && parts.every((p) => p >= 0n)
      },
    ),
  )
})

test('the ozone limit never goes negative and the pool never pays more than it holds', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 10n ** 27n }),
      fc.bigInt({ min: 1n, max: 10n ** 27n }),
      fc.bigInt({ min: 0n, max: 10n ** 15n }),
      fc.array(
        fc.tuple(
          fc.constantFrom('prepay', 'traffic', 'deposit'),
          fc.bigInt({ min: 0n, max: 10n ** 25n }),
          fc.boolean(),
        ),
        { maxLength: 30 },
      ),
      (S0, P0, L0, ops) => {
        let m = { S: S0, P: P0, L: L0 }
        for (const [op, v, up] of ops) {
          if (op === 'prepay') m = prepay(m, v).market
          else if (op === 'traffic') m = trafficReward(m, v).market
          else m = applyDepositChange(m, up ? v : -(v < m.S ? v : m.S))
          if (m.L < 0n || m.P < 0n || m.S < 0n) return false
        }
        return true
      },
    ),
  )
})
