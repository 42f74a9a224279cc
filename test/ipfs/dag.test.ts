/** DAG reader against a real meta node and resource nodes: paths, listings, blocks by CID, walks and CAR export. */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { StratosClient } from '../../src/sds/client/index.ts'
import { ReadCache } from '../../src/sds/client/read-cache.ts'
import { Semaphore } from '../../src/sds/client/limiter.ts'
import { createSession, commitSession } from '../../src/sds/client/upload.ts'
import { buildDirectory } from '../../src/sds/client/unixfs.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { ResourceClient } from '../../src/net/resource-client.ts'
import { OrderSigner } from '../../src/sds/protocol/orders.ts'
import { systemClock, systemRandom } from '../../src/util/components.ts'
import { createDagReader, carStream, type Block, type DagReader } from '../../src/ipfs/dag.ts'
import { isStratosError } from '../../src/errors.ts'
import { verifiedCar, exportFile } from '../gateway/car-helpers.ts'
import { startNetwork, patternBytes, collect, wallet, MiB, type TestNetwork } from '../sds/network.ts'

const CHUNK = 262144

function rejectsWith(code: string) {
  return (e: unknown) => {
    assert.ok(isStratosError(e), `expected a StratosError, got ${String(e)}`)
    assert.equal(e.code, code)
    return true
  }
}

async function collectBlocks(it: AsyncIterable<Block>): Promise<Block[]> {
  const out: Block[] = []
  for await (const b of it) out.push(b)
  return out
}

describe('DAG reader', () => {
  let net: TestNetwork
  let client: StratosClient
  let dag: DagReader
  let tmp: string
  const big = patternBytes(3 * MiB + 12_345, 7)
  let bigCid: CID
  let rawCid: CID
  const rawData = patternBytes(2 * MiB + 5, 9)
  let dirCid: CID

  before(async () => {
    net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    dag = createDagReader({ client })
    tmp = mkdtempSync(join(tmpdir(), 'stratos-dag-'))
    bigCid = CID.parse((await client.put(big)).cid)
    rawCid = CID.parse((await client.put(rawData, { cidVersion: 1 })).cid)
    const d = join(tmp, 'site')
    mkdirSync(join(d, 'sub'), { recursive: true })
    writeFileSync(join(d, 'index.html'), '<h1>hi</h1>\n')
    writeFileSync(join(d, 'sub', 'a.txt'), 'hello world\n')
    writeFileSync(join(d, 'sub', 'big.bin'), patternBytes(CHUNK * 2 + 10, 3))
    dirCid = CID.parse((await client.putDirectory(d)).cid)
  })
  after(async () => {
    await client.close()
    await net.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  test('resolvePath: a file record, a directory, entries in sub-directories', async () => {
    const f = await dag.resolvePath(bigCid, [])
    assert.equal(f.kind, 'file')
    assert.equal(f.size, big.length)
    assert.ok(f.content?.file.equals(bigCid))
    const root = await dag.resolvePath(dirCid, [])
    assert.equal(root.kind, 'directory')
    const sub = await dag.resolvePath(dirCid, ['sub'])
    assert.equal(sub.kind, 'directory')
    assert.equal(sub.name, 'sub')
    const a = await dag.resolvePath(dirCid, ['sub', 'a.txt'])
    assert.equal(a.kind, 'file')
    assert.equal(a.size, 12)
    assert.equal((await collect(dag.cat(a))).toString(), 'hello world\n')
    assert.equal(a.cid.toString(), 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    assert.equal((await collect(dag.cat(a, { offset: 6, length: 5 }))).toString(), 'world')
    await assert.rejects(dag.resolvePath(dirCid, ['nope']), rejectsWith('NOT_FOUND'))
    await assert.rejects(dag.resolvePath(dirCid, ['index.html', 'x']), rejectsWith('NOT_FOUND'))
    await assert.rejects(
      dag.resolvePath(CID.parse('QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'), []),
      rejectsWith('FILE_NOT_FOUND'),
    )
  })

  test('ls: names, CIDs, file sizes and types', async () => {
    const root = await dag.ls(dirCid)
    assert.deepEqual(
      root.map((e) => [e.name, e.type]),
      [
        ['index.html', 'file'],
        ['sub', 'directory'],
      ],
    )
    assert.equal(root[0].size, 12)
    assert.equal(root[1].size, 0)
    const sub = await dag.ls((await dag.resolvePath(dirCid, ['sub'])).cid)
    assert.deepEqual(
      sub.map((e) => [e.name, e.size]),
      [
        ['a.txt', 12],
        ['big.bin', CHUNK * 2 + 10],
      ],
    )
    // A multi-chunk file lists its chunks.
    const chunks = await dag.ls(bigCid)
    assert.ok(chunks.length > 1)
    assert.equal(
      chunks.reduce((a, c) => a + c.size, 0),
      big.length,
    )
  })

  test('getBlock: inner nodes and rebuilt leaves, with and without a root, each hashing to its CID', async () => {
    const rootBlock = await dag.getBlock(bigCid)
    assert.deepEqual((await sha256.digest(rootBlock)).digest, bigCid.multihash.digest)
    const chunks = await dag.ls(bigCid)
    // Without a root: found through the meta node's block index.
    for (const c of [chunks[0], chunks[chunks.length - 1]]) {
      const leafNoRoot = await dag.getBlock(c.cid)
      assert.deepEqual((await sha256.digest(leafNoRoot)).digest, c.cid.multihash.digest)
      const leafWithRoot = await dag.getBlock(c.cid, { root: bigCid })
      assert.deepEqual(leafWithRoot, leafNoRoot)
    }
    // A raw leaf is the file's bytes.
    const rawChunks = await dag.ls(rawCid)
    assert.equal(rawChunks[1].type, 'raw')
    assert.deepEqual(await dag.getBlock(rawChunks[1].cid), rawData.subarray(CHUNK, 2 * CHUNK))
    // A sub-directory node, by CID alone.
    const sub = await dag.resolvePath(dirCid, ['sub'])
    const subBlock = await dag.getBlock(sub.cid)
    assert.deepEqual((await sha256.digest(subBlock)).digest, sub.cid.multihash.digest)
    // A one-chunk file is its own record and its own leaf.
    const a = await dag.resolvePath(dirCid, ['sub', 'a.txt'])
    const aBlock = await dag.getBlock(a.cid)
    assert.deepEqual((await sha256.digest(aBlock)).digest, a.cid.multihash.digest)
    await assert.rejects(
      dag.getBlock(CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')),
      rejectsWith('FILE_NOT_FOUND'),
    )
  })

  test('walk all → CAR verifies block by block and rebuilds the file byte-exact (dag-pb and raw leaves)', async () => {
    for (const [cid, data] of [
      [bigCid, big],
      [rawCid, rawData],
    ] as const) {
      const car = await collect(carStream([cid], dag.walk(cid)))
      const { roots, blocks, order } = await verifiedCar(car)
      assert.ok(roots[0].equals(cid))
      assert.equal(order[0], cid.toString(), 'root first (DFS pre-order)')
      const back = await exportFile(cid, blocks)
      assert.ok(back.equals(Buffer.from(data)))
    }
  })

  test('walk of a directory: all, entity, block; duplicate blocks sent once', async () => {
    const all = await verifiedCar(await collect(carStream([dirCid], dag.walk(dirCid))))
    assert.equal(new Set(all.order).size, all.order.length)
    const big2 = await dag.resolvePath(dirCid, ['sub', 'big.bin'])
    assert.ok((await exportFile(big2.cid, all.blocks)).equals(Buffer.from(patternBytes(CHUNK * 2 + 10, 3))))
    const entity = await collectBlocks(dag.walk(dirCid, { scope: 'entity' }))
    assert.deepEqual(
      entity.map((b) => b.cid.toString()),
      [dirCid.toString()],
    )
    const block = await collectBlocks(dag.walk(bigCid, { scope: 'block' }))
    assert.equal(block.length, 1)
    // A file of zeros: every leaf is the same block, sent once.
    const zeros = CID.parse((await client.put(new Uint8Array(CHUNK * 4))).cid)
    const z = await verifiedCar(await collect(carStream([zeros], dag.walk(zeros))))
    assert.equal(z.order.length, 2)
    assert.equal((await exportFile(zeros, z.blocks)).length, CHUNK * 4)
  })

  test('walk with entity-bytes: only the blocks of the range, enough to read it', async () => {
    const from = CHUNK * 5 + 100
    const to = CHUNK * 6 + 50
    const blocks = await collectBlocks(dag.walk(bigCid, { scope: 'entity', entityBytes: { from, to } }))
    const leaves = blocks.filter((b) => !b.cid.equals(bigCid))
    assert.equal(leaves.length, 2, 'two leaves cover the range (the tree is one level deep)')
    const map = new Map(blocks.map((b) => [b.cid.toString(), b.bytes]))
    const store = {
      async *get(cid: CID) {
        const b = map.get(cid.toString())
        if (!b) throw new Error('missing')
        yield b
      },
    }
    const entry = await exporter(bigCid, store as never)
    assert.equal(entry.type, 'file')
    const part = await collect(entry.content({ offset: from, length: to - from + 1 }) as AsyncIterable<Uint8Array>)
    assert.ok(part.equals(Buffer.from(big.subarray(from, to + 1))))
    // Negative offsets count from the end; '*' is the end.
    const tail = await collectBlocks(dag.walk(bigCid, { scope: 'entity', entityBytes: { from: -10, to: '*' } }))
    assert.equal(tail.length, 2)
  })

  test('pathBlocks: the directory nodes passed through', async () => {
    const proof = await collectBlocks(dag.pathBlocks(dirCid, ['sub', 'a.txt']))
    const sub = await dag.resolvePath(dirCid, ['sub'])
    assert.deepEqual(
      proof.map((b) => b.cid.toString()),
      [dirCid.toString(), sub.cid.toString()],
    )
  })

  test('a reader with a tiny cache (every record evicted at once) still answers right', async () => {
    const tiny = createDagReader({ client, cacheBytes: 1 })
    const a = await tiny.resolvePath(dirCid, ['sub', 'a.txt'])
    assert.equal(a.cid.toString(), 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    const { blocks } = await verifiedCar(await collect(carStream([dirCid], tiny.walk(dirCid))))
    const big2 = await tiny.resolvePath(dirCid, ['sub', 'big.bin'])
    assert.ok((await exportFile(big2.cid, blocks)).equals(Buffer.from(patternBytes(CHUNK * 2 + 10, 3))))
  })

  test('HAMT-sharded directories: resolve, list and walk through the shards', async () => {
    // Thousands of names for one stored file: past Kubo's 256 KiB threshold without uploading thousands of files.
    const file = await client.put(new TextEncoder().encode('shared\n'))
    const names = Array.from({ length: 4500 }, (_, i) => `an-entry-with-a-long-name-${String(i).padStart(5, '0')}.txt`)
    const dir = await buildDirectory(names.map((path) => ({ path, cid: CID.parse(file.cid), dagSize: 15 })))
    assert.ok(dir.blocks.length > 1, 'sharded')
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
    const session = await createSession(c, wallet, { k: 4, m: 2, segmentSize: MiB, size: 7 * names.length })
    await commitSession(c, wallet, session.uploadId, {
      cid: dir.cid.toString(),
      size: 7 * names.length,
      kind: 'directory',
      blocks: dir.blocks,
      receipts: [],
      children: [file.cid],
    })
    const hit = await dag.resolvePath(dir.cid, [names[3210]])
    assert.equal(hit.cid.toString(), file.cid)
    assert.equal(hit.size, 7)
    await assert.rejects(dag.resolvePath(dir.cid, ['missing.txt']), rejectsWith('NOT_FOUND'))
    const listed = await dag.ls(dir.cid)
    assert.deepEqual(listed.map((e) => e.name).sort(), names)
    const entity = await collectBlocks(dag.walk(dir.cid, { scope: 'entity' }))
    assert.deepEqual(new Set(entity.map((b) => b.cid.toString())), new Set(dir.blocks.map((b) => b.cid.toString())))
    for (const b of entity) assert.deepEqual((await sha256.digest(b.bytes)).digest, b.cid.multihash.digest)
  })
})
