/**
 * Per-request access checks of a meta node over PostgreSQL (src/sds/meta/access.ts identifyAsync and
 * authorizeReadAsync; files.ts list, dag, blockHolders): a read grant's and a share link's look-ups, their scopes (an
 * owner's names, a directory tree), file listings, DAG blocks and block holders are async read transactions
 * (MetaStore.read), not synchronous reads through the worker bridge (engine/pg-bridge.ts), which block the event loop
 * for their round trip: the requests below make no bridge call at all (a share link's resolution neither). The same rules on LMDB: access.test.ts,
 * shares.test.ts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { signAsWallet } from '../../../src/sds/protocol/signing.ts'
import { dagPbBlockCid } from '../../../src/sds/meta/cid.ts'
import { PgBridge } from '../../../src/sds/meta/engine/pg-bridge.ts'
import { createDatabase, postgresSkip, startPostgres } from '../../support/postgres.ts'
import {
  ORDER_KEY,
  chainId,
  expectCode,
  nonce,
  signCommit,
  signCreate,
  startHarness,
  uploadFile,
  walletA,
  walletB,
} from './helpers.ts'

const skip = postgresSkip()
test('over PostgreSQL: grants, share links and listings are checked without blocking reads', { skip }, async (t) => {
  const server = await startPostgres()
  t.after(() => server.stop())
  const index = await createDatabase(server)
  const h = await startHarness({ nodes: 6, index })
  t.after(() => h.close())
  const base = () => ({ chainId, signer: walletA.address, nonce: nonce(h.random), expiresAt: h.clock.now() + 60_000 })
  const photo = await uploadFile(h, walletA, { size: 2000, seed: 11, name: 'photos-2026-01.jpg' })
  const notes = await uploadFile(h, walletA, { size: 2000, seed: 12, name: 'notes.txt' })
  const open = await uploadFile(h, walletB, { size: 2000, seed: 13, public: true })
  const grant = await h.client.createGrant(
    signAsWallet(walletA, {
      ...base(),
      action: 'grant.create',
      scope: { prefixes: ['photos-'] },
      grantExpiresAt: h.clock.now() + 60_000,
    } as const),
  )
  const share = await h.client.createShare(
    signAsWallet(walletA, {
      ...base(),
      action: 'share.create',
      cid: notes.file.cid,
      linkExpiresAt: null,
      password: null,
    } as const),
  )
  // Records cached as after any first read (a cache miss is an async read already, files.ts #load).
  await h.client.file(photo.file.cid)
  await h.client.file(notes.file.cid)

  const before = PgBridge.calls
  const { access, ...link } = await h.client.resolveShare(share.id)
  assert.deepEqual(link, {
    id: share.id,
    cid: notes.file.cid,
    kind: 'file',
    name: 'notes.txt',
    size: 2000,
    expiresAt: null,
  })
  const byGrant = h.as(null).withAccess(() => `grant.${grant.id}`)
  assert.equal(
    (await byGrant.read(photo.file.cid, { orderKey: ORDER_KEY })).tickets[0]![0]!.payload.payer,
    walletA.address,
  )
  assert.equal((await byGrant.file(photo.file.cid)).cid, photo.file.cid)
  await expectCode(byGrant.read(notes.file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
  const byLink = h.as(null).withAccess(() => `share.${access}`)
  assert.equal(
    (await byLink.read(notes.file.cid, { orderKey: ORDER_KEY })).tickets[0]![0]!.payload.payer,
    walletA.address,
  )
  await expectCode(byLink.read(photo.file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
  await expectCode(
    h
      .as(null)
      .withAccess(() => `grant.${'A'.repeat(22)}`)
      .file(photo.file.cid),
    'GRANT_NOT_FOUND',
  )
  // The DAG's blocks, and which stored DAGs hold one of them (the gateway asks for every block it resolves).
  assert.deepEqual(await byGrant.fileDag(photo.file.cid), photo.blocks.map(toBase64Url))
  assert.deepEqual(await byGrant.blockHolders(photo.file.cid), [photo.file.cid])
  await expectCode(byGrant.blockHolders(notes.file.cid), 'FILE_NOT_FOUND')
  const mine = await h.client.listFiles({ owner: walletA.address })
  assert.deepEqual(mine.files.map((f) => f.cid).sort(), [photo.file.cid, notes.file.cid].sort())
  const page = await h.as(null).listFiles({ limit: 1 })
  assert.deepEqual(
    page.files.map((f) => f.cid),
    [open.file.cid],
  )
  assert.equal(PgBridge.calls - before, 0, 'no synchronous PostgreSQL call on these requests')

  // Revoked: the next use sees it at once (the grant is read on every use).
  await h.client.revokeGrant(
    grant.id,
    signAsWallet(walletA, { ...base(), action: 'grant.revoke', id: grant.id } as const),
  )
  await expectCode(byGrant.read(photo.file.cid, { orderKey: ORDER_KEY }), 'GRANT_REVOKED')
})

test('over PostgreSQL: a share link, a grant and publishing reach through a directory tree 70 levels deep', {
  skip,
}, async (t) => {
  const server = await startPostgres()
  t.after(() => server.stop())
  const index = await createDatabase(server)
  const h = await startHarness({ nodes: 6, index })
  t.after(() => h.close())
  const base = () => ({ chainId, signer: walletA.address, nonce: nonce(h.random), expiresAt: h.clock.now() + 60_000 })
  const leaf = await uploadFile(h, walletA, { size: 2000, seed: 21 })
  // dir 1 holds the file, dir i holds dir i-1; the root is dir 70. A transaction takes at most 64 rounds of reads:
  // walked inside one, a round per level, this tree failed with INTERNAL.
  let child = leaf.file.cid
  for (let depth = 1; depth <= 70; depth++) {
    const block = dagPb.encode(
      dagPb.prepare({ Data: new Uint8Array([8, 1]), Links: [{ Hash: CID.parse(child), Name: `d${depth}`, Tsize: 1 }] }),
    )
    const cid = dagPbBlockCid(block, 0)
    const up = await h.client.createUpload(signCreate(h, walletA, { size: 0 }))
    await h.client.commit(up.uploadId, {
      request: signCommit(h, walletA, { uploadId: up.uploadId, cid, size: 0, blocks: [block], kind: 'directory' }),
      dagBlocks: [toBase64Url(block)],
      receipts: [],
      children: [child],
    })
    child = cid
  }
  const root = child
  const share = await h.client.createShare(
    signAsWallet(walletA, {
      ...base(),
      action: 'share.create',
      cid: root,
      linkExpiresAt: null,
      password: null,
    } as const),
  )
  const { access } = await h.client.resolveShare(share.id)
  const byLink = h.as(null).withAccess(() => `share.${access}`)
  assert.equal((await byLink.read(leaf.file.cid, { orderKey: ORDER_KEY })).file.cid, leaf.file.cid)
  const grant = await h.client.createGrant(
    signAsWallet(walletA, {
      ...base(),
      action: 'grant.create',
      scope: { cids: [root] },
      grantExpiresAt: h.clock.now() + 60_000,
    } as const),
  )
  const byGrant = h.as(null).withAccess(() => `grant.${grant.id}`)
  assert.equal((await byGrant.read(leaf.file.cid, { orderKey: ORDER_KEY })).file.cid, leaf.file.cid)
  // Not in the tree: another file of the same owner.
  const other = await uploadFile(h, walletA, { size: 2000, seed: 22 })
  await expectCode(byGrant.read(other.file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
  // Publishing the root publishes all 71 records of its tree.
  await expectCode(h.as(null).read(leaf.file.cid, { orderKey: ORDER_KEY }), 'ACCESS_DENIED')
  await h.client.setVisibility(
    root,
    signAsWallet(walletA, { ...base(), action: 'file.visibility', cid: root, public: true } as const),
  )
  assert.equal((await h.as(null).read(leaf.file.cid, { orderKey: ORDER_KEY })).file.cid, leaf.file.cid)
})
