/**
 * scripts/undici-node-http.cjs: what the CLI bundle gets for `import { Agent, request } from 'undici'`. The shapes
 * src/net/json-request.ts and resource-client.ts rely on: statusCode and body.text() of any status, a string or bytes
 * body with its length, keep-alive bounded per origin, a socket error's code, an aborted signal's AbortError.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createServer } from 'node:http'
import { transportError } from '../../src/net/json-request.ts'

interface ShimResponse {
  statusCode: number
  headers: Record<string, string>
  body: { text(): Promise<string>; json(): Promise<unknown>; dump(): Promise<void> }
}
interface Shim {
  Agent: new (o?: { connections?: number }) => { close(): Promise<void> }
  request(url: string, o?: Record<string, unknown>): Promise<ShimResponse>
}
const shim = createRequire(import.meta.url)('../../scripts/undici-node-http.cjs') as Shim

test('requests, bodies, statuses, keep-alive bounded per origin, errors as json-request.ts maps them', async (t) => {
  const sockets = new Set<unknown>()
  let busy = 0
  let maxBusy = 0
  const server = createServer((req, res) => {
    sockets.add(req.socket)
    busy++
    maxBusy = Math.max(maxBusy, busy)
    let body = ''
    req.on('data', (d: Buffer) => {
      body += d.toString()
    })
    req.on('end', () => {
      const reply = () => {
        busy--
        if (req.url === '/hang') return
        res.writeHead(req.url === '/bad' ? 400 : 200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ method: req.method, length: req.headers['content-length'] ?? null, body }))
      }
      if (req.url === '/slow') setTimeout(reply, 50)
      else reply()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const agent = new shim.Agent({ connections: 2 })

  const post = await shim.request(`${url}/x`, { dispatcher: agent, method: 'POST', body: '{"a":1}' })
  assert.equal(post.statusCode, 200)
  assert.deepEqual(JSON.parse(await post.body.text()), { method: 'POST', length: '7', body: '{"a":1}' })
  await assert.rejects(post.body.text(), TypeError, 'a body reads once')
  const put = await shim.request(`${url}/bad`, { dispatcher: agent, method: 'PUT', body: new Uint8Array([97, 98]) })
  assert.equal(put.statusCode, 400)
  assert.deepEqual(await put.body.json(), { method: 'PUT', length: '2', body: 'ab' })

  // Five at once over at most two connections, reused.
  await Promise.all(
    Array.from({ length: 5 }, async () => (await shim.request(`${url}/slow`, { dispatcher: agent })).body.dump()),
  )
  assert.ok(maxBusy <= 2, `at most 2 requests at once per origin, saw ${maxBusy}`)
  assert.ok(sockets.size <= 2, `connections kept alive and reused, saw ${sockets.size}`)

  // What json-request.ts's transportError makes of its failures: a refused connection, a timeout, the caller's abort.
  const refused = await shim.request('http://127.0.0.1:9/', { dispatcher: agent }).catch((e: unknown) => e)
  assert.equal((refused as { code?: string }).code, 'ECONNREFUSED')
  assert.equal(transportError(refused, 'http://127.0.0.1:9/').code, 'NODE_UNAVAILABLE')
  const hung = await shim
    .request(`${url}/hang`, { dispatcher: agent, signal: AbortSignal.timeout(100) })
    .catch((e: unknown) => e)
  assert.equal((hung as Error).name, 'AbortError')
  assert.equal(transportError(hung, `${url}/hang`).code, 'TIMEOUT')
  const caller = new AbortController()
  const aborted = shim.request(`${url}/hang`, { dispatcher: agent, signal: caller.signal }).catch((e: unknown) => e)
  caller.abort()
  assert.equal(transportError(await aborted, `${url}/hang`, caller.signal).code, 'ABORTED')
  await agent.close()
  server.closeAllConnections()
})
