/**
 * Test fixtures for the chain: deterministic wallets and node keys, a devnet genesis with one
 * validator, a few resource nodes and a meta node, and helpers to sign transactions and apply
 * blocks.
 */
import assert from 'node:assert/strict'
import { NodeKey } from '../../src/crypto/node-key.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../src/errors.ts'
import { ChainApp, type BlockResult } from '../../src/chain/app.ts'
import { devnetGenesis, type GenesisConfig, type GenesisNode } from '../../src/chain/genesis.ts'
import type { Msg, VolumeReport } from '../../src/chain/msgs.ts'
import { signNodeOwnership, signVolumeReport } from '../../src/chain/node-proofs.ts'
import { stos, type ChainParams } from '../../src/chain/params.ts'
import { signTx, type SignedTx, type Tx } from '../../src/chain/tx.ts'
import { seededRandom } from '../../src/util/components.ts'
import { toHex } from '../../src/crypto/hash.ts'

export const CHAIN_ID = 'stratos-test-1'

export function wallet(i: number): WalletKey {
  return WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))
}

export function nodeKey(i: number): NodeKey {
  return NodeKey.generate(seededRandom(1000 + i))
}

export interface Fixture {
  app: ChainApp
  genesis: GenesisConfig
  wallets: WalletKey[]
  /** wallets[0] operates the validator (and proposes every block). */
  validator: WalletKey
  /** Resource node keys, owned by wallets[1]. */
  resources: NodeKey[]
  /** The genesis meta node, owned by wallets[2]. */
  meta: NodeKey
  /** Next time for blocks. */
  time: number
}

export interface FixtureOptions {
  wallets?: number
  resources?: number
  params?: Partial<ChainParams>
  withValidator?: boolean
  withMeta?: boolean
}

export function genesisNode(key: NodeKey, owner: WalletKey, deposit: bigint, kind: 'resource' | 'meta'): GenesisNode {
  return {
    node: key.address,
    publicKey: toHex(key.publicKey),
    owner: owner.address,
    deposit,
    moniker: `${kind}-${key.address.slice(-4)}`,
  }
}

export function makeFixture(o: FixtureOptions = {}): Fixture {
  const wallets = Array.from({ length: o.wallets ?? 4 }, (_, i) => wallet(i))
  const resources = Array.from({ length: o.resources ?? 3 }, (_, i) => nodeKey(i))
  const meta = nodeKey(100)
  const genesis = devnetGenesis({
    chainId: CHAIN_ID,
    wallets: wallets.map((w) => w.address),
    genesisTime: 1_700_000_000_000,
    params: { epochBlocks: 5, maturityEpochs: 1, unbondingBlocks: 4, ...o.params },
    validators:
      o.withValidator === false
        ? []
        : [
            {
              operator: wallets[0]!.address,
              consensusKey: toHex(nodeKey(200).publicKey),
              commissionBps: 1000,
              selfDelegation: stos(10_000),
              moniker: 'val-0',
            },
          ],
    resourceNodes: resources.map((k) => genesisNode(k, wallets[1]!, stos(1_000), 'resource')),
    metaNodes: o.withMeta === false ? [] : [genesisNode(meta, wallets[2]!, stos(10_000), 'meta')],
  })
  const app = ChainApp.genesis(genesis)
  return { app, genesis, wallets, validator: wallets[0]!, resources, meta, time: genesis.genesisTime }
}

export const FEE = 10n ** 13n

/** Signs a tx from `from` with the next account nonce (or the given one). */
export function signed(f: Fixture, from: WalletKey, msgs: Msg[], over: Partial<Tx> = {}): SignedTx {
  const tx: Tx = {
    chainId: CHAIN_ID,
    sender: from.address,
    nonce: f.app.query.nonce(from.address),
    fee: FEE,
    msgs,
    ...over,
  }
  return signTx(from, tx)
}

/** Applies the next block with `txs`, proposed by the validator. */
export function block(f: Fixture, txs: SignedTx[] = []): BlockResult {
  f.time += 1000
  return f.app.applyBlock({ height: f.app.height + 1, time: f.time, proposer: f.validator.address, txs })
}

/** Applies one block with one tx and asserts its result code. */
export function run(f: Fixture, from: WalletKey, msgs: Msg[], code: string = 'OK'): BlockResult {
  const r = block(f, [signed(f, from, msgs)])
  assert.equal(r.results[0]!.code, code, r.results[0]!.message)
  return r
}

/** Applies empty blocks until the current epoch has ended (the next block starts a new epoch). */
export function finishEpoch(f: Fixture): BlockResult {
  const epochBlocks = f.app.params.epochBlocks
  let r = block(f)
  while (r.height % epochBlocks !== 0) r = block(f)
  return r
}

export function registerResourceMsg(key: NodeKey, owner: WalletKey, deposit: bigint): Msg {
  return {
    type: 'create_resource_node',
    ...signNodeOwnership(key, CHAIN_ID, 'resource', owner.address),
    deposit,
    moniker: 'r',
  }
}

export function reportMsg(
  meta: NodeKey,
  epoch: number,
  wallets: Array<[string, bigint]>,
  nodes: Array<[string, bigint]>,
): Msg {
  const report: VolumeReport = {
    chainId: CHAIN_ID,
    epoch,
    metaNode: meta.address,
    wallets: [...wallets].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([wallet, bytes]) => ({ wallet, bytes })),
    nodes: [...nodes].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([node, bytes]) => ({ node, bytes })),
  }
  return signVolumeReport(meta, report)
}

export function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStratosError(e), `expected a StratosError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    return true
  })
}

export function assertSupply(app: ChainApp): void {
  const audit = app.query.supplyAudit()
  assert.equal(audit.sumOfBalances, stos(100_000_000))
  assert.ok(audit.ok, 'mined total must equal what left the mining pool')
}
