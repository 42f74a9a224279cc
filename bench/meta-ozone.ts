/**
 * The ozone guard's shared books under one fast payer: grants of 1,000-byte read limits to ONE payer (its row of the
 * ozone store is written by every grant) from 1 or 2 processes over one fresh PostgreSQL, 8 grants in flight per
 * process, 3,000 grants in all (test/sds/meta/engine/postgres-ozone-worker.ts), unbatched (`single`: each grant its
 * own transaction) and batched (`grant`: OzoneGuard.grant, what a read does), interleaved. Timed from the start
 * signal to the last process's exit (the processes' startup excluded).
 *
 * Usage: flock /work/coord/bench.lock node --import tsx bench/meta-ozone.ts
 */
import { spawn } from 'node:child_process'
import { freshPrefix, startPostgres } from '../test/support/postgres.ts'
import { MetaStore } from '../src/sds/meta/store.ts'
const server = await startPostgres()
const worker = new URL('../test/sds/meta/engine/postgres-ozone-worker.ts', import.meta.url).pathname
try {
  for (const [procs, conc, mode] of [
    [1, 8, 'single'],
    [1, 8, 'grant'],
    [2, 8, 'single'],
    [2, 8, 'grant'],
    [1, 8, 'single'],
    [1, 8, 'grant'],
    [2, 8, 'single'],
    [2, 8, 'grant'],
  ] as const) {
    const prefix = freshPrefix()
    const s = await MetaStore.open(server.url, { tablePrefix: prefix })
    await s.close()
    const grants = 3000
    const ws = Array.from({ length: procs }, () => {
      const c = spawn(
        process.execPath,
        ['--import', 'tsx', worker, server.url, prefix, String(grants * 1000), '1000', String(conc), mode],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      )
      let out = ''
      let ready!: () => void
      const r = new Promise<void>((res) => (ready = res))
      c.stdout.on('data', (d) => {
        out += d
        if (out.startsWith('ready\n')) ready()
      })
      const done = new Promise<string>((res) => c.on('exit', () => res(out.slice(6).trim())))
      return { c, r, done }
    })
    await Promise.all(ws.map((w) => w.r))
    const t0 = Date.now()
    for (const w of ws) w.c.stdin.end('go\n')
    const outs = await Promise.all(ws.map((w) => w.done))
    const ms = Date.now() - t0
    console.log(JSON.stringify({ mode, procs, conc, grants, ms, perSecond: Math.round((grants / ms) * 1000), outs }))
  }
} finally {
  await server.stop()
}
