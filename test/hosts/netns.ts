/**
 * Test hosts: every role of a network in its own Linux network namespace, with its own IPv4 address on one bridge,
 * so processes talk over real addresses (not one loopback) and a host can be cut off and healed.
 *
 *   const net = await HostNetwork.create()          // bridge + private /24, owned by this test process
 *   const a = net.addHost('meta')                    // namespace, veth pair, address 10.x.y.N
 *   spawn(...net.launcher(a), process.execPath, …)   // `ip netns exec NS node …`
 *   net.cut(a) / net.heal(a)                         // the host's link down / up: nothing reaches it or leaves it
 *   net.cutBetween(a, b) / net.healBetween(a, b)     // packets between two hosts silently dropped, both ways
 *   await net.close()                                // processes, namespaces, veths, bridge: all gone
 *
 * Only iproute2 is used (`ip netns`, `ip link`, `ip rule`): no iptables/nft, no tc actions (kernels and images
 * without them are common). A pairwise cut is a policy-routing rule `from PEER blackhole` in each of the two
 * namespaces, placed before the `local` table (moved from priority 0 to LOCAL_RULE_PREF at setup): incoming packets
 * from the peer are dropped on input, so both sides see timeouts, as across a real partition.
 *
 * Cleanup is guaranteed: close() kills every process inside the namespaces (by pid, from `ip netns pids`), waits for
 * them, deletes the namespaces and the bridge. An `exit` hook does the same synchronously for a network a failed test
 * never closed, and create() first sweeps what a killed test process (SIGKILL) left behind: each network holds a lock
 * directory under LOCK_ROOT naming its owner pid, its bridge and namespaces, and one whose owner is dead is removed.
 * The lock directory also reserves the subnet, so parallel tests never share one.
 *
 * Names: bridge `sth<id>`, root-side veths `sth<id>v<n>`, namespaces `stratos-<id>-<name>`; `<id>` is 6 random hex
 * digits, so parallel tests never collide. Every address is inside 10.200.0.0/13's private range on the bridge.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface TestHost {
  /** The role's name (`meta`, `resource-3`). */
  readonly name: string
  /** Its network namespace. */
  readonly ns: string
  /** Its address on the bridge. */
  readonly ip: string
  /** Root-side end of its veth pair (a port of the bridge). */
  readonly veth: string
}

/** Where each network's lock directory lives (subnet reservation + what to sweep when its owner died). */
const LOCK_ROOT = '/tmp/stratos-test-hosts'
/** Priority the `local` routing table's rule moves to in each namespace, so cut rules (CUT_RULE_PREF) come first. */
const LOCAL_RULE_PREF = 100
const CUT_RULE_PREF = 10
/** How long close() waits for the processes of a namespace to exit after SIGKILL. */
const KILL_WAIT_MS = 5_000
/** Hosts per network (addresses .2–.254 of the /24; .1 is the bridge, the test process's own address). */
const MAX_HOSTS = 253

interface LockRecord {
  owner: number
  bridge: string
  namespaces: string[]
  veths: string[]
}

/** Why test hosts cannot run here (one line), or undefined when they can (root and iproute2 with netns). */
export function hostsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'test hosts need Linux network namespaces'
  if (process.getuid?.() !== 0) return 'test hosts need root (ip netns, veth, bridge)'
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return 'test hosts need iproute2 (`ip netns`), which is missing or not working'
  return undefined
}

/**
 * The `skip` option of a test that needs test hosts: a one-line reason where they cannot run, but never under
 * CI=true (CI has root and iproute2: a missing tool there must fail the test, not hide it).
 */
export function skipWithoutHosts(): string | false {
  const why = hostsUnavailable()
  if (why === undefined || process.env.CI === 'true') return false
  return why
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** `ip` that may fail (cleanup of something already gone). */
function ipQuiet(...args: string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' })
}

function pidsIn(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
  if (r.status !== 0) return []
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function killAll(namespaces: readonly string[]): number[] {
  const pids = namespaces.flatMap(pidsIn)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  return pids
}

/** Removes what a lock record names (synchronously: also runs from the exit hook). Processes must be gone first. */
function removeRecord(rec: LockRecord): void {
  for (const ns of rec.namespaces) ipQuiet('netns', 'del', ns)
  for (const v of rec.veths) ipQuiet('link', 'del', v)
  ipQuiet('link', 'del', rec.bridge)
}

/** Synchronous cleanup for the exit hook: SIGKILL, a short busy wait, then the namespaces go. */
function cleanupSync(rec: LockRecord, lockDir: string): void {
  const pids = killAll(rec.namespaces)
  const until = Date.now() + KILL_WAIT_MS
  while (pids.some(isAlive) && Date.now() < until) spawnSync('sleep', ['0.05'])
  removeRecord(rec)
  rmSync(lockDir, { recursive: true, force: true })
}

/** Networks left by test processes that died without cleaning up (their owner pid is gone). */
function sweepStale(): void {
  if (!existsSync(LOCK_ROOT)) return
  for (const entry of readdirSync(LOCK_ROOT)) {
    const dir = join(LOCK_ROOT, entry)
    let rec: LockRecord
    try {
      rec = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8')) as LockRecord
    } catch {
      continue // being written right now, or not ours
    }
    if (isAlive(rec.owner)) continue
    cleanupSync(rec, dir)
  }
}

const open = new Set<HostNetwork>()
let exitHooked = false

export class HostNetwork {
  readonly id: string
  /** First three octets of the /24 (`10.201.7`). */
  readonly subnet: string
  readonly bridge: string
  /** The bridge's own address: the test process reaches every host from it. */
  readonly gatewayIp: string
  readonly #hosts = new Map<string, TestHost>()
  readonly #cuts = new Set<string>()
  readonly #lockDir: string
  #closed = false

  private constructor(id: string, subnet: string, lockDir: string) {
    this.id = id
    this.subnet = subnet
    this.bridge = `sth${id}`
    this.gatewayIp = `${subnet}.1`
    this.#lockDir = lockDir
  }

  /** A fresh bridge on a private /24 no other test network holds. Throws where hostsUnavailable() says why. */
  static async create(): Promise<HostNetwork> {
    const why = hostsUnavailable()
    if (why) throw new Error(why)
    mkdirSync(LOCK_ROOT, { recursive: true })
    sweepStale()
    const used = new Set(ip('-4', '-o', 'addr', 'show').match(/\d+\.\d+\.\d+(?=\.\d+\/)/g) ?? [])
    for (let attempt = 0; attempt < 50; attempt++) {
      const subnet = `10.${200 + randomInt(8)}.${randomInt(256)}`
      if (used.has(subnet)) continue
      const lockDir = join(LOCK_ROOT, subnet)
      try {
        mkdirSync(lockDir) // atomic: the subnet is ours
      } catch {
        continue
      }
      const net = new HostNetwork(randomBytes(3).toString('hex'), subnet, lockDir)
      net.#writeRecord()
      open.add(net)
      if (!exitHooked) {
        exitHooked = true
        process.once('exit', () => {
          for (const n of open) n.#closeSync()
        })
      }
      try {
        ip('link', 'add', net.bridge, 'type', 'bridge')
        net.#writeRecord()
        ip('addr', 'add', `${net.gatewayIp}/24`, 'dev', net.bridge)
        ip('link', 'set', net.bridge, 'up')
      } catch (e) {
        await net.close()
        throw e
      }
      return net
    }
    throw new Error('no free 10.200-207.x.0/24 subnet for test hosts')
  }

  get hosts(): readonly TestHost[] {
    return [...this.#hosts.values()]
  }

  host(name: string): TestHost {
    const h = this.#hosts.get(name)
    if (!h) throw new Error(`no test host ${name}`)
    return h
  }

  /** A new host: its namespace (loopback up), a veth pair into the bridge, the next free address. */
  addHost(name: string): TestHost {
    if (this.#closed) throw new Error('host network is closed')
    if (this.#hosts.has(name)) throw new Error(`test host ${name} exists`)
    const n = this.#hosts.size + 2
    if (n - 1 > MAX_HOSTS) throw new Error(`at most ${MAX_HOSTS} test hosts per network`)
    const host: TestHost = {
      name,
      ns: `stratos-${this.id}-${name}`,
      ip: `${this.subnet}.${n}`,
      veth: `sth${this.id}v${n}`,
    }
    this.#hosts.set(name, host)
    this.#writeRecord()
    const peer = `${host.veth}p`
    ip('netns', 'add', host.ns)
    ip('link', 'add', host.veth, 'type', 'veth', 'peer', 'name', peer)
    ip('link', 'set', peer, 'netns', host.ns)
    ip('-n', host.ns, 'link', 'set', peer, 'name', 'eth0')
    ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0')
    ip('-n', host.ns, 'link', 'set', 'eth0', 'up')
    ip('-n', host.ns, 'link', 'set', 'lo', 'up')
    // Cut rules must see packets before the local table delivers them.
    ip('-n', host.ns, 'rule', 'add', 'pref', String(LOCAL_RULE_PREF), 'lookup', 'local')
    ip('-n', host.ns, 'rule', 'del', 'pref', '0', 'lookup', 'local')
    ip('link', 'set', host.veth, 'master', this.bridge)
    ip('link', 'set', host.veth, 'up')
    return host
  }

  /** Command prefix that runs a program inside the host's namespace (`ip netns exec NS`; it execs in place). */
  launcher(host: TestHost): string[] {
    return ['ip', 'netns', 'exec', host.ns]
  }

  /** The host's link goes down: nothing reaches it and nothing leaves it (connections time out). */
  cut(host: TestHost): void {
    ip('link', 'set', host.veth, 'down')
  }

  heal(host: TestHost): void {
    ip('link', 'set', host.veth, 'up')
  }

  /** Packets between the two hosts are dropped silently in both directions; each still reaches every other host. */
  cutBetween(a: TestHost, b: TestHost): void {
    const key = [a.name, b.name].sort().join('|')
    if (this.#cuts.has(key)) return
    ip('-n', a.ns, 'rule', 'add', 'pref', String(CUT_RULE_PREF), 'from', b.ip, 'blackhole')
    ip('-n', b.ns, 'rule', 'add', 'pref', String(CUT_RULE_PREF), 'from', a.ip, 'blackhole')
    this.#cuts.add(key)
  }

  healBetween(a: TestHost, b: TestHost): void {
    const key = [a.name, b.name].sort().join('|')
    if (!this.#cuts.delete(key)) return
    ip('-n', a.ns, 'rule', 'del', 'pref', String(CUT_RULE_PREF), 'from', b.ip, 'blackhole')
    ip('-n', b.ns, 'rule', 'del', 'pref', String(CUT_RULE_PREF), 'from', a.ip, 'blackhole')
  }

  /** Every process inside the namespaces killed (SIGKILL, by pid) and awaited; namespaces, veths, bridge removed. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const rec = this.#record()
    const pids = killAll(rec.namespaces)
    const until = Date.now() + KILL_WAIT_MS
    while (pids.some(isAlive) && Date.now() < until) await sleep(50)
    removeRecord(rec)
    rmSync(this.#lockDir, { recursive: true, force: true })
    open.delete(this)
  }

  #closeSync(): void {
    if (this.#closed) return
    this.#closed = true
    cleanupSync(this.#record(), this.#lockDir)
    open.delete(this)
  }

  #record(): LockRecord {
    const hosts = [...this.#hosts.values()]
    return {
      owner: process.pid,
      bridge: this.bridge,
      namespaces: hosts.map((h) => h.ns),
      veths: hosts.map((h) => h.veth),
    }
  }

  /** Written before each resource is made, so a crash at any point leaves a record naming it. */
  #writeRecord(): void {
    writeFileSync(join(this.#lockDir, 'record.json'), JSON.stringify(this.#record()))
  }
}
