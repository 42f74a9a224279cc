/** The hot-range cache over a byte source of its own (counting what it is asked for): prefetch, fetch-ahead, disk tier. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HotRangeCache, type PieceSource } from '../../src/gateway/cache.ts'
import type { ContentReader } from '../../src/ipfs/dag.ts'

const P = 1024
const SIZE = 10 * P + 17
const FILE = 'bafkfile'

/** Byte i of the file: differs between pieces (a piece read from the wrong place or an overwritten buffer shows). */
function byteAt(i: number): number {
  return (i * 31 + 7 + Math.floor(i / P) * 101) & 0xff
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
  // A copy of each chunk: the cache reuses its buffer once the next one is asked for.
  for await (const p of c.read(FILE, { offset, length, fileSize: SIZE })) parts.push(Buffer.from(p))
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

test('a large read streams its rest in one source read after the first piece; the pieces it passes fill the cache', async () => {
  for (const split of [1, 3, 7]) {
    const { read, asked } = source(split)
    const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
    // From inside piece 1 to inside piece 9: piece 1 alone, then [2P, end) as one stream.
    const got = await readAll(c, P + 100, 8 * P)
    assert.ok(got.equals(expected(P + 100, 8 * P)), `split ${split}`)
    assert.deepEqual(asked, [P, 2 * P], `split ${split}: the first piece, then one stream`)
    assert.equal(c.stats().streams, 1)
    // Pieces 2..8 are whole inside the stream (joined when a chunk boundary cut them); piece 9 was cut by the read's end.
    asked.length = 0
    assert.ok((await readAll(c, P, 8 * P)).equals(expected(P, 8 * P)), `split ${split}`)
    assert.deepEqual(asked, [], `split ${split}: served from memory`)
    assert.ok((await readAll(c, 9 * P, 10)).equals(expected(9 * P, 10)))
    assert.deepEqual(asked, [9 * P], `split ${split}: the piece the read ended inside of was not kept`)
  }
})

test('a streamed read to the end of the file keeps the short last piece; a small rest takes the piece path', async () => {
  const { read, asked } = source(2)
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 4 * P })
  assert.ok((await readAll(c, 0, SIZE)).equals(expected(0, SIZE)))
  assert.deepEqual(asked, [0, P])
  asked.length = 0
  assert.ok((await readAll(c, SIZE - 5, 5)).equals(expected(SIZE - 5, 5)))
  assert.deepEqual(asked, [])
  // 3 pieces after the first: under streamMinBytes, so pieces fetched ahead one by one.
  const small = source()
  const d = new HotRangeCache({ source: small.read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 4 * P })
  assert.ok((await readAll(d, 0, 4 * P)).equals(expected(0, 4 * P)))
  assert.deepEqual(
    [...small.asked].sort((a, b) => a - b),
    [0, 1, 2, 3].map((i) => i * P),
  )
  assert.equal(d.stats().streams, 0)
})

test('a reader that stops early ends the stream (the source sees its return)', async () => {
  let returned = false
  const read: ContentReader = async function* (_file, o) {
    try {
      for (let at = 0; at < o.length; at += P) {
        const n = Math.min(P, o.length - at)
        yield Uint8Array.from({ length: n }, (_, i) => byteAt(o.offset + at + i))
      }
    } finally {
      if (o.offset > 0) returned = true
    }
  }
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
  let got = 0
  for await (const p of c.read(FILE, { offset: 0, length: SIZE, fileSize: SIZE })) {
    got += p.length
    if (got >= 3 * P) break
  }
  assert.ok(returned)
})

/**
 * A source that records the offset of every read it is asked for and, in a read past the first piece (a stream),
 * holds back before its third piece until `release()`.
 */
function gatedSource(): { read: ContentReader; asked: number[]; release: () => void } {
  const asked: number[] = []
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => {
    release = r
  })
  const read: ContentReader = async function* (_file, o) {
    asked.push(o.offset)
    for (let at = 0; at < o.length; at += P) {
      if (o.offset > 0 && at === 2 * P) await gate
      const n = Math.min(P, o.length - at)
      yield Uint8Array.from({ length: n }, (_, i) => byteAt(o.offset + at + i))
    }
  }
  return { read, asked, release }
}

test('a read arriving during a stream of the same file takes the pieces the stream passes: one transfer for both', async () => {
  // The stream's source holds back after its first part until the second read has asked for its pieces.
  const { read, asked, release } = gatedSource()
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
  const first = readAll(c, 0, SIZE)
  while (asked.length < 2) await new Promise((r) => setImmediate(r))
  const second = readAll(c, 0, SIZE)
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  release()
  const [a, b] = await Promise.all([first, second])
  assert.ok(a.equals(expected(0, SIZE)))
  assert.ok(b.equals(expected(0, SIZE)))
  assert.deepEqual(asked, [0, P], 'the first piece and one stream; the second read fetched nothing')
  assert.equal(c.stats().streams, 1)
})

test('a read waiting on a stream whose reader goes away fetches the rest itself', async () => {
  const { read, asked, release } = gatedSource()
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
  // The first reader stops after three pieces: the stream is ended before it passes pieces 4…
  const first = (async () => {
    let got = 0
    for await (const p of c.read(FILE, { offset: 0, length: SIZE, fileSize: SIZE })) {
      got += p.length
      if (got >= 3 * P) break
    }
  })()
  while (asked.length < 2) await new Promise((r) => setImmediate(r))
  const second = readAll(c, 0, SIZE)
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  release()
  await first
  assert.ok((await second).equals(expected(0, SIZE)))
  assert.ok(asked.length > 2, 'the second read fetched what the stream did not pass')
})

test('two reads of a cold file started together share its first piece and then one stream', async () => {
  const { read, asked } = source(3)
  const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
  const [a, b] = await Promise.all([readAll(c, 0, SIZE), readAll(c, 0, SIZE)])
  assert.ok(a.equals(expected(0, SIZE)))
  assert.ok(b.equals(expected(0, SIZE)))
  assert.deepEqual(asked, [0, P])
  assert.equal(c.stats().streams, 1)
})

/**
 * A source in the SDK's `reuseBuffers` manner: every chunk is the same buffer, overwritten with 0xee once the cache
 * asks for the next chunk (or stops) — the cache must copy what it keeps.
 */
function recyclingSource(split: number): { read: PieceSource; reused: () => number } {
  let reused = 0
  const read: PieceSource = async function* (_file, o) {
    assert.equal(o.reuseBuffers, true, 'the cache asks for recycled buffers')
    const part = Math.ceil(o.length / split)
    const buf = new Uint8Array(part)
    for (let at = 0; at < o.length; at += part) {
      const n = Math.min(part, o.length - at)
      for (let i = 0; i < n; i++) buf[i] = byteAt(o.offset + at + i)
      try {
        yield buf.subarray(0, n)
      } finally {
        buf.fill(0xee)
        reused++
      }
    }
  }
  return { read, reused: () => reused }
}

test('bytes from a source that reuses its buffers are copied into the cache: cold and hot reads are exact', async () => {
  for (const split of [1, 3, 7]) {
    const { read, reused } = recyclingSource(split)
    const c = new HotRangeCache({ source: read, sizeOf: async () => SIZE, pieceBytes: P, streamMinBytes: 2 * P })
    assert.ok((await readAll(c, 0, SIZE)).equals(expected(0, SIZE)), `split ${split}: cold`)
    assert.ok(reused() > 1)
    assert.equal(c.stats().streams, 1)
    const before = c.stats().fetchedBytes
    assert.ok((await readAll(c, 0, SIZE)).equals(expected(0, SIZE)), `split ${split}: hot`)
    assert.ok((await readAll(c, 3 * P + 5, 2 * P)).equals(expected(3 * P + 5, 2 * P)), `split ${split}: range`)
    assert.equal(c.stats().fetchedBytes, before, `split ${split}: from memory`)
  }
})

test('piece buffers are recycled: a memory tier of three pieces reading the file again and again allocates no more', async () => {
  const { read } = recyclingSource(3)
  const c = new HotRangeCache({
    source: read,
    sizeOf: async () => SIZE,
    pieceBytes: P,
    streamMinBytes: 2 * P,
    memoryBytes: 3 * P,
  })
  for (let round = 0; round < 4; round++) assert.ok((await readAll(c, 0, SIZE)).equals(expected(0, SIZE)))
  const { slots, memoryBytes } = c.stats()
  assert.ok(memoryBytes <= 3 * P)
  // Those in the tier (the last, short piece has memory of its own), and the few a read or the stream held while the
  // tier evicted them; 10 whole pieces were read 4 times.
  assert.ok(slots >= 2 && slots <= 6, `${slots} slots`)
})

test('a piece a reader still holds is not recycled when the tier evicts it; released when the reader moves on', async () => {
  const c = new HotRangeCache({
    source: source().read,
    sizeOf: async () => SIZE,
    pieceBytes: P,
    streamMinBytes: 100 * P,
    memoryBytes: 2 * P,
  })
  // A reader of pieces 0 and 1 that has piece 0 in hand and has not asked for more.
  const it = c.read(FILE, { offset: 0, length: 2 * P, fileSize: SIZE })[Symbol.asyncIterator]()
  const first = await it.next()
  assert.ok(!first.done)
  const held = first.value
  assert.ok(Buffer.from(held).equals(expected(0, P)))
  // Other reads push piece 0 out of the two-piece tier and need new piece buffers meanwhile.
  assert.ok((await readAll(c, 4 * P, 4 * P)).equals(expected(4 * P, 4 * P)))
  assert.ok(Buffer.from(held).equals(expected(0, P)), 'not overwritten while held')
  const slotsBefore = c.stats().slots
  const second = await it.next()
  assert.ok(!second.done && Buffer.from(second.value).equals(expected(P, P)))
  assert.ok((await it.next()).done)
  // Piece 0's buffer came back once the reader moved on, and the next piece taken reuses it.
  assert.ok((await readAll(c, 8 * P, 2 * P)).equals(expected(8 * P, 2 * P)))
  assert.ok(c.stats().slots <= slotsBefore + 1, `${c.stats().slots} slots after, ${slotsBefore} before`)
})
