/**
 * One load-generating process of bench/meta-index.ts: an SDK client on the meta URLs it is given (its own process
 * first), `concurrency` operations in flight from `startAt` for `warmupSeconds` (not counted), then `seconds`. Uploads put 64 KiB files of distinct bytes;
 * reads take 1 MiB ranges at random offsets of the file at `bigPath` (already uploaded as `cid`) and compare them
 * with its bytes, piece by piece. Prints `ready` once connected, starts at the time the line `go <ms since epoch>` on its stdin names
 * (so a process that took long to start does not shorten its own window), then prints one JSON line: latencies,
 * errors, mismatches and this process's CPU time.
 *
 * Usage (from meta-index.ts): node --import tsx bench/meta-index-client.ts '<json config>'
 */
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { StratosClient, WalletKey } from '../src/sds/client/index.ts'

interface Config {
  metaUrl: string
  walletHex: string
  phase: 'upload' | 'read'
  seconds: number
  /** Seconds of load before the measured window (default 0). */
  warmupSeconds?: number
  concurrency: number
  /** StratosClientOptions.copiesUpToBytes (0: every file coded). */
  copiesUpToBytes?: number
  cid?: string
  bigPath?: string
}

const MiB = 1 << 20
const c = JSON.parse(process.argv[2]!) as Config
const client = await StratosClient.connect({
  metaUrl: c.metaUrl,
  wallet: WalletKey.fromPrivateKeyHex(c.walletHex),
  copiesUpToBytes: c.copiesUpToBytes ?? 0,
})
const big = c.phase === 'read' ? readFileSync(c.bigPath!) : undefined
const base = randomBytes(64 * 1024)
// One file buffer per operation in flight, rewritten for each put once the last one resolved: the bench's own copy and
// allocation per file (64 KiB, external memory that brings V8's full collections) are not the SDK's cost.
const files = Array.from({ length: c.concurrency }, () => Buffer.from(base))
let serial = 0
const op =
  c.phase === 'upload'
    ? async (w: number): Promise<boolean> => {
        const data = files[w]!
        // Distinct in every 16 KiB, so every shard (and chunk) of every file is new, as for real distinct files: with
        // the first bytes alone, one shard of each client's files was the same and every create updated its one row.
        // Each 16 KiB gets its own function of the serial: with the same bytes in both data shards, their XOR (the
        // parity, k=2 m=1) would again be the same for every file.
        const n = serial++
        for (let at = 0, i = 1; at < data.length; at += 16 * 1024, i += 2) {
          data.writeUInt32BE(Math.imul(n + 1, Math.imul(i, 0x9e3779b1)) >>> 0, at)
          data.writeUInt32BE(process.pid, at + 4)
        }
        await client.put(data)
        return true
      }
    : async (_w: number): Promise<boolean> => {
        const offset = Math.floor(Math.random() * (big!.length - MiB))
        // Each piece is compared where it lands (no concatenation: the bench's own copy is not the SDK's cost).
        let at = offset
        let same = true
        for await (const piece of client.cat(c.cid!, { offset, length: MiB })) {
          same &&= Buffer.compare(piece, big!.subarray(at, at + piece.length)) === 0
          at += piece.length
        }
        return same && at === offset + MiB
      }

const latencies: number[] = []
let errors = 0
let mismatches = 0
const firstError: Record<string, string> = {}
process.stdout.write('ready\n')
const startAt = await new Promise<number>((resolve) => {
  let buf = ''
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    buf += d
    const m = /go (\d+)/.exec(buf)
    if (m) resolve(Number(m[1]))
  })
})
process.stdin.pause()
await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())))
// The measured window starts `warmupSeconds` after startAt (the load runs from startAt: the processes' JIT warms up).
const measureFrom = startAt + (c.warmupSeconds ?? 0) * 1000
const until = measureFrom + c.seconds * 1000
let cpu0 = process.cpuUsage()
const windowStarted = new Promise<void>((resolve) =>
  setTimeout(
    () => {
      cpu0 = process.cpuUsage()
      resolve()
    },
    Math.max(0, measureFrom - Date.now()),
  ),
)
await Promise.all(
  Array.from({ length: c.concurrency }, async (_, w) => {
    while (Date.now() < until) {
      const counted = Date.now() >= measureFrom
      const t0 = performance.now()
      try {
        if (!(await op(w)) && counted) mismatches++
        if (counted) latencies.push(performance.now() - t0)
      } catch (e) {
        if (!counted) continue
        errors++
        const code = (e as { code?: string }).code ?? 'other'
        firstError[code] ??= String((e as Error).message ?? e)
      }
    }
  }),
)
await windowStarted
const cpu = process.cpuUsage(cpu0)
await client.close()
process.stdout.write(
  JSON.stringify({
    latencies,
    errors,
    mismatches,
    firstError,
    cpuMs: (cpu.user + cpu.system) / 1000,
    sysMs: cpu.system / 1000,
  }) + '\n',
)
