/**
 * MetaClient fails over between the URLs of one meta node: a URL nobody listens on, or a process that answers 503
 * NODE_UNAVAILABLE (it lost its index), sends the request on to the next URL; the URL that answered is tried first
 * afterwards; other errors are the caller's answer and are not repeated elsewhere.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { MetaClient, metaUrls } from '../../src/net/meta-client.ts'

async function serve(status: number, body: unknown): Promise<{ url: string; hits: () => number; server: Server }> {
  let hits = 0
  const server = createServer((_req, res) => {
    hits++
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, hits: () => hits, server }
}

/** A loopback port with nothing listening on it. */
async function deadUrl(): Promise<string> {
  const s = await serve(200, {})
  await new Promise((r) => s.server.close(r))
  return s.url
}

const info = { address: 'stsds1x', key: 'k', chainId: 'c', version: 'v', defaults: { k: 4, m: 2, segmentSize: 1 } }

test('metaUrls: a list, or comma-separated, without trailing slashes or empty entries', () => {
  assert.deepEqual(metaUrls('http://a:1/, http://b:2//,'), ['http://a:1', 'http://b:2'])
  assert.deepEqual(metaUrls(['http://a:1']), ['http://a:1'])
  assert.throws(
    () => new MetaClient(' , '),
    (e: Error & { code?: string }) => e.code === 'NETWORK_CONFIG',
  )
})

test('a URL that refuses connections or answers 503 NODE_UNAVAILABLE fails over to the next', async (t) => {
  const down = await serve(503, { error: { code: 'NODE_UNAVAILABLE', message: 'the meta index is unreachable' } })
  const up = await serve(200, info)
  t.after(() => {
    down.server.close()
    up.server.close()
  })
  const dead = await deadUrl()
  const meta = new MetaClient([dead, down.url, up.url])
  assert.deepEqual(await meta.info(), info)
  assert.equal(down.hits(), 1)
  assert.equal(meta.url, up.url, 'the URL that answered goes first next time')
  await meta.info()
  assert.equal(down.hits(), 1, 'not asked again while the other answers')
  assert.equal(up.hits(), 2)
})

test('an error that is the answer (4xx) is not repeated elsewhere; all URLs down is NODE_UNAVAILABLE', async (t) => {
  const bad = await serve(400, { error: { code: 'BAD_REQUEST', message: 'no' } })
  const up = await serve(200, info)
  t.after(() => {
    bad.server.close()
    up.server.close()
  })
  const meta = new MetaClient(`${bad.url},${up.url}`)
  await assert.rejects(meta.info(), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST')
  assert.equal(up.hits(), 0)
  const none = new MetaClient([await deadUrl(), await deadUrl()])
  await assert.rejects(none.info(), (e: Error & { code?: string }) => e.code === 'NODE_UNAVAILABLE')
})

test("gate: answers wait for it, its failure is every call's, and an aborted call does not wait for it", async (t) => {
  const up = await serve(200, info)
  t.after(() => up.server.close())
  let open!: () => void
  const held = new Promise<void>((resolve) => {
    open = resolve
  })
  const meta = new MetaClient(up.url, { gate: held }).withAccess(() => undefined) // withAccess keeps the gate
  let answered = false
  const first = meta.info().then((r) => {
    answered = true
    return r
  })
  // Polled, not a fixed wait: on a loaded machine the request may take longer than any fixed delay to arrive.
  for (const deadline = Date.now() + 10_000; up.hits() === 0 && Date.now() < deadline; )
    await new Promise((r) => setTimeout(r, 10))
  assert.equal(up.hits(), 1, 'the request went out at once')
  assert.equal(answered, false, 'its answer waits for the gate')
  open()
  assert.deepEqual(await first, info)

  const wrong = new MetaClient(up.url, {
    gate: Promise.reject(Object.assign(new Error('wrong chain'), { code: 'WRONG_CHAIN' })),
  })
  await assert.rejects(wrong.info(), (e: Error & { code?: string }) => e.code === 'WRONG_CHAIN')
  await assert.rejects(wrong.info(), (e: Error & { code?: string }) => e.code === 'WRONG_CHAIN', 'and the next call')

  const never = new MetaClient(up.url, { gate: new Promise(() => {}) })
  const t0 = performance.now()
  await assert.rejects(
    never.info({ signal: AbortSignal.timeout(100) }),
    (e: Error & { code?: string }) => e.code === 'ABORTED',
  )
  assert.ok(performance.now() - t0 < 5_000, 'the abort ends the wait for the gate')
})
