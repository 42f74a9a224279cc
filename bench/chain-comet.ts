/**
 * The ledger on CometBFT (issue 14 targets), for `npm run bench:chain`: a cluster of `validators` real validator
 * nodes (each the built CLI's `node validator --engine cometbft` + its CometBFT, test/chain/abci/cluster.ts, 500 ms
 * timeout_commit), fed pre-signed transfers for `seconds` through the validators' REST APIs (POST /txs/batch →
 * CometBFT broadcast_tx_sync as one JSON-RPC batch; sender i → validator i mod N, one request at a time per
 * validator so a sender's nonces stay in order). Committed tx/s = the transfers in blocks committed during the
 * load window ÷ the window; block time = mean interval between those blocks. Refused txs (CheckTx, full mempool)
 * are counted, not retried.
 */
import { performance } from 'node:perf_hooks'
import { Cluster, CLUSTER_CHAIN_ID, cometHeight, rpc } from '../test/chain/abci/cluster.ts'
import type { WalletKey } from '../src/crypto/wallet-key.ts'

export interface CometRun {
  validators: number
  seconds: number
  submitted: number
  refused: number
  committedInWindow: number
  txPerSecond: number
  blocks: number
  meanBlockTimeMs: number
}

/** Signs `perSender` transfers (nonces 0…) for each sender, for chain `chainId`; returns canonical JSON bodies per sender. */
export type SignTransfers = (keys: readonly WalletKey[], chainId: string, perSender: number) => string[][]

export async function runComet(o: {
  validators: number
  seconds: number
  senders: readonly WalletKey[]
  perSender: number
  sign: SignTransfers
  batch: number
  log: (m: string) => void
}): Promise<CometRun> {
  const bodies = o.sign(o.senders, CLUSTER_CHAIN_ID, o.perSender)
  const cluster = await Cluster.start({ count: o.validators, users: o.senders, blockIntervalMs: 500 })
  try {
    const first = cluster.nodes[0]!
    while ((await cometHeight(first).catch(() => 0)) < 2) await new Promise((r) => setTimeout(r, 200))
    // Per validator: its senders' txs, round-robin by nonce (each sender's nonces in order).
    const streams = cluster.nodes.map((_, v) => {
      const mine = bodies.filter((_, s) => s % cluster.nodes.length === v)
      const out: string[] = []
      for (let n = 0; n < o.perSender; n++) for (const b of mine) out.push(b[n]!)
      return out
    })
    const startHeight = await cometHeight(first)
    const started = performance.now()
    const deadline = started + o.seconds * 1000
    let submitted = 0
    let refused = 0
    await Promise.all(
      cluster.nodes.map(async (node, v) => {
        const stream = streams[v]!
        for (let i = 0; i < stream.length && performance.now() < deadline; i += o.batch) {
          const txs = stream.slice(i, i + o.batch).map((b) => JSON.parse(b) as unknown)
          const res = await fetch(`${node.restUrl}/txs/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ txs }),
            signal: AbortSignal.timeout(60_000),
          })
          const { results } = (await res.json()) as { results: Array<{ error?: unknown }> }
          submitted += results.length
          refused += results.filter((r) => r.error).length
        }
      }),
    )
    const windowEnd = Math.max(performance.now(), deadline)
    // Wait until the end of the window has passed, then count what blocks inside it committed.
    while (performance.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    const endHeight = await cometHeight(first)
    const windowSeconds = (windowEnd - started) / 1000
    let committed = 0
    const times: number[] = []
    for (let h = startHeight + 1; h <= endHeight; h++) {
      const b = await rpc<{ block: { header: { time: string }; data: { txs: string[] | null } } }>(
        first.rpcUrl,
        `/block?height=${h}`,
        30_000,
      )
      committed += b.block.data.txs?.length ?? 0
      times.push(Date.parse(b.block.header.time))
    }
    const blocks = endHeight - startHeight
    const meanBlockTimeMs = times.length > 1 ? (times.at(-1)! - times[0]!) / (times.length - 1) : Number.NaN
    const run: CometRun = {
      validators: o.validators,
      seconds: Math.round(windowSeconds * 10) / 10,
      submitted,
      refused,
      committedInWindow: committed,
      txPerSecond: Math.round(committed / windowSeconds),
      blocks,
      meanBlockTimeMs: Math.round(meanBlockTimeMs),
    }
    o.log(
      `CometBFT ×${o.validators}: ${run.txPerSecond} committed tx/s over ${run.seconds} s (${committed} in ${blocks} blocks, mean block time ${run.meanBlockTimeMs} ms; ${submitted} submitted, ${refused} refused)`,
    )
    return run
  } finally {
    await cluster.stop()
  }
}
