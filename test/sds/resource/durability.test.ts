/**
 * Sync modes of the shard store (flusher.ts) on a real filesystem: the disk flushes go through an
 * injected SyncOps that records (and can hold back) every fdatasync/fsync, so the tests see exactly
 * when a shard becomes durable relative to its acknowledgement.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { ShardStore, shardDirOf, type ShardStoreOptions } from '../../../src/sds/resource/store.ts'
import {
  diskSyncOps,
  SYNC_PENDING_LOG,
  SYNC_STATE_FILE,
  type SyncOps,
  type SyncState,
} from '../../../src/sds/resource/flusher.ts'
import { shardFileBytes, SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { SHARD_CHUNK_BYTES } from '../../../src/limits.ts'
import { ManualClock, silentLogger } from '../../../src/util/components.ts'
import { ResourceNode } from '../../../src/sds/resource/node.ts'
import { isStratosError } from '../../../src/errors.ts'
import { collect, flipByte, makeShard, rejectsWithCode, tempDir, waitFor } from './helpers.ts'

const C = SHARD_CHUNK_BYTES

interface SyncCall {
  kind: 'datasync' | 'dir'
  what: string
}

/** Real disk flushes, recorded; `hold()` makes shard fdatasyncs wait until the returned release() is called. */
function recordingOps(): { ops: SyncOps; calls: SyncCall[]; synced: (id: string) => number; hold: () => () => void } {
  const calls: SyncCall[] = []
  let gate: Promise<void> | undefined
  const ops: SyncOps = {
    async datasync(fh, what) {
      if (gate && what !== SYNC_STATE_FILE) await gate
      calls.push({ kind: 'datasync', what })
      await diskSyncOps.datasync(fh, what)
    },
    async syncDir(dir) {
      calls.push({ kind: 'dir', what: dir })
      await diskSyncOps.syncDir(dir)
    },
  }
  return {
    ops,
    calls,
    synced: (id) => calls.filter((c) => c.kind === 'datasync' && c.what === id).length,
    hold() {
      let release = (): void => {}
      gate = new Promise<void>((resolve) => {
        release = resolve
      })
      return () => {
        gate = undefined
        release()
      }
    },
  }
}

async function openStore(dataDir: string, over: Partial<ShardStoreOptions> = {}): Promise<ShardStore> {
  const store = new ShardStore({ dataDir, ...over })
  await store.start()
  return store
}

function readState(dir: string): SyncState {
  return JSON.parse(readFileSync(join(dir, SYNC_STATE_FILE), 'utf8')) as SyncState
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

test('batch (the default): a PUT is acknowledged before its fdatasync; the flusher syncs once the interval is due and records the checkpoint', async (t) => {
  const dir = tempDir(t)
  const rec = recordingOps()
  const clock = new ManualClock()
  const store = await openStore(dir, { clock, syncOps: rec.ops, syncIntervalMs: 1_000 })
  assert.equal(store.syncMode, 'batch')
  const a = makeShard(2 * C + 5, 1)
  const beforePut = Date.now()
  assert.deepEqual(await store.put(a.id, a.data.length, [a.data]), { created: true, size: a.data.length })
  assert.equal(rec.synced(a.id), 0, 'acknowledged without an fdatasync of the shard')
  assert.ok((await collect(await store.openRead(a.id))).equals(a.data), 'served before it is synced')
  assert.deepEqual(store.syncStats()?.pendingShards, 1)
  assert.equal(readFileSync(join(dir, SYNC_PENDING_LOG), 'latin1'), `+${a.id}\n`)

  clock.advance(999)
  assert.equal(await store.flushDue(), false)
  assert.equal(rec.synced(a.id), 0)
  clock.advance(1)
  assert.equal(await store.flushDue(), true)
  assert.equal(rec.synced(a.id), 1)
  assert.ok(
    rec.calls.some((c) => c.kind === 'dir' && c.what === shardDirOf(join(dir, 'shards'), a.id)),
    'its directory is fsynced',
  )
  assert.ok(
    rec.calls.some((c) => c.kind === 'dir' && c.what === join(dir, 'shards')),
    'new subdirectories are made durable too',
  )
  const state = readState(dir)
  assert.equal(state.mode, 'batch')
  assert.equal(state.clean, false)
  assert.equal(state.shardsSynced, 1)
  assert.ok(state.syncedThroughMs >= beforePut)
  assert.equal(readFileSync(join(dir, SYNC_PENDING_LOG), 'latin1'), '', 'the pending log only holds unsynced ids')
  assert.deepEqual(store.syncStats()?.pendingShards, 0)
  assert.equal(await store.flushDue(), false, 'nothing left to flush')
  await store.stop()
})

test('batch with the system clock: the background flusher syncs within the interval on its own', async (t) => {
  const rec = recordingOps()
  const store = await openStore(tempDir(t), { syncOps: rec.ops, syncIntervalMs: 50 })
  const a = makeShard(C, 2)
  const acked = Date.now()
  await store.put(a.id, a.data.length, [a.data])
  await waitFor(() => rec.synced(a.id) === 1, 2_000, 'the flusher to sync the shard')
  assert.ok(Date.now() - acked < 1_000)
  await waitFor(() => store.syncStats()?.flushes === 1, 2_000, 'the checkpoint')
  await store.stop()
})

test('always: the shard and its directory are synced before the PUT is acknowledged; none: never', async (t) => {
  const rec = recordingOps()
  const always = await openStore(tempDir(t), { sync: 'always', syncOps: rec.ops })
  const a = makeShard(C + 1, 3)
  await always.put(a.id, a.data.length, [a.data])
  assert.equal(rec.synced(a.id), 1, 'fdatasync before the acknowledgement')
  assert.ok(rec.calls.some((c) => c.kind === 'dir' && c.what === shardDirOf(always.shardsDir, a.id)))
  assert.equal(always.syncStats(), undefined)
  await always.stop()

  const legacy = await openStore(tempDir(t), { fsync: true })
  assert.equal(legacy.syncMode, 'always', 'the boolean fsync option still works')
  await legacy.stop()

  const recNone = recordingOps()
  const none = await openStore(tempDir(t), { sync: 'none', syncOps: recNone.ops })
  const b = makeShard(C + 1, 4)
  await none.put(b.id, b.data.length, [b.data])
  await none.flush()
  await none.stop()
  assert.equal(recNone.synced(b.id), 0)
  assert.equal(new ShardStore({ dataDir: tempDir(t), fsync: false }).syncMode, 'none')
})

test('a clean stop flushes everything and needs no verification at the next start', async (t) => {
  const dir = tempDir(t)
  const rec = recordingOps()
  const store = await openStore(dir, { syncOps: rec.ops, syncIntervalMs: 60_000, clock: new ManualClock() })
  const shards = [5, 6, 7].map((seed) => makeShard(C + seed, seed))
  for (const s of shards) await store.put(s.id, s.data.length, [s.data])
  assert.equal(shards.filter((s) => rec.synced(s.id) > 0).length, 0)
  await store.stop()
  for (const s of shards) assert.equal(rec.synced(s.id), 1, 'stop() synced it')
  assert.equal(readState(dir).clean, true)
  await rejectsWithCode(store.put(shards[0].id, shards[0].data.length, [shards[0].data]), 'INTERNAL')

  const rec2 = recordingOps()
  const again = await openStore(dir, { syncOps: rec2.ops })
  assert.equal(again.recovery.previous, 'clean')
  assert.equal(again.recovery.checked, 0)
  assert.equal(shards.filter((s) => rec2.synced(s.id) > 0).length, 0, 'nothing was re-read or re-synced')
  assert.equal(again.shardCount, 3)
  assert.equal(readState(dir).clean, false, 'running again: a crash from now on is unclean')
  await again.stop()
})

test('restart after an unclean stop: shards written after the checkpoint are re-verified; a torn one is quarantined and reported, a lost one reported, the rest served', async (t) => {
  const dir = tempDir(t)
  const clock = new ManualClock()
  // The first store is abandoned without stop() (a kill): its flusher never runs again (manual clock, long interval).
  const first = await openStore(dir, { clock, syncIntervalMs: 3_600_000 })
  const old1 = makeShard(3 * C, 10)
  const old2 = makeShard(C + 77, 11)
  await first.put(old1.id, old1.data.length, [old1.data])
  await first.put(old2.id, old2.data.length, [old2.data])
  await sleep(30) // file timestamps are coarse: keep them clearly before the checkpoint
  await first.flush()
  const checkpoint = readState(dir).syncedThroughMs
  await sleep(30)
  const torn = makeShard(4 * C, 12)
  const lost = makeShard(2 * C, 13)
  const fine = makeShard(C, 14)
  for (const s of [torn, lost, fine]) await first.put(s.id, s.data.length, [s.data])
  assert.equal(first.syncStats()?.pendingShards, 3)
  assert.equal(readState(dir).clean, false)
  assert.equal(readState(dir).syncedThroughMs, checkpoint)

  // What a power loss can leave of unsynced shards: blocks never written (zeros, same length) and a rename never made durable.
  zeroRange(first.pathOf(torn.id), SHARD_DATA_OFFSET + 2 * C, C)
  rmSync(first.pathOf(lost.id))

  const rec = recordingOps()
  const second = await openStore(dir, { syncOps: rec.ops, recheckMarginMs: 0 })
  const r = second.recovery
  assert.equal(r.previous, 'unclean')
  assert.equal(r.checked, 2, 'only the two shards on disk written after the checkpoint')
  assert.deepEqual(r.quarantined, [torn.id])
  assert.deepEqual(r.missing, [lost.id])
  assert.deepEqual(
    second.pendingCorrupt().sort(),
    [torn.id, lost.id].sort(),
    'both go to the meta node in the next heartbeat',
  )
  assert.ok(existsSync(join(dir, 'corrupt', torn.id)))
  assert.equal(second.has(torn.id), false)
  assert.equal(second.has(lost.id), false)
  assert.equal(rec.synced(fine.id), 1, 'a verified shard is synced before the new checkpoint')
  assert.equal(rec.synced(old1.id), 0, 'shards synced before the checkpoint are not re-read')
  for (const s of [old1, old2, fine]) assert.ok((await collect(await second.openRead(s.id))).equals(s.data))
  await rejectsWithCode(second.openRead(torn.id), 'SHARD_NOT_FOUND')
  assert.ok(readState(dir).syncedThroughMs > checkpoint)
  await second.stop()

  // The default margin re-checks recent-but-synced shards too (safe side); an unreadable state file re-checks everything.
  writeFileSync(join(dir, SYNC_STATE_FILE), '{"torn')
  const third = await openStore(dir)
  assert.equal(third.recovery.previous, 'unreadable')
  assert.equal(third.recovery.checked, 3)
  assert.deepEqual(third.recovery.quarantined, [])
  await third.stop()
})

test('backpressure: while STORE_SYNC_MAX_PENDING_BYTES wait for the disk, a new PUT waits before reading its body', async (t) => {
  const rec = recordingOps()
  const size = C
  const store = await openStore(tempDir(t), {
    syncOps: rec.ops,
    syncIntervalMs: 3_600_000,
    clock: new ManualClock(),
    syncMaxPendingBytes: 2 * shardFileBytes(size),
  })
  const release = rec.hold()
  const [a, b, c] = [20, 21, 22].map((seed) => makeShard(size, seed))
  await store.put(a.id, size, [a.data])
  await store.put(b.id, size, [b.data]) // reaches the bound: a flush starts and hangs on the held fdatasync
  assert.equal(store.syncStats()?.unsyncedBytes, 2 * shardFileBytes(size))

  let accepted = false
  let pulled = false
  const body = new Readable({
    read() {
      pulled = true
      this.push(Buffer.from(c.data))
      this.push(null)
    },
  })
  const third = store.put(c.id, size, body, {
    onAccept: () => {
      accepted = true
    },
  })
  await sleep(50)
  assert.equal(accepted, false, 'not accepted while the disk is behind')
  assert.equal(pulled, false, 'not a byte of the body read')
  assert.equal(rec.synced(a.id) + rec.synced(b.id), 0)

  // An aborted waiter gives up cleanly.
  const ac = new AbortController()
  const d = makeShard(size, 23)
  const waiting = store.put(d.id, size, [d.data], { signal: ac.signal })
  ac.abort()
  await rejectsWithCode(waiting, 'ABORTED')

  release()
  assert.deepEqual(await third, { created: true, size })
  assert.ok(accepted && pulled)
  assert.equal(rec.synced(a.id), 1)
  assert.equal(rec.synced(b.id), 1)
  assert.equal(store.syncStats()?.unsyncedBytes, shardFileBytes(size))
  await store.stop()
  assert.equal(rec.synced(c.id), 1)
})

test('a failed fdatasync quarantines the shard and reports it (its bytes may never reach the disk)', async (t) => {
  const dir = tempDir(t)
  const a = makeShard(C, 30)
  const b = makeShard(C, 31)
  const ops: SyncOps = {
    async datasync(fh, what) {
      if (what === a.id) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
      await fh.datasync()
    },
    syncDir: diskSyncOps.syncDir,
  }
  const store = await openStore(dir, { syncOps: ops, syncIntervalMs: 3_600_000, clock: new ManualClock() })
  await store.put(a.id, a.data.length, [a.data])
  await store.put(b.id, b.data.length, [b.data])
  await store.flush()
  assert.equal(store.has(a.id), false)
  assert.deepEqual(store.pendingCorrupt(), [a.id])
  assert.ok(store.has(b.id))
  await store.stop()
})

test('deleting a shard before it is synced: nothing to sync, and not reported missing after a crash', async (t) => {
  const dir = tempDir(t)
  const rec = recordingOps()
  const store = await openStore(dir, { syncOps: rec.ops, syncIntervalMs: 3_600_000, clock: new ManualClock() })
  const a = makeShard(C, 40)
  await store.put(a.id, a.data.length, [a.data])
  assert.equal(await store.delete(a.id), true)
  assert.equal(store.syncStats()?.unsyncedBytes, 0)
  const again = await openStore(dir) // the first store was never stopped
  assert.equal(again.recovery.previous, 'unclean')
  assert.deepEqual(again.recovery.missing, [])
  assert.deepEqual(again.pendingCorrupt(), [])
  await again.stop()
})

function zeroRange(path: string, offset: number, length: number): void {
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(length), 0, length, offset)
  closeSync(fd)
}

test('the resource node takes the mode (default batch) and refuses an unknown one', async (t) => {
  const base = {
    port: 0,
    chainId: 'stratos-test-1',
    metaUrl: 'http://127.0.0.1:9',
    metaAddresses: [],
    heartbeatIntervalMs: 60_000,
    logger: silentLogger,
  }
  const nodes = [{}, { sync: 'always' as const }, { fsync: false }].map(
    (over) => new ResourceNode({ ...base, dataDir: tempDir(t), ...over }),
  )
  t.after(() => Promise.all(nodes.map((n) => n.stop())))
  assert.deepEqual(
    nodes.map((n) => n.store.syncMode),
    ['batch', 'always', 'none'],
  )
  assert.throws(
    () => new ResourceNode({ ...base, dataDir: tempDir(t), sync: 'sometimes' as 'batch' }),
    (e) => isStratosError(e, 'NETWORK_CONFIG'),
  )
})

test('SIGKILL of a real process mid-window: the next start re-verifies exactly the unsynced shards', async (t) => {
  const dir = tempDir(t)
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./fixtures/batch-writer.ts', import.meta.url).pathname, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  t.after(() => {
    child.kill('SIGKILL')
  })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  const written = JSON.parse(line) as { synced: string[]; recent: string[]; unsynced: number }
  assert.equal(written.unsynced, 2)
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
  assert.equal(readState(dir).clean, false)
  assert.deepEqual(
    [...readFileSync(join(dir, SYNC_PENDING_LOG), 'latin1').matchAll(/\+([0-9a-f]{64})/g)].map((m) => m[1]).sort(),
    [...written.recent].sort(),
  )
  const store = new ShardStore({ dataDir: dir, sync: 'batch', recheckMarginMs: 0 })
  flipByte(store.pathOf(written.recent[0]), 100) // inside the chunk-hash list
  await store.start()
  assert.equal(store.recovery.previous, 'unclean')
  assert.equal(store.recovery.checked, 2)
  assert.deepEqual(store.recovery.quarantined, [written.recent[0]])
  assert.deepEqual(store.pendingCorrupt(), [written.recent[0]])
  for (const id of [...written.synced, written.recent[1]]) assert.ok(store.has(id))
  await store.stop()
})
