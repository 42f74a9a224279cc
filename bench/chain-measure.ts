/**
 * Measurements of the state machine's hot paths (used by the benchmark scripts; no test relies
 * on their timings):
 *  - applying a block with one volume report of N wallets and M resource nodes;
 *  - admitting (checkTx) and applying signed transfers.
 * Each builds its own in-memory chain from a devnet genesis, prepares the state with ordinary
 * signed transactions, and times only the step being measured.
 */
import { performance } from 'node:perf_hooks'
import { bech32 } from '@scure/base'
import { NodeKey } from '../src/crypto/node-key.ts'
import { toHex } from '../src/crypto/hash.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'
import { seededRandom } from '../src/util/components.ts'
import { ChainApp } from '../src/chain/app.ts'
import { devnetGenesis, type GenesisNode } from '../src/chain/genesis.ts'
import type { Msg, VolumeReport } from '../src/chain/msgs.ts'
import { signVolumeReport } from '../src/chain/node-proofs.ts'
import { MAX_MSGS_PER_TX, stos } from '../src/chain/params.ts'
import {
  decodeSignedTx,
  encodeSignedTx,
  recoverTxSigner,
  signTx,
  txEnvelope,
  type SignedTx,
  type TxSignerRecovery,
} from '../src/chain/tx.ts'

const CHAIN_ID = 'stratos-measure-1'

/** Wall-clock and CPU time (all threads of the process) since creation, in ms. CPU time is less disturbed by other processes on a shared machine. */
function stopwatch(): { ms: () => number; cpuMs: () => number } {
  const t = performance.now()
  const c = process.cpuUsage()
  return {
    ms: () => performance.now() - t,
    cpuMs: () => {
      const d = process.cpuUsage(c)
      return (d.user + d.system) / 1000
    },
  }
}

function walletKey(i: number): WalletKey {
  return WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))
}

/** A valid st1… address for wallet number i without deriving a key (report payers need no keys). */
function payerAddress(i: number): string {
  const bytes = new Uint8Array(20)
  new DataView(bytes.buffer).setUint32(16, i + 1)
  bytes[0] = 0x5a
  return bech32.encode('st', bech32.toWords(bytes))
}

export interface VolumeReportMeasurement {
  wallets: number
  nodes: number
  /** Size of the report transaction's JSON. */
  txBytes: number
  /** JSON.parse + schema decoding (the chain node's edge). */
  decodeMs: number
  /** Canonical encoding, hash and signing bytes of the tx (once per tx; shared by checkTx and apply). */
  envelopeMs: number
  /** Recovering the wallet signature: keccak-256 of the signing bytes + secp256k1 recovery (once per tx, cached by hash). */
  recoverMs: number
  /**
   * Executing the block after checkTx admitted the tx (the normal path): ante with the cached
   * signer, the meta node's ed25519 signature, ozone charges, reward, end-block, the state hash.
   */
  applyMs: number
  /** CPU time of the same step (less sensitive to other load on the machine). */
  applyCpuMs: number
  /** Writing the block's batch to the in-memory store. */
  commitMs: number
  /** State keys the block changed. */
  writes: number
  /** End of the epoch afterwards: distributing rewards to the reported nodes. */
  epochEndMs: number
}

/** Times a block holding one volume report of `wallets` payers and `nodes` resource nodes. */
export function measureVolumeReport(opts: { wallets?: number; nodes?: number } = {}): VolumeReportMeasurement {
  const walletCount = opts.wallets ?? 10_000
  const nodeCount = opts.nodes ?? 100
  const funder = walletKey(0)
  const metaOwner = walletKey(1)
  const nodeOwner = walletKey(2)
  const meta = NodeKey.generate(seededRandom(7))
  const nodeKeys = Array.from({ length: nodeCount }, (_, i) => NodeKey.generate(seededRandom(100 + i)))
  const gnode = (k: NodeKey, owner: WalletKey, deposit: bigint): GenesisNode => ({
    node: k.address,
    publicKey: toHex(k.publicKey),
    owner: owner.address,
    deposit,
    moniker: '',
  })
  const genesis = devnetGenesis({
    chainId: CHAIN_ID,
    wallets: [funder.address, metaOwner.address, nodeOwner.address],
    params: { epochBlocks: 10 },
    resourceNodes: nodeKeys.map((k) => gnode(k, nodeOwner, stos(1_000))),
    metaNodes: [gnode(meta, metaOwner, stos(10_000))],
  })
  const app = ChainApp.genesis(genesis)
  let time = genesis.genesisTime
  const apply = (txs: SignedTx[]) => app.applyBlock({ height: app.height + 1, time: (time += 1000), proposer: '', txs })

  // Every payer gets ozone: prepay with beneficiaries, 32 per tx.
  const payers = Array.from({ length: walletCount }, (_, i) => payerAddress(i)).sort()
  const prepays: SignedTx[] = []
  for (let i = 0; i < payers.length; i += MAX_MSGS_PER_TX) {
    const msgs: Msg[] = payers
      .slice(i, i + MAX_MSGS_PER_TX)
      .map((beneficiary) => ({ type: 'prepay', amount: stos(1), beneficiary }))
    prepays.push(
      signTx(funder, {
        chainId: CHAIN_ID,
        sender: funder.address,
        nonce: BigInt(prepays.length),
        fee: app.params.minFeeWei,
        msgs,
      }),
    )
  }
  apply(prepays)
  // Close epoch 1 by hand: the report must be for an ended epoch.
  endEpochNow(app, () => (time += 1000))

  const perNode = 1_000n
  const report: VolumeReport = {
    chainId: CHAIN_ID,
    epoch: app.epoch - 1,
    metaNode: meta.address,
    wallets: payers.map((wallet) => ({ wallet, bytes: perNode * BigInt(nodeCount) })),
    nodes: nodeKeys
      .map((k) => k.address)
      .sort()
      .map((node) => ({ node, bytes: perNode * BigInt(walletCount) })),
  }
  const signedTx = signTx(metaOwner, {
    chainId: CHAIN_ID,
    sender: metaOwner.address,
    nonce: 0n,
    fee: app.params.minFeeWei,
    msgs: [signVolumeReport(meta, report)],
  })
  const text = encodeSignedTx(signedTx)

  let t = performance.now()
  const decoded = decodeSignedTx(JSON.parse(text))
  const decodeMs = performance.now() - t
  t = performance.now()
  const env = txEnvelope(decoded)
  const envelopeMs = performance.now() - t
  t = performance.now()
  if (recoverTxSigner(env) !== metaOwner.address) throw new Error('report tx signature does not recover')
  const recoverMs = performance.now() - t
  app.checkTx(decoded)
  const sw = stopwatch()
  const pending = app.executeBlock({ height: app.height + 1, time: (time += 1000), proposer: '', txs: [decoded] })
  const applyMs = sw.ms()
  const applyCpuMs = sw.cpuMs()
  if (pending.result.results[0]!.code !== 'OK')
    throw new Error(`volume report failed: ${pending.result.results[0]!.message}`)
  t = performance.now()
  pending.commit()
  const commitMs = performance.now() - t
  const epochEndMs = endEpochNow(app, () => (time += 1000))
  return {
    wallets: walletCount,
    nodes: nodeCount,
    txBytes: Buffer.byteLength(text),
    decodeMs,
    envelopeMs,
    recoverMs,
    applyMs,
    applyCpuMs,
    commitMs,
    writes: pending.result.writes,
    epochEndMs,
  }
}

/** Applies empty blocks up to and including the next epoch boundary; returns the boundary block's time (ms). */
function endEpochNow(app: ChainApp, nextTime: () => number): number {
  const target = Math.ceil((app.height + 1) / app.params.epochBlocks) * app.params.epochBlocks
  while (app.height < target - 1) app.applyBlock({ height: app.height + 1, time: nextTime(), proposer: '', txs: [] })
  const t = performance.now()
  app.applyBlock({ height: app.height + 1, time: nextTime(), proposer: '', txs: [] })
  return performance.now() - t
}

export interface TransferMeasurement {
  txs: number
  senders: number
  blockSize: number
  /** JSON.parse + schema decoding of every tx. */
  decodeMs: number
  /** checkTx of every tx as a mempool would (first sight: encoding, keccak, secp256k1 recovery). */
  checkTxMs: number
  /** Applying the txs in blocks after checkTx (signers cached), including state hashes and commits. */
  applyMs: number
  /** The same blocks applied by a second node that never saw the txs (recovers every signature in apply). */
  coldApplyMs: number
  /** Signed transfers per second through decode + checkTx + apply (the validator's sustained path), wall clock. */
  txPerSecond: number
  /** The same by CPU time: what one core does when it has the core to itself. */
  txPerCpuSecond: number
  /** Transfers per second through decode + apply when signatures are already known (everything but recovery). */
  txPerSecondWithoutRecovery: number
  /** secp256k1 recoveries per second alone (keccak + recover), the bound on the above. */
  recoverPerSecond: number
}

/** Times `txs` signed transfers (from `senders` funded wallets) through decode, checkTx and block apply. */
export function measureTransfers(
  opts: { txs?: number; senders?: number; blockSize?: number; recoverSigner?: TxSignerRecovery } = {},
): TransferMeasurement {
  const count = opts.txs ?? 2_000
  const senderCount = opts.senders ?? 50
  const blockSize = opts.blockSize ?? 500
  const senders = Array.from({ length: senderCount }, (_, i) => walletKey(i))
  const genesis = devnetGenesis({
    chainId: CHAIN_ID,
    wallets: senders.map((w) => w.address),
    params: { epochBlocks: 100_000 },
  })
  const texts: string[] = []
  for (let i = 0; i < count; i++) {
    const from = senders[i % senderCount]!
    const to = senders[(i + 1) % senderCount]!
    const tx = {
      chainId: CHAIN_ID,
      sender: from.address,
      nonce: BigInt(Math.floor(i / senderCount)),
      fee: genesis.params.minFeeWei,
      msgs: [{ type: 'send' as const, to: to.address, amount: 1n + BigInt(i) }],
    }
    texts.push(encodeSignedTx(signTx(from, tx)))
  }
  const recover = opts.recoverSigner ?? recoverTxSigner
  const app = ChainApp.genesis(genesis, undefined, { recoverSigner: recover })
  const total = stopwatch()
  let t = performance.now()
  const decoded = texts.map((s) => decodeSignedTx(JSON.parse(s)))
  const decodeMs = performance.now() - t

  t = performance.now()
  const pendingNonce = new Map<string, bigint>()
  for (const tx of decoded) {
    const expected = pendingNonce.get(tx.tx.sender) ?? app.query.nonce(tx.tx.sender)
    app.checkTx(tx, { expectedNonce: expected })
    pendingNonce.set(tx.tx.sender, expected + 1n)
  }
  const checkTxMs = performance.now() - t

  const blocks: SignedTx[][] = []
  for (let i = 0; i < decoded.length; i += blockSize) blocks.push(decoded.slice(i, i + blockSize))
  const run = (a: ChainApp): number => {
    let time = genesis.genesisTime
    const start = performance.now()
    for (const txs of blocks) {
      const r = a.applyBlock({ height: a.height + 1, time: (time += 1000), proposer: '', txs })
      const failed = r.results.find((x) => x.code !== 'OK')
      if (failed) throw new Error(`transfer failed: ${failed.code} ${failed.message}`)
    }
    return performance.now() - start
  }
  const applyMs = run(app)
  const totalCpuMs = total.cpuMs()
  const coldApplyMs = run(ChainApp.genesis(genesis, undefined, { recoverSigner: recover }))

  const sample = decoded.slice(0, Math.min(500, decoded.length)).map((d) => txEnvelope(d))
  t = performance.now()
  for (const env of sample) recover(env)
  const recoverPerSecond = (sample.length / (performance.now() - t)) * 1000
  return {
    txs: count,
    senders: senderCount,
    blockSize,
    decodeMs,
    checkTxMs,
    applyMs,
    coldApplyMs,
    txPerSecond: (count / (decodeMs + checkTxMs + applyMs)) * 1000,
    txPerCpuSecond: (count / totalCpuMs) * 1000,
    txPerSecondWithoutRecovery: (count / (decodeMs + applyMs)) * 1000,
    recoverPerSecond,
  }
}
