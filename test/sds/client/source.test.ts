import { test } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSource } from '../../../src/sds/client/source.ts'
import { BufferPool } from '../../../src/sds/client/limiter.ts'
import { CLIENT_DIRECT_READ_MIN_BYTES } from '../../../src/limits.ts'

const MiB = 1024 * 1024

function supportsDirectIo(dir: string): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT))
    return true
  } catch {
    return false
  }
}

/** Reads a source in segments of `segment` bytes the way upload() does; returns the bytes and fill sizes. */
async function readAll(
  path: string,
  segment: number,
  direct: boolean,
): Promise<{ bytes: Buffer; fills: number[]; direct: boolean }> {
  const source = await openSource(path, { direct })
  const pool = new BufferPool(1, segment + segment / 2, direct)
  const parts: Buffer[] = []
  const fills: number[] = []
  try {
    for (;;) {
      const buf = await pool.take()
      const n = await source.fill(buf, segment)
      pool.give(buf)
      if (n === 0) break
      fills.push(n)
      parts.push(Buffer.from(buf.subarray(0, n)))
      if (n < segment) break
    }
  } finally {
    await source.close()
  }
  return { bytes: Buffer.concat(parts), fills, direct: (source as unknown as { direct?: boolean }).direct ?? false }
}

test('a file read with direct I/O gives the same bytes in the same segments as a buffered read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-source-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const size = CLIENT_DIRECT_READ_MIN_BYTES + 3 * MiB + 12_345 // an unaligned tail
  const data = Buffer.alloc(size)
  for (let i = 0; i + 4 <= size; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i)
  const path = join(dir, 'f')
  writeFileSync(path, data)
  const segment = 4 * MiB
  const plain = await readAll(path, segment, false)
  const direct = await readAll(path, segment, true)
  assert.equal(plain.direct, false)
  assert.ok(plain.bytes.equals(data))
  assert.ok(direct.bytes.equals(data))
  assert.deepEqual(direct.fills, plain.fills)
  assert.equal(direct.fills.at(-1), size % segment)
  assert.equal(direct.direct, supportsDirectIo(dir), 'direct I/O is used wherever the file system has it')
})

test('files below CLIENT_DIRECT_READ_MIN_BYTES are read through the page cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-source-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'small')
  writeFileSync(path, Buffer.alloc(100_000, 7))
  const r = await readAll(path, MiB, true)
  assert.equal(r.direct, false)
  assert.equal(r.bytes.length, 100_000)
})
