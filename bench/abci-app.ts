/**
 * CPU per transaction of one CometBFT validator's app (issue 14), in process and single threaded, so the figure
 * holds on a busy machine (process CPU time, not wall time): an AbciApplication on a fresh LMDB chain, driven the
 * way CometBFT drives a validator that gets every tx by gossip — each request protobuf-encoded, decoded, handled
 * and its response encoded, as server.ts does:
 *   CheckTx (new) of every tx, then per block of `block` txs: ProcessProposal (PrepareProposal one block in
 *   `validators`), FinalizeBlock, Commit; with `--recheck 1` also CheckTx (recheck) of the `backlog` txs still in
 *   the mempool, as CometBFT did before the project set `mempool.recheck = false` (cometbft.ts).
 * Prints µs per tx per phase and in all (median of `runs`).
 *
 *   node --import tsx bench/abci-app.ts [--txs 8000] [--block 800] [--backlog 800] [--runs 3] [--recheck 0|1]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CheckTxType, Request, Response } from 'cosmjs-types/tendermint/abci/types'
import { encodeFrame } from '../src/chain/abci/framing.ts'
import { ChainApp } from '../src/chain/app.ts'
import { devnetGenesis } from '../src/chain/genesis.ts'
import { keccak256 } from '../src/crypto/keccak256.ts'
import { createRecoverSigner } from '../src/chain/native-secp256k1.ts'
import { AbciApplication } from '../src/chain/node/abci/application.ts'
// As server.ts: cosmjs-types' writer with one allocation pool.
import '../src/chain/node/abci/protobuf-pool.ts'
import { Blockchain } from '../src/chain/node/blockchain.ts'
import { LmdbChainStore } from '../src/chain/node/lmdb-store.ts'
import { Mempool } from '../src/chain/node/mempool.ts'
import { encodeSignedTx, signTx, txSigningBytes, type SignedTx, type Tx } from '../src/chain/tx.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : d
}
const TXS = opt('txs', 8000)
const BLOCK = opt('block', 800)
const BACKLOG = opt('backlog', 800)
const RUNS = opt('runs', 3)
const VALIDATORS = opt('validators', 4)
const RECHECK = opt('recheck', 0) === 1
const SENDERS = 200
const CHAIN_ID = 'stratos-abci-bench'

type NativeSign = Pick<typeof import('secp256k1'), 'ecdsaSign'>
const native = createRequire(import.meta.url)('secp256k1/bindings.js') as NativeSign
function sign(key: WalletKey, tx: Tx): SignedTx {
  if (!native) return signTx(key, tx)
  const { signature, recid } = native.ecdsaSign(keccak256(txSigningBytes(tx)), key.privateKey)
  return { tx, signature: `0${recid}${Buffer.from(signature).toString('hex')}` }
}

const keys = Array.from({ length: SENDERS }, (_, i) =>
  WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0')),
)
const genesis = devnetGenesis({
  chainId: CHAIN_ID,
  wallets: keys.map((k) => k.address),
  genesisTime: Date.now() - 60_000,
  params: { epochBlocks: 100_000 },
})
const txs: Uint8Array[] = []
for (let n = 0; txs.length < TXS; n++)
  for (let s = 0; s < SENDERS && txs.length < TXS; s++)
    txs.push(
      new TextEncoder().encode(
        encodeSignedTx(
          sign(keys[s]!, {
            chainId: CHAIN_ID,
            sender: keys[s]!.address,
            nonce: BigInt(n),
            fee: genesis.params.minFeeWei,
            msgs: [{ type: 'send', to: keys[(s + 1) % SENDERS]!.address, amount: 1n }],
          }),
        ),
      ),
    )

const cpuUs = (): number => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** What server.ts does with one request: decode the frame's Request, handle, encode the framed Response. */
function call(app: AbciApplication, req: Request): Response {
  const bytes = Request.encode(req).finish()
  const res = app.handle(Request.decode(bytes))
  encodeFrame(Response.encode(res).finish())
  if (res.exception) throw new Error(res.exception.error)
  return res
}

function run(): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'abci-bench-'))
  const store = LmdbChainStore.open(dir)
  const chainApp = ChainApp.genesis(genesis, store.state, { recoverSigner: createRecoverSigner() })
  const chain = new Blockchain(chainApp, store, new Mempool(chainApp))
  const app = new AbciApplication({ chain })
  const spent: Record<string, number> = { checkTx: 0, recheck: 0, proposal: 0, finalize: 0, commit: 0 }
  let next = 0 // txs CheckTx'd so far
  let included = 0
  let height = 0
  const t = (phase: string, f: () => void): void => {
    const c = cpuUs()
    f()
    spent[phase]! += cpuUs() - c
  }
  while (included < TXS) {
    // The mempool holds a block plus the backlog: CheckTx the new ones.
    const want = Math.min(TXS, included + BLOCK + BACKLOG)
    t('checkTx', () => {
      for (; next < want; next++) {
        const r = call(app, Request.fromPartial({ checkTx: { tx: txs[next]!, type: CheckTxType.NEW } }))
        if (r.checkTx!.code !== 0) throw new Error(`CheckTx ${next}: ${r.checkTx!.log}`)
      }
    })
    const block = txs.slice(included, Math.min(TXS, included + BLOCK))
    height++
    const time = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 }
    t('proposal', () => {
      if (height % VALIDATORS === 0)
        call(
          app,
          Request.fromPartial({ prepareProposal: { txs: block, maxTxBytes: 22_020_096n, height: BigInt(height) } }),
        )
      call(app, Request.fromPartial({ processProposal: { txs: block, height: BigInt(height) } }))
    })
    t('finalize', () => {
      const r = call(app, Request.fromPartial({ finalizeBlock: { txs: block, height: BigInt(height), time } }))
      const bad = r.finalizeBlock!.txResults.findIndex((x) => x.code !== 0)
      if (bad >= 0) throw new Error(`tx ${bad} of block ${height}: ${r.finalizeBlock!.txResults[bad]!.log}`)
    })
    t('commit', () => {
      call(app, Request.fromPartial({ commit: {} }))
    })
    included += block.length
    t('recheck', () => {
      if (!RECHECK) return
      for (let i = included; i < next; i++) {
        const r = call(app, Request.fromPartial({ checkTx: { tx: txs[i]!, type: CheckTxType.RECHECK } }))
        if (r.checkTx!.code !== 0) throw new Error(`Recheck ${i}: ${r.checkTx!.log}`)
      }
    })
  }
  void store.close()
  rmSync(dir, { recursive: true, force: true })
  const perTx: Record<string, number> = {}
  let total = 0
  for (const [k, v] of Object.entries(spent)) {
    perTx[k] = Math.round((v / TXS) * 10) / 10
    total += v
  }
  perTx.total = Math.round((total / TXS) * 10) / 10
  return perTx
}

run() // warm-up
const runs = Array.from({ length: RUNS }, run)
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const out: Record<string, number> = {}
for (const k of Object.keys(runs[0]!)) out[k] = median(runs.map((r) => r[k]!))
console.log(
  `abci-app: ${TXS} txs, blocks of ${BLOCK}, backlog ${BACKLOG}${RECHECK ? ' rechecked' : ''}: µs CPU per tx (median of ${RUNS}) ${JSON.stringify(out)}`,
)
