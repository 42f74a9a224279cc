import { ReadCache } from '../../../src/sds/client/read-cache.ts'
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { flipByte } from '../resource/helpers.ts'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StratosClient, readFile, type ProgressEvent } from '../../../src/sds/client/index.ts'
import { Semaphore } from '../../../src/sds/client/limiter.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { ResourceClient } from '../../../src/net/resource-client.ts'
import { systemClock, systemRandom } from '../../../src/util/components.ts'
import { fileCid } from '../../../src/sds/client/unixfs.ts'
import { createSession, commitSession } from '../../../src/sds/client/upload.ts'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { isStratosError, StratosError } from '../../../src/errors.ts'
import { SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { startNetwork, shardPath, patternBytes, collect, wallet, MiB, CHAIN_ID, type TestNetwork } from '../network.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { RecyclingBufferPool } from '../../../src/util/buffer-pool.ts'

const CHUNK = 262144

function rejectsWith(code: string) {
  return (e: unknown) => {
    assert.ok(isStratosError(e), `expected a StratosError, got ${String(e)}`)
    assert.equal(e.code, code)
    return true
  }
}

describe('client against a real meta node and six resource nodes', () => {
  let net: TestNetwork
  let client: StratosClient
  let tmp: string

  before(async () => {
    net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    tmp = mkdtempSync(join(tmpdir(), 'stratos-client-files-'))
  })
  after(async () => {
    await client.close()
    await net.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  test('put/cat are byte-exact and CIDs are Kubo`s, from 0 bytes to several segments with a short tail', async () => {
    for (const [i, size] of [0, 1, 255, CHUNK - 1, CHUNK, CHUNK + 1, 3 * MiB + 12_345].entries()) {
      const data = patternBytes(size, 100 + i)
      const r = await client.put(data)
      assert.equal(r.cid, (await fileCid(data)).cid.toString(), `cid of ${size} bytes`)
      assert.equal(r.size, size)
      assert.equal(r.kind, 'file')
      assert.equal(r.segments, Math.ceil(size / MiB))
      const back = await collect(client.cat(r.cid))
      assert.equal(back.length, size)
      assert.ok(back.equals(data), `bytes of ${size}`)
    }
  })

  test('reuseBuffers: byte-exact, and a second read yields the buffers of the first (recycled, not fresh)', async () => {
    const data = patternBytes(4 * MiB + 999, 77)
    const r = await client.put(data)
    const read = async (): Promise<{ bytes: Buffer; buffers: Set<ArrayBufferLike> }> => {
      const parts: Buffer[] = []
      const buffers = new Set<ArrayBufferLike>()
      for await (const chunk of client.cat(r.cid, { reuseBuffers: true })) {
        buffers.add(chunk.buffer)
        parts.push(Buffer.from(chunk)) // a copy: the chunk itself is recycled once we ask for the next
      }
      return { bytes: Buffer.concat(parts), buffers }
    }
    const first = await read()
    assert.ok(first.bytes.equals(data))
    const second = await read()
    assert.ok(second.bytes.equals(data))
    assert.ok(
      [...second.buffers].some((b) => first.buffers.has(b)),
      'the second read reuses buffers of the first',
    )
    // Ranges too (pieces of other sizes), and the default mode still hands out buffers of their own.
    const range = Buffer.concat(
      await (async () => {
        const out: Buffer[] = []
        for await (const c of client.cat(r.cid, { offset: MiB + 5, length: 2 * MiB, reuseBuffers: true }))
          out.push(Buffer.from(c))
        return out
      })(),
    )
    assert.ok(range.equals(data.subarray(MiB + 5, 3 * MiB + 5)))
    const own = new Set<ArrayBufferLike>()
    for await (const c of client.cat(r.cid)) own.add(c.buffer)
    assert.ok(![...own].some((b) => first.buffers.has(b) || second.buffers.has(b)))
    // A pool of the caller's (the gateway keeps one longer than the client's): the read's buffers come from it and
    // go back to it, none from the client's.
    const pool = new RecyclingBufferPool(4, 64 * MiB)
    const fromPool = new Set<ArrayBufferLike>()
    const parts: Buffer[] = []
    for await (const c of client.cat(r.cid, { reuseBuffers: true, buffers: pool })) {
      fromPool.add(c.buffer)
      parts.push(Buffer.from(c))
    }
    assert.ok(Buffer.concat(parts).equals(data))
    assert.ok(pool.idle > 0, 'the buffers went back to the pool passed')
    assert.ok(![...fromPool].some((b) => first.buffers.has(b) || second.buffers.has(b)))
  })

  test('segmentsInFlight: one segment ahead takes 2k fresh buffers for a whole read, the default 3k; byte-exact', async () => {
    const data = patternBytes(6 * MiB + 321, 78)
    const r = await client.put(data)
    const distinct = async (segmentsInFlight?: number): Promise<number> => {
      const pool = new RecyclingBufferPool(16, 64 * MiB)
      const buffers = new Set<ArrayBufferLike>()
      const parts: Buffer[] = []
      for await (const c of client.cat(r.cid, { reuseBuffers: true, buffers: pool, segmentsInFlight })) {
        buffers.add(c.buffer)
        parts.push(Buffer.from(c))
      }
      assert.ok(Buffer.concat(parts).equals(data), `bytes with segmentsInFlight ${segmentsInFlight}`)
      return buffers.size
    }
    assert.equal(await distinct(1), 2 * 4, 'the segment being taken and the next one')
    assert.equal(await distinct(undefined), 3 * 4, 'CLIENT_SEGMENTS_IN_FLIGHT = 2 ahead of the one being taken')
    const out = join(tmp, 'one-ahead.bin')
    assert.deepEqual(await client.get(r.cid, out, { segmentsInFlight: 1 }), { kind: 'file', bytes: data.length })
    assert.ok(readFileSync(out).equals(data))
    for (const bad of [0, 1.5, -1])
      await assert.rejects(collect(client.cat(r.cid, { segmentsInFlight: bad })), rejectsWith('BAD_REQUEST'))
  })

  test('a file path, a stream and CIDv1 all upload; stat shows the layout; progress events are sent', async () => {
    const data = patternBytes(2 * MiB + 7, 5)
    const path = join(tmp, 'file.bin')
    writeFileSync(path, data)
    const events: ProgressEvent[] = []
    const r = await client.put(path, { onProgress: (e) => events.push(e) })
    assert.equal(r.cid, (await fileCid(data)).cid.toString())
    assert.equal(events[0].type, 'upload:start')
    assert.ok(events.some((e) => e.type === 'upload:progress' && e.bytes === data.length))
    assert.equal(events.filter((e) => e.type === 'upload:shard').length, 3 * 6)
    assert.deepEqual(events[events.length - 1], { type: 'upload:commit', cid: r.cid })
    const st = await client.stat(r.cid)
    assert.equal(st.size, data.length)
    assert.equal(st.segments.length, 3)
    assert.equal(st.name, 'file.bin')

    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < data.length; off += 100_003) yield data.subarray(off, off + 100_003)
    }
    assert.equal((await client.put(pieces())).cid, r.cid)
    const v1 = await client.put(data, { cidVersion: 1 })
    assert.equal(v1.cid, (await fileCid(data, { cidVersion: 1 })).cid.toString())
    assert.ok(v1.cid.startsWith('bafy'))
    assert.ok((await collect(client.cat(v1.cid))).equals(data))
  })

  test('byte ranges: start, middle across segment boundaries, end, empty, and beyond the end', async () => {
    const data = patternBytes(3 * MiB + 1000, 9)
    // Public: the second client below has no wallet (anonymous readers see public files only).
    const { cid } = await client.put(data, { public: true })
    const cases: [number, number | undefined][] = [
      [0, 10],
      [0, CHUNK + 3],
      [MiB - 5, 10],
      [MiB / 2, 2 * MiB],
      [123_457, 1],
      [3 * MiB, 1000],
      [3 * MiB + 999, 1],
      [data.length - 10, undefined],
      [2 * MiB + 17, 10 * MiB],
      [5, 0],
      [data.length, undefined],
      [data.length, 5],
    ]
    for (const [offset, length] of cases) {
      const got = await collect(client.cat(cid, { offset, length }))
      const want = data.subarray(offset, length === undefined ? undefined : offset + length)
      assert.ok(got.equals(want), `range ${offset}+${length}`)
    }
    // A client whose default segment size differs from the file's guesses wrong and still reads right.
    const other = await StratosClient.connect({ metaUrl: net.meta.url, segmentSize: 256 * 1024 })
    try {
      for (const [offset, length] of [
        [2 * MiB + 5, 1000],
        [100, MiB],
        [3 * MiB, 1000],
      ]) {
        assert.ok(
          (await collect(other.cat(cid, { offset, length }))).equals(data.subarray(offset, offset + length)),
          `other ${offset}+${length}`,
        )
      }
      assert.ok((await collect(other.cat(cid))).equals(data))
    } finally {
      await other.close()
    }
    await assert.rejects(collect(client.cat(cid, { offset: data.length + 1 })), rejectsWith('RANGE_NOT_SATISFIABLE'))
    await assert.rejects(
      collect(client.cat(cid, { offset: 10 * MiB, length: 5 })),
      rejectsWith('RANGE_NOT_SATISFIABLE'),
    )
    await assert.rejects(collect(client.cat(cid, { offset: -1 })), rejectsWith('BAD_REQUEST'))
    await assert.rejects(
      collect(client.cat('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')),
      rejectsWith('FILE_NOT_FOUND'),
    )
  })

  test('a corrupted shard on disk is detected and the read is rebuilt from parity, byte-exact', async () => {
    const data = patternBytes(2 * MiB + 333, 21)
    const { cid } = await client.put(data)
    const st = await client.stat(cid)
    // Flip one byte in the data area of data shard 1 of segment 0 (file bytes [256 KiB, 512 KiB)).
    const seg = st.segments[0]
    const loc = seg.shards[1]
    const path = shardPath(net, loc.node, loc.id)
    flipByte(path, SHARD_DATA_OFFSET + 1000, 0xff)
    const events: ProgressEvent[] = []
    assert.ok((await collect(client.cat(cid, { onProgress: (e) => events.push(e) }))).equals(data))
    assert.ok(
      events.some((e) => e.type === 'download:fallback' && e.segment === 0 && e.shardIndex === 1),
      JSON.stringify(events),
    )
    // A range inside the corrupt shard (the node quarantined it by now: the shard is missing there).
    const got = await collect(client.cat(cid, { offset: CHUNK + 500, length: 2000 }))
    assert.ok(got.equals(data.subarray(CHUNK + 500, CHUNK + 2500)))
  })

  test('get writes a file atomically; ls and rm see it', async () => {
    const data = patternBytes(MiB + 3, 33)
    const { cid } = await client.put(data, { name: 'got.bin' })
    const out = join(tmp, 'out.bin')
    assert.deepEqual(await client.get(cid, out), { kind: 'file', bytes: data.length })
    assert.ok(readFileSync(out).equals(data))
    assert.ok(readdirSync(tmp).every((n) => !n.endsWith('.tmp')))
    assert.ok((await client.ls()).some((f) => f.cid === cid && f.name === 'got.bin'))
    assert.deepEqual(await client.rm(cid), { remainingOwners: 0 })
    assert.ok(!(await client.ls()).some((f) => f.cid === cid))
    await assert.rejects(client.stat(cid), rejectsWith('FILE_NOT_FOUND'))
  })

  test('directories: putDirectory then get recreates the tree (Kubo ordering, hidden files skipped)', async () => {
    const src = join(tmp, 'tree')
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true })
    mkdirSync(join(src, 'empty'))
    writeFileSync(join(src, 'b.txt'), 'bee\n')
    writeFileSync(join(src, 'a.txt'), 'hello world\n')
    writeFileSync(join(src, '.hidden'), 'secret')
    writeFileSync(join(src, 'sub', 'big.bin'), patternBytes(MiB + 77, 3))
    writeFileSync(join(src, 'sub', 'deeper', 'zero'), '')
    const r = await client.putDirectory(src)
    assert.equal(r.kind, 'directory')
    assert.deepEqual(
      r.entries!.map((e) => e.path),
      ['a.txt', 'b.txt', 'sub/big.bin', 'sub/deeper/zero'],
    )
    assert.equal(r.entries![0].cid, 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    // Tsize of the root: every file's DAG plus the directory blocks, so more than the file bytes.
    assert.ok(typeof r.dagSize === 'number' && r.dagSize > r.size, `dagSize ${r.dagSize} for ${r.size} file bytes`)
    const st = await client.stat(r.cid)
    assert.equal(st.kind, 'directory')
    const out = join(tmp, 'tree-out')
    const got = await client.get(r.cid, out)
    assert.equal(got.kind, 'directory')
    assert.equal(got.bytes, 4 + 12 + MiB + 77)
    assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'hello world\n')
    assert.equal(readFileSync(join(out, 'b.txt'), 'utf8'), 'bee\n')
    assert.ok(readFileSync(join(out, 'sub', 'big.bin')).equals(patternBytes(MiB + 77, 3)))
    assert.equal(readFileSync(join(out, 'sub', 'deeper', 'zero')).length, 0)
    assert.deepEqual(readdirSync(join(out, 'empty')), [])
    assert.ok(!existsSync(join(out, '.hidden')))
    // Getting onto an existing directory is a conflict, and leaves no temp dir behind.
    await assert.rejects(client.get(r.cid, out), rejectsWith('CONFLICT'))
    assert.ok(readdirSync(tmp).every((n) => !n.endsWith('.tmp')))
    // cat of a directory is refused.
    await assert.rejects(collect(client.cat(r.cid)), rejectsWith('BAD_REQUEST'))
  })

  test('get refuses a directory whose entry names would escape the output directory', async () => {
    const file = await client.put(new TextEncoder().encode('evil\n'))
    const orders = new OrderSigner()
    const c = {
      meta: new MetaClient(net.meta.url),
      reads: new ReadCache(new MetaClient(net.meta.url), systemClock, orders.publicKey),
      orders,
      resource: new ResourceClient(),
      shardLimiter: new Semaphore(4),
      chainId: client.chainId,
      clock: systemClock,
      random: systemRandom,
    }
    for (const name of ['../escaped', 'a/b']) {
      const block = dagPb.encode(
        dagPb.prepare({
          Data: new UnixFS({ type: 'directory' }).marshal(),
          Links: [{ Name: name, Hash: CID.parse(file.cid), Tsize: 13 }],
        }),
      )
      const cid = CID.createV0(await sha256.digest(block)).toString()
      const session = await createSession(c, wallet, { k: 4, m: 2, segmentSize: MiB, size: 5 })
      await commitSession(c, wallet, session.uploadId, {
        cid,
        size: 5,
        kind: 'directory',
        blocks: [{ cid: CID.parse(cid), bytes: block }],
        receipts: [],
        children: [file.cid],
      })
      const out = join(tmp, 'evil-out', 'dir')
      mkdirSync(join(tmp, 'evil-out'), { recursive: true })
      await assert.rejects(client.get(cid, out), rejectsWith('BAD_REQUEST'))
      assert.ok(!existsSync(join(tmp, 'evil-out', 'escaped')) && !existsSync(out))
      assert.deepEqual(readdirSync(join(tmp, 'evil-out')), [])
    }
  })

  test('a refusal of the meta node in the middle of a read ends it with its own code, not DATA_UNAVAILABLE', async () => {
    const data = patternBytes(3 * MiB + 5, 91)
    // Public: the bare meta clients below read anonymously.
    const { cid } = await client.put(data, { public: true })
    /** The real meta client, refusing read tickets after the first window (as for a payer whose ozone ran out). */
    class RefusingMeta extends MetaClient {
      calls = 0
      override read(...args: Parameters<MetaClient['read']>): ReturnType<MetaClient['read']> {
        if (++this.calls > 1)
          return Promise.reject(new StratosError('INSUFFICIENT_OZONE', 'out of ozone', { payer: 'x' }))
        return super.read(...args)
      }
    }
    const orders = new OrderSigner()
    const meta = new RefusingMeta(net.meta.url)
    const c = {
      meta,
      reads: new ReadCache(meta, systemClock, orders.publicKey),
      orders,
      resource: new ResourceClient(),
      shardLimiter: new Semaphore(4),
      chainId: client.chainId,
      clock: systemClock,
      random: systemRandom,
    }
    const events: ProgressEvent[] = []
    let got = 0
    await assert.rejects(
      (async () => {
        for await (const chunk of readFile(c, { cid, segmentSizeHint: MiB, onProgress: (e) => events.push(e) }))
          got += chunk.length
      })(),
      rejectsWith('INSUFFICIENT_OZONE'),
    )
    assert.equal(got, MiB, 'the first segment (first window) was read')
    assert.ok(meta.calls >= 2)
  })

  test('infoBeside: connect does not wait for info, whose chain-id check gates every answer (WRONG_CHAIN, nothing written)', async () => {
    const data = patternBytes(MiB + 7, 44)
    const { cid } = await client.put(data, { public: true })
    const shape = { k: 4, m: 2, segmentSize: MiB, infoBeside: true }
    const lazy = await StratosClient.connect({ metaUrl: net.meta.url, wallet, chainId: CHAIN_ID, ...shape })
    try {
      const out = join(tmp, 'beside.bin')
      assert.deepEqual(await lazy.get(cid, out), { kind: 'file', bytes: data.length })
      assert.ok(readFileSync(out).equals(data))
      const small = patternBytes(1000, 45)
      assert.equal((await lazy.put(small)).cid, (await fileCid(small)).cid.toString())
    } finally {
      await lazy.close()
    }
    // Another chain, read anonymously (a public file: no signature the meta node would refuse): only the check stops it.
    const wrong = await StratosClient.connect({ metaUrl: net.meta.url, chainId: 'other-chain', ...shape })
    try {
      const before = readdirSync(tmp).sort()
      await assert.rejects(wrong.get(cid, join(tmp, 'wrong.bin')), rejectsWith('WRONG_CHAIN'))
      await assert.rejects(collect(wrong.cat(cid)), rejectsWith('WRONG_CHAIN'))
      await assert.rejects(wrong.stat(cid), rejectsWith('WRONG_CHAIN'))
      assert.deepEqual(readdirSync(tmp).sort(), before, 'no output or temp file')
    } finally {
      await wrong.close()
    }
    // The same client without infoBeside reads it: the refusals above were the check's.
    const plain = await StratosClient.connect({ metaUrl: net.meta.url, k: 4, m: 2, segmentSize: MiB })
    try {
      assert.equal((await plain.stat(cid)).cid, cid)
    } finally {
      await plain.close()
    }
    // Without every coding setting there is nothing to learn beside: connect checks at once.
    await assert.rejects(
      StratosClient.connect({ metaUrl: net.meta.url, chainId: 'other-chain', k: 4, infoBeside: true }),
      rejectsWith('WRONG_CHAIN'),
    )
  })

  test('connect refuses impossible coding settings at once (BAD_REQUEST), not at the first upload', async () => {
    for (const bad of [{ k: 0 }, { k: 1.5 }, { m: 99 }, { m: -1 }, { segmentSize: 0 }, { segmentSize: 1e12 }]) {
      await assert.rejects(
        StratosClient.connect({ metaUrl: net.meta.url, wallet, ...bad }),
        rejectsWith('BAD_REQUEST'),
        JSON.stringify(bad),
      )
    }
  })

  test('an AbortSignal aborts an upload (nothing is committed) and a download', async () => {
    const data = patternBytes(4 * MiB, 77)
    const ac = new AbortController()
    const upload = client.put(data, {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'upload:shard') ac.abort()
      },
    })
    await assert.rejects(upload, rejectsWith('ABORTED'))
    const cid = (await fileCid(data)).cid.toString()
    await assert.rejects(client.stat(cid), rejectsWith('FILE_NOT_FOUND'))
    assert.equal((await client.status()).totals.openUploads, 0)

    const stored = await client.put(data)
    const dl = new AbortController()
    let seen = 0
    await assert.rejects(
      (async () => {
        for await (const chunk of client.cat(stored.cid, { signal: dl.signal })) {
          seen += chunk.length
          dl.abort()
        }
      })(),
      rejectsWith('ABORTED'),
    )
    assert.ok(seen > 0 && seen < data.length)
    const pre = new AbortController()
    pre.abort()
    await assert.rejects(collect(client.cat(stored.cid, { signal: pre.signal })), rejectsWith('ABORTED'))
  })
})

describe('degraded networks', () => {
  test('copiesUpToBytes: a small file goes as 1 + m whole copies (k = 1) and survives m lost nodes; a larger one is coded', async () => {
    const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet, copiesUpToBytes: 64 * 1024 })
    try {
      await assert.rejects(
        StratosClient.connect({ metaUrl: net.meta.url, wallet, copiesUpToBytes: -1 }),
        rejectsWith('BAD_REQUEST'),
      )
      const small = patternBytes(64 * 1024, 21)
      const big = patternBytes(64 * 1024 + 1, 22)
      const a = await client.put(small)
      const b = await client.put(big)
      assert.equal(a.cid, (await fileCid(small)).cid.toString())
      const sa = await client.stat(a.cid)
      const sb = await client.stat(b.cid)
      assert.deepEqual([sa.k, sa.m, sa.segments[0].shards.length, sa.segments[0].shardSize], [1, 2, 3, 64 * 1024])
      assert.deepEqual([sb.k, sb.m, sb.segments[0].shards.length], [4, 2, 6])
      const holders = sa.segments[0].shards.map((s) => s.node)
      assert.equal(new Set(holders).size, 3, 'each copy on its own node')
      // Two of the three holders down: the third copy still reads byte-exact.
      for (const v of holders.slice(0, 2)) await net.stopNode(v)
      assert.ok((await collect(client.cat(a.cid))).equals(small))
      await net.stopNode(holders[2]!)
      await assert.rejects(collect(client.cat(a.cid)), rejectsWith('DATA_UNAVAILABLE'))
    } finally {
      await client.close()
      await net.close()
    }
  })

  test('with m nodes stopped every byte still reads back (full and ranges)', async () => {
    const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    try {
      const data = patternBytes(3 * MiB + 4321, 11)
      const { cid } = await client.put(data)
      const st = await client.stat(cid)
      // Stop the nodes holding data shards 0 and 2 of segment 0.
      const victims = [st.segments[0].shards[0].node, st.segments[0].shards[2].node]
      for (const v of victims) await net.stopNode(v)
      const events: ProgressEvent[] = []
      assert.ok((await collect(client.cat(cid, { onProgress: (e) => events.push(e) }))).equals(data))
      assert.ok(events.some((e) => e.type === 'download:fallback'))
      for (const [offset, length] of [
        [10, 100],
        [MiB - 3, 2 * MiB],
        [2 * CHUNK + 5, CHUNK],
        [3 * MiB, 4321],
      ]) {
        assert.ok(
          (await collect(client.cat(cid, { offset, length }))).equals(data.subarray(offset, offset + length)),
          `${offset}+${length}`,
        )
      }
      // One more node down: fewer than k shards for some segment → DATA_UNAVAILABLE.
      const third = st.segments[0].shards.map((s) => s.node).find((n) => !victims.includes(n))!
      await net.stopNode(third)
      await assert.rejects(collect(client.cat(cid)), rejectsWith('DATA_UNAVAILABLE'))
    } finally {
      await client.close()
      await net.close()
    }
  })

  test('a degraded range read that spends its refreshed limits twice gets fresh ones again (not DATA_UNAVAILABLE)', async () => {
    // The full cat spends the GET limits of window [1, 3) (one shard's bytes each). The range ends 3 bytes
    // short of segment 2, so rebuilding segment 2's lost shard 0 reads shard 3 again, wider than the range's
    // own piece of it: two fetches of shard 3, more than one limit covers. Each must get a fresh limit when
    // its own is short (known to the client, or refused by the node), never fail: with m nodes down the
    // rebuild has no shard to spare, and segment 1 is yielded first, so the read cannot start over.
    const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    try {
      const data = patternBytes(3 * MiB + 777, 19)
      const { cid } = await client.put(data)
      const [offset, end] = [MiB, 3 * MiB - 3]
      for (let round = 0; round < 3; round++) {
        assert.ok((await collect(client.cat(cid))).equals(data))
        if (round === 0) {
          const { shards } = (await client.stat(cid)).segments[2]
          for (const i of [0, 5]) await net.stopNode(shards[i].node)
        }
        const events: ProgressEvent[] = []
        const got = await collect(client.cat(cid, { offset, length: end - offset, onProgress: (e) => events.push(e) }))
        assert.ok(got.equals(data.subarray(offset, end)), `round ${round}`)
        assert.ok(events.some((e) => e.type === 'download:fallback' && e.segment === 2 && e.shardIndex === 0))
      }
    } finally {
      await client.close()
      await net.close()
    }
  })

  test('a rebuild reuses the bytes of data shards the range fetches anyway and GETs only the columns they lack', async () => {
    // 4 MiB segments: 1 MiB shards of four chunks. The range starts inside shard 1 and ends inside shard 3, so
    // rebuilding shard 2 (lost, whole width) takes shard 1's piece plus its head and shard 3's piece plus its tail.
    const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: 4 * MiB })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    try {
      const data = patternBytes(4 * MiB + 100, 23)
      const { cid } = await client.put(data)
      const { shards } = (await client.stat(cid)).segments[0]
      for (const i of [2, 5]) await net.stopNode(shards[i].node) // m nodes down: every other shard is needed
      const served = (): number => net.nodes.reduce((sum, n) => sum + n.orders.unsettledBytes, 0)
      // Bytes the nodes serve per range, every GET widened to whole 256 KiB chunks: the range's own pieces, then for
      // the rebuild of shard 2 only the columns those pieces lack, plus shards 0 and 4 (shard 5 is down).
      // Re-reading shards 1 and 3 whole instead costs up to one more MiB.
      const expected = [
        // pieces: shard 1 [256 KiB, 1 MiB), shard 3 [0, 768 KiB); gaps: shard 1 [0, 512 KiB), shard 3 [512 KiB, 1 MiB)
        3 * CHUNK + 3 * CHUNK + 2 * CHUNK + 2 * CHUNK + 2 * MiB,
        // pieces: shard 1 whole, shard 3 [0, 256 KiB); gaps: shard 1 [0, 256 KiB), shard 3 whole (from byte 1)
        MiB + CHUNK + CHUNK + MiB + 2 * MiB,
        // pieces: shard 1's last chunk; the rebuild needs only the first columns: one chunk of shards 0, 1, 3 and 4
        CHUNK + 4 * CHUNK,
      ]
      for (const [r, [offset, end]] of [
        [MiB + 300 * 1024 + 7, 3 * MiB + 2 * CHUNK + 5],
        [MiB + 1, 3 * MiB + 1],
        [2 * MiB - 1, 2 * MiB + 1],
      ].entries()) {
        const events: ProgressEvent[] = []
        const before = served()
        const got = await collect(client.cat(cid, { offset, length: end - offset, onProgress: (e) => events.push(e) }))
        assert.ok(got.equals(data.subarray(offset, end)), `${offset}..${end}`)
        assert.equal(served() - before, expected[r], `${offset}..${end}`)
        assert.ok(
          events.some((e) => e.type === 'download:fallback' && e.shardIndex === 2),
          `${offset}..${end}`,
        )
      }
      assert.ok((await collect(client.cat(cid))).equals(data))
    } finally {
      await client.close()
      await net.close()
    }
  })

  test('a node that is down when its shards are PUT gets them re-placed on another node', async () => {
    // Seven nodes; the victim has by far the most free space, so placement picks it for every segment.
    const net = await startNetwork({
      nodes: 7,
      k: 4,
      m: 2,
      segmentSize: MiB,
      capacity: (i) => (i === 0 ? 1024 * 1024 * MiB : 512 * MiB),
    })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    try {
      const victim = net.nodes[0].address
      await net.stopNode(victim) // the meta node still believes it is online (offline after 60 s here)
      const data = patternBytes(2 * MiB + 99, 13)
      const events: ProgressEvent[] = []
      const r = await client.put(data, { onProgress: (e) => events.push(e) })
      const retries = events.filter((e) => e.type === 'upload:retry')
      assert.ok(
        retries.length > 0 &&
          retries.every((e) => e.type === 'upload:retry' && e.node === victim && e.code === 'NODE_UNAVAILABLE'),
        JSON.stringify(retries),
      )
      const st = await client.stat(r.cid)
      assert.ok(st.segments.every((s) => s.shards.every((x) => x.node !== victim)))
      assert.ok((await collect(client.cat(r.cid))).equals(data))
    } finally {
      await client.close()
      await net.close()
    }
  })

  test('a data shard slower than the hedge delay is rebuilt from parity instead of waited for', async () => {
    const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB, proxied: true })
    const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    try {
      const data = patternBytes(MiB + 5000, 17)
      // Public: the bare meta clients below read anonymously.
      const { cid } = await client.put(data, { public: true })
      // The node holding data shard 0 of segment 0 now takes 10 s to serve any read.
      const slow = (await client.stat(cid)).segments[0].shards[0].node
      net.setReadDelay(slow, 10_000)
      const orders = new OrderSigner()
      const components = {
        meta: new MetaClient(net.meta.url),
        reads: new ReadCache(new MetaClient(net.meta.url), systemClock, orders.publicKey),
        orders,
        resource: new ResourceClient(),
        shardLimiter: new Semaphore(16),
        chainId: client.chainId,
        clock: systemClock,
        random: systemRandom,
      }
      const events: ProgressEvent[] = []
      const t0 = performance.now()
      const got = await collect(
        readFile(components, { cid, segmentSizeHint: MiB, hedgeAfterMs: 100, onProgress: (e) => events.push(e) }),
      )
      const ms = performance.now() - t0
      assert.ok(got.equals(data))
      assert.ok(
        events.some(
          (e) =>
            e.type === 'download:fallback' &&
            e.segment === 0 &&
            e.code === 'SLOW' &&
            e.node === slow &&
            e.shardIndex === 0,
        ),
        JSON.stringify(events),
      )
      assert.ok(ms < 5_000, `read took ${ms} ms: the slow shard was waited for`)
    } finally {
      await client.close()
      await net.close()
    }
  })
})
