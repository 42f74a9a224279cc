/**
 * Where a whole-process `stratos put` spends its CPU: one fresh devnet (6 resource nodes, k = 4, m = 2, as
 * bench:users), per run a new seeded file put by each CLI given (interleaved, order alternating per run), with the
 * wall time, the CLI's CPU (/usr/bin/time) and every devnet role's CPU during the put (/proc).
 *
 *   node --import tsx bench/put-profile.ts [--mib 200] [--runs 3] [--cli BIN,BIN] [--profile DIR] [--perf DIR]
 *
 * --cli: the `bin/stratos.js` of each checkout to compare (default this one's); every CLI talks to this checkout's
 * devnet. --profile DIR: the last run's puts are profiled: the CLI with `--cpu-prof` (DIR/cli-<n>-*.cpuprofile) and
 * every devnet process through bench/profile-preload.mjs (DIR/<pid>-<n>.cpuprofile with its GC counts), the window
 * of each put alone. `node bench/profile-summary.mjs FILE` summarises one. --perf DIR: the last run's puts are
 * recorded by `perf record` instead (on-CPU samples only, so a loaded machine does not blur them as it does V8's
 * sampling profiler): DIR/cli-<n>.data for the CLI, DIR/nodes-<n>.data for every devnet process, JavaScript frames
 * named through --perf-basic-prof (`perf report -i FILE --no-children --sort sym`).
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { processCpuMs } from './cpu.ts'
import { writeSeededFile } from './data.ts'
import { startDevnet } from './devnet.ts'

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    cli: { type: 'string' },
    profile: { type: 'string' },
    perf: { type: 'string' },
  },
})
const B = Number(values.mib) * 1024 * 1024
const runs = Number(values.runs)
const clis = (values.cli ?? join(import.meta.dirname, '..', 'bin', 'stratos.js')).split(',')

const tmp = await mkdtemp(join(tmpdir(), 'stratos-put-profile-'))
if (values.profile) {
  await mkdir(values.profile, { recursive: true })
  process.env.NODE_OPTIONS = `--import=${join(import.meta.dirname, 'profile-preload.mjs')}`
  process.env.PROFILE_DIR = values.profile
}
if (values.perf) {
  await mkdir(values.perf, { recursive: true })
  process.env.NODE_OPTIONS = '--perf-basic-prof'
}
const devnet = await startDevnet({ dir: join(tmp, 'devnet'), resources: 6, k: 4, m: 2, log: () => {} })
delete process.env.NODE_OPTIONS
delete process.env.PROFILE_DIR
const procs = devnet.network.processes
const cpu = (): Map<string, number> => new Map(procs.map((p) => [p.name, processCpuMs(p.pid) ?? 0]))
const byRole = (a: Map<string, number>, b: Map<string, number>): Record<string, number> => {
  const roles: Record<string, number> = {}
  for (const p of procs) roles[p.role] = (roles[p.role] ?? 0) + (b.get(p.name) ?? 0) - (a.get(p.name) ?? 0)
  return roles
}
const toggleProfiles = async (): Promise<void> => {
  for (const p of procs) process.kill(p.pid, 'SIGUSR2')
  // Starting the profiler costs CPU in each process: not in the window.
  await new Promise((r) => setTimeout(r, 1500))
}

async function put(
  cli: string,
  file: string,
  profileAs?: string,
  perfAs?: string,
): Promise<{ ms: number; cpuMs: number; cid: string }> {
  const timeFile = join(tmp, 'time')
  const nodeArgs = profileAs
    ? ['--cpu-prof', '--cpu-prof-dir', values.profile as string, '--cpu-prof-name', profileAs]
    : []
  const cmd = [process.execPath, ...nodeArgs, cli, 'put', '--public', '--json', file]
  if (perfAs)
    cmd.splice(0, 1, 'perf', 'record', '-q', '-F', '1999', '-g', '-o', perfAs, process.execPath, '--perf-basic-prof')
  const t0 = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...cmd], {
    env: { ...process.env, STRATOS_HOME: join(tmp, 'devnet'), STRATOS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  const ms = performance.now() - t0
  if (code !== 0) throw new Error(`put exited ${code}`)
  const [u, s] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()?.split(' ').map(Number) ?? [0, 0]
  return { ms, cpuMs: (u + s) * 1000, cid: (JSON.parse(out) as { cid: string }).cid }
}

try {
  console.log(`load ${loadavg()[0].toFixed(1)}; ${runs} runs of ${values.mib} MiB; CLIs: ${clis.join(', ')}`)
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? clis.map((_, j) => j) : clis.map((_, j) => clis.length - 1 - j)
    for (const j of order) {
      const file = join(tmp, `f-${i}-${j}.bin`)
      await writeSeededFile(file, B, 5000 + i * 10 + j)
      const profiled = values.profile !== undefined && i === runs - 1
      if (profiled) await toggleProfiles()
      const perfed = values.perf !== undefined && i === runs - 1
      const nodesPerf = perfed
        ? spawn(
            'perf',
            ['record', '-q', '-F', '1999', '-g', '-o', join(values.perf as string, `nodes-${j}.data`), '-p'].concat(
              procs.map((p) => String(p.pid)).join(','),
            ),
            { stdio: 'ignore' },
          )
        : undefined
      if (nodesPerf) await new Promise((r) => setTimeout(r, 1000))
      const c0 = cpu()
      const r = await put(
        clis[j],
        file,
        profiled ? `cli-${j}.cpuprofile` : undefined,
        perfed ? join(values.perf as string, `cli-${j}.data`) : undefined,
      )
      const roles = byRole(c0, cpu())
      if (profiled) await toggleProfiles()
      if (nodesPerf) {
        const exited = new Promise((r) => nodesPerf.once('exit', r))
        nodesPerf.kill('SIGINT')
        await exited
      }
      await rm(file)
      console.log(
        `run ${i} cli ${j}: ${r.ms.toFixed(0)} ms, client cpu ${r.cpuMs.toFixed(0)} ms, devnet cpu ${Object.entries(
          roles,
        )
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(', ')} (load ${loadavg()[0].toFixed(1)})`,
      )
    }
  }
} finally {
  await devnet.stop()
  await rm(tmp, { recursive: true, force: true })
}
