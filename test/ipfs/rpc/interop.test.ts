/**
 * The RPC API against an in-process network (real meta node + 6 resource nodes), driven by the npm
 * package kubo-rpc-client, unchanged, and by raw HTTP requests for wire details and errors.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import http from 'node:http'
import { CarReader } from '@ipld/car'
import { startNetwork, patternBytes, wallet, CHAIN_ID, type TestNetwork } from '../../sds/network.ts'
import { startIpfsRpcApi, type IpfsRpcApi } from '../../../src/ipfs/rpc/index.ts'
import { StratosClient } from '../../../src/sds/client/index.ts'
import { CID } from 'multiformats/cid'

const parseCidDigest = (c: string): Uint8Array => CID.parse(c).multihash.digest

// kubo-rpc-client's dependencies use Promise.withResolvers (Node 22+); Node 20 needs this polyfill first.
const P = Promise as unknown as { withResolvers?: () => unknown }
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
const { create } = await import('kubo-rpc-client')

const HELLO = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'
const EMPTY_DIR = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'
const WORLDS = 'QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH'

type Kubo = ReturnType<typeof create>

async function text(it: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts).toString('utf8')
}

async function bytesOf(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}

/** A multipart body by hand: [filename, content | null (a directory)] parts. */
function multipart(
  parts: [string, Uint8Array | string | null][],
  boundary = 'XyZzY-boundary',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = []
  parts.forEach(([name, content], i) => {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${content === null ? 'dir' : 'file'}-${i}"; filename="${encodeURIComponent(name)}"\r\n`,
      ),
    )
    chunks.push(
      Buffer.from(`Content-Type: ${content === null ? 'application/x-directory' : 'application/octet-stream'}\r\n\r\n`),
    )
    if (content !== null) chunks.push(Buffer.from(content))
    chunks.push(Buffer.from('\r\n'))
  })
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` }
}

function ndjson(s: string): Record<string, unknown>[] {
  return s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('IPFS RPC API (kubo-rpc-client and raw HTTP)', () => {
  let net: TestNetwork
  let api: IpfsRpcApi
  let dir: string
  let kubo: Kubo
  let sdk: StratosClient
  /** The API's own wallet: only an owner sees a file's owners. */
  let owner: StratosClient

  const post = (
    path: string,
    init: { body?: Buffer; contentType?: string; method?: string; headers?: Record<string, string> } = {},
  ): Promise<Response> =>
    fetch(`${api.url}/api/v0/${path}`, {
      method: init.method ?? 'POST',
      ...(init.body ? { body: init.body } : {}),
      headers: { ...(init.contentType ? { 'content-type': init.contentType } : {}), ...init.headers },
    })

  before(async () => {
    net = await startNetwork({ segmentSize: 1 << 20 })
    dir = mkdtempSync(join(tmpdir(), 'stratos-rpc-'))
    api = await startIpfsRpcApi({
      port: 0,
      metaUrl: net.meta.url,
      chainId: CHAIN_ID,
      wallet,
      dataDir: join(dir, 'api'),
    })
    kubo = create({ url: `${api.url}/api/v0` })
    sdk = await StratosClient.connect({ metaUrl: net.meta.url })
    owner = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
  })

  after(async () => {
    await sdk?.close()
    await owner?.close()
    await api?.stop()
    await net?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('adds and cats with the Kubo CIDs', async () => {
    const hello = await kubo.add('hello world\n')
    assert.equal(hello.cid.toString(), HELLO)
    assert.equal(await text(kubo.cat(HELLO)), 'hello world\n')
    const worlds = await kubo.add(new TextEncoder().encode('Hello Worlds!\n'))
    assert.equal(worlds.cid.toString(), WORLDS)
    assert.equal(await text(kubo.cat(`/ipfs/${WORLDS}`, { offset: 6, length: 6 })), 'Worlds')
    // Stored on the network under the API's wallet, public (an anonymous stat sees it; the owner sees its owners).
    assert.equal((await sdk.stat(HELLO)).public, true)
    const record = await owner.stat(HELLO)
    assert.deepEqual(record.owners, [wallet.address])
  })

  it('adds an empty directory', async () => {
    const r = await kubo.add({ path: 'empty' })
    assert.equal(r.cid.toString(), EMPTY_DIR)
    assert.equal(r.path, 'empty')
  })

  it('answers "Size":"1048832" for 1 MiB of zeros, with Kubo headers and events', async () => {
    const { body, contentType } = multipart([['zeros.bin', new Uint8Array(1 << 20)]])
    const res = await post('add?progress=true', { body, contentType })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-chunked-output'), '1')
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    const raw = await res.text()
    assert.match(raw, /"Size":"1048832"/)
    const events = ndjson(raw)
    const progress = events.filter((e) => e.Hash === undefined)
    // Kubo's rule: an event once 256 KiB more were read since the last one, and one at the end of the file.
    const counts = progress.map((e) => e.Bytes as number)
    assert.equal(counts.at(-1), 1 << 20)
    for (let i = 1; i < counts.length - 1; i++) assert.ok(counts[i] - counts[i - 1] >= 262144)
    assert.ok(counts.length >= 4)
    assert.ok(progress.every((e) => e.Name === 'zeros.bin'))
    const last = events.at(-1) as Record<string, unknown>
    assert.deepEqual(Object.keys(last), ['Name', 'Hash', 'Size'])
    assert.equal(last.Name, 'zeros.bin')
    // The same bytes with only-hash give the same CID and store nothing new.
    const again = await post('add?only-hash=true&pin=false', { body, contentType })
    assert.equal(ndjson(await again.text()).at(-1)?.Hash, last.Hash)
  })

  it('adds directories: file events as stored, directory events children-first, root last; ls and get', async () => {
    const results = []
    for await (const r of kubo.addAll([
      { path: 'site/index.html', content: new TextEncoder().encode('<h1>hi</h1>\n') },
      { path: 'site/css/a.css', content: new TextEncoder().encode('body{}\n') },
      { path: 'site/b-empty' },
    ]))
      results.push(r)
    assert.deepEqual(
      results.map((r) => r.path),
      ['site/index.html', 'site/css/a.css', 'site/b-empty', 'site/css', 'site'],
    )
    const root = results.at(-1)?.cid.toString() as string
    // The same tree hashed without storing gives the same root.
    const { body, contentType } = multipart([
      ['site/index.html', '<h1>hi</h1>\n'],
      ['site/css/a.css', 'body{}\n'],
      ['site/b-empty', null],
    ])
    const hashed = ndjson(await (await post('add?only-hash=true', { body, contentType })).text())
    assert.equal(hashed.at(-1)?.Hash, root)

    const listing = []
    for await (const e of kubo.ls(root)) listing.push(e)
    assert.deepEqual(
      listing.map((e) => [e.name, e.type]),
      [
        ['b-empty', 'dir'],
        ['css', 'dir'],
        ['index.html', 'file'],
      ],
    )
    assert.equal(listing.find((e) => e.name === 'index.html')?.size, 12)
    assert.equal(await text(kubo.cat(`${root}/css/a.css`)), 'body{}\n')

    const tar = await bytesOf(kubo.get(root))
    const names: string[] = []
    for (let off = 0; off + 512 <= tar.length; ) {
      const name = tar
        .subarray(off, off + 100)
        .toString('utf8')
        .replace(/\0.*$/s, '')
      if (!name) break
      const size = parseInt(tar.subarray(off + 124, off + 136).toString('ascii'), 8)
      names.push(name)
      off += 512 + Math.ceil(size / 512) * 512
    }
    assert.deepEqual(names, [`${root}/`, `${root}/b-empty/`, `${root}/css/`, `${root}/css/a.css`, `${root}/index.html`])
  })

  it('wraps with a directory and exports a verifiable CAR', async () => {
    const results = []
    for await (const r of kubo.addAll([{ path: 'hello.txt', content: new TextEncoder().encode('hello world\n') }], {
      wrapWithDirectory: true,
    }))
      results.push(r)
    assert.deepEqual(
      results.map((r) => r.path),
      ['hello.txt', ''],
    )
    assert.equal(results[0].cid.toString(), HELLO)
    const root = results[1].cid
    const car = await CarReader.fromBytes(await bytesOf(kubo.dag.export(root)))
    assert.deepEqual((await car.getRoots()).map(String), [root.toString()])
    let blocks = 0
    for await (const b of car.blocks()) {
      assert.deepEqual(createHash('sha256').update(b.bytes).digest(), Buffer.from(b.cid.multihash.digest))
      blocks++
    }
    assert.equal(blocks, 2)
    const stat = await kubo.block.stat(root)
    assert.equal(stat.cid.toString(), root.toString())
    const block = await kubo.block.get(root)
    assert.equal(block.length, stat.size)
  })

  it('pins, lists and unpins; unpinning keeps the content stored (Kubo: only garbage collection deletes)', async () => {
    const r = await kubo.add('unpin me\n')
    const cid = r.cid.toString()
    const pins = []
    for await (const p of kubo.pin.ls()) pins.push(p.cid.toString())
    assert.ok(pins.includes(cid))
    assert.ok(pins.includes(HELLO))
    const removed = []
    for await (const c of kubo.pin.rmAll([{ cid: r.cid }])) removed.push(c.toString())
    assert.deepEqual(removed, [cid])
    assert.equal((await sdk.stat(cid)).cid, cid)
    assert.equal(await text(kubo.cat(cid)), 'unpin me\n')
    // repo/gc right away deletes nothing: the content is within its grace period (gc-network.test.ts goes past it).
    const gc = await post('repo/gc')
    assert.equal(gc.status, 200)
    assert.equal(await gc.text(), '')
    assert.equal((await sdk.stat(cid)).cid, cid)
    // Pin again by path of stored content.
    const added = await kubo.pin.add(`/ipfs/${WORLDS}`)
    assert.equal(added.toString(), WORLDS)
    await assert.rejects(kubo.pin.rm(r.cid), /not pinned/)
  })

  it('pin.ls({ paths }): kubo-rpc-client sends paths=, which Kubo has no option for and ignores; so does the API', async () => {
    // kubo-rpc-client 7 sends both `arg` and `paths` for each path; the request used to fail with 400 unknown option "paths".
    const pins = []
    for await (const p of kubo.pin.ls({ paths: [HELLO, `/ipfs/${WORLDS}`] })) pins.push(p.cid.toString())
    assert.deepEqual(pins.sort(), [HELLO, WORLDS].sort())
  })

  it('raw add output: unnamed files are named by their CID, top-level entries separately, silent and pin=false', async () => {
    const unnamed = multipart([['', 'hello world\n']])
    assert.deepEqual(ndjson(await (await post('add', unnamed)).text()), [{ Name: HELLO, Hash: HELLO, Size: '20' }])
    const two = multipart([
      ['a.txt', 'hello world\n'],
      ['d', null],
      ['d/e', null],
    ])
    const events = ndjson(await (await post('add?pin=false', two)).text())
    assert.deepEqual(
      events.map((e) => e.Name),
      ['a.txt', 'd/e', 'd'],
    )
    assert.deepEqual(events.slice(0, 2), [
      { Name: 'a.txt', Hash: HELLO, Size: '20' },
      { Name: 'd/e', Hash: EMPTY_DIR, Size: '4' },
    ])
    const hashed = ndjson(
      await (
        await post(
          'add?only-hash=true',
          multipart([
            ['d', null],
            ['d/e', null],
          ]),
        )
      ).text(),
    )
    assert.deepEqual(hashed.at(-1), events.at(-1))
    // Top-level entries never merge (Kubo's multipart walker): an interrupted directory starts again.
    const split = ndjson(
      await (
        await post(
          'add?only-hash=true',
          multipart([
            ['d/x', 'x'],
            ['f', 'f'],
            ['d/y', 'y'],
            ['f', 'f'],
          ]),
        )
      ).text(),
    )
    assert.deepEqual(
      split.map((e) => e.Name),
      ['d/x', 'd', 'f', 'd/y', 'd', 'f'],
    )
    assert.notEqual(split[1].Hash, split[4].Hash)
    const wrapped = ndjson(await (await post('add?wrap-with-directory=true&pin=false', unnamed)).text())
    assert.deepEqual(
      wrapped.map((e) => e.Name),
      [HELLO, ''],
    )
    const silent = await post('add?silent=true', multipart([['s.txt', 'silent\n']]))
    assert.equal(silent.status, 200)
    assert.equal(await silent.text(), '')
    // pin=false: stored (owned by the API wallet) but not pinned.
    const unpinned = ndjson(await (await post('add?pin=false', multipart([['u.txt', 'not pinned\n']]))).text())
    const cid = unpinned[0].Hash as string
    assert.deepEqual((await owner.stat(cid)).owners, [wallet.address])
    const ls = await post(`pin/ls?arg=${cid}`)
    assert.equal(ls.status, 500)
    assert.match(((await ls.json()) as { Message: string }).Message, /is not pinned/)
  })

  it('cid-version=1 and raw-leaves give CIDv1 raw leaves; block/get of a leaf is the rebuilt block', async () => {
    const v1 = ndjson(await (await post('add?cid-version=1', multipart([['v1.txt', 'hello world\n']]))).text())
    assert.equal(v1[0].Hash, 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4')
    const stat = (await (await post(`block/stat?arg=${v1[0].Hash as string}`)).json()) as { Key: string; Size: number }
    assert.deepEqual(stat, { Key: v1[0].Hash, Size: 12 })
    const block = Buffer.from(await (await post(`block/get?arg=${HELLO}`)).arrayBuffer())
    assert.equal(block.length, 20)
    assert.deepEqual(
      createHash('sha256').update(block).digest().subarray(0, 4),
      Buffer.from(parseCidDigest(HELLO).subarray(0, 4)),
    )
  })

  it('chunker=size-N: same CID as the importer with that chunker; reads, blocks and CAR work', async () => {
    const data = Buffer.from(patternBytes(5000, 7))
    const { importer } = await import('ipfs-unixfs-importer')
    const { fixedSize } = await import('ipfs-unixfs-importer/chunker')
    const { balanced } = await import('ipfs-unixfs-importer/layout')
    const { MemoryBlockstore } = await import('blockstore-core/memory')
    let expected = ''
    for await (const e of importer([{ content: data }], new MemoryBlockstore(), {
      cidVersion: 0,
      rawLeaves: false,
      leafType: 'file',
      reduceSingleLeafToSelf: true,
      chunker: fixedSize({ chunkSize: 1024 }),
      layout: balanced({ maxChildrenPerNode: 174 }),
    }))
      expected = e.cid.toString()
    const events = ndjson(await (await post('add?chunker=size-1024', multipart([['c.bin', data]]))).text())
    assert.equal(events[0].Hash, expected)
    assert.deepEqual(await bytesOf(kubo.cat(expected)), data)
    assert.deepEqual(await bytesOf(kubo.cat(expected, { offset: 1000, length: 100 })), data.subarray(1000, 1100))
    const car = await CarReader.fromBytes(await bytesOf(kubo.dag.export(CID.parse(expected))))
    let blocks = 0
    for await (const b of car.blocks()) {
      assert.deepEqual(createHash('sha256').update(b.bytes).digest(), Buffer.from(b.cid.multihash.digest))
      blocks++
    }
    assert.equal(blocks, 6) // the root and 5 leaves of 1024, 1024, 1024, 1024, 904 bytes
    // ls of a file lists its chunks, unnamed, as Kubo does.
    const chunks = []
    for await (const e of kubo.ls(expected)) chunks.push(e.size)
    assert.deepEqual(chunks, [1024, 1024, 1024, 1024, 904])
  })

  it('an error after the first event ends the stream with the X-Stream-Error trailer', async () => {
    const { body, contentType } = multipart([
      ['first.txt', 'first\n'],
      ['../second.txt', 'evil'],
    ])
    const u = new URL(`${api.url}/api/v0/add`)
    const {
      status,
      text: out,
      trailers,
    } = await new Promise<{ status: number; text: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': contentType } },
        (res) => {
          let t = ''
          res.on('data', (d: Buffer) => {
            t += d.toString()
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t, trailers: res.trailers }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    assert.equal(status, 200)
    assert.equal(ndjson(out)[0].Name, 'first.txt')
    assert.match(trailers['x-stream-error'] ?? '', /not allowed/)
  })

  it('a client that goes away in the middle of an add leaves the API serving', async () => {
    const u = new URL(`${api.url}/api/v0/add`)
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
      })
      req.on('error', () => resolve())
      req.write(
        '--b\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n',
      )
      req.write(Buffer.alloc(300_000, 1))
      setTimeout(() => {
        req.destroy()
        resolve()
      }, 200)
    })
    await new Promise((r) => setTimeout(r, 200))
    const v = await post('version')
    assert.equal(v.status, 200)
    const pins = (await (await post('pin/ls')).json()) as { Keys: Record<string, unknown> }
    assert.ok(Object.keys(pins.Keys).length > 0)
  })

  it('id and version', async () => {
    const id = await kubo.id()
    assert.equal(id.id.toString(), api.peerId)
    const v = await kubo.version()
    assert.equal(typeof v.version, 'string')
  })

  // ---- raw HTTP: errors and wire details ----------------------------------------------------------

  it('GET is 405 (text), unknown command 404, OPTIONS 204', async () => {
    const get = await post('version', { method: 'GET' })
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'OPTIONS, POST')
    assert.match(await get.text(), /405 - Method Not Allowed/)
    assert.equal((await post('nope')).status, 404)
    assert.equal((await post('version', { method: 'OPTIONS' })).status, 204)
  })

  it('refuses browser origins it was not told to allow', async () => {
    const r = await post('version', { headers: { origin: 'http://evil.example' } })
    assert.equal(r.status, 403)
  })

  it('malformed CIDs, missing paths, bad options are Kubo errors', async () => {
    const bad = await post('cat?arg=not-a-cid')
    assert.equal(bad.status, 500)
    const body = (await bad.json()) as { Message: string; Code: number; Type: string }
    assert.equal(body.Type, 'error')
    assert.equal(body.Code, 0)
    assert.match(body.Message, /invalid path/)

    const missing = await post(`cat?arg=${HELLO}/nope`)
    assert.equal(missing.status, 500)
    assert.equal(((await missing.json()) as { Code: number }).Code, 0)

    const unknownCid = await post('cat?arg=QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nm')
    assert.ok(unknownCid.status >= 400)

    const noArg = await post('cat')
    assert.equal(noArg.status, 400)
    assert.equal(((await noArg.json()) as { Code: number }).Code, 1)

    const badBool = await post('add?pin=maybe', multipart([['x', 'x']]))
    assert.equal(badBool.status, 400)

    // Unknown options are ignored, as Kubo ignores them (a typo included).
    const unknown = await post(`cat?arg=${HELLO}&cid-verison=1`)
    assert.equal(unknown.status, 200)
    assert.equal(await unknown.text(), 'hello world\n')

    const chunker = await post('add?chunker=rabin-1-2-3', multipart([['x', 'x']]))
    assert.equal(chunker.status, 500)
    assert.match(((await chunker.json()) as { Message: string }).Message, /chunker/)

    const notPinned = await post(`pin/rm?arg=${EMPTY_DIR}1`)
    assert.equal(notPinned.status, 500)

    const hugeHead = await post(`version?x=${'a'.repeat(20_000)}`)
    assert.equal(hugeHead.status, 431)
    const bigBody = await post('version', { body: Buffer.alloc(100_000), contentType: 'application/octet-stream' })
    assert.equal(bigBody.status, 413)
  })

  it('bad multipart bodies and traversal names are refused, nothing is stored', async () => {
    const noBoundary = await post('add', { body: Buffer.from('hello'), contentType: 'multipart/form-data' })
    assert.equal(noBoundary.status, 400)
    const notMultipart = await post('add', { body: Buffer.from('hello'), contentType: 'text/plain' })
    assert.equal(notMultipart.status, 400)
    const truncated = multipart([['a.txt', 'abc']])
    const cut = await post('add', {
      body: truncated.body.subarray(0, truncated.body.length - 30),
      contentType: truncated.contentType,
    })
    assert.equal(cut.status, 400)
    assert.equal(((await cut.json()) as { Code: number }).Code, 1)
    for (const name of ['../escape.txt', 'a/../../b.txt', 'nul\0byte.txt', 'back\\slash.txt']) {
      const r = await post('add', multipart([[name, 'evil']]))
      assert.equal(r.status, 400, name)
      assert.equal(((await r.json()) as { Type: string }).Type, 'error')
    }
    const hugeHeader = `--b\r\nContent-Disposition: form-data; name="file"; filename="${'a'.repeat(20_000)}"\r\n\r\nx\r\n--b--\r\n`
    const r = await post('add', { body: Buffer.from(hugeHeader), contentType: 'multipart/form-data; boundary=b' })
    assert.equal(r.status, 400)
    const empty = await post('add', { body: Buffer.from('--b--\r\n'), contentType: 'multipart/form-data; boundary=b' })
    assert.equal(empty.status, 500)
    assert.match(((await empty.json()) as { Message: string }).Message, /expected a file argument/)
  })
})
