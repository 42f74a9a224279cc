/** The state hash (src/chain/state/state-hash.ts) chains only effective writes: rewriting a value or deleting a missing key changes nothing. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryKvStore } from '../../../src/chain/state/kv.ts'
import { OverlayKv } from '../../../src/chain/state/overlay.ts'
import { chainStateHash, effectiveWrites, GENESIS_PARENT_HASH } from '../../../src/chain/state/state-hash.ts'

const enc = (s: string) => new TextEncoder().encode(s)

test('the state hash chains only effective writes', () => {
  const base = new MemoryKvStore()
  base.set('a', enc('1'))
  const o = new OverlayKv(base)
  o.set('a', enc('1')) // same value
  o.delete('zz') // missing key
  assert.deepEqual(effectiveWrites(base, o.writes()), [])
  assert.equal(chainStateHash(GENESIS_PARENT_HASH, []), GENESIS_PARENT_HASH)
  o.set('b', enc('2'))
  const h1 = chainStateHash(GENESIS_PARENT_HASH, effectiveWrites(base, o.writes()))
  const o2 = new OverlayKv(base)
  o2.set('b', enc('2'))
  assert.equal(chainStateHash(GENESIS_PARENT_HASH, effectiveWrites(base, o2.writes())), h1)
  o2.set('b', enc('3'))
  assert.notEqual(chainStateHash(GENESIS_PARENT_HASH, effectiveWrites(base, o2.writes())), h1)
})
