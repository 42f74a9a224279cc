/**
 * The read path's cache of record JSON (src/sds/meta/record-cache.ts): round trip, byte bound, least recently used first out.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecordCache, cacheEntry } from '../../../src/sds/meta/record-cache.ts'
import type { FileRecord } from '../../../src/sds/meta/store.ts'

const record = (cid: string, segments = 1): FileRecord => ({
  cid,
  kind: 'file',
  size: segments,
  owners: ['st1owner'],
  createdAt: 1,
  k: 1,
  m: 0,
  segmentSize: 1,
  blockCount: 0,
  segments: Array.from({ length: segments }, (_, index) => ({
    index,
    size: 1,
    shardSize: 8,
    shards: [{ id: 'ab'.repeat(32), node: `n${index % 3}` }],
  })),
})

test('record cache: the view JSON round-trips, memory is bounded, least recently used goes first', () => {
  const e = cacheEntry(record('a', 4))
  assert.deepEqual(e.nodes, ['n0', 'n1', 'n2'])
  const view = JSON.parse(`${e.head},"nodes":{}}`)
  assert.equal(view.cid, 'a')
  assert.equal(view.segments.length, 4)
  assert.equal('blockCount' in view, false)

  const one = cacheEntry(record('x')).head.length * 4
  const cache = new RecordCache(one * 3)
  for (const cid of ['b', 'c', 'd']) cache.set(cid, cacheEntry(record(cid)))
  assert.ok(cache.get('b')) // b is now the most recent
  cache.set('e', cacheEntry(record('e')))
  assert.equal(cache.get('c'), undefined)
  assert.ok(cache.get('b') && cache.get('d') && cache.get('e'))
  assert.ok(cache.bytes <= one * 3)
  cache.invalidate('b')
  assert.equal(cache.get('b'), undefined)
  // An entry larger than the whole cache is not kept.
  cache.set('big', cacheEntry(record('big', 100)))
  assert.equal(cache.get('big'), undefined)
})

test('record cache: a stamp changes when its CID is invalidated or the cache cleared, not for other CIDs', () => {
  const cache = new RecordCache(1 << 20)
  const a0 = cache.stamp('a')
  cache.invalidate('b')
  assert.equal(cache.stamp('a'), a0, 'another record changed: a fill of a read before may still be kept')
  cache.invalidate('a')
  const a1 = cache.stamp('a')
  assert.notEqual(a1, a0)
  cache.clear()
  assert.notEqual(cache.stamp('a'), a1)
  assert.notEqual(cache.stamp('b'), a0)
})
