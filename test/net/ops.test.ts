/**
 * The operations endpoints (src/net/ops.ts, metrics.ts, health.ts) on a real node:http server: /metrics in the
 * Prometheus text format with request latency by route pattern and errors by code, /healthz, and /readyz turning 503
 * with the failing check's reason (a check that throws or hangs is not ready).
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { StratosError } from '../../src/errors.ts'
import { Health } from '../../src/net/health.ts'
import { sendError, sendJson } from '../../src/net/http-server.ts'
import { createOps, serveOps } from '../../src/net/ops.ts'
import { Router } from '../../src/net/router.ts'

/** A sample line of `name` with every label (in any order) and `value`. */
function hasSample(text: string, name: string, labels: string[], value: number): boolean {
  return text
    .split('\n')
    .some((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)) && l.endsWith(`} ${value}`))
}

test('a server with Ops: /metrics counts requests by route pattern and errors by code; /healthz; /readyz', async () => {
  const ops = createOps('test-role')
  let reason: string | undefined = 'warming up'
  ops.health.addCheck('warm', () => reason)
  let served = 0
  ops.metrics.counterFrom('stratos_test_served_total', 'served', () => served)
  ops.metrics.gauge('stratos_test_by_kind', 'by kind', () => new Map([['a', 2]]), 'kind')
  const routes = new Router<() => void>().on('GET', '/v1/things/:id', () => {})
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (serveOps(ops, req, res, path)) return
    const found = routes.find(req.method ?? 'GET', path)
    ops.metrics.observe(req, res, found?.handler ? (found as { pattern: string }).pattern : 'unmatched')
    if (!found?.handler) return sendError(res, new StratosError('NOT_FOUND', 'no route'))
    served++
    sendJson(res, 200, { ok: true })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  after(() => new Promise<void>((r) => server.close(() => r())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  assert.equal((await fetch(`${base}/v1/things/1`)).status, 200)
  assert.equal((await fetch(`${base}/v1/things/2`)).status, 200)
  assert.equal((await fetch(`${base}/nope`)).status, 404)

  const text = await (await fetch(`${base}/metrics`)).text()
  assert.ok(
    hasSample(
      text,
      'stratos_http_request_duration_seconds_count',
      ['method="GET"', 'route="/v1/things/:id"', 'status="200"', 'role="test-role"'],
      2,
    ),
  )
  assert.doesNotMatch(text, /route="\/v1\/things\/1"/, 'raw paths never become labels')
  assert.ok(hasSample(text, 'stratos_errors_total', ['code="NOT_FOUND"', 'role="test-role"'], 1))
  assert.ok(hasSample(text, 'stratos_test_served_total', ['role="test-role"'], 2))
  assert.ok(hasSample(text, 'stratos_test_by_kind', ['kind="a"', 'role="test-role"'], 2))

  const h = await fetch(`${base}/healthz`)
  assert.equal(h.status, 200)
  assert.deepEqual(await h.json(), { status: 'ok', role: 'test-role' })
  const notReady = await fetch(`${base}/readyz`)
  assert.equal(notReady.status, 503)
  assert.deepEqual(await notReady.json(), { ready: false, checks: { warm: 'warming up' }, role: 'test-role' })
  reason = undefined
  const ready = await fetch(`${base}/readyz`)
  assert.equal(ready.status, 200)
  assert.deepEqual(await ready.json(), { ready: true, checks: { warm: 'ok' }, role: 'test-role' })
})

test('a readiness check that throws or hangs is not ready; a name registered twice throws', async () => {
  const health = new Health({ timeoutMs: 50 })
  health.addCheck('throws', () => {
    throw new Error('boom')
  })
  health.addCheck('hangs', () => new Promise<undefined>(() => {}))
  health.addCheck('fine', () => undefined)
  const r = await health.readiness()
  assert.equal(r.ready, false)
  assert.equal(r.checks.fine, 'ok')
  assert.match(r.checks.throws!, /boom/)
  assert.match(r.checks.hangs!, /50 ms/)
  assert.throws(() => health.addCheck('fine', () => undefined))
})

test('two roles in one process keep separate registries', async () => {
  const a = createOps('meta')
  const b = createOps('meta')
  a.metrics.counter('stratos_same_name_total', 'x').inc()
  b.metrics.counter('stratos_same_name_total', 'x').inc(5)
  assert.match((await a.metrics.scrape()).text, /stratos_same_name_total\{role="meta"\} 1\n/)
  assert.match((await b.metrics.scrape()).text, /stratos_same_name_total\{role="meta"\} 5\n/)
})
