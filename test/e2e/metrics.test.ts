/**
 * Operators can see, on a real devnet: every role (validator, meta node, resource nodes, gateway and its IPFS RPC
 * API) answers /healthz and /readyz and serves Prometheus metrics at /metrics, and those metrics move when a file is
 * uploaded and read: bytes stored and served, shards, request latency, orders settled, chain height and transactions,
 * errors by code. Every metric the Grafana dashboard (docs/grafana-dashboard.json) queries exists on some role.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { PutResult } from '../../src/sds/client/index.ts'
import { eventually, TestDevnet } from './harness.ts'

/** Parsed exposition text: `name{labels}` → value (labels as printed, `role` included). */
type Scrape = Map<string, number>

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
  const out: Scrape = new Map()
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

/** Sum of a family's samples whose label text contains every `match` (e.g. `route="/v1/shards/*id"`). */
function sum(s: Scrape, name: string, ...match: string[]): number {
  let total = 0
  for (const [key, v] of s) {
    const brace = key.indexOf('{')
    const n = brace === -1 ? key : key.slice(0, brace)
    if (n !== name) continue
    if (match.every((m) => key.includes(m))) total += v
  }
  return total
}

function names(s: Scrape): Set<string> {
  return new Set([...s.keys()].map((k) => k.replace(/\{.*$/, '').replace(/_(bucket|sum|count)$/, '')))
}

describe('metrics, health and readiness on every role', () => {
  let net: TestDevnet
  let work: string
  const urls = (): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const p of net.network.processes) out[p.name] = p.url
    out['ipfs-api'] = net.network.ipfsApiUrl!
    return out
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-metrics-'))
    net = await TestDevnet.start({ extra: ['--order-settle-interval-ms', '500'] })
  })

  after(async () => {
    await net?.destroy()
    rmSync(work, { recursive: true, force: true })
  })

  test('/healthz and /readyz answer on every role, /readyz with its checks', async () => {
    for (const [name, url] of Object.entries(urls())) {
      const h = await fetch(`${url}/healthz`)
      assert.equal(h.status, 200, `${name} /healthz`)
      assert.equal(((await h.json()) as { status: string }).status, 'ok')
      await eventually(`${name} ready`, 15_000, async () => (await fetch(`${url}/readyz`)).status === 200)
      const r = (await (await fetch(`${url}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> }
      assert.equal(r.ready, true)
      assert.ok(Object.keys(r.checks).length > 0, `${name} has readiness checks`)
      for (const [check, v] of Object.entries(r.checks)) assert.equal(v, 'ok', `${name} ${check}`)
    }
  })

  test('an upload and a read move the metrics of every role', async () => {
    const all = urls()
    const before = new Map<string, Scrape>()
    for (const [name, url] of Object.entries(all)) before.set(name, await scrape(url))

    const data = randomBytes(3 * 1024 * 1024 + 1234)
    const path = join(work, 'f.bin')
    writeFileSync(path, data)
    const put = await net.cli(['put', '--json', path])
    assert.equal(put.code, 0, put.stderr)
    const { cid } = JSON.parse(put.stdout.toString()) as PutResult
    const cat = await net.cli(['cat', cid])
    assert.equal(cat.code, 0, cat.stderr)
    assert.ok(cat.stdout.equals(data))
    // A refusal counted by its code: a CID the meta node does not know.
    const missing = await net.cli(['stat', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'])
    assert.notEqual(missing.code, 0)

    const resources = net.resources.map((p) => p.name)
    const after = new Map<string, Scrape>()
    const delta = (role: string, name: string, ...match: string[]): number =>
      sum(after.get(role)!, name, ...match) - sum(before.get(role)!, name, ...match)
    const total = (name: string, ...match: string[]): number =>
      resources.reduce((n, r) => n + delta(r, name, ...match), 0)

    // Orders settle in the background: wait until every served byte is settled at the meta node.
    await eventually(
      'orders settled',
      30_000,
      async () => {
        for (const [name, url] of Object.entries(all)) after.set(name, await scrape(url))
        return delta('meta', 'stratos_meta_settled_bytes_total') >= data.length
      },
      250,
    )

    // Resource nodes: stored and received at least the file (k + m shards: 1.5×), served at least the file once.
    assert.ok(total('stratos_resource_received_bytes_total') >= data.length * 1.5, 'bytes received')
    assert.ok(total('stratos_resource_stored_bytes') >= data.length * 1.5, 'bytes stored')
    assert.ok(total('stratos_resource_served_bytes_total') >= data.length, 'bytes served')
    assert.ok(total('stratos_resource_shards') >= 6, 'shards')
    assert.ok(total('stratos_http_request_duration_seconds_count', 'method="PUT"') >= 6, 'PUT latencies')
    assert.ok(total('stratos_http_request_duration_seconds_count', 'method="GET"', 'status="200"') >= 4)
    assert.ok(total('stratos_resource_orders_settled_total', 'result="accepted"') > 0, 'orders settled')
    // Meta node: one more file, requests timed by route pattern, the refusal by its code.
    assert.equal(delta('meta', 'stratos_meta_files'), 1)
    assert.ok(delta('meta', 'stratos_meta_file_bytes') >= data.length)
    assert.ok(delta('meta', 'stratos_http_request_duration_seconds_count', 'route="/v1/uploads"') >= 1)
    assert.ok(delta('meta', 'stratos_meta_orders_settled_total', 'result="accepted"') > 0)
    assert.ok(delta('meta', 'stratos_errors_total', 'code="FILE_NOT_FOUND"') >= 1, 'error counted by code')
    assert.equal(sum(after.get('meta')!, 'stratos_meta_nodes', 'state="online"'), resources.length)
    // Validator: blocks keep coming, the dev wallets' and the meta node's transactions were committed.
    assert.ok(delta('validator', 'stratos_chain_height') > 0, 'chain height moves')
    assert.ok(sum(after.get('validator')!, 'stratos_chain_transactions_total') > 0, 'transactions counted')
    // Every role labels its series and reports the Node.js process.
    for (const [name, s] of after) {
      assert.ok(sum(s, 'stratos_build_info') >= 1, `${name} build info`)
      assert.ok(names(s).has('process_cpu_user_seconds_total'), `${name} process metrics`)
    }
    // The gateway and its RPC API share one registry.
    assert.ok(names(after.get('gateway')!).has('stratos_gateway_served_bytes_total'))
    assert.ok(names(after.get('ipfs-api')!).has('stratos_gateway_served_bytes_total'))

    // The dashboard only queries metrics that exist.
    const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8'))
    const exprs = JSON.stringify(dashboard).match(/stratos_[a-z_]+/g) ?? []
    const known = new Set([...after.values()].flatMap((s) => [...names(s)]))
    const unknown = [...new Set(exprs)].filter((n) => !known.has(n.replace(/_(bucket|sum|count)$/, '')))
    assert.deepEqual(unknown, [], 'dashboard queries only metrics the roles serve')
  })
})
