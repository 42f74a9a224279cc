/**
 * CPU time spent by a set of processes, so each operation can be reported as "CPU cost" next to
 * its wall time. On a shared machine wall time depends on what else runs; CPU time much less.
 *
 * Our own process comes from process.cpuUsage(); others (the devnet's meta and resource nodes)
 * from /proc/<pid>/stat (utime + stime, in clock ticks). Where /proc is missing (not Linux) the
 * other processes count as zero and `complete` is false.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** utime + stime of a process in ms, or undefined when it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which is in parentheses and may contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return ((utime + stime) * 1000) / clockTicks()
  } catch {
    return undefined
  }
}

/** The pids of a process's direct children (a PostgreSQL postmaster's: its backends, the WAL writer, …), from /proc. */
export function childPids(root: number): number[] {
  const out: number[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root) out.push(Number(pid))
    } catch {}
  }
  return out
}

/**
 * CPU ms of a process and its direct children (`sys`: the kernel's part only): its own time, the time of its children
 * that exited and were reaped (cutime, cstime: a postmaster reaps its closed connections' backends) and that of the
 * live ones — a sum that never falls when a child exits.
 */
export function processTreeCpuMs(root: number, part: 'all' | 'sys' = 'all'): number {
  const fieldsOf = (pid: number): string[] | undefined => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    } catch {
      return undefined
    }
  }
  const msOf = (f: string[] | undefined, own: boolean): number => {
    if (!f) return 0
    // utime 11, stime 12, cutime 13, cstime 14 (after the command name).
    const ticks =
      part === 'sys'
        ? Number(f[12]) + (own ? Number(f[14]) : 0)
        : Number(f[11]) + Number(f[12]) + (own ? Number(f[13]) + Number(f[14]) : 0)
    return (ticks * 1000) / clockTicks()
  }
  return childPids(root).reduce((sum, pid) => sum + msOf(fieldsOf(pid), false), msOf(fieldsOf(root), true))
}

/**
 * A full garbage collection before each measured operation (`npm run bench` runs with --expose-gc).
 * The harness process hosts both the Stratos client and Helia: without it, one side's garbage is
 * collected on the other side's clock (seen: Stratos downloads alternating between ~0.5 and ~0.75 s
 * of CPU, the slow ones right after a Helia cat).
 */
export function collectGarbage(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

export interface CpuSnapshot {
  ms: number
  complete: boolean
}

/** CPU ms used so far by this process plus the given other processes. */
export function cpuSnapshot(otherPids: readonly number[] = []): CpuSnapshot {
  const self = process.cpuUsage()
  let ms = (self.user + self.system) / 1000
  let complete = true
  for (const pid of otherPids) {
    const t = processCpuMs(pid)
    if (t === undefined) complete = false
    else ms += t
  }
  return { ms, complete }
}

/** Runs `fn` and returns its result with the CPU ms this process and `otherPids` spent meanwhile. */
export async function withCpu<T>(
  otherPids: readonly number[],
  fn: () => Promise<T>,
): Promise<{ value: T; cpuMs: number }> {
  collectGarbage()
  const before = cpuSnapshot(otherPids)
  const value = await fn()
  const after = cpuSnapshot(otherPids)
  return { value, cpuMs: after.ms - before.ms }
}
