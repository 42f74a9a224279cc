/**
 * Meta index throughput: small uploads and 1 MiB range reads through one meta node whose index is PostgreSQL (two
 * meta processes over one database, the load split between them) and, beside it, the same run with LMDB (one
 * process: an LMDB index belongs to one process). Issue 17's targets, through 2 processes over PostgreSQL:
 * ≥ 200 uploads/s of 64 KiB files and ≥ 500 reads/s of 1 MiB ranges.
 *
 * Each run: a fresh PostgreSQL (fsync on) or LMDB index, 3 resource nodes (`--sync none`), k=2 m=1, storage only
 * (no chain). Uploads: `--concurrency` SDK puts in flight for `--seconds`, each file 64 KiB of distinct bytes.
 * Reads: one 32 MiB file, then `--concurrency` 1 MiB range reads at random offsets in flight for `--seconds`, each
 * checked against the bytes uploaded. The load comes from `--clients` processes (bench/meta-index-client.ts, default
 * 4), each with one SDK client naming its own meta process first (the other as its failover) and `--concurrency`
 * operations in flight, so one client process's event loop is not the ceiling; on a small machine they still compete
 * with the nodes for the CPU: the load average and every process's CPU per operation are printed with the numbers.
 *
 * Usage: npm run -s build && node --import tsx bench/meta-index.ts [--seconds 20] [--concurrency 8] [--clients 4]
 *        [--engine postgres|lmdb|both] [--copies-up-to BYTES] [--only upload|read] [--profile DIR]
 *        [--perf FILE] [--warmup SECONDS]
 * `--copies-up-to BYTES`: the load clients store files of at most BYTES as whole copies (the SDK's copiesUpToBytes:
 * k=1, same m) instead of k=2 m=1 shards. `--only`: run one phase. `--profile DIR`: CPU profiles of every client, meta
 * and resource process during each phase (bench/profile-preload.mjs; summarise with bench/profile-summary.mjs).
 * `--perf FILE`: `perf record -g` of the same processes during the read phase, or the upload phase with `--only
 * upload` (start them with STRATOS_DEVNET_NODE_ARGS=--perf-basic-prof and NODE_OPTIONS=--perf-basic-prof for
 * JavaScript names).
 * `--warmup SECONDS`: each phase's load runs that long before its measured window (the processes' JIT compiles most
 * of the hot code in the first tens of seconds: without it, V8's optimizing compiler is 15–25 % of each role's CPU).
 * A role's CPU per operation is net of its idle rate (measured for 2 s before each phase, with the clients connected):
 * heartbeats and periodic loops are not charged to operations, however few a busy machine lets through; the kernel's
 * part (stime) is printed beside it.
 * Writes bench/results/<date>-meta-index.json.
 */
import { parseArgs } from 'node:util'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { StratosClient, WalletKey } from '../src/sds/client/index.ts'
import { MetaClient } from '../src/net/meta-client.ts'
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts'
import { startRole, stopRole, type RoleProcess } from '../test/support/roles.ts'
import { processCpuMs, processTreeCpuMs } from './cpu.ts'

/** utime + stime of a role process in ms (NaN once it is gone). */
const cpuMsOfPid = (pid: number): number => processCpuMs(pid) ?? Number.NaN
/** A measured process: a role, or PostgreSQL's server (`tree`: the postmaster and its backends together). */
interface Measured {
  name: string
  pid: number
  tree?: boolean
}
const cpuMsOf = (r: Measured): number => (r.tree ? processTreeCpuMs(r.pid) : cpuMsOfPid(r.pid))
const sysMsOf = (r: Measured): number => (r.tree ? processTreeCpuMs(r.pid, 'sys') : sysMsOfPid(r.pid))
/** stime of a role process in ms (the kernel's share: sockets, files), NaN once it is gone. */
function sysMsOfPid(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) * 10 // USER_HZ 100 on Linux
  } catch {
    return Number.NaN
  }
}

const MiB = 1 << 20
const CHAIN_ID = 'stratos-bench-meta'
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '0' },
    concurrency: { type: 'string', default: '8' },
    clients: { type: 'string', default: '4' },
    engine: { type: 'string', default: 'both' },
    'copies-up-to': { type: 'string', default: '0' },
    only: { type: 'string' },
    profile: { type: 'string' },
    perf: { type: 'string' },
  },
})
const SECONDS = Number(args.seconds)
const WARMUP = Number(args.warmup)
/** How long the roles' idle CPU is measured before each phase. */
const IDLE_MS = 2000
const CONCURRENCY = Number(args.concurrency)
const CLIENTS = Number(args.clients)
const WALLET_HEX = '6b'.repeat(32)
const wallet = WalletKey.fromPrivateKeyHex(WALLET_HEX)
const ONLY = args.only as 'upload' | 'read' | undefined
// --profile DIR: every process started from here loads bench/profile-preload.mjs; each phase's window is profiled
// (SIGUSR2 at its start and shortly before its end) into DIR/<pid>-<n>.cpuprofile.
const PROFILE_DIR = args.profile ? resolve(args.profile) : undefined
if (PROFILE_DIR) {
  mkdirSync(PROFILE_DIR, { recursive: true })
  process.env.PROFILE_DIR = PROFILE_DIR
  process.env.NODE_OPTIONS =
    `${process.env.NODE_OPTIONS ?? ''} --import=${join(import.meta.dirname, 'profile-preload.mjs')}`.trim()
}

interface Result {
  engine: 'postgres' | 'lmdb'
  metaProcesses: number
  uploads: {
    count: number
    perSecond: number
    errors: number
    p50Ms: number
    p90Ms: number
    cpuMsPerOp: Record<string, number>
    sysMsPerOp: Record<string, number>
  }
  reads: {
    count: number
    perSecond: number
    errors: number
    mismatches: number
    p50Ms: number
    p90Ms: number
    cpuMsPerOp: Record<string, number>
    sysMsPerOp: Record<string, number>
  }
  loadavg: { start: number[]; end: number[] }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : Number.NaN
}

interface PhaseResult {
  latencies: number[]
  errors: number
  mismatches: number
  elapsed: number
  /** CPU ms per completed operation: the client processes, each meta process, the resource nodes together. */
  cpuMsPerOp: Record<string, number>
  /** The kernel's part of cpuMsPerOp (stime: sockets, files). */
  sysMsPerOp: Record<string, number>
}

/** Runs one phase in CLIENTS processes (meta-index-client.ts), each on its own meta process first; merges them. */
async function phase(
  urls: string[],
  roles: Measured[],
  o: { phase: 'upload' | 'read'; cid?: string; bigPath?: string },
): Promise<PhaseResult> {
  // Every client connects first (prints `ready`); then all are told to start together, a little later.
  let before: number[] = []
  let readyCount = 0
  let go: () => void = () => {}
  const allReady = new Promise<void>((r) => (go = r))
  const children = Array.from({ length: CLIENTS }, (_, i) => {
    const order = [...urls.slice(i % urls.length), ...urls.slice(0, i % urls.length)].join(',')
    const config = {
      metaUrl: order,
      walletHex: WALLET_HEX,
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      concurrency: CONCURRENCY,
      copiesUpToBytes: Number(args['copies-up-to']),
      ...o,
    }
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'meta-index-client.ts'), JSON.stringify(config)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    )
    let out = ''
    let ready = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (!ready && out.includes('ready\n')) {
        ready = true
        if (++readyCount === CLIENTS) go()
      }
    })
    const done = new Promise<{
      latencies: number[]
      errors: number
      mismatches: number
      firstError: object
      cpuMs: number
      sysMs: number
    }>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`load client ${i} exited with ${code}`))
        else resolve(JSON.parse(out.trim().split('\n').pop()!))
      })
    })
    return { child, done }
  })
  await allReady
  // What the roles spend with no load (heartbeats every 500 ms, refresh and duty loops), per ms: subtracted below,
  // so a slow run on a busy machine does not charge its idle time to each operation.
  const idle0 = roles.map((r) => cpuMsOf(r))
  const idleT0 = performance.now()
  await new Promise((r) => setTimeout(r, IDLE_MS))
  const idleRate = roles.map((r, i) => (cpuMsOf(r) - idle0[i]!) / (performance.now() - idleT0))
  const startAt = Date.now() + 300
  for (const { child } of children) child.stdin.end(`go ${startAt}\n`)
  await new Promise((r) => setTimeout(r, Math.max(0, startAt + WARMUP * 1000 - Date.now())))
  before = roles.map((r) => cpuMsOf(r))
  const sysBefore = roles.map((r) => sysMsOf(r))
  const phaseT0 = performance.now()
  const profiled = [...roles.filter((r) => !r.tree).map((r) => r.pid), ...children.map((c) => c.child.pid!)]
  const signalAll = (): void => {
    for (const pid of profiled) {
      try {
        process.kill(pid, 'SIGUSR2')
      } catch {}
    }
  }
  let profileStop: NodeJS.Timeout | undefined
  // --perf FILE: on-CPU samples (kernel included) of every client, meta and resource process in the read phase (or
  // the one phase --only names).
  const perf =
    args.perf && o.phase === (ONLY ?? 'read')
      ? spawn(
          'perf',
          [
            'record',
            '-F',
            '1999',
            '-g',
            '-o',
            resolve(args.perf),
            '-p',
            profiled.join(','),
            '--',
            'sleep',
            String(Math.max(1, SECONDS - 1)),
          ],
          { stdio: 'ignore' },
        )
      : undefined
  if (PROFILE_DIR) {
    signalAll()
    profileStop = setTimeout(signalAll, Math.max(500, SECONDS * 1000 - 700))
  }
  const outs = await Promise.all(children.map((c) => c.done))
  const after = roles.map((r) => cpuMsOf(r))
  const sysAfter = roles.map((r) => sysMsOf(r))
  const phaseMs = performance.now() - phaseT0
  clearTimeout(profileStop)
  if (perf && perf.exitCode === null) await new Promise((r) => perf.once('exit', r))
  const latencies = outs.flatMap((x) => x.latencies)
  const ops = Math.max(1, latencies.length)
  const cpuMsPerOp: Record<string, number> = { clients: outs.reduce((a, x) => a + x.cpuMs, 0) / ops }
  const sysMsPerOp: Record<string, number> = { clients: outs.reduce((a, x) => a + x.sysMs, 0) / ops }
  const idleMsPerOp: Record<string, number> = {}
  roles.forEach((r, i) => {
    // PostgreSQL's "idle" right after the upload phase is the uploads' own aftermath (autovacuum, checkpoints): not
    // subtracted (the roles' idle is their heartbeats and loops, which run however few operations come).
    const idle = r.tree ? 0 : idleRate[i]! * phaseMs
    cpuMsPerOp[r.name] = (cpuMsPerOp[r.name] ?? 0) + (after[i]! - before[i]! - idle) / ops
    sysMsPerOp[r.name] = (sysMsPerOp[r.name] ?? 0) + (sysAfter[i]! - sysBefore[i]!) / ops
    idleMsPerOp[r.name] = (idleMsPerOp[r.name] ?? 0) + idle / ops
  })
  const round = (x: Record<string, number>) => {
    for (const k of Object.keys(x)) x[k] = Math.round(x[k]! * 100) / 100
    return x
  }
  round(cpuMsPerOp)
  round(sysMsPerOp)
  console.error(`${o.phase}: idle CPU ms per operation subtracted: ${JSON.stringify(round(idleMsPerOp))}`)
  for (const x of outs) if (Object.keys(x.firstError).length) console.error('errors:', x.firstError)
  return {
    latencies,
    errors: outs.reduce((a, x) => a + x.errors, 0),
    mismatches: outs.reduce((a, x) => a + x.mismatches, 0),
    elapsed: SECONDS,
    cpuMsPerOp,
    sysMsPerOp,
  }
}

async function run(engine: 'postgres' | 'lmdb'): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), `stratos-bench-meta-${engine}-`))
  let pg: TestPostgres | undefined
  const procs: RoleProcess[] = []
  const clients: StratosClient[] = []
  try {
    const metaArgs = (dataDir: string, index?: string) => [
      '--data-dir',
      dataDir,
      ...(index ? ['--index', index] : []),
      '--port',
      '0',
      '--chain-id',
      CHAIN_ID,
      '--k',
      '2',
      '--m',
      '1',
      '--segment-size',
      '32MiB',
    ]
    const metas: RoleProcess[] = []
    if (engine === 'postgres') {
      pg = await startPostgres({ durable: true })
      const index = await createDatabase(pg)
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-a'), index)))
      mkdirSync(join(dir, 'meta-b'))
      copyFileSync(join(dir, 'meta-a', 'node-key.json'), join(dir, 'meta-b', 'node-key.json'))
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-b'), index)))
    } else {
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-a'))))
    }
    procs.push(...metas)
    const urls = metas.map((m) => m.url)
    for (let i = 0; i < 3; i++) {
      procs.push(
        await startRole('resource', [
          '--data-dir',
          join(dir, `node-${i}`),
          '--port',
          '0',
          '--meta-url',
          urls.join(','),
          '--meta-address',
          metas[0]!.address,
          '--chain-id',
          CHAIN_ID,
          '--sync',
          'none',
          '--heartbeat-interval-ms',
          '500',
        ]),
      )
    }
    for (const url of urls) {
      const deadline = Date.now() + 30_000
      while ((await new MetaClient(url).status()).totals.nodesOnline < 3) {
        if (Date.now() > deadline) throw new Error(`nodes not online at ${url}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    const roles: Measured[] = [
      ...metas.map((m, i) => ({ name: `meta${i}`, pid: m.child.pid! })),
      ...procs.filter((p) => !metas.includes(p)).map((p) => ({ name: 'resources', pid: p.child.pid! })),
      ...(pg ? [{ name: 'postgres', pid: pg.process.pid!, tree: true }] : []),
    ]
    const loadStart = loadavg()
    const none: PhaseResult = {
      latencies: [],
      errors: 0,
      mismatches: 0,
      elapsed: SECONDS,
      cpuMsPerOp: {},
      sysMsPerOp: {},
    }
    const up = ONLY === 'read' ? none : await phase(urls, roles, { phase: 'upload' })

    const big = randomBytes(32 * MiB)
    const bigPath = join(dir, 'big.bin')
    writeFileSync(bigPath, big)
    const setup = await StratosClient.connect({ metaUrl: urls.join(','), wallet })
    clients.push(setup)
    const { cid } = await setup.put(big)
    const rd = ONLY === 'upload' ? none : await phase(urls, roles, { phase: 'read', cid, bigPath })
    const mismatches = rd.mismatches
    const loadEnd = loadavg()
    return {
      engine,
      metaProcesses: metas.length,
      uploads: {
        count: up.latencies.length,
        perSecond: up.latencies.length / up.elapsed,
        errors: up.errors,
        p50Ms: pct(up.latencies, 0.5),
        p90Ms: pct(up.latencies, 0.9),
        cpuMsPerOp: up.cpuMsPerOp,
        sysMsPerOp: up.sysMsPerOp,
      },
      reads: {
        count: rd.latencies.length,
        perSecond: rd.latencies.length / rd.elapsed,
        errors: rd.errors,
        mismatches,
        p50Ms: pct(rd.latencies, 0.5),
        p90Ms: pct(rd.latencies, 0.9),
        cpuMsPerOp: rd.cpuMsPerOp,
        sysMsPerOp: rd.sysMsPerOp,
      },
      loadavg: { start: loadStart, end: loadEnd },
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()))
    await Promise.allSettled(procs.map(stopRole))
    await pg?.stop()
    // Removed when this process exits, not now: deleting a run's tens of thousands of shard files first would slow
    // the next run's file creation on an ext4 without a journal, such as this project's VMs (bench/README.md).
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
}

// Runs minutes after other load (a test suite, the last run) cost every role 25-40 % more CPU per operation on this
// project's VMs, and file creation is slower after mass deletes on ext4 without a journal (bench/README.md).
if (loadavg()[1]! > 1.5)
  console.error(
    `note: 5-minute load average ${loadavg()[1]!.toFixed(1)}: this machine was busy in the last minutes; for figures comparable to bench/README.md, run after ≥ 5 quiet minutes`,
  )
const engines: ('postgres' | 'lmdb')[] =
  args.engine === 'both' ? ['postgres', 'lmdb'] : [args.engine as 'postgres' | 'lmdb']
const results: Result[] = []
for (const e of engines) {
  console.error(`meta-index bench: ${e} …`)
  results.push(await run(e))
}
const f1 = (n: number) => n.toFixed(1)
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? '?'} × ${cpus().length} cores, ${SECONDS} s per phase (after ${WARMUP} s of warm-up), ${CLIENTS} client processes × ${CONCURRENCY} in flight`,
)
console.log(
  '| index | meta processes | uploads/s (64 KiB) | upload p50 / p90 | 1 MiB reads/s | read p50 / p90 | errors | load avg start → end |',
)
console.log('|---|---:|---:|---:|---:|---:|---:|---|')
for (const r of results) {
  console.log(
    `| ${r.engine} | ${r.metaProcesses} | ${f1(r.uploads.perSecond)} | ${f1(r.uploads.p50Ms)} / ${f1(r.uploads.p90Ms)} ms | ${f1(r.reads.perSecond)} | ${f1(r.reads.p50Ms)} / ${f1(r.reads.p90Ms)} ms | ${r.uploads.errors + r.reads.errors} (mismatched ${r.reads.mismatches}) | ${r.loadavg.start.map(f1).join(' ')} → ${r.loadavg.end.map(f1).join(' ')} |`,
  )
}
// Where the CPU goes: ms per operation by process (`postgres`: the server's postmaster and backends together).
const cpuLine = (x: Record<string, number>) =>
  Object.entries(x)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')
for (const r of results) {
  console.log(`CPU ms per upload (${r.engine}): ${cpuLine(r.uploads.cpuMsPerOp)}`)
  console.log(`  of which kernel (stime): ${cpuLine(r.uploads.sysMsPerOp)}`)
  console.log(`CPU ms per 1 MiB read (${r.engine}): ${cpuLine(r.reads.cpuMsPerOp)}`)
  console.log(`  of which kernel (stime): ${cpuLine(r.reads.sysMsPerOp)}`)
}
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true })
const out = join(import.meta.dirname, 'results', `${new Date().toISOString().slice(0, 10)}-meta-index.json`)
writeFileSync(
  out,
  JSON.stringify(
    {
      seconds: SECONDS,
      warmupSeconds: WARMUP,
      clients: CLIENTS,
      concurrency: CONCURRENCY,
      cpus: cpus().length,
      results,
    },
    null,
    2,
  ),
)
console.error(`wrote ${out}`)
