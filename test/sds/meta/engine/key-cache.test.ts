/**
 * The PostgreSQL engine's per-transaction key cache (postgres.ts, KeyCache) must answer, for every key shape the
 * stores use and the edge cases around them, exactly the bytes codec.ts encodes — however many keys were encoded
 * since (ordered-binary encodes into a shared scratch buffer) and whichever similar-looking keys came first.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeKey } from '../../../../src/sds/meta/engine/codec.ts'
import { KeyCache } from '../../../../src/sds/meta/engine/postgres.ts'
import { KEY_STRING_MAX, type Key } from '../../../../src/sds/meta/engine/table.ts'

const KEYS: Key[] = [
  '',
  'a',
  'abc',
  'counters:0042',
  KEY_STRING_MAX,
  'é ü 中文 🙂',
  '\u0000',
  '\u0001x',
  '\ud800', // a lone surrogate
  '"quoted"',
  '[1]',
  '1',
  'null',
  'true',
  0,
  -0,
  1,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e-300,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  true,
  false,
  null,
  ['abc'],
  ['a', 'bc'],
  ['ab', 'c'],
  ['0x12ab', 'bafkrei-shard'],
  ['node', ''],
  ['node', KEY_STRING_MAX],
  ['upload', 0],
  ['upload', -0],
  ['upload', 1],
  ['upload', Number.MAX_SAFE_INTEGER],
  ['upload', Number.NaN],
  ['upload', null],
  ['upload', '', ''],
  ['upload', KEY_STRING_MAX, KEY_STRING_MAX],
  [1_765_000_000_000, 'signer', 'nonce'],
  [1_765_000_000_000, ''],
  [true, false, null],
  ['1'],
  [1],
  [],
]

test('every key shape: the cache answers the codec bytes and their hex, first time and again', () => {
  const cache = new KeyCache()
  const first = KEYS.map((key) => cache.of(key))
  // Encoded again after all the others (the codec's scratch buffer was reused many times since).
  for (let i = 0; i < KEYS.length; i++) {
    const want = encodeKey(KEYS[i]!)
    for (const got of [first[i]!, cache.of(KEYS[i]!)]) {
      assert.deepEqual(got.k, want, `bytes of ${JSON.stringify(KEYS[i])} (${String(KEYS[i])})`)
      assert.equal(got.hex, want.toString('hex'))
    }
  }
})

test('keys that look alike in JSON or text (0 / -0, NaN / null, "1" / 1, [x] / x) each keep their own bytes', () => {
  // Each order: whichever of a pair is cached first must not answer for the other.
  for (const keys of [KEYS, [...KEYS].reverse()]) {
    const cache = new KeyCache()
    for (const key of keys) assert.deepEqual(cache.of(key).k, encodeKey(key), `${String(key)}`)
  }
})

test('a fresh array with the same parts hits the same entry; the order by cached bytes is the codec order', () => {
  const cache = new KeyCache()
  const a = cache.of(['node', 'shard'])
  assert.equal(cache.of(['node', 'shard']), a)
  const keys: Key[] = [['b', 2], ['a', 10], ['a', 9], ['a', ''], ['a'], 'a', ['b', 1], [0, 'x'], [-5, 'x']]
  const byCodec = [...keys].sort((x, y) => Buffer.compare(encodeKey(x), encodeKey(y)))
  const byCache = [...keys].sort((x, y) => Buffer.compare(cache.of(x).k, cache.of(y).k))
  assert.deepEqual(byCache, byCodec)
})
