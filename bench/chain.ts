/**
 * Ledger benchmark (issue 3, item 7): how fast one validator takes signed transfers, and how long
 * a block holding a volume report of 10,000 wallets takes to apply.
 *
 *   npm run bench:chain                 # full run (~1 minute), writes results JSON + README section
 *   npm run bench:chain -- --no-readme  # leave bench/README.md alone
 *   npm run bench:chain -- --txs 2000 --runs 1 --no-http   # quicker look
 * Options: --no-comet, --comet-only, --comet-seconds S (60), --comet-validators 1,4, --comet-intake rest|rpc (rest),
 * --comet-connections N (4 per validator), --comet-batch N (100), --comet-rate N (offered tx/s in all; 0 = as fast as answered), --txs N (default 8000), --pure-js-txs N (default 1000: pure-JS recovery is ~15× slower),
 * --senders N (100), --block-size N (1000), --batch N (250, admission batch of the pooled path),
 * --workers N (recovery worker threads, default RECOVERY_WORKERS), --runs N (5), --concurrency N (16),
 * --batch-concurrency N (4), --http-batch N (500), --no-http, --no-readme.
 *
 * 1. Transfers, in process: a real validator (startValidator: LMDB store, mempool, producer, REST
 *    server on an ephemeral port) in a fresh data directory. Pre-signed transfer JSON from many
 *    wallets goes through the validator's own edge path — JSON.parse + schema decode + mempool
 *    admission (checkTx: signature recovery, nonce, fee, balance) — and a block is produced and
 *    durably committed to LMDB every `blockSize` admitted txs (and at the end until the mempool is
 *    empty). tx/s = txs ÷ wall time of all that. Three ways:
 *    - "recovery pool": `mempool.addBatch` (what POST /txs/batch runs): batches of `batch` txs whose
 *      signers are recovered on the RecoveryPool's worker threads while the main thread decodes the
 *      next batch, checks and executes blocks (native libsecp256k1 in the workers);
 *    - "single thread": `mempool.add` one by one, recovery on the main thread (native);
 *    - "pure-JS": the same with @noble/curves (createRecoverSigner({ native: null })).
 * 2. Transfers over HTTP, in the same process (client work shares the 2 cores with the validator),
 *    100 ms blocks, timed until every tx is committed: POST /txs one tx per request by
 *    `concurrency` undici clients, and POST /txs/batch with `httpBatch` txs per request by
 *    `batchConcurrency` clients. Both with the recovery pool.
 * 3. Volume report: measureVolumeReport() (bench/chain-measure.ts) with 10,000 wallets and 100 nodes.
 * 4. CometBFT (issue 14; `--no-comet` skips, `--comet-only` runs only this, `--comet-seconds S`, default 60):
 *    1 validator, then 4, each a real `node validator --engine cometbft` + CometBFT process, fed transfers for S
 *    seconds through their REST APIs (`--comet-intake rpc`: CometBFT's broadcast_tx_sync) by `--comet-connections`
 *    client connections per validator; committed tx/s, block time median / p90 (bench/chain-comet.ts). The
 *    embedded engine's figures are 1 and 2. `--comet-only` writes bench/results/…-chain-comet.json and leaves
 *    bench/README.md alone (its table needs the whole run).
 *
 * Signing is not timed (txs are signed once, before any clock starts, and reused: every run starts
 * a fresh chain from the same genesis). Median of `runs` runs after one untimed warm-up run. The
 * machine's load average is recorded before and after: on a shared machine, compare cpuMs too.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { devnetGenesis, type GenesisConfig } from '../src/chain/genesis.ts'
import { measureVolumeReport, type VolumeReportMeasurement } from './chain-measure.ts'
import { runComet, type CometIntake, type CometRun } from './chain-comet.ts'
import { createRecoverSigner } from '../src/chain/native-secp256k1.ts'
import { startValidator, type Validator } from '../src/chain/node/index.ts'
import { RECOVERY_WORKERS } from '../src/chain/params.ts'
import { keccak256 } from '../src/crypto/keccak256.ts'
import {
  decodeSignedTx,
  encodeSignedTx,
  signTx,
  txSigningBytes,
  type SignedTx,
  type Tx,
  type TxSignerRecovery,
} from '../src/chain/tx.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'
import { machineInfo } from './report.ts'
import { round3, summarize, type Summary } from './stats.ts'

const CHAIN_ID = 'stratos-bench-1'
const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const README_CHAIN_START = '<!-- chain-results:start -->'
export const README_CHAIN_END = '<!-- chain-results:end -->'
const TARGET_TX_PER_SECOND = 5_000
const TARGET_REPORT_APPLY_MS = 100

interface Options {
  txs: number
  pureJsTxs: number
  senders: number
  blockSize: number
  batch: number
  workers: number
  runs: number
  concurrency: number
  batchConcurrency: number
  httpBatch: number
  http: boolean
  readme: boolean
  /** Issue 14: also 1 and 4 validators on CometBFT (`--no-comet` skips), `cometSeconds` of load each. */
  comet: boolean
  cometOnly: boolean
  cometSeconds: number
  cometValidators: number[]
  cometIntake: CometIntake
  cometConnections: number
  cometBatch: number
  cometRate: number
  reportWallets: number
  reportNodes: number
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    txs: 8_000,
    pureJsTxs: 1_000,
    senders: 100,
    blockSize: 1_000,
    batch: 250,
    workers: RECOVERY_WORKERS,
    runs: 5,
    concurrency: 16,
    batchConcurrency: 4,
    httpBatch: 500,
    http: true,
    readme: true,
    comet: true,
    cometOnly: false,
    cometSeconds: 60,
    cometValidators: [1, 4],
    cometIntake: 'rest',
    cometConnections: 4,
    cometBatch: 100,
    cometRate: 0,
    reportWallets: 10_000,
    reportNodes: 100,
  }
  const num = (i: number): number => {
    const v = Number(argv[i + 1])
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${argv[i]} needs a positive integer`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--txs':
        o.txs = num(i++)
        break
      case '--pure-js-txs':
        o.pureJsTxs = num(i++)
        break
      case '--senders':
        o.senders = num(i++)
        break
      case '--block-size':
        o.blockSize = num(i++)
        break
      case '--batch':
        o.batch = num(i++)
        break
      case '--workers':
        o.workers = num(i++)
        break
      case '--batch-concurrency':
        o.batchConcurrency = num(i++)
        break
      case '--http-batch':
        o.httpBatch = num(i++)
        break
      case '--runs':
        o.runs = num(i++)
        break
      case '--concurrency':
        o.concurrency = num(i++)
        break
      case '--no-http':
        o.http = false
        break
      case '--no-readme':
        o.readme = false
        break
      case '--comet-seconds':
        o.cometSeconds = num(i++)
        break
      case '--no-comet':
        o.comet = false
        break
      case '--comet-only':
        o.cometOnly = true
        break
      case '--comet-validators':
        o.cometValidators = String(argv[++i] ?? '')
          .split(',')
          .map(Number)
        if (o.cometValidators.some((v) => !Number.isInteger(v) || v <= 0))
          throw new Error('--comet-validators needs a comma-separated list of positive integers')
        break
      case '--comet-intake': {
        const v = argv[++i]
        if (v !== 'rest' && v !== 'rpc') throw new Error('--comet-intake is rest or rpc')
        o.cometIntake = v
        break
      }
      case '--comet-connections':
        o.cometConnections = num(i++)
        break
      case '--comet-batch':
        o.cometBatch = num(i++)
        break
      case '--comet-rate':
        o.cometRate = num(i++)
        break
      default:
        throw new Error(`unknown option ${argv[i]}`)
    }
  }
  return o
}

const log = (msg: string): void => {
  process.stderr.write(`[bench:chain] ${msg}\n`)
}

function walletKey(i: number): WalletKey {
  return WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))
}

interface Workload {
  genesis: GenesisConfig
  bodies: string[]
  senders: string[]
  perSender: number
}

type NativeSign = Pick<typeof import('secp256k1'), 'ecdsaSign'>

/**
 * Signs with libsecp256k1 when it loads (≈ 50× faster than @noble/curves: the workload is signed
 * once per bench run, untimed, but a loaded machine made that take half a minute). Same bytes as
 * `signTx`: RFC 6979 deterministic, low s, layout recovery ‖ r ‖ s. Every run checks every tx is
 * accepted, so a wrong signature could not go unnoticed.
 */
function signFast(key: WalletKey, tx: Tx, native: NativeSign | null): SignedTx {
  if (!native) return signTx(key, tx)
  const { signature, recid } = native.ecdsaSign(keccak256(txSigningBytes(tx)), key.privateKey)
  return { tx, signature: `0${recid}${Buffer.from(signature).toString('hex')}` }
}

function loadNativeSign(): NativeSign | null {
  try {
    return createRequire(import.meta.url)('secp256k1/bindings.js') as NativeSign
  } catch {
    return null
  }
}

/** For the CometBFT runs: `perSender` transfers (nonces 0…) per sender to the next sender, signed once. */
function signTransfers(keys: readonly WalletKey[], chainId: string, perSender: number): string[][] {
  const native = loadNativeSign()
  return keys.map((from, s) =>
    Array.from({ length: perSender }, (_, n) =>
      encodeSignedTx(
        signFast(
          from,
          {
            chainId,
            sender: from.address,
            nonce: BigInt(n),
            fee: 10n ** 13n,
            msgs: [{ type: 'send', to: keys[(s + 1) % keys.length]!.address, amount: 1n }],
          },
          native,
        ),
      ),
    ),
  )
}

/** `txs` transfers, round-robin over `senders` funded wallets (nonces 0, 1, … each), signed once. */
function signWorkload(txs: number, senderCount: number): Workload {
  const native = loadNativeSign()
  const keys = Array.from({ length: senderCount }, (_, i) => walletKey(i))
  const genesis = devnetGenesis({
    chainId: CHAIN_ID,
    wallets: keys.map((k) => k.address),
    genesisTime: Date.now() - 60_000,
    params: { epochBlocks: 100_000 },
  })
  const perSender = Math.ceil(txs / senderCount)
  const bodies: string[] = []
  for (let n = 0; n < perSender; n++) {
    for (let s = 0; s < senderCount; s++) {
      const from = keys[s]!
      const to = keys[(s + 1) % senderCount]!.address
      bodies.push(
        encodeSignedTx(
          signFast(
            from,
            {
              chainId: CHAIN_ID,
              sender: from.address,
              nonce: BigInt(n),
              fee: genesis.params.minFeeWei,
              msgs: [{ type: 'send', to, amount: 1n }],
            },
            native,
          ),
        ),
      )
    }
  }
  return { genesis, bodies, senders: keys.map((k) => k.address), perSender }
}

interface TransferRun {
  txs: number
  ms: number
  cpuMs: number
  txPerSecond: number
  blocks: number
  /** CPU of the main thread and of all other threads (recovery workers, libuv, GC, LMDB), from /proc (Linux; 10 ms ticks). */
  mainThreadCpuMs?: number
  otherThreadsCpuMs?: number
  /**
   * txs ÷ max(main-thread CPU, other-threads CPU): what the run would reach if each of the two
   * sides had a core to itself (2 idle cores). An estimate from CPU time, not a measurement.
   */
  idleTwoCoreEstimateTxPerSecond?: number
}

/** CPU time (ms) of this process's main thread and of all its other threads so far, or undefined off Linux. */
function threadCpu(): { main: number; others: number } | undefined {
  try {
    let main = 0,
      others = 0
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ms = ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS_PER_SECOND // utime + stime (fields 14, 15)
      if (Number(tid) === process.pid) main += ms
      else others += ms
    }
    return { main, others }
  } catch {
    return undefined
  }
}
/** Linux USER_HZ (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100

/** Throws unless every sender's nonce advanced past the first `count` bodies (round-robin) and every committed tx succeeded. */
function checkAllIncluded(w: Workload, count: number, nonceOf: (a: string) => bigint, failed: number): void {
  if (failed > 0) throw new Error(`${failed} transfers failed in their block`)
  const n = w.senders.length
  w.senders.forEach((s, i) => {
    const expected = BigInt(Math.floor(count / n) + (i < count % n ? 1 : 0))
    if (nonceOf(s) !== expected) throw new Error(`sender ${s} ended at nonce ${nonceOf(s)}, expected ${expected}`)
  })
}

/** A validator on a fresh data dir; `workers` recovery threads (0: recovery on the main thread). */
async function freshValidator(
  w: Workload,
  recoverSigner: TxSignerRecovery,
  workers: number,
  blockIntervalMs: number,
): Promise<{ v: Validator; done: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'stratos-bench-chain-'))
  const v = await startValidator({
    dataDir,
    port: 0,
    genesis: w.genesis,
    recoverSigner,
    recoveryWorkers: workers,
    blockIntervalMs,
  })
  return {
    v,
    done: async () => {
      await v.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Times `run` and checks the outcome: every tx OK in its block, every sender at the expected nonce. */
async function timed(w: Workload, count: number, v: Validator, run: () => Promise<void>): Promise<TransferRun> {
  let failed = 0
  v.chain.onBlock((b) => {
    for (const r of b.results) if (r.code !== 'OK') failed++
  })
  const startHeight = v.height
  const cpu = process.cpuUsage()
  const threads0 = threadCpu()
  const t = performance.now()
  await run()
  const ms = performance.now() - t
  const c = process.cpuUsage(cpu)
  const threads1 = threadCpu()
  checkAllIncluded(w, count, (a) => v.chain.app.query.nonce(a), failed)
  const out: TransferRun = {
    txs: count,
    ms: round3(ms),
    cpuMs: round3((c.user + c.system) / 1000),
    txPerSecond: Math.round((count / ms) * 1000),
    blocks: v.height - startHeight,
  }
  if (threads0 && threads1) {
    // Threads that ended during the run (none here: workers live as long as the validator) would be missed.
    out.mainThreadCpuMs = threads1.main - threads0.main
    out.otherThreadsCpuMs = threads1.others - threads0.others
    const busiest = Math.max(out.mainThreadCpuMs, out.otherThreadsCpuMs)
    if (busiest > 0) out.idleTwoCoreEstimateTxPerSecond = Math.round((count / busiest) * 1000)
  }
  return out
}

/** In process, one tx at a time: decode + mempool.add (recovery on this thread) + a block every blockSize txs. */
async function runSingleThread(
  w: Workload,
  bodies: readonly string[],
  blockSize: number,
  recoverSigner: TxSignerRecovery,
): Promise<TransferRun> {
  const { v, done } = await freshValidator(w, recoverSigner, 0, 3_600_000)
  try {
    await v.producer.stop() // blocks are produced below, at a fixed tx count, not by the timer
    return await timed(w, bodies.length, v, async () => {
      let sinceBlock = 0
      for (const body of bodies) {
        v.chain.mempool.add(decodeSignedTx(JSON.parse(body)))
        if (++sinceBlock === blockSize) {
          v.producer.produceBlock()
          sinceBlock = 0
        }
      }
      while (v.chain.mempool.size > 0) v.producer.produceBlock()
    })
  } finally {
    await done()
  }
}

/**
 * In process, the pooled path (what POST /txs/batch runs): decode a batch, hand it to
 * mempool.addBatch (signers recovered on the worker threads), decode the next while the workers
 * recover; a block whenever blockSize txs are pending.
 */
async function runPooled(
  w: Workload,
  bodies: readonly string[],
  o: Options,
  recoverSigner: TxSignerRecovery,
): Promise<TransferRun> {
  const { v, done } = await freshValidator(w, recoverSigner, o.workers, 3_600_000)
  try {
    await v.producer.stop()
    return await timed(w, bodies.length, v, async () => {
      let rejected = 0
      const inFlight: Array<Promise<void>> = []
      for (let i = 0; i < bodies.length; i += o.batch) {
        const batch: SignedTx[] = bodies.slice(i, i + o.batch).map((b) => decodeSignedTx(JSON.parse(b)))
        inFlight.push(
          v.chain.mempool.addBatch(batch).then((results) => {
            for (const r of results) if (r instanceof Error) rejected++
            if (v.chain.mempool.size >= o.blockSize) v.producer.produceBlock()
          }),
        )
        // Enough batches queued (a block's worth, plus one per worker) to keep the workers busy
        // while this thread decodes the next batch or executes a block.
        if (inFlight.length > Math.ceil(o.blockSize / o.batch) + o.workers) await inFlight.shift()
      }
      await Promise.all(inFlight)
      if (rejected > 0) throw new Error(`${rejected} transfers were not admitted`)
      while (v.chain.mempool.size > 0) v.producer.produceBlock()
    })
  } finally {
    await done()
  }
}

async function waitDrained(v: Validator): Promise<void> {
  while (v.chain.mempool.size > 0) await new Promise((r) => setTimeout(r, 5))
}

/** Over HTTP, one tx per request: POST /txs with `concurrency` clients, 100 ms blocks, until the mempool is drained. */
async function runHttp(w: Workload, o: Options, recoverSigner: TxSignerRecovery): Promise<TransferRun> {
  const { v, done } = await freshValidator(w, recoverSigner, o.workers, 100)
  const agent = new Agent({ connections: o.concurrency })
  try {
    return await timed(w, w.bodies.length, v, async () => {
      let next = 0
      await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          while (next < w.bodies.length) {
            const body = w.bodies[next++]!
            const r = await request(`${v.url}/txs`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
              dispatcher: agent,
            })
            const text = await r.body.text()
            if (r.statusCode !== 202) throw new Error(`POST /txs answered ${r.statusCode}: ${text.slice(0, 200)}`)
          }
        }),
      )
      await waitDrained(v)
    })
  } finally {
    await agent.close()
    await done()
  }
}

/** Over HTTP in batches: POST /txs/batch with `httpBatch` txs per request, `batchConcurrency` clients. */
async function runHttpBatch(w: Workload, o: Options, recoverSigner: TxSignerRecovery): Promise<TransferRun> {
  const { v, done } = await freshValidator(w, recoverSigner, o.workers, 100)
  const agent = new Agent({ connections: o.batchConcurrency })
  const bodies: string[] = []
  for (let i = 0; i < w.bodies.length; i += o.httpBatch)
    bodies.push(`{"txs":[${w.bodies.slice(i, i + o.httpBatch).join(',')}]}`)
  try {
    return await timed(w, w.bodies.length, v, async () => {
      let next = 0
      await Promise.all(
        Array.from({ length: o.batchConcurrency }, async () => {
          while (next < bodies.length) {
            const body = bodies[next++]!
            const r = await request(`${v.url}/txs/batch`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
              dispatcher: agent,
            })
            const text = await r.body.text()
            if (r.statusCode !== 200) throw new Error(`POST /txs/batch answered ${r.statusCode}: ${text.slice(0, 200)}`)
            const bad = (JSON.parse(text) as { results: Array<{ error?: unknown }> }).results.find((x) => x.error)
            if (bad) throw new Error(`POST /txs/batch rejected a tx: ${JSON.stringify(bad).slice(0, 200)}`)
          }
        }),
      )
      await waitDrained(v)
    })
  } finally {
    await agent.close()
    await done()
  }
}

interface TransferSeries {
  runs: TransferRun[]
  txPerSecond: Summary
  ms: Summary
  cpuMs: Summary
  medianTxPerSecond: number
  idleTwoCoreEstimate?: Summary
}

async function series(
  name: string,
  runs: number,
  warmUp: () => Promise<TransferRun>,
  run: () => Promise<TransferRun>,
): Promise<TransferSeries> {
  await warmUp()
  const out: TransferRun[] = []
  for (let i = 0; i < runs; i++) {
    const r = await run()
    const threads =
      r.mainThreadCpuMs === undefined
        ? ''
        : `; main thread ${r.mainThreadCpuMs.toFixed(0)} ms, other threads ${r.otherThreadsCpuMs!.toFixed(0)} ms → idle-2-core estimate ${r.idleTwoCoreEstimateTxPerSecond} tx/s`
    log(
      `${name} run ${i + 1}/${runs}: ${r.txs} txs in ${r.ms.toFixed(0)} ms = ${r.txPerSecond} tx/s (${r.blocks} blocks, CPU ${r.cpuMs.toFixed(0)} ms${threads})`,
    )
    out.push(r)
  }
  const tps = summarize(out.map((r) => r.txPerSecond))
  const estimates = out.flatMap((r) =>
    r.idleTwoCoreEstimateTxPerSecond === undefined ? [] : [r.idleTwoCoreEstimateTxPerSecond],
  )
  return {
    runs: out,
    txPerSecond: tps,
    ms: summarize(out.map((r) => r.ms)),
    cpuMs: summarize(out.map((r) => r.cpuMs)),
    medianTxPerSecond: Math.round(tps.median),
    ...(estimates.length === out.length ? { idleTwoCoreEstimate: summarize(estimates) } : {}),
  }
}

interface ReportSeries {
  wallets: number
  nodes: number
  samples: VolumeReportMeasurement[]
  /** Execute the block after checkTx admitted the tx (signer cached): the normal validator path. */
  warmApplyMs: Summary
  warmApplyCpuMs: Summary
  /** A tx never seen: tx envelope (canonical encoding + hash) + signature recovery + the same execute. */
  coldApplyMs: Summary
  decodeMs: Summary
  commitMs: Summary
}

function reportSeries(o: Options): ReportSeries {
  measureVolumeReport({ wallets: 500, nodes: 10 }) // warm-up (JIT)
  const samples: VolumeReportMeasurement[] = []
  for (let i = 0; i < o.runs; i++) {
    const r = measureVolumeReport({ wallets: o.reportWallets, nodes: o.reportNodes })
    log(
      `volume report run ${i + 1}/${o.runs}: warm apply ${r.applyMs.toFixed(1)} ms, cold ${(r.envelopeMs + r.recoverMs + r.applyMs).toFixed(1)} ms, decode ${r.decodeMs.toFixed(1)} ms (${r.txBytes} bytes, ${r.writes} writes)`,
    )
    samples.push(r)
  }
  const s = (f: (r: VolumeReportMeasurement) => number): Summary => summarize(samples.map(f))
  return {
    wallets: o.reportWallets,
    nodes: o.reportNodes,
    samples,
    warmApplyMs: s((r) => r.applyMs),
    warmApplyCpuMs: s((r) => r.applyCpuMs),
    coldApplyMs: s((r) => r.envelopeMs + r.recoverMs + r.applyMs),
    decodeMs: s((r) => r.decodeMs),
    commitMs: s((r) => r.commitMs),
  }
}

interface Target {
  id: string
  description: string
  target: string
  measured: number
  pass: boolean
}

function chainTable(r: ChainResults): string {
  const t = Object.fromEntries(r.targets.map((x) => [x.id, x]))
  const v = (pass: boolean): string => (pass ? 'pass' : 'FAIL')
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const n = (x: number): string => Math.round(x).toLocaleString('en-US')
  const ms = (x: number): string => `${x.toFixed(1)} ms`
  const cpu = (s: TransferSeries): string => `${((s.cpuMs.median / s.runs[0]!.txs) * 1000).toFixed(0)} µs`
  const est = (s: TransferSeries): string => (s.idleTwoCoreEstimate ? `${n(s.idleTwoCoreEstimate.median)} tx/s` : '—')
  const tx = r.transfers
  const workers = `${r.config.workers} worker${r.config.workers === 1 ? '' : 's'}`
  const lines = [
    row(['Measurement', 'Median', 'CPU per tx', 'Idle 2-core estimate', 'Target', 'Result']),
    row(['---', '---:', '---:', '---:', '---', '---']),
    ...(tx.pooled
      ? [
          row([
            `Signed transfers, in process, recovery pool (${workers}, native), batches of ${r.config.batch} (${n(r.config.txs)} txs)`,
            `${n(tx.pooled.medianTxPerSecond)} tx/s`,
            cpu(tx.pooled),
            est(tx.pooled),
            t['transfers-pooled']!.target,
            v(t['transfers-pooled']!.pass),
          ]),
        ]
      : []),
    row([
      `Signed transfers, in process, single thread, native recovery (${n(r.config.txs)} txs)`,
      `${n(tx.native.medianTxPerSecond)} tx/s`,
      cpu(tx.native),
      est(tx.native),
      '—',
      '—',
    ]),
    row([
      `Signed transfers, in process, single thread, pure-JS recovery (${n(Math.min(r.config.pureJsTxs, r.config.txs))} txs)`,
      `${n(tx.pureJs.medianTxPerSecond)} tx/s`,
      cpu(tx.pureJs),
      est(tx.pureJs),
      '—',
      '—',
    ]),
    ...(tx.http
      ? [
          row([
            `Signed transfers, POST /txs × ${r.config.concurrency} clients, one tx per request, recovery pool`,
            `${n(tx.http.medianTxPerSecond)} tx/s`,
            cpu(tx.http),
            est(tx.http),
            '—',
            '—',
          ]),
        ]
      : []),
    ...(tx.httpBatch
      ? [
          row([
            `Signed transfers, POST /txs/batch × ${r.config.batchConcurrency} clients, ${r.config.httpBatch} txs per request, recovery pool`,
            `${n(tx.httpBatch.medianTxPerSecond)} tx/s`,
            cpu(tx.httpBatch),
            est(tx.httpBatch),
            '—',
            '—',
          ]),
        ]
      : []),
    row([
      `Volume report block apply, ${n(r.volumeReport.wallets)} wallets / ${r.volumeReport.nodes} nodes, warm`,
      ms(r.volumeReport.warmApplyMs.median),
      `${ms(r.volumeReport.warmApplyCpuMs.median)} (whole block)`,
      '—',
      t['report-apply']!.target,
      v(t['report-apply']!.pass),
    ]),
    row([
      'Volume report block apply, cold (tx never seen, pure-JS recovery)',
      ms(r.volumeReport.coldApplyMs.median),
      '—',
      '—',
      '—',
      '—',
    ]),
    row(['Volume report tx decode (JSON.parse + schema)', ms(r.volumeReport.decodeMs.median), '—', '—', '—', '—']),
  ]
  const m = r.machine
  const busy = Math.max(m.loadAverageStart[0] ?? 0, m.loadAverageEnd[0] ?? 0) > m.cores / 2
  const caption = `${busy ? `**Measured on a busy machine (load average above ${m.cores / 2} on ${m.cores} cores): noisy, not final.** ` : ''}${r.finishedAt.slice(0, 10)}, ${m.cpuModel} × ${m.cores} cores, Node ${m.node}, load average ${m.loadAverageStart[0]} at start / ${m.loadAverageEnd[0]} at end; median of ${r.config.runs} runs.`
  return `${caption}\n\n${lines.join('\n')}\n${cometTable(r.comet ?? [], r.targets)}`
}

interface ChainResults {
  kind: 'chain'
  startedAt: string
  finishedAt: string
  machine: ReturnType<typeof machineInfo>
  config: Options & { nativeRecoveryLoaded: boolean }
  /** native / pureJs: single thread (mempool.add); pooled: mempool.addBatch with the recovery pool; http: POST /txs; httpBatch: POST /txs/batch. */
  transfers: {
    pooled?: TransferSeries
    native: TransferSeries
    pureJs: TransferSeries
    http?: TransferSeries
    httpBatch?: TransferSeries
  }
  volumeReport: ReportSeries
  /** Issue 14: sustained transfers committed on 1 and 4 validators on CometBFT (bench/chain-comet.ts). */
  comet?: CometRun[]
  targets: Target[]
  notes: string[]
}

async function updateReadme(path: string, r: ChainResults, file: string): Promise<boolean> {
  const text = await readFile(path, 'utf8')
  const a = text.indexOf(README_CHAIN_START)
  const b = text.indexOf(README_CHAIN_END)
  if (a < 0 || b < a) return false
  const body = `\n${chainTable(r)}\nFull samples: [results/${file}](results/${file}).\n`
  await writeFile(path, text.slice(0, a + README_CHAIN_START.length) + body + text.slice(b))
  return true
}

/** Issue 14: the same sustained transfer load on 1 validator on CometBFT, then 4 (o.cometValidators). */
async function runCometSeries(o: Options): Promise<CometRun[]> {
  const keys = Array.from({ length: o.senders }, (_, i) => walletKey(i))
  // Enough signed txs that no sender runs out within the window at 2,500 tx/s.
  const perSender = Math.ceil((2_500 * o.cometSeconds) / o.senders)
  const runs: CometRun[] = []
  for (const validators of o.cometValidators)
    runs.push(
      await runComet({
        validators,
        seconds: o.cometSeconds,
        senders: keys,
        perSender,
        sign: signTransfers,
        batch: o.cometBatch,
        rate: o.cometRate,
        connections: o.cometConnections,
        intake: o.cometIntake,
        log,
      }),
    )
  return runs
}

const TARGET_COMET_TX_PER_SECOND = 1_000
const TARGET_COMET_BLOCK_MS = 1_500

function cometTargets(comet: readonly CometRun[]): Target[] {
  const four = comet.find((r) => r.validators === 4)
  if (!four) return []
  return [
    {
      id: 'comet-4-validators',
      description: `Signed transfers committed per second on 4 validators on CometBFT, sustained ${four.seconds} s (${four.intake === 'rest' ? 'REST /txs/batch' : 'CometBFT broadcast_tx_sync'}, ${four.connectionsPerValidator} connections per validator), block time ≤ 1.5 s (median ${four.medianBlockTimeMs} ms, p90 ${four.p90BlockTimeMs} ms)`,
      target: '≥ 1,000 tx/s, block time ≤ 1,500 ms',
      measured: four.txPerSecond,
      pass: four.txPerSecond >= TARGET_COMET_TX_PER_SECOND && four.medianBlockTimeMs <= TARGET_COMET_BLOCK_MS,
    },
  ]
}

/** The CometBFT runs as a table (rows per run; the 4-validator row carries the issue-14 verdict). */
function cometTable(comet: readonly CometRun[], targets: readonly Target[]): string {
  if (comet.length === 0) return ''
  const t = targets.find((x) => x.id === 'comet-4-validators')
  const n = (x: number): string => Math.round(x).toLocaleString('en-US')
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const lines = [
    row([
      'CometBFT (sustained load)',
      'Committed',
      'Block time median / p90 / max',
      'Submitted / refused',
      'CPU per tx: apps + CometBFT (2-core estimate)',
      'Load avg',
      'Target',
      'Result',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---', '---']),
    ...comet.map((r) =>
      row([
        `${r.validators} validator${r.validators === 1 ? '' : 's'}, ${r.seconds} s, ${r.intake === 'rest' ? 'REST /txs/batch' : 'RPC broadcast_tx_sync'} × ${r.connectionsPerValidator}/validator, batches of ${r.batch}`,
        `${n(r.txPerSecond)} tx/s`,
        `${n(r.medianBlockTimeMs)} / ${n(r.p90BlockTimeMs)} / ${n(r.maxBlockTimeMs)} ms`,
        `${n(r.submitted)} / ${n(r.refused)}`,
        r.cpuPerTx
          ? `${n(r.cpuPerTx.appUs)} + ${n(r.cpuPerTx.cometUs)} µs (${n(r.cpuPerTx.twoCoreTxPerSecond)} tx/s)`
          : '—',
        `${r.loadAverage[0]} → ${r.loadAverage[1]}`,
        r.validators === 4 && t ? t.target : '—',
        r.validators === 4 && t ? (t.pass ? 'pass' : 'FAIL') : '—',
      ]),
    ),
  ]
  return `\n${lines.join('\n')}\n`
}

/** `--comet-only`: the CometBFT runs alone, their own results file; bench/README.md is left alone. */
async function mainCometOnly(o: Options, startedAt: string, loadStart: number[]): Promise<void> {
  const comet = await runCometSeries(o)
  const targets = cometTargets(comet)
  const results = {
    kind: 'chain-comet',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(loadStart),
    config: o,
    comet,
    targets,
  }
  const resultsDir = join(BENCH_DIR, 'results')
  await mkdir(resultsDir, { recursive: true })
  const file = `${startedAt.slice(0, 10)}-${startedAt.slice(11, 16).replace(':', '')}-chain-comet.json`
  await writeFile(join(resultsDir, file), JSON.stringify(results, null, 2) + '\n')
  log(`wrote bench/results/${file}`)
  process.stdout.write(cometTable(comet, targets))
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  const startedAt = new Date().toISOString()
  const loadStart = loadavg().map(round3)
  log(`load average ${loadStart.join(' ')}${loadStart[0]! > 1 ? ' — the machine is busy, expect noisy numbers' : ''}`)
  if (o.cometOnly) return mainCometOnly(o, startedAt, loadStart)
  const native = createRecoverSigner()
  if (!native.native)
    throw new Error('native libsecp256k1 did not load: the native measurement would silently be pure JS')
  const pureJs = createRecoverSigner({ native: null, logger: { warn: () => {} } })

  let t = performance.now()
  const w = signWorkload(o.txs, o.senders)
  log(
    `signed ${w.bodies.length} transfers from ${o.senders} wallets in ${(performance.now() - t).toFixed(0)} ms (untimed)`,
  )
  const warmBodies = w.bodies.slice(0, Math.min(500, w.bodies.length))

  t = performance.now()
  const pooledSeries = await series(
    `in-process pool ×${o.workers} native`,
    o.runs,
    () => runPooled(w, warmBodies, o, native),
    () => runPooled(w, w.bodies, o, native),
  )
  const nativeSeries = await series(
    'in-process single-thread native',
    o.runs,
    () => runSingleThread(w, warmBodies, o.blockSize, native),
    () => runSingleThread(w, w.bodies, o.blockSize, native),
  )
  const pureSeries = await series(
    'in-process single-thread pure-JS',
    o.runs,
    () => runSingleThread(w, warmBodies, o.blockSize, pureJs),
    () => runSingleThread(w, w.bodies.slice(0, o.pureJsTxs), o.blockSize, pureJs),
  )
  const httpSeries = o.http
    ? await series(
        `POST /txs ×${o.concurrency}`,
        o.runs,
        () => runPooled(w, warmBodies, o, native),
        () => runHttp(w, o, native),
      )
    : undefined
  const httpBatchSeries = o.http
    ? await series(
        `POST /txs/batch ×${o.batchConcurrency}`,
        o.runs,
        () => runPooled(w, warmBodies, o, native),
        () => runHttpBatch(w, o, native),
      )
    : undefined
  const comet = o.comet ? await runCometSeries(o) : []
  const report = reportSeries(o)
  log(`done in ${((performance.now() - t) / 1000).toFixed(1)} s`)

  const targets: Target[] = [
    {
      id: 'transfers-pooled',
      description: `Sustained signed transfers per second on one validator, signature checks included (in process, mempool.addBatch with ${o.workers} recovery worker(s), native recovery, median)`,
      target: `≥ ${TARGET_TX_PER_SECOND.toLocaleString('en-US')} tx/s`,
      measured: pooledSeries.medianTxPerSecond,
      pass: pooledSeries.medianTxPerSecond >= TARGET_TX_PER_SECOND,
    },
    {
      id: 'transfers-native',
      description: 'The same, single thread: mempool.add one tx at a time, native recovery on the main thread (median)',
      target: `≥ ${TARGET_TX_PER_SECOND.toLocaleString('en-US')} tx/s`,
      measured: nativeSeries.medianTxPerSecond,
      pass: nativeSeries.medianTxPerSecond >= TARGET_TX_PER_SECOND,
    },
    {
      id: 'report-apply',
      description: `Block apply time for a volume report of ${o.reportWallets} wallets (warm: after checkTx, median)`,
      target: `< ${TARGET_REPORT_APPLY_MS} ms`,
      measured: report.warmApplyMs.median,
      pass: report.warmApplyMs.median < TARGET_REPORT_APPLY_MS,
    },
  ]
  targets.push(...cometTargets(comet))
  const finishedAt = new Date().toISOString()
  const results: ChainResults = {
    kind: 'chain',
    startedAt,
    finishedAt,
    machine: machineInfo(loadStart),
    config: { ...o, nativeRecoveryLoaded: native.native },
    transfers: {
      pooled: pooledSeries,
      native: nativeSeries,
      pureJs: pureSeries,
      ...(httpSeries ? { http: httpSeries } : {}),
      ...(httpBatchSeries ? { httpBatch: httpBatchSeries } : {}),
    },
    ...(comet.length ? { comet } : {}),
    volumeReport: report,
    targets,
    notes: [
      'Transfers in process: startValidator (LMDB, mempool, producer) in a fresh data dir; each pre-signed tx JSON is JSON.parse + decodeSignedTx + mempool admission (checkTx: signature recovery, nonce, fee, balance); a block is produced and committed (fsync) every blockSize admitted txs, then until the mempool is empty. tx/s = txs / wall time. Every sender ends at the expected nonce and every tx result is OK, or the run fails.',
      'pooled: batches of `batch` decoded txs go to mempool.addBatch (what POST /txs/batch runs); their signers are recovered on `workers` RecoveryPool worker threads (native libsecp256k1) while the main thread decodes the next batch, checks admitted txs and executes/commits blocks. native / pureJs: mempool.add one tx at a time, recovery on the main thread (single thread).',
      'Transfers over HTTP: the same txs POSTed by undici clients in the same process (they share the 2 cores with the validator), 100 ms blocks, timed until the mempool is drained; http = POST /txs one tx per request (`concurrency` clients), httpBatch = POST /txs/batch with `httpBatch` txs per request (`batchConcurrency` clients). Both with the recovery pool.',
      'Volume report: measureVolumeReport() from bench/chain-measure.ts (in-memory store). warm = executeBlock after checkTx (signer cached): ante, the meta node ed25519 signature, ozone charges of every wallet, rewards, end-block, state hash. cold = tx envelope (canonical encoding + hash) + pure-JS signature recovery + the same execute, i.e. a block whose tx the node never saw; decode (JSON.parse + schema) is the edge cost, reported separately.',
      'Signing is not timed: txs are signed once and reused; each run starts a fresh chain from the same genesis. One untimed warm-up run per series.',
      'cpuMs = user + system CPU time of this process during the run (all threads: main, recovery workers, LMDB). On a shared machine wall-clock tx/s depends on the load average; CPU per tx (cpuMs / txs) does much less.',
      'mainThreadCpuMs / otherThreadsCpuMs: per-thread CPU from /proc/self/task/*/stat (10 ms ticks). idleTwoCoreEstimateTxPerSecond = txs / max(main, others): the rate if the main thread and the other threads each had one of the 2 cores to themselves — an estimate from CPU time for a busy machine, not a measurement (CPU time itself grows under heavy contention, so it errs low).',
    ],
  }
  const resultsDir = join(BENCH_DIR, 'results')
  await mkdir(resultsDir, { recursive: true })
  // One file per run: a second run on the same day gets the start time in its name.
  let file = `${startedAt.slice(0, 10)}-chain.json`
  if (existsSync(join(resultsDir, file)))
    file = `${startedAt.slice(0, 10)}-${startedAt.slice(11, 16).replace(':', '')}-chain.json`
  await writeFile(join(resultsDir, file), JSON.stringify(results, null, 2) + '\n')
  log(`wrote bench/results/${file}`)
  if (o.readme)
    log(
      (await updateReadme(join(BENCH_DIR, 'README.md'), results, file))
        ? 'updated the ledger table in bench/README.md'
        : 'bench/README.md has no chain-results markers: not updated',
    )
  process.stdout.write(chainTable(results))
}

await main()
