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
import { PostgresEngine } from '../../../../src/sds/meta/engine/postgres.ts'
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
