/**
 * Request bodies of object PUTs and part uploads, as S3 clients send them:
 *   - plain bytes, with the payload hash declared as a literal SHA-256 (checked at the end) or UNSIGNED-PAYLOAD;
 *   - `aws-chunked` bodies: STREAMING-AWS4-HMAC-SHA256-PAYLOAD (every chunk signed, chained from the seed signature),
 *     its -TRAILER variant (plus a signed trailer), and STREAMING-UNSIGNED-PAYLOAD-TRAILER (no chunk signatures).
 * Trailers and headers may carry x-amz-checksum-{crc32,crc32c,sha1,sha256}, verified over the decoded bytes;
 * Content-MD5 is verified too (BadDigest). The decoded bytes stream through (never a whole chunk buffered); every
 * check happens before the generator finishes, so a consumer commits nothing a failed check would have refused.
 * The MD5 (the object's ETag) is computed on the way.
 */
import { createHash, type Hash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { crc32 } from 'node:zlib'
import { S3_CHUNK_HEADER_MAX_BYTES } from '../limits.ts'
import { S3Error } from './errors.ts'
import {
  EMPTY_SHA256,
  STREAMING_PAYLOAD,
  STREAMING_PAYLOAD_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
  hmacHex,
  scopeOf,
  sha256Hex,
  signaturesEqual,
  type SignatureClaim,
} from './sigv4.ts'

export interface BodyResult {
  size: number
  /** Hex MD5 of the decoded bytes. */
  md5: string
}

export interface BodyOptions {
  headers: IncomingHttpHeaders
  claim: SignatureClaim
  /** The request's signing key (streaming chunks chain from it). */
  signingKey: Buffer
  /** Bytes most accepted; EntityTooLarge beyond. */
  maxBytes: number
}

type ChecksumAlgo = 'crc32' | 'crc32c' | 'sha1' | 'sha256'

/** A running checksum of the ones S3 clients send. */
class Checksum {
  #crc = 0
  #hash: Hash | undefined
  constructor(readonly algo: ChecksumAlgo) {
    if (algo === 'sha1' || algo === 'sha256') this.#hash = createHash(algo)
  }
  update(b: Uint8Array): void {
    if (this.#hash) this.#hash.update(b)
    else if (this.algo === 'crc32') this.#crc = crc32(b, this.#crc)
    else this.#crc = crc32c(b, this.#crc)
  }
  base64(): string {
    if (this.#hash) return this.#hash.digest('base64')
    const out = Buffer.alloc(4)
    out.writeUInt32BE(this.#crc >>> 0)
    return out.toString('base64')
  }
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** CRC-32C (Castagnoli), continuing from `prev`. */
export function crc32c(b: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0
  for (let i = 0; i < b.length; i++) c = CRC32C_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

function checksumAlgo(name: string): ChecksumAlgo | undefined {
  const m = /^x-amz-checksum-(crc32|crc32c|sha1|sha256|crc64nvme)$/.exec(name.toLowerCase())
  if (!m) return undefined
  if (m[1] === 'crc64nvme') throw new S3Error('InvalidRequest', 'the CRC64NVME checksum is not supported here')
  return m[1] as ChecksumAlgo
}

/**
 * Decodes and checks a request body; yields its bytes. `result` is filled in when the generator returns (all checks
 * passed). Throws S3Error (XAmzContentSHA256Mismatch, SignatureDoesNotMatch, BadDigest, IncompleteBody, …).
 */
export async function* decodeBody(
  body: AsyncIterable<Uint8Array>,
  o: BodyOptions,
  result: Partial<BodyResult>,
): AsyncGenerator<Uint8Array> {
  const { headers, claim } = o
  const md5 = createHash('md5')
  const mode = claim.payloadHash
  const streaming =
    mode === STREAMING_PAYLOAD || mode === STREAMING_PAYLOAD_TRAILER || mode === STREAMING_UNSIGNED_TRAILER
  const literal = /^[0-9a-f]{64}$/.test(mode) ? mode : undefined
  if (!streaming && literal === undefined && mode !== UNSIGNED_PAYLOAD)
    throw new S3Error('InvalidArgument', `unsupported x-amz-content-sha256 ${mode}`)
  if (streaming && claim.presigned) throw new S3Error('InvalidRequest', 'a presigned request cannot stream chunks')
  const sha = literal !== undefined ? createHash('sha256') : undefined
  // Checksums declared in headers (x-amz-checksum-*: value) or announced as trailers (x-amz-trailer: name).
  const checksums = new Map<string, { sum: Checksum; expected: string | undefined }>()
  for (const [name, value] of Object.entries(headers)) {
    const algo = checksumAlgo(name)
    if (algo && typeof value === 'string') checksums.set(name, { sum: new Checksum(algo), expected: value })
  }
  const trailerName = typeof headers['x-amz-trailer'] === 'string' ? headers['x-amz-trailer'].trim().toLowerCase() : ''
  if (trailerName !== '') {
    const algo = checksumAlgo(trailerName)
    if (!algo) throw new S3Error('InvalidRequest', `unsupported trailer ${trailerName}`)
    checksums.set(trailerName, { sum: new Checksum(algo), expected: undefined })
  }
  const declared = streaming ? headers['x-amz-decoded-content-length'] : headers['content-length']
  const expectedSize = declared === undefined ? undefined : Number(declared)
  if (expectedSize !== undefined && !(Number.isSafeInteger(expectedSize) && expectedSize >= 0))
    throw new S3Error('InvalidArgument', 'bad content length')
  if (expectedSize !== undefined && expectedSize > o.maxBytes)
    throw new S3Error('EntityTooLarge', `your proposed upload exceeds the maximum allowed size of ${o.maxBytes} bytes`)
  if (streaming && expectedSize === undefined)
    throw new S3Error('MissingContentLength', 'x-amz-decoded-content-length is required with aws-chunked bodies')

  let size = 0
  const consume = (b: Uint8Array): void => {
    size += b.length
    if (size > o.maxBytes)
      throw new S3Error(
        'EntityTooLarge',
        `your proposed upload exceeds the maximum allowed size of ${o.maxBytes} bytes`,
      )
    md5.update(b)
    sha?.update(b)
    for (const c of checksums.values()) c.sum.update(b)
  }

  if (!streaming) {
    for await (const b of body) {
      consume(b)
      yield b
    }
  } else {
    const signed = mode !== STREAMING_UNSIGNED_TRAILER
    const trailer = mode !== STREAMING_PAYLOAD
    const trailers = new Map<string, string>()
    for await (const b of decodeChunks(body, { signed, trailer, claim, key: o.signingKey, trailers })) {
      consume(b)
      yield b
    }
    for (const [name, value] of trailers) {
      const c = checksums.get(name)
      if (c) c.expected = value
    }
  }

  if (expectedSize !== undefined && size !== expectedSize)
    throw new S3Error(
      'IncompleteBody',
      `you did not provide the number of bytes specified (${size} of ${expectedSize})`,
    )
  if (sha && sha.digest('hex') !== literal)
    throw new S3Error('XAmzContentSHA256Mismatch', 'the provided x-amz-content-sha256 does not match what was computed')
  const md5Bytes = md5.digest()
  const contentMd5 = headers['content-md5']
  if (typeof contentMd5 === 'string') {
    if (!/^[A-Za-z0-9+/]{22}==$/.test(contentMd5.trim()))
      throw new S3Error('InvalidDigest', 'the Content-MD5 is not valid')
    if (md5Bytes.toString('base64') !== contentMd5.trim())
      throw new S3Error('BadDigest', 'the Content-MD5 you specified did not match what we received')
  }
  for (const [name, c] of checksums) {
    if (c.expected === undefined) throw new S3Error('IncompleteBody', `the trailer ${name} was announced but not sent`)
    if (c.sum.base64() !== c.expected.trim())
      throw new S3Error(
        'BadDigest',
        `the ${name.slice('x-amz-checksum-'.length).toUpperCase()} you specified did not match the calculated checksum`,
      )
  }
  result.size = size
  result.md5 = md5Bytes.toString('hex')
}

interface ChunkOptions {
  signed: boolean
  trailer: boolean
  claim: SignatureClaim
  key: Buffer
  /** Filled with the trailer headers (lower-case name → value). */
  trailers: Map<string, string>
}

/** The aws-chunked decoder: `hex-size[;chunk-signature=sig]\r\n data \r\n` … `0…\r\n` [trailers] `\r\n`. */
async function* decodeChunks(body: AsyncIterable<Uint8Array>, o: ChunkOptions): AsyncGenerator<Uint8Array> {
  const scope = scopeOf(o.claim)
  let prevSig = o.claim.signature
  let pending: Buffer = Buffer.alloc(0)
  const it = body[Symbol.asyncIterator]()
  let ended = false
  const more = async (): Promise<boolean> => {
    if (ended) return false
    const r = await it.next()
    if (r.done) {
      ended = true
      return false
    }
    const v = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
    pending = pending.length === 0 ? v : Buffer.concat([pending, v])
    return true
  }
  const readLine = async (): Promise<string> => {
    for (;;) {
      const i = pending.indexOf('\r\n')
      if (i !== -1) {
        const line = pending.subarray(0, i).toString('latin1')
        pending = pending.subarray(i + 2)
        return line
      }
      if (pending.length > S3_CHUNK_HEADER_MAX_BYTES)
        throw new S3Error('InvalidChunkSizeError', 'a chunk header is too long')
      if (!(await more())) throw new S3Error('IncompleteBody', 'the chunked body ended early')
    }
  }
  const chunkCheck = (sig: string | undefined, hash: string): void => {
    if (!o.signed) return
    if (sig === undefined) throw new S3Error('SignatureDoesNotMatch', 'a chunk has no chunk-signature')
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', o.claim.amzDate, scope, prevSig, EMPTY_SHA256, hash].join('\n')
    if (!signaturesEqual(hmacHex(o.key, toSign), sig))
      throw new S3Error('SignatureDoesNotMatch', 'a chunk signature does not match')
    prevSig = sig
  }
  for (;;) {
    const header = await readLine()
    const [sizeHex, ...ext] = header.split(';')
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeHex.trim())) throw new S3Error('InvalidChunkSizeError', 'bad chunk size')
    const n = Number.parseInt(sizeHex.trim(), 16)
    const sig = ext
      .map((e) => e.trim())
      .find((e) => e.startsWith('chunk-signature='))
      ?.slice('chunk-signature='.length)
    const hash = o.signed ? createHash('sha256') : undefined
    let left = n
    while (left > 0) {
      if (pending.length === 0 && !(await more())) throw new S3Error('IncompleteBody', 'the chunked body ended early')
      const take = Math.min(left, pending.length)
      const piece = pending.subarray(0, take)
      pending = pending.subarray(take)
      left -= take
      hash?.update(piece)
      yield piece
    }
    chunkCheck(sig, hash ? hash.digest('hex') : EMPTY_SHA256)
    if (n === 0) break
    if ((await readLine()) !== '') throw new S3Error('IncompleteBody', 'a chunk does not end with CRLF')
  }
  if (!o.trailer) {
    // The final chunk is followed by an empty line (some clients omit it at the very end).
    if (pending.length > 0 || (await more())) await readLine()
    return
  }
  const lines: string[] = []
  let trailerSig: string | undefined
  for (;;) {
    if (pending.length === 0 && ended) break
    const line = await readLine().catch((e: unknown) => {
      if (ended && pending.length === 0) return ''
      throw e
    })
    if (line === '') break
    const colon = line.indexOf(':')
    if (colon <= 0) throw new S3Error('IncompleteBody', 'a malformed trailer line')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'x-amz-trailer-signature') trailerSig = value
    else {
      o.trailers.set(name, value)
      lines.push(`${name}:${value}\n`)
    }
  }
  if (o.signed) {
    if (trailerSig === undefined) throw new S3Error('SignatureDoesNotMatch', 'the trailer is not signed')
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', o.claim.amzDate, scope, prevSig, sha256Hex(lines.join(''))].join('\n')
    if (!signaturesEqual(hmacHex(o.key, toSign), trailerSig))
      throw new S3Error('SignatureDoesNotMatch', 'the trailer signature does not match')
  }
}
