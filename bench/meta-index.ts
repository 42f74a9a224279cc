/**
 * Meta index throughput: small uploads and 1 MiB range reads through one meta node whose index is PostgreSQL (two
 * meta processes over one database, the load split between them) and, beside it, the same run with LMDB (one
 * process: an LMDB index belongs to one process). Issue 17's targets, through 2 processes over PostgreSQL:
 * ≥ 200 uploads/s of 64 KiB files and ≥ 500 reads/s of 1 MiB ranges.
 *
 * Each run: a fresh PostgreSQL (fsync on) or LMDB index, 3 resource nodes (`--sync none`), k=2 m=1, storage only
 * (no chain). Uploads: `--concurrency` SDK puts in flight for `--seconds`, each file 64 KiB of distinct bytes.
 * Reads: one 32 MiB file, then `--concurrency` 1 MiB range reads at random offsets in flight for `--seconds`, each
 * checked against the bytes uploaded. The load generator is this one process (two SDK clients, one per meta URL
 * first), so on a small machine it competes with the nodes for the CPU: the load average is printed with the numbers.
 *
 * Usage: npm run -s build && node --import tsx bench/meta-index.ts [--seconds 20] [--concurrency 16]
 *        [--engine postgres|lmdb|both]
 * Writes bench/results/<date>-meta-index.json.
 */
import { parseArgs } from 'node:util'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { StratosClient, WalletKey } from '../src/sds/client/index.ts'
import { MetaClient } from '../src/net/meta-client.ts'
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts'
import { startRole, stopRole, type RoleProcess } from '../test/support/roles.ts'

const MiB = 1 << 20
const CHAIN_ID = 'stratos-bench-meta'
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    engine: { type: 'string', default: 'both' },
  },
})
const SECONDS = Number(args.seconds)
const CONCURRENCY = Number(args.concurrency)
const wallet = WalletKey.fromPrivateKeyHex('6b'.repeat(32))

interface Result {
  engine: 'postgres' | 'lmdb'
  metaProcesses: number
  uploads: { count: number; perSecond: number; errors: number; p50Ms: number; p90Ms: number }
  reads: { count: number; perSecond: number; errors: number; mismatches: number; p50Ms: number; p90Ms: number }
  loadavg: { start: number[]; end: number[] }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : Number.NaN
}

async function timed(seconds: number, workers: number, op: (worker: number) => Promise<void>) {
  const latencies: number[] = []
  let errors = 0
  const firstError = new Map<string, string>()
  const until = Date.now() + seconds * 1000
  const started = Date.now()
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (Date.now() < until) {
        const t0 = performance.now()
        try {
          await op(w)
          latencies.push(performance.now() - t0)
        } catch (e) {
          errors++
          const code = (e as { code?: string }).code ?? 'other'
          if (!firstError.has(code)) firstError.set(code, String((e as Error).message ?? e))
        }
      }
    }),
  )
  const elapsed = (Date.now() - started) / 1000
  if (firstError.size) console.error('errors:', Object.fromEntries(firstError))
  return { latencies, errors, elapsed }
}

async function run(engine: 'postgres' | 'lmdb'): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), `stratos-bench-meta-${engine}-`))
  let pg: TestPostgres | undefined
  const procs: RoleProcess[] = []
  const clients: StratosClient[] = []
  try {
    const metaArgs = (dataDir: string, index?: string) => [
      '--data-dir',
      dataDir,
      ...(index ? ['--index', index] : []),
      '--port',
      '0',
      '--chain-id',
      CHAIN_ID,
      '--k',
      '2',
      '--m',
      '1',
      '--segment-size',
      '32MiB',
    ]
    const metas: RoleProcess[] = []
    if (engine === 'postgres') {
      pg = await startPostgres({ durable: true })
      const index = await createDatabase(pg)
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-a'), index)))
      mkdirSync(join(dir, 'meta-b'))
      copyFileSync(join(dir, 'meta-a', 'node-key.json'), join(dir, 'meta-b', 'node-key.json'))
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-b'), index)))
    } else {
      metas.push(await startRole('meta', metaArgs(join(dir, 'meta-a'))))
    }
    procs.push(...metas)
    const urls = metas.map((m) => m.url)
    for (let i = 0; i < 3; i++) {
      procs.push(
        await startRole('resource', [
          '--data-dir',
          join(dir, `node-${i}`),
          '--port',
          '0',
          '--meta-url',
          urls.join(','),
          '--meta-address',
          metas[0]!.address,
          '--chain-id',
          CHAIN_ID,
          '--sync',
          'none',
          '--heartbeat-interval-ms',
          '500',
        ]),
      )
    }
    for (const url of urls) {
      const deadline = Date.now() + 30_000
      while ((await new MetaClient(url).status()).totals.nodesOnline < 3) {
        if (Date.now() > deadline) throw new Error(`nodes not online at ${url}`)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    // One client per meta process, each naming its process first (the other as its failover): the load is split.
    for (let i = 0; i < urls.length; i++) {
      const order = [...urls.slice(i), ...urls.slice(0, i)].join(',')
      clients.push(await StratosClient.connect({ metaUrl: order, wallet }))
    }
    const loadStart = loadavg()

    const base = randomBytes(64 * 1024)
    let serial = 0
    const up = await timed(SECONDS, CONCURRENCY, async (w) => {
      const data = Buffer.from(base)
      data.writeUInt32BE(serial++, 0)
      data.writeUInt32BE(process.pid, 4)
      await clients[w % clients.length]!.put(data)
    })

    const big = randomBytes(32 * MiB)
    const { cid } = await clients[0]!.put(big)
    let mismatches = 0
    const rd = await timed(SECONDS, CONCURRENCY, async (w) => {
      const offset = Math.floor(Math.random() * (big.length - MiB))
      const parts: Uint8Array[] = []
      for await (const c of clients[w % clients.length]!.cat(cid, { offset, length: MiB })) parts.push(c)
      if (!Buffer.concat(parts).equals(big.subarray(offset, offset + MiB))) mismatches++
    })
    const loadEnd = loadavg()
    return {
      engine,
      metaProcesses: metas.length,
      uploads: {
        count: up.latencies.length,
        perSecond: up.latencies.length / up.elapsed,
        errors: up.errors,
        p50Ms: pct(up.latencies, 0.5),
        p90Ms: pct(up.latencies, 0.9),
      },
      reads: {
        count: rd.latencies.length,
        perSecond: rd.latencies.length / rd.elapsed,
        errors: rd.errors,
        mismatches,
        p50Ms: pct(rd.latencies, 0.5),
        p90Ms: pct(rd.latencies, 0.9),
      },
      loadavg: { start: loadStart, end: loadEnd },
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()))
    await Promise.allSettled(procs.map(stopRole))
    await pg?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const engines: ('postgres' | 'lmdb')[] =
  args.engine === 'both' ? ['postgres', 'lmdb'] : [args.engine as 'postgres' | 'lmdb']
const results: Result[] = []
for (const e of engines) {
  console.error(`meta-index bench: ${e} …`)
  results.push(await run(e))
}
const f1 = (n: number) => n.toFixed(1)
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? '?'} × ${cpus().length} cores, ${SECONDS} s per phase, ${CONCURRENCY} in flight`,
)
console.log(
  '| index | meta processes | uploads/s (64 KiB) | upload p50 / p90 | 1 MiB reads/s | read p50 / p90 | errors | load avg start → end |',
)
console.log('|---|---:|---:|---:|---:|---:|---:|---|')
for (const r of results) {
  console.log(
    `| ${r.engine} | ${r.metaProcesses} | ${f1(r.uploads.perSecond)} | ${f1(r.uploads.p50Ms)} / ${f1(r.uploads.p90Ms)} ms | ${f1(r.reads.perSecond)} | ${f1(r.reads.p50Ms)} / ${f1(r.reads.p90Ms)} ms | ${r.uploads.errors + r.reads.errors} (mismatched ${r.reads.mismatches}) | ${r.loadavg.start.map(f1).join(' ')} → ${r.loadavg.end.map(f1).join(' ')} |`,
  )
}
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true })
const out = join(import.meta.dirname, 'results', `${new Date().toISOString().slice(0, 10)}-meta-index.json`)
writeFileSync(
  out,
  JSON.stringify({ seconds: SECONDS, concurrency: CONCURRENCY, cpus: cpus().length, results }, null, 2),
)
console.error(`wrote ${out}`)
