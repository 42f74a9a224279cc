import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { importer, importBytes, type ImporterOptions } from 'ipfs-unixfs-importer'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  fileCid,
  buildDirectory,
  dagPbLeafFraming,
  listDirectory,
  UnixFsFileBuilder,
  checkRelativePath,
} from '../../../src/sds/client/unixfs.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { isStratosError } from '../../../src/errors.ts'

const MiB = 1 << 20
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

test('Kubo `ipfs add` vectors', async () => {
  assert.equal((await fileCid(text('hello world\n'))).cid.toString(), 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
  assert.equal(
    (await fileCid(text('hello world\n'), { cidVersion: 1 })).cid.toString(),
    'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4',
  )
  assert.equal((await fileCid(new Uint8Array(0))).cid.toString(), 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
  assert.equal((await fileCid(new Uint8Array(MiB))).cid.toString(), 'QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU')
  assert.equal(
    (await fileCid(new Uint8Array(10 * MiB))).cid.toString(),
    'QmaJ6kN9fW3TKpVkpf1NuW7cjhHjNp5Jwr3cQuHzsoZWkJ',
  )
  assert.equal((await buildDirectory([])).cid.toString(), 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
})

test('the 10 MiB vector is the same however the bytes are pushed (aligned views, odd pieces)', async () => {
  const b = new UnixFsFileBuilder()
  const zeros = new Uint8Array(3 * MiB)
  const pieces = [1, 262143, 262145, 5, 3 * MiB - 262150, 3 * MiB, 3 * MiB, MiB - 262144]
  for (const n of pieces) await b.push(zeros.subarray(0, n))
  const r = await b.finish()
  assert.equal(r.size, 10 * MiB)
  assert.equal(r.cid.toString(), 'QmaJ6kN9fW3TKpVkpf1NuW7cjhHjNp5Jwr3cQuHzsoZWkJ')
})

test('bytes pushed as the last ones (a tail hashed in place) give the same CID; nothing may follow them', async () => {
  const random = seededRandom(11)
  for (const size of [0, 1, 65536, 262144, 262145, 3 * 262144 + 5]) {
    const data = random(size)
    const want = (await fileCid(data)).cid.toString()
    // Whole, marked last; and in chunk-size pieces with the last one marked.
    const whole = new UnixFsFileBuilder()
    await whole.push(data, true)
    assert.equal((await whole.finish()).cid.toString(), want, `whole ${size}`)
    const pieces = new UnixFsFileBuilder()
    for (let off = 0; off < size; off += 262144) {
      const end = Math.min(size, off + 262144)
      await pieces.push(data.subarray(off, end), end === size)
    }
    assert.equal((await pieces.finish()).cid.toString(), want, `pieces ${size}`)
    // A tail hashed in place is not read again: the caller may overwrite it before finish.
    const reused = new UnixFsFileBuilder()
    const copy = Uint8Array.from(data)
    await reused.push(copy, true)
    copy.fill(0xee)
    assert.equal((await reused.finish()).cid.toString(), want, `overwritten after push ${size}`)
    await assert.rejects(reused.push(new Uint8Array(1)), (e: unknown) => isStratosError(e) && e.code === 'INTERNAL')
  }
  // After unaligned pieces the last one still goes through the carry: same CID.
  const data = random(300_000)
  const b = new UnixFsFileBuilder()
  await b.push(data.subarray(0, 1000))
  await b.push(data.subarray(1000), true)
  assert.equal((await b.finish()).cid.toString(), (await fileCid(data)).cid.toString())
  const after = new UnixFsFileBuilder()
  await after.push(data.subarray(0, 10), true)
  await assert.rejects(after.push(data.subarray(10, 20)), (e: unknown) => isStratosError(e) && e.code === 'INTERNAL')
})

test('leaf framing matches dag-pb + UnixFS encoding byte for byte', () => {
  for (const n of [0, 1, 127, 128, 16383, 16384, 262143, 262144]) {
    const data = new Uint8Array(n).fill(7)
    const block = dagPb.encode({ Data: new UnixFS({ type: 'file', data }).marshal(), Links: [] })
    const { prefix, suffix } = dagPbLeafFraming(n)
    assert.deepEqual(Buffer.concat([prefix, data, suffix]), Buffer.from(block), `size ${n}`)
  }
})

/** Reference: the importer with its stock chunker and buffer importer, options set to Kubo's. */
async function referenceCid(
  data: Uint8Array,
  o: { cidVersion: 0 | 1; rawLeaves: boolean },
): Promise<{ cid: CID; size: bigint }> {
  const opts: ImporterOptions = {
    cidVersion: o.cidVersion,
    rawLeaves: o.rawLeaves,
    leafType: 'file',
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: 262144 }),
    layout: balanced({ maxChildrenPerNode: 174 }),
  }
  return importBytes(data, { put: async (c: CID) => c }, opts)
}

test('random sizes agree with the stock importer for CIDv0, CIDv1 and raw-leaves variants', async () => {
  const random = seededRandom(7)
  // 0 and one chunk or less: the builder answers the leaf without the importer; from 262145 on the importer runs.
  const sizes = [0, 1, 255, 65536, 262143, 262144, 262145, 2 * 262144 + 17, 174 * 262144 + 1]
  for (const size of sizes) {
    const data = size > 2 * MiB ? new Uint8Array(size).fill(3) : random(size)
    for (const o of [
      { cidVersion: 0 as const, rawLeaves: false },
      { cidVersion: 1 as const, rawLeaves: true },
      { cidVersion: 0 as const, rawLeaves: true },
      { cidVersion: 1 as const, rawLeaves: false },
    ]) {
      const ours = await fileCid(data, o)
      const ref = await referenceCid(data, o)
      assert.equal(ours.cid.toString(), ref.cid.toString(), `size ${size} ${JSON.stringify(o)}`)
      assert.equal(ours.dagSize, Number(ref.size))
    }
  }
})

test('inner blocks are kept (root last, each hashes to its CID); leaves are not', async () => {
  const one = await fileCid(text('hello world\n'))
  assert.equal(one.blocks.length, 0)
  const r = await fileCid(new Uint8Array(175 * 262144).fill(1)) // 175 leaves → 2 level-1 nodes + root
  assert.equal(r.blocks.length, 3)
  assert.equal(r.blocks[r.blocks.length - 1].cid.toString(), r.cid.toString())
  for (const b of r.blocks) {
    assert.ok(dagPb.decode(b.bytes).Links.length > 0)
    assert.deepEqual((await sha256.digest(b.bytes)).digest, b.cid.multihash.digest)
  }
})

test('a directory matches the importer importing the same tree, flat and nested', async () => {
  const files = [
    { path: 'b.txt', content: text('bee\n') },
    { path: 'a.txt', content: text('hello world\n') },
    { path: 'sub/x.bin', content: new Uint8Array(300_000).fill(9) },
    { path: 'sub/deeper/y', content: text('') },
  ]
  const expected = await lastOf(
    importer(
      files.map((f) => ({ path: f.path, content: f.content })),
      { put: async (c: CID) => c },
      {
        cidVersion: 0,
        rawLeaves: false,
        leafType: 'file',
        wrapWithDirectory: true,
        chunker: fixedSize({ chunkSize: 262144 }),
        layout: balanced({ maxChildrenPerNode: 174 }),
        shardSplitThresholdBytes: 262144,
        shardSplitStrategy: 'links-bytes',
      },
    ),
  )
  const entries = await Promise.all(
    files.map(async (f) => {
      const r = await fileCid(f.content)
      return { path: f.path, cid: r.cid, dagSize: r.dagSize }
    }),
  )
  const dir = await buildDirectory(entries)
  assert.equal(dir.cid.toString(), expected.cid.toString())
  assert.equal(dir.dagSize, Number(expected.size))
  // Reading it back: root lists a.txt, b.txt, sub (sorted), sub lists deeper and x.bin.
  const blocks = new Map(dir.blocks.map((b) => [b.cid.toString(), b.bytes]))
  const blockOf = (c: CID) => blocks.get(c.toString())
  const root = listDirectory(dir.cid, blockOf)
  assert.deepEqual(
    root.map((l) => l.name),
    ['a.txt', 'b.txt', 'sub'],
  )
  assert.deepEqual(
    listDirectory(root[2].cid, blockOf).map((l) => l.name),
    ['deeper', 'x.bin'],
  )
})

test('empty sub-directories are kept', async () => {
  const dir = await buildDirectory([], ['empty'])
  const blocks = new Map(dir.blocks.map((b) => [b.cid.toString(), b.bytes]))
  const root = listDirectory(dir.cid, (c) => blocks.get(c.toString()))
  assert.deepEqual(
    root.map((l) => [l.name, l.cid.toString()]),
    [['empty', 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn']],
  )
})

test('a large directory becomes a HAMT above the 256 KiB links estimate, like the importer (and Kubo)', async () => {
  const leaf = await fileCid(text('x'))
  // Kubo's estimate is Σ(name bytes + CID bytes): 1000 × (250 + 34) > 256 KiB.
  const entries = Array.from({ length: 1000 }, (_, i) => ({
    path: `${'n'.repeat(244)}-${String(i).padStart(5, '0')}`,
    cid: leaf.cid,
    dagSize: leaf.dagSize,
  }))
  const expected = await lastOf(
    importer(
      entries.map((e) => ({ path: e.path, content: text('x') })),
      { put: async (c: CID) => c },
      {
        cidVersion: 0,
        rawLeaves: false,
        leafType: 'file',
        wrapWithDirectory: true,
        shardSplitThresholdBytes: 262144,
        shardSplitStrategy: 'links-bytes',
        shardFanoutBits: 8,
      },
    ),
  )
  const dir = await buildDirectory(entries)
  assert.equal(dir.cid.toString(), expected.cid.toString())
  const root = dagPb.decode(dir.blocks[dir.blocks.length - 1].bytes)
  assert.equal(UnixFS.unmarshal(root.Data!).type, 'hamt-sharded-directory')
  const blocks = new Map(dir.blocks.map((b) => [b.cid.toString(), b.bytes]))
  const names = listDirectory(dir.cid, (c) => blocks.get(c.toString()))
    .map((l) => l.name)
    .sort()
  assert.deepEqual(names, entries.map((e) => e.path).sort())
})

test('unsafe paths are refused', () => {
  for (const p of ['../x', 'a/../b', '/abs', 'a//b', 'a\\b', '.']) {
    assert.throws(
      () => checkRelativePath(p),
      (e) => isStratosError(e, 'BAD_REQUEST'),
      p,
    )
  }
  checkRelativePath('a/b.c/d')
})

async function lastOf<T>(it: AsyncIterable<T>): Promise<T> {
  let last: T | undefined
  for await (const x of it) last = x
  assert.ok(last !== undefined)
  return last
}
