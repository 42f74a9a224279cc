/**
 * Measures applying a block with one volume report of 10,000 wallets and 100 resource nodes
 * (target: < 100 ms). Not a test: run `node --import tsx bench/chain/measure-volume-report.ts [wallets] [nodes]`.
 * Prints one JSON line with the timings in milliseconds.
 */
import { measureVolumeReport } from '../chain-measure.ts'

const wallets = Number(process.argv[2] ?? 10_000)
const nodes = Number(process.argv[3] ?? 100)
measureVolumeReport({ wallets: 500, nodes: 10 }) // warm-up (JIT)
const runs = [1, 2, 3, 4, 5].map(() => measureVolumeReport({ wallets, nodes }))
const round = (n: number) => Math.round(n * 10) / 10
const best = (f: (r: (typeof runs)[number]) => number) => round(Math.min(...runs.map(f)))
console.log(
  JSON.stringify({
    wallets,
    nodes,
    txBytes: runs[0]!.txBytes,
    writes: runs[0]!.writes,
    decodeMs: best((r) => r.decodeMs),
    envelopeMs: best((r) => r.envelopeMs),
    recoverMs: best((r) => r.recoverMs),
    applyMs: best((r) => r.applyMs),
    applyCpuMs: best((r) => r.applyCpuMs),
    commitMs: best((r) => r.commitMs),
    applyPlusCommitMs: best((r) => r.applyMs + r.commitMs),
    coldApplyPlusCommitMs: best((r) => r.envelopeMs + r.recoverMs + r.applyMs + r.commitMs),
    epochEndMs: best((r) => r.epochEndMs),
    allRuns: runs.map((r) => ({ decodeMs: round(r.decodeMs), applyMs: round(r.applyMs), commitMs: round(r.commitMs) })),
  }),
)
