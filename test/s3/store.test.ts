/**
 * The S3 gateway's index (src/s3/store.ts) on a real LMDB environment: the per-owner bucket index that ListBuckets and
 * the bucket limit read, kept with the buckets in one transaction, and rebuilt once for an index written before it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { S3Store } from '../../src/s3/store.ts'

test('bucketsOf lists only the owner’s buckets, in name order; add and remove keep it in step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-s3-store-'))
  try {
    const store = S3Store.open(dir)
    await store.write(() => {
      for (const [name, owner] of [
        ['zeta', 'alice'],
        ['alpha', 'bob'],
        ['beta', 'alice'],
        ['gamma', 'alice'],
      ])
        store.addBucket({ name, owner, createdAt: 1 })
    })
    assert.deepEqual(store.bucketsOf('alice'), ['beta', 'gamma', 'zeta'])
    assert.deepEqual(store.bucketsOf('alice', 2), ['beta', 'gamma'])
    assert.deepEqual(store.bucketsOf('bob'), ['alpha'])
    assert.deepEqual(store.bucketsOf('carol'), [])
    await store.write(() => store.removeBucket('gamma'))
    assert.deepEqual(store.bucketsOf('alice'), ['beta', 'zeta'])
    assert.equal(store.buckets.get('gamma'), undefined)
    await store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an index written before the owner index gets it built when opened', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-s3-store-'))
  try {
    const old = S3Store.open(dir)
    // What an older gateway wrote: bucket records only.
    await old.write(() => {
      old.buckets.putSync('one', { name: 'one', owner: 'alice', createdAt: 1 })
      old.buckets.putSync('two', { name: 'two', owner: 'bob', createdAt: 2 })
      old.buckets.putSync('three', { name: 'three', owner: 'alice', createdAt: 3 })
    })
    await old.close()
    const store = S3Store.open(dir)
    assert.deepEqual(store.bucketsOf('alice'), ['one', 'three'])
    assert.deepEqual(store.bucketsOf('bob'), ['two'])
    await store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
