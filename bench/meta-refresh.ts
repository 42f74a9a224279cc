/**
 * What a meta process over PostgreSQL pays for its periodic reads of the shared index (the 1 s reload of node records
 * and reputation, and the status view's counters), read the old way — synchronous reads through the worker bridge
 * (engine/pg-bridge.ts), which block the event loop for each round trip — and the new way, async read-only
 * transactions (MetaStore.read, what node.ts does), interleaved sync, async, sync, async on one fresh PostgreSQL.
 * Per refresh: wall ms, ms the event loop was blocked waiting (sync only), CPU ms, and the largest event-loop gap and
 * p99 loop delay seen meanwhile by a setImmediate ticker / monitorEventLoopDelay.
 *
 * Usage: flock /work/coord/bench.lock node --import tsx bench/meta-refresh.ts [ROWS=50] [ITERATIONS=200]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { MetaStore } from '../src/sds/meta/store.ts'
import { freshPrefix, startPostgres } from '../test/support/postgres.ts'
const server = await startPostgres()
const N = Number(process.argv[2] ?? 50)
const ITER = Number(process.argv[3] ?? 200)
try {
  const store = await MetaStore.open(server.url, { tablePrefix: freshPrefix() })
  await store.write(() => {
    for (let i = 0; i < N; i++) {
      const address = `stsds1node${String(i).padStart(4, '0')}`
      store.nodes.put({
        address,
        url: `http://${address}.test`,
        version: '1',
        registeredAt: 1,
        lastSeen: 1,
        seq: 1,
        capacityBytes: 10,
        freeBytes: 5,
        usedBytes: 5,
        shardCount: 1,
        load: 0,
      })
      store.reputation.put({
        node: address,
        audit: { alpha: 1, beta: 0 },
        online: { alpha: 1, beta: 0 },
        audits: 0,
        failedAudits: 0,
        recentFailures: [],
        incidents: 0,
      } as never)
    }
  })
  for (const mode of ['sync', 'async', 'sync', 'async']) {
    const h = monitorEventLoopDelay({ resolution: 1 })
    h.enable()
    let maxGap = 0
    let last = performance.now()
    let ticking = true
    const tick = (): void => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      if (ticking) setImmediate(tick)
    }
    setImmediate(tick)
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    let blocked = 0
    for (let i = 0; i < ITER; i++) {
      if (mode === 'sync') {
        const b0 = performance.now()
        store.nodes.all()
        store.reputation.all()
        store.files.counters()
        store.uploads.count()
        blocked += performance.now() - b0
        await new Promise((r) => setImmediate(r))
      } else {
        await store.read(() => {
          store.prefetch([...store.nodes.allReads(), ...store.reputation.allReads()])
          return { n: store.nodes.all(), r: store.reputation.all() }
        })
        await store.read(() => {
          store.prefetch(store.files.countersReads())
          return { c: store.files.counters(), u: store.uploads.count() }
        })
      }
    }
    const wall = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    ticking = false
    h.disable()
    console.log(
      JSON.stringify({
        mode,
        rows: N,
        iterations: ITER,
        msPerRefresh: +(wall / ITER).toFixed(3),
        blockedMsPerRefresh: +(blocked / ITER).toFixed(3),
        cpuMsPerRefresh: +((cpu.user + cpu.system) / 1000 / ITER).toFixed(3),
        maxEventLoopGapMs: +maxGap.toFixed(2),
        loopDelayP99Ms: +(h.percentile(99) / 1e6).toFixed(2),
      }),
    )
  }
  await store.close()
} finally {
  await server.stop()
}
