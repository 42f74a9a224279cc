/**
 * The floor of a `stratos put` in this design on this machine: what a whole-process upload costs when it does nothing
 * but move the same bytes (no hashing, no coding, no tickets, no receipts, no meta node). Plain JavaScript, each side
 * in its own process, like the CLI and the resource nodes.
 *
 *   node bench/put-floor.mjs sink DIR
 *     A node:http server (one per "resource node") that writes each `PUT /file` body to a new file in DIR through the
 *     page cache (a write stream), answers 200 once the file is closed, then deletes it; a `PUT /null` body is read
 *     and discarded (the floor of moving the bytes alone). Prints its port on the first line
 *     of stdout; started with a pipe as stdin (as the benches start it), it exits when that pipe closes.
 *   node bench/put-floor.mjs put FILE K M SEGMENT_BYTES URL,URL,… [file|null]
 *     The client, as a whole process: reads FILE in segments (the devnet's segment size) into two reused
 *     buffers, and sends each segment's K data shards (segment / K bytes each) plus M more shards of the same size
 *     (copies of the first data shards, standing in for parity: nothing is coded) as K + M streams, one long PUT per
 *     sink, the next segment read while the last one is sent. (K + M) / K of the file crosses the loopback, as in a put.
 *     The last argument picks the sinks' route (default file). Prints the bytes sent.
 */
import http from 'node:http'
import { createWriteStream, fstatSync } from 'node:fs'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'

const IN_FLIGHT = 2

function sink(dir) {
  let n = 0
  const server = http.createServer((req, res) => {
    if (req.url === '/null') {
      req.resume()
      req.once('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
      return
    }
    const path = join(dir, `${process.pid}-${n++}`)
    const out = createWriteStream(path)
    req.pipe(out)
    out.once('close', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      void unlink(path).catch(() => {})
    })
  })
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
  process.on('SIGTERM', () => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  })
  const stdin = fstatSync(0)
  if (stdin.isFIFO() || stdin.isSocket()) process.stdin.on('end', () => process.exit(0)).resume()
}

async function put(file, k, m, SEGMENT_BYTES, urls, route) {
  if (urls.length !== k + m) throw new Error(`need ${k + m} sink URLs, got ${urls.length}`)
  const fh = await open(file, 'r')
  const size = (await fh.stat()).size
  const segments = Math.ceil(size / SEGMENT_BYTES)
  const shardOf = (len) => Math.ceil(len / k)
  let perStream = 0
  for (let s = 0; s < segments; s++) perStream += shardOf(Math.min(SEGMENT_BYTES, size - s * SEGMENT_BYTES))
  const agent = new http.Agent({ keepAlive: false })
  const answered = []
  const streams = urls.map((u) => {
    const req = http.request(`${u}/${route}`, {
      method: 'PUT',
      agent,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(perStream) },
    })
    answered.push(
      new Promise((resolve, reject) => {
        req.once('error', reject)
        req.once('response', (res) => {
          res.resume()
          res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`sink ${res.statusCode}`))))
        })
      }),
    )
    return req
  })
  const buffers = Array.from({ length: IN_FLIGHT }, () => Buffer.allocUnsafeSlow(SEGMENT_BYTES + k))
  const sent = [] // per buffer: the promise of its writes
  let bytes = 0
  for (let s = 0; s < segments; s++) {
    const b = s % IN_FLIGHT
    await sent[b]
    const buf = buffers[b]
    const len = Math.min(SEGMENT_BYTES, size - s * SEGMENT_BYTES)
    for (let off = 0; off < len; ) {
      const { bytesRead } = await fh.read(buf, off, len - off, s * SEGMENT_BYTES + off)
      if (bytesRead === 0) throw new Error('file shrank')
      off += bytesRead
    }
    const shard = shardOf(len)
    if (shard * k > len) buf.fill(0, len, shard * k)
    // Every stream writes its slice; a buffer is reused only once all of its writes are done.
    sent[b] = Promise.all(
      streams.map(
        (req, i) =>
          new Promise((resolve, reject) => {
            const from = (i % k) * shard
            bytes += shard
            req.write(buf.subarray(from, from + shard), (e) => (e ? reject(e) : resolve()))
          }),
      ),
    )
  }
  await Promise.all(sent)
  for (const req of streams) req.end()
  await Promise.all(answered)
  await fh.close()
  process.stdout.write(`${bytes}\n`)
}

if (process.argv[2] === 'sink') sink(process.argv[3])
else if (process.argv[2] === 'put')
  await put(
    process.argv[3],
    Number(process.argv[4]),
    Number(process.argv[5]),
    Number(process.argv[6]),
    process.argv[7].split(','),
    process.argv[8] === 'null' ? 'null' : 'file',
  )
else {
  process.stderr.write('usage: put-floor.mjs sink DIR | put FILE K M SEGMENT_BYTES URL,URL,… [file|null]\n')
  process.exit(2)
}
