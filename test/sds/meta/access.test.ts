/**
 * Access control at the meta node over its real HTTP API (src/sds/meta/access.ts, grants.ts; docs/security.md):
 * session tokens, private and public files and who pays, read grants (CIDs and name prefixes), public-read budgets,
 * and signed calls on upload sessions.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { randomHex, seededRandom } from '../../../src/util/components.ts'
import { ACCESS_SESSION_MAX_TTL_MS, PUBLIC_BUDGET_WINDOW_MS } from '../../../src/limits.ts'
import { sessionCallBytes, signAsWallet } from '../../../src/sds/protocol/signing.ts'
import { shardSizeFor } from '../../../src/sds/protocol/shard.ts'
import type { WalletKey } from '../../../src/crypto/wallet-key.ts'
import {
  ORDER_KEY,
  chainId,
  expectCode,
  nonce,
  planUpload,
  sc,
  sessionHeader,
  shardIds,
  signCreate,
  startHarness,
  uploadFile,
  walletA,
  walletB,
  type Harness,
} from './helpers.ts'

const OTHER_KEY = toBase64Url(NodeKey.generate(seededRandom(777)).publicKey)

function base(h: Harness, wallet: WalletKey) {
  return { chainId, signer: wallet.address, nonce: nonce(h.random), expiresAt: h.clock.now() + 60_000 }
}

test('private files: only owners read, stat and list; a session names its order key; tokens expire', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 3000 })
    assert.equal(file.public, false)
    const anon = h.as(null)
    const bob = h.as(walletB)
    for (const c of [anon, bob]) {
      await expectCode(c.read(file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
      await expectCode(c.file(file.cid), 'ACCESS_DENIED')
      await expectCode(c.fileDag(file.cid), 'ACCESS_DENIED')
      await expectCode(c.fileTraffic(file.cid), 'ACCESS_DENIED')
    }
    assert.deepEqual((await h.client.file(file.cid)).owners, [walletA.address])
    // A's session token names ORDER_KEY: the tickets it obtains are spendable by that key only.
    await expectCode(h.client.read(file.cid, { orderKey: OTHER_KEY }), 'ACCESS_DENIED')
    assert.equal((await h.client.read(file.cid, { orderKey: ORDER_KEY })).tickets[0][0].payload.payer, walletA.address)
    // A token past its expiry, or claiming more than the longest life, is refused.
    const stale = sessionHeader(h.clock, walletA, { ttlMs: 1_000 })
    h.clock.advance(60_000)
    await expectCode(anon.withAccess(() => stale).file(file.cid), 'REQUEST_EXPIRED')
    await expectCode(
      anon
        .withAccess(() => sessionHeader(h.clock, walletA, { ttlMs: ACCESS_SESSION_MAX_TTL_MS + 3_600_000 }))
        .file(file.cid),
      'BAD_REQUEST',
    )
    // A forged token (B's signature, A's address) does not verify.
    const forged = JSON.parse(Buffer.from(sessionHeader(h.clock, walletB).slice(8), 'base64url').toString()) as {
      payload: { signer: string }
    }
    forged.payload.signer = walletA.address
    await expectCode(
      anon.withAccess(() => `session.${toBase64Url(Buffer.from(JSON.stringify(forged)))}`).file(file.cid),
      'INVALID_SIGNATURE',
    )
  } finally {
    await h.close()
  }
})

test('public files: anyone reads, the publisher pays; unpublished, strangers are refused again', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 3000, public: true })
    assert.equal(file.public, true)
    const anon = h.as(null)
    const view = await anon.file(file.cid)
    assert.equal(view.owners, undefined, 'owners are shown to owners only')
    assert.equal((await anon.read(file.cid, { orderKey: OTHER_KEY })).tickets[0][0].payload.payer, walletA.address)
    assert.deepEqual(
      (await anon.listFiles()).files.map((f) => f.cid),
      [file.cid],
    )
    // B stores the same content (private): B's own reads are B's; strangers still read it as A's public file.
    await uploadFile(h, walletB, { size: 3000, seed: 1 })
    assert.equal(
      (await h.as(walletB).read(file.cid, { orderKey: ORDER_KEY })).tickets[0][0].payload.payer,
      walletB.address,
    )
    const unpublish = signAsWallet(walletA, {
      ...base(h, walletA),
      action: 'file.visibility',
      cid: file.cid,
      public: false,
    } as const)
    await expectCode(
      h.client.setVisibility(
        file.cid,
        signAsWallet(walletB, {
          ...base(h, walletB),
          action: 'file.visibility',
          cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
          public: true,
        } as const),
      ),
      'BAD_REQUEST',
    )
    assert.equal((await h.client.setVisibility(file.cid, unpublish)).public, false)
    await expectCode(anon.read(file.cid, { orderKey: OTHER_KEY }), 'ACCESS_DENIED')
    assert.deepEqual((await anon.listFiles()).files, [])
    await expectCode(h.client.setVisibility(file.cid, unpublish), 'REPLAYED_NONCE')
  } finally {
    await h.close()
  }
})

test('read grants: by CID or name prefix, paid by the grantor; revoked or expired they stop; only owners grant', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const photo = await uploadFile(h, walletA, { size: 2000, seed: 11, name: 'photos-2026-01.jpg' })
    const notes = await uploadFile(h, walletA, { size: 2000, seed: 12, name: 'notes.txt' })
    const create = (scope: { cids?: string[]; prefixes?: string[] }, ttl = 60_000) =>
      h.client.createGrant(
        signAsWallet(walletA, {
          ...base(h, walletA),
          action: 'grant.create',
          scope,
          grantExpiresAt: h.clock.now() + ttl,
        } as const),
      )
    const byPrefix = await create({ prefixes: ['photos-'] })
    assert.equal(byPrefix.state, 'active')
    const holder = h.as(null).withAccess(() => `grant.${byPrefix.id}`)
    assert.equal(
      (await holder.read(photo.file.cid, { orderKey: OTHER_KEY })).tickets[0][0].payload.payer,
      walletA.address,
    )
    await expectCode(holder.read(notes.file.cid, { orderKey: OTHER_KEY }), 'ACCESS_DENIED')
    const byCid = await create({ cids: [notes.file.cid] }, 5_000)
    assert.equal(
      (
        await h
          .as(null)
          .withAccess(() => `grant.${byCid.id}`)
          .file(notes.file.cid)
      ).cid,
      notes.file.cid,
    )

    const grants = await h.client.listGrants(
      signAsWallet(walletA, { ...base(h, walletA), action: 'grant.list' } as const),
    )
    assert.deepEqual(grants.map((g) => g.id).sort(), [byPrefix.id, byCid.id].sort())
    await expectCode(
      h.client.revokeGrant(
        byPrefix.id,
        signAsWallet(walletB, { ...base(h, walletB), action: 'grant.revoke', id: byPrefix.id } as const),
      ),
      'NOT_OWNER',
    )
    await h.client.revokeGrant(
      byPrefix.id,
      signAsWallet(walletA, { ...base(h, walletA), action: 'grant.revoke', id: byPrefix.id } as const),
    )
    await expectCode(holder.read(photo.file.cid, { orderKey: OTHER_KEY }), 'GRANT_REVOKED')
    h.clock.advance(5_000)
    await expectCode(
      h
        .as(null)
        .withAccess(() => `grant.${byCid.id}`)
        .file(notes.file.cid),
      'GRANT_EXPIRED',
    )
    await expectCode(
      h
        .as(null)
        .withAccess(() => `grant.${'A'.repeat(22)}`)
        .file(notes.file.cid),
      'GRANT_NOT_FOUND',
    )
    // B cannot grant A's file; grants need a scope and a future expiry.
    await expectCode(
      h.client.createGrant(
        signAsWallet(walletB, {
          ...base(h, walletB),
          action: 'grant.create',
          scope: { cids: [notes.file.cid] },
          grantExpiresAt: h.clock.now() + 1_000,
        } as const),
      ),
      'NOT_OWNER',
    )
    await expectCode(create({}), 'BAD_REQUEST')
    await expectCode(create({ prefixes: ['x'] }, -1), 'BAD_REQUEST')
  } finally {
    await h.close()
  }
})

test("budgets: strangers' reads of public files stop at the cap per epoch, per file and per wallet; the owner reads on", async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    // 3000 bytes in 1024-byte segments, k = 4: a whole read is 4 × (256 + 256 + 240) = 3008 bytes of limits.
    const a = await uploadFile(h, walletA, { size: 3000, seed: 21, public: true })
    const b = await uploadFile(h, walletA, { size: 3000, seed: 22, public: true })
    const anon = h.as(null)
    const setBudget = (bytesPerEpoch: number | null, cid?: string) =>
      h.client.setBudget(
        signAsWallet(walletA, {
          ...base(h, walletA),
          action: 'budget.set',
          ...(cid ? { cid } : {}),
          bytesPerEpoch,
        } as const),
      )
    const perFile = await setBudget(7_000, a.file.cid)
    assert.equal(perFile.bytesPerEpoch, 7_000)
    await anon.read(a.file.cid, { orderKey: OTHER_KEY })
    await anon.read(a.file.cid, { orderKey: OTHER_KEY })
    const refused = await anon.read(a.file.cid, { orderKey: OTHER_KEY }).then(
      () => undefined,
      (e: unknown) => e as { code: string; details: Record<string, unknown> },
    )
    assert.equal(refused?.code, 'BUDGET_EXCEEDED')
    assert.equal(refused?.details.spentBytes, 6_016)
    // The owner's reads are not counted and still work; the other file has no cap of its own.
    await h.client.read(a.file.cid, { orderKey: ORDER_KEY })
    for (let i = 0; i < 3; i++) await anon.read(b.file.cid, { orderKey: OTHER_KEY })
    // A wallet-wide cap counts every public file's strangers' reads from the moment it is set.
    await setBudget(4_000)
    await anon.read(b.file.cid, { orderKey: OTHER_KEY })
    await expectCode(anon.read(b.file.cid, { orderKey: OTHER_KEY }), 'BUDGET_EXCEEDED')
    // The next epoch starts afresh.
    h.clock.advance(PUBLIC_BUDGET_WINDOW_MS)
    await anon.read(b.file.cid, { orderKey: OTHER_KEY })
    await expectCode(anon.read(a.file.cid, { orderKey: OTHER_KEY }), 'BUDGET_EXCEEDED') // the wallet's 4,000: 3,008 used
    const list = await h.client.listBudgets(
      signAsWallet(walletA, { ...base(h, walletA), action: 'budget.list' } as const),
    )
    assert.deepEqual(
      list.map((x) => [x.cid ?? '*', x.bytesPerEpoch, x.spentBytes]).sort(),
      [
        ['*', 4_000, 3_008],
        [a.file.cid, 7_000, 0],
      ].sort(),
    )
    await setBudget(null)
    await anon.read(a.file.cid, { orderKey: OTHER_KEY })
    // Only owners set a file's budget.
    await expectCode(
      h.client.setBudget(
        signAsWallet(walletB, {
          ...base(h, walletB),
          action: 'budget.set',
          cid: a.file.cid,
          bytesPerEpoch: 0,
        } as const),
      ),
      'NOT_OWNER',
    )
  } finally {
    await h.close()
  }
})

test('upload sessions: calls signed by the session key only, never replayed; a planned segment keeps its shards', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const up = await planUpload(h, walletA, { size: 2048 })
    const stranger = NodeKey.generate(seededRandom(5))
    const forge = (action: 'upload.plan' | 'upload.replace' | 'upload.abort', body: Record<string, never> | object) => {
      const n = randomHex(h.random, 16)
      const expiresAt = h.clock.now() + 60_000
      const signature = toBase64Url(
        stranger.sign(
          sessionCallBytes({ chainId, uploadId: up.uploadId, action, body: body as never, nonce: n, expiresAt }),
        ),
      )
      return { ...body, auth: { nonce: n, expiresAt, signature } }
    }
    const replan = { index: 0, size: 1024, shardSize: shardSizeFor(1024, 4), shards: shardIds(h.random, 6) }
    await expectCode(h.client.abort(up.uploadId, forge('upload.abort', {}) as never), 'INVALID_SIGNATURE')
    await expectCode(h.client.planSegment(up.uploadId, forge('upload.plan', replan) as never), 'INVALID_SIGNATURE')
    await expectCode(
      h.client.replaceShard(up.uploadId, forge('upload.replace', { segment: 0, shardIndex: 1, exclude: [] }) as never),
      'INVALID_SIGNATURE',
    )
    // A signature over other fields than those sent.
    const signed = sc(h, up.uploadId, 'upload.plan', replan)
    await expectCode(h.client.planSegment(up.uploadId, { ...signed, index: 1 }), 'INVALID_SIGNATURE')
    // The owner may not re-plan with other shards, may repeat its plan of the same shards, never replay a call.
    await expectCode(h.client.planSegment(up.uploadId, signed), 'CONFLICT')
    const same = sc(h, up.uploadId, 'upload.plan', {
      index: 0,
      size: 1024,
      shardSize: shardSizeFor(1024, 4),
      shards: up.shards[0],
    })
    await h.client.planSegment(up.uploadId, same)
    await expectCode(h.client.planSegment(up.uploadId, same), 'REPLAYED_NONCE')
    // Expired calls are refused.
    const old = sc(h, up.uploadId, 'upload.abort', {})
    h.clock.advance(120_000)
    await expectCode(h.client.abort(up.uploadId, old), 'REQUEST_EXPIRED')
    const s2 = await h.client.createUpload(signCreate(h, walletA, { size: 10 }))
    await h.client.abort(s2.uploadId, sc(h, s2.uploadId, 'upload.abort', {}))
    await expectCode(h.client.abort(s2.uploadId, sc(h, s2.uploadId, 'upload.abort', {})), 'UPLOAD_NOT_FOUND')
  } finally {
    await h.close()
  }
})
