/**
 * The ozone guard's shared books under one fast payer: grants of 1,000-byte read limits to ONE payer from 1 or 2
 * processes over one fresh PostgreSQL, 8 grants in flight per process (test/sds/meta/engine/postgres-ozone-worker.ts),
 * each grant a transaction of its own writing the payer's row (`single`), or as a read grants (`grant`:
 * OzoneGuard.grant — from the process's lease, a transaction per lease), interleaved: 3,000 grants in all unpaced
 * (as fast as they go), and 6,000 with each process asking 1,000/s (`rate`: how the grants split, and how many
 * transactions they cost). Timed from the start signal to the last process's exit (startup excluded; the exit waits
 * for the last refusals — a refused request may wait up to two lease periods for another process's lease — and for
 * the leases to be written back).
 *
 * Usage: flock /work/coord/bench.lock node --import tsx bench/meta-ozone.ts
 */
import { spawn } from 'node:child_process'
import { freshPrefix, startPostgres } from '../test/support/postgres.ts'
import { MetaStore } from '../src/sds/meta/store.ts'
const server = await startPostgres()
const worker = new URL('../test/sds/meta/engine/postgres-ozone-worker.ts', import.meta.url).pathname
try {
  for (const [procs, conc, mode, grants, rate] of [
    [1, 8, 'single', 3000, 0],
    [1, 8, 'grant', 3000, 0],
    [2, 8, 'single', 3000, 0],
    [2, 8, 'grant', 3000, 0],
    [2, 8, 'grant', 6000, 1000],
    [1, 8, 'single', 3000, 0],
    [1, 8, 'grant', 3000, 0],
    [2, 8, 'single', 3000, 0],
    [2, 8, 'grant', 3000, 0],
    [2, 8, 'grant', 6000, 1000],
  ] as const) {
    const prefix = freshPrefix()
    const s = await MetaStore.open(server.url, { tablePrefix: prefix })
    await s.close()
    const ws = Array.from({ length: procs }, () => {
      const c = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          worker,
          server.url,
          prefix,
          String(grants * 1000),
          '1000',
          String(conc),
          mode,
          String(rate),
        ],
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
    for (const w of ws) w.c.stdin.end(`go ${t0}\n`)
    const outs = await Promise.all(ws.map((w) => w.done))
    const ms = Date.now() - t0
    console.log(
      JSON.stringify({ mode, procs, conc, rate, grants, ms, perSecond: Math.round((grants / ms) * 1000), outs }),
    )
  }
} finally {
  await server.stop()
}
