/**
 * Access control on a real multi-process devnet (docs/security.md), each attack tried from a stranger's wallet (bob)
 * or none:
 *   - a stranger cannot abort or re-plan someone's upload (the upload id travels in every PUT ticket), and the
 *     upload still completes byte-exact;
 *   - a private file cannot be read, stat-ed or listed without its owner's session, a share link or a grant — not
 *     through the SDK, the gateway's /ipfs/ or the IPFS RPC API;
 *   - a share link opens the private file through the gateway, its pages link only within it, revocation stops it;
 *   - a private folder opens through its share link; published, its files are public;
 *   - wrong share-link passwords from one client do not lock out another;
 *   - a read grant lets its holder read, and stops at once when revoked, or when it expires;
 *   - strangers' reads of a public file stop at the owner's budget while the owner still reads.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
import { SHARE_MAX_PASSWORD_FAILURES } from '../../src/limits.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { NodeKey } from '../../src/crypto/node-key.ts'
import { toBase64Url } from '../../src/crypto/hash.ts'
import { isStratosError } from '../../src/errors.ts'
import { StratosClient } from '../../src/sds/client/index.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { sessionCallBytes } from '../../src/sds/protocol/signing.ts'
import type { PlanSegmentBody } from '../../src/sds/protocol/api.ts'
import { TestDevnet } from './harness.ts'
import { expectCode } from '../sds/meta/helpers.ts'
import { collect } from '../sds/network.ts'

const MiB = 1024 * 1024

describe('access control on a devnet', () => {
  let net: TestDevnet
  let alice: StratosClient
  let bob: StratosClient
  let anon: StratosClient
  const secret = randomBytes(3 * MiB + 12_345)
  let secretCid: string

  const connect = (o: { wallet?: WalletKey; grant?: string } = {}) =>
    StratosClient.connect({ metaUrl: net.network.meta.url, ...o })
  const walletOf = (name: string) => WalletKey.fromMnemonic(net.network.wallets.find((w) => w.name === name)!.mnemonic)
  const gateway = (path: string, init?: RequestInit) => fetch(`${net.network.gatewayUrl}${path}`, init)

  before(async () => {
    net = await TestDevnet.start({ segmentSize: MiB })
    alice = await connect({ wallet: walletOf('alice') })
    bob = await connect({ wallet: walletOf('bob') })
    anon = await connect()
  })

  after(async () => {
    await Promise.all([alice, bob, anon].map((c) => c?.close()))
    await net?.destroy()
  })

  test('a stranger cannot abort or re-plan an upload; the upload completes byte-exact', async () => {
    const stranger = new MetaClient(net.network.meta.url)
    const strangerKey = NodeKey.generate()
    const attacks: Promise<void>[] = []
    let attacked = 0
    // Every plan the SDK sends passes through here first: the stranger learns the upload id (as any resource node
    // does from a PUT ticket) and tries to abort the upload and to re-plan the segment with shards of its own.
    const planSegment = alice.meta.planSegment.bind(alice.meta)
    alice.meta.planSegment = async (uploadId, body, o) => {
      // A well-formed call signed by the stranger's own key.
      const forged = (action: string, b: object) => {
        const nonce = randomBytes(8).toString('hex')
        const expiresAt = Date.now() + 60_000
        const signature = toBase64Url(
          strangerKey.sign(
            sessionCallBytes({ chainId: net.network.chainId, uploadId, action, body: b as never, nonce, expiresAt }),
          ),
        )
        return { ...b, auth: { nonce, expiresAt, signature } }
      }
      const otherShards = body.shards.map(() => randomBytes(32).toString('hex'))
      const { auth: _auth, ...plain } = body
      attacks.push(
        (async () => {
          // No signature at all: refused by the schema; a stranger's signature: refused as not the session's.
          const bare = await fetch(`${net.network.meta.url}/v1/uploads/${uploadId}`, { method: 'DELETE' })
          assert.equal(bare.status, 400)
          assert.equal(((await bare.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST')
          await expectCode(stranger.abort(uploadId, forged('upload.abort', {}) as never), 'INVALID_SIGNATURE')
          await expectCode(
            stranger.planSegment(uploadId, forged('upload.plan', { ...plain, shards: otherShards }) as PlanSegmentBody),
            'INVALID_SIGNATURE',
          )
          await expectCode(
            stranger.replaceShard(
              uploadId,
              forged('upload.replace', { segment: plain.index, shardIndex: 0, exclude: [] }) as never,
            ),
            'INVALID_SIGNATURE',
          )
          attacked++
        })(),
      )
      await attacks[attacks.length - 1]
      const plan = await planSegment(uploadId, body, o)
      // A replay of the owner's own signed plan is refused: its nonce is spent.
      await expectCode(stranger.planSegment(uploadId, body), 'REPLAYED_NONCE')
      return plan
    }
    try {
      secretCid = (await alice.put(secret, { name: 'secret.bin' })).cid
    } finally {
      alice.meta.planSegment = planSegment
    }
    await Promise.all(attacks)
    // One attack round per segment planned by a plan call: segment 0 is planned by the upload's create.
    assert.equal(attacked, Math.ceil(secret.length / MiB) - 1)
    assert.ok((await collect(alice.cat(secretCid))).equals(secret))
  })

  test('a private file: no read, stat or listing without the owner', async () => {
    await expectCode(collect(anon.cat(secretCid)), 'ACCESS_DENIED')
    await expectCode(collect(bob.cat(secretCid)), 'ACCESS_DENIED')
    await expectCode(anon.stat(secretCid), 'ACCESS_DENIED')
    await expectCode(bob.stat(secretCid), 'ACCESS_DENIED')
    await expectCode(bob.ls({ owner: alice.wallet!.address }), 'ACCESS_DENIED')
    assert.ok(!(await anon.ls()).some((f) => f.cid === secretCid), 'the anonymous listing shows public files only')
    const own = await alice.stat(secretCid)
    assert.deepEqual(own.owners, [alice.wallet!.address])
    assert.equal(own.public, false)
    assert.ok((await alice.ls()).some((f) => f.cid === secretCid))

    const viaGateway = await gateway(`/ipfs/${secretCid}`)
    assert.equal(viaGateway.status, 403)
    assert.equal(((await viaGateway.json()) as { error: { code: string } }).error.code, 'ACCESS_DENIED')
    const viaRpc = await fetch(`${net.network.ipfsApiUrl}/api/v0/cat?arg=${secretCid}`, { method: 'POST' })
    assert.notEqual(viaRpc.status, 200)
    assert.match(await viaRpc.text(), /private|ACCESS_DENIED/)
  })

  test('a share link opens a private file through the gateway, links only within itself, and stops when revoked', async () => {
    const share = await alice.createShare(secretCid, { password: 'open sesame' })
    const url = `/share/${share.id}`
    assert.equal((await gateway(url)).status, 401)
    const r = await gateway(url, { headers: { 'x-stratos-share-password': 'open sesame' } })
    assert.equal(r.status, 200)
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(secret))
    const range = await gateway(url, {
      headers: { 'x-stratos-share-password': 'open sesame', range: 'bytes=1000-1999' },
    })
    assert.equal(range.status, 206)
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(secret.subarray(1000, 2000)))
    // The bare CID still answers ACCESS_DENIED: the link is the only way in.
    assert.equal((await gateway(`/ipfs/${secretCid}`)).status, 403)
    await alice.revokeShare(share.id)
    const gone = await gateway(url, { headers: { 'x-stratos-share-password': 'open sesame' } })
    assert.equal(gone.status, 410)
  })

  test('wrong share-link passwords lock out only the client that guessed', async () => {
    const share = await alice.createShare(secretCid, { password: 'right one' })
    const url = new URL(`${net.network.gatewayUrl}/share/${share.id}`)
    // Two clients on one machine: distinct loopback source addresses, as the gateway sees distinct users.
    const get = (from: string, password: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'HEAD',
            localAddress: from,
            headers: { 'x-stratos-share-password': password },
          },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.once('error', reject)
        req.end()
      })
    const codes: number[] = []
    for (let i = 0; i < SHARE_MAX_PASSWORD_FAILURES + 2; i++) codes.push(await get('127.0.0.2', `guess ${i}`))
    assert.deepEqual(codes.slice(0, SHARE_MAX_PASSWORD_FAILURES), Array(SHARE_MAX_PASSWORD_FAILURES).fill(401))
    assert.deepEqual(codes.slice(SHARE_MAX_PASSWORD_FAILURES), [429, 429])
    assert.equal(await get('127.0.0.3', 'right one'), 200, 'another client opens the link')
    assert.equal(await get('127.0.0.2', 'right one'), 429, 'the guessing client stays locked')
  })

  test('a read grant lets its holder read; revoked or expired, it stops at once', async () => {
    const g = await alice.createGrant({ prefixes: ['secret'] }, Date.now() + 60_000)
    const holder = await connect({ grant: g.id })
    try {
      assert.ok(
        (await collect(holder.cat(secretCid, { offset: 2 * MiB, length: 4096 }))).equals(
          secret.subarray(2 * MiB, 2 * MiB + 4096),
        ),
      )
      await alice.revokeGrant(g.id)
      await expectCode(collect(holder.cat(secretCid, { offset: 0, length: 10 })), 'GRANT_REVOKED')
    } finally {
      await holder.close()
    }
    // Long enough that a loaded CI machine still reads before the expiry; then wait until just past it.
    const shortExpiry = Date.now() + 4_000
    const short = await alice.createGrant({ cids: [secretCid] }, shortExpiry)
    const late = await connect({ grant: short.id })
    try {
      assert.equal((await collect(late.cat(secretCid, { offset: 0, length: 10 }))).length, 10)
      await new Promise((r) => setTimeout(r, Math.max(0, shortExpiry - Date.now()) + 100))
      await expectCode(late.stat(secretCid), 'GRANT_EXPIRED')
    } finally {
      await late.close()
    }
    // Bob cannot grant what he does not own.
    await expectCode(bob.createGrant({ cids: [secretCid] }, Date.now() + 60_000), 'NOT_OWNER')
  })

  test('a private folder: shared, its files open within the link; published, its files are public', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stratos-e2e-access-'))
    try {
      mkdirSync(join(root, 'album'))
      const photo = randomBytes(200_000)
      writeFileSync(join(root, 'album', 'a.jpg'), photo)
      writeFileSync(join(root, 'album', 'b.txt'), 'hello')
      const dir = await alice.putDirectory(join(root, 'album'))
      const fileCid = dir.entries!.find((e) => e.path === 'a.jpg')!.cid
      assert.equal((await gateway(`/ipfs/${dir.cid}/a.jpg`)).status, 403)
      const share = await alice.createShare(dir.cid)
      const listing = await gateway(`/share/${share.id}/`)
      assert.equal(listing.status, 200)
      const html = await listing.text()
      assert.ok(html.includes('href="./a.jpg"'), 'entries link within the share')
      assert.ok(!html.includes('/ipfs/'), 'no link leaves the share for /ipfs/')
      const viaShare = await gateway(`/share/${share.id}/a.jpg`)
      assert.equal(viaShare.status, 200)
      assert.ok(Buffer.from(await viaShare.arrayBuffer()).equals(photo))
      await alice.setPublic(dir.cid, true)
      const viaIpfs = await gateway(`/ipfs/${dir.cid}/a.jpg`)
      assert.equal(viaIpfs.status, 200)
      assert.ok(Buffer.from(await viaIpfs.arrayBuffer()).equals(photo))
      assert.equal((await anon.stat(fileCid)).public, true)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  test("strangers' reads of a public file stop at the owner's budget; the owner still reads", async () => {
    const data = randomBytes(MiB)
    const { cid } = await alice.put(data, { name: 'public.bin', public: true })
    assert.ok((await anon.ls()).some((f) => f.cid === cid))
    const viaGateway = await gateway(`/ipfs/${cid}`)
    assert.equal(viaGateway.status, 200)
    assert.ok(Buffer.from(await viaGateway.arrayBuffer()).equals(data))
    // One whole read moves k data shards = 1 MiB here: a 1.5 MiB budget allows one per epoch.
    await alice.setBudget(1.5 * MiB, { cid })
    let refused = false
    for (let i = 0; i < 6 && !refused; i++) {
      // A fresh client each time: nothing cached, every read asks the meta node for tickets.
      const stranger = await connect()
      try {
        assert.ok((await collect(stranger.cat(cid))).equals(data))
      } catch (e) {
        assert.ok(isStratosError(e, 'BUDGET_EXCEEDED'), `expected BUDGET_EXCEEDED, got ${String(e)}`)
        refused = true
      } finally {
        await stranger.close()
      }
    }
    assert.ok(refused, "strangers' reads were never refused")
    assert.ok((await collect(alice.cat(cid))).equals(data), 'the owner still reads')
    const budgets = await alice.budgets()
    assert.equal(budgets.find((b) => b.cid === cid)?.bytesPerEpoch, 1.5 * MiB)
    // Private again: strangers are refused outright.
    await alice.setPublic(cid, false)
    await expectCode(anon.stat(cid), 'ACCESS_DENIED')
  })
})
