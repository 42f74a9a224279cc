/**
 * Small-file uploads through the SDK (issue 15's target: a 64 KiB upload ≤ 20 ms p50, warm client), on the same devnet
 * `bench/users.ts` measures it on (6 resource nodes, k=4 m=2, the nodes' default `--sync`), alone and quick, with
 * where the time goes: the CPU every devnet process spent per upload (read from /proc before and after), so a miss
 * shows whether the meta node, the resource nodes or the client is the floor (the devnet's idle CPU, measured just
 * before, is subtracted).
 *
 * Usage: npm run bench:small [-- --uploads 60] [--bytes 65536] [--concurrency 1] [--k K --m M] [--profile DIR]
 * `--profile DIR`: every devnet process loads bench/profile-preload.mjs, and it and this client (node:inspector) are
 * profiled over exactly the timed uploads (after the idle window): DIR/<pid>-1.cpuprofile per process (roles in
 * DIR/roles.json), DIR/client.cpuprofile; summarise one with `node bench/profile-summary.mjs FILE`.
 * `--perf FILE`: `perf record -e cpu-clock -g` of every devnet process and this one over the timed uploads (on-CPU
 * samples, kernel included; the devnet runs with --perf-basic-prof so JavaScript frames have names):
 * `perf report -i FILE --sort pid,sym`.
 * Prints one JSON object (p50/p90/mean ms, uploads/s, CPU ms per upload by role, load average at start and end).
 */
import { parseArgs } from 'node:util'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { spawn } from 'node:child_process'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { StratosClient, WalletKey } from '../src/sds/client/index.ts'
import { startDevnet } from './devnet.ts'
import { processCpuMs } from './cpu.ts'

/** utime + stime of a role process in ms (NaN once it is gone). */
const cpuMsOf = (pid: number): number => processCpuMs(pid) ?? Number.NaN

const { values: args } = parseArgs({
  options: {
    uploads: { type: 'string', default: '60' },
    bytes: { type: 'string', default: String(64 * 1024) },
    concurrency: { type: 'string', default: '1' },
    /** The client's layout (default: the network's, k=4 m=2); e.g. --k 1 --m 2 stores three copies. */
    k: { type: 'string' },
    m: { type: 'string' },
    profile: { type: 'string' },
    perf: { type: 'string' },
  },
})
const UPLOADS = Number(args.uploads)
const BYTES = Number(args.bytes)
const CONCURRENCY = Number(args.concurrency)
const WARMUP = 5
/** How long the devnet's idle CPU is measured before the timed uploads. */
const IDLE_MS = 5_000

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN
}

const dir = mkdtempSync(join(tmpdir(), 'stratos-bench-small-'))
const loadStart = loadavg()
const PROFILE = args.profile
if (PROFILE) {
  mkdirSync(PROFILE, { recursive: true })
  process.env.NODE_OPTIONS = `--import=${join(import.meta.dirname, 'profile-preload.mjs')}`
  process.env.PROFILE_DIR = PROFILE
}
if (args.perf) process.env.STRATOS_DEVNET_NODE_ARGS = '--perf-basic-prof'
const devnet = await startDevnet({ dir, resources: 6, k: 4, m: 2, log: () => {} })
delete process.env.NODE_OPTIONS
delete process.env.PROFILE_DIR
try {
  const { network } = devnet
  const client = await StratosClient.connect({
    metaUrl: network.meta.url,
    wallet: WalletKey.fromMnemonic(network.wallets[0]!.mnemonic),
    ...(args.k ? { k: Number(args.k) } : {}),
    ...(args.m ? { m: Number(args.m) } : {}),
  })
  try {
    let n = 0
    const one = async (): Promise<number> => {
      const data = new Uint8Array(BYTES)
      data.set(new TextEncoder().encode(`small ${process.pid} ${n++} ${Date.now()} ${Math.random()}`))
      const t0 = performance.now()
      await client.put(data)
      return performance.now() - t0
    }
    for (let i = 0; i < WARMUP; i++) await one()
    const roles = network.processes.map((p) => ({ role: p.role, pid: p.pid }))
    // What the devnet spends doing nothing (heartbeats, chain blocks, duty loops), per second: subtracted below, so a
    // slow run on a busy machine does not charge its idle time to each upload.
    const idle0 = roles.map((r) => cpuMsOf(r.pid))
    await new Promise((r) => setTimeout(r, IDLE_MS))
    const idlePerMs = roles.map((r, i) => (cpuMsOf(r.pid) - idle0[i]!) / IDLE_MS)
    // Profiles (--profile): SIGUSR2 starts each process's profiler (bench/profile-preload.mjs); starting one costs
    // CPU (V8 logs every compiled function), so it happens before the measured window.
    const session = PROFILE ? new Session() : undefined
    if (PROFILE && session) {
      writeFileSync(
        join(PROFILE, 'roles.json'),
        JSON.stringify(network.processes.map((p) => ({ role: p.role, name: p.name, pid: p.pid }))),
      )
      for (const r of roles) process.kill(r.pid, 'SIGUSR2')
      session.connect()
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', { interval: 200 })
      await session.post('Profiler.start')
      await new Promise((r) => setTimeout(r, 1500))
    }
    const perf = args.perf
      ? spawn(
          'perf',
          [
            'record',
            '-e',
            'cpu-clock',
            '-F',
            '2000',
            '-g',
            '-o',
            args.perf,
            '-p',
            [process.pid, ...roles.map((r) => r.pid)].join(','),
          ],
          { stdio: 'ignore' },
        )
      : undefined
    if (perf) await new Promise((r) => setTimeout(r, 1000))
    const before = roles.map((r) => cpuMsOf(r.pid))
    const selfBefore = process.cpuUsage()
    const latencies: number[] = []
    const started = performance.now()
    let left = UPLOADS
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) latencies.push(await one())
      }),
    )
    const elapsedS = (performance.now() - started) / 1000
    const self = process.cpuUsage(selfBefore)
    if (perf) {
      const exited = new Promise((r) => perf.once('exit', r))
      perf.kill('SIGINT')
      await exited
    }
    if (PROFILE && session) {
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(join(PROFILE, 'client.cpuprofile'), JSON.stringify(profile))
      session.disconnect()
      for (const r of roles) process.kill(r.pid, 'SIGUSR2')
      await new Promise((r) => setTimeout(r, 1500))
    }
    const perUpload: Record<string, number> = {}
    const idlePerSecond: Record<string, number> = {}
    roles.forEach((r, i) => {
      const ms = (cpuMsOf(r.pid) - before[i]! - idlePerMs[i]! * elapsedS * 1000) / UPLOADS
      perUpload[r.role] = Math.round(((perUpload[r.role] ?? 0) + ms) * 100) / 100
      idlePerSecond[r.role] = Math.round(((idlePerSecond[r.role] ?? 0) + idlePerMs[i]! * 1000) * 10) / 10
    })
    perUpload.client = Math.round(((self.user + self.system) / 1000 / UPLOADS) * 100) / 100
    const out = {
      what: `${BYTES}-byte upload through the SDK (warm client, k=${client.k} m=${client.m}), ${CONCURRENCY} in flight`,
      uploads: UPLOADS,
      p50Ms: Math.round(pct(latencies, 0.5) * 10) / 10,
      p90Ms: Math.round(pct(latencies, 0.9) * 10) / 10,
      meanMs: Math.round((latencies.reduce((a, b) => a + b, 0) / latencies.length) * 10) / 10,
      uploadsPerSecond: Math.round((UPLOADS / elapsedS) * 10) / 10,
      /** CPU per upload beyond the devnet's idle CPU (idleCpuMsPerSecond, measured just before). */
      cpuMsPerUpload: perUpload,
      idleCpuMsPerSecond: idlePerSecond,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      loadavg: { start: loadStart, end: loadavg() },
    }
    process.stdout.write(JSON.stringify(out, null, 2) + '\n')
  } finally {
    await client.close()
  }
} finally {
  await devnet.stop()
  rmSync(dir, { recursive: true, force: true })
}
