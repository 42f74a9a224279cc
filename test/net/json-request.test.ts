/**
 * jsonRequest and putBytes send their requests through undici's dispatch with one handler and one timer
 * (smallRequest): the answers, typed errors, timeouts and aborts must be those the request() path gave — TIMEOUT for
 * a request past its time (also one still queued for a connection), ABORTED for the caller's abort (also before it
 * was sent), NODE_UNAVAILABLE for a refused connection, the body's code for an error status, UPSTREAM_ERROR for a body
 * that is not JSON — and a connection a request gave up on must not break the next request.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { getEventListeners } from 'node:events'
import { Agent } from 'undici'
import { jsonRequest, putBytes, smallRequest, splitUrl } from '../../src/net/json-request.ts'
import { transportError } from '../../src/net/json-request.ts'

async function serve(
  handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => handler(req, Buffer.concat(parts), res))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, server }
}

const code = (c: string) => (e: Error & { code?: string }) => {
  assert.equal(e.code, c, e.message)
  return true
}

/** The echo server: answers each request with what it got, as JSON; `/hang` never answers; `/error` a 409. */
async function echo(t: { after: (f: () => void) => void }): Promise<string> {
  const s = await serve((req, body, res) => {
    if (req.url === '/hang') return
    if (req.url === '/error') {
      res.writeHead(409, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'CONFLICT', message: 'taken' } }))
      return
    }
    if (req.url === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('not json')
      return
    }
    if (req.url === '/chunked') {
      // No Content-Length: the answer comes in chunks.
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"a":')
      setTimeout(() => res.end('1}'), 5)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        type: req.headers['content-type'] ?? null,
        length: req.headers['content-length'] ?? null,
        x: req.headers['x-test'] ?? null,
        body: body.toString('latin1'),
      }),
    )
  })
  t.after(() => s.server.close())
  return s.url
}

test('splitUrl: origin and path of plain http(s) URLs; anything else is left to undici', () => {
  assert.deepEqual(splitUrl('http://127.0.0.1:7100/v1/uploads/x'), {
    origin: 'http://127.0.0.1:7100',
    path: '/v1/uploads/x',
  })
  assert.deepEqual(splitUrl('https://a.example/'), { origin: 'https://a.example', path: '/' })
  assert.deepEqual(splitUrl('http://a:1'), { origin: 'http://a:1', path: '/' })
  assert.deepEqual(splitUrl('http://a:1?x=1'), { origin: 'http://a:1', path: '/?x=1' })
  assert.deepEqual(splitUrl('http://a:1/f?owner=st1&limit=2'), { origin: 'http://a:1', path: '/f?owner=st1&limit=2' })
  assert.equal(splitUrl('http://user:pw@a:1/x'), undefined)
  assert.equal(splitUrl('http://a:1/x#frag'), undefined)
  assert.equal(splitUrl('ftp://a/x'), undefined)
  assert.equal(splitUrl('http:///x'), undefined)
})

test('jsonRequest: JSON out and back, headers, GET without a body, chunked answers, error statuses', async (t) => {
  const url = await echo(t)
  const got = await jsonRequest<Record<string, unknown>>(`${url}/a/b?q=1`, {
    method: 'POST',
    body: { hello: 'wörld' },
    headers: { 'x-test': 'yes' },
  })
  assert.deepEqual(got, {
    method: 'POST',
    url: '/a/b?q=1',
    type: 'application/json',
    length: String(Buffer.byteLength('{"hello":"wörld"}')),
    x: 'yes',
    body: Buffer.from('{"hello":"wörld"}').toString('latin1'),
  })
  const get = await jsonRequest<Record<string, unknown>>(`${url}/g`, { method: 'GET' })
  assert.equal(get.method, 'GET')
  assert.equal(get.type, null)
  assert.equal(get.body, '')
  assert.deepEqual(await jsonRequest(`${url}/chunked`, { method: 'GET' }), { a: 1 })
  await assert.rejects(jsonRequest(`${url}/error`, { method: 'POST', body: {} }), code('CONFLICT'))
  await assert.rejects(jsonRequest(`${url}/text`, { method: 'GET' }), code('UPSTREAM_ERROR'))
})

test('jsonRequest: TIMEOUT past timeoutMs, ABORTED on the caller abort (also an abort before sending)', async (t) => {
  const url = await echo(t)
  const t0 = performance.now()
  await assert.rejects(jsonRequest(`${url}/hang`, { method: 'POST', body: {}, timeoutMs: 150 }), code('TIMEOUT'))
  assert.ok(performance.now() - t0 < 2000)
  const ac = new AbortController()
  const aborted = jsonRequest(`${url}/hang`, { method: 'GET', signal: ac.signal })
  setTimeout(() => ac.abort(), 50)
  await assert.rejects(aborted, code('ABORTED'))
  const pre = new AbortController()
  pre.abort()
  await assert.rejects(jsonRequest(`${url}/x`, { method: 'GET', signal: pre.signal }), code('ABORTED'))
  // A signal that outlives many requests, 20 at once, carries one listener of theirs (Node warns of a leak past 10),
  // and its abort still ends every one of them.
  const long = new AbortController()
  await Promise.all(Array.from({ length: 20 }, () => jsonRequest(`${url}/x`, { method: 'GET', signal: long.signal })))
  assert.equal(getEventListeners(long.signal, 'abort').length, 1)
  const hanging = Array.from({ length: 12 }, () =>
    jsonRequest(`${url}/hang`, { method: 'GET', signal: long.signal, timeoutMs: 10_000 }),
  )
  assert.equal(getEventListeners(long.signal, 'abort').length, 1)
  setTimeout(() => long.abort(), 50)
  for (const r of hanging) await assert.rejects(r, code('ABORTED'))
  // The connections given up on are gone; the next request works.
  assert.equal((await jsonRequest<{ url: string }>(`${url}/after`, { method: 'GET' })).url, '/after')
})

test('a request queued behind a busy connection times out and aborts on time, and never reaches the server', async (t) => {
  let hits = 0
  const s = await serve((req, _body, res) => {
    hits++
    if (req.url === '/hang') return
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
  t.after(() => s.server.close())
  const dispatcher = new Agent({ connections: 1 })
  t.after(() => dispatcher.destroy())
  const busy = jsonRequest(`${s.url}/hang`, { method: 'GET', dispatcher, timeoutMs: 600 })
  const queued = jsonRequest(`${s.url}/q`, { method: 'GET', dispatcher, timeoutMs: 100 })
  const ac = new AbortController()
  const queued2 = jsonRequest(`${s.url}/q`, { method: 'GET', dispatcher, signal: ac.signal })
  setTimeout(() => ac.abort(), 50)
  const t0 = performance.now()
  await assert.rejects(queued2, code('ABORTED'))
  await assert.rejects(queued, code('TIMEOUT'))
  assert.ok(performance.now() - t0 < 400, 'not held until the busy request ends')
  await assert.rejects(busy, code('TIMEOUT'))
  assert.deepEqual(await jsonRequest(`${s.url}/ok`, { method: 'GET', dispatcher }), {})
  assert.equal(hits, 2, 'the requests given up on while queued were never sent')
})

test('a refused connection is NODE_UNAVAILABLE', async () => {
  const s = await serve(() => {})
  const url = (await new Promise<string>((r) => {
    const { port } = s.server.address() as { port: number }
    s.server.close(() => r(`http://127.0.0.1:${port}`))
  })) as string
  await assert.rejects(jsonRequest(`${url}/x`, { method: 'GET' }), code('NODE_UNAVAILABLE'))
  await assert.rejects(
    putBytes(`${url}/x`, new Agent(), {}, new Uint8Array(10), undefined, 1000).catch((e) => {
      throw transportError(e, url)
    }),
    code('NODE_UNAVAILABLE'),
  )
})

test('putBytes: the bytes go as the body with their length; a timeout rejects with a TimeoutError', async (t) => {
  const url = await echo(t)
  const bytes = new Uint8Array(40_000).map((_, i) => i % 251)
  const dispatcher = new Agent()
  t.after(() => dispatcher.destroy())
  const r = await putBytes(
    `${url}/v1/shards/s`,
    dispatcher,
    { 'content-type': 'application/octet-stream' },
    bytes,
    undefined,
    5000,
  )
  assert.equal(r.status, 200)
  const got = JSON.parse(r.text) as Record<string, string>
  assert.equal(got.method, 'PUT')
  assert.equal(got.length, '40000')
  assert.deepEqual(Buffer.from(got.body!, 'latin1'), Buffer.from(bytes))
  const late = putBytes(`${url}/hang`, dispatcher, {}, bytes, undefined, 100)
  await assert.rejects(late, (e: Error) => e.name === 'TimeoutError')
  await assert.rejects(
    late.catch((e) => Promise.reject(transportError(e, url))),
    code('TIMEOUT'),
  )
})

test('smallRequest settles once: a timeout after the answer, or an abort after it, changes nothing', async (t) => {
  const url = await echo(t)
  const dispatcher = new Agent()
  t.after(() => dispatcher.destroy())
  const ac = new AbortController()
  const { origin, path } = splitUrl(`${url}/once`)!
  const a = await smallRequest({
    origin,
    path,
    method: 'GET',
    headers: {},
    signal: ac.signal,
    timeoutMs: 20,
    dispatcher,
  })
  assert.equal(a.status, 200)
  ac.abort()
  await new Promise((r) => setTimeout(r, 40))
  assert.equal(JSON.parse(a.body.toString()).url, '/once')
})
