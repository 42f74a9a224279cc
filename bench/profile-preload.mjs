/**
 * A CPU profile of a window of a process's life, for processes started by others (a devnet's nodes): load with
 * `NODE_OPTIONS=--import=/abs/bench/profile-preload.mjs` and PROFILE_DIR=DIR (Node 20 refuses --cpu-prof in
 * NODE_OPTIONS). The first SIGUSR2 starts the V8 sampling profiler, the next one stops it and writes
 * DIR/<pid>-<n>.cpuprofile (open in Chrome DevTools, or summarise with bench/profile-summary.mjs).
 */
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.env.PROFILE_DIR
if (dir) {
  const session = new Session()
  session.connect()
  let running = false
  let n = 0
  process.on('SIGUSR2', () => {
    if (!running) {
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 200 }, () =>
          session.post('Profiler.start', () => {
            running = true
          }),
        ),
      )
      return
    }
    session.post('Profiler.stop', (err, r) => {
      running = false
      if (!err) writeFileSync(join(dir, `${process.pid}-${++n}.cpuprofile`), JSON.stringify(r.profile))
    })
  })
}
