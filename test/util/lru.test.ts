// The one bounded cache (src/util/lru.ts): count and byte bounds, LRU and FIFO order, evictions and their hook.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Lru } from '../../src/util/lru.ts'

test('count bound: the least recently used goes first; get refreshes, peek does not', () => {
  const c = new Lru<string, number>({ maxEntries: 3 })
  c.set('a', 1)
  c.set('b', 2)
  c.set('c', 3)
  assert.equal(c.get('a'), 1) // a is now the newest
  assert.equal(c.peek('b'), 2) // b stays the oldest
  c.set('d', 4)
  assert.deepEqual([...c.keys()], ['c', 'a', 'd'])
  assert.equal(c.has('b'), false)
  assert.equal(c.size, 3)
})

test('set of a present key makes it the newest (LRU) and evicts nothing', () => {
  const evicted: string[] = []
  const c = new Lru<string, number>({ maxEntries: 2, onEvict: (k) => evicted.push(k) })
  c.set('a', 1)
  c.set('b', 2)
  c.set('a', 10)
  assert.deepEqual(
    [...c.entries()],
    [
      ['b', 2],
      ['a', 10],
    ],
  )
  assert.deepEqual(evicted, [])
})

test('FIFO order: get and updating set keep the insertion place', () => {
  const c = new Lru<string, number>({ maxEntries: 2, order: 'fifo' })
  c.set('a', 1)
  c.set('b', 2)
  assert.equal(c.get('a'), 1)
  c.set('a', 5)
  c.set('c', 3)
  assert.deepEqual(
    [...c.entries()],
    [
      ['b', 2],
      ['c', 3],
    ],
  )
})

test('byte bound: cost counted once per entry, replaced and deleted entries give theirs back', () => {
  const evicted: Array<[string, string]> = []
  const c = new Lru<string, string>({ maxBytes: 10, cost: (v) => v.length, onEvict: (k, v) => evicted.push([k, v]) })
  c.set('a', 'xxxx')
  c.set('b', 'yyyy')
  assert.equal(c.bytes, 8)
  c.set('a', 'xx') // replaced: no onEvict, bytes follow
  assert.equal(c.bytes, 6)
  c.set('c', 'zzzzzz') // 12 > 10: b (oldest) goes
  assert.deepEqual(evicted, [['b', 'yyyy']])
  assert.equal(c.bytes, 8)
  assert.equal(c.delete('a'), true)
  assert.equal(c.delete('a'), false)
  assert.equal(c.bytes, 6)
  c.clear()
  assert.equal(c.size, 0)
  assert.equal(c.bytes, 0)
  assert.deepEqual(evicted, [['b', 'yyyy']])
})

test('a too-large entry: evicts everything, itself last (default); refused with maxEntryBytes; kept alone with keepOne', () => {
  const evicted: string[] = []
  const plain = new Lru<string, number>({ maxBytes: 10, cost: (v) => v, onEvict: (k) => evicted.push(k) })
  plain.set('a', 4)
  plain.set('b', 4)
  plain.set('big', 11)
  assert.deepEqual(evicted, ['a', 'b', 'big'])
  assert.equal(plain.size, 0)
  assert.equal(plain.bytes, 0)

  const refusing = new Lru<string, number>({ maxBytes: 10, maxEntryBytes: 10, cost: (v) => v })
  refusing.set('a', 4)
  refusing.set('big', 3)
  assert.equal(refusing.set('big', 11), false) // refused, and its previous value is gone
  assert.deepEqual([...refusing.keys()], ['a'])
  assert.equal(refusing.bytes, 4)

  const keeping = new Lru<string, number>({ maxBytes: 10, keepOne: true, cost: (v) => v })
  keeping.set('a', 4)
  keeping.set('big', 11)
  assert.deepEqual([...keeping.keys()], ['big'])
  assert.equal(keeping.bytes, 11)
})

test('recost: a value that grew in place is counted again and evicts older entries, order unchanged', () => {
  const c = new Lru<string, { n: number }>({ maxBytes: 10, cost: (v) => v.n })
  const a = { n: 2 }
  c.set('a', a)
  c.set('b', { n: 2 })
  c.set('c', { n: 2 })
  const b = c.peek('b')!
  b.n = 7
  c.recost('b')
  assert.deepEqual([...c.keys()], ['b', 'c']) // a went; b kept its place
  assert.equal(c.bytes, 9)
  c.recost('missing') // no-op
  assert.equal(c.bytes, 9)
})

test('both bounds at once', () => {
  const c = new Lru<number, number>({ maxEntries: 3, maxBytes: 100, cost: (v) => v })
  for (let i = 1; i <= 5; i++) c.set(i, 10)
  assert.deepEqual([...c.keys()], [3, 4, 5])
  c.set(6, 85) // 10 + 10 + 85 > 100: 4 goes; 5 + 6 = 95 fits
  assert.deepEqual([...c.keys()], [5, 6])
  assert.equal(c.bytes, 95)
})
