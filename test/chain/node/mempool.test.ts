/** Mempool: admission checks, per-sender nonce order, bounds, duplicates, pruning and re-checks after a block. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChainApp } from '../../../src/chain/app.ts'
import { Mempool } from '../../../src/chain/node/mempool.ts'
import { stos } from '../../../src/chain/params.ts'
import { txHash, type SignedTx } from '../../../src/chain/tx.ts'
import { assertCode } from '../helpers.ts'
import { FEE, GENESIS_TIME, nodeGenesis, transfer, wallet } from './fixtures.ts'

function setup(limits = {}) {
  const app = ChainApp.genesis(nodeGenesis())
  return { app, pool: new Mempool(app, limits), time: GENESIS_TIME }
}

function applyBlock(s: ReturnType<typeof setup>, txs: SignedTx[]) {
  s.time += 1000
  const r = s.app.applyBlock({ height: s.app.height + 1, time: s.time, proposer: wallet(0).address, txs })
  s.pool.update(txs)
  return r
}

test('admits consecutive nonces per sender and reaps them in order', () => {
  const s = setup()
  const [a, b, to] = [wallet(1), wallet(2), wallet(3).address]
  const a0 = transfer(a, to, 1n, 0n),
    a1 = transfer(a, to, 1n, 1n),
    b0 = transfer(b, to, 1n, 0n),
    a2 = transfer(a, to, 1n, 2n)
  for (const tx of [a0, b0, a1, a2]) s.pool.add(tx)
  assert.equal(s.pool.size, 4)
  // senders in arrival order, each sender's run in nonce order
  assert.deepEqual(s.pool.reap().map(txHash), [a0, a1, a2, b0].map(txHash))
  // block bounds: at most 2 txs, or bytes for 3
  assert.deepEqual(s.pool.reap(2).map(txHash), [a0, a1].map(txHash))
  assert.equal(s.pool.reap(100, Math.floor(s.pool.bytes * 0.8)).length, 3)
  // a nonce too far ahead, a pending nonce, a duplicate
  assertCode(() => s.pool.add(transfer(a, to, 1n, 300n)), 'BAD_NONCE')
  assertCode(() => s.pool.add(transfer(b, to, 2n, 0n)), 'CONFLICT')
  assertCode(() => s.pool.add(a1), 'CONFLICT')
  const r = applyBlock(s, [a0, b0])
  assert.ok(r.results.every((x) => x.code === 'OK'))
  assert.equal(s.pool.size, 2)
  assertCode(() => s.pool.add(a0), 'REPLAYED_NONCE')
  assert.deepEqual(s.pool.reap().map(txHash), [a1, a2].map(txHash))
  s.pool.add(transfer(b, to, 1n, 1n))
  assert.equal(s.pool.size, 3)
})

test('nonces arriving out of order wait for the gap, then go in nonce order; stale ones expire', () => {
  const s = setup({ futureTtlBlocks: 3 })
  const a = wallet(1),
    to = wallet(3).address
  const t = [0n, 1n, 2n, 3n].map((n) => transfer(a, to, 1n, n))
  s.pool.add(t[2]!)
  s.pool.add(t[1]!)
  assert.deepEqual(s.pool.reap(), [])
  s.pool.add(t[0]!)
  assert.deepEqual(
    s.pool.reap().map(txHash),
    [t[0], t[1], t[2]].map((x) => txHash(x!)),
  )
  applyBlock(s, s.pool.reap(2))
  assert.deepEqual(s.pool.reap().map(txHash), [txHash(t[2]!)])
  // nonce 5 waits for 4; it expires after futureTtlBlocks blocks without it
  const t5 = transfer(a, to, 1n, 5n)
  s.pool.add(t5)
  applyBlock(s, s.pool.reap())
  s.pool.add(t[3]!)
  assert.equal(s.pool.size, 2)
  assert.deepEqual(s.pool.reap().map(txHash), [txHash(t[3]!)])
  for (let i = 0; i < 4; i++) applyBlock(s, [])
  assert.equal(s.pool.has(txHash(t5)), false)
  assert.equal(s.pool.size, 0)
})

test('a block that uses a pending nonce through another tx drops only that one', () => {
  const s = setup()
  const a = wallet(1),
    to = wallet(3).address
  const t0 = transfer(a, to, 1n, 0n),
    t1 = transfer(a, to, 1n, 1n)
  s.pool.add(t0)
  s.pool.add(t1)
  applyBlock(s, [transfer(a, to, 2n, 0n)])
  assert.equal(s.pool.has(txHash(t0)), false)
  assert.deepEqual(s.pool.reap().map(txHash), [txHash(t1)])
})

test('refuses wrong chain, bad signature, low fee and fees the balance cannot cover', () => {
  const s = setup()
  const a = wallet(1),
    to = wallet(3).address
  assertCode(() => s.pool.add(transfer(a, to, 1n, 0n, { chainId: 'other' })), 'WRONG_CHAIN')
  const good = transfer(a, to, 1n, 0n)
  assertCode(() => s.pool.add({ tx: { ...good.tx, fee: FEE * 2n }, signature: good.signature }), 'INVALID_SIGNATURE')
  assertCode(() => s.pool.add(transfer(a, to, 1n, 0n, { fee: FEE - 1n })), 'INSUFFICIENT_FEE')
  const poor = wallet(40)
  assertCode(() => s.pool.add(transfer(poor, to, 1n, 0n)), 'INSUFFICIENT_FUNDS')
  // a's balance covers one huge fee but not two
  const bal = s.app.query.balance(a.address)
  s.pool.add(transfer(a, to, 1n, 0n, { fee: bal - 1n }))
  assertCode(() => s.pool.add(transfer(a, to, 1n, 1n, { fee: FEE })), 'INSUFFICIENT_FUNDS')
  assert.equal(s.pool.size, 1)
})

test('bounds: total txs, total bytes and per sender give MEMPOOL_FULL', () => {
  const to = wallet(5).address
  const s = setup({ maxTxs: 3, maxTxsPerSender: 2 })
  s.pool.add(transfer(wallet(1), to, 1n, 0n))
  s.pool.add(transfer(wallet(1), to, 1n, 1n))
  assertCode(() => s.pool.add(transfer(wallet(1), to, 1n, 2n)), 'MEMPOOL_FULL')
  s.pool.add(transfer(wallet(2), to, 1n, 0n))
  assertCode(() => s.pool.add(transfer(wallet(3), to, 1n, 0n)), 'MEMPOOL_FULL')
  const tx = transfer(wallet(1), to, 1n, 0n)
  const small = setup({ maxBytes: 500 })
  small.pool.add(tx)
  assert.ok(small.pool.bytes > 250 && small.pool.bytes <= 500)
  assertCode(() => small.pool.add(transfer(wallet(2), to, 1n, 0n)), 'MEMPOOL_FULL')
})

test('after a block, a sender whose pending txs became invalid loses them (and the ones after)', () => {
  const s = setup()
  const a = wallet(1),
    to = wallet(3).address
  const bal = s.app.query.balance(a.address)
  const t0 = transfer(a, to, 1n, 0n),
    t1 = transfer(a, to, 1n, 1n, { fee: stos(1) }),
    t2 = transfer(a, to, 1n, 2n)
  for (const tx of [t0, t1, t2]) s.pool.add(tx)
  // Included elsewhere: a block spends almost all of a's balance with nonce 0 (a different tx than t0).
  const drain = transfer(a, to, bal - FEE - stos('0.5'), 0n)
  const r = applyBlock(s, [drain])
  assert.equal(r.results[0]!.code, 'OK')
  // t0 is now a replayed nonce, t1's fee (1 STOS) is no longer covered: everything of a goes.
  assert.equal(s.pool.size, 0)
  assert.equal(s.pool.bytes, 0)
  s.pool.add(transfer(a, to, 1n, 1n))
  assert.equal(s.pool.size, 1)
})
