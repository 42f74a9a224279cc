import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ShardFileWriter } from '../../../src/sds/resource/shard-writer.ts'
import { AlignedBufferPool } from '../../../src/util/aligned-buffers.ts'
import { PUMP_STAGING_BYTES } from '../../../src/limits.ts'
import { StratosError } from '../../../src/errors.ts'
import { shardBytes, tempDir } from './helpers.ts'

const S = PUMP_STAGING_BYTES

function write(writer: ShardFileWriter, piece: Buffer): Promise<void> {
  return new Promise((resolve, reject) => writer.write(piece, (e) => (e ? reject(e) : resolve())))
}

/** Writes `data` as staging-sized pieces (from the pool when `fromPool`), then the trailer; returns the file. */
async function writeShardFile(
  dir: string,
  name: string,
  data: Uint8Array,
  trailer: Buffer,
  o: { direct: boolean; fromPool: boolean },
  pool: AlignedBufferPool,
): Promise<{ file: Buffer; direct: boolean }> {
  const writer = await ShardFileWriter.create(join(dir, name), { pool, direct: o.direct })
  for (let off = 0; off < data.length; off += S) {
    const n = Math.min(S, data.length - off)
    if (o.fromPool) {
      const buf = pool.take()
      buf.set(data.subarray(off, off + n))
      await write(writer, buf.subarray(0, n))
      pool.give(buf)
    } else {
      await write(writer, Buffer.from(data.subarray(off, off + n)))
    }
  }
  await writer.complete(trailer)
  writer.destroy()
  return { file: readFileSync(join(dir, name)), direct: writer.direct }
}

test('data at offset 0, then the trailer, cut to the exact length: any tail, any buffer, direct or not', async (t) => {
  const dir = tempDir(t)
  const pool = new AlignedBufferPool(S)
  const trailer = Buffer.from(shardBytes(20 + 32 * 9, 5))
  let n = 0
  for (const size of [1, 4095, 4096, S, 2 * S + 4096, 2 * S + 4096 - 20, 3 * S - 1]) {
    const data = shardBytes(size, size)
    const expected = Buffer.concat([data, trailer])
    for (const direct of [true, false]) {
      for (const fromPool of [true, false]) {
        const got = await writeShardFile(dir, `f${n++}`, data, trailer, { direct, fromPool }, pool)
        assert.ok(got.file.equals(expected), `size ${size}, direct ${direct}, pool ${fromPool}`)
        if (!direct) assert.equal(got.direct, false)
      }
    }
  }
  assert.equal(pool.inUse, 0, 'every staging and tail buffer went back')
})

test('destroyed before complete: the file is closed and the tail buffer returned; a piece after a partial one is refused', async (t) => {
  const dir = tempDir(t)
  const pool = new AlignedBufferPool(S)
  const writer = await ShardFileWriter.create(join(dir, 'a'), { pool })
  writer.on('error', () => {}) // the failed write's callback reports it
  await write(writer, Buffer.from(shardBytes(5000, 1))) // leaves a 904-byte tail
  await assert.rejects(
    write(writer, Buffer.from(shardBytes(4096, 2))),
    (e: unknown) => e instanceof StratosError && e.code === 'INTERNAL',
  )
  const closed = new Promise((resolve) => writer.once('close', resolve))
  writer.destroy()
  await closed
  assert.equal(pool.inUse, 0)
})
