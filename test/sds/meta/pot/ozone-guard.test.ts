/**
 * OzoneGuard: balance minus promised (unexpired limits) minus accepted (settled, not yet charged) minus held (just
 * charged) bounds new limits; the books are the payer's row of the index (stores/ozone.ts), written in the granting
 * transaction. Two processes over one PostgreSQL: test/sds/meta/pot/ozone-shared.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { StratosError } from '../../../../src/errors.ts'
import { CLOCK_SKEW_MS, OZONE_PROMISE_BUCKET_MS } from '../../../../src/limits.ts'
import { ManualClock, silentLogger } from '../../../../src/util/components.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'

const payer = 'st1payer'

/** The guard's one chain dependency: balances by wallet, counting reads and fresh reads. */
function chainWith(balances: Map<string, bigint>) {
  const reads = { cached: 0, fresh: 0 }
  return {
    reads,
    ozone: async (w: string, o: { fresh?: boolean } = {}) => {
      reads[o.fresh ? 'fresh' : 'cached']++
      return balances.get(w) ?? 0n
    },
  }
}

async function openStore(t: TestContext): Promise<MetaStore> {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-ozone-guard-'))
  const store = await MetaStore.open(dir)
  t.after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return store
}

async function refused(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof StratosError)
    assert.equal(e.code, 'INSUFFICIENT_OZONE')
    assert.match(e.message, /stratos prepay/)
    return e.details as Record<string, unknown>
  }
  assert.fail('expected INSUFFICIENT_OZONE')
}

test('limits are granted while ozone minus promises covers them; the refusal names the shortfall', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const balances = new Map([[payer, 1_000n]])
  const g = new OzoneGuard({ chain: chainWith(balances), store, clock, logger: silentLogger })
  const oz = await g.balance(payer)
  const exp = clock.now() + 60_000
  await store.write(() => g.reserve(payer, oz, 600, exp))
  await store.write(() => g.reserve(payer, oz, 400, exp))
  assert.deepEqual(await refused(store.write(() => g.reserve(payer, oz, 1, exp))), {
    payer,
    needed: '1',
    available: '0',
    shortfall: '1',
  })
  assert.deepEqual(await refused(store.write(() => g.check('st1nobody', 0n, 10))), {
    payer: 'st1nobody',
    needed: '10',
    available: '0',
    shortfall: '10',
  })
  // A transaction that fails after reserving promised nothing: the rollback takes the promise back.
  await assert.rejects(
    store.write(() => {
      g.reserve('st1other', 100n, 100, exp)
      throw new StratosError('CONFLICT', 'later step failed')
    }),
    (e) => e instanceof StratosError && e.code === 'CONFLICT',
  )
  assert.deepEqual(g.outstanding('st1other'), { promised: 0, accepted: 0, held: 0, leased: 0 })
  assert.deepEqual(g.outstanding(payer), { promised: 1_000, accepted: 0, held: 0, leased: 0 })
  // Expired limits stop counting (after the clock skew a node allows, at the end of their expiry bucket).
  clock.advance(60_000 + OZONE_PROMISE_BUCKET_MS + CLOCK_SKEW_MS)
  assert.deepEqual(g.outstanding(payer), { promised: 0, accepted: 0, held: 0, leased: 0 })
  await store.write(() => g.reserve(payer, oz, 1_000, clock.now() + 60_000))
})

test('settled orders move from promised to accepted until their report is charged, then are held a moment', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const balances = new Map([[payer, 1_000n]])
  const chain = chainWith(balances)
  const g = new OzoneGuard({ chain, store, clock, logger: silentLogger, holdMs: 4_000 })
  const exp = clock.now() + 60_000
  const oz = await g.balance(payer)
  await store.write(() => g.reserve(payer, oz, 800, exp))
  // One 400-byte limit settled with 300 bytes spent: its 400 promised go, 300 wait for the chain.
  await store.write(() => g.settled(payer, 400, exp, 300))
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 300, held: 0, leased: 0 })
  assert.equal(g.available(payer, 1_000n), 300n)
  // A limit settled after its bucket expired only adds its bytes (no other promise is drained).
  await store.write(() => g.settled(payer, 400, clock.now() - 120_000, 10))
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 310, held: 0, leased: 0 })
  // The report is included: the chain charged 310; this process reads the balance fresh next, and other processes'
  // cached balances may still predate the charge, so the bytes stay counted for holdMs.
  balances.set(payer, 690n)
  await store.write(() => g.charged(payer, 310))
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 0, held: 310, leased: 0 })
  const before = chain.reads.fresh
  assert.equal(await g.balance(payer), 690n)
  assert.equal(chain.reads.fresh, before + 1)
  assert.equal(g.available(payer, 1_000n), 290n, 'a stale balance cannot re-promise the charged bytes')
  clock.advance(4_000)
  assert.equal(g.available(payer, 690n), 290n)
  // Credits that will never be charged (dropped) leave at once.
  await store.write(() => g.settled(payer, 0, exp, 50))
  await store.write(() => g.charged(payer, 50, false))
  assert.deepEqual(g.outstanding(payer), { promised: 400, accepted: 0, held: 0, leased: 0 })
})

test('restore: accepted bytes of an older index are added once; empty rows are deleted or pruned', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const g = new OzoneGuard({ chain: chainWith(new Map()), store, clock, logger: silentLogger })
  // MetaStore.open of a fresh index does not mark it: the reporter's start does, with what the credits say.
  const credits = [
    { payer, bytes: 30 },
    { payer, bytes: 20 },
  ]
  assert.equal(await store.write(() => g.restoreAccepted(() => credits)), true)
  assert.equal(await store.write(() => g.restoreAccepted(() => credits)), false, 'once per index')
  assert.deepEqual(g.outstanding(payer), { promised: 0, accepted: 50, held: 0, leased: 0 })
  await store.write(() => g.charged(payer, 50, false))
  await store.write(() => g.reserve('st1a', 100n, 10, clock.now() + 1_000))
  await store.write(() => g.reserve('st1b', 100n, 10, clock.now() + 600_000))
  clock.advance(1_000 + OZONE_PROMISE_BUCKET_MS + CLOCK_SKEW_MS)
  assert.deepEqual(await store.write(() => g.prune('', 10)), { last: 'st1b', removed: 1 })
  assert.deepEqual(await store.write(() => g.prune('st1b', 10)), { last: undefined, removed: 0 })
  assert.equal(g.outstanding('st1b').promised, 10)
})

test("grant: a read's reservation in a transaction of its own, batched per payer; a refused one is refused alone", async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  let writes = 0
  const counted = {
    ozone: store.ozone,
    prefetch: store.prefetch.bind(store),
    write: <T>(fn: () => T, o?: { durable?: boolean }) => {
      writes++
      return store.write(fn, o)
    },
  }
  const g = new OzoneGuard({ chain: chainWith(new Map()), store: counted, clock, logger: silentLogger })
  const exp = clock.now() + 60_000
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => g.grant(payer, 550n, 100, exp)))
  assert.deepEqual(
    results.map((r) => r.status),
    [
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
    ],
  )
  for (const r of results.slice(5)) {
    assert.equal(((r as PromiseRejectedResult).reason as StratosError).code, 'INSUFFICIENT_OZONE')
  }
  assert.equal(writes, 2, 'the first alone, the nine that waited for it together')
  assert.deepEqual(g.outstanding(payer), { promised: 500, accepted: 0, held: 0, leased: 0 })
  // Other payers are not held up by this one's transaction, and nothing waits afterwards.
  await Promise.all([g.grant('st1a', 100n, 100, exp), g.grant('st1b', 100n, 100, exp)])
  assert.equal(writes, 4)
})

test('a chain that cannot be read: the last balance seen is used; an unknown payer is refused as unavailable', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  let up = true
  const chain = {
    ozone: async () => {
      if (!up) throw new Error('connection refused')
      return 500n
    },
  }
  const g = new OzoneGuard({ chain, store, clock, logger: silentLogger })
  assert.equal(await g.balance(payer), 500n)
  up = false
  assert.equal(await g.balance(payer), 500n)
  await assert.rejects(g.balance('st1never'), (e) => e instanceof StratosError && e.code === 'NODE_UNAVAILABLE')
})

/** The guard's store with its write transactions counted. */
function counting(store: MetaStore) {
  const c = {
    writes: 0,
    ozone: store.ozone,
    prefetch: store.prefetch.bind(store),
    write: <T>(fn: () => T, o?: { durable?: boolean }) => {
      c.writes++
      return store.write(fn, o)
    },
  }
  return c
}

test('leases: a busy payer is granted from a lease in memory; the lease is written back as promises on close', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const s = counting(store)
  const g = new OzoneGuard({ chain: chainWith(new Map()), store: s, clock, logger: silentLogger, holder: 'A' })
  const exp = clock.now() + 60_000
  for (let round = 0; round < 20; round++)
    await Promise.all(Array.from({ length: 10 }, () => g.grant(payer, 10n ** 9n, 1_000, exp)))
  t.diagnostic(`writes ${s.writes}`)
  assert.ok(s.writes <= 8, `200 grants in ${s.writes} transactions`)
  const during = g.outstanding(payer)
  assert.ok(during.leased > 0, 'a lease is on the row')
  assert.ok(during.promised + during.leased >= 200_000, 'every grant is counted on the row, as a promise or leased')
  assert.ok(during.leased <= (10n ** 9n - 200_000n) / 4n, 'at most a quarter of what was free')
  await g.close()
  assert.deepEqual(g.outstanding(payer), { promised: 200_000, accepted: 0, held: 0, leased: 0 })
  // After close, grants go to the row one transaction each (batched), no lease.
  const before = s.writes
  await g.grant(payer, 10n ** 9n, 1_000, exp)
  assert.equal(s.writes, before + 1)
  assert.deepEqual(g.outstanding(payer), { promised: 201_000, accepted: 0, held: 0, leased: 0 })
})

test('leases: two processes granting one payer all they can promise exactly its ozone, both a share of it', async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const chain = chainWith(new Map())
  const a = new OzoneGuard({ chain, store, clock, logger: silentLogger, holder: 'A' })
  const b = new OzoneGuard({ chain, store, clock, logger: silentLogger, holder: 'B' })
  const exp = clock.now() + 60_000
  const ozone = 1_000n * 1_000n + 500n
  const got = { A: 0, B: 0 }
  const codes: string[] = []
  // Both ask at one rate: one grant each per turn, four in flight per guard.
  const worker = async (g: OzoneGuard, name: 'A' | 'B') => {
    for (;;) {
      try {
        await g.grant(payer, ozone, 1_000, exp)
        got[name]++
        await new Promise((r) => setImmediate(r))
      } catch (e) {
        codes.push((e as StratosError).code)
        return
      }
    }
  }
  await Promise.all([0, 1, 2, 3].flatMap(() => [worker(a, 'A'), worker(b, 'B')]))
  assert.deepEqual(codes, Array(8).fill('INSUFFICIENT_OZONE'))
  assert.equal(got.A + got.B, 1_000, `all of it and not a byte more (A ${got.A}, B ${got.B})`)
  t.diagnostic(`A ${got.A} B ${got.B}`)
  assert.ok(got.A >= 250 && got.B >= 250, `a fair share each: A ${got.A}, B ${got.B}`)
  await Promise.all([a.close(), b.close()])
  assert.deepEqual(a.outstanding(payer), { promised: 1_000_000, accepted: 0, held: 0, leased: 0 })
})

test("leases: bytes only another process's idle lease holds are granted once it comes back; low ozone is not leased", async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const s = counting(store)
  const chain = chainWith(new Map())
  const a = new OzoneGuard({ chain, store: s, clock, logger: silentLogger, holder: 'A' })
  const b = new OzoneGuard({ chain, store, clock, logger: silentLogger, holder: 'B' })
  t.after(() => Promise.all([a.close(), b.close()]))
  const exp = clock.now() + 60_000
  // 100 requests' worth: A's first grant leases 4 more (4× what waited), below a quarter of what was free.
  const ozone = 100_000n
  await a.grant(payer, ozone, 1_000, exp)
  assert.deepEqual(a.outstanding(payer), { promised: 1_000, accepted: 0, held: 0, leased: 4_000 })
  // B takes the rest but for A's lease, 95 grants of 1,000.
  await Promise.all(Array.from({ length: 95 }, () => b.grant(payer, ozone, 1_000, exp)))
  // B asks for 3,000: only A's idle lease holds them. B waits until A's lease is written back (its time is up),
  // then gets them; A promised nothing more.
  const t0 = performance.now()
  await b.grant(payer, ozone, 3_000, exp)
  const waited = performance.now() - t0
  assert.ok(waited > 500, `waited ${waited} ms for the lease`)
  const after = a.outstanding(payer)
  assert.equal(after.promised + after.leased, 99_000)
  await b.close()
  assert.deepEqual(a.outstanding(payer), { promised: 99_000, accepted: 0, held: 0, leased: 0 })
  // Nearly exhausted: a lease would be smaller than four requests, none is taken, every grant writes the row.
  const w = s.writes
  await a.grant(payer, ozone, 500, exp)
  await a.grant(payer, ozone, 500, exp)
  assert.equal(s.writes, w + 2)
  assert.deepEqual(a.outstanding(payer), { promised: 100_000, accepted: 0, held: 0, leased: 0 })
  await refused(a.grant(payer, ozone, 1, exp))
})

test("leases: a reservation refused while this process's own lease holds the bytes has the lease returned for its retry", async (t) => {
  const clock = new ManualClock()
  const store = await openStore(t)
  const g = new OzoneGuard({ chain: chainWith(new Map()), store, clock, logger: silentLogger, holder: 'A' })
  t.after(() => g.close())
  const exp = clock.now() + 60_000
  await g.grant(payer, 100_000n, 1_000, exp)
  assert.deepEqual(g.outstanding(payer), { promised: 1_000, accepted: 0, held: 0, leased: 4_000 })
  // An upload's plan (reserve, in its own transaction) counts the lease like everyone's.
  await refused(store.write(() => g.reserve(payer, 100_000n, 96_000, exp)))
  // The refusal returned the lease (after its transaction): the retry gets the bytes.
  for (let i = 0; i < 50 && g.outstanding(payer).leased > 0; i++) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(g.outstanding(payer), { promised: 1_000, accepted: 0, held: 0, leased: 0 })
  await store.write(() => g.reserve(payer, 100_000n, 96_000, exp))
})
