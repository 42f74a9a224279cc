import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { boundaryOf, parseHeaderValue, parseMultipart } from '../../../src/ipfs/rpc/multipart.ts'
import { isStratosError } from '../../../src/errors.ts'

const LIMITS = { maxHeaderBytes: 1024 }

/** Feeds `body` in pieces of the given sizes (cycled), as a socket would. */
async function* pieces(body: Buffer, sizes: number[]): AsyncIterable<Uint8Array> {
  let off = 0
  let i = 0
  while (off < body.length) {
    const n = Math.max(1, sizes[i++ % sizes.length])
    yield body.subarray(off, off + n)
    off += n
  }
}

async function parseAll(
  body: Buffer,
  boundary: string,
  sizes = [body.length],
): Promise<{ filename?: string; type: string; data: string }[]> {
  const out = []
  for await (const part of parseMultipart(pieces(body, sizes), boundary, LIMITS)) {
    const chunks: Uint8Array[] = []
    for await (const c of part.body) chunks.push(c)
    out.push({
      filename: part.headers.filename,
      type: part.headers.contentType,
      data: Buffer.concat(chunks).toString('latin1'),
    })
  }
  return out
}

function body(boundary: string, parts: { name: string; type: string; data: string }[], preamble = ''): Buffer {
  let s = preamble
  for (const p of parts) {
    s += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${p.name}"\r\nContent-Type: ${p.type}\r\n\r\n${p.data}\r\n`
  }
  s += `--${boundary}--\r\n`
  return Buffer.from(s, 'latin1')
}

describe('multipart parser', () => {
  it('reads parts whatever the chunking, including data that looks like a delimiter', async () => {
    const b = 'bnd'
    const parts = [
      {
        name: 'a.txt',
        type: 'application/octet-stream',
        data: 'hello\r\n--bn not a delimiter\r\n--bndX still data? no',
      },
      { name: 'dir', type: 'application/x-directory', data: '' },
      { name: 'dir%2Fb.bin', type: 'application/octet-stream', data: '\r\n\r\n' },
    ]
    // '--bndX' is a delimiter followed by junk: RFC 2046 requires CRLF (or "--") after it, so craft data without it.
    parts[0].data = 'hello\r\n--bn not a delimiter\r\n-- bnd data'
    const raw = body(b, parts, 'preamble to ignore\r\n')
    const expected = parts.map((p) => ({ filename: p.name, type: p.type, data: p.data }))
    for (const sizes of [[raw.length], [1], [2, 3], [7], [64]]) {
      assert.deepEqual(await parseAll(raw, b, sizes), expected, `pieces ${sizes.join(',')}`)
    }
  })

  it('round-trips random contents and random chunkings (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 5 }),
        async (contents, sizes) => {
          const b = 'zzBoundaryzz'
          const parts = contents.map((c, i) => ({
            name: `f${i}`,
            type: 'application/octet-stream',
            data: Buffer.from(c).toString('latin1'),
          }))
          const got = await parseAll(body(b, parts), b, sizes)
          assert.deepEqual(
            got.map((g) => g.data),
            parts.map((p) => p.data),
          )
        },
      ),
      { numRuns: 100 },
    )
  })

  it('skips unread part bodies', async () => {
    const raw = body('b', [
      { name: 'x', type: 'text/plain', data: 'skip me' },
      { name: 'y', type: 'text/plain', data: 'read me' },
    ])
    const names = []
    for await (const part of parseMultipart(pieces(raw, [3]), 'b', LIMITS)) names.push(part.headers.filename)
    assert.deepEqual(names, ['x', 'y'])
  })

  it('refuses truncated bodies, oversized headers and missing boundaries with BAD_REQUEST', async () => {
    const raw = body('b', [{ name: 'x', type: 'text/plain', data: 'data' }])
    await assert.rejects(parseAll(raw.subarray(0, raw.length - 8), 'b'), (e: unknown) =>
      isStratosError(e, 'BAD_REQUEST'),
    )
    await assert.rejects(parseAll(Buffer.from('no delimiter at all'), 'b'), (e: unknown) =>
      isStratosError(e, 'BAD_REQUEST'),
    )
    const big = Buffer.from(`--b\r\nX-Pad: ${'a'.repeat(2000)}\r\n\r\ndata\r\n--b--\r\n`)
    await assert.rejects(parseAll(big, 'b', [100]), (e: unknown) => isStratosError(e, 'BAD_REQUEST'))
    assert.throws(
      () => boundaryOf(undefined),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
    )
    assert.throws(
      () => boundaryOf('multipart/form-data'),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
    )
    assert.throws(
      () => boundaryOf('application/json'),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
    )
    assert.equal(boundaryOf('multipart/form-data; boundary="quoted b"'), 'quoted b')
  })

  it('parses Content-Disposition parameters (quoted, escaped, RFC 5987)', () => {
    const d = parseHeaderValue('form-data; name="file-1?mode=0644"; filename="a \\"b\\".txt"')
    assert.equal(d.type, 'form-data')
    assert.equal(d.params.get('name'), 'file-1?mode=0644')
    assert.equal(d.params.get('filename'), 'a "b".txt')
    assert.equal(parseHeaderValue("attachment; filename*=UTF-8''%C3%A9t%C3%A9.txt").params.get('filename'), 'été.txt')
  })
})
