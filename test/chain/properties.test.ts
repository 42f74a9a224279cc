/**
 * Property tests over random transaction sequences (sends, delegations, prepays, node
 * registrations and removals, volume reports, slashing, withdrawals, epoch boundaries, and
 * hostile transactions). After every block:
 *   - the supply is exactly 100,000,000 STOS (Σ wallet + module balances) and the mined total
 *     equals what left the mining pool;
 *   - no balance or ozone balance is negative, the ozone limit is never negative;
 *   - every module account holds exactly what its module accounts for;
 * and replayed or re-ordered nonces are rejected, and a transaction with a bad signature or a
 * wrong chain id changes nothing (the block's state hash equals that of an empty block).
 * Finally a second node applying the same blocks reaches the same state hash.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Block } from '../../src/chain/app.ts'
import type { Msg } from '../../src/chain/msgs.ts'
import { MODULE_ACCOUNTS } from '../../src/chain/params.ts'
import { allBalances } from '../../src/chain/state/bank.ts'
import { signTx, txSigningBytes, type SignedTx } from '../../src/chain/tx.ts'
import {
  assertSupply,
  FEE,
  makeFixture,
  nodeKey,
  registerResourceMsg,
  reportMsg,
  signed,
  wallet,
  type Fixture,
} from './helpers.ts'

const STOS = 10n ** 18n
const W = 5 // wallets 0…4; index 5 is a fresh, unfunded wallet

type Op =
  | { k: 'send'; from: number; to: number; amount: bigint }
  | { k: 'delegate'; from: number; amount: bigint }
  | { k: 'undelegate'; from: number; amount: bigint }
  | { k: 'prepay'; from: number; amount: bigint }
  | { k: 'register'; from: number; node: number; deposit: bigint }
  | { k: 'remove'; from: number; node: number }
  | { k: 'report'; volumes: Array<[number, bigint]>; split: number }
  | { k: 'slash'; node: number; debt: bigint }
  | { k: 'withdraw'; from: number }
  | { k: 'empty'; blocks: number }
  | { k: 'badSig'; from: number }
  | { k: 'wrongChain'; from: number }
  | { k: 'replay' }
  | { k: 'reorder'; from: number }

/** Node keys used by the property run: the fixture's resource nodes are nodeKey(0…2); nodeKey(3…5) start unregistered. */
const nodes = [0, 1, 2, 3, 4, 5].map((i) => nodeKey(i))
const nodeIndex = fc.integer({ min: 0, max: nodes.length - 1 })
const who = fc.integer({ min: 0, max: W - 1 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('send' as const),
      from: who,
      to: fc.integer({ min: 0, max: W }),
      amount: fc.bigInt({ min: 1n, max: 30_000_000n * STOS }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('delegate' as const),
      from: who,
      amount: fc.bigInt({ min: 1n, max: 1_000n * STOS }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('undelegate' as const),
      from: who,
      amount: fc.bigInt({ min: 1n, max: 1_000n * STOS }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('prepay' as const),
      from: who,
      amount: fc.bigInt({ min: 1n, max: 100n * STOS }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('register' as const),
      from: who,
      node: fc.integer({ min: 2, max: nodes.length - 1 }),
      deposit: fc.bigInt({ min: 500n * STOS, max: 20_000n * STOS }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('remove' as const), from: who, node: nodeIndex }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('report' as const),
      volumes: fc.array(fc.tuple(fc.integer({ min: 0, max: W }), fc.bigInt({ min: 1n, max: 1n << 40n })), {
        minLength: 1,
        maxLength: 4,
      }),
      split: fc.integer({ min: 0, max: 100 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('slash' as const),
      node: nodeIndex,
      debt: fc.bigInt({ min: 0n, max: 1n << 45n }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('withdraw' as const), from: who }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('empty' as const), blocks: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('badSig' as const), from: who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('wrongChain' as const), from: who }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('replay' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reorder' as const), from: who }) },
)

const fresh = wallet(W)

function addr(f: Fixture, i: number): string {
  return i < W ? f.wallets[i]!.address : fresh.address
}

function msgsFor(f: Fixture, op: Op): { from: number; msgs: Msg[] } | null {
  switch (op.k) {
    case 'send':
      return { from: op.from, msgs: [{ type: 'send', to: addr(f, op.to), amount: op.amount }] }
    case 'delegate':
      return { from: op.from, msgs: [{ type: 'delegate', validator: f.validator.address, amount: op.amount }] }
    case 'undelegate':
      return { from: op.from, msgs: [{ type: 'undelegate', validator: f.validator.address, amount: op.amount }] }
    case 'prepay':
      return { from: op.from, msgs: [{ type: 'prepay', amount: op.amount }] }
    case 'register':
      return { from: op.from, msgs: [registerResourceMsg(nodes[op.node]!, f.wallets[op.from]!, op.deposit)] }
    case 'remove': {
      // mostly the owner (so removals happen), sometimes whoever was drawn (NOT_OWNER)
      const owner = f.app.query.node(nodes[op.node]!.address)?.owner
      const ownerIndex = f.wallets.findIndex((w) => w.address === owner)
      return {
        from: ownerIndex >= 0 && op.from % 2 === 0 ? ownerIndex : op.from,
        msgs: [{ type: 'remove_resource_node', node: nodes[op.node]!.address }],
      }
    }
    case 'withdraw':
      return { from: op.from, msgs: [{ type: 'withdraw_rewards' }] }
    case 'slash':
      return {
        from: 2,
        msgs: [
          { type: 'slash_resource_node', metaNode: f.meta.address, node: nodes[op.node]!.address, debtOzone: op.debt },
        ],
      }
    case 'report': {
      const byWallet = new Map<string, bigint>()
      for (const [i, b] of op.volumes) byWallet.set(addr(f, i), (byWallet.get(addr(f, i)) ?? 0n) + b)
      const total = [...byWallet.values()].reduce((a, b) => a + b, 0n)
      const first = (total * BigInt(op.split)) / 100n
      const credited: Array<[string, bigint]> = [
        [nodes[0]!.address, first],
        [nodes[1]!.address, total - first],
      ]
      return {
        from: 2,
        msgs: [
          reportMsg(
            f.meta,
            Math.max(1, f.app.epoch - 1),
            [...byWallet],
            credited.filter(([, b]) => b > 0n),
          ),
        ],
      }
    }
    default:
      return null
  }
}

function nextBlock(f: Fixture, txs: SignedTx[]): Block {
  f.time += 1000
  return { height: f.app.height + 1, time: f.time, proposer: f.validator.address, txs }
}

function checkInvariants(f: Fixture): void {
  assertSupply(f.app)
  for (const [, amount] of allBalances(f.app.store)) assert.ok(amount >= 0n)
  const market = f.app.query.ozoneMarket()
  assert.ok(market.L >= 0n && market.S >= 0n && market.P >= 0n)
  for (let i = 0; i <= W; i++) assert.ok(f.app.query.ozone(addr(f, i)) >= 0n)
  const mods = f.app.query.moduleAccounts()
  assert.equal(
    mods.bonded,
    f.app.query.validators().reduce((a, v) => a + v.tokens, 0n),
  )
  const all = [...f.app.query.resourceNodes(), ...f.app.query.metaNodes()]
  assert.equal(
    mods.nodeDeposits,
    all.reduce((a, n) => a + n.deposit, 0n),
  )
  assert.equal(
    market.S,
    all.filter((n) => n.status === 'active').reduce((a, n) => a + n.deposit, 0n),
  )
  assert.equal(
    mods.unbonding,
    [0, 1, 2, 3, 4, 5].flatMap((i) => f.app.query.unbondings(addr(f, i))).reduce((a, u) => a + u.amount, 0n),
  )
  assert.equal(
    mods.rewards,
    [0, 1, 2, 3, 4, 5].flatMap((i) => f.app.query.rewards(addr(f, i))).reduce((a, r) => a + r.amount, 0n),
  )
  assert.equal(mods.trafficRewards, 0n, 'traffic rewards are only held between a report and its epoch end') // (blocks end with the balance at 0 only at epoch ends)
}

test('random transaction sequences conserve supply and keep every invariant', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 20 }), (ops) => {
      const f = makeFixture({ wallets: W, params: { epochBlocks: 3, maturityEpochs: 1, unbondingBlocks: 3 } })
      const blocks: Block[] = []
      const included: SignedTx[] = []
      const apply = (txs: SignedTx[]) => {
        const b = nextBlock(f, txs)
        blocks.push(b)
        const r = f.app.applyBlock(b)
        r.results.forEach((res, i) => {
          if (res.included) included.push(txs[i]!)
        })
        return r
      }
      for (const op of ops) {
        if (op.k === 'empty') {
          for (let i = 0; i < op.blocks; i++) apply([])
        } else if (op.k === 'badSig' || op.k === 'wrongChain') {
          const from = f.wallets[op.from]!
          const send: Msg = { type: 'send', to: addr(f, (op.from + 1) % W), amount: STOS }
          const good = signed(f, from, [send])
          const bad =
            op.k === 'badSig'
              ? {
                  tx: good.tx,
                  signature: Buffer.from(f.wallets[(op.from + 1) % W]!.sign(txSigningBytes(good.tx))).toString('hex'),
                }
              : signTx(from, { ...good.tx, chainId: 'another-chain' })
          const nonce = f.app.query.nonce(from.address)
          const empty = f.app.executeBlock(nextBlockPeek(f, []))
          const withBad = f.app.executeBlock(nextBlockPeek(f, [bad]))
          assert.equal(withBad.result.results[0]!.code, op.k === 'badSig' ? 'INVALID_SIGNATURE' : 'WRONG_CHAIN')
          assert.equal(withBad.result.results[0]!.included, false)
          assert.equal(withBad.result.stateHash, empty.result.stateHash)
          apply([bad])
          assert.equal(f.app.query.nonce(from.address), nonce)
        } else if (op.k === 'replay') {
          const old = included.at(-1)
          if (!old) continue
          const r = apply([old])
          assert.equal(r.results[0]!.code, 'REPLAYED_NONCE')
          assert.equal(r.results[0]!.included, false)
        } else if (op.k === 'reorder') {
          const from = f.wallets[op.from]!
          const n = f.app.query.nonce(from.address)
          const send: Msg = { type: 'send', to: addr(f, W), amount: 1n }
          const second = signed(f, from, [send], { nonce: n + 1n })
          const first = signed(f, from, [send], { nonce: n })
          const r = apply([second, first, second])
          assert.deepEqual(
            r.results.map((x) => x.code),
            ['BAD_NONCE', 'OK', 'OK'],
          )
          assert.equal(f.app.query.nonce(from.address), n + 2n)
        } else {
          const t = msgsFor(f, op)!
          const from = f.wallets[t.from]!
          if (f.app.query.balance(from.address) < FEE) continue
          apply([signed(f, from, t.msgs)])
        }
        checkInvariantsAtRest(f)
      }
      // a second node applying the same blocks reaches the same state
      const g = makeFixture({ wallets: W, params: { epochBlocks: 3, maturityEpochs: 1, unbondingBlocks: 3 } })
      for (const b of blocks) g.app.applyBlock(b)
      assert.equal(g.app.stateHash, f.app.stateHash)
    }),
    { numRuns: 30 },
  )
})

/** The next block header without advancing the fixture's clock (for executeBlock comparisons). */
function nextBlockPeek(f: Fixture, txs: SignedTx[]): Block {
  return { height: f.app.height + 1, time: f.time + 1000, proposer: f.validator.address, txs }
}

/**
 * Invariants that hold after any block. Traffic rewards wait in their module account between a
 * report and the end of its epoch, so that one is checked only right after an epoch boundary.
 */
function checkInvariantsAtRest(f: Fixture): void {
  const atBoundary = f.app.height % f.app.params.epochBlocks === 0
  if (atBoundary) {
    checkInvariants(f)
    return
  }
  const traffic = f.app.query.moduleAccounts().trafficRewards
  assert.ok(traffic >= 0n)
  assertSupply(f.app)
  for (const [, amount] of allBalances(f.app.store)) assert.ok(amount >= 0n)
  const market = f.app.query.ozoneMarket()
  assert.ok(market.L >= 0n)
  assert.equal(f.app.query.balance(MODULE_ACCOUNTS.miningPool) + f.app.query.mining().totalMined, 40_000_000n * STOS)
}
