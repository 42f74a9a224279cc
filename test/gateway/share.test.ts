/**
 * Share links end to end in one process: a real meta node and resource nodes, the SDK creating, listing and revoking
 * links, and a real Gateway serving /share/{id} (password by header, Basic auth, the gateway's sealed share cookie or
 * query; 401 + WWW-Authenticate without it; ranges as /ipfs/; 410 once revoked) and counting the bytes it serves.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { Gateway } from '../../src/gateway/index.ts'
import { StratosClient } from '../../src/sds/client/index.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { SHARE_COOKIE_TTL_MS } from '../../src/limits.ts'
import { ManualClock } from '../../src/util/components.ts'
import { patternBytes, startNetwork, wallet } from '../sds/network.ts'

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const r = await request(url, { method, headers })
  const body = Buffer.from(await r.body.arrayBuffer())
  return {
    status: r.statusCode,
    headers: r.headers,
    body,
    json: () => JSON.parse(body.toString('utf8')) as { error: { code: string } },
  }
}

test('share links through the gateway: password by header, Basic auth, sealed cookie or query; ranges; revocation; byte counter', async () => {
  const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: 256 * 1024 })
  const gateway = new Gateway({ port: 0, metaUrl: net.meta.url })
  await gateway.start()
  const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet })
  const stranger = await StratosClient.connect({
    metaUrl: net.meta.url,
    wallet: WalletKey.fromPrivateKeyHex('33'.repeat(32)),
  })
  try {
    const data = patternBytes(700_000, 5)
    const { cid } = await client.put(data, { name: 'clip.bin' })
    const open = await client.createShare(cid, { gatewayUrl: gateway.url })
    assert.equal(open.url, `${gateway.url}/share/${open.id}`)
    const locked = await client.createShare(cid, { password: 's3cret pass', expiresAt: Date.now() + 3_600_000 })
    assert.equal(locked.hasPassword, true)
    await assert.rejects(stranger.createShare(cid), (e: { code?: string }) => e.code === 'NOT_OWNER')

    // Open link: the file, with /ipfs/ semantics but private caching.
    const whole = await get(open.url!)
    assert.equal(whole.status, 200)
    assert.ok(whole.body.equals(Buffer.from(data)))
    assert.equal(whole.headers['cache-control'], 'private, no-cache')
    assert.equal(whole.headers.etag, `"${cid}"`)
    const part = await get(open.url!, { range: 'bytes=300000-300099' })
    assert.equal(part.status, 206)
    assert.equal(part.headers['content-range'], `bytes 300000-300099/${data.length}`)
    assert.ok(part.body.equals(Buffer.from(data.subarray(300_000, 300_100))))

    // Password link: 401 + Basic challenge without it or with a wrong one; each way of passing it works.
    const url = `${gateway.url}/share/${locked.id}`
    const missing = await get(url)
    assert.equal(missing.status, 401)
    assert.equal(missing.json().error.code, 'PASSWORD_REQUIRED')
    assert.match(String(missing.headers['www-authenticate']), /^Basic realm=/)
    const wrong = await get(url, { authorization: `Basic ${Buffer.from('any:nope').toString('base64')}` })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.json().error.code, 'BAD_PASSWORD')
    assert.match(String(wrong.headers['www-authenticate']), /^Basic /)
    const basic = await get(url, {
      authorization: `Basic ${Buffer.from('viewer:s3cret pass').toString('base64')}`,
      range: 'bytes=-10',
    })
    assert.equal(basic.status, 206)
    assert.ok(basic.body.equals(Buffer.from(data.subarray(data.length - 10))))
    assert.equal((await get(url, { 'x-stratos-share-password': 's3cret pass' }, 'HEAD')).status, 200)
    const byQuery = await get(`${url}?password=${encodeURIComponent('s3cret pass')}&filename=x.bin`, {
      range: 'bytes=0-9',
    })
    assert.equal(byQuery.status, 206)
    assert.equal(byQuery.headers['referrer-policy'], 'no-referrer')

    // The share cookie: the password checked once at POST /api/v1/share-session/{id}, then sealed by this gateway
    // into an HttpOnly cookie scoped to the link, so a <video> plays without the password in its URL.
    const session = (gw: Gateway, id: string, password: string) =>
      request(`${gw.url}/api/v1/share-session/${id}`, {
        method: 'POST',
        headers: { 'x-stratos-share-password': password },
      })
    const refusedSession = await session(gateway, locked.id, 'nope')
    assert.equal(refusedSession.statusCode, 401)
    assert.equal(((await refusedSession.body.json()) as { error: { code: string } }).error.code, 'BAD_PASSWORD')
    assert.equal(refusedSession.headers['set-cookie'], undefined)
    const made = await session(gateway, locked.id, 's3cret pass')
    assert.equal(made.statusCode, 200)
    await made.body.json()
    const setCookie = String(made.headers['set-cookie'])
    assert.match(
      setCookie,
      new RegExp(`^stratos-share=[A-Za-z0-9_-]+; Path=/share/${locked.id}; Max-Age=3600; HttpOnly; SameSite=Strict$`),
    )
    assert.ok(!setCookie.includes('s3cret'), 'the cookie holds the password sealed, not in clear')
    const cookie = setCookie.split(';')[0]
    const byCookie = await get(url, { cookie, range: 'bytes=0-9' })
    assert.equal(byCookie.status, 206)
    assert.ok(byCookie.body.equals(Buffer.from(data.subarray(0, 10))))
    // Bound to its link and its gateway: on another link, tampered, or from another gateway it is no password.
    const other = await client.createShare(cid, { password: 'other pass' })
    const onOther = await get(`${gateway.url}/share/${other.id}`, { cookie })
    assert.equal(onOther.status, 401)
    assert.equal(onOther.json().error.code, 'PASSWORD_REQUIRED')
    const at = cookie.indexOf('=') + 8
    const tampered = cookie.slice(0, at) + (cookie[at] === 'A' ? 'B' : 'A') + cookie.slice(at + 1)
    assert.equal((await get(url, { cookie: tampered })).json().error.code, 'PASSWORD_REQUIRED')
    const clock = new ManualClock(Date.now())
    const second = new Gateway({ port: 0, metaUrl: net.meta.url, clock })
    await second.start()
    try {
      assert.equal((await get(`${second.url}/share/${locked.id}`, { cookie })).status, 401)
      const own = String((await session(second, locked.id, 's3cret pass')).headers['set-cookie']).split(';')[0]
      assert.equal((await get(`${second.url}/share/${locked.id}`, { cookie: own }, 'HEAD')).status, 200)
      clock.advance(SHARE_COOKIE_TTL_MS + 1)
      assert.equal((await get(`${second.url}/share/${locked.id}`, { cookie: own }, 'HEAD')).status, 401)
    } finally {
      await second.stop()
    }
    const cleared = await request(`${gateway.url}/api/v1/share-session/${locked.id}`, { method: 'DELETE' })
    assert.match(String(cleared.headers['set-cookie']), /^stratos-share=; Path=\/share\/[A-Za-z0-9_-]{22}; Max-Age=0;/)
    await cleared.body.dump()
    assert.equal((await client.revokeShare(other.id)).state, 'revoked')

    // Bad ids and methods.
    assert.equal((await get(`${gateway.url}/share/short`)).json().error.code, 'BAD_REQUEST')
    assert.equal((await get(`${gateway.url}/share/AAAAAAAAAAAAAAAAAAAAAA`)).status, 404)
    assert.equal((await request(open.url!, { method: 'POST', body: 'x' })).statusCode, 405)
    assert.equal((await get(`${open.url}/inner/path`)).status, 404)

    // A directory link serves the paths below it, with the same path checks as /ipfs/.
    const dir = mkdtempSync(join(tmpdir(), 'stratos-share-dir-'))
    try {
      mkdirSync(join(dir, 'site', 'docs'), { recursive: true })
      writeFileSync(join(dir, 'site', 'docs', 'a.txt'), 'hello from a shared directory\n')
      const site = await client.putDirectory(join(dir, 'site'))
      const dirLink = await client.createShare(site.cid, { gatewayUrl: gateway.url })
      assert.equal(dirLink.kind, 'directory')
      const inner = await get(`${dirLink.url}/docs/a.txt`)
      assert.equal(inner.status, 200)
      assert.equal(inner.body.toString(), 'hello from a shared directory\n')
      assert.equal((await get(`${dirLink.url}/docs/missing.txt`)).status, 404)
      assert.equal((await get(`${dirLink.url}/docs%2Fa.txt`)).status, 400)
      assert.equal((await client.revokeShare(dirLink.id)).state, 'revoked')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }

    // Listing and revocation: the link answers 410 SHARE_REVOKED at once.
    assert.deepEqual((await client.listShares()).map((s) => s.id).sort(), [open.id, locked.id].sort())
    assert.deepEqual(await stranger.listShares(), [])
    await assert.rejects(stranger.revokeShare(open.id), (e: { code?: string }) => e.code === 'NOT_OWNER')
    assert.equal((await client.revokeShare(open.id)).state, 'revoked')
    const gone = await get(open.url!)
    assert.equal(gone.status, 410)
    assert.equal(gone.json().error.code, 'SHARE_REVOKED')
    assert.deepEqual(
      (await client.listShares()).map((s) => s.id),
      [locked.id],
    )

    // The counter saw every body byte the gateway wrote for this CID (1 full read, 100 + 10 + 10 + 10 bytes of ranges).
    const stats = (await get(`${gateway.url}/api/v1/stats?cid=${cid}`)).json() as unknown as {
      bytesServed: number
      cid: string
      bytes: number
    }
    assert.equal(stats.bytes, data.length + 100 + 10 + 10 + 10)
    assert.equal(stats.bytesServed, stats.bytes + 'hello from a shared directory\n'.length)
  } finally {
    await stranger.close()
    await client.close()
    await gateway.stop()
    await net.close()
  }
})
