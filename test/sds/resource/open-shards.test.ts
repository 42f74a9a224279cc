import { test } from 'node:test'
import assert from 'node:assert/strict'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OpenShards } from '../../../src/sds/resource/open-shards.ts'
import { tempDir } from './helpers.ts'

/** Whether a FileHandle is still open (a closed one's fd is -1). */
const isOpen = (h: { fh: import('node:fs/promises').FileHandle }): boolean => h.fh.fd >= 0

async function firstByte(h: { fh: import('node:fs/promises').FileHandle }): Promise<number> {
  const b = Buffer.alloc(1)
  await h.fh.read(b, 0, 1, 0)
  return b[0]
}

test('OpenShards: one handle per shard for concurrent reads, kept open idle (bounded), forget retires it', async (t) => {
  const dir = tempDir(t)
  const paths = ['a', 'b', 'c'].map((n, i) => {
    const p = join(dir, n)
    writeFileSync(p, Buffer.from([i + 1]))
    return p
  })
  const shards = new OpenShards(2)
  // Concurrent first reads of a shard open its file once.
  const [h1, h2] = await Promise.all([shards.acquire('a', paths[0]), shards.acquire('a', paths[0])])
  assert.equal(h1.fh, h2.fh)
  await h1.release()
  await h1.release() // a second release of the same handle does nothing
  assert.equal(await firstByte(h2), 1)
  await h2.release()
  // Idle now, still open: the next read reuses it.
  const h3 = await shards.acquire('a', paths[0])
  assert.equal(h3.fh, h1.fh)
  await h3.release()
  assert.ok(isOpen(h3))
  const idle: { fh: import('node:fs/promises').FileHandle }[] = []
  // At most 2 idle: a third shard closes the least recently used one (a).
  for (const [id, p] of [
    ['b', paths[1]],
    ['c', paths[2]],
  ]) {
    const h = await shards.acquire(id, p)
    await h.release()
    idle.push(h)
  }
  assert.equal(shards.size, 2)
  assert.ok(!isOpen(h1), 'the least recently used idle handle was closed')
  assert.ok(idle.every(isOpen))
  const a = await shards.acquire('a', paths[0])
  assert.notEqual(a.fh, h1.fh, 'reopened')
  await a.release()

  // The shard's file is replaced (deleted and stored again): a reader holding the old handle finishes on it, the
  // next read opens the new file.
  const old = await shards.acquire('c', paths[2])
  writeFileSync(join(dir, 'c.new'), Buffer.from([9]))
  renameSync(join(dir, 'c.new'), paths[2])
  shards.forget('c')
  assert.equal(await firstByte(old), 3)
  const fresh = await shards.acquire('c', paths[2])
  assert.equal(await firstByte(fresh), 9)
  await old.release()
  assert.ok(!isOpen(old), 'a retired handle closes with its last reader')
  await fresh.release()
  assert.ok(isOpen(fresh))
  // A missing file rejects as open does.
  await assert.rejects(
    shards.acquire('d', join(dir, 'd')),
    (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT',
  )
  await shards.closeAll()
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(shards.size, 0)
  assert.ok(!isOpen(fresh) && !idle.some(isOpen), 'every idle handle closed')
})
