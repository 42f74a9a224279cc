/**
 * What users get: whole processes and plain HTTP clients against a devnet, next to Helia and Kubo on the same files,
 * in one run (`npm run bench` runs it after the SDK benchmark; `npm run bench:users` runs only this part).
 *
 * Per run i (a fresh seeded file each run, so nothing is deduplicated; the sides interleaved within the run):
 *   stratos put / get      `node bin/stratos.js put --public FILE`, `get CID -o OUT`: the whole CLI process
 *   put floor              bench/put-floor.mjs: a whole process that reads the same file and sends (k+m)/k of it as
 *                          k+m streams to k+m node:http sinks writing files (no hashing, coding, tickets or meta node)
 *   gateway first / second `curl /ipfs/CID` of the file the CLI just uploaded (the gateway never read it), then again
 *   floor                  `curl` of the same number of bytes from bench/floor-server.mjs (node:http, from memory)
 *   rpc add / cat          `curl -F file=@FILE /api/v0/add`, `curl /api/v0/cat?arg=CID` (a second file)
 *   range first byte       `curl` of 1 MiB ranges of that second file at new offsets (cold for the gateway's cache)
 *   helia add / cat        bench/helia-process.mjs: Node + Helia, Kubo classic settings, whole process
 *   kubo add / cat         `ipfs add -Q FILE`, `ipfs cat CID` on an offline repo (no daemon), whole process
 *   kubo gateway           `curl` of Kubo's own gateway (`ipfs daemon --offline`) serving the file from its repo
 * Then small uploads (64 KiB: through the SDK in this process, and as whole CLI processes), `stratos --version` and
 * `stratos status`. Times are wall clock around the whole child process; cpu is the child's user + system time
 * (/usr/bin/time), and for the devnet rows also every devnet process's CPU meanwhile.
 *
 * Kubo is the binary `npm run setup:kubo` builds into .tools/bin; without it the Kubo rows are left out (said so).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { mkdtemp } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { NetworkFile } from '../src/devnet/network.ts'
import { StratosClient } from '../src/sds/client/index.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'
import { processCpuMs } from './cpu.ts'
import { seededInts, writeSeededFile } from './data.ts'
import { startDevnet, type RunningDevnet } from './devnet.ts'
import { machineInfo, type MachineInfo } from './report.ts'
import { mbPerSecond, round3, summarize, type Summary } from './stats.ts'

const MiB = 1 << 20
const REPO = join(import.meta.dirname, '..')
const STRATOS_BIN = join(REPO, 'bin', 'stratos.js')
export const KUBO_BIN = join(REPO, '.tools', 'bin', 'ipfs')
const RANGE_BYTES = MiB
const SMALL_BYTES = 64 * 1024

export interface UsersConfig {
  fileBytes: number
  runs: number
  /** Cold 1 MiB gateway ranges per run. */
  ranges: number
  /** 64 KiB uploads through the SDK (p50 over these). */
  smallSdk: number
  /** 64 KiB uploads as whole CLI processes, and `--version` / `status` runs. */
  smallCli: number
}

/** Row groups `--only` selects (comma-separated); get and gateway upload their file with `stratos put` first. */
export const USERS_GROUPS = ['put', 'get', 'gateway', 'floor', 'rpc', 'helia', 'kubo', 'small'] as const
export type UsersGroup = (typeof USERS_GROUPS)[number]

export const USERS_FULL: UsersConfig = { fileBytes: 200 * MiB, runs: 5, ranges: 6, smallSdk: 40, smallCli: 5 }
export const USERS_QUICK: UsersConfig = { fileBytes: 32 * MiB, runs: 2, ranges: 3, smallSdk: 10, smallCli: 2 }

/** One measured operation: wall ms, CPU ms of the client process, and (devnet rows) of the devnet's processes. */
export interface Sample {
  ms: number
  clientCpuMs?: number
  serverCpuMs?: number
}

export interface Row {
  id: string
  label: string
  /** Who does it: stratos, helia, kubo, or the loopback floor. */
  side: 'stratos' | 'helia' | 'kubo' | 'floor'
  bytes?: number
  ms: Summary
  clientCpuMs?: Summary
  serverCpuMs?: Summary
  medianMBps?: number
}

export interface UsersResults {
  schema: 'stratos-bench-users/1'
  startedAt: string
  finishedAt: string
  machine: MachineInfo
  config: UsersConfig & { kubo: string | null; notes: string[] }
  rows: Row[]
  cids: { stratos: string[]; helia: string[]; kubo: string[]; sameCids: boolean }
  targets: { id: string; description: string; target: string; actual: string; pass: boolean | null }[]
}

interface Proc {
  ms: number
  cpuMs: number | undefined
  stdout: string
}

/**
 * Runs a command to completion; wall time from spawn to exit. CPU (user + system) from /usr/bin/time when present.
 * stdout is captured (for CIDs) unless `discard`: then it goes to /dev/null, as `> /dev/null` would.
 */
async function run(
  cmd: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; discard?: boolean; tmp: string },
): Promise<Proc> {
  const timeFile = join(o.tmp, `time-${process.pid}-${Math.random().toString(36).slice(2)}`)
  const timed = existsSync('/usr/bin/time')
  const [file, argv] = timed ? ['/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args]] : [cmd, args]
  const t0 = performance.now()
  const child = spawn(file, argv, {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', o.discard ? 'ignore' : 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c) => resolve(c))
  })
  const ms = performance.now() - t0
  if (code !== 0)
    throw new Error(`${basename(cmd)} ${args.join(' ').slice(0, 200)} exited ${code}: ${stderr.slice(-600)}`)
  let cpuMs: number | undefined
  if (timed) {
    const t = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? ''
    const [u, s] = t.split(' ').map(Number)
    if (Number.isFinite(u) && Number.isFinite(s)) cpuMs = (u + s) * 1000
    await rm(timeFile, { force: true })
  }
  return { ms, cpuMs, stdout }
}

/** curl of one URL: wall time of the whole transfer, time to first byte, bytes received. */
async function curl(
  url: string,
  tmp: string,
  extra: string[] = [],
): Promise<{ ms: number; cpuMs?: number; firstByteMs: number; bytes: number; body: string }> {
  const p = await run(
    'curl',
    ['-sS', '--fail', '-o', '/dev/null', '-w', '%{time_starttransfer} %{size_download}', ...extra, url],
    { tmp },
  )
  const [first, size] = p.stdout.trim().split(' ').map(Number)
  return { ms: p.ms, cpuMs: p.cpuMs, firstByteMs: first * 1000, bytes: size, body: p.stdout }
}

function cpuOf(pids: readonly number[]): number {
  let ms = 0
  for (const pid of pids) ms += processCpuMs(pid) ?? 0
  return ms
}

/** Runs `fn` and adds the devnet's CPU meanwhile to its sample. */
async function withServerCpu(pids: readonly number[], fn: () => Promise<Sample>): Promise<Sample> {
  const before = cpuOf(pids)
  const s = await fn()
  return { ...s, serverCpuMs: cpuOf(pids) - before }
}

class Collector {
  readonly #rows = new Map<string, { label: string; side: Row['side']; bytes?: number; samples: Sample[] }>()
  add(id: string, label: string, side: Row['side'], s: Sample, bytes?: number): void {
    let r = this.#rows.get(id)
    if (!r) {
      r = { label, side, bytes, samples: [] }
      this.#rows.set(id, r)
    }
    r.samples.push(s)
  }
  rows(): Row[] {
    return [...this.#rows].map(([id, r]) => {
      const ms = summarize(r.samples.map((s) => s.ms))
      const cpu = (k: 'clientCpuMs' | 'serverCpuMs'): Summary | undefined => {
        const xs = r.samples.map((s) => s[k]).filter((x): x is number => x !== undefined)
        return xs.length === r.samples.length ? summarize(xs) : undefined
      }
      return {
        id,
        label: r.label,
        side: r.side,
        ...(r.bytes !== undefined ? { bytes: r.bytes, medianMBps: mbPerSecond(r.bytes, ms.median) } : {}),
        ms,
        ...(cpu('clientCpuMs') ? { clientCpuMs: cpu('clientCpuMs') } : {}),
        ...(cpu('serverCpuMs') ? { serverCpuMs: cpu('serverCpuMs') } : {}),
      }
    })
  }
}

/** A Kubo repo (offline) and, for the gateway rows, its daemon. */
class Kubo {
  readonly env: NodeJS.ProcessEnv
  constructor(
    readonly repo: string,
    readonly tmp: string,
  ) {
    this.env = { IPFS_PATH: repo }
  }

  async init(gatewayPort: number, apiPort: number): Promise<void> {
    await run(KUBO_BIN, ['init', '--empty-repo'], { env: this.env, tmp: this.tmp })
    const set = (k: string, v: string) => run(KUBO_BIN, ['config', '--json', k, v], { env: this.env, tmp: this.tmp })
    await set('Addresses.Gateway', JSON.stringify(`/ip4/127.0.0.1/tcp/${gatewayPort}`))
    await set('Addresses.API', JSON.stringify(`/ip4/127.0.0.1/tcp/${apiPort}`))
    await set('Addresses.Swarm', '[]')
    await set('Bootstrap', '[]')
  }

  ipfs(args: string[], discard = false): Promise<Proc> {
    return run(KUBO_BIN, args, { env: this.env, tmp: this.tmp, discard })
  }

  /** `ipfs daemon --offline` until its "Daemon is ready" line; returns a stop function. */
  async daemon(): Promise<() => Promise<void>> {
    const child = spawn(KUBO_BIN, ['daemon', '--offline'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`kubo daemon not ready in 60 s: ${out.slice(-400)}`)), 60_000)
      const onData = (d: Buffer): void => {
        out += d.toString('utf8')
        if (out.includes('Daemon is ready')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      void exited.then(() => reject(new Error(`kubo daemon exited: ${out.slice(-400)}`)))
    })
    return async () => {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    }
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

export async function measureUsers(o: {
  network: NetworkFile
  devnetDir: string
  devnetPids: number[]
  tmp: string
  c: UsersConfig
  log: (line: string) => void
  /** Only these row groups (all when absent). */
  only?: ReadonlySet<UsersGroup>
}): Promise<UsersResults> {
  const { network, c, log, devnetPids } = o
  const want = (g: UsersGroup): boolean => !o.only || o.only.has(g)
  const startedAt = new Date()
  const loadStart = loadavg().map((x) => round3(x))
  const tmp = await mkdtemp(join(o.tmp, 'users-'))
  const gateway = network.gatewayUrl
  const api = network.ipfsApiUrl
  if (!gateway || !api) throw new Error('the devnet has no gateway / IPFS API')
  const stratosEnv = { STRATOS_HOME: o.devnetDir, STRATOS_LOG_LEVEL: 'warn' }
  const stratos = (args: string[], discard = false): Promise<Proc> =>
    run(process.execPath, [STRATOS_BIN, ...args], { env: stratosEnv, tmp, discard })
  const kuboHere = want('kubo') && existsSync(KUBO_BIN)
  if (want('kubo') && !kuboHere)
    log(`no Kubo at ${KUBO_BIN} (npm run setup:kubo builds it): the Kubo rows are left out`)
  const kubo = kuboHere ? new Kubo(join(tmp, 'kubo'), tmp) : undefined
  const kuboGatewayPort = await freePort()
  if (kubo) await kubo.init(kuboGatewayPort, await freePort())
  const col = new Collector()
  const cids = { stratos: [] as string[], helia: [] as string[], kubo: [] as string[] }
  const B = c.fileBytes
  const files: string[] = []

  // The floor: node:http from memory, in its own process, serving the first file.
  const first = join(tmp, 'file-0.bin')
  await writeSeededFile(first, B, 9000)
  const floor = spawn(process.execPath, [join(import.meta.dirname, 'floor-server.mjs'), first], {
    stdio: ['pipe', 'pipe', 'inherit'], // stdin: the server exits when this process is gone
  })
  const floorPort = await new Promise<number>((resolve, reject) => {
    floor.stdout.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())))
    floor.once('exit', () => reject(new Error('floor server exited')))
  })
  await rm(first)

  // The put floor's sinks: one node:http process per resource node, writing what it gets to files (page cache).
  const sinkDir = join(tmp, 'sinks')
  await mkdir(sinkDir, { recursive: true })
  const sinkProcs = Array.from({ length: want('put') ? network.k + network.m : 0 }, () =>
    spawn(process.execPath, [join(import.meta.dirname, 'put-floor.mjs'), 'sink', sinkDir], {
      stdio: ['pipe', 'pipe', 'inherit'], // stdin: the sink exits when this process is gone
    }),
  )
  const sinkUrls = await Promise.all(
    sinkProcs.map(
      (child) =>
        new Promise<string>((resolve, reject) => {
          child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(`http://127.0.0.1:${d.trim()}`))
          child.once('exit', () => reject(new Error('put floor sink exited')))
        }),
    ),
  )
  const sinkPids = sinkProcs.map((c) => c.pid as number)

  try {
    for (let i = 0; i < c.runs; i++) {
      const file = join(tmp, `file-${i}.bin`)
      const second = join(tmp, `rpc-${i}.bin`)
      await writeSeededFile(file, B, 9100 + i)
      if (want('rpc')) await writeSeededFile(second, B, 9200 + i)
      files.push(file)

      const said: string[] = []
      // Stratos CLI put, then get of that file.
      if (want('put') || want('get') || want('gateway')) {
        const put = await withServerCpu(devnetPids, async () => {
          const p = await stratos(['put', '--public', '--json', file])
          cids.stratos.push((JSON.parse(p.stdout) as { cid: string }).cid)
          return { ms: p.ms, clientCpuMs: p.cpuMs }
        })
        col.add('stratos-put', '`stratos put` (whole process)', 'stratos', put, B)
        said.push(`put ${put.ms.toFixed(0)} ms`)
      }
      // The put floors on the same file: sinks writing files (page cache), then sinks discarding the bytes.
      for (const [route, id, label] of !want('put') || sinkUrls.length === 0
        ? []
        : ([
            ['file', 'put-floor', 'put floor: send (k+m)/k of the file to k+m node:http sinks writing files'],
            ['null', 'put-floor-null', 'put floor: the same, sinks discarding the bytes'],
          ] as const)) {
        const pf = await withServerCpu(sinkPids, async () => {
          const p = await run(
            process.execPath,
            [
              join(import.meta.dirname, 'put-floor.mjs'),
              'put',
              file,
              String(network.k),
              String(network.m),
              String(network.segmentSize),
              sinkUrls.join(','),
              route,
            ],
            { tmp },
          )
          return { ms: p.ms, clientCpuMs: p.cpuMs }
        })
        col.add(id, label, 'floor', pf, B)
        said.push(`${id} ${pf.ms.toFixed(0)} ms`)
      }
      const cid = cids.stratos[i]
      if (want('get')) {
        const out = join(tmp, 'got.bin')
        const get = await withServerCpu(devnetPids, async () => {
          const p = await stratos(['get', cid, '-o', out], true)
          return { ms: p.ms, clientCpuMs: p.cpuMs }
        })
        await rm(out, { force: true })
        col.add('stratos-get', '`stratos get -o FILE` (whole process)', 'stratos', get, B)
        said.push(`get ${get.ms.toFixed(0)} ms`)
      }

      // The gateway: first read (never read through it before), second read, and the floor of the same run.
      for (const [id, label] of !want('gateway')
        ? []
        : ([
            ['gateway-first', 'gateway `curl /ipfs/CID`, first read'],
            ['gateway-second', 'gateway, second read (hot cache)'],
          ] as const)) {
        const s = await withServerCpu(devnetPids, async () => {
          const r = await curl(`${gateway}/ipfs/${cid}`, tmp)
          if (r.bytes !== B) throw new Error(`gateway sent ${r.bytes} of ${B} bytes`)
          return { ms: r.ms, clientCpuMs: r.cpuMs }
        })
        col.add(id, label, 'stratos', s, B)
        said.push(`${id} ${s.ms.toFixed(0)} ms`)
      }
      if (want('floor')) {
        const fl = await curl(`http://127.0.0.1:${floorPort}/`, tmp)
        col.add('floor', 'loopback floor: node:http from memory', 'floor', { ms: fl.ms, clientCpuMs: fl.cpuMs }, B)
        said.push(`floor ${fl.ms.toFixed(0)} ms`)
      }

      // The IPFS RPC API: add a second file, cold 1 MiB ranges of it at the gateway, then cat it.
      if (want('rpc')) {
        let rpcCid = ''
        const add = await withServerCpu(devnetPids, async () => {
          const p = await run(
            'curl',
            ['-sS', '--fail', '-X', 'POST', '-F', `file=@${second}`, `${api}/api/v0/add?quieter=true`],
            { tmp },
          )
          rpcCid = (JSON.parse(p.stdout.trim().split('\n').pop() ?? '{}') as { Hash: string }).Hash
          return { ms: p.ms, clientCpuMs: p.cpuMs }
        })
        col.add('rpc-add', 'RPC `curl -F file=@FILE /api/v0/add`', 'stratos', add, B)
        const pick = seededInts(77 + i)
        // The first request of a file the gateway never served resolves and sniffs it: not counted.
        await curl(`${gateway}/ipfs/${rpcCid}`, tmp, ['-r', '0-0'])
        for (let r = 0; r < c.ranges; r++) {
          const start = Math.floor(B / 4) + pick(Math.floor(B / 2 / RANGE_BYTES)) * RANGE_BYTES + 12_345
          const x = await curl(`${gateway}/ipfs/${rpcCid}`, tmp, ['-r', `${start}-${start + RANGE_BYTES - 1}`])
          if (x.bytes !== RANGE_BYTES) throw new Error(`range: ${x.bytes} bytes`)
          col.add('gateway-range-first-byte', 'gateway cold 1 MiB range, first byte', 'stratos', { ms: x.firstByteMs })
        }
        const cat = await withServerCpu(devnetPids, async () => {
          const r = await curl(`${api}/api/v0/cat?arg=${rpcCid}`, tmp, ['-X', 'POST'])
          if (r.bytes !== B) throw new Error(`rpc cat sent ${r.bytes} of ${B} bytes`)
          return { ms: r.ms, clientCpuMs: r.cpuMs }
        })
        col.add('rpc-cat', 'RPC `curl /api/v0/cat?arg=CID`', 'stratos', cat, B)
        said.push(`rpc add ${add.ms.toFixed(0)} / cat ${cat.ms.toFixed(0)} ms`)
      }
      await rm(second, { force: true })

      // Helia, whole process, fresh blockstore per run.
      if (want('helia')) {
        const store = join(tmp, 'helia', String(i))
        const hAdd = await run(process.execPath, [join(import.meta.dirname, 'helia-process.mjs'), 'add', store, file], {
          tmp,
        })
        cids.helia.push(hAdd.stdout.trim())
        col.add('helia-add', 'Helia add (whole process)', 'helia', { ms: hAdd.ms, clientCpuMs: hAdd.cpuMs }, B)
        const hCat = await run(
          process.execPath,
          [join(import.meta.dirname, 'helia-process.mjs'), 'cat', store, cids.helia[i]],
          { tmp, discard: true },
        )
        col.add('helia-cat', 'Helia cat (whole process)', 'helia', { ms: hCat.ms, clientCpuMs: hCat.cpuMs }, B)
        await rm(store, { recursive: true, force: true })
        said.push(`helia add ${hAdd.ms.toFixed(0)} / cat ${hCat.ms.toFixed(0)} ms`)
      }

      // Kubo, whole process, offline repo.
      if (kubo) {
        const kAdd = await kubo.ipfs(['add', '-Q', file])
        cids.kubo.push(kAdd.stdout.trim())
        col.add('kubo-add', '`ipfs add` (whole process)', 'kubo', { ms: kAdd.ms, clientCpuMs: kAdd.cpuMs }, B)
        const kCat = await kubo.ipfs(['cat', cids.kubo[i]], true)
        col.add('kubo-cat', '`ipfs cat` (whole process)', 'kubo', { ms: kCat.ms, clientCpuMs: kCat.cpuMs }, B)
        said.push(`kubo add ${kAdd.ms.toFixed(0)} / cat ${kCat.ms.toFixed(0)} ms`)
      }
      log(`users run ${i + 1}/${c.runs}: ${said.join(', ')}`)
    }

    // Kubo's gateway serving each file from its repo (its first and second read), daemon offline.
    if (kubo) {
      const stop = await kubo.daemon()
      try {
        for (const kcid of cids.kubo) {
          for (const id of ['kubo-gateway-first', 'kubo-gateway-second'] as const) {
            const r = await curl(`http://127.0.0.1:${kuboGatewayPort}/ipfs/${kcid}`, tmp)
            if (r.bytes !== B) throw new Error(`kubo gateway sent ${r.bytes} of ${B} bytes`)
            col.add(
              id,
              id === 'kubo-gateway-first' ? 'Kubo gateway, first read' : 'Kubo gateway, second read',
              'kubo',
              { ms: r.ms, clientCpuMs: r.cpuMs },
              B,
            )
          }
        }
      } finally {
        await stop()
      }
    }

    // Small files: 64 KiB through the SDK (this process, warm client) and as whole CLI processes.
    if (want('small')) {
      const wallet = network.wallets[0]
      const client = await StratosClient.connect({
        metaUrl: network.meta.url,
        wallet: WalletKey.fromMnemonic(wallet.mnemonic),
      })
      try {
        const small = new Uint8Array(SMALL_BYTES)
        for (let i = 0; i < c.smallSdk + 3; i++) {
          small.set(new TextEncoder().encode(`small ${Date.now()} ${i} ${Math.random()}`))
          const t0 = performance.now()
          await client.put(small)
          if (i >= 3)
            col.add('small-sdk', '64 KiB upload, SDK (warm client)', 'stratos', { ms: performance.now() - t0 })
        }
      } finally {
        await client.close()
      }
      const smallFile = join(tmp, 'small.bin')
      for (let i = 0; i < c.smallCli; i++) {
        await writeSeededFile(smallFile, SMALL_BYTES, 9300 + i)
        const p = await stratos(['put', smallFile])
        col.add('small-cli', '64 KiB `stratos put` (whole process)', 'stratos', { ms: p.ms, clientCpuMs: p.cpuMs })
        const v = await stratos(['--version'], true)
        col.add('version', '`stratos --version`', 'stratos', { ms: v.ms, clientCpuMs: v.cpuMs })
        const st = await stratos(['status'], true)
        col.add('status', '`stratos status`', 'stratos', { ms: st.ms, clientCpuMs: st.cpuMs })
      }
    }
  } finally {
    floor.kill('SIGTERM')
    for (const c of sinkProcs) c.kill('SIGTERM')
    await rm(tmp, { recursive: true, force: true })
  }

  const rows = col.rows()
  // Judged against whichever peers ran (`--only` may leave Helia or Kubo out; with neither, usersTargets does not judge it).
  const sameCids =
    cids.stratos.length > 0 &&
    cids.stratos.every(
      (x, i) => (cids.helia.length === 0 || x === cids.helia[i]) && (cids.kubo.length === 0 || x === cids.kubo[i]),
    )
  const results: Omit<UsersResults, 'targets'> = {
    schema: 'stratos-bench-users/1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machineInfo(loadStart),
    config: {
      ...c,
      kubo: kuboHere ? KUBO_BIN : null,
      notes: [
        'Whole-process rows: wall clock from spawn to exit of the child (Node start-up, module loading, key derivation and connection set-up included), the way a user or a script runs the command.',
        'HTTP rows: curl to /dev/null, wall clock of the whole curl process; first byte = curl time_starttransfer.',
        'Each run uses fresh seeded files (AES-CTR keystream), so nothing is deduplicated across runs; the gateway first read is of a file it never served, the range reads are of a second file it never served (its first request, which resolves and sniffs the file, is not counted).',
        'Helia: createHeliaLight + blockstore-fs (no fsync), Kubo classic settings (CIDv0, dag-pb leaves, 256 KiB chunks, 174 links). Kubo: `ipfs init --empty-repo` with its default datastore (flatfs, sync on), offline.',
        'clientCpuMs: user + system CPU of the client process (/usr/bin/time); serverCpuMs: CPU of every devnet process meanwhile (/proc).',
      ],
    },
    rows,
    cids: { ...cids, sameCids },
  }
  return { ...results, targets: usersTargets(results) }
}

function median(rows: Row[], id: string): number | undefined {
  return rows.find((r) => r.id === id)?.ms.median
}

export function usersTargets(r: Omit<UsersResults, 'targets'>): UsersResults['targets'] {
  const judged = r.config.fileBytes === 200 * MiB
  const m = (id: string) => median(r.rows, id)
  const fmt = (x: number | undefined) =>
    x === undefined ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b
  const out: UsersResults['targets'] = []
  const check = (
    id: string,
    description: string,
    target: string,
    actual: string,
    pass: boolean | undefined,
    always = false,
  ) =>
    out.push({
      id,
      description,
      target,
      actual,
      // A row `--only` left out is not judged.
      pass: (judged || always) && actual !== '—' ? (pass ?? null) : null,
    })
  check('version', '`stratos --version`', '≤ 0.15 s', fmt(m('version')), (m('version') ?? Infinity) <= 150, true)
  check('status', '`stratos status`', '≤ 0.4 s', fmt(m('status')), (m('status') ?? Infinity) <= 400, true)
  check(
    'put',
    'whole-process `stratos put` of 200 MiB',
    '≤ 1.2 s',
    fmt(m('stratos-put')),
    (m('stratos-put') ?? Infinity) <= 1200,
  )
  const pk = ratio(m('stratos-put'), m('kubo-add'))
  check(
    'put-vs-kubo',
    '`stratos put` ÷ `ipfs add`',
    '≤ 1.0',
    pk?.toFixed(2) ?? '— (no Kubo)',
    pk === undefined ? undefined : pk <= 1,
  )
  const ph = ratio(m('stratos-put'), m('helia-add'))
  check(
    'put-vs-helia',
    '`stratos put` ÷ Helia add (whole process)',
    '≤ 0.5',
    ph?.toFixed(2) ?? '—',
    ph === undefined ? undefined : ph <= 0.5,
  )
  check(
    'get',
    'whole-process `stratos get` of 200 MiB',
    '≤ 0.6 s',
    fmt(m('stratos-get')),
    (m('stratos-get') ?? Infinity) <= 600,
  )
  const gf = ratio(m('floor'), m('gateway-first'))
  check(
    'gateway-vs-floor',
    'gateway first read speed ÷ loopback floor speed',
    '≥ 0.5',
    gf?.toFixed(2) ?? '—',
    gf === undefined ? undefined : gf >= 0.5,
  )
  const gk = ratio(m('gateway-first'), m('kubo-gateway-first'))
  check(
    'gateway-vs-kubo',
    'gateway first read time ÷ Kubo gateway time',
    '≤ 1.0',
    gk?.toFixed(2) ?? '— (no Kubo)',
    gk === undefined ? undefined : gk <= 1,
  )
  const fb = m('gateway-range-first-byte')
  check(
    'range-first-byte',
    'gateway cold 1 MiB range, first byte (median)',
    '< 10 ms',
    fmt(fb),
    fb === undefined ? undefined : fb < 10,
  )
  const ss = r.rows.find((x) => x.id === 'small-sdk')?.ms
  check(
    'small-sdk',
    '64 KiB upload through the SDK, p50',
    '≤ 20 ms',
    fmt(ss?.median),
    ss === undefined ? undefined : ss.median <= 20,
    true,
  )
  check(
    'small-cli',
    '64 KiB `stratos put`, whole process',
    '≤ 0.25 s',
    fmt(m('small-cli')),
    (m('small-cli') ?? Infinity) <= 250,
    true,
  )
  out.push({
    id: 'same-cids',
    description: 'Stratos, Helia and Kubo give the same CID for every file',
    target: 'equal',
    ...(r.cids.helia.length === 0 && r.cids.kubo.length === 0
      ? { actual: '—', pass: null }
      : {
          actual: r.cids.sameCids
            ? 'equal'
            : `stratos ${r.cids.stratos[0]}, helia ${r.cids.helia[0] ?? '—'}, kubo ${r.cids.kubo[0] ?? '—'}`,
          pass: r.cids.sameCids,
        }),
  })
  return out
}

// ---- report: markdown table and SVG chart ---------------------------------------------------------------------

function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
}

export function usersMarkdown(r: UsersResults, resultsFile: string, chartFile: string): string {
  const load = `${r.machine.loadAverageStart[0]} at start / ${r.machine.loadAverageEnd[0]} at end`
  const lines = [
    `${r.startedAt.slice(0, 10)}, ${r.machine.cpuModel.split(' ').slice(0, 2).join(' ')} × ${r.machine.cores} cores, Node ${r.machine.node}, load average ${load}; ${r.config.runs} runs of a ${r.config.fileBytes / MiB} MiB file${r.config.kubo ? ', Kubo v0.43.1' : ', no Kubo binary'}.`,
    '',
    `![whole-process and HTTP timings](${chartFile})`,
    '',
    '| What the user runs | median | p90 | MB/s | client CPU | devnet CPU |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.rows.map(
      (x) =>
        `| ${x.label} | ${seconds(x.ms.median)} | ${seconds(x.ms.p90)} | ${x.medianMBps !== undefined ? x.medianMBps.toFixed(0) : '—'} | ${x.clientCpuMs ? seconds(x.clientCpuMs.median) : '—'} | ${x.serverCpuMs ? seconds(x.serverCpuMs.median) : '—'} |`,
    ),
    '',
    '| Target | target | measured | result |',
    '| --- | --- | --- | --- |',
    ...r.targets.map(
      (t) =>
        `| ${t.description} | ${t.target} | ${t.actual} | ${t.pass === null ? 'not judged' : t.pass ? 'pass' : '**miss**'} |`,
    ),
    '',
    `Full samples: [results/${resultsFile}](results/${resultsFile}).`,
  ]
  return lines.join('\n')
}

const COLORS: Record<Row['side'], string> = { stratos: '#2b6cb0', helia: '#d69e2e', kubo: '#38a169', floor: '#718096' }

/** A horizontal bar chart of the medians of the 200 MiB rows (seconds), one bar per row, colored by side. */
export function usersSvg(r: UsersResults): string {
  const rows = r.rows.filter((x) => x.bytes !== undefined)
  const max = Math.max(...rows.map((x) => x.ms.median), 1)
  const W = 760
  const labelW = 330
  const barW = W - labelW - 90
  const H = 22
  const top = 34
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/`/g, '')
  const bars = rows.map((x, i) => {
    const y = top + i * H
    const w = Math.max(1, (x.ms.median / max) * barW)
    return [
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(x.label)}</text>`,
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${H - 6}" fill="${COLORS[x.side]}"/>`,
      `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 15}">${seconds(x.ms.median)}</text>`,
    ].join('')
  })
  const h = top + rows.length * H + 30
  const legend = (Object.keys(COLORS) as Row['side'][]).map(
    (k, i) =>
      `<rect x="${labelW + i * 100}" y="${h - 22}" width="12" height="12" fill="${COLORS[k]}"/><text x="${labelW + i * 100 + 16}" y="${h - 12}">${k}</text>`,
  )
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<title>Stratos, Helia and Kubo: whole-process and HTTP timings, ${r.config.fileBytes / MiB} MiB</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${r.config.fileBytes / MiB} MiB, median of ${r.config.runs} (${r.startedAt.slice(0, 10)}, load ${r.machine.loadAverageStart[0]}), lower is better</text>`,
    ...bars,
    ...legend,
    '</svg>',
    '',
  ].join('\n')
}

export const USERS_START = '<!-- users:start -->'
export const USERS_END = '<!-- users:end -->'

/** Writes the JSON and the chart, and the section between the users markers of bench/README.md. */
export async function writeUsers(r: UsersResults, quick: boolean, updateReadme: boolean): Promise<string> {
  const dir = join(import.meta.dirname, 'results')
  await mkdir(dir, { recursive: true })
  const stamp = r.startedAt
    .slice(0, 16)
    .replace(/[:T]/g, '-')
    .replace(/-(\d\d)-(\d\d)$/, '-$1$2')
  const file = `${stamp}-users${quick ? '-quick' : ''}.json`
  await writeFile(join(dir, file), JSON.stringify(r, null, 2) + '\n')
  if (updateReadme && !quick) {
    await writeFile(join(import.meta.dirname, 'users.svg'), usersSvg(r))
    const readme = join(import.meta.dirname, 'README.md')
    const text = await readFile(readme, 'utf8')
    const a = text.indexOf(USERS_START)
    const b = text.indexOf(USERS_END)
    if (a >= 0 && b > a)
      await writeFile(
        readme,
        text.slice(0, a + USERS_START.length) + '\n' + usersMarkdown(r, file, 'users.svg') + '\n' + text.slice(b),
      )
  }
  return join(dir, file)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      network: { type: 'string' },
      'no-readme': { type: 'boolean', default: false },
      /** Comma-separated row groups (USERS_GROUPS); implies --no-readme. */
      only: { type: 'string' },
    },
  })
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').map((g) => g.trim()))
  for (const g of only ?? [])
    if (!(USERS_GROUPS as readonly string[]).includes(g))
      throw new Error(`--only: unknown group ${g} (groups: ${USERS_GROUPS.join(', ')})`)
  const c = { ...(values.quick ? USERS_QUICK : USERS_FULL) }
  if (values.runs) c.runs = Number(values.runs)
  const tmp = await mkdtemp(join(tmpdir(), 'stratos-bench-users-'))
  const log = (line: string) => process.stderr.write(`[bench:users] ${line}\n`)
  let devnet: RunningDevnet | undefined
  try {
    let network: NetworkFile
    let dir: string
    if (values.network) {
      dir = values.network
      network = JSON.parse(await readFile(join(dir, 'devnet.json'), 'utf8')) as NetworkFile
    } else {
      dir = join(tmp, 'devnet')
      devnet = await startDevnet({ dir, resources: 6, k: 4, m: 2, log: () => {} })
      network = devnet.network
    }
    const pids = [...network.processes.map((p) => p.pid), ...(network.devnetPid ? [network.devnetPid] : [])]
    const r = await measureUsers({
      network,
      devnetDir: dir,
      devnetPids: pids,
      tmp,
      c,
      log,
      only: only as ReadonlySet<UsersGroup> | undefined,
    })
    const path = await writeUsers(r, values.quick === true, !values['no-readme'] && !only)
    log(`results: ${path}`)
    process.stdout.write(usersMarkdown(r, basename(path), 'users.svg') + '\n')
  } finally {
    await devnet?.stop()
    await rm(tmp, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`[bench:users] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exitCode = 1
  })
}
