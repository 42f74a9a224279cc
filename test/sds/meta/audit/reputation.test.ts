/** Reputation: beta scores, suspension with hysteresis, slashing incidents once, maintenance, persistence across restarts. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { Reputation, scoreOf } from '../../../../src/sds/meta/audit/index.ts'
import { ManualClock, silentLogger } from '../../../../src/util/components.ts'
import { AUDIT_SLASH_DEBT_OZONE_PER_FAILURE, AUDIT_SLASH_WINDOW_MS } from '../../../../src/limits.ts'

const NODE = 'stsds1node'

async function open(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-reputation-'))
  const clock = new ManualClock(1_800_000_000_000)
  let store = await MetaStore.open(dir)
  t.after(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    clock,
    get store() {
      return store
    },
    rep: new Reputation({ store, clock, logger: silentLogger }),
    async reopen(): Promise<Reputation> {
      await store.close()
      store = await MetaStore.open(dir)
      return new Reputation({ store, clock, logger: silentLogger })
    },
  }
}

test('five failures in a row suspend and open one incident; seven passes reinstate; state survives a restart', async (t) => {
  const h = await open(t)
  const { rep, clock } = h
  assert.equal(rep.isNodeHealthy(NODE), true)
  assert.equal(scoreOf(rep.get(NODE).audit), 1)
  for (let i = 0; i < 20; i++) await rep.recordAudit(NODE, true, clock.now())
  assert.equal(scoreOf(rep.get(NODE).audit), 1, 'a clean record stays at 1')

  for (let i = 1; i <= 4; i++) {
    clock.advance(1_000)
    const r = await rep.recordAudit(NODE, false, clock.now())
    assert.ok(Math.abs(scoreOf(r.audit) - 0.9 ** i) < 1e-9)
    assert.equal(r.suspended, undefined, `not suspended after ${i} failures`)
    assert.equal(r.incident, undefined)
  }
  const r5 = await rep.recordAudit(NODE, false, clock.now())
  assert.equal(r5.suspended?.reason, 'audit')
  assert.equal(r5.incident?.status, 'pending')
  assert.equal(r5.incident?.failures, 5)
  assert.equal(r5.incident?.debtOzone, String(5 * AUDIT_SLASH_DEBT_OZONE_PER_FAILURE))
  assert.equal(rep.isNodeHealthy(NODE), false)
  assert.equal(rep.acceptsNewData(NODE), false)
  assert.equal(rep.view(NODE, true).state, 'suspended')
  assert.deepEqual(
    rep.openIncidents().map((x) => x.incident.id),
    [1],
  )

  // More failures in the same incident open no second one.
  for (let i = 0; i < 6; i++) await rep.recordAudit(NODE, false, clock.now())
  assert.equal(rep.get(NODE).incidents, 1)
  await rep.setIncident(NODE, { status: 'submitted', txHash: 'ab' }, clock.now())
  assert.deepEqual(rep.openIncidents(), [])

  // A restart keeps everything.
  const again = await h.reopen()
  assert.equal(again.isNodeHealthy(NODE), false)
  assert.equal(again.get(NODE).incident?.status, 'submitted')

  let passes = 0
  while (!again.isNodeHealthy(NODE) && passes < 100) {
    await again.recordAudit(NODE, true, clock.now())
    passes++
  }
  assert.ok(scoreOf(again.get(NODE).audit) >= 0.8)
  assert.ok(passes > 7 && passes < 30, `reinstated after ${passes} passes`)
  assert.equal(again.get(NODE).incident, undefined, 'a settled incident of a reinstated node is closed')
  assert.equal(again.view(NODE, true).slashIncidents, 1)
})

test('failures spread beyond the window do not make an incident; a low score alone does', async (t) => {
  const h = await open(t)
  const { rep, clock } = h
  for (let i = 0; i < 4; i++) {
    await rep.recordAudit(NODE, false, clock.now())
    for (let j = 0; j < 30; j++) await rep.recordAudit(NODE, true, clock.now())
    clock.advance(AUDIT_SLASH_WINDOW_MS / 2)
  }
  assert.equal(rep.get(NODE).incident, undefined)
  assert.equal(rep.isNodeHealthy(NODE), true)
  // With the failure count out of reach, the score floor (AUDIT_SLASH_SCORE 0.4: 0.9^9 = 0.39) opens the incident.
  const strict = new Reputation({ store: h.store, clock, logger: silentLogger, params: { slashFailures: 100 } })
  for (let i = 0; i < 9; i++) await strict.recordAudit('stsds1other', false, clock.now())
  assert.ok(scoreOf(strict.get('stsds1other').audit) < 0.4)
  assert.equal(strict.get('stsds1other').incident?.failures, 9)
})

test('online score: offline samples suspend, maintenance windows are not sampled and block new data', async (t) => {
  const { rep, clock } = await open(t)
  await rep.setMaintenance(NODE, clock.now() + 3_600_000, clock.now())
  assert.equal(rep.maintenanceUntil(NODE), clock.now() + 3_600_000)
  assert.equal(rep.acceptsNewData(NODE), false)
  assert.equal(rep.isNodeHealthy(NODE), true, 'maintenance is not a suspension')
  for (let i = 0; i < 200; i++) await rep.recordOnline(NODE, false, clock.now())
  assert.equal(scoreOf(rep.get(NODE).online), 1, 'downtime during maintenance does not count')
  assert.equal(rep.view(NODE, false).state, 'maintenance')

  clock.advance(3_600_001)
  assert.equal(rep.maintenanceUntil(NODE), undefined)
  assert.equal(rep.view(NODE, false).state, 'offline')
  let n = 0
  while (rep.isNodeHealthy(NODE) && n < 500) {
    await rep.recordOnline(NODE, false, clock.now())
    n++
  }
  assert.equal(rep.get(NODE).suspended?.reason, 'online')
  assert.ok(n >= 60 && n <= 75, `suspended after ${n} offline samples`)
  assert.equal(rep.get(NODE).incident, undefined, 'being offline is not slashed')
})
