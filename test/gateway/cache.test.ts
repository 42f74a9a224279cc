/** The hot-range cache over a byte source of its own (counting what it is asked for): prefetch, fetch-ahead, disk tier. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HotRangeCache } from '../../src/gateway/cache.ts'
import type { ContentReader } from '../../src/ipfs/dag.ts'

const P = 1024
const SIZE = 10 * P + 17
const FILE = 'bafkfile'

function byteAt(i: number): number {
  return (i * 31 + 7) & 0xff
}

/** Serves bytes [offset, offset+length) of a SIZE-byte file, in `split` parts; records every request. */
function source(split = 1): { read: ContentReader; asked: number[] } {
  const asked: number[] = []
  const read: ContentReader = async function* (_file, o) {
    asked.push(o.offset)
    await new Promise((r) => setImmediate(r))
    const part = Math.ceil(o.length / split)
    for (let at = 0; at < o.length; at += part) {
      const n = Math.min(part, o.length - at)
      const b = new Uint8Array(n)
      for (let i = 0; i < n; i++) b[i] = byteAt(o.offset + at + i)
      yield b
    }
  }
  return { read, asked }
}

async function readAll(c: HotRangeCache, offset: number, length: number): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of c.read(FILE, { offset, length, fileSize: SIZE })) parts.push(p)
  return Buffer.concat(parts)
}

function expected(offset: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => byteAt(offset + i)))
}

test('prefetch starts one piece that a read then shares; cached, in-flight and out-of-range offsets start nothing', async () => {
  const { read, asked } = source()
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P })
  c.prefetch(FILE, 3 * P + 5, SIZE)
  c.prefetch(FILE, 3 * P + 900, SIZE) // same piece, already in flight
  c.prefetch(FILE, SIZE, SIZE)
  c.prefetch(FILE, -1, SIZE)
  assert.deepEqual(asked, [3 * P])
  assert.ok((await readAll(c, 3 * P + 5, 100)).equals(expected(3 * P + 5, 100)))
  assert.deepEqual(asked, [3 * P], 'the read waited for the prefetched piece')
  c.prefetch(FILE, 3 * P, SIZE) // cached now
  assert.deepEqual(asked, [3 * P])
  assert.equal(c.stats().fetchedBytes, P)
})

test('a read fetches its first piece, then the next ones ahead; pieces in several parts are joined', async () => {
  const { read, asked } = source(3)
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P })
  const got = await readAll(c, 2 * P + 10, 5 * P)
  assert.ok(got.equals(expected(2 * P + 10, 5 * P)))
  assert.deepEqual(
    [...asked].sort((a, b) => a - b),
    [2, 3, 4, 5, 6, 7].map((i) => i * P),
  )
  assert.equal(asked[0], 2 * P, 'the first piece first')
  // The last, short piece.
  assert.ok((await readAll(c, SIZE - 20, 20)).equals(expected(SIZE - 20, 20)))
})

test('disk tier: pieces are written after they are handed out and flushed() waits for them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-cache-'))
  try {
    const c = new HotRangeCache({ source: source().read, sizeOf: async () => SIZE, pieceBytes: P, dir })
    assert.ok((await readAll(c, 0, 3 * P)).equals(expected(0, 3 * P)))
    await c.flushed()
    assert.deepEqual(
      readdirSync(dir).sort(),
      [0, 1, 2].map((i) => `${FILE}.${i}`),
    )
    const { read, asked } = source()
    const again = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, dir })
    assert.ok((await readAll(again, P + 1, P)).equals(expected(P + 1, P)))
    assert.deepEqual(asked, [], 'served from disk')
    assert.equal(again.stats().diskHits, 2)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
