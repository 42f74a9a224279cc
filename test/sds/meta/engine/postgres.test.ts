/**
 * The PostgreSQL engine against the engine compliance suite, on a real PostgreSQL this file starts (test/support/
 * postgres.ts), plus what only a shared engine has: two processes writing the same rows (serialization failures
 * retried, no update lost), and a process cut off from the server (its calls fail with NODE_UNAVAILABLE, fast,
 * and it is not ready).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { PostgresEngine } from '../../../../src/sds/meta/engine/postgres.ts'
import { encodeKey } from '../../../../src/sds/meta/engine/codec.ts'
import type { Table } from '../../../../src/sds/meta/engine/table.ts'
import { startTcpProxy } from '../../../support/tcp-proxy.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { freshPrefix, postgresSkip, startPostgres, type TestPostgres } from '../../../support/postgres.ts'
import { engineSuite } from './engine-suite.ts'

const skip = postgresSkip()
if (skip) {
  test(`postgres engine: skipped: ${skip}`, { skip }, () => {})
} else {
  let server: TestPostgres
  before(async () => {
    server = await startPostgres()
  })
  after(async () => {
    await server?.stop()
  })

  engineSuite('postgres', {
    async engine(t) {
      const e = new PostgresEngine(server.url, { tablePrefix: freshPrefix() })
      t.after(() => e.close())
      return e
    },
    async store(t) {
      const prefix = freshPrefix()
      const s = await MetaStore.open(server.url, { tablePrefix: prefix })
      ;(s as MetaStore & { prefix?: string }).prefix = prefix
      t.after(() => s.close())
      return s
    },
    async reopen(t, store) {
      const s = await MetaStore.open(server.url, { tablePrefix: (store as MetaStore & { prefix?: string }).prefix! })
      t.after(() => s.close())
      return s
    },
  })

  test('postgres: two processes crediting one node lose no update (conflicts are retried)', async (t) => {
    const prefix = freshPrefix()
    const store = await MetaStore.open(server.url, { tablePrefix: prefix })
    t.after(() => store.close())
    const worker = fileURLToPath(new URL('./postgres-counter-worker.ts', import.meta.url))
    const runs = 150
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, server.url, prefix, String(runs)], {
          stdio: ['ignore', 'inherit', 'inherit'],
        })
        child.once('error', reject)
        child.once('exit', (code) => resolve(code ?? -1))
      })
    const codes = await Promise.all([run(), run()])
    assert.deepEqual(codes, [0, 0])
    assert.deepEqual(store.pot.nodeTotal('stsds1n'), { bytes: 2 * runs * 3, orders: 2 * runs })
  })

  test('postgres: a write to a key another process deleted since this transaction read it conflicts (no lost delete)', async (t) => {
    const prefix = freshPrefix()
    // a commits without waiting for its WAL flush: b pads with one read round per run while it waits for a's commit,
    // and a transaction has at most 64 rounds — on a machine whose disk is busy (CI), one fsync outlasted them.
    const a = new PostgresEngine(`${server.url}?options=-c%20synchronous_commit%3Doff`, { tablePrefix: prefix })
    const b = new PostgresEngine(server.url, { tablePrefix: prefix })
    t.after(() => Promise.all([a.close(), b.close()]))
    const ta = a.openTables<{ kv: Table<{ owners: string[] }, string> }>(['kv']).kv
    const tb = b.openTables<{ kv: Table<{ owners: string[] }, string> }>(['kv']).kv
    await a.write(() => ta.putSync('rec', { owners: ['A'] }))
    // b reads the record (a file record a second owner joins), then a deletes it (its last owner leaves) and
    // commits, then b writes what it decided on its snapshot: b must run again, not bring the record back. b keeps
    // asking for one more read until a's delete committed, which orders the two without timing.
    let deleted = false
    let started: Promise<void> | undefined
    let pad = 0
    let runs = 0
    const joined = await b.write(() => {
      const r = tb.get('rec')
      runs++
      started ??= a
        .write(() => ta.removeSync('rec'))
        .then(() => {
          deleted = true
        })
      if (!deleted) tb.get(`pad${pad++}`)
      if (r) tb.putSync('rec', { owners: [...r.owners, 'B'] })
      return r
    })
    await started
    assert.equal(joined, undefined, 'the join ran again after the delete and found no record')
    assert.equal(ta.get('rec'), undefined, 'the delete is not lost')
    assert.ok(runs > 2)
    // The other way round: a key read as absent, inserted by another process before this one commits its insert.
    deleted = false
    started = undefined
    const made = await b.write(() => {
      const r = tb.get('new')
      started ??= a
        .write(() => ta.putSync('new', { owners: ['A'] }))
        .then(() => {
          deleted = true
        })
      if (!deleted) tb.get(`pad${pad++}`)
      if (!r) tb.putSync('new', { owners: ['B'] })
      return r
    })
    await started
    assert.deepEqual(made, { owners: ['A'] }, 'the insert ran again and found the other one')
    assert.deepEqual(ta.get('new'), { owners: ['A'] })
  })

  test('postgres: two meta processes granting to one payer promise exactly its ozone in total, each a fair share', async (t) => {
    const prefix = freshPrefix()
    const store = await MetaStore.open(server.url, { tablePrefix: prefix })
    t.after(() => store.close())
    const worker = fileURLToPath(new URL('./postgres-ozone-worker.ts', import.meta.url))
    // Ozone for 2,000 reads of 1 KiB, two processes with 4 grants in flight each, both asking at one rate (300/s,
    // counted from one start time: a process the machine held back catches up): each alone could hand out all of it.
    const bytes = 1_024
    const reads = 2_000
    const ozone = reads * bytes + bytes / 2
    type Out = { granted: number; refused: number; other: string[]; writes: number }
    const spawnWorker = () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', worker, server.url, prefix, String(ozone), String(bytes), '4', 'grant', '300'],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      )
      let out = ''
      let onReady: () => void = () => {}
      const ready = new Promise<void>((r) => {
        onReady = r
      })
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.startsWith('ready\n')) onReady()
      })
      const done = new Promise<Out>((resolve, reject) => {
        child.once('error', reject)
        child.once('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length))) : reject(new Error(`worker exited ${code}`)),
        )
      })
      return { child, ready, done }
    }
    const workers = [spawnWorker(), spawnWorker()]
    await Promise.all(workers.map((w) => w.ready))
    const t0 = Date.now()
    for (const w of workers) w.child.stdin.end(`go ${t0}\n`)
    const [a, b] = (await Promise.all(workers.map((w) => w.done))) as [Out, Out]
    t.diagnostic(
      `granted: ${a.granted / bytes} + ${b.granted / bytes} reads in ${a.writes} + ${b.writes} transactions, ${Date.now() - t0} ms`,
    )
    assert.deepEqual([a.other, b.other], [[], []])
    assert.equal(a.refused + b.refused, 8, 'every grant loop ended with a refusal')
    assert.equal(a.granted + b.granted, reads * bytes, 'all of the ozone, and not a byte more, was promised')
    // Fair: each process grants from its own lease at the rate it is asked, so neither starves the other (before
    // leases, the process whose batches held the payer's row kept it: 1,712 + 288, once in CI 2,000 + 0). A quarter
    // each leaves room for a process the machine holds back for a second.
    assert.ok(Math.min(a.granted, b.granted) >= (reads * bytes) / 4, 'each process granted at least a quarter')
    // Far fewer transactions than grants: leases, not one row write per batch.
    assert.ok(a.writes + b.writes < reads / 4, `${a.writes + b.writes} transactions`)
    // Both leases were written back on close: the row holds exactly the promises.
    const left = store.ozone.totals('st1sharedpayer', Date.now())
    assert.deepEqual([left.promised, left.leased], [reads * bytes, 0])
  })

  test('postgres: a connection reset in the middle of a transaction fails it with NODE_UNAVAILABLE; the process lives', async (t) => {
    const proxy = await startTcpProxy(server.port)
    t.after(() => proxy.close())
    const prefix = freshPrefix()
    const engine = new PostgresEngine(server.url, { tablePrefix: prefix })
    t.after(() => engine.close())
    engine.openTables(['kv'])
    // Another session holds the row's lock, so the worker's COMMIT round trip is in flight when the socket resets.
    const blocker = new pg.Client({ connectionString: server.url })
    await blocker.connect()
    t.after(() => blocker.end())
    await blocker.query('BEGIN')
    await blocker.query(`INSERT INTO ${prefix}kv (k, v) VALUES ($1, $2)`, [encodeKey('a'), Buffer.from('held')])
    const worker = fileURLToPath(new URL('./postgres-reset-worker.ts', import.meta.url))
    const viaProxy = server.url.replace(`:${server.port}/`, `:${proxy.port}/`)
    const child = spawn(process.execPath, ['--import', 'tsx', worker, viaProxy, prefix], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d))
    const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)))
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d
        if (out.includes('writing')) resolve()
      })
    })
    // The write is waiting for the lock once the server shows a lock not granted.
    for (let i = 0; ; i++) {
      const { rows } = await blocker.query('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted')
      if (rows[0].n > 0) break
      assert.ok(i < 200, `the worker's write waits for the lock: ${out} ${err}`)
      await new Promise((r) => setTimeout(r, 25))
    }
    proxy.cut({ reset: true })
    assert.equal(await exited, 0, `the worker lives: ${err}`)
    assert.deepEqual(out.trim().split('\n'), ['writing', 'NODE_UNAVAILABLE'])
    await blocker.query('ROLLBACK')
  })

  test('postgres: cut off from the server, calls fail fast with NODE_UNAVAILABLE and readiness fails', async (t) => {
    const own = await startPostgres()
    t.after(() => own.stop())
    const store = await MetaStore.open(own.url, { timeoutMs: 1_500 })
    t.after(() => store.close())
    await store.write(() => store.nonces.use('st1w', 'n1', 1))
    assert.equal(await store.ready(), true)
    own.process.kill('SIGKILL')
    await new Promise((r) => own.process.once('exit', r))
    const started = Date.now()
    await assert.rejects(
      store.write(() => store.nonces.use('st1w', 'n2', 1)),
      (e: Error & { code?: string }) => e.code === 'NODE_UNAVAILABLE',
    )
    assert.equal(await store.ready(), false)
    assert.throws(
      () => store.files.counters(),
      (e: Error & { code?: string }) => e.code === 'NODE_UNAVAILABLE',
    )
    assert.ok(Date.now() - started < 10_000, 'no call waits longer than its timeout')
  })
}
