import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ErasureCode } from '../../../src/sds/client/erasure.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { isStratosError } from '../../../src/errors.ts'

/** A segment buffer with random data shards and computed parity. */
async function encoded(k: number, m: number, shardSize: number, seed: number): Promise<Uint8Array> {
  const seg = new Uint8Array((k + m) * shardSize)
  seg.set(seededRandom(seed)(k * shardSize))
  await ErasureCode.for(k, m).encode(seg, shardSize)
  return seg
}

function pickMissing(n: number, count: number, seed: number): number[] {
  const r = seededRandom(seed)
  const all = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = r(1)[0] % (i + 1)
    ;[all[i], all[j]] = [all[j], all[i]]
  }
  return all.slice(0, count).sort((a, b) => a - b)
}

const geometry = fc.record({
  k: fc.integer({ min: 1, max: 8 }),
  m: fc.integer({ min: 1, max: 4 }),
  // Small shards, some large enough that the library shrinks its packets (stripe < shard), and sizes
  // whose stripe is not a multiple of 8 (1,250,000 = the shard of a 5,000,000-byte segment with k = 4).
  shardSize: fc.oneof(
    fc.integer({ min: 1, max: 512 }).map((x) => x * 8),
    fc.constantFrom(131072, 262144, 524288, 1048576, 1_250_000, 2_000_008),
    fc.integer({ min: 20_000, max: 320_000 }).map((x) => x * 8),
  ),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
})

test('any ≤ m missing shards of a segment are rebuilt byte-exact', async () => {
  await fc.assert(
    fc.asyncProperty(geometry, fc.integer({ min: 0, max: 6 }), async ({ k, m, shardSize, seed }, lost) => {
      const code = ErasureCode.for(k, m)
      const seg = await encoded(k, m, shardSize, seed)
      const original = seg.slice()
      const missing = pickMissing(k + m, Math.min(lost, m), seed + 1)
      for (const i of missing) seg.fill(0xee, i * shardSize, (i + 1) * shardSize)
      const present = Array.from({ length: k + m }, (_, i) => i).filter((i) => !missing.includes(i))
      await code.reconstruct(seg, shardSize, present, missing)
      assert.deepEqual(Buffer.from(seg), Buffer.from(original))
    }),
    { numRuns: 60 },
  )
})

test('a column range of lost shards is rebuilt from the same (stripe-aligned) columns of k others', async () => {
  await fc.assert(
    fc.asyncProperty(
      geometry,
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async ({ k, m, shardSize, seed }, x, y) => {
        const code = ErasureCode.for(k, m)
        const seg = await encoded(k, m, shardSize, seed)
        const from = Math.floor(Math.min(x, y) * shardSize)
        const to = Math.max(from + 1, Math.ceil(Math.max(x, y) * shardSize))
        const { start, end } = code.alignColumns(shardSize, from, Math.min(to, shardSize))
        assert.ok(
          start <= from && end >= Math.min(to, shardSize) && (end - start) % code.columnUnitBytes(shardSize) === 0,
        )
        const span = end - start
        const missing = pickMissing(k + m, m, seed + 2)
        const present = Array.from({ length: k + m }, (_, i) => i)
          .filter((i) => !missing.includes(i))
          .slice(0, k)
        // Only the chosen k present shards' columns are copied in; everything else is garbage.
        const cols = new Uint8Array((k + m) * span).fill(0x5a)
        for (const i of present) cols.set(seg.subarray(i * shardSize + start, i * shardSize + end), i * span)
        await code.reconstructColumns(cols, span, shardSize, start, present, missing)
        for (const i of missing) {
          assert.deepEqual(
            Buffer.from(cols.subarray(i * span, (i + 1) * span)),
            Buffer.from(seg.subarray(i * shardSize + start, i * shardSize + end)),
            `shard ${i}`,
          )
        }
      },
    ),
    { numRuns: 60 },
  )
})

test('stripes are real: an unaligned column range alone does not rebuild a shard (why alignColumns exists)', async () => {
  const k = 4,
    m = 2,
    shardSize = 1048576
  const code = ErasureCode.for(k, m)
  assert.ok(code.stripeBytes(shardSize) < shardSize)
  const seg = await encoded(k, m, shardSize, 99)
  const stripe = code.stripeBytes(shardSize)
  // Treat one stripe-sized window shifted by half a stripe as if it were aligned: the result is wrong.
  const start = stripe / 2,
    span = stripe
  const cols = new Uint8Array((k + m) * span)
  // Use the second parity shard: the first is a plain XOR, which is per byte.
  const present = [1, 2, 3, 5]
  for (const i of present) cols.set(seg.subarray(i * shardSize + start, i * shardSize + start + span), i * span)
  const tmp = new Uint8Array((k + m) * span)
  tmp.set(cols)
  await code.reconstruct(tmp, span, present, [0])
  assert.notDeepEqual(Buffer.from(tmp.subarray(0, span)), Buffer.from(seg.subarray(start, start + span)))
})

test('fewer than k shards → DATA_UNAVAILABLE; bad geometry → BAD_REQUEST', async () => {
  const code = ErasureCode.for(4, 2)
  const seg = await encoded(4, 2, 64, 5)
  await assert.rejects(code.reconstruct(seg, 64, [0, 1, 2], [3, 4, 5]), (e) => isStratosError(e, 'DATA_UNAVAILABLE'))
  await assert.rejects(code.reconstruct(seg, 64, [3, 4, 5], [0, 1, 2]), (e) => isStratosError(e, 'DATA_UNAVAILABLE'))
  await assert.rejects(code.encode(seg, 12), (e) => isStratosError(e, 'BAD_REQUEST'))
  assert.throws(
    () => ErasureCode.for(25, 1),
    (e) => isStratosError(e, 'BAD_REQUEST'),
  )
  assert.throws(
    () => ErasureCode.for(4, 7),
    (e) => isStratosError(e, 'BAD_REQUEST'),
  )
  // m = 0: nothing to encode, nothing can be rebuilt.
  const plain = ErasureCode.for(3, 0)
  await plain.encode(new Uint8Array(24), 8)
  await assert.rejects(plain.reconstruct(new Uint8Array(24), 8, [0, 1], [2]), (e) =>
    isStratosError(e, 'DATA_UNAVAILABLE'),
  )
})

test('coders are cached per (k, m)', () => {
  assert.equal(ErasureCode.for(4, 2), ErasureCode.for(4, 2))
  assert.notEqual(ErasureCode.for(4, 2), ErasureCode.for(4, 3))
})
