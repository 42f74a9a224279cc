/**
 * The ledger on CometBFT (issue 14 targets), for `npm run bench:chain`: a cluster of `validators` real validator
 * nodes (each the built CLI's `node validator --engine cometbft` + its CometBFT, test/chain/abci/cluster.ts, 500 ms
 * timeout_commit), fed pre-signed transfers for `seconds`. Senders are spread over the validators (sender i →
 * validator i mod N) and over `connections` client connections per validator (each sender pinned to one connection,
 * so its nonces arrive in order); every connection sends one request at a time — as fast as they are answered, or,
 * with `rate` > 0, paced so that all connections together offer `rate` tx/s (below saturation both variants of a
 * change commit the same rate, so their CPU per tx compares the work per tx, not how far fixed per-second costs
 * such as empty-block consensus are spread):
 *   - intake 'rest' (default): POST /txs/batch of `batch` txs to the validator's REST API (decode, then CometBFT
 *     broadcast_tx_sync as JSON-RPC batches, one lane per sender: broadcast.ts);
 *   - intake 'rpc': a JSON-RPC batch of `batch` broadcast_tx_sync straight to the validator's CometBFT RPC, as
 *     Cosmos clients submit.
 * Either way every tx is a real signed transfer checked by CheckTx on every validator it reaches. Committed tx/s =
 * the txs of the blocks committed from the start of the load until its end (heights read from CometBFT's RPC) ÷ the
 * window; block times = intervals between those blocks' header times (median, p90, max). Refused txs (CheckTx,
 * full mempool, transport) are counted, not retried.
 */
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Cluster, CLUSTER_CHAIN_ID, cometHeight, rpc } from '../test/chain/abci/cluster.ts'
import type { WalletKey } from '../src/crypto/wallet-key.ts'

export type CometIntake = 'rest' | 'rpc'

export interface CometRun {
  validators: number
  intake: CometIntake
  connectionsPerValidator: number
  batch: number
  /** Offered tx/s (0: unpaced). */
  rate: number
  seconds: number
  submitted: number
  refused: number
  /** Refusals by reason (first 80 characters of the error), most frequent first. */
  refusedBy: Array<[string, number]>
  committedInWindow: number
  txPerSecond: number
  blocks: number
  meanBlockTimeMs: number
  medianBlockTimeMs: number
  p90BlockTimeMs: number
  maxBlockTimeMs: number
  /** Load average (1 min) when the load started and when it ended. */
  loadAverage: [number, number]
  /**
   * CPU time (user + system, /proc) during the window per committed tx, µs: of all app processes, of all CometBFT
   * processes, and the 2-core rate it implies (2 s of CPU per second ÷ CPU per tx) — what the machine could commit
   * with nothing else running, an estimate less disturbed by other load than the rate itself. `clientUs`: this bench
   * process (the clients sending the txs), which shares the same 2 cores but is not in the estimate.
   */
  cpuPerTx?: { appUs: number; cometUs: number; twoCoreTxPerSecond: number; clientUs: number }
}

/** user + system CPU seconds of a process so far (Linux /proc), or undefined. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

function clusterCpu(cluster: Cluster): { app: number; comet: number } | undefined {
  let app = 0
  let comet = 0
  for (const node of cluster.nodes) {
    const a = cpuSeconds(node.child?.pid)
    const c = cpuSeconds(node.cometPid)
    if (a === undefined || c === undefined) return undefined
    app += a
    comet += c
  }
  return { app, comet }
}

/** Signs `perSender` transfers (nonces 0…) for each sender, for chain `chainId`; returns canonical JSON bodies per sender. */
export type SignTransfers = (keys: readonly WalletKey[], chainId: string, perSender: number) => string[][]

interface Answer {
  error?: string
}

async function postRest(url: string, bodies: readonly string[]): Promise<Answer[]> {
  const res = await fetch(`${url}/txs/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"txs":[${bodies.join(',')}]}`,
    signal: AbortSignal.timeout(60_000),
  })
  const body = (await res.json()) as { results?: Array<{ error?: { message?: string } }>; error?: { message?: string } }
  if (!body.results) return bodies.map(() => ({ error: body.error?.message ?? `HTTP ${res.status}` }))
  return body.results.map((r) => (r.error ? { error: r.error.message ?? 'error' } : {}))
}

async function postRpc(url: string, bodies: readonly string[]): Promise<Answer[]> {
  const batch = bodies.map((b, id) => ({
    jsonrpc: '2.0',
    id,
    method: 'broadcast_tx_sync',
    params: { tx: Buffer.from(b).toString('base64') },
  }))
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(batch),
    signal: AbortSignal.timeout(60_000),
  })
  const answers = (await res.json()) as Array<{
    id: number
    result?: { code: number; log?: string }
    error?: { message: string; data?: string }
  }>
  const byId = new Map(answers.map((a) => [a.id, a]))
  return bodies.map((_, id) => {
    const a = byId.get(id)
    if (!a) return { error: 'no answer' }
    if (a.error) return { error: `${a.error.message} ${a.error.data ?? ''}` }
    return a.result?.code ? { error: a.result.log || `code ${a.result.code}` } : {}
  })
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

export async function runComet(o: {
  validators: number
  seconds: number
  senders: readonly WalletKey[]
  perSender: number
  sign: SignTransfers
  batch: number
  /** Offered tx/s over all connections (0: each connection sends its next batch as soon as one is answered). */
  rate?: number
  connections: number
  intake: CometIntake
  log: (m: string) => void
}): Promise<CometRun> {
  const bodies = o.sign(o.senders, CLUSTER_CHAIN_ID, o.perSender)
  const cluster = await Cluster.start({ count: o.validators, users: o.senders, blockIntervalMs: 500 })
  try {
    const first = cluster.nodes[0]!
    const n = cluster.nodes.length
    while ((await cometHeight(first).catch(() => 0)) < 2) await new Promise((r) => setTimeout(r, 200))
    // One stream per (validator, connection): its senders' txs, round-robin by nonce (each sender's nonces in order).
    const streams = cluster.nodes
      .flatMap((node, v) =>
        Array.from({ length: o.connections }, (_, c) => {
          const mine = bodies.filter((_, s) => s % n === v && Math.floor(s / n) % o.connections === c)
          const txs: string[] = []
          for (let k = 0; k < o.perSender; k++) for (const b of mine) txs.push(b[k]!)
          return { node, txs }
        }),
      )
      .filter((s) => s.txs.length > 0)
    const startHeight = await cometHeight(first)
    const loadStart = loadavg()[0]!
    const cpuStart = clusterCpu(cluster)
    const clientStart = process.cpuUsage()
    const started = performance.now()
    const deadline = started + o.seconds * 1000
    let submitted = 0
    let refused = 0
    const reasons = new Map<string, number>()
    // Paced: each stream sends its k-th batch at started + k × (batch ÷ its share of the rate).
    const batchGapMs = o.rate ? (o.batch * streams.length * 1000) / o.rate : 0
    await Promise.all(
      streams.map(async ({ node, txs }, s) => {
        for (let i = 0; i < txs.length && performance.now() < deadline; i += o.batch) {
          if (batchGapMs) {
            const at = started + (s / streams.length + i / o.batch) * batchGapMs
            const wait = at - performance.now()
            if (wait > 0) await new Promise((r) => setTimeout(r, wait))
            if (performance.now() >= deadline) break
          }
          const slice = txs.slice(i, i + o.batch)
          const answers = await (o.intake === 'rpc'
            ? postRpc(node.rpcUrl, slice)
            : postRest(node.restUrl, slice)
          ).catch((e: unknown) => slice.map(() => ({ error: String(e) })))
          submitted += answers.length
          for (const a of answers) {
            if (!a.error) continue
            refused++
            const why = a.error.slice(0, 80)
            reasons.set(why, (reasons.get(why) ?? 0) + 1)
          }
        }
      }),
    )
    // Wait until the end of the window has passed, then count what blocks inside it committed.
    while (performance.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    const windowEnd = performance.now()
    const endHeight = await cometHeight(first)
    const cpuEnd = clusterCpu(cluster)
    const client = process.cpuUsage(clientStart)
    const loadEnd = loadavg()[0]!
    const windowSeconds = (windowEnd - started) / 1000
    let committed = 0
    const times: number[] = []
    for (let h = startHeight; h <= endHeight; h++) {
      const b = await rpc<{ block: { header: { time: string }; data: { txs: string[] | null } } }>(
        first.rpcUrl,
        `/block?height=${h}`,
        30_000,
      )
      if (h > startHeight) committed += b.block.data.txs?.length ?? 0
      times.push(Date.parse(b.block.header.time))
    }
    const intervals = times
      .slice(1)
      .map((t, i) => t - times[i]!)
      .sort((a, b) => a - b)
    const blocks = endHeight - startHeight
    const run: CometRun = {
      validators: o.validators,
      intake: o.intake,
      connectionsPerValidator: o.connections,
      batch: o.batch,
      rate: o.rate ?? 0,
      seconds: Math.round(windowSeconds * 10) / 10,
      submitted,
      refused,
      refusedBy: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5),
      committedInWindow: committed,
      txPerSecond: Math.round(committed / windowSeconds),
      blocks,
      meanBlockTimeMs: Math.round(intervals.reduce((a, b) => a + b, 0) / Math.max(1, intervals.length)),
      medianBlockTimeMs: percentile(intervals, 0.5),
      p90BlockTimeMs: percentile(intervals, 0.9),
      maxBlockTimeMs: intervals.at(-1) ?? Number.NaN,
      loadAverage: [Math.round(loadStart * 100) / 100, Math.round(loadEnd * 100) / 100],
    }
    if (cpuStart && cpuEnd && committed > 0) {
      const appUs = ((cpuEnd.app - cpuStart.app) / committed) * 1e6
      const cometUs = ((cpuEnd.comet - cpuStart.comet) / committed) * 1e6
      run.cpuPerTx = {
        appUs: Math.round(appUs),
        cometUs: Math.round(cometUs),
        twoCoreTxPerSecond: Math.round(2e6 / (appUs + cometUs)),
        clientUs: Math.round((client.user + client.system) / committed),
      }
    }
    o.log(
      `CometBFT ×${o.validators} (${o.intake}, ${o.connections} connection(s)/validator, batches of ${o.batch}${o.rate ? `, offered ${o.rate} tx/s` : ''}): ${run.txPerSecond} committed tx/s over ${run.seconds} s (${committed} in ${blocks} blocks; block time median ${run.medianBlockTimeMs} ms, p90 ${run.p90BlockTimeMs} ms, max ${run.maxBlockTimeMs} ms; ${submitted} submitted, ${refused} refused; load ${run.loadAverage.join(' → ')}${run.cpuPerTx ? `; CPU per committed tx: apps ${run.cpuPerTx.appUs} µs + CometBFT ${run.cpuPerTx.cometUs} µs → 2-core estimate ${run.cpuPerTx.twoCoreTxPerSecond} tx/s; bench clients ${run.cpuPerTx.clientUs} µs` : ''})`,
    )
    return run
  } finally {
    await cluster.stop()
  }
}
