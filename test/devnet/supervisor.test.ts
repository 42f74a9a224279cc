/**
 * The devnet supervisor's restart logic on a fake clock: exponential backoff with a cap, the reset after a long
 * enough run, giving up on a crash loop, and no restart of a child that was stopped on purpose or exited cleanly.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ChildExit } from '../../src/devnet/child.ts'
import {
  CrashBackoff,
  DEFAULT_RESTART_POLICY,
  Supervisor,
  type SupervisedChild,
  type SupervisorTimers,
} from '../../src/devnet/supervisor.ts'
import {
  DEVNET_CRASH_LOOP_LIMIT,
  DEVNET_RESTART_INITIAL_DELAY_MS,
  DEVNET_RESTART_MAX_DELAY_MS,
  DEVNET_RESTART_RESET_AFTER_MS,
} from '../../src/limits.ts'

const POLICY = { initialDelayMs: 1_000, maxDelayMs: 30_000, resetAfterMs: 60_000, crashLoopLimit: 8 }

/** Timers that fire only when the test advances the clock. */
class FakeTimers implements SupervisorTimers {
  t = 0
  #pending: { at: number; fn: () => void; id: number }[] = []
  #ids = 0

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#ids
    this.#pending.push({ at: this.t + ms, fn, id })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle)
  }

  get pending(): number[] {
    return this.#pending.map((p) => p.at - this.t)
  }

  /** Moves the clock, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      const due = this.#pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.#pending = this.#pending.filter((p) => p !== due)
      this.t = due.at
      due.fn()
    }
    this.t = end
  }
}

class FakeChild implements SupervisedChild {
  static #nextPid = 100
  readonly pid = FakeChild.#nextPid++
  readonly exited: Promise<ChildExit>
  #resolve!: (e: ChildExit) => void

  constructor() {
    this.exited = new Promise((r) => {
      this.#resolve = r
    })
  }

  exit(e: ChildExit): void {
    this.#resolve(e)
  }
}

const KILLED: ChildExit = { code: null, signal: 'SIGKILL' }
const CRASHED: ChildExit = { code: 1, signal: null }
/** Lets the supervisor's `exited.then` handlers run. */
const settle = () => new Promise<void>((r) => setImmediate(r))

function harness(policy = POLICY) {
  const timers = new FakeTimers()
  const lines: string[] = []
  const spawned: FakeChild[] = []
  const replaced: [number, number][] = []
  const first = new FakeChild()
  const sup = new Supervisor(
    { timers, log: (l) => lines.push(l) },
    {
      name: 'resource-3',
      logFile: '/tmp/x/logs/resource-3.log',
      policy,
      spawn: () => {
        const c = new FakeChild()
        spawned.push(c)
        return c
      },
      onRestart: (next, prev) => replaced.push([prev.pid, next.pid]),
    },
    first,
  )
  return { timers, lines, spawned, replaced, first, sup }
}

describe('CrashBackoff', () => {
  test('doubles from the initial delay, caps at the maximum, gives up at the crash-loop limit', () => {
    const b = new CrashBackoff(POLICY)
    const delays: number[] = []
    for (;;) {
      const d = b.onCrash(10)
      if (d.action === 'give-up') {
        assert.equal(d.crashes, 8)
        break
      }
      delays.push(d.delayMs)
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
  })

  test('a run of at least resetAfterMs starts the count over', () => {
    const b = new CrashBackoff(POLICY)
    for (let i = 0; i < 5; i++) b.onCrash(100)
    assert.equal(b.crashes, 5)
    assert.deepEqual(b.onCrash(59_999), { action: 'restart', delayMs: 30_000, crashes: 6 })
    assert.deepEqual(b.onCrash(60_000), { action: 'restart', delayMs: 1_000, crashes: 1 })
    assert.deepEqual(b.onCrash(0), { action: 'restart', delayMs: 2_000, crashes: 2 })
  })

  test('the defaults come from src/limits.ts', () => {
    assert.deepEqual(DEFAULT_RESTART_POLICY, {
      initialDelayMs: DEVNET_RESTART_INITIAL_DELAY_MS,
      maxDelayMs: DEVNET_RESTART_MAX_DELAY_MS,
      resetAfterMs: DEVNET_RESTART_RESET_AFTER_MS,
      crashLoopLimit: DEVNET_CRASH_LOOP_LIMIT,
    })
    assert.ok(DEVNET_RESTART_INITIAL_DELAY_MS <= 2_000, 'a killed node must be back within a few seconds')
    assert.throws(() => new CrashBackoff({ ...POLICY, maxDelayMs: 500 }), RangeError)
  })
})

describe('Supervisor', () => {
  test('kill -9: restarted after the initial delay, reported, and the new process replaces the old one', async () => {
    const h = harness()
    h.timers.advance(120_000)
    h.first.exit(KILLED)
    await settle()
    assert.equal(h.sup.state, 'restarting')
    assert.deepEqual(h.timers.pending, [1_000])
    assert.match(h.lines[0]!, /resource-3 \(pid \d+\) exited with signal SIGKILL; restarting it in 1 s/)
    h.timers.advance(999)
    assert.equal(h.spawned.length, 0, 'not before the delay')
    h.timers.advance(1)
    assert.equal(h.spawned.length, 1)
    assert.equal(h.sup.current, h.spawned[0])
    assert.equal(h.sup.state, 'running')
    assert.equal(h.sup.restarts, 1)
    assert.deepEqual(h.replaced, [[h.first.pid, h.spawned[0]!.pid]])
    assert.match(h.lines[1]!, new RegExp(`resource-3 restarted \\(pid ${h.spawned[0]!.pid}, was ${h.first.pid}\\)`))
  })

  test('quick crashes back off 1, 2, 4 … s; a long run resets the delay', async () => {
    const h = harness()
    const delays: number[] = []
    let child = h.first
    for (let i = 0; i < 4; i++) {
      h.timers.advance(500) // up for half a second only
      child.exit(CRASHED)
      await settle()
      delays.push(h.timers.pending[0]!)
      h.timers.advance(h.timers.pending[0]!)
      child = h.spawned.at(-1)!
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000])
    h.timers.advance(60_000) // healthy for a minute
    child.exit(CRASHED)
    await settle()
    assert.deepEqual(h.timers.pending, [1_000])
  })

  test('a crash loop: gives up after the limit, with a message naming the log, and spawns nothing more', async () => {
    const h = harness({ ...POLICY, crashLoopLimit: 3 })
    h.first.exit(CRASHED)
    await settle()
    h.timers.advance(1_000)
    h.spawned[0]!.exit(CRASHED)
    await settle()
    h.timers.advance(2_000)
    h.spawned[1]!.exit({ code: 7, signal: null })
    await settle()
    assert.equal(h.sup.state, 'given-up')
    assert.deepEqual(h.timers.pending, [])
    assert.match(
      h.lines.at(-1)!,
      /exited with exit code 7: 3 crashes in a row, each within 60 s of its start; giving up on it \(crash loop\); see \/tmp\/x\/logs\/resource-3\.log/,
    )
    h.timers.advance(600_000)
    assert.equal(h.spawned.length, 2)
  })

  test('stopped on purpose: a pending restart is cancelled and later exits are ignored', async () => {
    const h = harness()
    h.first.exit(KILLED)
    await settle()
    h.sup.stop()
    assert.deepEqual(h.timers.pending, [])
    h.timers.advance(60_000)
    assert.equal(h.spawned.length, 0)

    const g = harness()
    g.sup.stop() // the devnet's Ctrl-C: its SIGTERM makes the child exit
    g.first.exit({ code: null, signal: 'SIGTERM' })
    await settle()
    g.timers.advance(60_000)
    assert.equal(g.spawned.length, 0)
    assert.deepEqual(g.lines, [])
  })

  test("a clean exit (code 0, e.g. an operator's SIGTERM) is not restarted", async () => {
    const h = harness()
    h.first.exit({ code: 0, signal: null })
    await settle()
    assert.equal(h.sup.state, 'exited')
    assert.deepEqual(h.timers.pending, [])
    assert.match(h.lines[0]!, /stopped on its own \(exit code 0\); not restarting it/)
  })

  test('a restart that cannot even spawn counts as a crash and backs off', async () => {
    const timers = new FakeTimers()
    const lines: string[] = []
    const first = new FakeChild()
    let attempts = 0
    const sup = new Supervisor(
      { timers, log: (l) => lines.push(l) },
      {
        name: 'meta',
        policy: { ...POLICY, crashLoopLimit: 3 },
        spawn: () => {
          attempts++
          throw new Error('EAGAIN')
        },
      },
      first,
    )
    first.exit(KILLED)
    await settle()
    timers.advance(1_000)
    assert.deepEqual(timers.pending, [2_000])
    assert.match(lines.at(-1)!, /exited with a failed restart \(EAGAIN\); restarting it in 2 s/)
    timers.advance(2_000)
    assert.equal(attempts, 2)
    assert.equal(sup.state, 'given-up')
  })
})
