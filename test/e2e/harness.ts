/**
 * Multi-process test harness: starts `stratos devnet` in a temp dir on a free port base, runs
 * the real CLI as child processes, and inspects node data dirs on disk.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cliArgs, DEVNET_RESTART_ENV } from '../../src/devnet/devnet.ts'
import { isPortFree } from '../../src/devnet/child.ts'
import { readNetworkFile, type NetworkFile, type NetworkProcess } from '../../src/devnet/network.ts'
import { portsFromBase } from '../../src/limits.ts'

/** Environment for child processes: nothing inherited that would pick another network or wallet. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.STRATOS_HOME
  delete env.STRATOS_MNEMONIC
  delete env.STRATOS_EXIT_WITH_STDIN
  delete env.NODE_TEST_CONTEXT
  return { ...env, STRATOS_LOG_LEVEL: 'info', ...extra }
}

/** A port base whose meta, gateway and resource ports are all free right now. */
export async function freePortBase(resources: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the kernel's ephemeral range (32768–60999 here): a port in it can be taken at any moment as the source
    // port of some outgoing connection, between this check and the devnet's bind. From 10250: base 10000 would put the
    // gateway on 10080, a port fetch() refuses to connect to (the Fetch standard's "bad ports").
    const base = 10_250 + 250 * Math.floor(Math.random() * 89)
    const p = portsFromBase(base)
    const ports = [
      p.chainRest,
      p.meta,
      p.gateway,
      p.ipfsApi,
      p.s3,
      ...Array.from({ length: resources }, (_, i) => p.resourceBase + i),
    ]
    let free = true
    for (const port of ports)
      if (!(await isPortFree(port))) {
        free = false
        break
      }
    if (free) return base
  }
  throw new Error('no free port base found')
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
}

/** Runs the CLI to completion (optionally with stdin bytes). */
export function runCli(
  args: string[],
  opts: { input?: Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnCli(args, opts.env)
  return collect(child, opts.input, opts.timeoutMs ?? 60_000)
}

export function spawnCli(args: string[], env?: Record<string, string>): ChildProcess {
  return spawn(process.execPath, cliArgs(...args), { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
}

export function collect(child: ChildProcess, input?: Uint8Array, timeoutMs = 60_000): Promise<CliResult> {
  const out: Buffer[] = []
  let err = ''
  child.stdout?.on('data', (d: Buffer) => out.push(d))
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
  })
  child.stdin?.on('error', () => {})
  child.stdin?.end(input)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`CLI timed out: ${err}`))
    }, timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err })
    })
  })
}

export interface DevnetStartOptions {
  resources?: number
  k?: number
  m?: number
  segmentSize?: number
  extra?: string[]
  /** Reuse an existing directory (restart). */
  dir?: string
  portBase?: number
  /**
   * Let the devnet's supervisor restart killed processes (`stratos devnet`'s default). Off unless asked: most tests
   * kill a node to stand for an outage (repair, reads with m nodes down, a meta node restarted by hand), which a
   * restart a second later would end.
   */
  restart?: boolean
}

export class TestDevnet {
  readonly dir: string
  readonly portBase: number
  readonly args: string[]
  readonly restarts: boolean
  #proc: ChildProcess | undefined
  #stderr = ''
  network!: NetworkFile

  private constructor(dir: string, portBase: number, args: string[], restarts: boolean) {
    this.dir = dir
    this.portBase = portBase
    this.args = args
    this.restarts = restarts
  }

  static async start(o: DevnetStartOptions = {}): Promise<TestDevnet> {
    // k + m nodes unless a test needs spares (`stratos devnet` itself starts k + m + 2): fewer processes, faster tests.
    const resources = o.resources ?? 6
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'stratos-e2e-'))
    const portBase = o.portBase ?? (await freePortBase(resources))
    const args = [
      'devnet',
      '--dir',
      dir,
      '--port-base',
      String(portBase),
      '--resources',
      String(resources),
      '--k',
      String(o.k ?? 4),
      '--m',
      String(o.m ?? 2),
      '--segment-size',
      String(o.segmentSize ?? 1024 * 1024),
      ...(o.extra ?? []),
    ]
    const d = new TestDevnet(dir, portBase, args, o.restart === true)
    await d.#launch()
    return d
  }

  async #launch(): Promise<void> {
    const proc = spawn(process.execPath, cliArgs(...this.args), {
      env: cleanEnv(this.restarts ? {} : { [DEVNET_RESTART_ENV]: 'off' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#proc = proc
    this.#stderr = ''
    proc.stderr!.on('data', (d: Buffer) => {
      this.#stderr += d.toString()
    })
    let stdout = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`devnet not ready in time:\n${this.#stderr}`)), 90_000)
      proc.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (stdout.includes('ready')) {
          clearTimeout(timer)
          resolve()
        }
      })
      proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`devnet exited with ${code} before ready:\n${this.#stderr}`))
      })
    })
    this.network = readNetworkFile(join(this.dir, 'devnet.json'))
  }

  get stderr(): string {
    return this.#stderr
  }

  get pid(): number {
    return this.#proc?.pid ?? -1
  }

  /** Runs the CLI against this devnet. */
  cli(
    args: string[],
    opts: { input?: Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<CliResult> {
    return runCli([...args, '--network', this.dir], opts)
  }

  spawnCli(args: string[], env?: Record<string, string>): ChildProcess {
    return spawnCli([...args, '--network', this.dir], env)
  }

  process(name: string): NetworkProcess {
    const p = this.network.processes.find((x) => x.name === name)
    if (!p) throw new Error(`no process ${name}`)
    return p
  }

  processByAddress(address: string): NetworkProcess {
    const p = this.network.processes.find((x) => x.address === address)
    if (!p) throw new Error(`no process with address ${address}`)
    return p
  }

  get resources(): NetworkProcess[] {
    return this.network.processes.filter((p) => p.role === 'resource')
  }

  /** Reads devnet.json again (the supervisor rewrites it with a restarted process's pid). */
  reload(): NetworkFile {
    this.network = readNetworkFile(join(this.dir, 'devnet.json'))
    return this.network
  }

  /** The processes devnet.json names now (a restarted one under its new pid), or the last known ones if it is gone. */
  #currentProcesses(): NetworkProcess[] {
    try {
      return this.reload().processes
    } catch {
      return this.network?.processes ?? []
    }
  }

  /** SIGINT to the devnet; resolves with its exit code once every child is gone too. */
  async stop(): Promise<number | null> {
    const proc = this.#proc
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
    const processes = this.#currentProcesses()
    proc.kill('SIGINT')
    const code = await exited
    for (const p of processes) await waitDead(p.pid, 10_000)
    return code
  }

  /** Stops the devnet (if running) and deletes its directory. */
  async destroy(): Promise<void> {
    try {
      await this.stop()
    } finally {
      for (const p of this.#currentProcesses()) if (isAlive(p.pid)) process.kill(p.pid, 'SIGKILL')
      rmSync(this.dir, { recursive: true, force: true })
    }
  }

  /** Restarts the whole devnet on the same directory and ports; resolves with the old devnet's exit code. */
  async restart(): Promise<number | null> {
    const code = await this.stop()
    this.previousStderr = this.#stderr
    await this.#launch()
    return code
  }

  /** stderr of the devnet run before the last restart. */
  previousStderr = ''

  /** SIGKILL to the devnet process itself; resolves once every child it started has exited on its own. */
  async killDevnet(timeoutMs = 15_000): Promise<void> {
    const proc = this.#proc
    if (!proc) return
    const processes = this.#currentProcesses()
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
    for (const p of processes) await waitDead(p.pid, timeoutMs)
  }

  /** Starts the devnet again on the same directory (after killDevnet or stop). */
  async start(): Promise<void> {
    await this.#launch()
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function waitDead(pid: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() > end) throw new Error(`process ${pid} still alive`)
    await sleep(50)
  }
}

/** Polls `check` until it returns true (or throws after timeoutMs with `what`). */
export async function eventually(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
  intervalMs = 200,
): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await sleep(intervalMs)
  }
}

/** Every regular file under dir (recursively), as paths. */
export function filesUnder(dir: string): string[] {
  const out: string[] = []
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    const p = join(dir, name)
    let s: ReturnType<typeof statSync>
    try {
      s = statSync(p)
    } catch {
      continue
    }
    if (s.isDirectory()) out.push(...filesUnder(p))
    else if (s.isFile()) out.push(p)
  }
  return out
}

/** Files a resource node holds for shard data (stored and in-flight), excluding its key and settings. */
export function shardFiles(dataDir: string): string[] {
  return [...filesUnder(join(dataDir, 'shards')), ...filesUnder(join(dataDir, 'tmp'))]
}

/** Paths of the stored file for shard `id` in a resource node's data dir (none if absent). */
export function findShard(dataDir: string, id: string): string[] {
  return filesUnder(join(dataDir, 'shards')).filter((p) => p.includes(id))
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

/** Exit code of a StratosError code, for assertions. */
export { ERROR_CODES } from '../../src/errors.ts'
