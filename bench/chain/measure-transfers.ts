/**
 * Measures signed transfers through decode + checkTx + block apply (target: ≥ 5,000/s on this
 * 2-core machine). Not a test: run `node --import tsx bench/chain/measure-transfers.ts [txs] [senders]`.
 * Prints one JSON line.
 */
import { measureTransfers } from '../chain-measure.ts'

const txs = Number(process.argv[2] ?? 1_000)
const senders = Number(process.argv[3] ?? 50)
measureTransfers({ txs: 200, senders: 10 }) // warm-up (JIT)
const r = measureTransfers({ txs, senders })
const round = (n: number) => Math.round(n * 10) / 10
console.log(JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v)]))))
