/**
 * Compliance suites for the chain's key-value interfaces (src/chain/state/kv.ts), as js-libp2p's
 * interface-compliance-tests: every implementation's test file calls the suite with a factory, so
 * each one is held to the same contract.
 *
 *   kvStoreSuite(name, factory)  KvStore: get/set/delete, prefix iteration in ascending key order as
 *                                a snapshot taken at the call, and a model-based property test.
 *   kvSuite(name, factory)       BatchKvStore: all of the above, plus writeBatch (writes applied in
 *                                order, deletions as null, all or nothing).
 *
 * A factory makes a fresh, empty store per test and registers its own cleanup on the test context.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { BatchKvStore, KvStore, KvWrite } from '../../../src/chain/state/kv.ts'

export type KvFactory<S extends KvStore> = (t: TestContext) => S | Promise<S>

export interface KvSuiteOptions {
  /** Runs of the model-based property test (default 100; a store that fsyncs every write wants fewer). */
  propertyRuns?: number
  /**
   * A write this implementation refuses (it throws), used to check that a failing batch writes nothing.
   * Without one (a store that refuses no write), that test is not registered: such a batch cannot fail half-way.
   */
  rejectedWrite?: KvWrite
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Every entry under `prefix`, decoded, in the order the store yields them. */
export function scan(store: KvStore, prefix: string): Array<[string, string]> {
  return [...store.iterate(prefix)].map(([k, v]) => [k, dec(v)])
}

/** What `iterate(prefix)` must yield for a model (a Map): the matching entries in ascending key order. */
export function modelScan(model: ReadonlyMap<string, string>, prefix: string): Array<[string, string]> {
  return [...model].filter(([k]) => k.startsWith(prefix)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

type Op =
  | { kind: 'set'; key: string; value: string }
  | { kind: 'del'; key: string }
  | { kind: 'scan'; prefix: string }
  | { kind: 'batch'; writes: Array<[string, string | null]> }

const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), minLength: 1, maxLength: 4 })
const prefixArb = fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 })
const valueArb = fc.string({ maxLength: 3 })

function opArb(batches: boolean): fc.Arbitrary<Op> {
  const ops: fc.Arbitrary<Op>[] = [
    fc.record({ kind: fc.constant('set' as const), key: keyArb, value: valueArb }),
    fc.record({ kind: fc.constant('del' as const), key: keyArb }),
    fc.record({ kind: fc.constant('scan' as const), prefix: prefixArb }),
  ]
  if (batches) {
    ops.push(
      fc.record({
        kind: fc.constant('batch' as const),
        writes: fc.array(fc.tuple(keyArb, fc.option(valueArb, { nil: null })), { maxLength: 6 }),
      }),
    )
  }
  return fc.oneof(...ops)
}

/** Applies `op` to the store and to the model; a scan compares the two. */
export function applyOp(store: KvStore, model: Map<string, string>, op: Op): void {
  if (op.kind === 'set') {
    store.set(op.key, enc(op.value))
    model.set(op.key, op.value)
  } else if (op.kind === 'del') {
    store.delete(op.key)
    model.delete(op.key)
  } else if (op.kind === 'batch') {
    ;(store as BatchKvStore).writeBatch(op.writes.map(([k, v]) => [k, v === null ? null : enc(v)] as const))
    for (const [k, v] of op.writes) {
      if (v === null) model.delete(k)
      else model.set(k, v)
    }
  } else {
    assert.deepEqual(scan(store, op.prefix), modelScan(model, op.prefix))
  }
}

/** Random ops (scans and gets checked on the way) against a Map model, on one store emptied before each run. */
function modelTest<S extends KvStore>(name: string, factory: KvFactory<S>, batches: boolean, runs: number): void {
  test(`${name}: behaves like a sorted map under random ${batches ? 'writes, batches' : 'writes'} and scans`, async (t) => {
    const store = await factory(t)
    fc.assert(
      fc.property(fc.array(opArb(batches), { maxLength: 60 }), (ops) => {
        for (const [k] of [...store.iterate('')]) store.delete(k)
        const model = new Map<string, string>()
        for (const op of ops) applyOp(store, model, op)
        assert.deepEqual(scan(store, ''), modelScan(model, ''))
        for (const [k, v] of model) assert.equal(dec(store.get(k)!), v)
      }),
      { numRuns: runs },
    )
  })
}

/** The KvStore contract (kv.ts): what every store the state machine runs on must do. */
export function kvStoreSuite<S extends KvStore>(
  name: string,
  factory: KvFactory<S>,
  options: KvSuiteOptions = {},
): void {
  test(`${name}: get answers what set stored; set overwrites; delete removes, and deleting a missing key is a no-op`, async (t) => {
    const s = await factory(t)
    assert.equal(s.get('bank/bal/a'), undefined)
    s.set('bank/bal/a', enc('1'))
    assert.equal(dec(s.get('bank/bal/a')!), '1')
    s.set('bank/bal/a', enc('22'))
    assert.equal(dec(s.get('bank/bal/a')!), '22')
    s.set('empty', new Uint8Array(0))
    assert.equal(s.get('empty')?.length, 0, 'an empty value is a value, not a missing key')
    s.delete('bank/bal/a')
    assert.equal(s.get('bank/bal/a'), undefined)
    s.delete('never/there')
    assert.equal(s.get('never/there'), undefined)
    assert.deepEqual(scan(s, ''), [['empty', '']])
  })

  test(`${name}: iterate(prefix) yields exactly the keys under the prefix, in ascending key order`, async (t) => {
    const s = await factory(t)
    const keys = [
      'bank/bal/b',
      'bank/bal/a',
      'bank/bal/ab',
      'bank/bam',
      'auth/n',
      'bank/bal/',
      'bank/bal',
      'Z/upper',
      'bank/bal/~',
      'bank/bal/0',
      'a',
    ]
    for (const k of keys) s.set(k, enc(k.length.toString()))
    assert.deepEqual(
      scan(s, 'bank/bal/').map(([k]) => k),
      ['bank/bal/', 'bank/bal/0', 'bank/bal/a', 'bank/bal/ab', 'bank/bal/b', 'bank/bal/~'],
    )
    assert.deepEqual(scan(s, 'bank/bal/a'), [
      ['bank/bal/a', '10'],
      ['bank/bal/ab', '11'],
    ])
    assert.deepEqual(
      scan(s, '').map(([k]) => k),
      [...keys].sort(),
    )
    assert.deepEqual(scan(s, 'bank/bal/b'), [['bank/bal/b', '10']], 'a prefix equal to a key yields that key')
    assert.deepEqual(scan(s, 'zzz'), [])
    assert.deepEqual(scan(s, 'bank/bal/c'), [], 'no key between two keys')
    s.delete('bank/bal/ab')
    assert.deepEqual(
      scan(s, 'bank/bal/a').map(([k]) => k),
      ['bank/bal/a'],
      'deleted keys are not yielded',
    )
  })

  test(`${name}: iterate is a snapshot taken at the call; the caller may write while it iterates`, async (t) => {
    const s = await factory(t)
    for (const k of ['p/a', 'p/b', 'p/c']) s.set(k, enc(k))
    const seen: Array<[string, string]> = []
    for (const [k, v] of s.iterate('p/')) {
      seen.push([k, dec(v)])
      s.delete('p/b')
      s.delete('p/c')
      s.set('p/d', enc('new'))
      s.set('p/a', enc('changed'))
    }
    assert.deepEqual(seen, [
      ['p/a', 'p/a'],
      ['p/b', 'p/b'],
      ['p/c', 'p/c'],
    ])
    assert.deepEqual(scan(s, 'p/'), [
      ['p/a', 'changed'],
      ['p/d', 'new'],
    ])
    // An iterable taken before a write does not see it either.
    const before = s.iterate('p/')
    s.set('p/e', enc('later'))
    assert.deepEqual(
      [...before].map(([k]) => k),
      ['p/a', 'p/d'],
    )
  })

  modelTest(name, factory, false, options.propertyRuns ?? 100)
}

/** The BatchKvStore contract (kv.ts): the KvStore contract plus atomic batches. */
export function kvSuite<S extends BatchKvStore>(
  name: string,
  factory: KvFactory<S>,
  options: KvSuiteOptions = {},
): void {
  kvStoreSuite(name, factory, options)

  test(`${name}: writeBatch applies its writes in order; null deletes; the last write to a key wins`, async (t) => {
    const s = await factory(t)
    s.set('gone', enc('x'))
    s.set('kept', enc('k'))
    s.writeBatch([
      ['a', enc('1')],
      ['b', enc('2')],
      ['gone', null],
      ['a', enc('3')],
      ['c', enc('4')],
      ['c', null],
      ['missing', null],
    ])
    assert.deepEqual(scan(s, ''), [
      ['a', '3'],
      ['b', '2'],
      ['kept', 'k'],
    ])
    s.writeBatch([])
    assert.deepEqual(
      scan(s, ''),
      [
        ['a', '3'],
        ['b', '2'],
        ['kept', 'k'],
      ],
      'an empty batch changes nothing',
    )
  })

  const rejectedWrite = options.rejectedWrite
  if (rejectedWrite)
    test(`${name}: a batch that fails writes nothing of itself`, async (t) => {
      const s = await factory(t)
      s.writeBatch([
        ['a', enc('1')],
        ['b', enc('2')],
      ])
      assert.throws(() => s.writeBatch([['a', null], ['c', enc('3')], rejectedWrite, ['d', enc('4')]]))
      assert.deepEqual(scan(s, ''), [
        ['a', '1'],
        ['b', '2'],
      ])
    })

  modelTest(name, factory, true, options.propertyRuns ?? 100)
}
