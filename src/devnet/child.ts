/**
 * One devnet role as a separate OS process: spawned with its output appended to a log file,
 * polled until it answers GET /v1/info, stopped with SIGTERM then SIGKILL after a grace period.
 *
 * Children get their stdin as a pipe from the devnet and STRATOS_EXIT_WITH_STDIN=1: when the
 * devnet dies (even by SIGKILL) the pipe closes and the child stops itself instead of lingering.
 */
import { spawn, type ChildProcess as NodeChild } from 'node:child_process'
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { StratosError } from '../errors.ts'
import { jsonRequest } from '../net/json-request.ts'
import { DEVNET_POLL_INTERVAL_MS, DEVNET_STOP_GRACE_MS } from '../limits.ts'
import type { ProcessRole } from './network.ts'
import { EXIT_WITH_STDIN_ENV } from './exit-with-stdin.ts'

export { EXIT_WITH_STDIN_ENV } from './exit-with-stdin.ts'

export interface ChildSpec {
  name: string
  role: ProcessRole
  /** Arguments after process.execPath. */
  args: string[]
  url: string
  dataDir: string
  log: string
  env?: Record<string, string>
  /** Command the process is started through, before `node` (devnet.ts DevnetPlacement); it must exec node in place. */
  launcher?: readonly string[]
}

export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export class DevnetChild {
  readonly spec: ChildSpec
  #child: NodeChild | undefined
  #exit: Promise<ChildExit> | undefined
  #exited: ChildExit | undefined

  constructor(spec: ChildSpec) {
    this.spec = spec
  }

  get pid(): number {
    return this.#child?.pid ?? -1
  }

  get exitInfo(): ChildExit | undefined {
    return this.#exited
  }

  /** Resolves when the process has exited (after start). */
  get exited(): Promise<ChildExit> {
    if (!this.#exit) throw new Error(`${this.spec.name} was never started`)
    return this.#exit
  }

  start(): void {
    const fd = openSync(this.spec.log, 'a')
    try {
      const [command, ...prefix] = this.spec.launcher ?? []
      const child = spawn(
        command ?? process.execPath,
        command ? [...prefix, process.execPath, ...this.spec.args] : this.spec.args,
        {
          stdio: ['pipe', fd, fd],
          // Own process group: a Ctrl-C in the devnet's terminal reaches only the devnet, which then stops
          // its children in order (instead of every process racing its own shutdown).
          detached: true,
          env: { ...process.env, ...this.spec.env, [EXIT_WITH_STDIN_ENV]: '1' },
        },
      )
      this.#child = child
      // The pipe's write end stays open (never written) for the child's whole life.
      child.stdin?.on('error', () => {})
      this.#exit = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          this.#exited = { code, signal }
          resolve(this.#exited)
        })
        child.once('error', () => {
          this.#exited ??= { code: null, signal: null }
          resolve(this.#exited)
        })
      })
    } finally {
      closeSync(fd)
    }
  }

  /** Polls GET {url}/v1/info until it answers; fails fast if the process exits first. */
  /** Polls the role's info route (`/v1/info`; the validator's is `/status`) until it answers. */
  async waitForInfo<T>(deadline: number, signal?: AbortSignal, path = '/v1/info'): Promise<T> {
    for (;;) {
      if (this.#exited) throw this.#startupFailure()
      try {
        return await jsonRequest<T>(`${this.spec.url}${path}`, { method: 'GET', timeoutMs: 2_000, signal })
      } catch (e) {
        if (signal?.aborted) throw new StratosError('ABORTED', 'devnet start aborted')
        if (Date.now() > deadline) {
          throw new StratosError(
            'TIMEOUT',
            `${this.spec.name} did not answer ${this.spec.url}${path} in time; see ${this.spec.log}`,
            { name: this.spec.name },
            { cause: e },
          )
        }
      }
      await sleep(DEVNET_POLL_INTERVAL_MS)
    }
  }

  #startupFailure(): StratosError {
    const how = this.#exited?.signal ? `signal ${this.#exited.signal}` : `code ${this.#exited?.code}`
    return new StratosError(
      'NETWORK_CONFIG',
      `${this.spec.name} exited during startup (${how}); see ${this.spec.log}`,
      { name: this.spec.name, log: this.spec.log },
    )
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  async stop(graceMs = DEVNET_STOP_GRACE_MS): Promise<ChildExit | undefined> {
    const child = this.#child
    if (!child || !this.#exit) return undefined
    if (this.#exited) return this.#exited
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    try {
      return await this.#exit
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Last lines of a log file, for error messages (best effort). */
export function logTail(path: string, maxBytes = 2_000): string {
  try {
    const size = statSync(path).size
    const len = Math.min(size, maxBytes)
    const buf = Buffer.alloc(len)
    const fd = openSync(path, 'r')
    try {
      readSync(fd, buf, 0, len, size - len)
    } finally {
      closeSync(fd)
    }
    return buf.toString('utf8').trimEnd()
  } catch {
    return ''
  }
}

/** True when nothing listens on host:port (we can bind it). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, host, () => srv.close(() => resolve(true)))
  })
}
