/** The path gateway against a real meta node and resource nodes: headers, ranges, listings, trustless formats, errors, cache. */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { StratosClient } from '../../src/sds/client/index.ts'
import { type Gateway, startGateway } from '../../src/gateway/index.ts'
import { verifiedCar, exportFile } from './car-helpers.ts'
import { startNetwork, patternBytes, wallet, MiB, type TestNetwork } from '../sds/network.ts'

const CHUNK = 262144

async function errorCode(r: Response): Promise<string> {
  return ((await r.json()) as { error: { code: string } }).error.code
}

/** A raw request (fetch normalizes paths and refuses some headers). */
function rawGet(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('path gateway', () => {
  let net: TestNetwork
  let client: StratosClient
  let gw: Gateway
  let tmp: string
  const big = patternBytes(3 * MiB + 12_345, 11)
  let bigCid: string
  let dirCid: string
  let plainDirCid: string

  before(async () => {
    net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
    client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
    tmp = mkdtempSync(join(tmpdir(), 'stratos-gw-'))
    gw = await startGateway({ port: 0, metaUrl: net.meta.url, dataDir: join(tmp, 'gw'), cache: { pieceBytes: CHUNK } })
    bigCid = (await client.put(big, { public: true })).cid
    const site = join(tmp, 'site')
    mkdirSync(join(site, 'sub'), { recursive: true })
    writeFileSync(join(site, 'index.html'), '<!doctype html><h1>home</h1>\n')
    writeFileSync(join(site, 'sub', 'a.txt'), 'hello world\n')
    writeFileSync(
      join(site, 'sub', 'photo.png'),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]),
    )
    writeFileSync(join(site, 'sub', 'noext'), '<html><body>x</body></html>')
    writeFileSync(join(site, 'sub', 'naïve <b>.bin'), patternBytes(CHUNK + 7, 5))
    dirCid = (await client.putDirectory(site, { public: true })).cid
    const plain = join(tmp, 'plain')
    mkdirSync(plain)
    writeFileSync(join(plain, 'x.txt'), 'x\n')
    plainDirCid = (await client.putDirectory(plain, { public: true })).cid
  })
  after(async () => {
    await gw.stop()
    await client.close()
    await net.close()
    rmSync(tmp, { recursive: true, force: true })
  })

  test('a file: bytes and the path-gateway headers; HEAD; If-None-Match → 304', async () => {
    const r = await fetch(`${gw.url}/ipfs/${bigCid}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('etag'), `"${bigCid}"`)
    assert.equal(r.headers.get('cache-control'), 'public, max-age=29030400, immutable')
    assert.equal(r.headers.get('x-ipfs-path'), `/ipfs/${bigCid}`)
    assert.equal(r.headers.get('x-ipfs-roots'), bigCid)
    assert.equal(r.headers.get('accept-ranges'), 'bytes')
    assert.equal(r.headers.get('content-length'), String(big.length))
    assert.equal(r.headers.get('content-type'), 'application/octet-stream')
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big))
    const head = await fetch(`${gw.url}/ipfs/${bigCid}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(big.length))
    const cached = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { 'if-none-match': `"${bigCid}"` } })
    assert.equal(cached.status, 304)
    assert.equal(cached.headers.get('etag'), `"${bigCid}"`)
    const other = await fetch(`${gw.url}/ipfs/${bigCid}`, {
      headers: { 'if-none-match': '"something-else"' },
      method: 'HEAD',
    })
    assert.equal(other.status, 200)
  })

  test('ranges: 206 with Content-Range, suffix, open end; 416 past the end or inverted; multi-range → whole file', async () => {
    const mid = Math.floor(big.length / 2)
    const r = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${mid}-${mid + MiB - 1}` } })
    assert.equal(r.status, 206)
    assert.equal(r.headers.get('content-range'), `bytes ${mid}-${mid + MiB - 1}/${big.length}`)
    assert.equal(r.headers.get('content-length'), String(MiB))
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(mid, mid + MiB)))
    const suffix = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: 'bytes=-100' } })
    assert.equal(suffix.status, 206)
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(big.subarray(big.length - 100)))
    const open = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${big.length - 10}-` } })
    assert.ok(Buffer.from(await open.arrayBuffer()).equals(big.subarray(big.length - 10)))
    const past = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${big.length}-` } })
    assert.equal(past.status, 416)
    assert.equal(past.headers.get('content-range'), `bytes */${big.length}`)
    assert.equal(await errorCode(past), 'RANGE_NOT_SATISFIABLE')
    const inverted = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: 'bytes=500-100' } })
    assert.equal(inverted.status, 416)
    await inverted.arrayBuffer()
    const multi = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { range: 'bytes=0-1,5-6' }, method: 'HEAD' })
    assert.equal(multi.status, 200)
  })

  test('directories: trailing-slash redirect, index.html, HTML listing, files by path with their types', async () => {
    const redirect = await fetch(`${gw.url}/ipfs/${dirCid}?x=1`, { redirect: 'manual' })
    assert.equal(redirect.status, 301)
    assert.equal(redirect.headers.get('location'), `/ipfs/${dirCid}/?x=1`)
    const index = await fetch(`${gw.url}/ipfs/${dirCid}/`)
    assert.equal(index.status, 200)
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8')
    assert.equal(await index.text(), '<!doctype html><h1>home</h1>\n')
    const listing = await fetch(`${gw.url}/ipfs/${dirCid}/sub/`)
    assert.equal(listing.status, 200)
    assert.equal(listing.headers.get('content-type'), 'text/html; charset=utf-8')
    const subCid = listing.headers.get('x-ipfs-roots')?.split(',')[1] ?? ''
    assert.equal(listing.headers.get('x-ipfs-roots')?.split(',')[0], dirCid)
    assert.equal(listing.headers.get('etag'), `"DirIndex-1_CID-${subCid}"`)
    const html = await listing.text()
    for (const name of ['a.txt', 'photo.png', 'noext']) assert.ok(html.includes(`href="./${name}"`), name)
    assert.ok(html.includes('naïve &lt;b&gt;.bin'), 'names are escaped')
    assert.ok(html.includes('href="../"'))
    const plain = await fetch(`${gw.url}/ipfs/${plainDirCid}/`)
    assert.ok((await plain.text()).includes('x.txt'))
    const a = await fetch(`${gw.url}/ipfs/${dirCid}/sub/a.txt`)
    assert.equal(a.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.equal(a.headers.get('etag'), '"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"')
    assert.equal(a.headers.get('x-ipfs-path'), `/ipfs/${dirCid}/sub/a.txt`)
    assert.equal(await a.text(), 'hello world\n')
    const png = await fetch(`${gw.url}/ipfs/${dirCid}/sub/photo.png`)
    assert.equal(png.headers.get('content-type'), 'image/png')
    await png.arrayBuffer()
    const sniffed = await fetch(`${gw.url}/ipfs/${dirCid}/sub/noext`)
    assert.equal(sniffed.headers.get('content-type'), 'text/html; charset=utf-8')
    await sniffed.arrayBuffer()
    const encoded = await fetch(`${gw.url}/ipfs/${dirCid}/sub/${encodeURIComponent('naïve <b>.bin')}`)
    assert.equal(encoded.status, 200)
    assert.ok(Buffer.from(await encoded.arrayBuffer()).equals(Buffer.from(patternBytes(CHUNK + 7, 5))))
  })

  test('?filename= and ?download=true set Content-Disposition (and the type from the name)', async () => {
    const r = await fetch(`${gw.url}/ipfs/${bigCid}?filename=movie.mp4`, { method: 'HEAD' })
    assert.equal(r.headers.get('content-type'), 'video/mp4')
    assert.equal(r.headers.get('content-disposition'), 'inline; filename="movie.mp4"')
    const d = await fetch(`${gw.url}/ipfs/${bigCid}?filename=${encodeURIComponent('résumé.pdf')}&download=true`, {
      method: 'HEAD',
    })
    assert.equal(
      d.headers.get('content-disposition'),
      `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
    )
  })

  test('?format=raw and Accept: application/vnd.ipld.raw: one block that hashes to its CID', async () => {
    for (const [url, headers] of [
      [`${gw.url}/ipfs/${bigCid}?format=raw`, {}],
      [`${gw.url}/ipfs/${bigCid}`, { accept: 'application/vnd.ipld.raw' }],
    ] as const) {
      const r = await fetch(url, { headers })
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('content-type'), 'application/vnd.ipld.raw')
      assert.equal(r.headers.get('etag'), `"${bigCid}.raw"`)
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(r.headers.get('content-disposition'), `attachment; filename="${bigCid}.bin"`)
      const bytes = new Uint8Array(await r.arrayBuffer())
      assert.deepEqual((await sha256.digest(bytes)).digest, CID.parse(bigCid).multihash.digest)
    }
    // A leaf, by CID alone (the meta node's block index), and a file inside a directory, by path.
    const root = new Uint8Array(await (await fetch(`${gw.url}/ipfs/${bigCid}?format=raw`)).arrayBuffer())
    const { decode } = await import('@ipld/dag-pb')
    const leaf = decode(root).Links[3].Hash
    const lr = await fetch(`${gw.url}/ipfs/${leaf.toString()}?format=raw`)
    assert.equal(lr.status, 200)
    const leafBytes = new Uint8Array(await lr.arrayBuffer())
    assert.deepEqual((await sha256.digest(leafBytes)).digest, leaf.multihash.digest)
    const p = await fetch(`${gw.url}/ipfs/${dirCid}/sub/a.txt?format=raw`)
    assert.deepEqual(
      (await sha256.digest(new Uint8Array(await p.arrayBuffer()))).digest,
      CID.parse('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o').multihash.digest,
    )
    const cached = await fetch(`${gw.url}/ipfs/${bigCid}?format=raw`, {
      headers: { 'if-none-match': `"${bigCid}.raw"` },
    })
    assert.equal(cached.status, 304)
  })

  test('?format=car: verifies block by block with @ipld/car and rebuilds the file byte-exact', async () => {
    const r = await fetch(`${gw.url}/ipfs/${bigCid}?format=car`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="${bigCid}.car"`)
    assert.ok(r.headers.get('etag')?.startsWith(`W/"${bigCid}.car.`))
    const { roots, blocks, order } = await verifiedCar(new Uint8Array(await r.arrayBuffer()))
    assert.equal(roots[0].toString(), bigCid)
    assert.equal(order[0], bigCid)
    assert.ok((await exportFile(CID.parse(bigCid), blocks)).equals(Buffer.from(big)))
    // Chosen by Accept too; CARs of a directory path carry the path's blocks first.
    const viaAccept = await fetch(`${gw.url}/ipfs/${dirCid}/sub/${encodeURIComponent('naïve <b>.bin')}`, {
      headers: { accept: 'application/vnd.ipld.car; version=1' },
    })
    assert.equal(viaAccept.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    const car = await verifiedCar(new Uint8Array(await viaAccept.arrayBuffer()))
    assert.equal(car.order[0], dirCid, 'the path blocks come first')
    const fileCid = CID.parse(car.order[2])
    assert.ok((await exportFile(fileCid, car.blocks)).equals(Buffer.from(patternBytes(CHUNK + 7, 5))))
  })

  test('CAR dag-scope and entity-bytes; bad format parameters are 400', async () => {
    const block = await verifiedCar(
      new Uint8Array(await (await fetch(`${gw.url}/ipfs/${bigCid}?format=car&dag-scope=block`)).arrayBuffer()),
    )
    assert.deepEqual(block.order, [bigCid])
    const dirEntity = await verifiedCar(
      new Uint8Array(await (await fetch(`${gw.url}/ipfs/${dirCid}?format=car&dag-scope=entity`)).arrayBuffer()),
    )
    assert.deepEqual(dirEntity.order, [dirCid])
    const from = CHUNK * 7 + 3
    const to = CHUNK * 8 + 3
    const ranged = await fetch(`${gw.url}/ipfs/${bigCid}?format=car&entity-bytes=${from}:${to}`)
    const rc = await verifiedCar(new Uint8Array(await ranged.arrayBuffer()))
    assert.equal(rc.order.length, 3, 'root and the two leaves of the range')
    const all = await fetch(`${gw.url}/ipfs/${bigCid}?format=car`, { method: 'HEAD' })
    assert.notEqual(ranged.headers.get('etag'), all.headers.get('etag'), 'the etag depends on entity-bytes')
    for (const q of [
      'format=tar',
      'format=car&dag-scope=most',
      'format=car&entity-bytes=1-2',
      `format=car&entity-bytes=${big.length}:*`,
      'format=car&car-version=2',
    ]) {
      const bad = await fetch(`${gw.url}/ipfs/${bigCid}?${q}`)
      assert.equal(bad.status, 400, q)
      assert.equal(await errorCode(bad), 'BAD_REQUEST', q)
    }
    const v2 = await fetch(`${gw.url}/ipfs/${bigCid}`, { headers: { accept: 'application/vnd.ipld.car; version=2' } })
    assert.equal(v2.status, 400)
    await v2.arrayBuffer()
  })

  test('bad input: malformed CIDs 400, missing content 404, traversal 400, wrong method 405, oversized head 431', async () => {
    const invalid = await fetch(`${gw.url}/ipfs/not-a-cid`)
    assert.equal(invalid.status, 400)
    assert.equal(await errorCode(invalid), 'INVALID_CID')
    const missing = await fetch(`${gw.url}/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG`)
    assert.equal(missing.status, 404)
    assert.equal(await errorCode(missing), 'FILE_NOT_FOUND')
    const noEntry = await fetch(`${gw.url}/ipfs/${dirCid}/sub/nope.txt`)
    assert.equal(noEntry.status, 404)
    assert.equal(await errorCode(noEntry), 'NOT_FOUND')
    const underFile = await fetch(`${gw.url}/ipfs/${bigCid}/x`)
    assert.equal(underFile.status, 404)
    await underFile.arrayBuffer()
    for (const path of [
      `/ipfs/${dirCid}/sub/../index.html`,
      `/ipfs/${dirCid}/%2e%2e/x`,
      `/ipfs/${dirCid}/sub%2Fa.txt`,
      `/ipfs/${dirCid}/%E0%A4%A`,
      '/ipfs/',
    ]) {
      const r = await rawGet(gw.url, path)
      assert.equal(r.status, 400, path)
      assert.equal((JSON.parse(r.body.toString()) as { error: { code: string } }).error.code, 'BAD_REQUEST', path)
    }
    const post = await fetch(`${gw.url}/ipfs/${bigCid}`, { method: 'POST', body: 'x' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET, HEAD')
    await post.arrayBuffer()
    const huge = await rawGet(gw.url, `/ipfs/${bigCid}`, { 'x-big': 'a'.repeat(64 * 1024) })
    assert.equal(huge.status, 431)
    const nope = await fetch(`${gw.url}/nowhere`)
    assert.equal(nope.status, 404)
    await nope.arrayBuffer()
    // Still serving.
    assert.equal((await fetch(`${gw.url}/ipfs/${dirCid}/sub/a.txt`)).status, 200)
  })

  test('hot-range cache: a repeated range is served from memory, a restarted gateway serves it from disk, damaged pieces are refetched', async () => {
    const start = CHUNK * 9 + 17
    const want = big.subarray(start, start + CHUNK)
    const get = async (g: Gateway): Promise<Buffer> =>
      Buffer.from(
        await (
          await fetch(`${g.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${start}-${start + CHUNK - 1}` } })
        ).arrayBuffer(),
      )
    assert.ok((await get(gw)).equals(want))
    const before = gw.cache.stats()
    assert.ok((await get(gw)).equals(want))
    const afterStats = gw.cache.stats()
    assert.equal(afterStats.fetchedBytes, before.fetchedBytes, 'no network bytes for a cached range')
    assert.ok(afterStats.hits > before.hits)
    await gw.cache.flushed()
    // A second gateway over the same data dir: the pieces come from disk.
    const dataDir = join(tmp, 'gw')
    const pieces = readdirSync(join(dataDir, 'cache'))
    assert.ok(pieces.length > 0)
    const gw2 = await startGateway({ port: 0, metaUrl: net.meta.url, dataDir, cache: { pieceBytes: CHUNK } })
    try {
      assert.ok((await get(gw2)).equals(want))
      assert.ok(gw2.cache.stats().diskHits > 0)
      assert.equal(gw2.cache.stats().fetchedBytes, 0)
    } finally {
      await gw2.stop()
    }
    // Damage every piece on disk: a fresh gateway drops them and reads the network instead.
    for (const p of pieces) {
      const path = join(dataDir, 'cache', p)
      const b = readFileSync(path)
      b[b.length - 1] ^= 0xff
      writeFileSync(path, b)
    }
    const gw3 = await startGateway({ port: 0, metaUrl: net.meta.url, dataDir, cache: { pieceBytes: CHUNK } })
    try {
      assert.ok((await get(gw3)).equals(want))
      assert.equal(gw3.cache.stats().diskHits, 0)
      assert.ok(gw3.cache.stats().fetchedBytes > 0)
    } finally {
      await gw3.stop()
    }
  })

  test('a range read fetches only the pieces it touches', async () => {
    const fresh = await startGateway({ port: 0, metaUrl: net.meta.url, cache: { pieceBytes: CHUNK } })
    try {
      const start = CHUNK * 6 + 1000
      const r = await fetch(`${fresh.url}/ipfs/${bigCid}?filename=x.bin`, {
        headers: { range: `bytes=${start}-${start + 99}` },
      })
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(start, start + 100)))
      assert.equal(fresh.cache.stats().fetchedBytes, CHUNK, 'one 256 KiB piece for 100 bytes')
      const wide = await fetch(`${fresh.url}/ipfs/${bigCid}?filename=x.bin`, {
        headers: { range: `bytes=${CHUNK * 8}-${CHUNK * 10 - 1}` },
      })
      assert.ok(Buffer.from(await wide.arrayBuffer()).equals(big.subarray(CHUNK * 8, CHUNK * 10)))
      assert.equal(fresh.cache.stats().fetchedBytes, 3 * CHUNK, 'two aligned pieces more')
    } finally {
      await fresh.stop()
    }
  })

  test('a large read streams from the shard transfers after its first piece; its pieces fill the memory tier', async () => {
    // Pieces of 100 000 bytes: the SDK's per-shard chunks (256 KiB here) cut pieces, which are then joined.
    const piece = 100_000
    const streaming = await startGateway({
      port: 0,
      metaUrl: net.meta.url,
      cache: { pieceBytes: piece, streamMinBytes: 2 * piece },
    })
    try {
      const whole = await fetch(`${streaming.url}/ipfs/${bigCid}`)
      assert.equal(whole.status, 200)
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big))
      assert.equal(streaming.cache.stats().streams, 1, 'one stream for the whole file')
      const start = 7 * piece + 3
      const end = big.length - 10
      const fetched = streaming.cache.stats().fetchedBytes
      const range = await fetch(`${streaming.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${start}-${end}` } })
      assert.equal(range.status, 206)
      assert.equal(range.headers.get('content-range'), `bytes ${start}-${end}/${big.length}`)
      assert.ok(Buffer.from(await range.arrayBuffer()).equals(big.subarray(start, end + 1)))
      assert.equal(streaming.cache.stats().fetchedBytes, fetched, 'the range came from the pieces the stream cached')
      // A cold large range (another gateway): its first piece, then one stream; bytes exact.
      const cold = await startGateway({
        port: 0,
        metaUrl: net.meta.url,
        cache: { pieceBytes: piece, streamMinBytes: 2 * piece },
      })
      try {
        const r = await fetch(`${cold.url}/ipfs/${bigCid}`, { headers: { range: `bytes=${start}-` } })
        assert.equal(r.status, 206)
        assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(start)))
        assert.equal(cold.cache.stats().streams, 1)
      } finally {
        await cold.stop()
      }
    } finally {
      await streaming.stop()
    }
  })

  test('bounded cache: memory never exceeds its limit', async () => {
    const small = await startGateway({
      port: 0,
      metaUrl: net.meta.url,
      cache: { pieceBytes: CHUNK, memoryBytes: 3 * CHUNK },
    })
    try {
      const r = await fetch(`${small.url}/ipfs/${bigCid}`)
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(big))
      assert.ok(small.cache.stats().memoryBytes <= 3 * CHUNK)
      assert.equal(small.cache.stats().diskBytes, 0, 'no data dir: memory only')
    } finally {
      await small.stop()
    }
  })

  test('a deleted file stops being served at once, although its bytes are cached', async () => {
    const data = patternBytes(3 * CHUNK + 99, 21)
    const { cid } = await client.put(data, { public: true })
    assert.ok(
      Buffer.from(
        await (await fetch(`${gw.url}/ipfs/${cid}`, { headers: { range: 'bytes=0-99' } })).arrayBuffer(),
      ).equals(Buffer.from(data.subarray(0, 100))),
    )
    assert.ok(Buffer.from(await (await fetch(`${gw.url}/ipfs/${cid}`)).arrayBuffer()).equals(Buffer.from(data)))
    await client.rm(cid)
    const gone = await fetch(`${gw.url}/ipfs/${cid}`)
    assert.equal(gone.status, 404)
    assert.equal(await errorCode(gone), 'FILE_NOT_FOUND')
    // A range the gateway would prefetch while confirming the record (it served this file before): refused all the same.
    const range = await fetch(`${gw.url}/ipfs/${cid}`, {
      headers: { range: `bytes=${2 * CHUNK + 5}-${2 * CHUNK + 50}` },
    })
    assert.equal(range.status, 404)
    assert.equal(await errorCode(range), 'FILE_NOT_FOUND')
  })

  test('a new range of a file served before: its first piece is fetched while the record is confirmed, sent only after', async () => {
    // The gateway talks to the meta node through this proxy, which can hold the record look-up (GET /v1/files/{cid}).
    let holdRecord = false
    let held: (() => void) | undefined
    const proxy = http.createServer((req, res) => {
      const parts: Buffer[] = []
      req.on('data', (d: Buffer) => parts.push(d))
      req.on('end', async () => {
        if (holdRecord && req.method === 'GET' && /^\/v1\/files\/[^/?]+$/.test(req.url ?? ''))
          await new Promise<void>((r) => {
            held = r
          })
        const headers: Record<string, string> = {}
        for (const k of ['content-type', 'accept']) if (typeof req.headers[k] === 'string') headers[k] = req.headers[k]
        const body = parts.length > 0 ? Buffer.concat(parts) : undefined
        const up = await fetch(`${net.meta.url}${req.url ?? '/'}`, { method: req.method, headers, body })
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' })
        res.end(Buffer.from(await up.arrayBuffer()))
      })
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`
    const g = await startGateway({ port: 0, metaUrl: proxyUrl, cache: { pieceBytes: CHUNK } })
    const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
      for (const deadline = Date.now() + 10_000; !ok(); await new Promise((r) => setTimeout(r, 5))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      }
    }
    try {
      const url = `${g.url}/ipfs/${bigCid}?filename=x.bin`
      const first = await fetch(url, { headers: { range: `bytes=${CHUNK + 3}-${CHUNK + 9}` } })
      assert.ok(Buffer.from(await first.arrayBuffer()).equals(big.subarray(CHUNK + 3, CHUNK + 10)))
      const fetchedBefore = g.cache.stats().fetchedBytes
      holdRecord = true
      let answered = false
      const start = CHUNK * 7 + 11
      const pending = fetch(url, { headers: { range: `bytes=${start}-${start + 99}` } }).then((r) => {
        answered = true
        return r
      })
      await waitFor('the record look-up', () => held !== undefined)
      await waitFor('the prefetched piece', () => g.cache.stats().fetchedBytes === fetchedBefore + CHUNK)
      assert.equal(answered, false, 'no answer before the record is confirmed')
      holdRecord = false
      held?.()
      const r = await pending
      assert.equal(r.status, 206)
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${start + 99}/${big.length}`)
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(start, start + 100)))
      assert.equal(g.cache.stats().fetchedBytes, fetchedBefore + CHUNK, 'the read used the prefetched piece')
      // HEAD and If-None-Match send no bytes: nothing is prefetched for them.
      const head = await fetch(url, { method: 'HEAD', headers: { range: `bytes=${CHUNK * 9}-` } })
      assert.equal(head.status, 206)
      const notModified = await fetch(url, {
        headers: { range: `bytes=${CHUNK * 10}-`, 'if-none-match': `"${bigCid}"` },
      })
      assert.equal(notModified.status, 304)
      assert.equal(g.cache.stats().fetchedBytes, fetchedBefore + CHUNK)
    } finally {
      held?.()
      await g.stop()
      proxy.closeAllConnections()
      await new Promise((r) => proxy.close(r))
    }
  })

  test('extra routes registered with use(); the built-in API keeps working', async () => {
    gw.use({
      name: 'hello',
      path: '/hello/',
      methods: ['GET'],
      handle: (c) => {
        c.res.end(`hi ${c.rawPath}`)
      },
    })
    assert.equal(await (await fetch(`${gw.url}/hello/x`)).text(), 'hi /hello/x')
    const status = await fetch(`${gw.url}/api/v1/status`)
    assert.equal(((await status.json()) as { totals: { nodesOnline: number } }).totals.nodesOnline, 6)
    const info = await fetch(`${gw.url}/v1/info`)
    assert.equal(((await info.json()) as { role: string }).role, 'gateway')
    const add = await fetch(`${gw.url}/api/v1/add`, { method: 'POST', body: 'x' })
    assert.equal(add.status, 500)
    assert.equal(await errorCode(add), 'NETWORK_CONFIG')
  })
})
