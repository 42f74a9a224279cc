/**
 * Shard placement (src/sds/meta/placement.ts), pure: weights, distinct nodes per segment, exclusions, NOT_ENOUGH_NODES.
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { placeShards, weightedOrder, type PlacementCandidate } from '../../../src/sds/meta/placement.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { expectCode } from './helpers.ts'

const node = (address: string, freeBytes: number, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  address,
  online: true,
  freeBytes,
  reservedBytes: 0,
  load: 0,
  ...extra,
})

test('the first pick follows the weights (free space / (1 + load))', () => {
  const random = seededRandom(1)
  const candidates = [node('a', 1000), node('b', 2000), node('c', 3000), node('d', 6000, { load: 1 })] // d weighs 3000 too
  const counts: Record<string, number> = { a: 0, b: 0, c: 0, d: 0 }
  const trials = 9000
  for (let i = 0; i < trials; i++) counts[weightedOrder(candidates, random)[0].address]++
  const total = 1000 + 2000 + 3000 + 3000
  for (const [addr, w] of [
    ['a', 1000],
    ['b', 2000],
    ['c', 3000],
    ['d', 3000],
  ] as const) {
    const expected = (trials * w) / total
    assert.ok(Math.abs(counts[addr] - expected) < expected * 0.12, `${addr}: ${counts[addr]} vs ~${expected}`)
  }
})

test('a segment never gets two shards on one node; offline, full and excluded nodes are never chosen', () => {
  const random = seededRandom(2)
  const candidates = [
    ...Array.from({ length: 8 }, (_, i) => node(`n${i}`, 1000 + i * 500)),
    node('offline', 1e12, { online: false }),
    node('full', 99),
    node('reserved', 1000, { reservedBytes: 950 }),
    node('excluded', 1e12),
  ]
  for (let t = 0; t < 300; t++) {
    const picked = placeShards({
      candidates,
      shardSize: 100,
      shards: Array.from({ length: 6 }, () => ({})),
      exclude: new Set(['excluded']),
      random,
    })
    assert.equal(new Set(picked).size, 6)
    for (const p of picked) assert.match(p, /^n\d$/)
  }
})

test('per-shard exclusions are honoured by re-matching earlier shards when needed', () => {
  const random = seededRandom(3)
  // Shard 1 may only go to "a"; whichever order the weights give, the matching must move shard 0 elsewhere.
  const candidates = [node('a', 1e9), node('b', 1), node('c', 1)]
  for (let t = 0; t < 50; t++) {
    const picked = placeShards({
      candidates,
      shardSize: 1,
      shards: [{}, { exclude: new Set(['b', 'c']) }, {}],
      random,
    })
    assert.equal(picked[1], 'a')
    assert.equal(new Set(picked).size, 3)
  }
})

test('NOT_ENOUGH_NODES when fewer eligible nodes than shards, or no matching exists', async () => {
  const random = seededRandom(4)
  const candidates = [node('a', 1000), node('b', 1000), node('c', 1000, { online: false }), node('d', 10)]
  await expectCode(() => placeShards({ candidates, shardSize: 100, shards: [{}, {}, {}], random }), 'NOT_ENOUGH_NODES')
  await expectCode(
    () =>
      placeShards({
        candidates,
        shardSize: 100,
        shards: [{ exclude: new Set(['b']) }, { exclude: new Set(['b']) }],
        random,
      }),
    'NOT_ENOUGH_NODES',
  )
  assert.deepEqual(placeShards({ candidates, shardSize: 100, shards: [{ exclude: new Set(['a']) }], random }), ['b'])
})
