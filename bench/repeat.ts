/**
 * A/B helper: repeated 200 MiB uploads and downloads on one fresh devnet, each with its wall time and
 * the CPU time of the client and of every devnet process. Run it once per variant of the code,
 * interleaved (A, B, A, B), and compare medians: one devnet's numbers are much steadier than two full
 * bench runs on this VM.
 *
 *   node --expose-gc --import tsx bench/repeat.ts [--uploads N] [--downloads N] [--mib N]
 *
 * The upload files are generated and flushed before anything is timed; the downloads read the first
 * uploaded file with `reuseBuffers`, like the bench. The first download's numbers are printed but
 * left out of the medians (the nodes read the shards from disk then).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startDevnet } from './devnet.ts'
import { connectStratos, timedStratosPut } from './stratos.ts'
import { writeSeededFile } from './data.ts'
import { collectGarbage, processCpuMs } from './cpu.ts'
import { mbPerSecond, median } from './stats.ts'

const { values } = parseArgs({
  options: {
    uploads: { type: 'string', default: '3' },
    downloads: { type: 'string', default: '10' },
    mib: { type: 'string', default: '200' },
  },
})
const uploads = Math.max(1, Number(values.uploads))
const downloads = Number(values.downloads)
const bytes = Number(values.mib) * 1024 * 1024

const dir = await mkdtemp(join(tmpdir(), 'stratos-repeat-'))
try {
  const files: string[] = []
  for (let i = 0; i < uploads; i++) {
    files.push(join(dir, `file-${i}.bin`))
    await writeSeededFile(files[i], bytes, 1000 + i)
  }
  const devnet = await startDevnet({ dir: join(dir, 'devnet'), resources: 6, k: 4, m: 2, log: () => {} })
  try {
    const net = devnet.network
    const client = await connectStratos({ metaUrl: net.meta.url, mnemonic: net.wallets[0].mnemonic })
    const procs = net.processes.map((p) => ({ name: p.name, pid: p.pid }))
    /** Runs `fn`; returns its wall ms, the client's CPU ms and each devnet process's CPU ms. */
    const measure = async (
      fn: () => Promise<void>,
    ): Promise<{ ms: number; client: number; nodes: number; each: string }> => {
      collectGarbage()
      const before = procs.map((p) => processCpuMs(p.pid) ?? 0)
      const self = process.cpuUsage()
      const t0 = performance.now()
      await fn()
      const ms = performance.now() - t0
      const used = process.cpuUsage(self)
      const spent = procs.map((p, i) => (processCpuMs(p.pid) ?? 0) - before[i])
      return {
        ms,
        client: (used.user + used.system) / 1000,
        nodes: spent.reduce((a, b) => a + b, 0),
        each: procs.map((p, i) => `${p.name} ${spent[i].toFixed(0)}`).join(' '),
      }
    }
    const line = (what: string, r: { ms: number; client: number; nodes: number; each: string }): void =>
      console.log(
        `${what} ${r.ms.toFixed(0)} ms (${mbPerSecond(bytes, r.ms).toFixed(0)} MB/s) client ${r.client.toFixed(0)} ms, devnet ${r.nodes.toFixed(0)} ms CPU: ${r.each}`,
      )
    const up: number[] = []
    let cid = ''
    for (const [i, file] of files.entries()) {
      const r = await measure(async () => {
        const p = await timedStratosPut(client, file)
        cid ||= p.cid
      })
      up.push(r.ms)
      line(`upload ${i + 1}`, r)
    }
    const down: number[] = []
    for (let i = 0; i < downloads; i++) {
      const r = await measure(async () => {
        let n = 0
        for await (const chunk of client.cat(cid, { reuseBuffers: true })) n += chunk.length
        if (n !== bytes) throw new Error(`read ${n} bytes, expected ${bytes}`)
      })
      if (i > 0) down.push(r.ms)
      line(`download ${i + 1}`, r)
    }
    console.log(
      `median upload ${median(up).toFixed(0)} ms${down.length ? `, median download ${median(down).toFixed(0)} ms (runs 2…${downloads})` : ''}`,
    )
    await client.close()
  } finally {
    await devnet.stop()
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}
