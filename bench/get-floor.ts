/**
 * Where a whole-process `stratos get` of a large file spends its time, against the floor of the same transfer
 * (`npm run bench:get-floor`; bench/README.md, issue 15). On one fresh devnet, one file put once, then interleaved:
 *
 *   cli get           `node bin/stratos.js get CID -o FILE` (whole process; `--cli` adds another build's bin to compare)
 *   sdk get (warm)    StratosClient.get(CID, FILE) in this process, after one unmeasured get: the same reads, checks
 *                     and file writes without process start-up, module loading, key derivation and first-touch memory
 *   sdk cat (warm)    the same download into reused buffers, nothing written: the shards from the nodes, verified
 *   cli get 64 KiB    a whole-process get of a 64 KiB file: start-up, wallet, meta round trips, one segment
 *   node -e 0         a bare Node process
 *
 * For every sample: wall time, CPU of the client (the child's user + system from /usr/bin/time, or this process'
 * own), and CPU of every devnet process meanwhile (/proc). Options: `--runs N` (default 5), `--mib N` (file size,
 * default 200), `--cli PATH` (repeatable: another checkout's bin/stratos.js, run beside this one's).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { StratosClient } from '../src/sds/client/index.ts'
import { processCpuMs } from './cpu.ts'
import { writeSeededFile } from './data.ts'
import { startDevnet } from './devnet.ts'
import { summarize } from './stats.ts'

const MiB = 1 << 20
const REPO = join(import.meta.dirname, '..')

interface Sample {
  wallMs: number
  clientCpuMs: number
  devnetCpuMs: number
}

function devnetCpu(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0)
}

/** A child process to completion: wall ms and its CPU ms (/usr/bin/time). */
async function runTimed(args: string[], env: NodeJS.ProcessEnv, tmp: string): Promise<{ ms: number; cpuMs: number }> {
  const timeFile = join(tmp, `time-${Math.random().toString(36).slice(2)}`)
  const t0 = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  const ms = performance.now() - t0
  if (code !== 0) throw new Error(`${args.join(' ').slice(0, 160)} exited ${code}: ${stderr.slice(-400)}`)
  const [u, s] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number)
  await rm(timeFile, { force: true })
  return { ms, cpuMs: (u + s) * 1000 }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      mib: { type: 'string' },
      cli: { type: 'string', multiple: true },
    },
  })
  const runs = Number(values.runs ?? 5)
  const bytes = Number(values.mib ?? 200) * MiB
  if (!existsSync('/usr/bin/time')) throw new Error('needs /usr/bin/time (client CPU of child processes)')
  const clis = [
    { label: 'cli get', bin: join(REPO, 'bin', 'stratos.js') },
    ...(values.cli ?? []).map((bin, i) => ({ label: `cli get [${i + 1}: ${bin}]`, bin })),
  ]
  const tmp = await mkdtemp(join(tmpdir(), 'stratos-bench-get-floor-'))
  const log = (line: string) => process.stderr.write(`[bench:get-floor] ${line}\n`)
  const dir = join(tmp, 'devnet')
  const devnet = await startDevnet({ dir, resources: 6, k: 4, m: 2, log: () => {} })
  const samples = new Map<string, Sample[]>()
  const add = (label: string, s: Sample) => samples.set(label, [...(samples.get(label) ?? []), s])
  const loads: number[] = [loadavg()[0]]
  let client: StratosClient | undefined
  try {
    const pids = [
      ...devnet.network.processes.map((p) => p.pid),
      ...(devnet.network.devnetPid ? [devnet.network.devnetPid] : []),
    ]
    const env = { STRATOS_HOME: dir, STRATOS_LOG_LEVEL: 'warn' }
    const big = join(tmp, 'big.bin')
    const small = join(tmp, 'small.bin')
    await writeSeededFile(big, bytes, 4242)
    await writeSeededFile(small, 64 * 1024, 4243)
    const cidOf = async (file: string): Promise<string> => {
      const child = spawn(process.execPath, [clis[0].bin, 'put', '--public', '--json', file], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d
      })
      await new Promise((resolve) => child.once('exit', resolve))
      return (JSON.parse(out) as { cid: string }).cid
    }
    const cid = await cidOf(big)
    const smallCid = await cidOf(small)
    const out = join(tmp, 'out.bin')
    // Each CLI writes its code cache on its first run: one unmeasured get each.
    for (const c of clis) {
      await runTimed([process.execPath, c.bin, 'get', smallCid, '-o', out], env, tmp)
      await rm(out, { force: true })
    }
    client = await StratosClient.connect({ metaUrl: devnet.network.meta.url })
    await client.get(cid, out)
    await rm(out, { force: true })
    for await (const _ of client.cat(cid, { reuseBuffers: true })) {
      // Warm-up of the read buffers cat uses.
    }
    const measureChild = async (label: string, args: string[]) => {
      const d0 = devnetCpu(pids)
      const r = await runTimed(args, env, tmp)
      add(label, { wallMs: r.ms, clientCpuMs: r.cpuMs, devnetCpuMs: devnetCpu(pids) - d0 })
      await rm(out, { force: true })
    }
    const measureHere = async (label: string, fn: () => Promise<void>) => {
      const d0 = devnetCpu(pids)
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await fn()
      const wallMs = performance.now() - t0
      const c = process.cpuUsage(c0)
      add(label, { wallMs, clientCpuMs: (c.user + c.system) / 1000, devnetCpuMs: devnetCpu(pids) - d0 })
      await rm(out, { force: true })
    }
    for (let i = 0; i < runs; i++) {
      for (const c of clis) await measureChild(c.label, [process.execPath, c.bin, 'get', cid, '-o', out])
      await measureHere('sdk get (warm)', async () => {
        await client!.get(cid, out)
      })
      await measureHere('sdk cat (warm)', async () => {
        for await (const _ of client!.cat(cid, { reuseBuffers: true })) {
          // The bytes are verified as they arrive; nothing is kept.
        }
      })
      await measureChild('cli get 64 KiB', [process.execPath, clis[0].bin, 'get', smallCid, '-o', out])
      await measureChild('node -e 0', [process.execPath, '-e', '0'])
      loads.push(loadavg()[0])
      log(`run ${i + 1}/${runs} done (load ${loadavg()[0].toFixed(2)})`)
    }
  } finally {
    await client?.close()
    await devnet.stop()
    await rm(tmp, { recursive: true, force: true })
  }
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`)
  const range = (xs: number[]) => `${ms(Math.min(...xs))}–${ms(Math.max(...xs))}`
  const lines = [
    `${new Date().toISOString().slice(0, 16)}Z, ${runs} interleaved runs of a ${bytes / MiB} MiB file, load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    '',
    '| | wall median (range) | client CPU median (range) | devnet CPU median (range) |',
    '| --- | ---: | ---: | ---: |',
  ]
  for (const [label, s] of samples) {
    const w = s.map((x) => x.wallMs)
    const c = s.map((x) => x.clientCpuMs)
    const d = s.map((x) => x.devnetCpuMs)
    lines.push(
      `| ${label} | ${ms(summarize(w).median)} (${range(w)}) | ${ms(summarize(c).median)} (${range(c)}) | ${ms(summarize(d).median)} (${range(d)}) |`,
    )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench:get-floor] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
})
