/**
 * Role processes for multi-process tests and benchmarks: `stratos node meta` / `stratos node resource` from the
 * built CLI (dist/), each waited for until it prints its ready line ("… listening on URL"), killed with SIGKILL
 * where a test wants a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cliArgs } from '../../src/devnet/devnet.ts'
import { cleanEnv } from '../e2e/harness.ts'

export interface RoleProcess {
  child: ChildProcess
  /** The role's URL and node address, from its ready line. */
  url: string
  address: string
}

/**
 * Arguments of a storage-only `stratos node meta` (no chain; k=2 m=1, 1 MiB segments; nodes offline only after 60 s,
 * heartbeats every 500 ms) as the HA and PostgreSQL tests run it. `host` binds a namespace address instead of loopback.
 */
export function storageOnlyMetaArgs(o: {
  dataDir: string
  index: string
  chainId: string
  port: number
  host?: string
}): string[] {
  return [
    '--data-dir',
    o.dataDir,
    '--index',
    o.index,
    ...(o.host ? ['--host', o.host] : []),
    '--port',
    String(o.port),
    '--chain-id',
    o.chainId,
    '--k',
    '2',
    '--m',
    '1',
    '--segment-size',
    '1MiB',
    '--offline-after-ms',
    '60000',
    '--heartbeat-interval-ms',
    '500',
  ]
}

/** Starts `stratos node <role> …args` and resolves once it printed "<role> node ADDRESS listening on URL". */
export function startRole(role: 'meta' | 'resource', args: string[], readyMs = 60_000): Promise<RoleProcess> {
  const child = spawn(process.execPath, cliArgs('node', role, ...args), {
    env: cleanEnv({ STRATOS_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 20_000) err += d.toString()
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${role} node not ready in ${readyMs} ms: ${err}`))
    }, readyMs)
    const ready = new RegExp(`${role} node (\\S+) listening on (\\S+)`)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = ready.exec(out)
      if (m) {
        clearTimeout(timer)
        // A role that dies on its own later (not killed by the test) says why in the test's output.
        child.once('exit', (code) => {
          if (code) process.stderr.write(`${role} node ${m[1]} exited (${code}): ${err.slice(-4_000)}\n`)
        })
        resolve({ child, address: m[1]!, url: m[2]! })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${role} node exited (${code}): ${err}`))
    })
  })
}

/** SIGKILL, resolved once the process is gone. */
export function kill9(p: RoleProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve()
    p.child.once('exit', () => resolve())
    p.child.kill('SIGKILL')
  })
}

/** SIGTERM (a clean stop), resolved once the process is gone. */
export function stopRole(p: RoleProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve()
    p.child.once('exit', () => resolve())
    p.child.kill('SIGTERM')
  })
}
