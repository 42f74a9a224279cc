import { test } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AlignedBufferPool, alignUp } from '../../src/util/aligned-buffers.ts'
import { DIRECT_IO_ALIGN_BYTES } from '../../src/limits.ts'

test('slots are reused last-in first-out and the pool grows a slab at a time', () => {
  const pool = new AlignedBufferPool(64 * 1024, 2)
  const a = pool.take()
  const b = pool.take()
  assert.equal(pool.reservedBytes, 128 * 1024)
  const c = pool.take() // a second slab
  assert.equal(pool.reservedBytes, 256 * 1024)
  assert.equal(pool.inUse, 3)
  pool.give(b)
  assert.equal(pool.take(), b)
  for (const x of [a, b, c]) assert.equal(x.length, 64 * 1024)
  assert.ok(pool.owns(a) && pool.owns(c.subarray(0, 100)))
  assert.equal(pool.owns(a.subarray(100)), false, 'an unaligned view')
  assert.equal(pool.owns(Buffer.alloc(64 * 1024)), false)
  assert.throws(() => pool.give(Buffer.alloc(10)), RangeError)
  assert.throws(() => new AlignedBufferPool(1000), RangeError)
  assert.equal(alignUp(1), DIRECT_IO_ALIGN_BYTES)
  assert.equal(alignUp(DIRECT_IO_ALIGN_BYTES), DIRECT_IO_ALIGN_BYTES)
})

test('the kernel accepts pool buffers for O_DIRECT writes (memory really is aligned)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-aligned-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  let fd: number
  try {
    fd = openSync(join(dir, 'f'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EINVAL') return t.skip('this file system has no O_DIRECT')
    throw e
  }
  const pool = new AlignedBufferPool(1024 * 1024, 3)
  try {
    const bufs = [pool.take(), pool.take(), pool.take()]
    for (const [i, b] of bufs.entries()) b.fill(i + 1)
    for (let i = 0; i < bufs.length; i++)
      assert.equal(writeSync(fd, bufs[i]!, 0, bufs[i]!.length, i * bufs[i]!.length), bufs[i]!.length)
    // A misaligned view of the same memory is refused, so the test above can fail.
    assert.throws(
      () => writeSync(fd, bufs[0]!, 512 + 16, DIRECT_IO_ALIGN_BYTES, 0),
      (e: NodeJS.ErrnoException) => e.code === 'EINVAL',
    )
  } finally {
    closeSync(fd)
  }
  const back = readFileSync(join(dir, 'f'))
  assert.equal(back.length, 3 * 1024 * 1024)
  assert.equal(back[0], 1)
  assert.equal(back[2 * 1024 * 1024 + 5], 3)
})
