/**
 * The gateway's side of the wallet portal in one process (a real meta node, resource nodes and Gateway):
 *  - the bundle at /wallet/: redirect, content types, immutable assets, SPA fallback, no escape from the folder,
 *    security headers, 503 when not built;
 *  - the browser edge: a wallet-signed create naming another order key is refused; the bytes are placed but nothing
 *    is visible until the wallet's commit; a commit for another CID is CONFLICT; the right one commits the file to
 *    the wallet (private: anonymous /ipfs/ is ACCESS_DENIED); a dropped upload is gone;
 *  - the session cookie: a token for another order key is refused; with the cookie, /api/v1/content/{cid} serves the
 *    wallet's private file with ranges; without it, ACCESS_DENIED;
 *  - the relay: meta routes outside the allow-list (share resolution) are not relayed; the chain relay without
 *    --chain-url is NETWORK_CONFIG.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { toBase64Url } from '../../src/crypto/hash.ts'
import { Gateway } from '../../src/gateway/index.ts'
import { dagDigest, fileCid } from '../../src/sds/client/unixfs.ts'
import type { AccessSessionPayload, CommitPayload, CreateUploadPayload } from '../../src/sds/protocol/messages.ts'
import { signAsWallet } from '../../src/sds/protocol/signing.ts'
import { CHAIN_ID, patternBytes, startNetwork, wallet } from '../sds/network.ts'

async function call(
  url: string,
  o: {
    method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'
    headers?: Record<string, string>
    body?: Uint8Array | string
  } = {},
) {
  const r = await request(url, { method: o.method ?? 'GET', headers: o.headers, body: o.body })
  const body = Buffer.from(await r.body.arrayBuffer())
  return {
    status: r.statusCode,
    headers: r.headers,
    body,
    json: () => JSON.parse(body.toString('utf8')),
  }
}

const hexNonce = () => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')

test('the wallet portal on the gateway: bundle, browser edge uploads, session cookie, relay', async () => {
  const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: 256 * 1024 })
  const bundle = mkdtempSync(join(tmpdir(), 'stratos-wallet-bundle-'))
  mkdirSync(join(bundle, 'assets'))
  writeFileSync(join(bundle, 'index.html'), '<!doctype html><title>wallet</title>')
  writeFileSync(join(bundle, 'assets', 'index-abc123.js'), 'console.log(1)')
  const gateway = new Gateway({ port: 0, metaUrl: net.meta.url, walletDir: bundle })
  await gateway.start()
  const g = gateway.url
  try {
    // ---- the bundle ------------------------------------------------------------------------------------------
    const redirect = await call(`${g}/wallet`)
    assert.equal(redirect.status, 301)
    assert.equal(redirect.headers.location, '/wallet/')
    const index = await call(`${g}/wallet/`)
    assert.equal(index.status, 200)
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8')
    assert.equal(index.headers['cache-control'], 'no-cache')
    assert.match(String(index.headers['content-security-policy']), /default-src 'self'/)
    assert.equal(index.headers['x-content-type-options'], 'nosniff')
    const asset = await call(`${g}/wallet/assets/index-abc123.js`)
    assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8')
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable')
    assert.equal(asset.body.toString(), 'console.log(1)')
    const revalidated = await call(`${g}/wallet/`, { headers: { 'if-none-match': String(index.headers.etag) } })
    assert.equal(revalidated.status, 304)
    const route = await call(`${g}/wallet/share/AAAAAAAAAAAAAAAAAAAAAA`)
    assert.equal(route.status, 200)
    assert.ok(route.body.equals(index.body), 'an app route gets index.html')
    assert.equal((await call(`${g}/wallet/assets/missing.js`)).status, 404)
    const outside = await call(`${g}/wallet/..%2f..%2f..%2fetc%2fpasswd`)
    assert.equal(outside.status, 404)
    assert.equal(outside.json().error.code, 'NOT_FOUND')

    // ---- the edge: create, bytes, commit ----------------------------------------------------------------------
    const params = (await call(`${g}/api/v1/edge/params`)).json()
    assert.equal(params.chainId, CHAIN_ID)
    const data = patternBytes(900_000, 7)
    const expected = await fileCid(data)
    const create = (orderKey: string): string => {
      const payload: CreateUploadPayload = {
        chainId: params.chainId,
        signer: wallet.address,
        nonce: hexNonce(),
        expiresAt: Date.now() + 60_000,
        action: 'upload.create',
        k: params.k,
        m: params.m,
        segmentSize: params.segmentSize,
        size: data.length,
        name: 'clip.bin',
        orderKey,
      }
      return toBase64Url(Buffer.from(JSON.stringify(signAsWallet(wallet, payload))))
    }
    const otherKey = await call(`${g}/api/v1/edge/uploads`, {
      method: 'PUT',
      headers: { 'x-stratos-upload-create': create(toBase64Url(new Uint8Array(32).fill(9))) },
      body: data,
    })
    assert.equal(otherKey.status, 400)
    assert.equal(otherKey.json().error.code, 'BAD_REQUEST')
    const unsigned = await call(`${g}/api/v1/edge/uploads`, { method: 'PUT', body: data })
    assert.equal(unsigned.json().error.code, 'BAD_REQUEST')

    const placed = await call(`${g}/api/v1/edge/uploads`, {
      method: 'PUT',
      headers: { 'x-stratos-upload-create': create(params.orderKey) },
      body: data,
    })
    assert.equal(placed.status, 200, placed.body.toString())
    const p = placed.json()
    assert.equal(p.cid, expected.cid.toString())
    assert.equal(p.size, data.length)
    assert.equal(p.dagDigest, dagDigest(expected.blocks.map((b) => b.bytes)))
    // Placed, not committed: the meta node does not know the file yet.
    assert.equal((await call(`${net.meta.url}/v1/files/${p.cid}`)).json().error.code, 'FILE_NOT_FOUND')

    const commit = (cid: string): string => {
      const payload: CommitPayload = {
        chainId: params.chainId,
        signer: wallet.address,
        nonce: hexNonce(),
        expiresAt: Date.now() + 60_000,
        action: 'upload.commit',
        uploadId: p.uploadId,
        cid,
        size: data.length,
        kind: 'file',
        name: 'clip.bin',
        dagDigest: p.dagDigest,
      }
      return JSON.stringify(signAsWallet(wallet, payload))
    }
    const wrong = await call(`${g}/api/v1/edge/uploads/${p.uploadId}/commit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: commit('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'),
    })
    assert.equal(wrong.status, 409)
    assert.equal(wrong.json().error.code, 'CONFLICT')
    const done = await call(`${g}/api/v1/edge/uploads/${p.uploadId}/commit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: commit(p.cid),
    })
    assert.equal(done.status, 200, done.body.toString())
    assert.equal(done.json().file.cid, p.cid)
    assert.equal(done.json().file.public, false)
    const again = await call(`${g}/api/v1/edge/uploads/${p.uploadId}/commit`, { method: 'POST', body: commit(p.cid) })
    assert.equal(again.status, 404)
    // Private: the public path refuses it.
    assert.equal((await call(`${g}/ipfs/${p.cid}`)).json().error.code, 'ACCESS_DENIED')

    // A placed upload the browser drops is aborted.
    const second = (
      await call(`${g}/api/v1/edge/uploads`, {
        method: 'PUT',
        headers: { 'x-stratos-upload-create': create(params.orderKey) },
        body: data,
      })
    ).json()
    const dropped = await call(`${g}/api/v1/edge/uploads/${second.uploadId}`, { method: 'DELETE' })
    assert.equal(dropped.status, 200)
    assert.equal((await call(`${g}/api/v1/edge/uploads/${second.uploadId}`, { method: 'DELETE' })).status, 404)

    // ---- the session cookie and the wallet's own content ---------------------------------------------------------
    const token = (orderKey: string): string => {
      const payload: AccessSessionPayload = {
        chainId: params.chainId,
        signer: wallet.address,
        nonce: hexNonce(),
        expiresAt: Date.now() + 3_600_000,
        action: 'access.session',
        orderKey,
      }
      return `session.${toBase64Url(Buffer.from(JSON.stringify(signAsWallet(wallet, payload))))}`
    }
    const foreign = await call(`${g}/api/v1/session`, {
      method: 'POST',
      headers: { 'x-stratos-access': token(toBase64Url(new Uint8Array(32).fill(9))) },
    })
    assert.equal(foreign.json().error.code, 'BAD_REQUEST')
    const noCookie = await call(`${g}/api/v1/content/${p.cid}`)
    assert.equal(noCookie.status, 403)
    assert.equal(noCookie.json().error.code, 'ACCESS_DENIED')
    const session = await call(`${g}/api/v1/session`, {
      method: 'POST',
      headers: { 'x-stratos-access': token(params.orderKey) },
    })
    assert.equal(session.status, 200, session.body.toString())
    const setCookie = String(session.headers['set-cookie'])
    assert.match(setCookie, /HttpOnly/)
    assert.match(setCookie, /SameSite=Strict/)
    assert.match(setCookie, /Path=\/api\/v1\/content\//)
    const cookie = setCookie.split(';')[0]!
    const part = await call(`${g}/api/v1/content/${p.cid}`, { headers: { cookie, range: 'bytes=100000-100099' } })
    assert.equal(part.status, 206)
    assert.ok(part.body.equals(Buffer.from(data.subarray(100_000, 100_100))))
    assert.equal(part.headers['cache-control'], 'private, no-cache')
    const whole = await call(`${g}/api/v1/content/${p.cid}`, { headers: { cookie } })
    assert.ok(whole.body.equals(Buffer.from(data)))
    const cleared = await call(`${g}/api/v1/session`, { method: 'DELETE' })
    assert.match(String(cleared.headers['set-cookie']), /Max-Age=0/)

    // ---- the relay ------------------------------------------------------------------------------------------------
    const status = await call(`${g}/api/v1/meta/v1/status`)
    assert.equal(status.status, 200)
    assert.equal(status.json().chainId, CHAIN_ID)
    const resolve = await call(`${g}/api/v1/meta/v1/shares/AAAAAAAAAAAAAAAAAAAAAA/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"client":"1.2.3.4"}',
    })
    assert.equal(resolve.status, 404)
    assert.equal(resolve.json().error.code, 'NOT_FOUND')
    const chain = await call(`${g}/api/v1/chain/status`)
    assert.equal(chain.json().error.code, 'NETWORK_CONFIG')

    // ---- a gateway without a built bundle ---------------------------------------------------------------------------
    const bare = new Gateway({ port: 0, metaUrl: net.meta.url, walletDir: join(bundle, 'nothing') })
    await bare.start()
    try {
      const r = await call(`${bare.url}/wallet/`)
      assert.equal(r.status, 503)
      assert.equal(r.json().error.code, 'NODE_UNAVAILABLE')
    } finally {
      await bare.stop()
    }
  } finally {
    await gateway.stop()
    await net.close()
    rmSync(bundle, { recursive: true, force: true })
  }
})
