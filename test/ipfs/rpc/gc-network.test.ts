/**
 * Kubo pin semantics against a real meta node and resource nodes (in process): `pin/rm` never deletes, `repo/gc`
 * deletes only what the API stored, no pin reaches and was released longer than the grace period ago. The API's
 * clock is the system clock plus an offset, moved forward only while `repo/gc` runs (`gcAt`): adds and pins happen at
 * the real time, as the meta node (whose record times an add compares with) sees it; the API's SDK client keeps the
 * real clock, so its signed requests stay valid.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNetwork, patternBytes, wallet, collect, CHAIN_ID, type TestNetwork } from '../../sds/network.ts'
import { startIpfsRpcApi, type IpfsRpcApi } from '../../../src/ipfs/rpc/index.ts'
import { StratosClient } from '../../../src/sds/client/index.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../../src/errors.ts'
import type { Clock } from '../../../src/util/components.ts'

const HOUR = 3_600_000
const GRACE = 24 * HOUR
const other = WalletKey.fromMnemonic('legal winner thank year wave sausage worth useful legal winner thank yellow')

function ndjson(s: string): Record<string, unknown>[] {
  return s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** A multipart `add` body of named files. */
function multipart(files: [string, Uint8Array][], boundary = 'gc-boundary'): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = []
  for (const [name, content] of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(name)}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    )
    chunks.push(Buffer.from(content), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` }
}

describe('RPC API garbage collection on a network', () => {
  let net: TestNetwork
  let dir: string
  let api: IpfsRpcApi
  let apiClient: StratosClient
  let sameWallet: StratosClient // "the CLI" with the API's wallet
  let otherWallet: StratosClient
  let offset = 0 // ms added to the API's clock
  const clock: Clock = { now: () => Date.now() + offset }

  const startApi = async (): Promise<IpfsRpcApi> =>
    startIpfsRpcApi({
      port: 0,
      metaUrl: net.meta.url,
      chainId: CHAIN_ID,
      wallet,
      dataDir: join(dir, 'api'),
      client: apiClient,
      clock,
      gc: { graceMs: GRACE, intervalMs: 0 },
    })

  const post = async (path: string, init: { body?: Buffer; contentType?: string } = {}): Promise<Response> =>
    fetch(`${api.url}/api/v0/${path}`, {
      method: 'POST',
      ...(init.body ? { body: init.body } : {}),
      headers: init.contentType ? { 'content-type': init.contentType } : {},
    })

  const ok = async (path: string, init?: { body?: Buffer; contentType?: string }): Promise<string> => {
    const res = await post(path, init)
    const text = await res.text()
    assert.equal(res.status, 200, `${path}: ${text}`)
    return text
  }

  const add = async (files: [string, Uint8Array][], query = ''): Promise<Record<string, unknown>[]> =>
    ndjson(await ok(`add${query}`, multipart(files)))
  /** repo/gc as if run `later` ms from now. */
  const gcAt = async (later: number): Promise<string[]> => {
    offset = later
    try {
      return ndjson(await ok('repo/gc')).map((e) => (e.Key as { '/': string })['/'])
    } finally {
      offset = 0
    }
  }
  const gone = (e: unknown): boolean => isStratosError(e, 'FILE_NOT_FOUND') || isStratosError(e, 'NOT_FOUND')

  before(async () => {
    net = await startNetwork({ segmentSize: 1 << 20 })
    dir = mkdtempSync(join(tmpdir(), 'stratos-gc-'))
    apiClient = await StratosClient.connect({ metaUrl: net.meta.url, wallet, chainId: CHAIN_ID })
    sameWallet = await StratosClient.connect({ metaUrl: net.meta.url, wallet, chainId: CHAIN_ID })
    otherWallet = await StratosClient.connect({ metaUrl: net.meta.url, wallet: other, chainId: CHAIN_ID })
    api = await startApi()
  })

  after(async () => {
    await api?.stop()
    await Promise.allSettled([apiClient?.close(), sameWallet?.close(), otherWallet?.close()])
    await net?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a file uploaded another way (same wallet or not) survives pin/add, pin/rm and repo/gc, however late', async () => {
    const mine = patternBytes(300_000, 1)
    const theirs = patternBytes(200_000, 2)
    const a = await sameWallet.put(mine, { name: 'cli.bin' })
    const b = await otherWallet.put(theirs, { name: 'other.bin', public: true })
    for (const cid of [a.cid, b.cid]) {
      assert.deepEqual(JSON.parse(await ok(`pin/add?arg=${cid}`)), { Pins: [cid] })
      assert.deepEqual(JSON.parse(await ok(`pin/rm?arg=${cid}`)), { Pins: [cid] })
    }
    assert.deepEqual(await gcAt(0), [])
    assert.deepEqual(await gcAt(10 * GRACE), [])
    assert.ok((await collect(sameWallet.cat(a.cid))).equals(mine))
    assert.ok((await collect(otherWallet.cat(b.cid))).equals(theirs))
  })

  it("the same bytes added through the API after the wallet uploaded them another way are not the API's to collect", async () => {
    const bytes = patternBytes(150_000, 3)
    const first = await sameWallet.put(bytes, { name: 'first.bin' })
    const events = await add([['again.bin', bytes]])
    assert.equal(events.at(-1)?.Hash, first.cid)
    await ok(`pin/rm?arg=${first.cid}`)
    assert.deepEqual(await gcAt(2 * GRACE), [])
    assert.ok((await collect(sameWallet.cat(first.cid))).equals(bytes))
  })

  it('an RPC-added file: kept after pin/rm and within the grace period, deleted by repo/gc after it, also across a restart', async () => {
    const bytes = patternBytes(400_000, 4)
    const cid = (await add([['rpc.bin', bytes]])).at(-1)?.Hash as string
    await ok(`pin/rm?arg=${cid}`)
    assert.deepEqual(await gcAt(0), [])
    assert.deepEqual(await gcAt(GRACE - HOUR), [])
    assert.ok((await collect(apiClient.cat(cid))).equals(bytes))
    // The API restarts: what it stored and when it was unpinned come back from pins.json.
    await api.stop()
    api = await startApi()
    offset = GRACE + HOUR
    const res = await post('repo/gc').finally(() => {
      offset = 0
    })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-chunked-output'), '1')
    assert.deepEqual(ndjson(await res.text()), [{ Key: { '/': cid } }])
    await assert.rejects(apiClient.stat(cid), gone)
  })

  it('add?pin=false is collected after the grace period; pin/add within it keeps the content', async () => {
    const loose = (await add([['loose.bin', patternBytes(50_000, 5)]], '?pin=false')).at(-1)?.Hash as string
    const saved = (await add([['saved.bin', patternBytes(60_000, 6)]], '?pin=false')).at(-1)?.Hash as string
    await ok(`pin/add?arg=${saved}`)
    assert.deepEqual(await gcAt(GRACE + HOUR), [loose])
    assert.equal((await apiClient.stat(saved)).cid, saved)
  })

  it('unpinning a directory collects what only it reached, keeps what another pin reaches', async () => {
    const kept = new TextEncoder().encode('kept by its own pin\n')
    const only = new TextEncoder().encode('only in the directory\n')
    const events = await add([
      ['gc/kept.txt', kept],
      ['gc/only.txt', only],
    ])
    const byName = new Map(events.map((e) => [e.Name as string, e.Hash as string]))
    const dirCid = byName.get('gc') as string
    const keptCid = (await add([['kept.txt', kept]])).at(-1)?.Hash as string
    assert.equal(keptCid, byName.get('gc/kept.txt'))
    await ok(`pin/rm?arg=${dirCid}`)
    assert.deepEqual(await gcAt(0), [])
    const removed = await gcAt(GRACE + HOUR)
    assert.deepEqual(removed, [dirCid, byName.get('gc/only.txt')]) // the directory before its file
    await assert.rejects(apiClient.stat(dirCid), gone)
    assert.equal((await apiClient.stat(keptCid)).cid, keptCid)
  })
})
