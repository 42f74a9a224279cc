import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OutputFile } from '../../../src/sds/client/output-file.ts'
import { allocAligned } from '../../../src/util/aligned-buffers.ts'

const KiB = 1024

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

/** A path in a fresh directory removed when the test ends. */
function tempPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-output-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'out.bin')
}

/** `data` copied into a page-aligned buffer (what an aligned pool hands out). */
function alignedCopy(data: Buffer): Buffer {
  const b = allocAligned(data.length)
  data.copy(b)
  return b
}

test('aligned chunks at aligned offsets go to the disk with direct I/O, the rest through the page cache', async (t) => {
  const path = tempPath(t)
  const out = await OutputFile.create(path)
  const parts = [
    { data: pattern(64 * KiB, 1), aligned: true }, // direct
    { data: pattern(8 * KiB + 100, 2), aligned: true }, // 8 KiB direct, 100 bytes buffered: the offset is now unaligned
    { data: pattern(16 * KiB, 3), aligned: true }, // unaligned offset: buffered
    { data: pattern(12 * KiB, 4), aligned: false }, // memory not aligned: buffered
    { data: pattern(3 * KiB + 7, 5), aligned: true }, // short tail: buffered
  ]
  for (const p of parts) await out.write(p.aligned ? alignedCopy(p.data) : p.data, p.aligned)
  const expected = Buffer.concat(parts.map((p) => p.data))
  assert.equal(out.bytes, expected.length)
  if (!out.direct) {
    t.diagnostic(`${tmpdir()} refuses O_DIRECT: only the page-cache path was exercised`)
    assert.equal(out.directBytes, 0)
  } else {
    assert.equal(out.directBytes, 64 * KiB + 8 * KiB)
  }
  await out.finish()
  assert.ok(readFileSync(path).equals(expected))
})

test('direct: false writes everything through the page cache', async (t) => {
  const path = tempPath(t)
  const out = await OutputFile.create(path, { direct: false })
  const data = pattern(256 * KiB, 9)
  await out.write(alignedCopy(data), true)
  assert.equal(out.direct, false)
  assert.equal(out.directBytes, 0)
  await out.finish()
  assert.ok(readFileSync(path).equals(data))
})

test('create refuses an existing path (the temp name is never reused)', async (t) => {
  const path = tempPath(t)
  const out = await OutputFile.create(path)
  await out.close()
  await assert.rejects(OutputFile.create(path), (e: { code?: string; details?: { path?: string } }) => {
    assert.equal(e.code, 'INTERNAL')
    assert.equal(e.details?.path, path)
    return true
  })
})

test('writes started together land at their own offsets', async (t) => {
  const path = tempPath(t)
  const out = await OutputFile.create(path)
  const parts = [pattern(256 * KiB, 11), pattern(128 * KiB, 12), pattern(64 * KiB + 1, 13)]
  // All three in flight at once: each takes its offset when it is called, not when it finishes.
  await Promise.all(parts.map((p) => out.write(alignedCopy(p), true)))
  assert.equal(out.bytes, 448 * KiB + 1)
  if (out.direct) assert.equal(out.directBytes, 448 * KiB)
  await out.finish()
  assert.ok(readFileSync(path).equals(Buffer.concat(parts)))
})
