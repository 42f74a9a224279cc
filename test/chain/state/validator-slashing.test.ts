/**
 * The consensus set from staking and slashing from consensus (state/staking.ts syncConsensusSet,
 * state/validator-slashing.ts), on the state machine alone: blocks carry the votes and evidence CometBFT would
 * report.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BlockResult } from '../../../src/chain/app.ts'
import { consensusAddress, consensusSet } from '../../../src/chain/state/staking.ts'
import type { ConsensusInfo } from '../../../src/chain/state/validator-slashing.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import { assertSupply, block, makeFixture, nodeKey, run, type Fixture, type signed } from '../helpers.ts'

const STOS = 10n ** 18n
const KEY0 = toHex(nodeKey(200).publicKey)
const KEY1 = toHex(nodeKey(201).publicKey)

/** A fixture with a second validator (wallets[3], consensus key KEY1, 5,000 STOS). */
function twoValidators(params = {}): Fixture {
  const f = makeFixture({
    params: { signedBlocksWindow: 4, minSignedPerWindowBps: 5000, downtimeJailBlocks: 3, ...params },
  })
  run(f, f.wallets[3]!, [
    { type: 'create_validator', consensusKey: KEY1, commissionBps: 0, selfDelegation: 5_000n * STOS, moniker: 'v1' },
  ])
  return f
}

function blockWith(f: Fixture, consensus: ConsensusInfo, txs = [] as ReturnType<typeof signed>[]): BlockResult {
  f.time += 1000
  return f.app.applyBlock({ height: f.app.height + 1, time: f.time, proposer: f.validator.address, txs, consensus })
}

/** The block's events of validator slashing (epoch ends and fees are not the point here). */
const slashing = (r: BlockResult) => r.events.filter((e) => e.type.startsWith('validator_'))

const votes = (signed0: boolean, signed1: boolean): ConsensusInfo => ({
  votes: [
    { address: consensusAddress(KEY0), signed: signed0 },
    { address: consensusAddress(KEY1).toUpperCase(), signed: signed1 },
  ],
  misbehavior: [],
})

test('genesis hands consensus the bonded validators, power = whole STOS; staking changes become validator updates', () => {
  const f = makeFixture()
  assert.deepEqual(consensusSet(f.app.store), [{ consensusKey: KEY0, power: 10_000n }])
  const created = run(f, f.wallets[3]!, [
    { type: 'create_validator', consensusKey: KEY1, commissionBps: 0, selfDelegation: 5_000n * STOS, moniker: 'v1' },
  ])
  assert.deepEqual(created.validatorUpdates, [{ consensusKey: KEY1, power: 5_000n }])
  const delegated = run(f, f.wallets[1]!, [
    { type: 'delegate', validator: f.validator.address, amount: (7n * STOS) / 2n },
  ])
  assert.deepEqual(delegated.validatorUpdates, [{ consensusKey: KEY0, power: 10_003n }])
  // Half a STOS more does not reach the next whole power: no update.
  const small = run(f, f.wallets[1]!, [{ type: 'delegate', validator: f.validator.address, amount: STOS / 4n }])
  assert.deepEqual(small.validatorUpdates, [])
  const out = run(f, f.wallets[3]!, [{ type: 'undelegate', validator: f.wallets[3]!.address, amount: 5_000n * STOS }])
  assert.deepEqual(out.validatorUpdates, [{ consensusKey: KEY1, power: 0n }])
  assert.deepEqual(consensusSet(f.app.store), [{ consensusKey: KEY0, power: 10_003n }])
  const self = run(f, f.validator, [{ type: 'undelegate', validator: f.validator.address, amount: 10_000n * STOS }])
  assert.deepEqual(self.validatorUpdates, [{ consensusKey: KEY0, power: 3n }])
  // The last bonded power leaving would empty the set: the set stays as it was.
  const last = run(f, f.wallets[1]!, [
    { type: 'undelegate', validator: f.validator.address, amount: (7n * STOS) / 2n + STOS / 4n },
  ])
  assert.deepEqual(last.validatorUpdates, [])
  assert.deepEqual(consensusSet(f.app.store), [{ consensusKey: KEY0, power: 3n }])
})

test('downtime: missing more than the window allows jails, slashes every delegation and removes the validator; unjail after the jail time', () => {
  const f = twoValidators()
  const v1 = f.wallets[3]!
  run(f, f.wallets[1]!, [{ type: 'delegate', validator: v1.address, amount: 1_000n * STOS }])
  // Window 4, 50% must sign: two misses of four are allowed.
  for (const s of [true, false, false, true]) assert.deepEqual(slashing(blockWith(f, votes(true, s))), [])
  const jailedBlock = blockWith(f, votes(true, false)) // slot 0 again: signed → missed, 3 missed of 4
  const ev = slashing(jailedBlock).find((e) => e.type === 'validator_jailed')
  assert.ok(ev, JSON.stringify(jailedBlock.events))
  assert.equal(ev.attributes.operator, v1.address)
  assert.equal(ev.attributes.slashed, String((6_000n * STOS) / 100n))
  assert.deepEqual(jailedBlock.validatorUpdates, [{ consensusKey: KEY1, power: 0n }])
  const v = f.app.query.validator(v1.address)!
  assert.equal(v.jailed, true)
  assert.equal(v.tokens, 6_000n * STOS - (6_000n * STOS) / 100n)
  assert.ok(f.app.query.delegationsTo(v1.address).some((d) => d.amount === 990n * STOS))
  assert.ok(f.app.query.delegationsTo(v1.address).some((d) => d.amount === 4_950n * STOS))
  // A jailed validator's absent votes count for nothing more.
  assert.deepEqual(slashing(blockWith(f, votes(true, false))), [])
  run(f, v1, [{ type: 'unjail' }], 'CONFLICT') // jailed until height + 3
  blockWith(f, votes(true, false))
  const back = run(f, v1, [{ type: 'unjail' }])
  assert.deepEqual(back.validatorUpdates, [{ consensusKey: KEY1, power: 5_940n }])
  run(f, v1, [{ type: 'unjail' }], 'CONFLICT') // not jailed
  run(f, f.wallets[1]!, [{ type: 'unjail' }], 'NOT_FOUND')
  assertSupply(f.app)
})

test('double signing slashes, jails and tombstones; a tombstoned validator cannot unjail; evidence for an unknown key is ignored', () => {
  const f = twoValidators()
  const v1 = f.wallets[3]!
  const r = blockWith(f, {
    votes: [],
    misbehavior: [
      { address: consensusAddress(KEY1), height: f.app.height - 1 },
      { address: 'ff'.repeat(20), height: 1 },
    ],
  })
  const ev = slashing(r).find((e) => e.type === 'validator_double_sign')
  assert.ok(ev)
  assert.equal(ev.attributes.slashed, String((5_000n * STOS * 500n) / 10_000n))
  assert.deepEqual(r.validatorUpdates, [{ consensusKey: KEY1, power: 0n }])
  const v = f.app.query.validator(v1.address)!
  assert.equal(v.tombstoned, true)
  assert.equal(v.jailed, true)
  // The same evidence again slashes nothing more.
  const again = blockWith(f, { votes: [], misbehavior: [{ address: consensusAddress(KEY1), height: 1 }] })
  assert.deepEqual(slashing(again), [])
  run(f, v1, [{ type: 'unjail' }], 'CONFLICT')
  assert.equal(f.app.query.validator(v1.address)!.jailed, true)
  assertSupply(f.app)
})

test('double signing also cuts unbondings that left the validator at or after the infraction, never earlier ones', () => {
  const f = twoValidators({ unbondingBlocks: 20 })
  const v1 = f.wallets[3]!
  const alice = f.wallets[1]!
  run(f, alice, [{ type: 'delegate', validator: v1.address, amount: 1_000n * STOS }])
  run(f, alice, [{ type: 'undelegate', validator: v1.address, amount: 200n * STOS }])
  const before = f.app.height
  const infraction = f.app.height + 1
  run(f, alice, [{ type: 'undelegate', validator: v1.address, amount: 400n * STOS }])
  // Another validator's unbonding is not this validator's to slash.
  run(f, alice, [{ type: 'delegate', validator: f.validator.address, amount: 100n * STOS }])
  run(f, alice, [{ type: 'undelegate', validator: f.validator.address, amount: 100n * STOS }])
  const r = blockWith(f, { votes: [], misbehavior: [{ address: consensusAddress(KEY1), height: infraction }] })
  const ev = slashing(r).find((e) => e.type === 'validator_double_sign')
  assert.ok(ev)
  const fromUnbonding = (400n * STOS * 500n) / 10_000n
  const fromBonded = ((5_000n + 400n) * STOS * 500n) / 10_000n
  assert.equal(ev.attributes.slashedUnbonding, String(fromUnbonding))
  assert.equal(ev.attributes.slashed, String(fromBonded + fromUnbonding))
  const unbonding = new Map(f.app.query.unbondings(alice.address).map((u) => [u.completionHeight, u.amount]))
  const unbondingBlocks = f.app.params.unbondingBlocks
  assert.equal(unbonding.get(before + unbondingBlocks), 200n * STOS)
  assert.equal(unbonding.get(infraction + unbondingBlocks), 400n * STOS - fromUnbonding)
  assertSupply(f.app)
  // Paid back what is left; the slashing index goes with the entries.
  const balance = f.app.query.balance(alice.address)
  while (f.app.height < infraction + 2 + unbondingBlocks) block(f)
  assert.equal(f.app.query.balance(alice.address), balance + 200n * STOS + 400n * STOS - fromUnbonding + 100n * STOS)
  assert.deepEqual(f.app.query.unbondings(alice.address), [])
  assert.deepEqual([...f.app.store.iterate('staking/unbv')], [])
  assertSupply(f.app)
})

test('the same blocks with votes and evidence give the same state hash on a second app', () => {
  const a = twoValidators()
  const b = twoValidators()
  for (let i = 0; i < 12; i++) {
    const c = votes(i % 3 !== 0, i % 2 === 0)
    assert.equal(blockWith(a, c).stateHash, blockWith(b, c).stateHash)
  }
})
