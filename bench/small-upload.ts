/**
 * Small-file uploads through the SDK (issue 15's target: a 64 KiB upload ≤ 20 ms p50, warm client), on the same devnet
 * `bench/users.ts` measures it on (6 resource nodes, k=4 m=2, the nodes' default `--sync`), alone and quick, with
 * where the time goes: the CPU every devnet process spent per upload (read from /proc before and after), so a miss
 * shows whether the meta node, the resource nodes or the client is the floor (the devnet's idle CPU, measured just
 * before, is subtracted).
 *
 * Usage: npm run bench:small [-- --uploads 60] [--warmup 5] [--bytes 65536] [--fill random|sparse] [--concurrency 1]
 *   [--k K --m M] [--copies-up-to BYTES] [--profile DIR]
 * `--fill`: each upload's bytes are random (default: no shard repeats across uploads, as with real files), or `sparse`
 * (the bench before session 11: zeros but for a short header, so with k=4 three data shards were the same every upload
 * and each node acknowledged them without writing).
 * `--copies-up-to BYTES`: a second client with the SDK's `copiesUpToBytes` set; uploads alternate between the two
 * (interleaved in one run, one in flight) and each gets its own latencies and CPU per role.
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
import { randomFillSync } from 'node:crypto'
import { join } from 'node:path'
import { StratosClient, WalletKey } from '../src/sds/client/index.ts'
import { startDevnet } from './devnet.ts'
import { processCpuMs } from './cpu.ts'

/** utime + stime of a role process in ms (NaN once it is gone). */
const cpuMsOf = (pid: number): number => processCpuMs(pid) ?? Number.NaN

const { values: args } = parseArgs({
  options: {
    uploads: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    fill: { type: 'string', default: 'random' },
    'copies-up-to': { type: 'string' },
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
const WARMUP = Number(args.warmup)
if (args.fill !== 'random' && args.fill !== 'sparse') throw new Error('--fill is random or sparse')
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
  const connect = (copiesUpToBytes?: number): Promise<StratosClient> =>
    StratosClient.connect({
      metaUrl: network.meta.url,
      wallet: WalletKey.fromMnemonic(network.wallets[0]!.mnemonic),
      ...(args.k ? { k: Number(args.k) } : {}),
      ...(args.m ? { m: Number(args.m) } : {}),
      ...(copiesUpToBytes !== undefined ? { copiesUpToBytes } : {}),
    })
  const client = await connect()
  // --copies-up-to: the same uploads alternate with a client storing small files as whole copies.
  const variants: { name: string; client: StratosClient }[] = [{ name: 'coded', client }]
  if (args['copies-up-to'] !== undefined) {
    if (CONCURRENCY !== 1) throw new Error('--copies-up-to compares one upload at a time (--concurrency 1)')
    variants.push({ name: 'copies', client: await connect(Number(args['copies-up-to'])) })
  }
  try {
    let n = 0
    const one = async (c: StratosClient = client): Promise<number> => {
      const data = new Uint8Array(BYTES)
      if (args.fill === 'random') randomFillSync(data)
      data.set(new TextEncoder().encode(`small ${process.pid} ${n++} ${Date.now()} ${Math.random()}`))
      const t0 = performance.now()
      await c.put(data)
      return performance.now() - t0
    }
    for (let i = 0; i < WARMUP; i++) for (const v of variants) await one(v.client)
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
    // With variants (one in flight): each upload's CPU per process (from /proc before and after it) and wall time go
    // to its variant's sums; uploads alternate, so both see the same machine.
    const byVariant = variants.map(() => ({ latencies: [] as number[], cpu: roles.map(() => 0), self: 0, ms: 0 }))
    if (variants.length > 1) {
      for (let i = 0; i < UPLOADS; i++) {
        for (const [j, v] of variants.entries()) {
          const acc = byVariant[j]!
          const cpu0 = roles.map((r) => cpuMsOf(r.pid))
          const self0 = process.cpuUsage()
          const t0 = performance.now()
          acc.latencies.push(await one(v.client))
          acc.ms += performance.now() - t0
          const self1 = process.cpuUsage(self0)
          acc.self += (self1.user + self1.system) / 1000
          roles.forEach((r, k) => {
            acc.cpu[k]! += cpuMsOf(r.pid) - cpu0[k]!
          })
        }
      }
    } else {
      let left = UPLOADS
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (left-- > 0) latencies.push(await one())
        }),
      )
    }
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
    const idlePerSecond: Record<string, number> = {}
    roles.forEach((r, i) => {
      idlePerSecond[r.role] = Math.round(((idlePerSecond[r.role] ?? 0) + idlePerMs[i]! * 1000) * 10) / 10
    })
    /** CPU per upload by role beyond the devnet's idle CPU over `ms`, and latency percentiles. */
    const summary = (lat: number[], cpu: number[], selfMs: number, ms: number) => {
      const perUpload: Record<string, number> = {}
      roles.forEach((r, i) => {
        const v = (cpu[i]! - idlePerMs[i]! * ms) / lat.length
        perUpload[r.role] = Math.round(((perUpload[r.role] ?? 0) + v) * 100) / 100
      })
      perUpload.client = Math.round((selfMs / lat.length) * 100) / 100
      return {
        uploads: lat.length,
        p50Ms: Math.round(pct(lat, 0.5) * 10) / 10,
        p90Ms: Math.round(pct(lat, 0.9) * 10) / 10,
        meanMs: Math.round((lat.reduce((a, b) => a + b, 0) / lat.length) * 10) / 10,
        /** CPU per upload beyond the devnet's idle CPU (idleCpuMsPerSecond, measured just before). */
        cpuMsPerUpload: perUpload,
      }
    }
    const total =
      variants.length > 1
        ? { uploadsPerSecond: Math.round(((UPLOADS * variants.length) / elapsedS) * 10) / 10 }
        : {
            ...summary(
              latencies,
              roles.map((r, i) => cpuMsOf(r.pid) - before[i]!),
              (self.user + self.system) / 1000,
              elapsedS * 1000,
            ),
            uploadsPerSecond: Math.round((UPLOADS / elapsedS) * 10) / 10,
          }
    const out = {
      what: `${BYTES}-byte upload through the SDK (warm client, k=${client.k} m=${client.m}, ${args.fill} bytes), ${CONCURRENCY} in flight`,
      warmup: WARMUP,
      ...total,
      ...(variants.length > 1
        ? {
            variants: Object.fromEntries(
              variants.map((v, j) => {
                const acc = byVariant[j]!
                return [
                  v.name === 'copies' ? `copies (copiesUpToBytes ${args['copies-up-to']})` : v.name,
                  summary(acc.latencies, acc.cpu, acc.self, acc.ms),
                ]
              }),
            ),
          }
        : {}),
      idleCpuMsPerSecond: idlePerSecond,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      loadavg: { start: loadStart, end: loadavg() },
    }
    process.stdout.write(JSON.stringify(out, null, 2) + '\n')
  } finally {
    for (const v of variants) await v.client.close()
  }
} finally {
  await devnet.stop()
  rmSync(dir, { recursive: true, force: true })
}
