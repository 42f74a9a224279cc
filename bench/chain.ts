/**
 * Ledger benchmark (issue 3, item 7): how fast one validator takes signed transfers, and how long
 * a block holding a volume report of 10,000 wallets takes to apply.
 *
 *   npm run bench:chain                 # full run (~1 minute), writes results JSON + README section
 *   npm run bench:chain -- --no-readme  # leave bench/README.md alone
 *   npm run bench:chain -- --txs 2000 --runs 1 --no-http   # quicker look
 * Options: --txs N (default 4000), --pure-js-txs N (default 1000: pure-JS recovery is ~15× slower),
 * --senders N (100), --block-size N (1000), --runs N (3), --concurrency N (16), --no-http, --no-readme.
 *
 * 1. Transfers, in process: a real validator (startValidator: LMDB store, mempool, producer, REST
 *    server on an ephemeral port) in a fresh data directory. Pre-signed transfer JSON from many
 *    wallets goes through the validator's own edge path — JSON.parse + schema decode + mempool
 *    admission (checkTx: signature recovery, nonce, fee, balance) — and a block is produced and
 *    durably committed to LMDB every `blockSize` admitted txs (and at the end until the mempool is
 *    empty). tx/s = txs ÷ wall time of all that. Once with native libsecp256k1 recovery
 *    (createRecoverSigner()), once with pure-JS @noble/curves (createRecoverSigner({ native: null })).
 * 2. Transfers over HTTP: the same txs POSTed to /txs by `concurrency` parallel undici clients in the
 *    same process (client work shares the 2 cores), 100 ms blocks, until every tx is committed.
 * 3. Volume report: measureVolumeReport() (src/chain/measure.ts) with 10,000 wallets and 100 nodes.
 *
 * Signing is not timed (txs are signed once, before any clock starts, and reused: every run starts
 * a fresh chain from the same genesis). Median of `runs` runs after one untimed warm-up run.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { devnetGenesis, type GenesisConfig } from '../src/chain/genesis.ts'
import { measureVolumeReport, type VolumeReportMeasurement } from '../src/chain/measure.ts'
import { createRecoverSigner } from '../src/chain/native-secp256k1.ts'
import { startValidator } from '../src/chain/node/index.ts'
import { decodeSignedTx, encodeSignedTx, signTx, type TxSignerRecovery } from '../src/chain/tx.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'
import { machineInfo } from './report.ts'
import { round3, summarize, type Summary } from './stats.ts'

const CHAIN_ID = 'stratos-bench-1'
const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const README_CHAIN_START = '<!-- chain-results:start -->'
export const README_CHAIN_END = '<!-- chain-results:end -->'
const TARGET_TX_PER_SECOND = 5_000
const TARGET_REPORT_APPLY_MS = 100

interface Options { txs: number; pureJsTxs: number; senders: number; blockSize: number; runs: number; concurrency: number; http: boolean; readme: boolean; reportWallets: number; reportNodes: number }

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { txs: 4_000, pureJsTxs: 1_000, senders: 100, blockSize: 1_000, runs: 3, concurrency: 16, http: true, readme: true, reportWallets: 10_000, reportNodes: 100 }
  const num = (i: number): number => {
    const v = Number(argv[i + 1])
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${argv[i]} needs a positive integer`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--txs': o.txs = num(i++); break
      case '--pure-js-txs': o.pureJsTxs = num(i++); break
      case '--senders': o.senders = num(i++); break
      case '--block-size': o.blockSize = num(i++); break
      case '--runs': o.runs = num(i++); break
      case '--concurrency': o.concurrency = num(i++); break
      case '--no-http': o.http = false; break
      case '--no-readme': o.readme = false; break
      default: throw new Error(`unknown option ${argv[i]}`)
    }
  }
  return o
}

const log = (msg: string): void => { process.stderr.write(`[bench:chain] ${msg}\n`) }

function walletKey(i: number): WalletKey {
  return WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))
}

interface Workload { genesis: GenesisConfig; bodies: string[]; senders: string[]; perSender: number }

/** `txs` transfers, round-robin over `senders` funded wallets (nonces 0, 1, … each), signed once. */
function signWorkload(txs: number, senderCount: number): Workload {
  const keys = Array.from({ length: senderCount }, (_, i) => walletKey(i))
  const genesis = devnetGenesis({ chainId: CHAIN_ID, wallets: keys.map((k) => k.address), genesisTime: Date.now() - 60_000, params: { epochBlocks: 100_000 } })
  const perSender = Math.ceil(txs / senderCount)
  const bodies: string[] = []
  for (let n = 0; n < perSender; n++) {
    for (let s = 0; s < senderCount; s++) {
      const from = keys[s]!
      const to = keys[(s + 1) % senderCount]!.address
      bodies.push(encodeSignedTx(signTx(from, { chainId: CHAIN_ID, sender: from.address, nonce: BigInt(n), fee: genesis.params.minFeeWei, msgs: [{ type: 'send', to, amount: 1n }] })))
    }
  }
  return { genesis, bodies, senders: keys.map((k) => k.address), perSender }
}

interface TransferRun { txs: number; ms: number; cpuMs: number; txPerSecond: number; blocks: number }

/** Throws unless every sender's nonce advanced past the first `count` bodies (round-robin) and every committed tx succeeded. */
function checkAllIncluded(w: Workload, count: number, nonceOf: (a: string) => bigint, failed: number): void {
  if (failed > 0) throw new Error(`${failed} transfers failed in their block`)
  const n = w.senders.length
  w.senders.forEach((s, i) => {
    const expected = BigInt(Math.floor(count / n) + (i < count % n ? 1 : 0))
    if (nonceOf(s) !== expected) throw new Error(`sender ${s} ended at nonce ${nonceOf(s)}, expected ${expected}`)
  })
}

/** In-process: decode + mempool admission + block execute + LMDB commit, blocks every blockSize txs. */
async function runInProcess(w: Workload, bodies: readonly string[], blockSize: number, recoverSigner: TxSignerRecovery): Promise<TransferRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'stratos-bench-chain-'))
  const v = await startValidator({ dataDir, port: 0, genesis: w.genesis, recoverSigner, blockIntervalMs: 3_600_000 })
  try {
    await v.producer.stop() // blocks are produced below, at a fixed tx count, not by the timer
    let failed = 0
    v.chain.onBlock((b) => { for (const r of b.results) if (r.code !== 'OK') failed++ })
    const startHeight = v.height
    const cpu = process.cpuUsage()
    const t = performance.now()
    let sinceBlock = 0
    for (const body of bodies) {
      v.chain.mempool.add(decodeSignedTx(JSON.parse(body)))
      if (++sinceBlock === blockSize) { v.producer.produceBlock(); sinceBlock = 0 }
    }
    while (v.chain.mempool.size > 0) v.producer.produceBlock()
    const ms = performance.now() - t
    const c = process.cpuUsage(cpu)
    checkAllIncluded(w, bodies.length, (a) => v.chain.app.query.nonce(a), failed)
    return { txs: bodies.length, ms: round3(ms), cpuMs: round3((c.user + c.system) / 1000), txPerSecond: Math.round((bodies.length / ms) * 1000), blocks: v.height - startHeight }
  } finally {
    await v.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Over HTTP: POST /txs with `concurrency` clients, 100 ms blocks, until the mempool is drained. */
async function runHttp(w: Workload, concurrency: number, recoverSigner: TxSignerRecovery): Promise<TransferRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'stratos-bench-chain-http-'))
  const v = await startValidator({ dataDir, port: 0, genesis: w.genesis, recoverSigner, blockIntervalMs: 100 })
  const agent = new Agent({ connections: concurrency })
  try {
    let failed = 0
    v.chain.onBlock((b) => { for (const r of b.results) if (r.code !== 'OK') failed++ })
    const startHeight = v.height
    const cpu = process.cpuUsage()
    const t = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < w.bodies.length) {
        const body = w.bodies[next++]!
        const r = await request(`${v.url}/txs`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent })
        const text = await r.body.text()
        if (r.statusCode !== 202) throw new Error(`POST /txs answered ${r.statusCode}: ${text.slice(0, 200)}`)
      }
    }))
    while (v.chain.mempool.size > 0) await new Promise((r) => setTimeout(r, 5))
    const ms = performance.now() - t
    const c = process.cpuUsage(cpu)
    checkAllIncluded(w, w.bodies.length, (a) => v.chain.app.query.nonce(a), failed)
    return { txs: w.bodies.length, ms: round3(ms), cpuMs: round3((c.user + c.system) / 1000), txPerSecond: Math.round((w.bodies.length / ms) * 1000), blocks: v.height - startHeight }
  } finally {
    await agent.close()
    await v.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

interface TransferSeries { runs: TransferRun[]; txPerSecond: Summary; ms: Summary; cpuMs: Summary; medianTxPerSecond: number }

async function series(name: string, runs: number, warmUp: () => Promise<TransferRun>, run: () => Promise<TransferRun>): Promise<TransferSeries> {
  await warmUp()
  const out: TransferRun[] = []
  for (let i = 0; i < runs; i++) {
    const r = await run()
    log(`${name} run ${i + 1}/${runs}: ${r.txs} txs in ${r.ms.toFixed(0)} ms = ${r.txPerSecond} tx/s (${r.blocks} blocks, CPU ${r.cpuMs.toFixed(0)} ms)`)
    out.push(r)
  }
  const tps = summarize(out.map((r) => r.txPerSecond))
  return { runs: out, txPerSecond: tps, ms: summarize(out.map((r) => r.ms)), cpuMs: summarize(out.map((r) => r.cpuMs)), medianTxPerSecond: Math.round(tps.median) }
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
    log(`volume report run ${i + 1}/${o.runs}: warm apply ${r.applyMs.toFixed(1)} ms, cold ${(r.envelopeMs + r.recoverMs + r.applyMs).toFixed(1)} ms, decode ${r.decodeMs.toFixed(1)} ms (${r.txBytes} bytes, ${r.writes} writes)`)
    samples.push(r)
  }
  const s = (f: (r: VolumeReportMeasurement) => number): Summary => summarize(samples.map(f))
  return {
    wallets: o.reportWallets, nodes: o.reportNodes, samples,
    warmApplyMs: s((r) => r.applyMs), warmApplyCpuMs: s((r) => r.applyCpuMs), coldApplyMs: s((r) => r.envelopeMs + r.recoverMs + r.applyMs),
    decodeMs: s((r) => r.decodeMs), commitMs: s((r) => r.commitMs),
  }
}

interface Target { id: string; description: string; target: string; measured: number; pass: boolean }

function chainTable(r: ChainResults): string {
  const t = Object.fromEntries(r.targets.map((x) => [x.id, x]))
  const v = (pass: boolean): string => (pass ? 'pass' : 'FAIL')
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const n = (x: number): string => Math.round(x).toLocaleString('en-US')
  const ms = (x: number): string => `${x.toFixed(1)} ms`
  const tx = r.transfers
  const lines = [
    row(['Measurement', 'Median', 'Target', 'Result']),
    row(['---', '---:', '---', '---']),
    row([`Signed transfers, in process, native recovery (${n(r.config.txs)} txs)`, `${n(tx.native.medianTxPerSecond)} tx/s`, t['transfers-native'].target, v(t['transfers-native'].pass)]),
    row([`Signed transfers, in process, pure-JS recovery (${n(Math.min(r.config.pureJsTxs, r.config.txs))} txs)`, `${n(tx.pureJs.medianTxPerSecond)} tx/s`, '—', '—']),
    ...(tx.http ? [row([`Signed transfers, POST /txs × ${r.config.concurrency}, native recovery`, `${n(tx.http.medianTxPerSecond)} tx/s`, '—', '—'])] : []),
    row([`Volume report block apply, ${n(r.volumeReport.wallets)} wallets / ${r.volumeReport.nodes} nodes, warm`, ms(r.volumeReport.warmApplyMs.median), t['report-apply'].target, v(t['report-apply'].pass)]),
    row(['Volume report block apply, cold (tx never seen, pure-JS recovery)', ms(r.volumeReport.coldApplyMs.median), '—', '—']),
    row(['Volume report tx decode (JSON.parse + schema)', ms(r.volumeReport.decodeMs.median), '—', '—']),
  ]
  const m = r.machine
  const busy = Math.max(m.loadAverageStart[0] ?? 0, m.loadAverageEnd[0] ?? 0) > m.cores / 2
  const caption = `${busy ? `**Measured on a busy machine (load average above ${m.cores / 2} on ${m.cores} cores): noisy, not final.** ` : ''}${r.finishedAt.slice(0, 10)}, ${m.cpuModel} × ${m.cores} cores, Node ${m.node}, load average ${m.loadAverageStart[0]} at start / ${m.loadAverageEnd[0]} at end; median of ${r.config.runs} runs.`
  return `${caption}\n\n${lines.join('\n')}\n`
}

interface ChainResults {
  kind: 'chain'
  startedAt: string
  finishedAt: string
  machine: ReturnType<typeof machineInfo>
  config: Options & { nativeRecoveryLoaded: boolean }
  transfers: { native: TransferSeries; pureJs: TransferSeries; http?: TransferSeries }
  volumeReport: ReportSeries
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

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  const startedAt = new Date().toISOString()
  const loadStart = loadavg().map(round3)
  log(`load average ${loadStart.join(' ')}${loadStart[0]! > 1 ? ' — the machine is busy, expect noisy numbers' : ''}`)
  const native = createRecoverSigner()
  if (!native.native) throw new Error('native libsecp256k1 did not load: the native measurement would silently be pure JS')
  const pureJs = createRecoverSigner({ native: null, logger: { warn: () => {} } })

  let t = performance.now()
  const w = signWorkload(o.txs, o.senders)
  log(`signed ${w.bodies.length} transfers from ${o.senders} wallets in ${(performance.now() - t).toFixed(0)} ms (untimed)`)
  const warmBodies = w.bodies.slice(0, Math.min(500, w.bodies.length))

  t = performance.now()
  const nativeSeries = await series('in-process native', o.runs, () => runInProcess(w, warmBodies, o.blockSize, native), () => runInProcess(w, w.bodies, o.blockSize, native))
  const pureSeries = await series('in-process pure-JS', o.runs, () => runInProcess(w, warmBodies, o.blockSize, pureJs), () => runInProcess(w, w.bodies.slice(0, o.pureJsTxs), o.blockSize, pureJs))
  const httpSeries = o.http ? await series(`HTTP ×${o.concurrency} native`, o.runs, () => runInProcess(w, warmBodies, o.blockSize, native), () => runHttp(w, o.concurrency, native)) : undefined
  const report = reportSeries(o)
  log(`done in ${((performance.now() - t) / 1000).toFixed(1)} s`)

  const targets: Target[] = [
    { id: 'transfers-native', description: 'Sustained signed transfers per second on one validator, signature checks included (in process, native recovery, median)', target: `≥ ${TARGET_TX_PER_SECOND.toLocaleString('en-US')} tx/s`, measured: nativeSeries.medianTxPerSecond, pass: nativeSeries.medianTxPerSecond >= TARGET_TX_PER_SECOND },
    { id: 'report-apply', description: `Block apply time for a volume report of ${o.reportWallets} wallets (warm: after checkTx, median)`, target: `< ${TARGET_REPORT_APPLY_MS} ms`, measured: report.warmApplyMs.median, pass: report.warmApplyMs.median < TARGET_REPORT_APPLY_MS },
  ]
  const finishedAt = new Date().toISOString()
  const results: ChainResults = {
    kind: 'chain', startedAt, finishedAt, machine: machineInfo(loadStart), config: { ...o, nativeRecoveryLoaded: native.native },
    transfers: { native: nativeSeries, pureJs: pureSeries, ...(httpSeries ? { http: httpSeries } : {}) },
    volumeReport: report, targets,
    notes: [
      'Transfers in process: startValidator (LMDB, mempool, producer) in a fresh data dir; each pre-signed tx JSON is JSON.parse + decodeSignedTx + mempool.add (checkTx: signature recovery, nonce, fee, balance); a block is produced and committed (fsync) every blockSize admitted txs, then until the mempool is empty. tx/s = txs / wall time. Every sender ends at the expected nonce and every tx result is OK, or the run fails.',
      'Transfers over HTTP: the same txs POSTed to /txs by `concurrency` undici clients in the same process (they share the 2 cores with the validator), 100 ms blocks, timed until the mempool is drained.',
      'Volume report: measureVolumeReport() from src/chain/measure.ts (in-memory store). warm = executeBlock after checkTx (signer cached): ante, the meta node ed25519 signature, ozone charges of every wallet, rewards, end-block, state hash. cold = tx envelope (canonical encoding + hash) + pure-JS signature recovery + the same execute, i.e. a block whose tx the node never saw; decode (JSON.parse + schema) is the edge cost, reported separately.',
      'Signing is not timed: txs are signed once and reused; each run starts a fresh chain from the same genesis. One untimed warm-up run per series.',
      'cpuMs = user + system CPU time of this process during the run (all threads, includes LMDB).',
    ],
  }
  const resultsDir = join(BENCH_DIR, 'results')
  await mkdir(resultsDir, { recursive: true })
  const file = `${startedAt.slice(0, 10)}-chain.json`
  await writeFile(join(resultsDir, file), JSON.stringify(results, null, 2) + '\n')
  log(`wrote bench/results/${file}`)
  if (o.readme) log((await updateReadme(join(BENCH_DIR, 'README.md'), results, file)) ? 'updated the ledger table in bench/README.md' : 'bench/README.md has no chain-results markers: not updated')
  process.stdout.write(chainTable(results))
}

await main()
