/**
 * The ABCI application's mempool side without CometBFT's Recheck (mempool.recheck = false): CheckTx carries each
 * sender's pending nonce across Commits (and resets it after COMET_MEMPOOL_TTL_BLOCKS without progress),
 * PrepareProposal leaves out txs that would fail ante and evicts them once they have been held back that long,
 * ProcessProposal accepts a block whose txs fail in execution. A real AbciApplication on LMDB, driven by requests.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CheckTxType, Request, ResponseProcessProposal_ProposalStatus } from 'cosmjs-types/tendermint/abci/types'
import { abciCode } from '../../../src/chain/abci/codes.ts'
import { AbciApplication } from '../../../src/chain/node/abci/application.ts'
import { Blockchain } from '../../../src/chain/node/blockchain.ts'
import { openChainApp } from '../../../src/chain/node/index.ts'
import { LmdbChainStore } from '../../../src/chain/node/lmdb-store.ts'
import { Mempool } from '../../../src/chain/node/mempool.ts'
import { encodeSignedTx, signTx, type SignedTx } from '../../../src/chain/tx.ts'
import type { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { COMET_MEMPOOL_TTL_BLOCKS } from '../../../src/limits.ts'
import { systemClock } from '../../../src/util/components.ts'
import { CHAIN_ID, FEE, makeFixture } from '../helpers.ts'

const PROPOSER = new Uint8Array(20).fill(7)

function setup(t: TestContext) {
  const f = makeFixture({ wallets: 6 })
  const dir = mkdtempSync(join(tmpdir(), 'stratos-abci-app-'))
  const store = LmdbChainStore.open(dir)
  const app = openChainApp(store, { dataDir: dir, genesis: f.genesis }, systemClock)
  const chain = new Blockchain(app, store, new Mempool(app))
  const abci = new AbciApplication({ chain })
  t.after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const bytes = (tx: SignedTx) => new TextEncoder().encode(encodeSignedTx(tx))
  const time = (height: number) => {
    const ms = f.genesis.genesisTime + height * 1000
    return { seconds: BigInt(Math.floor(ms / 1000)), nanos: 0 }
  }
  const send = (from: WalletKey, nonce: bigint, amount: bigint, to = f.wallets[1]!.address) =>
    signTx(from, { chainId: CHAIN_ID, sender: from.address, nonce, fee: FEE, msgs: [{ type: 'send', to, amount }] })
  return {
    f,
    chain,
    send,
    checkTx(tx: SignedTx, type = CheckTxType.NEW): number {
      return abci.handle(Request.fromPartial({ checkTx: { tx: bytes(tx), type } })).checkTx!.code
    },
    prepare(txs: SignedTx[]): SignedTx[] {
      const height = BigInt(chain.height + 1)
      const res = abci.handle(
        Request.fromPartial({
          prepareProposal: {
            txs: txs.map(bytes),
            maxTxBytes: 1_000_000n,
            height,
            time: time(Number(height)),
            proposerAddress: PROPOSER,
          },
        }),
      )
      const kept = res.prepareProposal!.txs.map((b) => Buffer.from(b).toString())
      return txs.filter((tx) => kept.includes(encodeSignedTx(tx)))
    },
    process(txs: Uint8Array[]): ResponseProcessProposal_ProposalStatus {
      const height = BigInt(chain.height + 1)
      return abci.handle(Request.fromPartial({ processProposal: { txs, height, proposerAddress: PROPOSER } }))
        .processProposal!.status
    },
    /** FinalizeBlock + Commit; the txs' result codes. */
    commit(txs: SignedTx[]): number[] {
      const height = chain.height + 1
      const res = abci.handle(
        Request.fromPartial({
          finalizeBlock: { txs: txs.map(bytes), height: BigInt(height), time: time(height), proposerAddress: PROPOSER },
        }),
      )
      assert.ok(!res.exception, res.exception?.error)
      assert.ok(!abci.handle(Request.fromPartial({ commit: {} })).exception)
      return res.finalizeBlock!.txResults.map((r) => r.code)
    },
  }
}

test('CheckTx without Recheck: a sender’s pending nonce carries across Commits, in order, no gaps', (t) => {
  const s = setup(t)
  const alice = s.f.wallets[4]!
  const [tx0, tx1, tx2] = [0n, 1n, 2n].map((n) => s.send(alice, n, 1n)) as [SignedTx, SignedTx, SignedTx]
  assert.equal(s.checkTx(tx0), 0)
  assert.equal(s.checkTx(tx1), 0, 'the next nonce in the same block window')
  assert.equal(s.checkTx(s.send(alice, 3n, 1n)), abciCode('BAD_NONCE'), 'a gap')
  assert.equal(s.checkTx(s.send(alice, 1n, 2n)), abciCode('BAD_NONCE'), 'a second tx for a pending nonce')
  // Only tx0 makes the block; tx1 stays pending (no Recheck rebuilds the sequence): the next nonce is still 2.
  assert.deepEqual(s.commit([tx0]), [0])
  assert.equal(s.checkTx(tx2), 0)
  assert.equal(s.checkTx(s.send(alice, 0n, 5n)), abciCode('REPLAYED_NONCE'))
  assert.deepEqual(s.commit([tx1, tx2]), [0, 0])
  // Caught up: checked against the committed nonce again.
  assert.equal(s.checkTx(s.send(alice, 3n, 1n)), 0)
  // A Recheck (if CometBFT sends one) checks everything but the sequence.
  assert.equal(s.checkTx(s.send(alice, 7n, 1n), CheckTxType.RECHECK), 0)
  assert.equal(s.checkTx(tx1, CheckTxType.RECHECK), abciCode('REPLAYED_NONCE'))
})

test('a tx that cannot pay: PrepareProposal leaves it out, ProcessProposal accepts a block with it, it fails with its code; after the TTL the sender signs from the committed nonce', (t) => {
  const s = setup(t)
  const bob = s.f.wallets[5]!
  const balance = s.chain.app.query.balance(bob.address)
  // tx0 sends everything but its fee; tx1's fee is then unpaid. CheckTx checks fees against the committed balance.
  const tx0 = s.send(bob, 0n, balance - FEE)
  const tx1 = s.send(bob, 1n, 1n)
  assert.equal(s.checkTx(tx0), 0)
  assert.equal(s.checkTx(tx1), 0)
  // Out of order, and the unpaid one: only tx0 is proposed.
  assert.deepEqual(s.prepare([tx1, tx0]), [tx0])
  assert.deepEqual(s.prepare([tx0, tx1]), [tx0])
  // Another proposer's block with both: valid (only a malformed tx rejects a proposal); tx1 fails in execution.
  const both = [tx0, tx1].map((tx) => new TextEncoder().encode(encodeSignedTx(tx)))
  assert.equal(s.process(both), ResponseProcessProposal_ProposalStatus.ACCEPT)
  assert.equal(
    s.process([...both, new TextEncoder().encode('{"tx":1}')]),
    ResponseProcessProposal_ProposalStatus.REJECT,
  )
  assert.deepEqual(s.commit([tx0, tx1]), [0, abciCode('INSUFFICIENT_FUNDS')])
  assert.equal(s.chain.app.query.nonce(bob.address), 1n, 'tx1 consumed no nonce')
  // Funded again: but the pending nonce is 2 (tx1 was admitted), so a re-signed nonce 1 waits for the TTL.
  assert.deepEqual(s.commit([s.send(s.f.wallets[3]!, 0n, 100n * FEE, bob.address)]), [0])
  const again = s.send(bob, 1n, 2n)
  assert.equal(s.checkTx(again), abciCode('BAD_NONCE'))
  for (let i = 2; i < COMET_MEMPOOL_TTL_BLOCKS; i++) s.commit([])
  assert.equal(s.checkTx(again), abciCode('BAD_NONCE'), 'one block before the TTL')
  s.commit([])
  assert.equal(s.checkTx(again), 0, 'the pending nonce reset to the committed one')
  assert.deepEqual(s.commit([again]), [0])
})

test('PrepareProposal holds back a tx that would fail for COMET_MEMPOOL_TTL_BLOCKS, then includes it once to evict it', (t) => {
  const s = setup(t)
  const carol = s.f.wallets[4]!
  const gap = s.send(carol, 1n, 1n) // nonce 0 never comes
  const ok = s.send(s.f.wallets[5]!, 0n, 1n)
  assert.deepEqual(s.prepare([gap, ok]), [ok])
  s.commit([])
  for (let i = 1; i < COMET_MEMPOOL_TTL_BLOCKS; i++) {
    assert.deepEqual(s.prepare([gap]), [], `block ${i} after it was first held back`)
    s.commit([])
  }
  assert.deepEqual(s.prepare([gap, ok]), [gap, ok])
  assert.deepEqual(s.commit([gap, ok]), [abciCode('BAD_NONCE'), 0])
})
