/**
 * ShardOwners: which meta nodes placed each shard. A delete from one meta node releases only its claim; the file may
 * go once no claim is left (or when the shard never had one: stored before claims were recorded). Claims and the
 * per-meta totals survive a reopen.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ShardOwners } from '../../../src/sds/resource/shard-owners.ts'
import { tempDir } from './helpers.ts'

const A = 'stsds1metaa'
const B = 'stsds1metab'
const x = 'aa'.repeat(32)
const y = 'bb'.repeat(32)
const legacy = 'cc'.repeat(32)

test('a shard held for two meta nodes goes only when both released it; totals per meta node', async (t) => {
  const path = join(tempDir(t), 'owners')
  const owners = ShardOwners.open(path)
  owners.claim(x, A, 100)
  owners.claim(x, A, 100) // idempotent: a repeated PUT of the same shard
  owners.claim(x, B, 100)
  owners.claim(y, B, 50)
  assert.deepEqual(owners.ownersOf(x).sort(), [A, B])
  assert.deepEqual(owners.totals(A), { shardCount: 1, usedBytes: 100 })
  assert.deepEqual(owners.totals(B), { shardCount: 2, usedBytes: 150 })
  assert.deepEqual(owners.claimed(), { shardCount: 2, usedBytes: 150 })

  assert.equal(owners.release(x, A), false, 'B still holds x: the file stays')
  assert.equal(owners.release(x, A), false, 'a repeated delete from A changes nothing')
  assert.deepEqual(owners.totals(A), { shardCount: 0, usedBytes: 0 })
  assert.deepEqual(owners.ownersOf(x), [B])
  assert.equal(owners.release(y, A), false, 'A never held y: B keeps it')
  assert.deepEqual(owners.ownersOf(y), [B])
  assert.equal(owners.release(legacy, A), true, 'a shard nobody claimed goes on the first delete')
  await owners.close()

  const reopened = ShardOwners.open(path)
  t.after(() => reopened.close())
  assert.deepEqual(reopened.ownersOf(x), [B], 'claims survive a reopen')
  assert.deepEqual(reopened.totals(B), { shardCount: 2, usedBytes: 150 })
  assert.deepEqual(reopened.claimed(), { shardCount: 2, usedBytes: 150 })
  assert.equal(reopened.release(x, B), true, 'the last claim went: the file can go')
  assert.deepEqual(reopened.ownersOf(x), [])
  assert.deepEqual(reopened.claimed(), { shardCount: 1, usedBytes: 50 })
})

test('a closed table refuses changes with NODE_UNAVAILABLE', async (t) => {
  const owners = ShardOwners.open(join(tempDir(t), 'owners'))
  await owners.close()
  assert.throws(
    () => owners.claim(x, A, 1),
    (e: { code?: string }) => e.code === 'NODE_UNAVAILABLE',
  )
})
