/**
 * The meta index's PostgreSQL path alone: the CPU this process spends per upload in the engine and the stores, without
 * HTTP, signatures or the other roles. Each upload replays what uploads.ts does in its two transactions — create (with
 * segment 0 placed on 3 of the nodes) and commit (the file record, its owner, shard index, counters, committed PUTs,
 * or per-order entries, and the session's end) — through MetaStore's stores, `--concurrency` uploads in flight, over a fresh PostgreSQL.
 * PostgreSQL's CPU (the postmaster and its backends, from /proc) is printed apart.
 *
 * Usage: node --import tsx bench/pg-engine.ts [--uploads 2000] [--concurrency 16] [--root DIR]
 * `--root DIR`: the source tree whose src/ is measured (default this one): run it once per tree, interleaved, to
 * compare two branches on the same PostgreSQL setup.
 */
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { freshPrefix, startPostgres } from '../test/support/postgres.ts'
import { processTreeCpuMs } from './cpu.ts'

const { values: args } = parseArgs({
  options: {
    uploads: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    root: { type: 'string', default: resolve(import.meta.dirname, '..') },
    warmup: { type: 'string', default: '500' },
  },
})
const UPLOADS = Number(args.uploads)
const CONCURRENCY = Number(args.concurrency)
const WARMUP = Number(args.warmup)
const root = resolve(args.root)

type Store = import('../src/sds/meta/store.ts').MetaStore
const { MetaStore } = (await import(join(root, 'src/sds/meta/store.ts'))) as typeof import('../src/sds/meta/store.ts')

const server = await startPostgres({ durable: true })

/** CPU ms of the server: the postmaster and every backend it forked (its connections, the WAL writer, …). */
const serverCpuMs = (): number => processTreeCpuMs(server.process.pid!)
const store: Store = await MetaStore.open(server.url, { tablePrefix: freshPrefix() })

const NODES = Array.from({ length: 3 }, () => `0x${randomBytes(20).toString('hex')}`)
const SIGNER = `0x${randomBytes(20).toString('hex')}`
const hex = (n: number): string => randomBytes(n).toString('hex')

async function upload(now: number): Promise<void> {
  const uploadId = hex(16)
  const shards = [hex(32), hex(32), hex(32)]
  const nonce = hex(16)
  // create: the nonce, the session, every location placement may look at, in one round; then the writes.
  await store.write(() => {
    const pairs: [string, string][] = []
    for (const id of shards) for (const node of NODES) pairs.push([node, id])
    store.prefetch([
      ...store.nonces.reads([[SIGNER, nonce]]),
      ...store.uploads.reads({ sessions: [uploadId] }),
      ...store.locations.reads(pairs),
    ])
    store.nonces.use(SIGNER, nonce, now + 60_000)
    if (store.uploads.get(uploadId) !== undefined) throw new Error('id taken')
    for (const id of shards) for (const node of NODES) store.locations.locationBlocked(node, id)
    const segShards = shards.map((id, i) => ({ id, node: NODES[i]!, serial: hex(16), attempts: 1 }))
    for (const s of segShards) {
      store.locations.addRef(s.node, s.id)
      store.uploads.addTicket(uploadId, s.node, s.id)
    }
    store.uploads.putSegment(uploadId, 0, { index: 0, size: 65_536, shardSize: 32_768, shards: segShards })
    store.uploads.put({
      uploadId,
      owner: SIGNER,
      k: 2,
      m: 1,
      segmentSize: 8 << 20,
      declaredSize: 65_536,
      orderKey: hex(32),
      createdAt: now,
      lastActivity: now,
      expiresAt: now + 3_600_000,
      segmentCount: 1,
    })
  })
  // commit: the session, its segments and tickets, the nonce, the record and its counters; then the locations.
  const cid = `bafkrei${hex(26)}`
  const commitNonce = hex(16)
  await store.write(() => {
    store.prefetch([
      ...store.uploads.reads({ sessions: [uploadId], segmentsOf: [uploadId], ticketsOf: [uploadId] }),
      ...store.nonces.reads([[SIGNER, commitNonce]]),
      ...store.files.reads([cid]),
    ])
    const s = store.uploads.get(uploadId)
    if (!s) throw new Error('no session')
    store.nonces.use(SIGNER, commitNonce, now + 60_000)
    const segments = store.uploads.segments(uploadId)
    store.prefetch(
      store.locations.reads(segments.flatMap((seg) => seg.shards.map((x): [string, string] => [x.node, x.id]))),
    )
    if (store.files.get(cid)) throw new Error('exists')
    const segmentRecords = segments.map((seg) => ({
      index: seg.index,
      size: seg.size,
      shardSize: seg.shardSize,
      shards: seg.shards.map((x) => ({ id: x.id, node: x.node })),
    }))
    store.files.create(
      {
        cid,
        kind: 'file',
        size: 65_536,
        owners: [SIGNER],
        createdAt: now,
        k: 2,
        m: 1,
        segmentSize: 8 << 20,
        segments: segmentRecords,
        blockCount: 0,
      },
      SIGNER,
      { createdAt: now, kind: 'file', size: 65_536 },
      [],
    )
    // What the commit records for the nodes' pay (pot/put-credits.ts), as of fb485f8; older trees paid per order.
    const pot = store.pot as unknown as Record<string, (...a: unknown[]) => void>
    if (typeof pot.addPutCredit === 'function')
      pot.addPutCredit(uploadId, {
        payer: SIGNER,
        cid,
        puts: segments.flatMap((seg) => seg.shards.map((x) => [x.node, seg.shardSize, 0, 0])),
      })
    else pot.recordCommittedPuts!(uploadId, cid, segmentRecords, now + 3_600_000)
    for (const [node, shard] of store.uploads.tickets(uploadId)) {
      store.locations.queueDeleteIfUnreferenced(node, shard, now)
      store.uploads.removeTicket(uploadId, node, shard)
    }
    store.uploads.remove(uploadId)
  })
}

async function run(n: number): Promise<{ cpuMs: number; wallMs: number }> {
  let next = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++
        await upload(Date.now())
      }
    }),
  )
  const cpu = process.cpuUsage(cpu0)
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0 }
}

const load0 = loadavg()
await run(WARMUP)
const pg0 = serverCpuMs()
const { cpuMs, wallMs } = await run(UPLOADS)
const pg1 = serverCpuMs()
console.log(
  `${root}: ${UPLOADS} uploads (create + commit), ${CONCURRENCY} in flight: ` +
    `${(cpuMs / UPLOADS).toFixed(3)} ms CPU per upload in this process, ${((UPLOADS / wallMs) * 1000).toFixed(0)} uploads/s` +
    `, PostgreSQL ${((pg1 - pg0) / UPLOADS).toFixed(3)} ms` +
    ` | load ${load0.map((l) => l.toFixed(1)).join(' ')} → ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
)
await store.close()
await server.stop()
