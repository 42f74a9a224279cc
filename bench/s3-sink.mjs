/**
 * The floor of `aws s3 cp` on this machine: a minimal S3 endpoint that verifies nothing (no signature, no payload
 * hash, no Content-MD5, no checksum), stores nothing and answers what awscli needs to finish a transfer:
 *   PUT /bucket                      → 200 (make bucket)
 *   POST ?uploads / PUT ?partNumber / POST ?uploadId   → multipart, each part's body drained and discarded
 *   PUT /bucket/key                  → body drained
 *   HEAD|GET /bucket/key [Range]     → the bytes of DIR/key (from the page cache), so a download is checked byte-exact
 * What `aws s3 cp` takes against it is the client's own cost (reading, hashing, signing, threads, HTTP), which no
 * gateway can go below. Plain JavaScript, in its own process, like the gateway. Prints its port on stdout.
 *
 *   node bench/s3-sink.mjs DIR
 *   S3_SINK_LOG=1 also prints every request's method, URL and headers to stderr.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import { basename, join } from 'node:path'

const dir = process.argv[2]
const verbose = process.env.S3_SINK_LOG === '1'
const etag = '"00000000000000000000000000000000"'
let uploads = 0

/** Reads and drops the request body; calls `done` at its end. */
function drain(req, done) {
  req.on('data', () => {})
  req.on('end', done)
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://sink')
  const q = url.searchParams
  const path = url.pathname.split('/').filter(Boolean)
  if (verbose) process.stderr.write(`${req.method} ${req.url} ${JSON.stringify(req.headers)}\n`)
  const xml = (body) => {
    res.writeHead(200, { 'content-type': 'application/xml' })
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
  }
  if (req.method === 'POST' && q.has('uploads'))
    return drain(req, () =>
      xml(
        `<InitiateMultipartUploadResult><Bucket>${path[0]}</Bucket><Key>${path.slice(1).join('/')}</Key>` +
          `<UploadId>u${++uploads}</UploadId></InitiateMultipartUploadResult>`,
      ),
    )
  if (req.method === 'POST' && q.has('uploadId'))
    return drain(req, () =>
      xml(
        `<CompleteMultipartUploadResult><Bucket>${path[0]}</Bucket><Key>${path.slice(1).join('/')}</Key>` +
          `<ETag>"00000000000000000000000000000000-1"</ETag></CompleteMultipartUploadResult>`,
      ),
    )
  if (req.method === 'PUT')
    return drain(req, () => {
      res.writeHead(200, { etag, 'content-length': '0' })
      res.end()
    })
  if (req.method === 'HEAD' || req.method === 'GET') {
    const file = join(dir, basename(url.pathname))
    stat(file).then(
      (st) => serve(req, res, file, st.size),
      () => {
        res.writeHead(404, { 'content-length': '0' })
        res.end()
      },
    )
    return
  }
  return drain(req, () => {
    res.writeHead(200, { 'content-length': '0' })
    res.end()
  })
})

/** HEAD or GET (whole or one `bytes=a-b` range) of `file`. */
function serve(req, res, file, size) {
  let start = 0
  let end = size - 1
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  if (m) {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  }
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(end - start + 1),
    'last-modified': new Date(0).toUTCString(),
    'accept-ranges': 'bytes',
    etag,
  }
  if (m) headers['content-range'] = `bytes ${start}-${end}/${size}`
  res.writeHead(m ? 206 : 200, headers)
  if (req.method === 'HEAD') return res.end()
  createReadStream(file, { start, end, highWaterMark: 1 << 20 }).pipe(res)
}
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
