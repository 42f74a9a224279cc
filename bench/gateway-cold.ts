/**
 * The gateway's cold whole-file read on its own, for profiling (`npm run bench:users` measures it among the rest):
 * a fresh devnet (6 resource nodes, k=4, m=2, as bench:users), then per run one new seeded file put with the CLI,
 * `curl /ipfs/CID` cold, then again (hot), then two curls of a third cold file started DELAY ms apart (a second viewer
 * arriving during the first read), and the floors of the same run: node:http from memory (bench/floor-server.mjs)
 * and the two-hop floor (floor-server.mjs --relay: a node:http server that streams the bytes from k upstream
 * node:http servers in parallel segments, as the gateway streams from the resource nodes).
 *
 *   node --import tsx bench/gateway-cold.ts [--mib 200] [--runs 3] [--delay MS] [--profile DIR] [--perf FILE] [--profile-read cold|hot]
 *     [--ab DIR [--pause MS]]
 *
 * With --ab DIR (a built checkout of other code, e.g. main before a change) a second gateway runs DIR's build on the
 * same devnet, and each run reads two new files cold and then hot, one through each gateway, the order alternated
 * per run (before/after in the same run, interleaved); the second viewer and RPC cat parts are skipped.
 *
 * Prints wall time and the CPU each devnet role spent during each read. With --profile every devnet process runs
 * with --cpu-prof into DIR, and the reads' windows (CLOCK_MONOTONIC µs, the clock of V8's profiles) are printed, so
 * bench/profile-window.mjs can summarise the samples of one read.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createHash } from 'node:crypto'
import { createReadStream, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { processCpuMs } from './cpu.ts'
import { writeSeededFile } from './data.ts'
import { startDevnet } from './devnet.ts'

const MiB = 1024 * 1024
const STRATOS_BIN = join(import.meta.dirname, '..', 'bin', 'stratos.js')

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
    profile: { type: 'string' },
    delay: { type: 'string', default: '100' },
    /** Which read of the last run is profiled. */
    'profile-read': { type: 'string', default: 'cold' },
    /** `perf record` (on-CPU samples, kernel included) of the gateway and resource nodes during that read, into FILE. */
    perf: { type: 'string' },
    /** A built checkout whose gateway reads beside this one's (A/B in the same run). */
    ab: { type: 'string' },
    /** With --ab: milliseconds to wait before each run's reads (a gateway left idle between reads). */
    pause: { type: 'string', default: '0' },
  },
})
const B = Number(values.mib) * MiB
const runs = Number(values.runs)

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now()
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) =>
      code === 0
        ? resolve({ ms: performance.now() - t0, stdout })
        : reject(new Error(`${cmd} exited ${code}: ${stderr}`)),
    )
  })
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

function monoUs(): bigint {
  return process.hrtime.bigint() / 1000n
}

async function curl(url: string): Promise<{ ms: number; bytes: number; firstMs: number }> {
  const r = await exec('curl', [
    '-sS',
    '--fail',
    '-o',
    '/dev/null',
    '-w',
    '%{time_starttransfer} %{size_download}',
    url,
  ])
  const [first, size] = r.stdout.trim().split(' ').map(Number)
  return { ms: r.ms, bytes: size, firstMs: first * 1000 }
}

function startServer(args: string[]): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'floor-server.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'], // stdin: the server exits when this process is gone
  })
  return new Promise((resolve, reject) => {
    child.stdout
      .setEncoding('utf8')
      .once('data', (d: string) => resolve({ port: Number(d.trim()), stop: () => child.kill('SIGTERM') }))
    child.once('exit', () => reject(new Error('floor server exited')))
  })
}

const tmp = await mkdtemp(join(tmpdir(), 'stratos-gw-cold-'))
if (values.profile) {
  process.env.NODE_OPTIONS = `--import=${join(import.meta.dirname, 'profile-preload.mjs')}`
  process.env.PROFILE_DIR = values.profile
  await mkdir(values.profile, { recursive: true })
}
const devnet = await startDevnet({ dir: join(tmp, 'devnet'), resources: 6, k: 4, m: 2, log: () => {} })
delete process.env.NODE_OPTIONS
delete process.env.PROFILE_DIR
const servers: { stop: () => void }[] = []
let abChild: ChildProcess | undefined
try {
  const net = devnet.network
  const gw = net.gatewayUrl as string
  const api = net.ipfsApiUrl as string
  const procs = net.processes
  const cpu = (): Map<string, number> => new Map(procs.map((p) => [p.name, processCpuMs(p.pid) ?? 0]))
  /** Minor page faults of the gateway process (field 10 of /proc/PID/stat). */
  const gwPid = procs.find((p) => p.role === 'gateway')?.pid
  const minorFaults = (pid: number): number =>
    Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[7])
  const faults = (): number => (gwPid ? minorFaults(gwPid) : 0)
  const byRole = (a: Map<string, number>, b: Map<string, number>): string => {
    const roles = new Map<string, number>()
    for (const p of procs) roles.set(p.role, (roles.get(p.role) ?? 0) + (b.get(p.name) ?? 0) - (a.get(p.name) ?? 0))
    return [...roles].map(([r, ms]) => `${r} ${ms.toFixed(0)}`).join(', ')
  }
  /** SIGUSR2 to every devnet process: starts or stops (and writes) its profile (bench/profile-preload.mjs). */
  const toggleProfiles = async (): Promise<void> => {
    for (const p of procs) process.kill(p.pid, 'SIGUSR2')
    // Starting the profiler costs ~0.3 s of CPU in each process (V8 logs every compiled function): not in the window.
    await new Promise((r) => setTimeout(r, 1500))
  }
  const put = async (seed: number): Promise<string> => {
    const f = join(tmp, `f-${seed}.bin`)
    await writeSeededFile(f, B, seed)
    const p = await exec(process.execPath, [STRATOS_BIN, 'put', '--public', '--json', f], {
      STRATOS_HOME: join(tmp, 'devnet'),
      STRATOS_LOG_LEVEL: 'warn',
    })
    sums.set((JSON.parse(p.stdout) as { cid: string }).cid, await sha256File(f))
    await rm(f)
    return (JSON.parse(p.stdout) as { cid: string }).cid
  }
  const sums = new Map<string, string>()
  // The floors: one file in memory; k = 4 upstreams each holding it (range GETs of a quarter of each segment), relayed by a fifth process.
  const floorFile = join(tmp, 'floor.bin')
  await writeSeededFile(floorFile, B, 1)
  const floor = await startServer([floorFile])
  servers.push(floor)
  const ups = []
  for (let i = 0; i < 4; i++) ups.push(await startServer([floorFile]))
  servers.push(...ups)
  const relay = await startServer(['--relay', ups.map((u) => `http://127.0.0.1:${u.port}/`).join(','), String(B)])
  servers.push(relay)

  if (values.ab) {
    // The second gateway: this devnet's gateway command line, run from DIR's build, on ports and a data dir of its own.
    const gwProc = procs.find((p) => p.role === 'gateway')
    if (!gwProc) throw new Error('no gateway process')
    const argv = readFileSync(`/proc/${gwProc.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
    const main = argv.findIndex((a) => a.endsWith('/dist/cli/main.js'))
    if (main < 0) throw new Error(`cannot read the gateway's command line: ${argv.join(' ')}`)
    const freePort = (): Promise<number> =>
      new Promise((resolve) => {
        const srv = createServer().listen(0, '127.0.0.1', () => {
          const port = (srv.address() as { port: number }).port
          srv.close(() => resolve(port))
        })
      })
    const port = await freePort()
    const set = (args: string[], flag: string, value: string): void => {
      const at = args.indexOf(flag)
      if (at < 0) throw new Error(`no ${flag} in the gateway's command line`)
      args[at + 1] = value
    }
    const args = argv.slice(main)
    args[0] = join(values.ab, 'dist', 'cli', 'main.js')
    set(args, '--port', String(port))
    set(args, '--api-port', String(await freePort()))
    set(args, '--data-dir', join(tmp, 'gateway-ab'))
    abChild = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    const abUrl = `http://127.0.0.1:${port}`
    for (let t = 0; ; t++) {
      if ((await fetch(`${abUrl}/metrics`).catch(() => undefined))?.ok) break
      if (t > 200) throw new Error('the --ab gateway did not start')
      await new Promise((r) => setTimeout(r, 100))
    }
    const abPid = abChild.pid as number
    const sides = [
      { name: 'this', url: gw, pid: gwProc.pid },
      { name: 'ab', url: abUrl, pid: abPid },
    ]
    const nodeCpu = (): number =>
      procs.filter((p) => p.role === 'resource').reduce((a, p) => a + (processCpuMs(p.pid) ?? 0), 0)
    const read = async (side: (typeof sides)[number], cid: string, label: string, run: number): Promise<void> => {
      // The nodes' CPU while nothing is read (heartbeats, settlement, the collection of the puts' garbage), per second.
      const i0 = nodeCpu()
      const t0 = performance.now()
      await new Promise((r) => setTimeout(r, 1000))
      const idle = ((nodeCpu() - i0) * 1000) / (performance.now() - t0)
      const g0 = processCpuMs(side.pid) ?? 0
      const n0 = nodeCpu()
      const f0 = minorFaults(side.pid)
      const r = await curl(`${side.url}/ipfs/${cid}`)
      if (r.bytes !== B) throw new Error(`${side.name} gateway sent ${r.bytes} of ${B}`)
      console.log(
        `run ${run} ${side.name} ${label}: ${r.ms.toFixed(0)} ms; gateway cpu ${((processCpuMs(side.pid) ?? 0) - g0).toFixed(0)} ms, resource nodes ${(nodeCpu() - n0).toFixed(0)} ms (idle just before: ${idle.toFixed(0)} ms/s); gateway minor faults ${minorFaults(side.pid) - f0}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
      )
    }
    for (let i = 0; i < runs; i++) {
      const cids = [await put(100 + i), await put(200 + i)]
      await new Promise((r) => setTimeout(r, Math.max(1500, Number(values.pause))))
      const order = i % 2 === 0 ? [0, 1] : [1, 0]
      for (const label of ['cold', 'hot'])
        for (const s of order) await read(sides[s], cids[s === 0 ? i % 2 : 1 - (i % 2)], label, i)
      const f = await curl(`http://127.0.0.1:${floor.port}/`)
      const two = await curl(`http://127.0.0.1:${relay.port}/`)
      console.log(`run ${i} floor ${f.ms.toFixed(0)} ms, two-hop floor ${two.ms.toFixed(0)} ms`)
    }
  }
  for (let i = 0; i < (values.ab ? 0 : runs); i++) {
    const heap = (await fetch(`${gw}/metrics`).then((r) => r.text())).match(/^nodejs_heap_size_used_bytes \S+$/m)
    if (heap) console.log(`run ${i} gateway ${heap[0]}`)
    const cid = await put(100 + i)
    const cid2 = await put(200 + i)
    await new Promise((r) => setTimeout(r, 1500))
    for (const label of ['cold', 'hot']) {
      const profiled = values.profile && i === runs - 1 && label === values['profile-read']
      if (profiled) await toggleProfiles()
      const perf =
        values.perf && i === runs - 1 && label === values['profile-read']
          ? spawn(
              'perf',
              [
                'record',
                '-F',
                '2000',
                '-g',
                '-o',
                values.perf,
                '-p',
                procs
                  .filter((p) => p.role === 'gateway' || p.role === 'resource')
                  .map((p) => p.pid)
                  .join(','),
              ],
              { stdio: 'ignore' },
            )
          : undefined
      if (perf) await new Promise((r) => setTimeout(r, 1000))
      const c0 = cpu()
      const f0 = faults()
      const t0 = monoUs()
      const r = await curl(`${gw}/ipfs/${cid}`)
      const t1 = monoUs()
      if (profiled) await toggleProfiles()
      if (perf) {
        const exited = new Promise((r) => perf.once('exit', r))
        perf.kill('SIGINT')
        await exited
      }
      if (r.bytes !== B) throw new Error(`gateway sent ${r.bytes} of ${B}`)
      console.log(
        `run ${i} ${label}: ${r.ms.toFixed(0)} ms (first byte ${r.firstMs.toFixed(1)} ms); cpu ${byRole(c0, cpu())}; gateway minor faults ${faults() - f0}; window ${t0}-${t1}`,
      )
    }
    const f = await curl(`http://127.0.0.1:${floor.port}/`)
    const two = await curl(`http://127.0.0.1:${relay.port}/`)
    console.log(`run ${i} floor ${f.ms.toFixed(0)} ms, two-hop floor ${two.ms.toFixed(0)} ms`)
    // A second viewer DELAY ms into the first one's cold read: one network transfer should serve both.
    const fetched = async (): Promise<number> => {
      const text = await fetch(`${gw}/metrics`).then((r) => (r.ok ? r.text() : ''))
      const m = /^stratos_gateway_fetched_bytes_total\S* (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)
      return m ? Number(m[1]) : Number.NaN
    }
    const fetched0 = await fetched()
    const c0 = cpu()
    const a = curl(`${gw}/ipfs/${cid2}`)
    await new Promise((r) => setTimeout(r, Number(values.delay)))
    const b = curl(`${gw}/ipfs/${cid2}`)
    const [ra, rb] = await Promise.all([a, b])
    console.log(
      `run ${i} two viewers: ${ra.ms.toFixed(0)} / ${rb.ms.toFixed(0)} ms; cpu ${byRole(c0, cpu())}; ` +
        `gateway fetched ${((await fetched()) - fetched0) / MiB} MiB from the network for the two`,
    )
    // The IPFS RPC API's cat of a fourth file (cold), checked byte-exact against the file put.
    const cid3 = await put(300 + i)
    const out = join(tmp, 'cat.bin')
    const c1 = cpu()
    const cat = await exec('curl', [
      '-sS',
      '--fail',
      '-X',
      'POST',
      '-o',
      out,
      '-w',
      '%{size_download}',
      `${api}/api/v0/cat?arg=${cid3}`,
    ])
    const exact = (await sha256File(out)) === sums.get(cid3)
    await rm(out)
    if (!exact) throw new Error(`RPC cat of ${cid3} is not the file put`)
    console.log(`run ${i} rpc cat: ${cat.ms.toFixed(0)} ms, byte-exact; cpu ${byRole(c1, cpu())}`)
  }
} finally {
  abChild?.kill('SIGTERM')
  for (const s of servers) s.stop()
  await devnet.stop()
  if (process.env.KEEP_TMP) console.log(`kept ${tmp}`)
  else await rm(tmp, { recursive: true, force: true })
}
