import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { ShardStore, shardPathOf } from '../../../src/sds/resource/store.ts'
import { shardFileBytes, SHARD_DATA_OFFSET, shardSizeFromFileBytes } from '../../../src/sds/resource/shard-file.ts'
import { SHARD_CHUNK_BYTES, STORE_DIRECT_IO_MIN_BYTES, STORE_DISK_SAMPLE_MAX_AGE_MS } from '../../../src/limits.ts'
import { isStratosError } from '../../../src/errors.ts'
import { collect, flipByte, listFiles, makeShard, rejectsWithCode, tempDir } from './helpers.ts'

const C = SHARD_CHUNK_BYTES

async function openStore(
  dataDir: string,
  over: Partial<ConstructorParameters<typeof ShardStore>[0]> = {},
): Promise<ShardStore> {
  const store = new ShardStore({ dataDir, fsync: false, ...over })
  await store.start()
  return store
}

/** Feeds bytes in uneven pieces, like a socket would. */
function pieces(data: Uint8Array, size = 65_537): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield Buffer.from(data.subarray(i, i + size))
    })(),
  )
}

test('file length ↔ shard size is a bijection (index rebuild needs stat only)', () => {
  for (const size of [1, 2, 7, C - 1, C, C + 1, 2 * C, 8 * 1024 * 1024, 64 * 1024 * 1024, 5 * C + 12345]) {
    assert.equal(shardSizeFromFileBytes(shardFileBytes(size)), size, `size ${size}`)
  }
  // Lengths no shard can have.
  assert.equal(shardSizeFromFileBytes(0), undefined)
  assert.equal(shardSizeFromFileBytes(20 + 32), undefined)
  assert.equal(shardSizeFromFileBytes(20 + 32 + C + 1), undefined)
})

test('put writes one atomic file (header, chunk hashes, data) and reads back verified', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir, { fsync: true })
  const shard = makeShard(3 * C + 1000, 1)
  const res = await store.put(shard.id, shard.data.length, pieces(shard.data))
  assert.deepEqual(res, { created: true, size: shard.data.length })
  const path = shardPathOf(join(dir, 'shards'), shard.id)
  assert.equal(store.pathOf(shard.id), path)
  const file = readFileSync(path)
  assert.equal(file.length, shardFileBytes(shard.data.length))
  // Format 2: the data at 0, then the trailer (magic, size, chunk count, chunk hashes).
  const size = shard.data.length
  assert.ok(file.subarray(SHARD_DATA_OFFSET, SHARD_DATA_OFFSET + size).equals(shard.data))
  assert.equal(file.subarray(size, size + 8).toString('latin1'), 'STSHARD2')
  assert.equal(file.readBigUInt64BE(size + 8), BigInt(size))
  assert.equal(file.readUInt32BE(size + 16), 4)
  assert.deepEqual(new Uint8Array(file.subarray(size + 20, size + 20 + 4 * 32)), shard.chunkHashes)
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])

  const reader = await store.openRead(shard.id)
  assert.deepEqual(reader.chunkHashes, shard.chunkHashes)
  assert.ok((await collect(reader)).equals(shard.data))
  const stats = await store.stats()
  assert.equal(stats.shardCount, 1)
  assert.equal(stats.usedBytes, shardFileBytes(shard.data.length))
  assert.ok(stats.freeBytes > 0 && stats.freeBytes <= stats.capacityBytes - stats.usedBytes)
})

test('shards of the two-level layout (shards/ab/cd/<id>) are moved to shards/ab/<id> at start and still read', async (t) => {
  const dir = tempDir(t)
  const first = await openStore(dir)
  const a = makeShard(2 * C + 17, 3)
  const b = makeShard(1000, 4)
  for (const s of [a, b]) await first.put(s.id, s.data.length, pieces(s.data))
  await first.stop()
  // Put them where a node of the old layout kept them; `b` also left in both places (a move cut short).
  const shards = join(dir, 'shards')
  const legacyPath = (id: string): string => join(shards, id.slice(0, 2), id.slice(2, 4), id)
  for (const s of [a, b]) {
    mkdirSync(dirname(legacyPath(s.id)), { recursive: true })
    renameSync(shardPathOf(shards, s.id), legacyPath(s.id))
  }
  copyFileSync(legacyPath(b.id), shardPathOf(shards, b.id))
  // A file that is not a shard, in a directory of the old layout: warned about and left alone.
  const stray = join(shards, 'ff', 'ee', 'notes.txt')
  mkdirSync(dirname(stray), { recursive: true })
  writeFileSync(stray, 'mine')

  const store = await openStore(dir)
  t.after(() => store.stop())
  for (const s of [a, b]) {
    assert.equal(existsSync(shardPathOf(shards, s.id)), true)
    assert.equal(existsSync(dirname(legacyPath(s.id))), false, 'the old directory is gone')
    assert.ok((await collect(await store.openRead(s.id))).equals(s.data))
  }
  const stats = await store.stats()
  assert.equal(stats.shardCount, 2)
  assert.equal(stats.usedBytes, shardFileBytes(a.data.length) + shardFileBytes(b.data.length))
  assert.equal(readFileSync(stray, 'utf8'), 'mine')
})

test('range reads return exactly [start, end), aligned or not', async (t) => {
  const store = await openStore(tempDir(t))
  const shard = makeShard(3 * C + 17, 2)
  await store.put(shard.id, shard.data.length, [shard.data])
  const cases: [number, number][] = [
    [0, 1],
    [5, 5],
    [C - 3, C + 3],
    [C, 2 * C],
    [100, 3 * C + 10],
    [3 * C, 3 * C + 17],
    [0, 3 * C + 17],
  ]
  for (const [a, b] of cases) {
    const got = await collect(await store.openRead(shard.id, a, b))
    assert.ok(got.equals(shard.data.subarray(a, b)), `range ${a}-${b}`)
  }
  await rejectsWithCode(store.openRead(shard.id, 0, 3 * C + 18), 'RANGE_NOT_SATISFIABLE')
  await rejectsWithCode(store.openRead(shard.id, 10, 5), 'RANGE_NOT_SATISFIABLE')
  await rejectsWithCode(store.openRead('ab'.repeat(32)), 'SHARD_NOT_FOUND')
})

test('wrong bytes (HASH_MISMATCH) and wrong length (SIZE_MISMATCH) are refused and leave nothing', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const shard = makeShard(C + 500, 3)
  const tampered = shard.data.slice()
  tampered[C + 7] ^= 1
  await rejectsWithCode(store.put(shard.id, shard.data.length, pieces(tampered)), 'HASH_MISMATCH')
  await rejectsWithCode(store.put(shard.id, shard.data.length, pieces(shard.data.subarray(0, C))), 'SIZE_MISMATCH')
  const longer = new Uint8Array(shard.data.length + 1)
  longer.set(shard.data)
  await rejectsWithCode(store.put(shard.id, shard.data.length, pieces(longer)), 'SIZE_MISMATCH')
  // A size the id does not commit to.
  await rejectsWithCode(store.put(shard.id, shard.data.length - 1, pieces(shard.data.subarray(1))), 'HASH_MISMATCH')
  await rejectsWithCode(store.put('xyz', 10, [new Uint8Array(10)]), 'BAD_REQUEST')
  assert.equal(store.has(shard.id), false)
  assert.deepEqual(listFiles(join(dir, 'shards')), [])
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  assert.equal((await store.stats()).usedBytes, 0)
})

test('a body that fails mid-stream leaves no temp file', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const shard = makeShard(2 * C, 4)
  const failing = new Readable({ read() {} })
  failing.push(Buffer.from(shard.data.subarray(0, 1000)))
  // On a loaded machine the timer can fire before put() attaches its listeners: without one of its own, the stream's
  // 'error' would be an uncaught exception. put() still sees the error (a destroyed stream's iterator throws it).
  failing.on('error', () => {})
  setTimeout(() => failing.destroy(new Error('connection reset')), 20)
  await rejectsWithCode(store.put(shard.id, shard.data.length, failing), 'ABORTED')
  const ac = new AbortController()
  const slow = new Readable({ read() {} })
  slow.push(Buffer.from(shard.data.subarray(0, 1000)))
  setTimeout(() => ac.abort(), 20)
  await rejectsWithCode(store.put(shard.id, shard.data.length, slow, { signal: ac.signal }), 'ABORTED')
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  assert.deepEqual(listFiles(join(dir, 'shards')), [])
})

test('a small shard (written and renamed with synchronous calls) is stored, verified on reopen, refused when wrong, and leaves nothing on failure', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const size = STORE_DIRECT_IO_MIN_BYTES / 4 + 7
  const shard = makeShard(size, 41)
  const tampered = shard.data.slice()
  tampered[size - 2] ^= 1
  await rejectsWithCode(store.put(shard.id, size, pieces(tampered, 4096)), 'HASH_MISMATCH')
  await rejectsWithCode(store.put(shard.id, size, pieces(shard.data.subarray(0, size - 1))), 'SIZE_MISMATCH')
  const longer = new Uint8Array(size + 1)
  longer.set(shard.data)
  await rejectsWithCode(store.put(shard.id, size, pieces(longer, 1000)), 'SIZE_MISMATCH')
  const ac = new AbortController()
  const slow = new Readable({ read() {} })
  slow.push(Buffer.from(shard.data.subarray(0, 1000)))
  setTimeout(() => ac.abort(), 20)
  await rejectsWithCode(store.put(shard.id, size, slow, { signal: ac.signal }), 'ABORTED')
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  assert.equal(store.has(shard.id), false)
  // Racing uploads of one small shard: one creates it.
  const results = await Promise.all([1, 2, 3].map(() => store.put(shard.id, size, pieces(shard.data, 3000))))
  assert.equal(results.filter((r) => r.created).length, 1)
  assert.equal(statSync(store.pathOf(shard.id)).size, shardFileBytes(size))
  assert.ok((await collect(await store.openRead(shard.id))).equals(shard.data))
  // A restarted store reads the trailer the synchronous write put after the data, and verifies every chunk by it.
  await store.stop()
  const again = await openStore(dir)
  const reader = await again.openRead(shard.id)
  assert.deepEqual(reader.chunkHashes, shard.chunkHashes)
  assert.ok((await collect(reader)).equals(shard.data))
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  assert.equal((await again.stats()).usedBytes, shardFileBytes(size))
})

test('re-putting a stored shard is idempotent, also when uploads race', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const shard = makeShard(C + 3, 5)
  const results = await Promise.all(
    [1, 2, 3].map(() => store.put(shard.id, shard.data.length, pieces(shard.data, 4096))),
  )
  assert.equal(results.filter((r) => r.created).length, 1)
  const again = await store.put(shard.id, shard.data.length, pieces(shard.data))
  assert.equal(again.created, false)
  // The id commits to the size: another size is refused even though the id is stored.
  await rejectsWithCode(store.put(shard.id, shard.data.length - 1, pieces(shard.data.subarray(1))), 'SIZE_MISMATCH')
  const stats = await store.stats()
  assert.equal(stats.shardCount, 1)
  assert.equal(stats.usedBytes, shardFileBytes(shard.data.length))
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
})

test('restart rebuilds the index from disk and removes upload leftovers', async (t) => {
  const dir = tempDir(t)
  const first = await openStore(dir)
  const a = makeShard(1000, 6)
  const b = makeShard(2 * C + 9, 7)
  await first.put(a.id, a.data.length, [a.data])
  await first.put(b.id, b.data.length, [b.data])
  await first.stop()
  // A crash mid-upload leaves a temp file behind.
  writeFileSync(join(dir, 'tmp', `${'cd'.repeat(32)}.0011.tmp`), 'partial')
  const second = await openStore(dir)
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  assert.equal(second.sizeOf(a.id), 1000)
  assert.equal(second.sizeOf(b.id), 2 * C + 9)
  const stats = await second.stats()
  assert.equal(stats.shardCount, 2)
  assert.equal(stats.usedBytes, shardFileBytes(1000) + shardFileBytes(2 * C + 9))
  assert.ok((await collect(await second.openRead(b.id))).equals(b.data))
})

test('a flipped byte on disk: read throws SHARD_CORRUPT before yielding the bad chunk; shard quarantined and reported', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const shard = makeShard(4 * C, 8)
  await store.put(shard.id, shard.data.length, [shard.data])
  const path = store.pathOf(shard.id)
  flipByte(path, SHARD_DATA_OFFSET + 2 * C + 100) // inside chunk 2

  const yielded: Buffer[] = []
  let error: unknown
  try {
    for await (const piece of await store.openRead(shard.id)) yielded.push(piece)
  } catch (e) {
    error = e
  }
  assert.ok(isStratosError(error, 'SHARD_CORRUPT'), `got ${String(error)}`)
  const served = Buffer.concat(yielded)
  assert.equal(served.length, 2 * C, 'only the two good chunks were served')
  assert.ok(served.equals(shard.data.subarray(0, 2 * C)))
  assert.equal(existsSync(path), false)
  assert.ok(existsSync(join(dir, 'corrupt', shard.id)))
  assert.equal(store.has(shard.id), false)
  assert.deepEqual(store.pendingCorrupt(), [shard.id])
  assert.equal((await store.stats()).usedBytes, 0)
  await rejectsWithCode(store.openRead(shard.id), 'SHARD_NOT_FOUND')
  store.ackCorrupt([shard.id])
  assert.deepEqual(store.pendingCorrupt(), [])

  // A range that does not touch the bad chunk is served; one that does is not.
  const other = makeShard(3 * C, 9)
  await store.put(other.id, other.data.length, [other.data])
  flipByte(store.pathOf(other.id), SHARD_DATA_OFFSET + 2 * C)
  assert.ok((await collect(await store.openRead(other.id, 10, C + 10))).equals(other.data.subarray(10, C + 10)))
  await rejectsWithCode(collect(await store.openRead(other.id, 2 * C - 1, 2 * C + 1)), 'SHARD_CORRUPT')
  assert.deepEqual(store.pendingCorrupt(), [other.id])
})

test('a damaged chunk-hash list or header is caught when the reader opens', async (t) => {
  const dir = tempDir(t)
  const first = await openStore(dir)
  const shard = makeShard(C + 1, 10)
  await first.put(shard.id, shard.data.length, [shard.data])
  await first.stop() // the writing store keeps the list it computed; a restarted one reads the trailer
  flipByte(first.pathOf(shard.id), shard.data.length + 20 + 33) // second chunk hash in the trailer
  const store = await openStore(dir)
  await rejectsWithCode(store.openRead(shard.id), 'SHARD_CORRUPT')
  assert.deepEqual(store.pendingCorrupt(), [shard.id])

  // After a restart, quarantined shards are reported again (the meta node may have missed it).
  await store.stop()
  const again = await openStore(dir)
  assert.deepEqual(again.pendingCorrupt(), [shard.id])
})

test('a shard file with an impossible length is quarantined at start', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const shard = makeShard(C + 1, 11)
  await store.put(shard.id, shard.data.length, [shard.data])
  truncateSync(store.pathOf(shard.id), shardFileBytes(C + 1) - 10) // a torn file: no shard has this length
  const again = await openStore(dir)
  assert.equal(again.has(shard.id), false)
  assert.deepEqual(again.pendingCorrupt(), [shard.id])
  assert.ok(existsSync(join(dir, 'corrupt', shard.id)))
})

test('capacity exhausted → INSUFFICIENT_STORAGE before a byte of the body is read; nothing left behind', async (t) => {
  const dir = tempDir(t)
  const size = 100_000
  const store = await openStore(dir, { capacityBytes: 2 * shardFileBytes(size) + 10 })
  const a = makeShard(size, 12)
  const b = makeShard(size, 13)
  const c = makeShard(size, 14)
  await store.put(a.id, size, [a.data])
  await store.put(b.id, size, [b.data])
  let pulled = false
  const body = new Readable({
    read() {
      pulled = true
      this.push(Buffer.from(c.data))
      this.push(null)
    },
  })
  await rejectsWithCode(store.put(c.id, size, body), 'INSUFFICIENT_STORAGE')
  assert.equal(pulled, false)
  const stats = await store.stats()
  assert.equal(stats.freeBytes, 10)
  assert.deepEqual(listFiles(join(dir, 'tmp')), [])
  // Deleting makes room again.
  assert.equal(await store.delete(a.id), true)
  assert.equal(await store.delete(a.id), false)
  await store.put(c.id, size, [c.data])
  assert.equal(store.shardCount, 2)
})

test('concurrent uploads share the capacity: reservations prevent over-commit', async (t) => {
  const size = 50_000
  const store = await openStore(tempDir(t), { capacityBytes: 3 * shardFileBytes(size) })
  const shards = [1, 2, 3, 4, 5].map((s) => makeShard(size, 100 + s))
  const results = await Promise.allSettled(shards.map((s) => store.put(s.id, size, pieces(s.data, 1000))))
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3)
  for (const r of results) if (r.status === 'rejected') assert.ok(isStratosError(r.reason, 'INSUFFICIENT_STORAGE'))
  assert.equal((await store.stats()).freeBytes, 0)
})

test('default capacity comes from the disk (free space minus the reserve)', async (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'shards'), { recursive: true })
  const store = await openStore(dir, { reservedBytes: 1024 })
  const stats = await store.stats()
  assert.ok(stats.capacityBytes > 0)
  assert.ok(stats.freeBytes <= stats.capacityBytes)
  const huge = await openStore(tempDir(t), { reservedBytes: Number.MAX_SAFE_INTEGER })
  assert.equal((await huge.stats()).capacityBytes, 0)
  const s = makeShard(10, 1)
  await rejectsWithCode(huge.put(s.id, 10, [s.data]), 'INSUFFICIENT_STORAGE')
  assert.ok(statSync(dir).isDirectory())
})

test('a PUT checks the disk against a recent free-space sample less what was published since; a stale one is taken again', async (t) => {
  const size = 100_000
  const file = shardFileBytes(size)
  let free = 2 * file + file / 2 // room for two and a half shard files, as the (fake) disk reports it
  let samples = 0
  let now = 1_000_000
  const store = await openStore(tempDir(t), {
    reservedBytes: 0,
    capacityBytes: 100 * file, // the disk is the limit here, not the quota
    clock: { now: () => now },
    diskFree: async () => {
      samples++
      return free
    },
  })
  const statfsAtStart = samples
  const [a, b, c] = [31, 32, 33].map((seed) => makeShard(size, seed))
  await store.put(a!.id, size, [a!.data])
  await store.put(b!.id, size, [b!.data])
  assert.equal(samples, statfsAtStart, 'no statfs per PUT while the sample is fresh')
  // The sample still says 2.5 files free, but two were published since it: no room for a third.
  await rejectsWithCode(store.put(c!.id, size, [c!.data]), 'INSUFFICIENT_STORAGE')
  // A sample older than STORE_DISK_SAMPLE_MAX_AGE_MS is taken again: the disk now reports room.
  now += STORE_DISK_SAMPLE_MAX_AGE_MS
  free = 2 * file
  await store.put(c!.id, size, [c!.data])
  assert.equal(samples, statfsAtStart + 1)
  assert.equal(store.shardCount, 3)
})

test('shards written in format 1 (hash header before the data) are still found, served and verified', async (t) => {
  const dir = tempDir(t)
  const store = await openStore(dir)
  const good = makeShard(3 * C + 77, 21)
  const bad = makeShard(C + 5, 22)
  await store.stop()
  // Written by hand the way nodes before format 2 did: "STSHARD1", size, count, hashes, data.
  for (const s of [good, bad]) {
    const header = Buffer.alloc(20)
    header.write('STSHARD1', 0, 'latin1')
    header.writeBigUInt64BE(BigInt(s.data.length), 8)
    header.writeUInt32BE(s.chunkHashes.length / 32, 16)
    const path = store.pathOf(s.id)
    mkdirSync(join(path, '..'), { recursive: true })
    writeFileSync(path, Buffer.concat([header, s.chunkHashes, s.data]))
  }
  flipByte(store.pathOf(bad.id), 20 + bad.chunkHashes.length + C + 3) // a data byte of chunk 1

  const again = await openStore(dir)
  assert.equal(again.sizeOf(good.id), good.data.length)
  assert.ok((await collect(await again.openRead(good.id))).equals(good.data))
  assert.ok(
    (await collect(await again.openRead(good.id, C - 10, 2 * C + 10))).equals(
      Buffer.from(good.data.subarray(C - 10, 2 * C + 10)),
    ),
  )
  const reader = await again.openRead(bad.id)
  await rejectsWithCode(collect(reader), 'SHARD_CORRUPT')
  assert.deepEqual(again.pendingCorrupt(), [bad.id])
})

test('direct I/O on or off, the stored file is the same; on this file system it is on by default', async (t) => {
  const shard = makeShard(5 * C + 4_095, 23) // an unaligned tail: data end and trailer share a padded block
  const files: Buffer[] = []
  for (const directIo of [true, false]) {
    const dir = tempDir(t)
    const store = await openStore(dir, { directIo })
    await store.put(shard.id, shard.data.length, pieces(shard.data))
    files.push(readFileSync(store.pathOf(shard.id)))
    assert.ok((await collect(await store.openRead(shard.id))).equals(shard.data))
    if (!directIo) assert.equal(store.directIo, false)
  }
  assert.ok(files[0]!.equals(files[1]!))
  assert.equal(files[0]!.length, shardFileBytes(shard.data.length))
})
