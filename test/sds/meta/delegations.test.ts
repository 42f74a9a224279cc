/**
 * Delegations at the meta node over its real HTTP API (src/sds/meta/delegations.ts): a wallet names a delegate key
 * and scopes; the delegate then creates uploads, signs session tokens and deletes for the wallet; it cannot act
 * outside its scopes, for another wallet, on non-delegable actions, or after revocation or expiry; only the wallet's
 * own signature creates, lists and revokes delegations; nonces are not replayable.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { DelegatedWallet, signAsWallet, type WalletSigner } from '../../../src/sds/protocol/signing.ts'
import type { DelegationScope } from '../../../src/sds/protocol/messages.ts'
import { ORDER_KEY, chainId, expectCode, nonce, startHarness, walletA, walletB, type Harness } from './helpers.ts'

const DELEGATE = NodeKey.generate(seededRandom(99))
const DELEGATE_KEY = toBase64Url(DELEGATE.publicKey)

function base(h: Harness, signer: WalletSigner) {
  return { chainId, signer: signer.address, nonce: nonce(h.random), expiresAt: h.clock.now() + 60_000 }
}

function create(h: Harness, scopes: DelegationScope[], ttlMs = 3_600_000, delegate = DELEGATE_KEY) {
  return h.client.createDelegation(
    signAsWallet(walletA, {
      ...base(h, walletA),
      action: 'delegation.create',
      delegate,
      scopes,
      delegationExpiresAt: h.clock.now() + ttlMs,
      label: 'test',
    }),
  )
}

function uploadCreate(h: Harness, signer: WalletSigner) {
  return h.client.createUpload(
    signAsWallet(signer, {
      ...base(h, signer),
      action: 'upload.create',
      orderKey: ORDER_KEY,
      k: 4,
      m: 2,
      segmentSize: 1024,
      size: null,
    } as const),
  )
}

/** A session token signed by the delegate for walletA: listing walletA's files with it. */
function delegatedSession(h: Harness, signer: WalletSigner): MetaClient {
  const token = signAsWallet(signer, {
    ...base(h, signer),
    action: 'access.session',
    orderKey: ORDER_KEY,
  } as const)
  const header = `session.${toBase64Url(Buffer.from(JSON.stringify(token)))}`
  return new MetaClient(h.meta.url, { access: () => header })
}

test('a delegate acts for its wallet within its scopes until revoked', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const d = await create(h, ['upload', 'read', 'list'])
    assert.equal(d.owner, walletA.address)
    assert.equal(d.delegate, DELEGATE_KEY)
    assert.equal(d.state, 'active')
    assert.deepEqual((await h.client.delegation(d.id)).scopes, ['upload', 'read', 'list'])
    const asA = new DelegatedWallet(walletA.address, d.id, DELEGATE)
    // upload scope: the session belongs to walletA.
    const session = await uploadCreate(h, asA)
    assert.match(session.uploadId, /^[0-9a-f]{32}$/)
    // read + list scopes: a delegated session token lists walletA's files.
    assert.deepEqual((await delegatedSession(h, asA).listFiles({ owner: walletA.address })).files, [])
    // Not for another wallet: the delegation names walletA.
    await expectCode(uploadCreate(h, new DelegatedWallet(walletB.address, d.id, DELEGATE)), 'DELEGATION_NOT_FOUND')
    // Not with another key.
    await expectCode(
      uploadCreate(h, new DelegatedWallet(walletA.address, d.id, NodeKey.generate(seededRandom(5)))),
      'DELEGATION_NOT_FOUND',
    )
    // No delete scope.
    await expectCode(
      h.client.deleteFile(
        'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
        signAsWallet(asA, {
          ...base(h, asA),
          action: 'file.delete',
          cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o',
        } as const),
      ),
      'DELEGATION_SCOPE',
    )
    // Never delegable: grants, and delegations themselves (a delegate cannot widen its own power).
    await expectCode(
      h.client.createGrant(
        signAsWallet(asA, {
          ...base(h, asA),
          action: 'grant.create',
          scope: { prefixes: ['x'] },
          grantExpiresAt: h.clock.now() + 60_000,
        } as const),
      ),
      'INVALID_SIGNATURE',
    )
    await expectCode(
      h.client.createDelegation(
        signAsWallet(asA, {
          ...base(h, asA),
          action: 'delegation.create',
          delegate: DELEGATE_KEY,
          scopes: ['delete'],
          delegationExpiresAt: h.clock.now() + 60_000,
        }),
      ),
      'INVALID_SIGNATURE',
    )
    // Listing is the wallet's; revoking is the wallet's and acts at once, also on a cached session token.
    const listRequest = signAsWallet(walletA, { ...base(h, walletA), action: 'delegation.list' } as const)
    const listed = await h.client.listDelegations(listRequest)
    assert.deepEqual(
      listed.map((x) => x.id),
      [d.id],
    )
    // A signed list is answered once: its nonce is recorded like every other wallet request's.
    await expectCode(h.client.listDelegations(listRequest), 'REPLAYED_NONCE')
    const reader = delegatedSession(h, asA)
    await reader.listFiles({ owner: walletA.address })
    await expectCode(
      h.client.revokeDelegation(
        d.id,
        signAsWallet(walletB, { ...base(h, walletB), action: 'delegation.revoke', id: d.id }),
      ),
      'NOT_OWNER',
    )
    const revoke = signAsWallet(walletA, { ...base(h, walletA), action: 'delegation.revoke', id: d.id } as const)
    assert.equal((await h.client.revokeDelegation(d.id, revoke)).state, 'revoked')
    await expectCode(h.client.revokeDelegation(d.id, revoke), 'REPLAYED_NONCE')
    await expectCode(uploadCreate(h, asA), 'DELEGATION_REVOKED')
    await expectCode(reader.listFiles({ owner: walletA.address }), 'DELEGATION_REVOKED')
  } finally {
    await h.close()
  }
})

test('an expired delegation stops; a list-less delegation cannot list', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const d = await create(h, ['upload', 'read'], 10_000)
    const asA = new DelegatedWallet(walletA.address, d.id, DELEGATE)
    await expectCode(delegatedSession(h, asA).listFiles({ owner: walletA.address }), 'ACCESS_DENIED')
    await uploadCreate(h, asA)
    h.clock.advance(10_001)
    await expectCode(uploadCreate(h, asA), 'DELEGATION_EXPIRED')
    assert.equal((await h.client.delegation(d.id)).state, 'expired')
    await expectCode(create(h, ['upload'], -1), 'BAD_REQUEST')
  } finally {
    await h.close()
  }
})
