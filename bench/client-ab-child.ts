/**
 * One load client of bench/client-ab.ts: the SDK of source tree `tree` (imported from it), `concurrency` 64 KiB puts
 * in flight; `warmup` puts first (not counted: the JIT compiles the hot code), then `count` puts, whose CPU time
 * (process.cpuUsage) it prints as one JSON line. A fixed count rather than a time window: how much compiling falls in
 * the measured part does not depend on how fast a busy machine let the warm-up go.
 *
 * Usage: node --import tsx bench/client-ab-child.ts '<json config>'
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const c = JSON.parse(process.argv[2]!) as {
  tree: string
  metaUrl: string
  walletHex: string
  warmup: number
  count: number
  concurrency: number
}
const sdk = (await import(
  pathToFileURL(join(c.tree, 'src/sds/client/index.ts')).href
)) as typeof import('../src/sds/client/index.ts')
const client = await sdk.StratosClient.connect({
  metaUrl: c.metaUrl,
  wallet: sdk.WalletKey.fromPrivateKeyHex(c.walletHex),
})
const base = randomBytes(64 * 1024)
const files = Array.from({ length: c.concurrency }, () => Buffer.from(base))
let serial = 0
let started = 0
let cpu0 = process.cpuUsage()
let t0 = performance.now()
const latencies: number[] = []
let errors = 0
await Promise.all(
  Array.from({ length: c.concurrency }, async (_, w) => {
    for (;;) {
      const n = started++
      if (n >= c.warmup + c.count) return
      if (n === c.warmup) {
        cpu0 = process.cpuUsage()
        t0 = performance.now()
      }
      const data = files[w]!
      data.writeUInt32BE(serial++, 0)
      data.writeUInt32BE(process.pid, 4)
      const s = performance.now()
      try {
        await client.put(data)
        if (n >= c.warmup) latencies.push(performance.now() - s)
      } catch {
        errors++
      }
    }
  }),
)
const cpu = process.cpuUsage(cpu0)
const ms = performance.now() - t0
await client.close()
process.stdout.write(
  `${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000, ms, latencies, errors })}\n`,
)
