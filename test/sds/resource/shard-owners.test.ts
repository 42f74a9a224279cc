/**
 * ShardOwners: which meta nodes placed each shard. A delete from one meta node releases only its claim; the file may
 * go once no claim is left (or when the shard never had one: stored before claims were recorded). Claims and the
 * per-meta totals survive a reopen.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { open } from 'lmdb'
import { ShardOwners } from '../../../src/sds/resource/shard-owners.ts'
import { RESOURCE_OWNERS_COMMIT_INTERVAL_MS } from '../../../src/limits.ts'
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

test('claims and releases reach LMDB in the order made, together, within RESOURCE_OWNERS_COMMIT_INTERVAL_MS', async (t) => {
  const path = join(tempDir(t), 'owners')
  const owners = ShardOwners.open(path)
  const z = 'dd'.repeat(32)
  owners.claim(x, A, 100)
  owners.claim(y, A, 50)
  assert.equal(owners.release(y, A), true) // released before its claim was ever written
  owners.claim(z, A, 10)
  owners.release(z, A)
  owners.claim(z, B, 10) // claimed again after a release, in the same batch
  // What another reader of the table sees (committed transactions only): nothing yet, then all of it at once.
  const reader = open({ path, maxDbs: 2, compression: false })
  t.after(() => reader.close())
  const table = reader.openDB<number, [string, string]>({ name: 'owners' })
  const rows = (): string[] =>
    [...table.getRange({})].map(({ key, value }) => `${key[0].slice(0, 2)} ${key[1]} ${value}`)
  assert.deepEqual(rows(), [], 'nothing is written on the request path')
  await new Promise((r) => setTimeout(r, RESOURCE_OWNERS_COMMIT_INTERVAL_MS + 300))
  assert.deepEqual(rows(), [`aa ${A} 100`, `dd ${B} 10`], 'written by the timer, in order')
  await owners.close()
  const reopened = ShardOwners.open(path)
  t.after(() => reopened.close())
  assert.deepEqual(reopened.ownersOf(y), [])
  assert.deepEqual(reopened.ownersOf(z), [B])
  assert.deepEqual(reopened.claimed(), { shardCount: 2, usedBytes: 110 })
})
