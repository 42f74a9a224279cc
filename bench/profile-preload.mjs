/**
 * A CPU profile of a window of a process's life, for processes started by others (a devnet's nodes): load with
 * `NODE_OPTIONS=--import=/abs/bench/profile-preload.mjs` and PROFILE_DIR=DIR (Node 20 refuses --cpu-prof in
 * NODE_OPTIONS). The first SIGUSR2 starts the V8 sampling profiler, the next one stops it and writes
 * DIR/<pid>-<n>.cpuprofile (open in Chrome DevTools, or summarise with bench/profile-summary.mjs).
 */
import { Session } from 'node:inspector'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'

const dir = process.env.PROFILE_DIR
if (dir) {
  const session = new Session()
  session.connect()
  let running = false
  let n = 0
  /** Garbage collections while the profiler runs: count and milliseconds per kind (written beside the profile). */
  let gcs = {}
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak',
  }
  new PerformanceObserver((list) => {
    if (!running) return
    for (const e of list.getEntries()) {
      const k = kinds[e.detail?.kind] ?? String(e.detail?.kind)
      gcs[k] ??= { count: 0, ms: 0 }
      gcs[k].count++
      gcs[k].ms += e.duration
    }
  }).observe({ entryTypes: ['gc'] })
  process.on('SIGUSR2', () => {
    if (!running) {
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 200 }, () =>
          session.post('Profiler.start', () => {
            running = true
            gcs = {}
            // Each collection's kind and reason on stdout (the devnet's log of this process) while profiling.
            if (process.env.PROFILE_TRACE_GC) setFlagsFromString('--trace-gc')
          }),
        ),
      )
      return
    }
    session.post('Profiler.stop', (err, r) => {
      running = false
      if (process.env.PROFILE_TRACE_GC) setFlagsFromString('--no-trace-gc')
      if (err) return
      writeFileSync(join(dir, `${process.pid}-${++n}.cpuprofile`), JSON.stringify(r.profile))
      writeFileSync(join(dir, `${process.pid}-${n}.gc.json`), JSON.stringify(gcs))
    })
  })
}
