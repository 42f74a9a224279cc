/**
 * The KV layer against a model (a plain Map): sorted prefix iteration, overlays that commit or
 * discard, and the state hash's "effective writes" rule.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MemoryKvStore, type KvStore } from '../../src/chain/state/kv.ts'
import { OverlayKv } from '../../src/chain/state/overlay.ts'
import { chainStateHash, effectiveWrites, GENESIS_PARENT_HASH } from '../../src/chain/state/state-hash.ts'

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

type Op = { kind: 'set'; key: string; value: string } | { kind: 'del'; key: string } | { kind: 'scan'; prefix: string }

const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), minLength: 1, maxLength: 4 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
  fc.record({ kind: fc.constant('del' as const), key: keyArb }),
  fc.record({ kind: fc.constant('scan' as const), prefix: fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }) }),
)

function scan(store: KvStore, prefix: string): Array<[string, string]> {
  return [...store.iterate(prefix)].map(([k, v]) => [k, dec(v)])
}

function modelScan(model: Map<string, string>, prefix: string): Array<[string, string]> {
  return [...model].filter(([k]) => k.startsWith(prefix)).sort((a, b) => (a[0] < b[0] ? -1 : 1))
}

function apply(store: KvStore, model: Map<string, string>, op: Op): void {
  if (op.kind === 'set') { store.set(op.key, enc(op.value)); model.set(op.key, op.value) }
  else if (op.kind === 'del') { store.delete(op.key); model.delete(op.key) }
  else assert.deepEqual(scan(store, op.prefix), modelScan(model, op.prefix))
}

test('MemoryKvStore iterates prefixes in sorted order like a model', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
    const store = new MemoryKvStore()
    const model = new Map<string, string>()
    for (const op of ops) apply(store, model, op)
    assert.deepEqual(scan(store, ''), modelScan(model, ''))
  }))
})

test('stacked overlays read through, commit in order and discard cleanly', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 30 }), fc.boolean(), (baseOps, blockOps, txOps, keepTx) => {
    const base = new MemoryKvStore()
    const baseModel = new Map<string, string>()
    for (const op of baseOps) apply(base, baseModel, op)
    const block = new OverlayKv(base)
    const blockModel = new Map(baseModel)
    for (const op of blockOps) apply(block, blockModel, op)
    const tx = new OverlayKv(block)
    const txModel = new Map(blockModel)
    for (const op of txOps) apply(tx, txModel, op)
    // the layers below are untouched until commit
    assert.deepEqual(scan(block, ''), modelScan(blockModel, ''))
    assert.deepEqual(scan(base, ''), modelScan(baseModel, ''))
    if (keepTx) tx.commit()
    else tx.discard()
    const expected = keepTx ? txModel : blockModel
    assert.deepEqual(scan(block, ''), modelScan(expected, ''))
    const writes = effectiveWrites(base, block.writes())
    base.writeBatch(writes)
    assert.deepEqual(scan(base, ''), modelScan(expected, ''))
  }))
})

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
