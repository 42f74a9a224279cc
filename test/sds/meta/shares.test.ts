/**
 * Share links at the meta node over its real HTTP API: create (owners only, signed, nonce), resolve (id + password),
 * expiry, revocation, listing, bounded password attempts, persistence across a restart, and what is stored on disk.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { SHARE_MAX_PASSWORD_FAILURES, SHARE_PASSWORD_WINDOW_MS, SHARE_SCRYPT_N } from '../../../src/limits.ts'
import { signAsWallet } from '../../../src/sds/protocol/signing.ts'
import { hashSharePassword, type SharePasswordHash } from '../../../src/sds/protocol/share-password.ts'
import type { ShareCreatePayload } from '../../../src/sds/protocol/messages.ts'
import { seededRandom } from '../../../src/util/components.ts'
import {
  chainId,
  expectCode,
  nonce,
  signDelete,
  startHarness,
  uploadFile,
  walletA,
  walletB,
  ORDER_KEY,
  type Harness,
} from './helpers.ts'
import type { WalletKey } from '../../../src/crypto/wallet-key.ts'

const random = seededRandom(99)

function signShare(
  h: Harness,
  wallet: WalletKey,
  p: { cid: string; linkExpiresAt?: number | null; password?: SharePasswordHash | null; nonce?: string },
) {
  const payload: ShareCreatePayload = {
    chainId,
    signer: wallet.address,
    nonce: p.nonce ?? nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
    action: 'share.create',
    cid: p.cid,
    linkExpiresAt: p.linkExpiresAt ?? null,
    password: p.password ?? null,
  }
  return signAsWallet(wallet, payload)
}

function signList(h: Harness, wallet: WalletKey) {
  return signAsWallet(wallet, {
    chainId,
    signer: wallet.address,
    nonce: nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
    action: 'share.list',
  } as const)
}

function signRevoke(h: Harness, wallet: WalletKey, id: string) {
  return signAsWallet(wallet, {
    chainId,
    signer: wallet.address,
    nonce: nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
    action: 'share.revoke',
    id,
  } as const)
}

test('share links: create, resolve, list, revoke; only owners share, only creators revoke, requests do not replay', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 3000 })
    const create = signShare(h, walletA, { cid: file.cid })
    const share = await h.client.createShare(create)
    assert.match(share.id, /^[A-Za-z0-9_-]{22}$/)
    assert.deepEqual(
      {
        cid: share.cid,
        kind: share.kind,
        owner: share.owner,
        hasPassword: share.hasPassword,
        state: share.state,
        expiresAt: share.expiresAt,
      },
      { cid: file.cid, kind: 'file', owner: walletA.address, hasPassword: false, state: 'active', expiresAt: null },
    )
    await expectCode(h.client.createShare(create), 'REPLAYED_NONCE')

    const resolved = await h.client.resolveShare(share.id)
    const { access, ...link } = resolved
    assert.deepEqual(link, { id: share.id, cid: file.cid, kind: 'file', size: 3000, expiresAt: null })
    // The link's access token reads the private file (paid by the link's creator); strangers without it cannot.
    assert.match(access, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
    const viaLink = h.as(null).withAccess(() => `share.${access}`)
    assert.equal((await viaLink.read(file.cid, { orderKey: ORDER_KEY })).tickets[0][0].payload.payer, walletA.address)
    await expectCode(h.as(null).read(file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
    await expectCode(
      h
        .as(null)
        .withAccess(() => `share.${share.id}.${'A'.repeat(43)}`)
        .read(file.cid, { orderKey: ORDER_KEY }),
      'ACCESS_DENIED',
    )

    // Two links to the same file are two ids.
    const second = await h.client.createShare(signShare(h, walletA, { cid: file.cid }))
    assert.notEqual(second.id, share.id)
    assert.deepEqual(
      (await h.client.listShares(signList(h, walletA))).map((s) => s.id).sort(),
      [share.id, second.id].sort(),
    )
    assert.deepEqual(await h.client.listShares(signList(h, walletB)), [])

    await expectCode(h.client.createShare(signShare(h, walletB, { cid: file.cid })), 'NOT_OWNER')
    await expectCode(
      h.client.createShare(signShare(h, walletA, { cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o' })),
      'FILE_NOT_FOUND',
    )
    await expectCode(
      h.client.createShare(signShare(h, walletA, { cid: file.cid, linkExpiresAt: h.clock.now() - 1 })),
      'BAD_REQUEST',
    )
    await expectCode(h.client.revokeShare(share.id, signRevoke(h, walletB, share.id)), 'NOT_OWNER')
    await expectCode(h.client.revokeShare(share.id, signRevoke(h, walletA, second.id)), 'BAD_REQUEST')

    const revoked = await h.client.revokeShare(share.id, signRevoke(h, walletA, share.id))
    assert.equal(revoked.state, 'revoked')
    // Revocation stops the link's access token at once.
    await expectCode(viaLink.read(file.cid, { orderKey: ORDER_KEY }), 'SHARE_REVOKED')
    assert.equal(revoked.revokedAt, h.clock.now())
    await expectCode(h.client.resolveShare(share.id), 'SHARE_REVOKED')
    assert.deepEqual(
      (await h.client.listShares(signList(h, walletA))).map((s) => s.id),
      [second.id],
    )
    // Idempotent.
    assert.equal((await h.client.revokeShare(share.id, signRevoke(h, walletA, share.id))).state, 'revoked')

    await expectCode(h.client.resolveShare('AAAAAAAAAAAAAAAAAAAAAA'), 'SHARE_NOT_FOUND')
    await expectCode(h.client.resolveShare('not-an-id'), 'BAD_REQUEST')

    // The file goes away: its links stop working.
    await h.client.deleteFile(file.cid, signDelete(h, walletA, file.cid))
    await expectCode(h.client.resolveShare(second.id), 'FILE_NOT_FOUND')
  } finally {
    await h.close()
  }
})

test('share links expire at their expiry and list as expired', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 1000 })
    const expiresAt = h.clock.now() + 3_600_000
    const share = await h.client.createShare(signShare(h, walletA, { cid: file.cid, linkExpiresAt: expiresAt }))
    assert.equal(share.expiresAt, expiresAt)
    assert.equal((await h.client.resolveShare(share.id)).expiresAt, expiresAt)
    h.clock.set(expiresAt - 1)
    await h.client.resolveShare(share.id)
    h.clock.set(expiresAt)
    await expectCode(h.client.resolveShare(share.id), 'SHARE_EXPIRED')
    const [listed] = await h.client.listShares(signList(h, walletA))
    assert.equal(listed.state, 'expired')
  } finally {
    await h.close()
  }
})

test('password links: only the scrypt hash is stored, wrong passwords are bounded, the link survives a restart', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const { file } = await uploadFile(h, walletA, { size: 2000 })
    const password = 'correct horse battery staple'
    const hash = await hashSharePassword(password, random)
    await expectCode(
      h.client.createShare(signShare(h, walletA, { cid: file.cid, password: { ...hash, N: SHARE_SCRYPT_N / 2 } })),
      'BAD_REQUEST',
    )
    await expectCode(
      h.client.createShare(signShare(h, walletA, { cid: file.cid, password: { ...hash, salt: 'AAAA' } })),
      'BAD_REQUEST',
    )
    const share = await h.client.createShare(signShare(h, walletA, { cid: file.cid, password: hash }))
    assert.equal(share.hasPassword, true)

    await expectCode(h.client.resolveShare(share.id), 'PASSWORD_REQUIRED')
    await expectCode(h.client.resolveShare(share.id, { password: '' }), 'PASSWORD_REQUIRED')
    await expectCode(h.client.resolveShare(share.id, { password: 'wrong' }), 'BAD_PASSWORD')
    assert.equal((await h.client.resolveShare(share.id, { password })).cid, file.cid)
    // Again: served from the verified-password memory (no scrypt), same answer.
    assert.equal((await h.client.resolveShare(share.id, { password })).cid, file.cid)

    // The index on disk holds the hash, never the password.
    const index = join(h.dir, 'index')
    for (const f of readdirSync(index))
      assert.ok(!readFileSync(join(index, f)).includes(Buffer.from(password)), `${f} contains the password`)

    // Restart: the link and its password survive, and so does this client's wrong-password count (one, in the index).
    await h.restart()
    assert.equal((await h.client.resolveShare(share.id, { password })).cid, file.cid)

    // Wrong passwords (some concurrently) up to the limit, then refused without checking, even the right one.
    await Promise.all(
      Array.from({ length: SHARE_MAX_PASSWORD_FAILURES - 3 }, (_, i) =>
        expectCode(h.client.resolveShare(share.id, { password: `guess-${i}` }), 'BAD_PASSWORD'),
      ),
    )
    await expectCode(h.client.resolveShare(share.id, { password: 'guess-a' }), 'BAD_PASSWORD')
    await expectCode(h.client.resolveShare(share.id, { password: 'guess-b' }), 'BAD_PASSWORD')
    await expectCode(h.client.resolveShare(share.id, { password: 'guess-c' }), 'TOO_MANY_ATTEMPTS')
    await expectCode(h.client.resolveShare(share.id, { password }), 'TOO_MANY_ATTEMPTS')
    h.clock.advance(SHARE_PASSWORD_WINDOW_MS)
    assert.equal((await h.client.resolveShare(share.id, { password })).cid, file.cid)
  } finally {
    await h.close()
  }
})

test('a link ends when its creator stops owning the file, even while another owner keeps it', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    // The same content uploaded by two wallets: one record, two owners.
    const { file } = await uploadFile(h, walletA, { size: 1500, seed: 3 })
    const again = await uploadFile(h, walletB, { size: 1500, seed: 3 })
    assert.equal(again.file.cid, file.cid)
    assert.deepEqual([...(again.file.owners ?? [])].sort(), [walletA.address, walletB.address].sort())
    const fromA = await h.client.createShare(signShare(h, walletA, { cid: file.cid }))
    const fromB = await h.client.createShare(signShare(h, walletB, { cid: file.cid }))
    await h.client.deleteFile(file.cid, signDelete(h, walletA, file.cid))
    await expectCode(h.client.resolveShare(fromA.id), 'SHARE_REVOKED')
    assert.equal((await h.client.resolveShare(fromB.id)).cid, file.cid)
  } finally {
    await h.close()
  }
})

test('share ids never start with "-" (a command line would take them for options) and are never reused', async () => {
  const { newShareId } = await import('../../../src/sds/meta/shares.ts')
  // 0xf8 makes the first base64url character '-' (index 62); the second draw is taken; the third is fine.
  const draws = [new Uint8Array(16).fill(0xf8), new Uint8Array(16).fill(1), new Uint8Array(16).fill(2)]
  let n = 0
  const id = newShareId(
    () => draws[n++],
    (candidate) => candidate === newShareIdOf(draws[1]),
  )
  assert.equal(n, 3)
  assert.ok(!id.startsWith('-'))
  assert.equal(id, newShareIdOf(draws[2]))
})

function newShareIdOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}
