import { test } from 'node:test'
import assert from 'node:assert/strict'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'
import { blake3, createBlake3, BLAKE3_IMPLEMENTATION } from '../../src/crypto/blake3.ts'
import { computeShardId, ShardHasher, chunkMatches, chunkHashesMatch } from '../../src/sds/protocol/shard.ts'
import { SHARD_CHUNK_BYTES } from '../../src/limits.ts'

/** The official BLAKE3 test-vector input: byte i is i mod 251. */
function vectorInput(n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

test('BLAKE3 matches the published vectors and an independent implementation', () => {
  // From BLAKE3's test_vectors.json (first 32 bytes of each extended output).
  assert.equal(
    blake3(vectorInput(0)).toString('hex'),
    'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
  )
  assert.equal(
    blake3(vectorInput(1)).toString('hex'),
    '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213',
  )
  assert.equal(
    blake3(vectorInput(1024)).toString('hex'),
    '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7',
  )
  for (const n of [63, 64, 65, 1023, 1025, 2048, 8193, 65536, SHARD_CHUNK_BYTES, SHARD_CHUNK_BYTES + 7]) {
    const data = vectorInput(n)
    assert.equal(blake3(data).toString('hex'), Buffer.from(nobleBlake3(data)).toString('hex'), `length ${n}`)
  }
  assert.ok(BLAKE3_IMPLEMENTATION === 'native' || BLAKE3_IMPLEMENTATION === 'js')
})

test('incremental BLAKE3 equals one-shot over any split, and views of larger buffers hash only their bytes', () => {
  const data = vectorInput(300_000)
  for (const cuts of [[1], [1024, 5000], [65536, 65537, 200_000]]) {
    const h = createBlake3()
    let prev = 0
    for (const c of [...cuts, data.length]) {
      h.update(data.subarray(prev, c))
      prev = c
    }
    assert.deepEqual(h.digest(), blake3(data))
  }
  const big = vectorInput(10_000)
  assert.deepEqual(blake3(big.subarray(100, 2100)), blake3(Buffer.from(big.subarray(100, 2100))))
})

test('shard ids: streaming hasher equals computeShardId for any piece sizes; a flipped byte fails its chunk', () => {
  const size = 3 * SHARD_CHUNK_BYTES + 12_345
  const data = vectorInput(size)
  const { id, chunkHashes } = computeShardId(data)
  assert.match(id, /^[0-9a-f]{64}$/)
  assert.ok(chunkHashesMatch(id, size, chunkHashes))
  for (const piece of [1000, 65536, SHARD_CHUNK_BYTES, SHARD_CHUNK_BYTES + 1, size]) {
    const h = new ShardHasher()
    for (let off = 0; off < size; off += piece) h.update(data.subarray(off, Math.min(size, off + piece)))
    assert.equal(h.digest().id, id, `pieces of ${piece}`)
  }
  const chunk1 = Buffer.from(data.subarray(SHARD_CHUNK_BYTES, 2 * SHARD_CHUNK_BYTES))
  assert.ok(chunkMatches(chunkHashes, 1, chunk1))
  chunk1[777] ^= 1
  assert.ok(!chunkMatches(chunkHashes, 1, chunk1))
  // The id commits to the size: the same list under another size is not this shard.
  assert.ok(!chunkHashesMatch(id, size + 1, chunkHashes))
})

test('without the native binding (STRATOS_BLAKE3=js) shard ids are the same', async () => {
  const { execFileSync } = await import('node:child_process')
  const script = `import('${new URL('../../src/sds/protocol/shard.ts', import.meta.url).href}').then(async (s) => {
    const b = await import('${new URL('../../src/crypto/blake3.ts', import.meta.url).href}')
    const d = Buffer.alloc(300000); for (let i = 0; i < d.length; i++) d[i] = i % 251
    console.log(b.BLAKE3_IMPLEMENTATION + ' ' + s.computeShardId(d).id)
  })`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    env: { ...process.env, STRATOS_BLAKE3: 'js' },
    encoding: 'utf8',
  }).trim()
  assert.equal(out, `js ${computeShardId(vectorInput(300_000)).id}`)
})
