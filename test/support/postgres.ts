/**
 * A real PostgreSQL for tests: a fresh cluster in a temp dir, started on a free loopback port, removed after.
 *
 * It uses the server binaries of Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin; .ci/run installs
 * the package when missing). PostgreSQL refuses to run as root, and tests and CI run as root: then initdb and the
 * server run as the `postgres` user the package creates (spawned with its uid and gid), in a directory handed to
 * that user.
 *
 * Where no server binaries exist, `postgresSkip()` answers the one line a test prints when it skips; under CI=true it
 * answers undefined so the test runs (and fails) instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { freePort } from './ports.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

function serverBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

function postgresUser(): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  if (r.status !== 0 || g.status !== 0) return undefined
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
}

const isRoot = process.getuid?.() === 0

/** Why PostgreSQL tests cannot run here (one line), or undefined when they can (always under CI=true). */
export function postgresSkip(): string | undefined {
  if (process.env.CI === 'true') return undefined
  if (serverBin() === undefined) return 'PostgreSQL server binaries not found (apt-get install postgresql)'
  if (isRoot && postgresUser() === undefined) return 'running as root and there is no postgres user to run the server'
  return undefined
}

export interface TestPostgres {
  /** postgres://stratos@127.0.0.1:PORT/postgres */
  url: string
  port: number
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>
  /** The server process (tests kill it to cut the index off). */
  process: ChildProcess
}

export interface TestPostgresOptions {
  /** fsync and synchronous commit (default off: tests do not outlive the machine; a benchmark turns them on). */
  durable?: boolean
  /** Address the server listens on and is reached at (default 127.0.0.1; a test host's address, test/hosts/). */
  host?: string
  /**
   * Command the server is started through (a test host's `ip netns exec NS`, which needs root: the switch to the
   * postgres user then happens inside it, with setpriv). The port is then PG_DEFAULT_PORT: the host is fresh.
   */
  launcher?: readonly string[]
}

const PG_DEFAULT_PORT = 5432

/** Starts a fresh PostgreSQL cluster; throws when it cannot (check postgresSkip() first). */
export async function startPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const bin = serverBin()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql)')
  const dir = mkdtempSync(join(tmpdir(), 'stratos-pg-'))
  const data = join(dir, 'data')
  const user = isRoot ? postgresUser() : undefined
  if (isRoot && !user) throw new Error('running as root and there is no postgres user to run the server')
  if (user) chownSync(dir, user.uid, user.gid)
  const as = user ? { uid: user.uid, gid: user.gid } : {}

  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'stratos', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
    { encoding: 'utf8', cwd: dir, ...as },
  )
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`)
  }
  const host = options.host ?? '127.0.0.1'
  // initdb trusts local connections only: on a test host, the rest of its /24 (the other test hosts) too.
  if (host !== '127.0.0.1')
    appendFileSync(join(data, 'pg_hba.conf'), `host all all ${host.split('.').slice(0, 3).join('.')}.0/24 trust\n`)
  const port = options.launcher ? PG_DEFAULT_PORT : await freePort()
  const durable = options.durable === true ? 'on' : 'off'
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    `listen_addresses=${host}`,
    '-c',
    `fsync=${durable}`,
    '-c',
    `synchronous_commit=${durable}`,
    '-c',
    'max_connections=50',
  ]
  const [command, ...prefix] = options.launcher ?? []
  const child = command
    ? spawn(
        command,
        [
          ...prefix,
          ...(user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'] : []),
          join(bin, 'postgres'),
          ...args,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
      )
    : spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...as })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 8_000) stderr += d.toString()
  })
  const url = `postgres://stratos@${host}:${port}/postgres`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`postgres exited (${child.exitCode}): ${stderr}`)
    }
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 })
    try {
      await c.connect()
      await c.end()
      break
    } catch {
      await c.end().catch(() => {})
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        rmSync(dir, { recursive: true, force: true })
        throw new Error(`postgres did not accept connections within 30 s: ${stderr}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  let stopped = false
  return {
    url,
    port,
    process: child,
    async stop() {
      if (stopped) return
      stopped = true
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()))
        child.kill('SIGINT')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A fresh table prefix per test, so tests can share one server without seeing each other's tables. */
let prefixes = 0
export function freshPrefix(): string {
  prefixes++
  return `t${process.pid}_${prefixes}_`
}

/** Creates an empty database on the server and answers its URL (one per test, when tables must not be shared). */
export async function createDatabase(server: TestPostgres, name?: string): Promise<string> {
  prefixes++
  const db = name ?? `db_${process.pid}_${prefixes}`
  if (!/^[a-z0-9_]+$/.test(db)) throw new Error(`bad database name ${db}`)
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  try {
    await c.query(`CREATE DATABASE ${db}`)
  } finally {
    await c.end()
  }
  return server.url.replace(/\/[^/]*$/, `/${db}`)
}
