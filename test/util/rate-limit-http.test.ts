/** The per-client rate limit as the gateway and the IPFS RPC API answer it: 429, Retry-After, code RATE_LIMITED. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway } from '../../src/gateway/index.ts'
import { startIpfsRpcApi } from '../../src/ipfs/rpc/index.ts'
import { ManualClock } from '../../src/util/components.ts'

// Neither surface connects to the meta node for these routes (the SDK client is created on first use).
const META = 'http://127.0.0.1:9'

test('gateway: past its burst a client gets 429 RATE_LIMITED with Retry-After; time refills it', async () => {
  const clock = new ManualClock()
  const g = await startGateway({ port: 0, metaUrl: META, clock, rateLimit: { ratePerSecond: 0.5, burst: 2 } })
  try {
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${g.url}/v1/info`)).status, 200)
    const refused = await fetch(`${g.url}/v1/info`)
    assert.equal(refused.status, 429)
    assert.equal(refused.headers.get('retry-after'), '2')
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED')
    clock.advance(2000)
    assert.equal((await fetch(`${g.url}/v1/info`)).status, 200)
  } finally {
    await g.stop()
  }
})

test("IPFS RPC API: past its burst a client gets 429 with Kubo's error body and StratosCode RATE_LIMITED", async () => {
  const clock = new ManualClock()
  const dir = mkdtempSync(join(tmpdir(), 'rpc-rate-'))
  const api = await startIpfsRpcApi({
    port: 0,
    metaUrl: META,
    dataDir: dir,
    clock,
    rateLimit: { ratePerSecond: 1, burst: 1 },
    gc: { intervalMs: 0 },
  })
  try {
    assert.equal((await fetch(`${api.url}/api/v0/version`, { method: 'POST' })).status, 200)
    const refused = await fetch(`${api.url}/api/v0/version`, { method: 'POST' })
    assert.equal(refused.status, 429)
    assert.equal(refused.headers.get('retry-after'), '1')
    const body = (await refused.json()) as { Message: string; Code: number; Type: string; StratosCode: string }
    assert.equal(body.Type, 'error')
    assert.equal(body.StratosCode, 'RATE_LIMITED')
    clock.advance(1000)
    assert.equal((await fetch(`${api.url}/api/v0/version`, { method: 'POST' })).status, 200)
  } finally {
    await api.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})
