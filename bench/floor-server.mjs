/**
 * The loopback floor of an HTTP read on this machine: a plain node:http server that holds a file in memory and
 * serves it whole to GET /, nothing else (no verification, no tickets, no cache). Plain JavaScript, in its own
 * process, like the gateway. Prints its port on the first line of stdout.
 *
 *   node bench/floor-server.mjs FILE
 */
import http from 'node:http'
import { readFile } from 'node:fs/promises'

const bytes = await readFile(process.argv[2])
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) })
  res.end(req.method === 'HEAD' ? undefined : bytes)
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
