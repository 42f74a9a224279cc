/**
 * Compliance suite of the meta index's storage engines (src/sds/meta/engine/table.ts), as js-libp2p's
 * interface-compliance-tests: lmdb.test.ts and postgres.test.ts call it with a factory, so both engines are held
 * to one contract — key order as lmdb-js orders keys, [start, end) ranges with prefix bounds and limits, values
 * that come back equal, read-your-writes inside a transaction, all-or-nothing commits across tables — and, on top,
 * the MetaStore built over each engine (schema, secrets, leases, and every subsystem store: store-suite.ts) behaves
 * the same.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { compareKeys } from 'ordered-binary'
import type { Key, StorageEngine, Table } from '../../../../src/sds/meta/engine/table.ts'
import type { MetaStore } from '../../../../src/sds/meta/store.ts'
import { Leases } from '../../../../src/sds/meta/leases.ts'
import { storeSuite } from './store-suite.ts'

export interface EngineSuiteFactories {
  /** A fresh, empty engine (its cleanup registered on `t`). */
  engine(t: TestContext): Promise<StorageEngine>
  /** A fresh MetaStore over this engine's kind (its cleanup registered on `t`). */
  store(t: TestContext): Promise<MetaStore>
  /** Opens the same index again (a second process's view of it) where the engine is shared. */
  reopen?(t: TestContext, store: MetaStore): Promise<MetaStore>
}

type T = { a: Table<unknown, Key>; b: Table<unknown, Key> }

async function tables(f: EngineSuiteFactories, t: TestContext): Promise<{ e: StorageEngine } & T> {
  const e = await f.engine(t)
  return { e, ...e.openTables<T>(['a', 'b']) }
}

const sortKeys = (keys: Key[]): Key[] => [...keys].sort((x, y) => compareKeys(x as never, y as never))

export function engineSuite(name: string, f: EngineSuiteFactories): void {
  test(`${name}: put, get and remove inside write; outside reads see the commit`, async (t) => {
    const { e, a } = await tables(f, t)
    assert.equal(a.get('x'), undefined)
    const got = await e.write(() => {
      a.putSync('x', { n: 1 })
      a.putSync(['k', 2], true)
      return a.get('x')
    })
    assert.deepEqual(got, { n: 1 }, 'a transaction reads its own puts')
    assert.deepEqual(a.get('x'), { n: 1 })
    assert.equal(a.get(['k', 2]), true)
    await e.write(() => a.removeSync('x'))
    assert.equal(a.get('x'), undefined)
    await e.write(() => a.removeSync('never-there'))
  })

  test(`${name}: values come back equal`, async (t) => {
    const { e, a } = await tables(f, t)
    const values: unknown[] = [
      0,
      -1.5,
      Number.MAX_SAFE_INTEGER,
      'text ü',
      '',
      true,
      false,
      null,
      [1, 'two', [3]],
      { cid: 'bafy', segments: [{ index: 0, shards: [{ id: 'aa', node: 'n' }] }], size: 3 },
      new Uint8Array([0, 1, 2, 255]),
    ]
    await e.write(() => {
      for (const [i, v] of values.entries()) a.putSync(i, v)
    })
    values.forEach((v, i) => {
      const back = a.get(i)
      if (v instanceof Uint8Array) assert.deepEqual(new Uint8Array(back as Uint8Array), v)
      else assert.deepEqual(back, v)
    })
  })

  test(`${name}: a throw rolls back every table it wrote`, async (t) => {
    const { e, a, b } = await tables(f, t)
    await e.write(() => a.putSync('kept', 1))
    await assert.rejects(
      e.write(() => {
        a.putSync('kept', 2)
        b.putSync('new', 1)
        a.removeSync('kept')
        throw new Error('abort')
      }),
      /abort/,
    )
    assert.equal(a.get('kept'), 1)
    assert.equal(b.get('new'), undefined)
    assert.equal(b.getCount(), 0)
  })

  test(`${name}: ranges are [start, end) in key order, with prefix bounds and limits`, async (t) => {
    const { e, a } = await tables(f, t)
    const keys: Key[] = [
      ['n', ''],
      ['n', 'a'],
      ['n', 'b'],
      ['n', 'b', 1],
      ['o', 'a'],
      ['t', 0, 'x'],
      ['t', 5, 'a'],
      ['t', 10, 'a'],
      ['t', 1e12, 'a'],
      'plain',
      7,
      -3,
      ['spent', 'w', '', 3],
      ['spent', 'w', 'cid', 1],
    ]
    await e.write(() => {
      for (const [i, k] of keys.entries()) a.putSync(k, i)
    })
    assert.deepEqual([...a.getKeys()], sortKeys(keys), 'full scan in ordered-binary order')
    assert.deepEqual(
      [...a.getKeys({ start: ['n'], end: ['n', '\uffff'] })],
      [
        ['n', ''],
        ['n', 'a'],
        ['n', 'b'],
        ['n', 'b', 1],
      ],
    )
    assert.deepEqual([...a.getKeys({ start: ['n', 'a'], end: ['n', 'b'] })], [['n', 'a']], 'end excluded')
    assert.deepEqual(
      [...a.getKeys({ start: ['t', 1], end: ['t', 1e13] })],
      [
        ['t', 5, 'a'],
        ['t', 10, 'a'],
        ['t', 1e12, 'a'],
      ],
      'numbers order numerically',
    )
    assert.deepEqual(
      [...a.getKeys({ start: ['t', 0], limit: 2 })],
      [
        ['t', 0, 'x'],
        ['t', 5, 'a'],
      ],
    )
    assert.deepEqual(
      [...a.getRange({ start: ['spent'], end: ['spent', '\uffff'] })].map((r) => r.value),
      [12, 13],
    )
    assert.equal(a.getCount({ start: ['n'], end: ['n', '\uffff'] }), 4)
    assert.equal(a.getCount(), keys.length)
    assert.deepEqual([...a.getKeys({ start: ['z'] })], [])
  })

  test(`${name}: inside write, ranges and counts see the transaction's own puts and removes`, async (t) => {
    const { e, a } = await tables(f, t)
    await e.write(() => {
      for (let i = 0; i < 5; i++) a.putSync(['r', i], i)
    })
    const seen = await e.write(() => {
      a.removeSync(['r', 1])
      a.putSync(['r', 9], 9)
      const keys = [...a.getKeys({ start: ['r'], end: ['r', Number.MAX_SAFE_INTEGER] })]
      const count = a.getCount({ start: ['r'], end: ['r', Number.MAX_SAFE_INTEGER] })
      // A scan that removes what it visits (as the pruning sweeps do).
      for (const k of a.getKeys({ start: ['r'], end: ['r', 3] })) a.removeSync(k)
      return { keys, count }
    })
    assert.deepEqual(seen.keys, [
      ['r', 0],
      ['r', 2],
      ['r', 3],
      ['r', 4],
      ['r', 9],
    ])
    assert.equal(seen.count, 5)
    assert.deepEqual(
      [...a.getKeys()],
      [
        ['r', 3],
        ['r', 4],
        ['r', 9],
      ],
    )
  })

  test(`${name}: read(fn) sees committed rows, keys, ranges and counts`, async (t) => {
    const { e, a, b } = await tables(f, t)
    await e.write(() => {
      for (let i = 0; i < 5; i++) a.putSync(['q', i], i * 10)
      b.putSync('y', 'why')
    })
    const seen = await e.read(() => {
      e.prefetch([{ table: b, keys: ['y', 'z'] }])
      return { keys: [...a.getKeys({ start: ['q'], end: ['q', 3] })], y: b.get('y'), z: b.get('z'), n: a.getCount() }
    })
    assert.deepEqual(seen, {
      keys: [
        ['q', 0],
        ['q', 1],
        ['q', 2],
      ],
      y: 'why',
      z: undefined,
      n: 5,
    })
  })

  test(`${name}: ranges read ahead and limited ranges and counts answer with the transaction's own writes`, async (t) => {
    const { e, a } = await tables(f, t)
    await e.write(() => {
      for (let i = 0; i < 10; i++) a.putSync(['r', i], { i })
    })
    const range = { start: ['r'], end: ['r', 99] }
    const seen = await e.write(() => {
      e.prefetch([
        { table: a, keys: [], ranges: [{ options: { ...range, limit: 3 } }, { options: range, keysOnly: true }] },
      ])
      const before = [...a.getKeys({ ...range, limit: 3 })]
      a.removeSync(['r', 0])
      a.removeSync(['r', 1])
      a.putSync(['r', 2.5], { i: 2.5 })
      a.putSync(['r', 50], { i: 50 })
      a.putSync(['r', 3], { i: 'three' })
      return {
        before,
        limited: [...a.getRange({ ...range, limit: 3 })],
        keys: [...a.getKeys(range)],
        count: a.getCount(range),
        tail: [...a.getKeys({ start: ['r', 8], end: ['r', 99], limit: 5 })],
      }
    })
    assert.deepEqual(seen.before, [
      ['r', 0],
      ['r', 1],
      ['r', 2],
    ])
    assert.deepEqual(seen.limited, [
      { key: ['r', 2], value: { i: 2 } },
      { key: ['r', 2.5], value: { i: 2.5 } },
      { key: ['r', 3], value: { i: 'three' } },
    ])
    assert.deepEqual(
      seen.keys.map((k) => (k as [string, number])[1]),
      [2, 2.5, 3, 4, 5, 6, 7, 8, 9, 50],
    )
    assert.equal(seen.count, 10)
    assert.deepEqual(seen.tail, [
      ['r', 8],
      ['r', 9],
      ['r', 50],
    ])
    assert.equal(a.getCount(range), 10)
  })

  test(`${name}: reads ahead (prefetch) answer as single reads do, and a transaction's own writes win`, async (t) => {
    const { e, a, b } = await tables(f, t)
    await e.write(() => {
      for (let i = 0; i < 4; i++) a.putSync(['p', i], { i })
      b.putSync('x', 1)
    })
    e.prefetch([{ table: a, keys: [['p', 0]] }]) // outside a transaction: nothing, and nothing breaks
    const seen = await e.write(() => {
      e.prefetch([
        {
          table: a,
          keys: [
            ['p', 0],
            ['p', 1],
            ['p', 7],
          ],
        },
        { table: b, keys: ['x', 'y'] },
      ])
      const first = [a.get(['p', 0]), a.get(['p', 7]), b.get('x'), b.get('y')]
      a.putSync(['p', 0], { i: 'new' })
      a.removeSync(['p', 1])
      b.putSync('y', 2)
      // Read ahead again after writing: the writes still answer, not the rows read before.
      e.prefetch([
        {
          table: a,
          keys: [
            ['p', 0],
            ['p', 1],
            ['p', 2],
          ],
        },
        { table: b, keys: ['y'] },
      ])
      const second = [a.get(['p', 0]), a.get(['p', 1]), a.get(['p', 2]), b.get('y')]
      // A range read sends the buffered writes; reads after it still see them.
      const keys = [...a.getKeys({ start: ['p'], end: ['p', 9] })]
      const third = [a.get(['p', 0]), a.get(['p', 1])]
      return { first, second, keys, third }
    })
    assert.deepEqual(seen.first, [{ i: 0 }, undefined, 1, undefined])
    assert.deepEqual(seen.second, [{ i: 'new' }, undefined, { i: 2 }, 2])
    assert.deepEqual(seen.keys, [
      ['p', 0],
      ['p', 2],
      ['p', 3],
    ])
    assert.deepEqual(seen.third, [{ i: 'new' }, undefined])
    // Nothing read inside one transaction leaks into the next or outside.
    await e.write(() => a.putSync(['p', 3], { i: 33 }))
    assert.deepEqual(a.get(['p', 3]), { i: 33 })
    assert.deepEqual(await e.write(() => a.get(['p', 3])), { i: 33 })
  })

  test(`${name}: long ranges come back whole and in order`, async (t) => {
    const { e, a } = await tables(f, t)
    const n = 1_300
    await e.write(() => {
      for (let i = 0; i < n; i++) a.putSync(['big', i], i)
    })
    const keys = [...a.getKeys({ start: ['big', 0], end: ['big', n] })]
    assert.equal(keys.length, n)
    assert.ok(keys.every((k, i) => (k as [string, number])[1] === i))
    assert.equal([...a.getRange({ start: ['big', 100], limit: 700 })].length, 700)
    assert.equal(a.getCount({ start: ['big', 0], end: ['big', n] }), n)
  })

  test(`${name}: matches a model under random writes, rollbacks and scans`, async (t) => {
    const { e, a } = await tables(f, t)
    const model = new Map<string, { key: Key; value: number }>()
    const keyArb = fc.tuple(fc.constantFrom('p', 'q'), fc.integer({ min: 0, max: 6 }), fc.constantFrom('', 'a', 'b'))
    const opArb = fc.oneof(
      fc.record({
        put: fc.array(fc.tuple(keyArb, fc.integer()), { maxLength: 4 }),
        del: fc.array(keyArb, { maxLength: 2 }),
        fail: fc.boolean(),
      }),
      fc.record({
        scan: fc.constantFrom('p', 'q'),
        from: fc.integer({ min: 0, max: 6 }),
        limit: fc.integer({ min: 1, max: 10 }),
      }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), async (ops) => {
        for (const op of ops) {
          if ('put' in op) {
            const write = e.write(() => {
              for (const [k, v] of op.put) a.putSync(k, v)
              for (const k of op.del) a.removeSync(k)
              if (op.fail) throw new Error('rollback')
            })
            if (op.fail) {
              await assert.rejects(write, /rollback/)
              continue
            }
            await write
            for (const [k, v] of op.put) model.set(JSON.stringify(k), { key: k, value: v })
            for (const k of op.del) model.delete(JSON.stringify(k))
          } else {
            const got = [...a.getRange({ start: [op.scan, op.from], end: [op.scan, '\uffff'], limit: op.limit })]
            const want = [...model.values()]
              .filter(
                (m) =>
                  compareKeys(m.key as never, [op.scan, op.from]) >= 0 &&
                  compareKeys(m.key as never, [op.scan, '\uffff']) < 0,
              )
              .sort((x, y) => compareKeys(x.key as never, y.key as never))
              .slice(0, op.limit)
            assert.deepEqual(got, want)
          }
        }
      }),
      { numRuns: 30 },
    )
  })

  test(`${name}: MetaStore keeps its schema and its secrets over the engine`, async (t) => {
    const store = await f.store(t)
    assert.equal(await store.ready(), true)
    const secret = await store.secret('accessSecret', () => new Uint8Array([1, 2, 3]))
    assert.deepEqual([...secret], [1, 2, 3])
    const again = await store.secret('accessSecret', () => new Uint8Array([9]))
    assert.deepEqual([...again], [1, 2, 3], 'made once, then kept')
    const other = f.reopen ? await f.reopen(t, store) : store
    assert.deepEqual([...(await other.secret('accessSecret', () => new Uint8Array([9])))], [1, 2, 3])
  })

  test(`${name}: a duty's lease is held by one process at a time and passes on when it runs out`, async (t) => {
    const store = await f.store(t)
    let now = 1_000
    const clock = { now: () => now }
    const other = f.reopen ? await f.reopen(t, store) : store
    const a = new Leases({ store, clock, holder: 'A' })
    const b = new Leases({ store: other, clock, holder: 'B' })
    assert.equal(await a.hold('reports', 100), true)
    if (!store.shared) {
      // One process owns the index: nobody to share a duty with.
      assert.equal(await b.hold('reports', 100), true)
      return
    }
    assert.equal(await b.hold('reports', 100), false, 'a live lease of another process')
    assert.equal(await a.hold('reports', 100), true, 'the holder renews')
    assert.equal(b.holderOf('reports'), 'A')
    now += 150
    assert.equal(await b.hold('reports', 100), true, 'an expired lease is taken over')
    assert.equal(await a.hold('reports', 100), false)
    await b.release('reports')
    assert.equal(await a.hold('reports', 100), true, 'a released lease is free at once')
  })

  storeSuite(name, f)
}
