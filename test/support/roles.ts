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
