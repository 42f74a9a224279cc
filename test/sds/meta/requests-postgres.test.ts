/**
 * Per-request paths of a meta node over PostgreSQL that once read the index through the synchronous worker bridge
 * (engine/pg-bridge.ts, which blocks the event loop for a round trip): a delegated request's delegation check (the
 * S3 gateway's uploads and deletes: auth.ts verifyWalletRequestAsync), a password share link's wrong-password
 * counter, the grant, share, budget and delegation endpoints (lists included), the traffic views. Over PostgreSQL these requests make
 * no bridge call (PgBridge.calls; the stack of any call is reported); the same requests over LMDB answer the same.
 * Sibling of access-postgres.test.ts (read access checks and listings).
 */
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { toBase64Url } from '../../../src/crypto/hash.ts'
import { MAX_DELEGATIONS_PER_OWNER, MAX_REQUEST_TTL_MS, SHARE_MAX_PASSWORD_FAILURES } from '../../../src/limits.ts'
import type { StratosError } from '../../../src/errors.ts'
import { PgBridge } from '../../../src/sds/meta/engine/pg-bridge.ts'
import { hashSharePassword } from '../../../src/sds/protocol/share-password.ts'
import { DelegatedWallet, signAsWallet, type WalletSigner } from '../../../src/sds/protocol/signing.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { createDatabase, postgresSkip, startPostgres } from '../../support/postgres.ts'
import {
  chainId,
  expectCode,
  nonce,
  signCreate,
  signDelete,
  startHarness,
  uploadFile,
  walletA,
  type Harness,
} from './helpers.ts'

const DELEGATE = NodeKey.generate(seededRandom(99))

/** Every bridge call's stack while `fn` runs (the bridge's own counter checks that none went unseen). */
async function bridgeCalls(fn: () => Promise<void>): Promise<string[]> {
  const stacks: string[] = []
  const run = PgBridge.prototype.run
  PgBridge.prototype.run = function (this: PgBridge, ...args: Parameters<PgBridge['run']>) {
    stacks.push(new Error('bridge call').stack ?? '')
    return run.apply(this, args)
  }
  const before = PgBridge.calls
  try {
    await fn()
  } finally {
    PgBridge.prototype.run = run
  }
  assert.equal(PgBridge.calls - before, stacks.length)
  return stacks
}

/** The requests, over either engine; answers what both engines must agree on. */
async function requests(h: Harness, overPostgres: boolean): Promise<unknown[]> {
  const out: unknown[] = []
  const base = (signer: WalletSigner = walletA) => ({
    chainId,
    signer: signer.address,
    nonce: nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
  })
  const owned = await uploadFile(h, walletA, { size: 2000, seed: 21, name: 'kept.bin' })
  const d = await h.client.createDelegation(
    signAsWallet(walletA, {
      ...base(),
      action: 'delegation.create',
      delegate: toBase64Url(DELEGATE.publicKey),
      scopes: ['upload', 'delete'],
      delegationExpiresAt: h.clock.now() + 3_600_000,
      label: 's3',
    }),
  )
  const asA = new DelegatedWallet(walletA.address, d.id, DELEGATE)
  const password = 'correct horse battery staple'
  const hash = await hashSharePassword(password, seededRandom(5))

  const stacks = await bridgeCalls(async () => {
    // Delegations: get and list.
    out.push((await h.client.delegation(d.id)).state)
    const listed = await h.client.listDelegations(
      signAsWallet(walletA, { ...base(), action: 'delegation.list' } as const),
    )
    out.push(listed.map((x) => [x.id === d.id, x.scopes, x.state]))
    // The S3 gateway's way: a delegate key uploads (create, plan, commit) and deletes for the wallet.
    const up = await uploadFile(h, asA, { size: 3000, seed: 22, name: 's3-object' })
    out.push([up.file.owners, up.file.size, up.file.name])
    out.push(await h.client.deleteFile(up.file.cid, signDelete(h, asA, up.file.cid)))
    await expectCode(h.client.file(up.file.cid), 'FILE_NOT_FOUND')
    // Grants, share links and budgets: create and list.
    const grant = await h.client.createGrant(
      signAsWallet(walletA, {
        ...base(),
        action: 'grant.create',
        scope: { prefixes: ['kept'] },
        grantExpiresAt: h.clock.now() + 60_000,
      } as const),
    )
    const grants = await h.client.listGrants(signAsWallet(walletA, { ...base(), action: 'grant.list' } as const))
    out.push(grants.map((g) => [g.id === grant.id, g.scope, g.state]))
    const share = await h.client.createShare(
      signAsWallet(walletA, {
        ...base(),
        action: 'share.create',
        cid: owned.file.cid,
        linkExpiresAt: null,
        password: hash,
      } as const),
    )
    const shares = await h.client.listShares(signAsWallet(walletA, { ...base(), action: 'share.list' } as const))
    out.push(shares.map((s) => [s.id === share.id, s.cid, s.hasPassword, s.state]))
    const budget = await h.client.setBudget(
      signAsWallet(walletA, { ...base(), action: 'budget.set', bytesPerEpoch: 1_000_000 } as const),
    )
    out.push([budget.bytesPerEpoch, budget.spentBytes])
    const budgets = await h.client.listBudgets(signAsWallet(walletA, { ...base(), action: 'budget.list' } as const))
    out.push(budgets.map((b) => [b.owner, b.cid, b.bytesPerEpoch, b.spentBytes]))
    // Traffic views: per node (every known node's total) and per file (its owners only).
    const perNode = await h.client.trafficNodes()
    out.push(perNode.nodes.map((n) => [n.bytes, n.totalBytes, n.report]))
    assert.equal(perNode.nodes.length, 6)
    out.push((await h.client.fileTraffic(owned.file.cid)).totals)
    await expectCode(h.as(null).fileTraffic(owned.file.cid), 'ACCESS_DENIED')
    await expectCode(h.client.fileTraffic(up.file.cid), 'FILE_NOT_FOUND')
    // A password link: wrong passwords are counted, the right one resolves, the count locks the client out.
    await expectCode(h.client.resolveShare(share.id, { password: 'wrong' }), 'BAD_PASSWORD')
    out.push((await h.client.resolveShare(share.id, { password })).cid)
    for (let i = 1; i < SHARE_MAX_PASSWORD_FAILURES; i++)
      await expectCode(h.client.resolveShare(share.id, { password: `wrong ${i}` }), 'BAD_PASSWORD')
    await expectCode(h.client.resolveShare(share.id, { password }), 'TOO_MANY_ATTEMPTS')
    // Revoked: the delegate's next upload and delete are refused at once (before a later refusal: the expiry bound).
    const revoke = signAsWallet(walletA, { ...base(), action: 'delegation.revoke', id: d.id } as const)
    out.push((await h.client.revokeDelegation(d.id, revoke)).state)
    await expectCode(h.client.revokeDelegation(d.id, revoke), 'REPLAYED_NONCE')
    await expectCode(h.client.createUpload(signCreate(h, asA, { size: 1000 })), 'DELEGATION_REVOKED')
    await expectCode(
      h.client.createUpload(signCreate(h, asA, { size: 1000, expiresAt: h.clock.now() + 2 * MAX_REQUEST_TTL_MS })),
      'DELEGATION_REVOKED',
    )
    await expectCode(h.client.deleteFile(owned.file.cid, signDelete(h, asA, owned.file.cid)), 'DELEGATION_REVOKED')
    await expectCode(h.client.delegation('A'.repeat(22)), 'DELEGATION_NOT_FOUND')
  })
  if (overPostgres)
    assert.deepEqual(stacks, [], `no synchronous PostgreSQL call on these requests:\n${stacks.join('\n\n')}`)
  return out
}

const skip = postgresSkip()

/** The same harness twice, one over a fresh PostgreSQL and one on LMDB, both closed after the test. */
async function onBothEngines(
  t: TestContext,
  options: Parameters<typeof startHarness>[0],
): Promise<{ pg: Harness; lmdb: Harness }> {
  const server = await startPostgres()
  t.after(() => server.stop())
  const pg = await startHarness({ ...options, index: await createDatabase(server) })
  t.after(() => pg.close())
  const lmdb = await startHarness(options)
  t.after(() => lmdb.close())
  return { pg, lmdb }
}
test('over PostgreSQL: delegated uploads and deletes, password links and the list endpoints do not block', {
  skip,
}, async (t) => {
  const { pg, lmdb } = await onBothEngines(t, { nodes: 6 })
  assert.deepEqual(await requests(pg, true), await requests(lmdb, false))
})

/**
 * Uploads, one node goes silent past its grace period, one repair check and one audit round: what the check queued,
 * how the repairs ended, the audits' outcomes.
 */
async function repairCheck(h: Harness, overPostgres: boolean): Promise<unknown> {
  const files = []
  for (let seed = 31; seed < 34; seed++) files.push(await uploadFile(h, walletA, { size: 2500, seed }))
  const silent = files[0]!.file.segments[0]!.shards[0]!.node
  let audits: string[] = []
  h.clock.advance(5_000 + 2_000 + 1)
  for (const n of h.nodes.values()) if (n.key.address !== silent) await n.heartbeat(h)
  const stacks = await bridgeCalls(async () => {
    await h.meta.repair.checkNow()
    await h.meta.repair.idle()
    // An audit round: a shard picked per due node (the test nodes do not answer: unreachable).
    audits = (await h.meta.auditor.runRound()).audits.map((a) => a.outcome)
  })
  assert.ok(audits.length > 0)
  if (overPostgres)
    assert.deepEqual(stacks, [], `no synchronous PostgreSQL call in a repair check:\n${stacks.join('\n\n')}`)
  const { queued, inFlight, failedSegments, repairedSegments } = h.meta.repair.stats()
  const used = files.flatMap((f) => f.file.segments.filter((s) => s.shards.some((x) => x.node === silent)))
  assert.ok(used.length > 0)
  assert.equal(failedSegments + repairedSegments, used.length, 'every segment on the silent node was tried')
  return { queued, inFlight, failedSegments, repairedSegments, audits: audits.sort() }
}

test('over PostgreSQL: a repair check walks an offline node, an audit round picks shards, without blocking reads', {
  skip,
}, async (t) => {
  const repair = { enabled: true, graceMs: 2_000, checkIntervalMs: 3_600_000, retryMs: 3_600_000 }
  const { pg, lmdb } = await onBothEngines(t, { nodes: 7, repair })
  assert.deepEqual(await repairCheck(pg, true), await repairCheck(lmdb, false))
})

/** Creates MAX_DELEGATIONS_PER_OWNER delegations, then one more; answers the last one's error code. */
async function delegationLimit(h: Harness): Promise<string | undefined> {
  const create = () =>
    h.client.createDelegation(
      signAsWallet(walletA, {
        chainId,
        signer: walletA.address,
        nonce: nonce(h.random),
        expiresAt: h.clock.now() + 60_000,
        action: 'delegation.create',
        delegate: toBase64Url(NodeKey.generate(h.random).publicKey),
        scopes: ['upload'],
        delegationExpiresAt: h.clock.now() + 3_600_000,
        label: 'many',
      }),
    )
  for (let i = 0; i < MAX_DELEGATIONS_PER_OWNER; i++) await create()
  try {
    await create()
    return undefined
  } catch (e) {
    return (e as StratosError).code
  }
}

test('the per-owner delegation limit holds on PostgreSQL as on LMDB (create reads every live one: past 64)', {
  skip,
}, async (t) => {
  const { pg, lmdb } = await onBothEngines(t, { nodes: 3 })
  assert.equal(await delegationLimit(lmdb), 'CONFLICT')
  assert.equal(await delegationLimit(pg), 'CONFLICT')
})
