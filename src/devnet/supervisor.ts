/**
 * The devnet's supervisor: starts a child process again when it dies without being asked to, so a node killed
 * with `kill -9` (or crashed) comes back by itself, as it would under systemd on a real host.
 *
 * Guarantees:
 *  - A child the devnet stops (Ctrl-C, Devnet.stop) is never restarted: `stop()` cancels a pending restart and
 *    ignores every later exit.
 *  - A clean exit (code 0, no signal) is a stop on purpose — every role exits 0 after SIGTERM/SIGINT, so that is
 *    what `kill PID` by an operator looks like — and is not restarted either.
 *  - Restarts back off exponentially (initial delay, doubled per crash, capped); a child that stayed up for the
 *    reset period before it crashed starts over at the initial delay. After `crashLoopLimit` crashes in a row, each
 *    within the reset period of its start, the supervisor gives up (a crash loop: the log says why, not the delay).
 *  - Every exit and every restart is reported through `log`, one line each.
 *
 * Pure of process and time: the clock and timers come in as components, so the backoff is tested deterministically.
 */
import {
  DEVNET_CRASH_LOOP_LIMIT,
  DEVNET_RESTART_INITIAL_DELAY_MS,
  DEVNET_RESTART_MAX_DELAY_MS,
  DEVNET_RESTART_RESET_AFTER_MS,
} from '../limits.ts'
import type { ChildExit } from './child.ts'

export interface RestartPolicy {
  /** Delay before the first restart after a healthy run. @default DEVNET_RESTART_INITIAL_DELAY_MS */
  initialDelayMs: number
  /** Cap of the doubling delay. @default DEVNET_RESTART_MAX_DELAY_MS */
  maxDelayMs: number
  /** Uptime after which a child counts as healthy again (its crash count starts over). @default DEVNET_RESTART_RESET_AFTER_MS */
  resetAfterMs: number
  /** Crashes in a row (each within resetAfterMs of its start) at which the supervisor gives up. @default DEVNET_CRASH_LOOP_LIMIT */
  crashLoopLimit: number
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = {
  initialDelayMs: DEVNET_RESTART_INITIAL_DELAY_MS,
  maxDelayMs: DEVNET_RESTART_MAX_DELAY_MS,
  resetAfterMs: DEVNET_RESTART_RESET_AFTER_MS,
  crashLoopLimit: DEVNET_CRASH_LOOP_LIMIT,
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; crashes: number }
  | { action: 'give-up'; crashes: number }

/** The backoff state of one child: how many crashes in a row, and what to do about the next one. */
export class CrashBackoff {
  readonly policy: Readonly<RestartPolicy>
  #crashes = 0

  constructor(policy: Readonly<RestartPolicy> = DEFAULT_RESTART_POLICY) {
    if (policy.initialDelayMs <= 0 || policy.maxDelayMs < policy.initialDelayMs || policy.crashLoopLimit < 1) {
      throw new RangeError('restart policy: need 0 < initialDelayMs ≤ maxDelayMs and crashLoopLimit ≥ 1')
    }
    this.policy = policy
  }

  /** Crashes in a row so far (0 after a healthy run). */
  get crashes(): number {
    return this.#crashes
  }

  /** The child crashed after running uptimeMs: restart (after how long) or give up. */
  onCrash(uptimeMs: number): RestartDecision {
    const p = this.policy
    if (uptimeMs >= p.resetAfterMs) this.#crashes = 0
    this.#crashes++
    if (this.#crashes >= p.crashLoopLimit) return { action: 'give-up', crashes: this.#crashes }
    // 2 ** 40 already exceeds any cap; bounding the exponent keeps the arithmetic finite for any limit.
    const delayMs = Math.min(p.maxDelayMs, p.initialDelayMs * 2 ** Math.min(this.#crashes - 1, 40))
    return { action: 'restart', delayMs, crashes: this.#crashes }
  }
}

/** Time as the supervisor sees it (tests pass a fake). */
export interface SupervisorTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemTimers: SupervisorTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/** What the supervisor needs of a process: its pid and a promise of its exit. */
export interface SupervisedChild {
  readonly pid: number
  readonly exited: Promise<ChildExit>
}

export interface SupervisorComponents {
  timers: SupervisorTimers
  log: (line: string) => void
}

export interface SupervisorInit<C extends SupervisedChild> {
  /** The child's name in log lines (`resource-3`). */
  name: string
  /** Its log file, named when the supervisor gives up. */
  logFile?: string
  policy?: Readonly<RestartPolicy>
  /** Starts a fresh process of the same role (same command line); may throw if it cannot even be spawned. */
  spawn: () => C
  /** Called right after a restart with the new process and the one it replaces (the devnet rewrites devnet.json). */
  onRestart?: (next: C, previous: C) => void
}

export type SupervisorState = 'running' | 'restarting' | 'stopped' | 'exited' | 'given-up'

export class Supervisor<C extends SupervisedChild> {
  readonly #c: SupervisorComponents
  readonly #init: SupervisorInit<C>
  readonly #backoff: CrashBackoff
  #current: C
  #state: SupervisorState = 'running'
  #timer: unknown
  #restarts = 0

  /** Watches `first`, a process that was started at `timers.now()`. */
  constructor(components: SupervisorComponents, init: SupervisorInit<C>, first: C) {
    this.#c = components
    this.#init = init
    this.#backoff = new CrashBackoff(init.policy)
    this.#current = first
    this.#watch(first)
  }

  /** The newest process (the one devnet.json names). */
  get current(): C {
    return this.#current
  }

  get state(): SupervisorState {
    return this.#state
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.#restarts
  }

  /** Stops supervising (the devnet is stopping this child on purpose): a pending restart is cancelled. */
  stop(): void {
    if (this.#timer !== undefined) this.#c.timers.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#state = 'stopped'
  }

  #watch(child: C): void {
    const startedAt = this.#c.timers.now()
    void child.exited.then((exit) => this.#onExit(child, exit, this.#c.timers.now() - startedAt))
  }

  #onExit(child: C, exit: ChildExit, uptimeMs: number): void {
    if (this.#state === 'stopped' || child !== this.#current) return
    const { name } = this.#init
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`
    if (exit.signal === null && exit.code === 0) {
      this.#state = 'exited'
      this.#c.log(
        `devnet: ${name} (pid ${child.pid}) stopped on its own (${how}); not restarting it (a clean exit is a stop on purpose; restart the devnet to bring it back)`,
      )
      return
    }
    this.#crashed(child.pid, how, uptimeMs)
  }

  #crashed(pid: number, how: string, uptimeMs: number): void {
    const { name, logFile } = this.#init
    const d = this.#backoff.onCrash(uptimeMs)
    if (d.action === 'give-up') {
      this.#state = 'given-up'
      const reset = formatMs(this.#backoff.policy.resetAfterMs)
      this.#c.log(
        `devnet: ${name} (pid ${pid}) exited with ${how}: ${d.crashes} crashes in a row, each within ${reset} of its start; giving up on it (crash loop)${logFile ? `; see ${logFile}` : ''}`,
      )
      return
    }
    this.#state = 'restarting'
    this.#c.log(
      `devnet: ${name} (pid ${pid}) exited with ${how}; restarting it in ${formatMs(d.delayMs)} (crash ${d.crashes} in a row; gives up at ${this.#backoff.policy.crashLoopLimit})`,
    )
    this.#timer = this.#c.timers.setTimeout(() => this.#restart(pid), d.delayMs)
  }

  #restart(previousPid: number): void {
    this.#timer = undefined
    if (this.#state !== 'restarting') return
    const previous = this.#current
    let next: C
    try {
      next = this.#init.spawn()
    } catch (e) {
      // Not even spawned (no log file, out of pids): a crash with no uptime, so the backoff still bounds retries.
      this.#crashed(previousPid, `a failed restart (${(e as Error).message})`, 0)
      return
    }
    this.#current = next
    this.#state = 'running'
    this.#restarts++
    this.#watch(next)
    this.#c.log(`devnet: ${this.#init.name} restarted (pid ${next.pid}, was ${previousPid})`)
    this.#init.onRestart?.(next, previous)
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}
