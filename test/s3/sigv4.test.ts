/**
 * SigV4 and aws-chunked bodies against the worked examples of AWS's S3 documentation ("Signature Calculations for
 * the Authorization Header": GET Object, and "Transferring Payload in Multiple Chunks"): the same canonical request,
 * seed signature and chunk signatures, so the gateway verifies exactly what S3 verifies.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBody } from '../../src/s3/body.ts'
import { S3Error } from '../../src/s3/errors.ts'
import { parseClaim, verifySignature, type SignedRequestParts } from '../../src/s3/sigv4.ts'

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const NOW = Date.UTC(2013, 4, 24, 0, 0, 0)

function parts(method: string, path: string, headers: [string, string][]): SignedRequestParts {
  const h: Record<string, string> = {}
  for (const [k, v] of headers) h[k.toLowerCase()] = v
  return { method, rawPath: path, rawQuery: '', headers: h, rawHeaders: headers.flat() }
}

async function expectS3(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    assert.ok(e instanceof S3Error, String(e))
    assert.equal(e.code, code)
    return
  }
  assert.fail(`expected ${code}`)
}

test('GET Object example: the documented signature verifies; another secret does not', async () => {
  const sig = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'
  const p = parts('GET', '/test.txt', [
    ['Host', 'examplebucket.s3.amazonaws.com'],
    ['Range', 'bytes=0-9'],
    ['x-amz-content-sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['x-amz-date', '20130524T000000Z'],
    [
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${sig}`,
    ],
  ])
  const claim = parseClaim(p, NOW)
  assert.equal(claim.accessKeyId, 'AKIAIOSFODNN7EXAMPLE')
  verifySignature(p, claim, SECRET)
  await expectS3(() => verifySignature(p, claim, SECRET.replace('K7', 'K8')), 'SignatureDoesNotMatch')
  await expectS3(() => parseClaim(p, NOW + 16 * 60_000), 'RequestTimeTooSkewed')
})

test('chunked PUT example: seed and every chunk signature verify; a changed byte is SignatureDoesNotMatch', async () => {
  const seed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9'
  const p = parts('PUT', '/examplebucket/chunkObject.txt', [
    ['Host', 's3.amazonaws.com'],
    ['x-amz-date', '20130524T000000Z'],
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    [
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${seed}`,
    ],
    ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
    ['Content-Encoding', 'aws-chunked'],
    ['x-amz-decoded-content-length', '66560'],
    ['Content-Length', '66824'],
  ])
  const claim = parseClaim(p, NOW)
  const key = verifySignature(p, claim, SECRET)
  const chunk = (n: number, sig: string) =>
    Buffer.concat([
      Buffer.from(`${n.toString(16)};chunk-signature=${sig}\r\n`),
      Buffer.alloc(n, 'a'),
      Buffer.from('\r\n'),
    ])
  const body = Buffer.concat([
    chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'),
    chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497'),
    chunk(0, 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'),
  ])
  assert.equal(body.length, 66824)
  const decode = async (bytes: Buffer): Promise<Buffer> => {
    const out: Buffer[] = []
    // Arrive in odd pieces, as a socket delivers them.
    const pieces = async function* () {
      for (let i = 0; i < bytes.length; i += 7_777) yield bytes.subarray(i, i + 7_777)
    }
    const result = {}
    for await (const c of decodeBody(
      pieces(),
      { headers: p.headers, claim, signingKey: key, maxBytes: 1 << 20 },
      result,
    ))
      out.push(Buffer.from(c))
    return Buffer.concat(out)
  }
  assert.deepEqual(await decode(body), Buffer.alloc(66560, 'a'))
  const tampered = Buffer.from(body)
  tampered[1000] = 'b'.charCodeAt(0) // inside the first chunk's data
  await expectS3(decode(tampered), 'SignatureDoesNotMatch')
  await expectS3(decode(body.subarray(0, 60_000)), 'IncompleteBody')
})
