/**
 * The loopback floors of an HTTP read on this machine. Plain JavaScript, each in its own process, like the gateway.
 * Prints its port on the first line of stdout. Started with a pipe as stdin (as the benches start it), it exits when
 * that pipe closes: a bench killed outright leaves no server behind holding its ports or its bench lock.
 *
 *   node bench/floor-server.mjs FILE
 *     A plain node:http server that holds a file in memory and serves it whole to GET / (no verification, no
 *     tickets, no cache); with a `Range: bytes=a-b` header, that range (what the two-hop relay's upstreams answer).
 *   node bench/floor-server.mjs --relay URL,URL,… SIZE
 *     The two-hop floor: serves SIZE bytes at GET / by fetching them from the upstream servers (each holding the same
 *     file) the way the gateway reads a file from the resource nodes: 32 MiB segments, each split into one range GET per
 *     upstream (k of them) with the gateway's own transport for shard reads (dist/net/direct-get.js), two segments in
 *     flight, each segment written to the response once complete. No verification, no tickets, no cache: what a
 *     gateway in the middle costs at the least.
 *   node bench/floor-server.mjs --proxy URL
 *     One upstream response piped through node:http as it arrives.
 */
import http from 'node:http'
import { fstatSync } from 'node:fs'
import { readFile } from 'node:fs/promises'

const SEGMENT_BYTES = 32 * 1024 * 1024
const SEGMENTS_IN_FLIGHT = 2

function serveFile(bytes) {
  return http.createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
    const body = m ? bytes.subarray(Number(m[1]), Number(m[2]) + 1) : bytes
    res.writeHead(m ? 206 : 200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
}

/**
 * Bytes [from, to) of one upstream into out at `at`, with the gateway's own transport for shard reads (the kernel
 * copies the body straight into `out`: src/net/direct-get.ts, from dist/).
 */
let direct
async function fetchInto(url, from, to, out, at) {
  if (!direct) {
    const { DirectGetPool } = await import(new URL('../dist/net/direct-get.js', import.meta.url).href)
    direct ??= new DirectGetPool()
  }
  const target = out.subarray(at, at + (to - from))
  const r = await direct.get({
    origin: url,
    path: '/',
    headers: { range: `bytes=${from}-${to - 1}` },
    onHead: () => target,
    signal: new AbortController().signal,
  })
  if (r.received !== to - from) throw new Error('short upstream read')
}

/**
 * Segment buffers reused across segments and requests (two being filled, one being written; a segment is fetched
 * again into its buffer only after the write of the one before it drained): fresh memory for every segment would add
 * a page fault per 4 KiB (~0.1–0.2 s of CPU per 200 MiB here), which is not the transport's cost.
 */
const pool = []
const pooled = (s) => (pool[s % (SEGMENTS_IN_FLIGHT + 1)] ??= Buffer.allocUnsafe(SEGMENT_BYTES))

function relay(urls, size) {
  return http.createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })
    const segments = Math.ceil(size / SEGMENT_BYTES)
    const fetchSegment = (s) => {
      const from = s * SEGMENT_BYTES
      const len = Math.min(SEGMENT_BYTES, size - from)
      const out = pooled(s).subarray(0, len)
      const part = Math.ceil(len / urls.length)
      const parts = urls.map((u, i) => {
        const a = Math.min(len, i * part)
        const b = Math.min(len, a + part)
        return a < b ? fetchInto(u, from + a, from + b, out, a) : Promise.resolve()
      })
      return Promise.all(parts).then(() => out)
    }
    const inFlight = []
    let next = 0
    while (next < segments && inFlight.length < SEGMENTS_IN_FLIGHT) inFlight.push(fetchSegment(next++))
    while (inFlight.length > 0) {
      const seg = await inFlight.shift()
      if (next < segments) inFlight.push(fetchSegment(next++))
      if (!res.write(seg)) await new Promise((r) => res.once('drain', r))
    }
    res.end()
  })
}

/** One upstream response piped to the client as it arrives (the least a relay can do). */
function proxy(url) {
  return http.createServer((_req, res) => {
    http.get(url, (up) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': up.headers['content-length'] })
      up.pipe(res)
    })
  })
}

const stdin = fstatSync(0) // a pipe from the parent: node's spawn gives a socket pair, a shell a FIFO
if (stdin.isFIFO() || stdin.isSocket()) process.stdin.on('end', () => process.exit(0)).resume()

const server =
  process.argv[2] === '--relay'
    ? relay(process.argv[3].split(','), Number(process.argv[4]))
    : process.argv[2] === '--proxy'
      ? proxy(process.argv[3])
      : serveFile(await readFile(process.argv[2]))
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
