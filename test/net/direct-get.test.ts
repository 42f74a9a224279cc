import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { DirectGetPool, type DirectGetParameters } from '../../src/net/direct-get.ts'
import { StratosError } from '../../src/errors.ts'
import { DIRECT_GET_MAX_HEAD_BYTES } from '../../src/limits.ts'

const BODY = Buffer.alloc(3 * 1024 * 1024 + 17)
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 31) & 0xff

async function listen(server: http.Server | net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function close(server: http.Server | net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

/** A node:http server: /body → BODY, /error → a 404 JSON error, /slow → half the body then a stall. */
async function httpServer(): Promise<{ origin: string; server: http.Server; connections: () => number }> {
  let connections = 0
  const server = http.createServer((req, res) => {
    if (req.url === '/body') {
      res.writeHead(200, { 'content-length': BODY.length, 'x-test': 'yes' })
      res.end(BODY)
    } else if (req.url === '/error') {
      const text = JSON.stringify({ error: { code: 'SHARD_NOT_FOUND', message: 'no such shard' } })
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    } else if (req.url === '/slow') {
      res.writeHead(200, { 'content-length': BODY.length })
      res.write(BODY.subarray(0, 1000))
    } else if (req.url === '/die') {
      res.writeHead(200, { 'content-length': BODY.length })
      res.write(BODY.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 20))
    } else {
      res.writeHead(400, { 'content-length': 0 })
      res.end()
    }
  })
  server.on('connection', () => {
    connections++
  })
  return { origin: await listen(server), server, connections: () => connections }
}

function into(target: Buffer, extra: Partial<DirectGetParameters> = {}): Omit<DirectGetParameters, 'origin' | 'path'> {
  return { headers: {}, signal: AbortSignal.timeout(5_000), onHead: () => target, ...extra }
}

test('reads the body straight into the buffer and reuses one keep-alive connection', async () => {
  const { origin, server, connections } = await httpServer()
  const pool = new DirectGetPool()
  try {
    for (let i = 0; i < 3; i++) {
      const target = Buffer.alloc(BODY.length)
      const seen: number[] = []
      const r = await pool.get({
        origin,
        path: '/body',
        ...into(target, {
          onBody: (n) => {
            seen.push(n)
          },
        }),
      })
      assert.equal(r.head.status, 200)
      assert.equal(r.head.headers['x-test'], 'yes')
      assert.equal(r.received, BODY.length)
      assert.ok(target.equals(BODY))
      assert.equal(seen.at(-1), BODY.length)
      assert.ok(
        seen.every((n, j) => j === 0 || n > seen[j - 1]),
        'progress only grows',
      )
    }
    assert.equal(connections(), 1)
    // Parallel requests open more connections; all succeed.
    const targets = Array.from({ length: 6 }, () => Buffer.alloc(BODY.length))
    await Promise.all(targets.map((t) => pool.get({ origin, path: '/body', ...into(t) })))
    for (const t of targets) assert.ok(t.equals(BODY))
  } finally {
    pool.close()
    await close(server)
  }
})

test('a scatter read fills a list of buffers in order, empty ones skipped; lengths that do not add up are refused', async () => {
  const { origin, server } = await httpServer()
  const pool = new DirectGetPool()
  try {
    // Uneven parts, one smaller than a socket read and one empty, so reads cross part boundaries.
    const sizes = [1, 0, 300_000, 7, 1024 * 1024, BODY.length - 1 - 300_000 - 7 - 1024 * 1024]
    const parts = sizes.map((n) => Buffer.alloc(n))
    const seen: number[] = []
    const r = await pool.get({
      origin,
      path: '/body',
      ...into(Buffer.alloc(0), { onHead: () => parts, onBody: (n) => void seen.push(n) }),
    })
    assert.equal(r.received, BODY.length)
    assert.ok(Buffer.concat(parts).equals(BODY))
    assert.equal(seen.at(-1), BODY.length)
    await assert.rejects(
      pool.get({
        origin,
        path: '/body',
        ...into(Buffer.alloc(0), { onHead: () => [Buffer.alloc(10), Buffer.alloc(5)] }),
      }),
      (e: unknown) => e instanceof StratosError && e.code === 'UPSTREAM_ERROR',
    )
  } finally {
    pool.close()
    await close(server)
  }
})

test('timeoutMs fails a stalled request with a TimeoutError; a request finishing in time is not affected', async () => {
  const { origin, server } = await httpServer()
  const pool = new DirectGetPool()
  try {
    const started = Date.now()
    await assert.rejects(
      pool.get({ origin, path: '/slow', ...into(Buffer.alloc(BODY.length), { timeoutMs: 100 }) }),
      (e: unknown) => (e as Error).name === 'TimeoutError',
    )
    assert.ok(Date.now() - started < 4_000, 'the timer fired, not the 5 s signal')
    const target = Buffer.alloc(BODY.length)
    await pool.get({ origin, path: '/body', ...into(target, { timeoutMs: 5_000 }) })
    assert.ok(target.equals(BODY))
  } finally {
    pool.close()
    await close(server)
  }
})

test('an error status returns its body; the connection stays usable', async () => {
  const { origin, server, connections } = await httpServer()
  const pool = new DirectGetPool()
  try {
    const r = await pool.get({
      origin,
      path: '/error',
      ...into(Buffer.alloc(0), {
        onHead: () => {
          throw new Error('not for errors')
        },
      }),
    })
    assert.equal(r.head.status, 404)
    assert.equal(JSON.parse(r.errorBody!.toString('utf8')).error.code, 'SHARD_NOT_FOUND')
    const target = Buffer.alloc(BODY.length)
    await pool.get({ origin, path: '/body', ...into(target) })
    assert.ok(target.equals(BODY))
    assert.equal(connections(), 1)
  } finally {
    pool.close()
    await close(server)
  }
})

test('a throwing onHead or onBody stops the transfer and drops the connection; the next request works', async () => {
  const { origin, server, connections } = await httpServer()
  const pool = new DirectGetPool()
  try {
    await assert.rejects(
      pool.get({
        origin,
        path: '/body',
        ...into(Buffer.alloc(BODY.length), {
          onHead: () => {
            throw new StratosError('HASH_MISMATCH', 'bad list')
          },
        }),
      }),
      (e: unknown) => e instanceof StratosError && e.code === 'HASH_MISMATCH',
    )
    await assert.rejects(
      pool.get({
        origin,
        path: '/body',
        ...into(Buffer.alloc(BODY.length), {
          onBody: (n) => {
            if (n > 100_000) throw new StratosError('HASH_MISMATCH', 'bad chunk')
          },
        }),
      }),
      (e: unknown) => e instanceof StratosError && e.code === 'HASH_MISMATCH',
    )
    await assert.rejects(
      pool.get({ origin, path: '/body', ...into(Buffer.alloc(10)) }),
      (e: unknown) => e instanceof StratosError && e.code === 'UPSTREAM_ERROR',
    )
    const target = Buffer.alloc(BODY.length)
    await pool.get({ origin, path: '/body', ...into(target) })
    assert.ok(target.equals(BODY))
    assert.equal(connections(), 4)
  } finally {
    pool.close()
    await close(server)
  }
})

test('abort and timeout reject with the signal reason; a node dying mid-body rejects', async () => {
  const { origin, server } = await httpServer()
  const pool = new DirectGetPool()
  try {
    const ctrl = new AbortController()
    const p = pool.get({ origin, path: '/slow', ...into(Buffer.alloc(BODY.length), { signal: ctrl.signal }) })
    setTimeout(() => ctrl.abort(new StratosError('ABORTED', 'stop')), 50)
    await assert.rejects(p, (e: unknown) => e instanceof StratosError && e.code === 'ABORTED')
    await assert.rejects(
      pool.get({ origin, path: '/slow', ...into(Buffer.alloc(BODY.length), { signal: AbortSignal.timeout(100) }) }),
      (e: unknown) => (e as Error).name === 'TimeoutError',
    )
    await assert.rejects(
      pool.get({ origin, path: '/die', ...into(Buffer.alloc(BODY.length)) }),
      (e: unknown) => e instanceof StratosError && e.code === 'NODE_UNAVAILABLE',
    )
  } finally {
    pool.close()
    await close(server)
  }
})

test('connection refused rejects; an idle connection the server closed is replaced transparently', async () => {
  const { origin, server, connections } = await httpServer()
  const pool = new DirectGetPool()
  try {
    const target = Buffer.alloc(BODY.length)
    await pool.get({ origin, path: '/body', ...into(target) })
    server.closeIdleConnections()
    await new Promise((r) => setTimeout(r, 50))
    await pool.get({ origin, path: '/body', ...into(target) })
    assert.ok(target.equals(BODY))
    assert.equal(connections(), 2)
  } finally {
    pool.close()
    await close(server)
  }
  const dead = new DirectGetPool()
  await assert.rejects(
    dead.get({ origin, path: '/body', ...into(Buffer.alloc(1)) }),
    (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED',
  )
  await assert.rejects(
    dead.get({ origin: 'https://127.0.0.1:1', path: '/', ...into(Buffer.alloc(1)) }),
    (e: unknown) => e instanceof StratosError && e.code === 'BAD_REQUEST',
  )
  dead.close()
})

/** A raw TCP server answering every request with `reply` (protocol violations a node:http server cannot send). */
async function rawServer(reply: (socket: net.Socket) => void): Promise<{ origin: string; server: net.Server }> {
  const server = net.createServer((socket) => {
    socket.once('data', () => reply(socket))
    socket.on('error', () => {})
  })
  return { origin: await listen(server), server }
}

test('protocol violations are UPSTREAM_ERROR: bad status line, head too big, 2xx without length, bytes past the body', async () => {
  const cases: Array<(s: net.Socket) => void> = [
    (s) => s.end('HTTX/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx'),
    (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(DIRECT_GET_MAX_HEAD_BYTES + 10)}`),
    (s) => s.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'),
    (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nxyz'),
    (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n'),
  ]
  for (const [i, reply] of cases.entries()) {
    const { origin, server } = await rawServer(reply)
    const pool = new DirectGetPool()
    try {
      await assert.rejects(
        pool.get({ origin, path: '/', ...into(Buffer.alloc(2)) }),
        (e: unknown) => e instanceof StratosError && e.code === 'UPSTREAM_ERROR',
        `case ${i}`,
      )
    } finally {
      pool.close()
      await close(server)
    }
  }
  // An error answer without a length is read until the server closes.
  const { origin, server } = await rawServer((s) =>
    s.end('HTTP/1.1 503 Busy\r\nconnection: close\r\n\r\n{"error":{"code":"BUSY","message":"x"}}'),
  )
  const pool = new DirectGetPool()
  try {
    const r = await pool.get({ origin, path: '/', ...into(Buffer.alloc(1)) })
    assert.equal(r.head.status, 503)
    assert.equal(JSON.parse(r.errorBody!.toString()).error.code, 'BUSY')
  } finally {
    pool.close()
    await close(server)
  }
})
