/**
 * Determinism through ABCI, with restarts (issue 14 must-hold): random blocks — transfers, delegations, prepays,
 * validator creation, votes with absences and double-sign evidence — go to a reference app in memory and, as
 * FinalizeBlock + Commit requests, to an AbciApplication on LMDB that is restarted (store closed and reopened)
 * at random points, sometimes between FinalizeBlock and Commit (a crash: the block is finalized again, as
 * CometBFT's handshake replays it). Both report the same app hash at every height.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { Request } from 'cosmjs-types/tendermint/abci/types'
import { BlockIDFlag } from 'cosmjs-types/tendermint/types/validator'
import { AbciApplication } from '../../../src/chain/node/abci/application.ts'
import { Blockchain } from '../../../src/chain/node/blockchain.ts'
import { openChainApp } from '../../../src/chain/node/index.ts'
import { LmdbChainStore } from '../../../src/chain/node/lmdb-store.ts'
import { Mempool } from '../../../src/chain/node/mempool.ts'
import type { Msg } from '../../../src/chain/msgs.ts'
import { consensusAddress } from '../../../src/chain/state/staking.ts'
import type { ConsensusInfo } from '../../../src/chain/state/validator-slashing.ts'
import { encodeSignedTx, signTx, type SignedTx } from '../../../src/chain/tx.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import { systemClock } from '../../../src/util/components.ts'
import { CHAIN_ID, FEE, makeFixture, nodeKey } from '../helpers.ts'

const STOS = 10n ** 18n
const KEY0 = toHex(nodeKey(200).publicKey)
const KEY1 = toHex(nodeKey(201).publicKey)

type Op =
  | { k: 'send'; from: number; to: number; amount: bigint }
  | { k: 'delegate'; from: number; amount: bigint }
  | { k: 'prepay'; from: number; amount: bigint }
  | { k: 'validator'; from: number }
  | { k: 'empty' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant('send' as const),
    from: fc.integer({ min: 1, max: 3 }),
    to: fc.integer({ min: 0, max: 3 }),
    amount: fc.bigInt({ min: 1n, max: 1_000n * STOS }),
  }),
  fc.record({
    k: fc.constant('delegate' as const),
    from: fc.integer({ min: 1, max: 3 }),
    amount: fc.bigInt({ min: 1n, max: 2_000n * STOS }),
  }),
  fc.record({
    k: fc.constant('prepay' as const),
    from: fc.integer({ min: 1, max: 3 }),
    amount: fc.bigInt({ min: 1n, max: 50n * STOS }),
  }),
  fc.record({ k: fc.constant('validator' as const), from: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ k: fc.constant('empty' as const) }),
)

const blockArb = fc.record({
  ops: fc.array(opArb, { maxLength: 4 }),
  signed1: fc.boolean(),
  evidence: fc.integer({ min: 0, max: 30 }),
  restart: fc.constantFrom('none', 'none', 'none', 'after-commit', 'before-commit'),
})

test('the same blocks through ABCI on LMDB, restarted at random (also between FinalizeBlock and Commit), give the reference app hashes', async () => {
  const dirs: string[] = []
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(blockArb, { minLength: 5, maxLength: 25 }), async (blocks) => {
        const f = makeFixture({ params: { epochBlocks: 4, signedBlocksWindow: 4, downtimeJailBlocks: 2 } })
        const dir = mkdtempSync(join(tmpdir(), 'stratos-replay-'))
        dirs.push(dir)
        const open = () => {
          const store = LmdbChainStore.open(dir)
          const app = openChainApp(store, { dataDir: dir, genesis: f.genesis }, systemClock)
          const chain = new Blockchain(app, store, new Mempool(app))
          return { store, chain, abci: new AbciApplication({ chain }) }
        }
        let node = open()
        const nonces = new Map<string, bigint>()
        const hasV1 = () => f.app.query.validator(f.wallets[3]!.address) !== undefined
        for (const b of blocks) {
          const txs: SignedTx[] = []
          for (const op of b.ops) {
            const msg = msgOf(f, op, hasV1())
            if (!msg) continue
            const from = f.wallets[op.k === 'empty' ? 0 : op.k === 'validator' ? 3 : op.from]!
            const nonce = nonces.get(from.address) ?? f.app.query.nonce(from.address)
            nonces.set(from.address, nonce + 1n)
            txs.push(signTx(from, { chainId: CHAIN_ID, sender: from.address, nonce, fee: FEE, msgs: [msg] }))
          }
          const consensus: ConsensusInfo = {
            votes: [
              { address: consensusAddress(KEY0), signed: true },
              ...(hasV1() ? [{ address: consensusAddress(KEY1), signed: b.signed1 }] : []),
            ],
            misbehavior: b.evidence === 0 && hasV1() ? [{ address: consensusAddress(KEY1), height: f.app.height }] : [],
          }
          f.time += 1000
          const height = f.app.height + 1
          const ref = f.app.applyBlock({ height, time: f.time, proposer: f.validator.address, txs, consensus })
          for (const [k] of nonces) nonces.set(k, f.app.query.nonce(k))
          const request = Request.fromPartial({
            finalizeBlock: {
              height: BigInt(height),
              time: { seconds: BigInt(Math.floor(f.time / 1000)), nanos: (f.time % 1000) * 1e6 },
              proposerAddress: Buffer.from(consensusAddress(KEY0), 'hex'),
              txs: txs.map((tx) => new TextEncoder().encode(encodeSignedTx(tx))),
              decidedLastCommit: {
                round: 0,
                votes: consensus.votes.map((v) => ({
                  validator: { address: Buffer.from(v.address, 'hex'), power: 1n },
                  blockIdFlag: v.signed ? BlockIDFlag.BLOCK_ID_FLAG_COMMIT : BlockIDFlag.BLOCK_ID_FLAG_ABSENT,
                })),
              },
              misbehavior: consensus.misbehavior.map((m) => ({
                type: 1,
                validator: { address: Buffer.from(m.address, 'hex'), power: 1n },
                height: BigInt(m.height),
              })),
            },
          })
          let finalized = node.abci.handle(request)
          if (b.restart === 'before-commit') {
            await node.store.close()
            node = open()
            assert.equal(node.chain.height, height - 1)
            finalized = node.abci.handle(request)
          }
          assert.equal(Buffer.from(finalized.finalizeBlock!.appHash).toString('hex'), ref.stateHash, `height ${height}`)
          assert.ok(!node.abci.handle(Request.fromPartial({ commit: {} })).exception)
          if (b.restart === 'after-commit') {
            await node.store.close()
            node = open()
          }
          const info = node.abci.handle(Request.fromPartial({ info: {} })).info!
          assert.equal(Number(info.lastBlockHeight), height)
          assert.equal(Buffer.from(info.lastBlockAppHash).toString('hex'), ref.stateHash)
        }
        await node.store.close()
      }),
      { numRuns: 8 },
    )
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
})

function msgOf(f: ReturnType<typeof makeFixture>, op: Op, hasV1: boolean): Msg | undefined {
  switch (op.k) {
    case 'send':
      return { type: 'send', to: f.wallets[op.to]!.address, amount: op.amount }
    case 'delegate':
      return {
        type: 'delegate',
        validator: hasV1 && op.from % 2 ? f.wallets[3]!.address : f.validator.address,
        amount: op.amount,
      }
    case 'prepay':
      return { type: 'prepay', amount: op.amount }
    case 'validator':
      // Wallet 3 becomes the second validator (KEY1); a second try fails (CONFLICT).
      return {
        type: 'create_validator',
        consensusKey: KEY1,
        commissionBps: 500,
        selfDelegation: 5_000n * STOS,
        moniker: 'v1',
      }
    case 'empty':
      return undefined
  }
}
