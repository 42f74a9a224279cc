/**
 * A devnet on test hosts: the real `Devnet` (src/devnet/devnet.ts) with every process — validator, meta node, each
 * resource node, gateway — placed in its own network namespace (netns.ts) and listening on that host's address, so
 * the processes reach each other over the bridge, and a host can be cut off. Clients run on hosts of their own
 * (`addClient`) through the built CLI.
 *
 * Every host uses the same ports (HOST_PORT_BASE): each namespace has its own port space, so parallel tests never
 * compete for ports, only for subnets (which netns.ts reserves).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliArgs, Devnet, type DevnetOptions } from '../../src/devnet/devnet.ts'
import type { NetworkFile, NetworkProcess } from '../../src/devnet/network.ts'
import { cleanEnv, collect, type CliResult } from '../e2e/harness.ts'
import { HostNetwork, type TestHost } from './netns.ts'

/** Port base of every test host (below the ephemeral range; gateway on 20080, not a fetch "bad port"). */
export const HOST_PORT_BASE = 20_000

export type HostDevnetOptions = Partial<Omit<DevnetOptions, 'dir' | 'placement' | 'portBase'>>

export class HostDevnet {
  readonly net: HostNetwork
  readonly devnet: Devnet
  readonly dir: string
  readonly #log: string[]

  private constructor(net: HostNetwork, devnet: Devnet, dir: string, log: string[]) {
    this.net = net
    this.devnet = devnet
    this.dir = dir
    this.#log = log
  }

  /** Starts a devnet with one test host per process (k=4, m=2, 6 resource nodes, 1 MiB segments unless told). */
  static async start(o: HostDevnetOptions = {}): Promise<HostDevnet> {
    const net = await HostNetwork.create()
    const dir = mkdtempSync(join(tmpdir(), 'stratos-hosts-'))
    const log: string[] = []
    const devnet = new Devnet({
      chainId: 'stratos-hosts-1',
      resources: 6,
      k: 4,
      m: 2,
      segmentSize: 1024 * 1024,
      restart: false,
      ...o,
      dir,
      portBase: HOST_PORT_BASE,
      log: (line) => log.push(line),
      placement: (name) => {
        const host = net.addHost(name)
        return { host: host.ip, launcher: net.launcher(host) }
      },
    })
    const d = new HostDevnet(net, devnet, dir, log)
    try {
      await devnet.start()
    } catch (e) {
      await d.close()
      throw new Error(`devnet on test hosts did not start: ${(e as Error).message}\n${log.join('\n')}`)
    }
    return d
  }

  get network(): NetworkFile {
    return this.devnet.network
  }

  get networkFile(): string {
    return this.devnet.networkFile
  }

  /** Progress and child-exit lines of the devnet. */
  get log(): readonly string[] {
    return this.#log
  }

  process(name: string): NetworkProcess {
    const p = this.network.processes.find((x) => x.name === name)
    if (!p) throw new Error(`no process ${name}`)
    return p
  }

  get resources(): NetworkProcess[] {
    return this.network.processes.filter((p) => p.role === 'resource')
  }

  /** The test host a devnet process runs on. */
  host(name: string): TestHost {
    return this.net.host(name)
  }

  /** A host for a client (CLI) of this network. */
  addClient(name: string): TestHost {
    return this.net.addHost(name)
  }

  /** Runs `stratos ARGS --network DIR` inside a host's namespace to completion. */
  cli(
    host: TestHost,
    args: string[],
    opts: { input?: Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<CliResult> {
    return collect(this.spawnCli(host, args, opts.env), opts.input, opts.timeoutMs ?? 120_000)
  }

  spawnCli(host: TestHost, args: string[], env?: Record<string, string>): ChildProcess {
    const [command, ...prefix] = this.net.launcher(host)
    return spawn(command!, [...prefix, process.execPath, ...cliArgs(...args, '--network', this.dir)], {
      env: cleanEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
  }

  /** Stops the devnet, removes every host (and anything still running on one) and the data directory. */
  async close(): Promise<void> {
    try {
      await this.devnet.stop()
    } finally {
      await this.net.close()
      rmSync(this.dir, { recursive: true, force: true })
    }
  }
}
