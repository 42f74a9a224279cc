/**
 * The unrolled keccak-256 (src/crypto/keccak256.ts: wallet signatures and chain txs) must equal @noble/hashes' keccak_256
 * on every input: it feeds signer recovery, where a different hash means a different signer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { keccak256 } from '../../src/crypto/keccak256.ts'
import { seededRandom } from '../../src/util/components.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

test('known vectors', () => {
  assert.equal(hex(keccak256(new Uint8Array(0))), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
  assert.equal(
    hex(keccak256(new TextEncoder().encode('abc'))),
    '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45',
  )
})

test('equals @noble/hashes keccak_256 on every length 0…600 (all block-boundary cases) and on random inputs', () => {
  const random = seededRandom(1600)
  for (let n = 0; n <= 600; n++) {
    const data = random(n)
    assert.equal(hex(keccak256(data)), hex(keccak_256(data)), `length ${n}`)
  }
  for (let i = 0; i < 50; i++) {
    const data = random(1 + Math.floor(random(2)[0]! * 40 + random(1)[0]!))
    assert.equal(hex(keccak256(data)), hex(keccak_256(data)))
  }
  const offsetView = random(300).subarray(7, 250)
  assert.equal(hex(keccak256(offsetView)), hex(keccak_256(offsetView)))
})
