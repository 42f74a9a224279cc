/**
 * The state machine end to end, one scenario per module: genesis, admission checks, transfers,
 * staking and unbonding, node registration and deposits, prepay, volume reports and epoch
 * rewards with maturity, slashing, meta node approval, snapshots and determinism.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChainApp } from '../../src/chain/app.ts'
import { decodeGenesis, devnetGenesis } from '../../src/chain/genesis.ts'
import { canonicalJson } from '../../src/crypto/canonical.ts'
import { prepay as prepayFormula, trafficReward } from '../../src/chain/economics.ts'
import { signNodeOwnership } from '../../src/chain/node-proofs.ts'
import { MODULE_ACCOUNTS, stos } from '../../src/chain/params.ts'
import { MemoryKvStore } from '../../src/chain/state/kv.ts'
import { signTx } from '../../src/chain/tx.ts'
import type { Msg } from '../../src/chain/msgs.ts'
import {
  assertCode,
  assertSupply,
  block,
  CHAIN_ID,
  FEE,
  finishEpoch,
  makeFixture,
  nodeKey,
  registerResourceMsg,
  reportMsg,
  run,
  signed,
  wallet,
} from './helpers.ts'

const STOS = 10n ** 18n

test('genesis: 100M STOS exactly, 40M in the mining pool, epoch 1, nothing mined', () => {
  const f = makeFixture()
  assertSupply(f.app)
  assert.equal(f.app.height, 0)
  assert.equal(f.app.epoch, 1)
  const m = f.app.query.mining()
  assert.equal(m.totalMined, 0n)
  assert.equal(m.miningPool, 40_000_000n * STOS)
  assert.equal(m.nextEpochReward, 80n * STOS)
  assert.equal(m.circulatingSupply, 60_000_000n * STOS)
  assert.equal(f.app.query.moduleAccounts().prepayPool, 1_000n * STOS)
  assert.equal(f.app.query.validators().length, 1)
  assert.equal(f.app.query.resourceNodes().length, 3)
  assert.equal(f.app.query.metaNodes()[0]!.status, 'active')
  // S0 = 3·1,000 + 10,000 = 13,000 STOS, P0 = 1,000 → L0 = 14,000 · 2^30 (1 STOS per GiB)
  const market = f.app.query.ozoneMarket()
  assert.equal(market.S, 13_000n * STOS)
  assert.equal(market.L, 14_000n * (1n << 30n))
  assert.equal(market.weiPerGiB, STOS)

  const bad = devnetGenesis({ chainId: CHAIN_ID, wallets: [wallet(0).address] })
  bad.accounts[0]!.balance += 1n
  assertCode(() => ChainApp.genesis(bad), 'BAD_REQUEST')
  const dup = devnetGenesis({ chainId: CHAIN_ID, wallets: [wallet(0).address, wallet(0).address] })
  assertCode(() => ChainApp.genesis(dup), 'BAD_REQUEST')
  assertCode(
    () => ChainApp.genesis(devnetGenesis({ chainId: CHAIN_ID, wallets: [wallet(0).address] }), f.app.store),
    'CONFLICT',
  )
  assertCode(() => ChainApp.genesis(devnetGenesis({ chainId: CHAIN_ID, wallets: ['st1notanaddress'] })), 'BAD_REQUEST')
  assertCode(
    () =>
      ChainApp.genesis(devnetGenesis({ chainId: CHAIN_ID, wallets: [wallet(0).address], params: { epochBlocks: 0 } })),
    'BAD_REQUEST',
  )
  // a genesis file (JSON, amounts as strings) gives the same chain as the object it was written from
  const fromFile = ChainApp.genesis(decodeGenesis(JSON.parse(canonicalJson(f.genesis as any))))
  assert.equal(fromFile.stateHash, f.app.stateHash)
})

test('checkTx refuses wrong chain, bad signature, replayed or future nonce, low fee, unfunded fee', () => {
  const f = makeFixture()
  const [alice, bob] = [f.wallets[3]!, f.wallets[1]!]
  const send = { type: 'send' as const, to: bob.address, amount: STOS }
  const ok = signed(f, alice, [send])
  assert.equal(f.app.checkTx(ok).sender, alice.address)
  assertCode(() => f.app.checkTx(signed(f, alice, [send], { chainId: 'other-chain' })), 'WRONG_CHAIN')
  assertCode(
    () => f.app.checkTx({ ...ok, tx: { ...ok.tx, msgs: [{ ...send, amount: 2n * STOS }] } }),
    'INVALID_SIGNATURE',
  )
  assertCode(
    () => f.app.checkTx({ tx: { ...ok.tx, sender: bob.address }, signature: ok.signature }),
    'INVALID_SIGNATURE',
  )
  assertCode(() => f.app.checkTx(signed(f, alice, [send], { nonce: 1n })), 'BAD_NONCE')
  assert.equal(f.app.checkTx(signed(f, alice, [send], { nonce: 1n }), { expectedNonce: 1n }).nonce, 1n)
  assertCode(() => f.app.checkTx(signed(f, alice, [send], { fee: FEE - 1n })), 'INSUFFICIENT_FEE')
  const pauper = wallet(50)
  assertCode(
    () =>
      f.app.checkTx(signTx(pauper, { chainId: CHAIN_ID, sender: pauper.address, nonce: 0n, fee: FEE, msgs: [send] })),
    'INSUFFICIENT_FUNDS',
  )
  block(f, [ok])
  assertCode(() => f.app.checkTx(ok), 'REPLAYED_NONCE')
  assert.equal(f.app.query.nonce(alice.address), 1n)
})

test('send moves wei, the fee goes to the proposing validator; a failing message still pays its fee', () => {
  const f = makeFixture()
  const [alice, bob, val] = [f.wallets[3]!, f.wallets[1]!, f.validator]
  const a0 = f.app.query.balance(alice.address),
    b0 = f.app.query.balance(bob.address),
    v0 = f.app.query.balance(val.address)
  const r = run(f, alice, [{ type: 'send', to: bob.address, amount: 5n * STOS }])
  assert.deepEqual(r.results[0]!.events[0], {
    type: 'transfer',
    attributes: { from: alice.address, to: bob.address, amount: (5n * STOS).toString() },
  })
  assert.equal(f.app.query.balance(alice.address), a0 - 5n * STOS - FEE)
  assert.equal(f.app.query.balance(bob.address), b0 + 5n * STOS)
  assert.equal(f.app.query.balance(val.address), v0 + FEE)
  // overdraw in the second message: the first message's transfer is rolled back too
  const hashBefore = f.app.stateHash
  const r2 = run(
    f,
    alice,
    [
      { type: 'send', to: bob.address, amount: STOS },
      { type: 'send', to: bob.address, amount: a0 * 2n },
    ],
    'INSUFFICIENT_FUNDS',
  )
  assert.equal(r2.results[0]!.included, true)
  assert.equal(f.app.query.balance(bob.address), b0 + 5n * STOS)
  assert.equal(f.app.query.balance(alice.address), a0 - 5n * STOS - 2n * FEE)
  assert.equal(f.app.query.nonce(alice.address), 2n)
  assert.notEqual(f.app.stateHash, hashBefore)
  assertSupply(f.app)
})

test('a block whose only tx is rejected leaves the state hash unchanged', () => {
  const f = makeFixture()
  const alice = f.wallets[3]!
  const send = { type: 'send' as const, to: f.wallets[1]!.address, amount: STOS }
  const before = f.app.stateHash
  const good = signed(f, alice, [send])
  for (const bad of [
    { ...good, tx: { ...good.tx, fee: FEE + 1n } }, // signature no longer matches
    signed(f, alice, [send], { chainId: 'other-chain' }),
    signed(f, alice, [send], { nonce: 5n }),
  ]) {
    const r = block(f, [bad])
    assert.equal(r.results[0]!.included, false)
    assert.equal(r.stateHash, before)
    assert.equal(f.app.stateHash, before)
  }
  assert.equal(f.app.query.nonce(alice.address), 0n)
})

test('blocks must come in order with non-decreasing time', () => {
  const f = makeFixture()
  assertCode(() => f.app.applyBlock({ height: 2, time: f.time + 1, proposer: '', txs: [] }), 'BAD_BLOCK')
  assertCode(() => f.app.applyBlock({ height: 1, time: f.time - 1, proposer: '', txs: [] }), 'BAD_BLOCK')
  const p1 = f.app.executeBlock({ height: 1, time: f.time, proposer: '', txs: [] })
  const p2 = f.app.executeBlock({ height: 1, time: f.time, proposer: '', txs: [] })
  p1.commit()
  assertCode(() => p2.commit(), 'BAD_BLOCK')
  assert.equal(f.app.height, 1)
})

test('staking: delegate, undelegate, and the unbonding completes after its period', () => {
  const f = makeFixture()
  const [val, alice] = [f.validator, f.wallets[3]!]
  run(f, alice, [{ type: 'delegate', validator: val.address, amount: 100n * STOS }])
  assert.equal(f.app.query.validator(val.address)!.tokens, 10_100n * STOS)
  assert.deepEqual(
    f.app.query.delegationsOf(alice.address).map((d) => d.amount),
    [100n * STOS],
  )
  run(f, alice, [{ type: 'undelegate', validator: val.address, amount: 101n * STOS }], 'INSUFFICIENT_FUNDS')
  run(f, alice, [{ type: 'delegate', validator: alice.address, amount: STOS }], 'NOT_FOUND')
  const balance = f.app.query.balance(alice.address)
  const r = run(f, alice, [{ type: 'undelegate', validator: val.address, amount: 40n * STOS }])
  const completion = r.height + f.app.params.unbondingBlocks
  assert.deepEqual(f.app.query.unbondings(alice.address), [
    { delegator: alice.address, amount: 40n * STOS, completionHeight: completion },
  ])
  assert.equal(f.app.query.validator(val.address)!.tokens, 10_060n * STOS)
  while (f.app.height < completion - 1) block(f)
  assert.equal(f.app.query.balance(alice.address), balance - FEE)
  const done = block(f)
  assert.ok(done.events.some((e) => e.type === 'unbonding_complete'))
  assert.equal(f.app.query.balance(alice.address), balance - FEE + 40n * STOS)
  assert.deepEqual(f.app.query.unbondings(alice.address), [])
  assertSupply(f.app)
})

test('create_validator needs a fresh operator and enough self-delegation', () => {
  const f = makeFixture()
  const alice = f.wallets[3]!
  const msg = {
    type: 'create_validator' as const,
    consensusKey: 'ab'.repeat(32),
    commissionBps: 500,
    selfDelegation: 10n,
    moniker: 'a',
  }
  run(f, alice, [msg], 'BAD_REQUEST')
  run(f, alice, [{ ...msg, selfDelegation: 5n * STOS }])
  run(f, alice, [{ ...msg, selfDelegation: 5n * STOS }], 'CONFLICT')
  assert.equal(f.app.query.validators().length, 2)
})

test('resource nodes: ownership proof, tiers, deposits move the ozone limit at a constant price, removal unbonds', () => {
  const f = makeFixture()
  const owner = f.wallets[3]!
  const key = nodeKey(7)
  // a proof for another owner is refused
  const stolen = {
    type: 'create_resource_node' as const,
    ...signNodeOwnership(key, CHAIN_ID, 'resource', f.wallets[1]!.address),
    deposit: 1_000n * STOS,
    moniker: 'x',
  }
  run(f, owner, [stolen], 'INVALID_SIGNATURE')
  run(f, owner, [registerResourceMsg(key, owner, 999n * STOS)], 'BAD_REQUEST') // below tier 1
  const m0 = f.app.query.ozoneMarket()
  run(f, owner, [registerResourceMsg(key, owner, 10_000n * STOS)])
  run(f, owner, [registerResourceMsg(key, owner, 10_000n * STOS)], 'CONFLICT')
  assert.equal(f.app.query.node(key.address)!.tier, 2)
  const m1 = f.app.query.ozoneMarket()
  assert.equal(m1.S, m0.S + 10_000n * STOS)
  // ΔL = ΔS·L/(S+P): price unchanged up to one floor step
  assert.equal(m1.L, m0.L + (10_000n * STOS * m0.L) / (m0.S + m0.P))
  assert.equal(m1.weiPerGiB, m0.weiPerGiB)
  run(f, owner, [{ type: 'update_deposit', node: key.address, amount: 90_000n * STOS }])
  assert.equal(f.app.query.node(key.address)!.tier, 3)
  run(f, f.wallets[1]!, [{ type: 'update_resource_node', node: key.address, moniker: 'mine' }], 'NOT_OWNER')
  run(f, owner, [{ type: 'update_resource_node', node: key.address, moniker: 'edge-1' }])
  assert.equal(f.app.query.node(key.address)!.moniker, 'edge-1')
  const before = f.app.query.balance(owner.address)
  const r = run(f, owner, [{ type: 'remove_resource_node', node: key.address }])
  assert.equal(f.app.query.node(key.address)!.status, 'unbonding')
  assert.equal(f.app.query.ozoneMarket().S, m0.S)
  run(f, owner, [{ type: 'remove_resource_node', node: key.address }], 'CONFLICT')
  while (f.app.height < r.height + f.app.params.unbondingBlocks) block(f)
  assert.equal(f.app.query.node(key.address), undefined)
  assert.equal(f.app.query.balance(owner.address), before - 2n * FEE + 100_000n * STOS)
  assertSupply(f.app)
})

test('prepay buys ozone by the formula; reports charge it, pay the traffic reward and epoch rewards mature', () => {
  const f = makeFixture({ params: { epochBlocks: 20 } })
  const [payer, nodeOwner, metaOwner, val] = [f.wallets[3]!, f.wallets[1]!, f.wallets[2]!, f.validator]
  const m0 = f.app.query.ozoneMarket()
  run(f, payer, [{ type: 'prepay', amount: 10n * STOS }])
  const bought = prepayFormula(m0, 10n * STOS).ozone
  assert.equal(f.app.query.ozone(payer.address), bought)
  assert.equal(f.app.query.ozoneMarket().L, m0.L - bought)
  assert.equal(f.app.query.moduleAccounts().prepayPool, m0.P + 10n * STOS)
  run(f, payer, [{ type: 'prepay', amount: 1n }], 'BAD_REQUEST') // buys 0 ozone

  // epoch 1 has no traffic: the resource share (60%) stays in the pool, meta and validator shares are paid
  const e1 = finishEpoch(f)
  const s1 = f.app.query.epochSummary(1)!
  assert.equal(s1.miningReward, 80n * STOS)
  assert.equal(s1.distributed, 32n * STOS)
  assert.equal(s1.unminedReturned, 48n * STOS)
  assert.equal(f.app.query.mining().totalMined, 32n * STOS)
  assert.ok(e1.events.some((e) => e.type === 'epoch_end'))
  assertSupply(f.app)

  // epoch 2: the meta node reports epoch 1's traffic: 3 GiB by the payer served by two nodes
  const [n1, n2] = [f.resources[0]!, f.resources[1]!]
  const volume = 3n << 30n
  const wrongOwner = signed(f, payer, [reportMsg(f.meta, 1, [[payer.address, volume]], [[n1.address, volume]])])
  assert.equal(block(f, [wrongOwner]).results[0]!.code, 'NOT_OWNER')
  run(f, metaOwner, [reportMsg(f.meta, 2, [[payer.address, volume]], [[n1.address, volume]])], 'BAD_REQUEST') // epoch 2 has not ended
  run(f, metaOwner, [reportMsg(f.meta, 1, [[payer.address, volume]], [[n1.address, volume - 1n]])], 'BAD_REQUEST') // totals differ
  run(
    f,
    metaOwner,
    [reportMsg(f.meta, 1, [[payer.address, volume]], [[nodeKey(55).address, volume]])],
    'NODE_NOT_REGISTERED',
  )
  const forged = reportMsg(nodeKey(99), 1, [[payer.address, volume]], [[n1.address, volume]]) as any
  forged.report.metaNode = f.meta.address
  run(f, metaOwner, [forged], 'INVALID_SIGNATURE')

  const mBefore = f.app.query.ozoneMarket()
  const expectedReward = trafficReward(mBefore, volume).reward
  const rep = run(f, metaOwner, [
    reportMsg(
      f.meta,
      1,
      [[payer.address, volume]],
      [
        [n1.address, 2n << 30n],
        [n2.address, 1n << 30n],
      ],
    ),
  ])
  assert.equal(rep.results[0]!.events[0]!.attributes.trafficReward, expectedReward.toString())
  assert.equal(f.app.query.ozone(payer.address), bought - volume)
  assert.equal(f.app.query.ozoneMarket().L, mBefore.L + volume)
  assert.equal(f.app.query.volumeReports(1)[0]!.chargedBytes, volume)
  run(f, metaOwner, [reportMsg(f.meta, 1, [[payer.address, volume]], [[n1.address, volume]])], 'CONFLICT') // once per epoch

  assert.equal(f.app.epoch, 2)
  finishEpoch(f)
  const s2 = f.app.query.epochSummary(2)!
  assert.equal(s2.trafficReward, expectedReward)
  assert.equal(s2.distributed, 80n * STOS + expectedReward)
  assert.equal(s2.unminedReturned, 0n)
  // all three genesis resource nodes belong to nodeOwner, who gets the whole resource bucket
  const resourceBucket =
    48n * STOS +
    (expectedReward * 6000n) / 10_000n +
    (expectedReward - (expectedReward * 6000n) / 10_000n - 2n * ((expectedReward * 2000n) / 10_000n))
  const nodeReward = f.app.query.rewards(nodeOwner.address, 2)[0]!
  assert.equal(nodeReward.amount, resourceBucket)
  assert.equal(nodeReward.maturesAt, 2 + 1 + f.app.params.maturityEpochs)
  assert.equal(nodeReward.matured, false)
  assert.equal(f.app.query.mining().totalMined, 112n * STOS)
  assertSupply(f.app)

  // not yet mature (epoch 3 < 4): nothing to withdraw
  run(f, nodeOwner, [{ type: 'withdraw_rewards' }], 'NOT_FOUND')
  finishEpoch(f)
  assert.equal(f.app.epoch, 4)
  const b = f.app.query.balance(nodeOwner.address)
  const w = run(f, nodeOwner, [{ type: 'withdraw_rewards' }])
  assert.equal(f.app.query.balance(nodeOwner.address), b - FEE + nodeReward.amount)
  assert.equal(w.results[0]!.events[0]!.type, 'withdraw_rewards')
  assert.deepEqual(f.app.query.rewards(nodeOwner.address, 2), [])
  // the validator (10% commission, sole delegator) earned every epoch
  assert.ok(f.app.query.rewards(val.address).length >= 2)
  assertSupply(f.app)
})

test('a report charges at most the ozone a wallet has; slashing converts debt at the price and suspends', () => {
  const f = makeFixture()
  const [payer, nodeOwner, metaOwner] = [f.wallets[3]!, f.wallets[1]!, f.wallets[2]!]
  finishEpoch(f)
  // the payer never prepaid: nothing is charged, no traffic reward
  const r = run(f, metaOwner, [reportMsg(f.meta, 1, [[payer.address, 1000n]], [[f.resources[0]!.address, 1000n]])])
  assert.equal(r.results[0]!.events[0]!.attributes.chargedBytes, '0')
  assert.equal(r.results[0]!.events[0]!.attributes.trafficReward, '0')

  const target = f.resources[2]!
  const market = f.app.query.ozoneMarket()
  const debt = 5n << 30n // 5 GiB at 1 STOS/GiB ≈ 5 STOS
  const expectedSlash = (debt * (market.S + market.P)) / market.L
  const pool = f.app.query.moduleAccounts().prepayPool
  run(
    f,
    nodeOwner,
    [{ type: 'slash_resource_node', metaNode: f.meta.address, node: target.address, debtOzone: debt }],
    'NOT_OWNER',
  )
  run(f, metaOwner, [{ type: 'slash_resource_node', metaNode: f.meta.address, node: target.address, debtOzone: debt }])
  const node = f.app.query.node(target.address)!
  assert.equal(node.status, 'suspended')
  assert.equal(node.deposit, 1_000n * STOS - expectedSlash)
  assert.equal(f.app.query.moduleAccounts().prepayPool, pool + expectedSlash)
  assert.equal(f.app.query.ozoneMarket().S, market.S - 1_000n * STOS)
  assert.equal(f.app.query.slashes(target.address)[0]!.slashedWei, expectedSlash)
  // topping the deposit back up to tier 1 reactivates it
  run(f, nodeOwner, [{ type: 'update_deposit', node: target.address, amount: expectedSlash }])
  assert.equal(f.app.query.node(target.address)!.status, 'active')
  assert.equal(f.app.query.ozoneMarket().S, market.S)
  // a debt larger than the deposit takes the whole deposit
  run(f, metaOwner, [
    { type: 'slash_resource_node', metaNode: f.meta.address, node: target.address, debtOzone: 10n ** 30n },
  ])
  assert.equal(f.app.query.node(target.address)!.deposit, 0n)
  assertSupply(f.app)
})

test('a new meta node is pending until a majority of active meta nodes approves it', () => {
  const f = makeFixture()
  const [owner, metaOwner] = [f.wallets[3]!, f.wallets[2]!]
  const m2 = nodeKey(101)
  const create = {
    type: 'create_meta_node' as const,
    ...signNodeOwnership(m2, CHAIN_ID, 'meta', owner.address),
    deposit: 10_000n * STOS,
    moniker: 'meta-2',
    url: 'http://meta-2.example:7100',
  }
  run(f, owner, [{ ...create, deposit: STOS }], 'BAD_REQUEST')
  // The URL resource nodes and clients will find it at: an http(s) base URL, nothing else.
  for (const url of ['ftp://meta-2.example', 'http://u:p@meta-2.example', 'http://meta-2.example/', 'not a url'])
    run(f, owner, [{ ...create, url }], 'BAD_REQUEST')
  const S0 = f.app.query.ozoneMarket().S
  run(f, owner, [create])
  assert.equal(f.app.query.node(m2.address)!.status, 'pending')
  assert.equal(f.app.query.node(m2.address)!.url, 'http://meta-2.example:7100')
  assert.equal(f.app.query.ozoneMarket().S, S0)
  // a pending node cannot report or vote
  finishEpoch(f)
  run(f, owner, [reportMsg(m2, 1, [[owner.address, 1n]], [[f.resources[0]!.address, 1n]])], 'CONFLICT')
  run(f, owner, [{ type: 'approve_meta_node', voter: m2.address, candidate: m2.address }], 'CONFLICT')
  run(f, owner, [{ type: 'approve_meta_node', voter: f.meta.address, candidate: m2.address }], 'NOT_OWNER')
  run(f, metaOwner, [{ type: 'approve_meta_node', voter: f.meta.address, candidate: m2.address }])
  assert.equal(f.app.query.node(m2.address)!.status, 'active')
  assert.equal(f.app.query.ozoneMarket().S, S0 + 10_000n * STOS)
  run(f, metaOwner, [{ type: 'approve_meta_node', voter: f.meta.address, candidate: m2.address }], 'CONFLICT')
  // both meta owners now share the meta bucket equally
  finishEpoch(f)
  const e = f.app.epoch - 1
  assert.equal(f.app.query.rewards(owner.address, e)[0]!.amount, f.app.query.rewards(metaOwner.address, e)[0]!.amount)
  run(f, owner, [{ type: 'remove_meta_node', node: m2.address }])
  assert.equal(f.app.query.node(m2.address)!.status, 'unbonding')
  assertSupply(f.app)
})

test('fees wait in the collector while the proposer is not a validator', () => {
  const f = makeFixture({ withValidator: false })
  const alice = f.wallets[3]!
  run(f, alice, [{ type: 'send', to: f.wallets[1]!.address, amount: 1n }])
  assert.equal(f.app.query.moduleAccounts().feeCollector, FEE)
  // with no validators the validator bucket stays in the mining pool too
  finishEpoch(f)
  assert.equal(f.app.query.epochSummary(1)!.distributed, 16n * STOS)
  assertSupply(f.app)
})

test('same blocks give the same state hash on two nodes; a snapshot imports to the same state and continues identically', () => {
  const a = makeFixture()
  const b = makeFixture()
  assert.equal(a.app.stateHash, b.app.stateHash)
  const txs = [
    signed(a, a.wallets[3]!, [
      { type: 'send', to: a.wallets[1]!.address, amount: 3n * STOS },
      { type: 'prepay', amount: STOS },
    ]),
  ]
  for (const f of [a, b]) {
    block(f, txs)
    finishEpoch(f)
  }
  assert.equal(a.app.stateHash, b.app.stateHash)
  assert.equal(a.app.height, b.app.height)

  const snapshot = a.app.exportState()
  const c = ChainApp.importState(JSON.parse(JSON.stringify(snapshot)), new MemoryKvStore())
  assert.equal(c.stateHash, a.app.stateHash)
  assert.equal(c.height, a.app.height)
  assert.deepEqual(c.query.mining(), a.app.query.mining())
  const next = {
    height: a.app.height + 1,
    time: a.time + 1000,
    proposer: a.validator.address,
    txs: [signed(a, a.wallets[1]!, [{ type: 'send', to: a.wallets[3]!.address, amount: 1n }])],
  }
  assert.equal(c.applyBlock(next).stateHash, a.app.applyBlock(next).stateHash)
  const tampered = {
    ...snapshot,
    entries: snapshot.entries.map(([k, v]) =>
      k.startsWith('bank/bal/module:mining') ? ([k, Buffer.from('1').toString('base64')] as const) : ([k, v] as const),
    ),
  }
  assertCode(() => ChainApp.importState(tampered), 'HASH_MISMATCH')
  // reopening the same store resumes at the same height and hash
  const reopened = ChainApp.open(a.app.store)
  assert.equal(reopened.stateHash, a.app.stateHash)
  assert.equal(reopened.height, a.app.height)
})

test('module accounts hold exactly what the modules account for', () => {
  const f = makeFixture()
  const alice = f.wallets[3]!
  run(f, alice, [
    { type: 'delegate', validator: f.validator.address, amount: 7n * STOS },
    { type: 'prepay', amount: 2n * STOS },
  ])
  const mods = f.app.query.moduleAccounts()
  assert.equal(mods.bonded, 10_007n * STOS)
  assert.equal(mods.nodeDeposits, 13_000n * STOS)
  assert.equal(mods.prepayPool, 1_002n * STOS)
  assert.equal(f.app.query.balance(MODULE_ACCOUNTS.miningPool), stos(40_000_000))
})

test('at genesis the chained state hash equals the digest of the whole state', () => {
  const f = makeFixture()
  assert.equal(f.app.stateHash, f.app.exportState().digest)
})

test('report and epoch summaries are pruned after historyEpochs; a too-short history is refused at genesis', () => {
  assertCode(() => makeFixture({ params: { historyEpochs: 2, reportWindowEpochs: 2 } }), 'BAD_REQUEST')
  const f = makeFixture({ params: { historyEpochs: 2, reportWindowEpochs: 1 } })
  const [payer, metaOwner] = [f.wallets[3]!, f.wallets[2]!]
  finishEpoch(f) // epoch 1 ends
  run(f, metaOwner, [reportMsg(f.meta, 1, [[payer.address, 10n]], [[f.resources[0]!.address, 10n]])])
  finishEpoch(f) // epoch 2 ends
  assert.equal(f.app.query.volumeReports(1).length, 1)
  assert.ok(f.app.query.epochSummary(1))
  finishEpoch(f) // epoch 3 ends: epoch 1 leaves the 2-epoch history
  assert.deepEqual(f.app.query.volumeReports(1), [])
  assert.equal(f.app.query.epochSummary(1), undefined)
  assert.ok(f.app.query.epochSummary(2))
  // and epoch 1 can no longer be reported (outside the 1-epoch window)
  run(f, metaOwner, [reportMsg(f.meta, 1, [[payer.address, 10n]], [[f.resources[0]!.address, 10n]])], 'BAD_REQUEST')
})

test('a message below a parameter minimum is rejected by ante: at checkTx, and in a block without a fee or a nonce', () => {
  const f = makeFixture()
  const owner = f.wallets[3]!
  const key = nodeKey(8)
  const tier1 = f.app.params.resourceNodeTiersWei[0]!
  const cases: Array<[string, Msg]> = [
    ['resource deposit below tier 1', registerResourceMsg(key, owner, tier1 - 1n)],
    [
      'meta deposit below the minimum',
      {
        type: 'create_meta_node',
        ...signNodeOwnership(key, CHAIN_ID, 'meta', owner.address),
        deposit: f.app.params.minMetaNodeDepositWei - 1n,
        moniker: 'm',
      },
    ],
    [
      'self-delegation below the minimum',
      {
        type: 'create_validator',
        consensusKey: 'cd'.repeat(32),
        commissionBps: 0,
        selfDelegation: f.app.params.minSelfDelegationWei - 1n,
        moniker: 'v',
      },
    ],
  ]
  for (const [what, msg] of cases) {
    const before = f.app.query.account(owner.address)
    const tx = signed(f, owner, [{ type: 'send', to: f.wallets[1]!.address, amount: 1n }, msg])
    assert.throws(
      () => f.app.checkTx(tx),
      (e: { code?: string }) => e.code === 'BAD_REQUEST',
      what,
    )
    const r = block(f, [tx]).results[0]!
    assert.equal(r.code, 'BAD_REQUEST', what)
    assert.equal(r.included, false, what)
    assert.equal(r.fee, 0n, what)
    assert.deepEqual(f.app.query.account(owner.address), before, `${what}: balance, nonce and ozone unchanged`)
  }
  assert.equal(f.app.query.node(key.address), undefined)
  // at the minimum it registers (and pays the fee)
  const balance = f.app.query.balance(owner.address)
  run(f, owner, [registerResourceMsg(key, owner, tier1)])
  assert.equal(f.app.query.balance(owner.address), balance - FEE - tier1)
  // a failure that depends on state (already registered) is included and pays the fee
  const r = run(f, owner, [registerResourceMsg(key, owner, tier1)], 'CONFLICT').results[0]!
  assert.equal(r.included, true)
  assert.equal(f.app.query.balance(owner.address), balance - 2n * FEE - tier1)
  assertSupply(f.app)
})
