/**
 * A fresh devnet for one benchmark run: `stratos devnet` (meta node + resource nodes as separate
 * OS processes) in a temp dir on free ports, exactly what a user gets from the CLI.
 *
 * Started by spawning the CLI and waiting for its `ready` line, described by its devnet.json,
 * stopped with SIGINT (the devnet's Ctrl-C path, which stops every child). The devnet runs in
 * its own process group, so a Ctrl-C at the terminal reaches only the harness, which then
 * stops the devnet exactly once; and it watches its stdin (the devnet's own exit-with-parent
 * switch), so even a harness killed with SIGKILL leaves no devnet behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { EXIT_WITH_STDIN_ENV } from '../src/devnet/child.ts'
import { cliArgs } from '../src/devnet/devnet.ts'
import { readNetworkFile, NETWORK_FILE, type NetworkFile } from '../src/devnet/network.ts'
import { portsFromBase } from '../src/limits.ts'

/** How long the devnet may take to print `ready` (six nodes plus meta, on a busy 2-core box). */
const DEVNET_START_TIMEOUT_MS = 90_000
/** How long the devnet may take to stop after SIGINT before it is killed. */
const DEVNET_STOP_TIMEOUT_MS = 15_000
/**
 * Port bases are tried from this range, in steps that keep every role's offset inside one step.
 * Below the kernel's ephemeral range (32768–60999 here): a port in it can be taken at any moment as
 * the source port of an outgoing connection, between the check and the devnet's bind (seen: a node
 * failing with EADDRINUSE). From 10250, as the e2e harness: base 10000 would put the gateway on 10080,
 * a port fetch() refuses.
 */
const PORT_BASE_MIN = 10_250
const PORT_BASE_MAX = 32_500
const PORT_BASE_STEP = 250

export interface DevnetOptions {
  dir: string
  resources: number
  k: number
  m: number
  /** Where the devnet's own stdout/stderr go (it logs every child to files under dir). */
  log: (line: string) => void
  /** Resource nodes' durability mode (`--sync`); the nodes' default (batch) when absent. */
  sync?: 'always' | 'batch' | 'none'
}

export interface RunningDevnet {
  network: NetworkFile
  portBase: number
  stop(): Promise<void>
}

export async function startDevnet(options: DevnetOptions): Promise<RunningDevnet> {
  const portBase = await findFreePortBase(options.resources)
  // The built CLI (dist/), what users run; cliArgs refuses a build older than src/.
  const args = cliArgs(
    'devnet',
    '--dir',
    options.dir,
    '--port-base',
    String(portBase),
    '--resources',
    String(options.resources),
    '--k',
    String(options.k),
    '--m',
    String(options.m),
    ...(options.sync ? ['--sync', options.sync] : []),
  )
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, STRATOS_LOG_LEVEL: process.env.STRATOS_LOG_LEVEL ?? 'warn', [EXIT_WITH_STDIN_ENV]: '1' },
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    await waitForReady(child, exited, options.log)
  } catch (e) {
    await stopChild(child, exited)
    throw e
  }
  const network = readNetworkFile(join(options.dir, NETWORK_FILE))
  return { network, portBase, stop: () => stopChild(child, exited) }
}

function waitForReady(child: ChildProcess, exited: Promise<number | null>, log: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buffered = ''
    let ready = false
    const timer = setTimeout(
      () => reject(new Error(`devnet did not print "ready" within ${DEVNET_START_TIMEOUT_MS} ms`)),
      DEVNET_START_TIMEOUT_MS,
    )
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8')
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        log(line)
        if (!ready && /\bready\b/.test(line)) {
          ready = true
          clearTimeout(timer)
          resolve()
        }
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) log(line)
    })
    void exited.then((code) => {
      clearTimeout(timer)
      if (!ready) reject(new Error(`devnet exited with code ${code} before it was ready`))
    })
  })
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), DEVNET_STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

/** A port base whose meta, resource, gateway, API and chain ports are all free on 127.0.0.1. */
export async function findFreePortBase(resources: number): Promise<number> {
  const slots = Math.floor((PORT_BASE_MAX - PORT_BASE_MIN) / PORT_BASE_STEP)
  const first = Math.floor(Math.random() * slots)
  for (let i = 0; i < slots; i++) {
    const base = PORT_BASE_MIN + ((first + i) % slots) * PORT_BASE_STEP
    const p = portsFromBase(base)
    const ports = [
      p.chainRest,
      p.ipfsApi,
      p.gateway,
      p.meta,
      p.s3,
      ...Array.from({ length: resources }, (_, j) => p.resourceBase + j),
    ]
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return base
  }
  throw new Error('no free port base found')
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}
