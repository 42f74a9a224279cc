import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecyclingBufferPool } from '../../src/util/buffer-pool.ts'

const MiB = 1024 * 1024

test('a buffer given back is taken again, for the same size or a smaller one', () => {
  const pool = new RecyclingBufferPool(4, 8 * MiB)
  const a = pool.take(8 * MiB)
  pool.give(a)
  const b = pool.take(8 * MiB)
  assert.equal(b.buffer, a.buffer)
  pool.give(b)
  // A file's tail shard (smaller) reuses a full-size buffer through a view of it.
  const tail = pool.take(2 * MiB + 5)
  assert.equal(tail.length, 2 * MiB + 5)
  assert.equal(tail.buffer, a.buffer)
  assert.equal(pool.idle, 0)
  pool.give(tail)
  assert.equal(pool.idle, 1)
  assert.equal(pool.take(8 * MiB).buffer, a.buffer, 'the view came back as the whole buffer')
})

test('the smallest buffer that fits is taken', () => {
  const pool = new RecyclingBufferPool(4, 8 * MiB)
  const big = pool.take(8 * MiB)
  const small = pool.take(1 * MiB)
  pool.give(big)
  pool.give(small)
  assert.equal(pool.take(MiB / 2).buffer, small.buffer)
  assert.equal(pool.take(MiB / 2).buffer, big.buffer)
})

test('a full pool keeps its largest buffers', () => {
  const pool = new RecyclingBufferPool(2, 8 * MiB)
  const [a, b, c] = [pool.take(8 * MiB), pool.take(8 * MiB), pool.take(1024)]
  pool.give(a)
  pool.give(b)
  pool.give(c) // smaller than everything idle: dropped
  assert.equal(pool.idle, 2)
  assert.notEqual(pool.take(1024).buffer, c.buffer)
})

test('foreign buffers, offset views, oversize buffers and double gives are not kept', () => {
  const pool = new RecyclingBufferPool(4, MiB)
  pool.give(Buffer.allocUnsafeSlow(1024))
  const mine = pool.take(4096)
  pool.give(mine.subarray(1))
  assert.equal(pool.idle, 0)
  pool.give(pool.take(2 * MiB))
  assert.equal(pool.idle, 0)
  pool.give(mine)
  pool.give(mine)
  assert.equal(pool.idle, 1)
})

test('an aligned pool hands out page-aligned buffers that direct I/O can take as they are', () => {
  const aligned = new RecyclingBufferPool(2, 8 * MiB, undefined, true)
  const a = aligned.take(3 * MiB + 5)
  assert.equal(a.length, 3 * MiB + 5)
  assert.equal(a.byteOffset % 4096, 0)
  assert.ok(aligned.directIoReady(a))
  assert.ok(!aligned.directIoReady(a.subarray(100)), 'a view at an unaligned offset')
  assert.ok(!aligned.directIoReady(Buffer.alloc(4096)), 'a foreign buffer')
  aligned.give(a)
  const b = aligned.take(MiB)
  assert.equal(b.buffer, a.buffer, 'recycled like any pool buffer')
  assert.ok(aligned.directIoReady(b))
  const plain = new RecyclingBufferPool(2, 8 * MiB)
  assert.ok(!plain.directIoReady(plain.take(MiB)), 'an ordinary pool promises no alignment')
})
