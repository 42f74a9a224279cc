/**
 * AWS Signature Version 4 as S3 checks it: the `Authorization` header, presigned URLs (X-Amz-* query parameters),
 * and the seed signature of STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies (each chunk then chains from it: chunked.ts).
 *
 * The canonical request is rebuilt from what arrived: the path decoded and re-encoded the S3 way (every byte but
 * A-Z a-z 0-9 - _ . ~ and `/` percent-encoded, never double-encoded), the query sorted by encoded name then value,
 * the signed headers from the raw header list (values trimmed, inner runs of spaces collapsed, repeats joined by `,`),
 * and the payload hash the client declared (checked against the body later when it is a literal SHA-256).
 * Signatures compare in constant time. The region of the credential scope is taken as the client states it (any
 * region signs; S3 tools default to us-east-1), the service must be `s3`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { S3_MAX_CLOCK_SKEW_MS, S3_MAX_PRESIGN_SECONDS } from '../limits.ts'
import { S3Error } from './errors.ts'

export const ALGORITHM = 'AWS4-HMAC-SHA256'
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'
export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
export const STREAMING_PAYLOAD_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** What a request's signature claims, before the secret is known. */
export interface SignatureClaim {
  accessKeyId: string
  /** yyyymmdd of the credential scope. */
  date: string
  region: string
  service: string
  /** yyyymmddThhmmssZ. */
  amzDate: string
  signedHeaders: string[]
  signature: string
  /** The declared payload hash: hex SHA-256, UNSIGNED-PAYLOAD or one of the STREAMING-… modes. */
  payloadHash: string
  presigned: boolean
}

/** One request's parts the canonical request is built from. */
export interface SignedRequestParts {
  method: string
  /** The raw request target's path (still percent-encoded, as received). */
  rawPath: string
  /** The raw query string (without `?`). */
  rawQuery: string
  headers: IncomingHttpHeaders
  /** node:http's rawHeaders: name, value, name, value… */
  rawHeaders: string[]
}

/** Whether the request carries SigV4 at all (header or presigned); unsigned requests are anonymous. */
export function isSigned(p: SignedRequestParts): boolean {
  return p.headers.authorization !== undefined || /(^|&)X-Amz-Signature=/i.test(p.rawQuery)
}

/** Reads the claim from the Authorization header or the presigned query; checks the clock. */
export function parseClaim(p: SignedRequestParts, now: number): SignatureClaim {
  const auth = p.headers.authorization
  if (auth !== undefined) return parseHeaderClaim(auth, p.headers, now)
  return parsePresignedClaim(new URLSearchParams(p.rawQuery), now)
}

function parseHeaderClaim(auth: string, headers: IncomingHttpHeaders, now: number): SignatureClaim {
  if (!auth.startsWith(`${ALGORITHM} `)) {
    if (auth.startsWith('AWS ')) throw new S3Error('InvalidRequest', 'signature version 2 is not supported: use SigV4')
    throw new S3Error('AuthorizationHeaderMalformed', `the authorization header must use ${ALGORITHM}`)
  }
  const fields: Record<string, string> = {}
  for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  const { Credential: credential, SignedHeaders: signedHeaders, Signature: signature } = fields
  if (!credential || !signedHeaders || !signature)
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      'the authorization header needs Credential, SignedHeaders and Signature',
    )
  const amzDate = headerValue(headers['x-amz-date']) ?? ''
  const payloadHash = headerValue(headers['x-amz-content-sha256'])
  if (payloadHash === undefined)
    throw new S3Error('InvalidRequest', 'missing required header for this request: x-amz-content-sha256')
  const claim = claimFrom(credential, amzDate, signedHeaders, signature, payloadHash, false)
  const t = parseAmzDate(amzDate)
  if (Math.abs(t - now) > S3_MAX_CLOCK_SKEW_MS)
    throw new S3Error(
      'RequestTimeTooSkewed',
      'the difference between the request time and the server time is too large',
    )
  return claim
}

function parsePresignedClaim(q: URLSearchParams, now: number): SignatureClaim {
  if (q.get('X-Amz-Algorithm') !== ALGORITHM)
    throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Algorithm must be ${ALGORITHM}`)
  const credential = q.get('X-Amz-Credential') ?? ''
  const amzDate = q.get('X-Amz-Date') ?? ''
  const expires = Number(q.get('X-Amz-Expires') ?? '')
  const signedHeaders = q.get('X-Amz-SignedHeaders') ?? ''
  const signature = q.get('X-Amz-Signature') ?? ''
  if (!Number.isInteger(expires) || expires < 1 || expires > S3_MAX_PRESIGN_SECONDS)
    throw new S3Error(
      'AuthorizationQueryParametersError',
      `X-Amz-Expires must be between 1 and ${S3_MAX_PRESIGN_SECONDS} seconds`,
    )
  const claim = claimFrom(
    credential,
    amzDate,
    signedHeaders,
    signature,
    q.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD,
    true,
  )
  const t = parseAmzDate(amzDate)
  if (t - now > S3_MAX_CLOCK_SKEW_MS) throw new S3Error('AccessDenied', 'the request is not valid yet')
  if (now > t + expires * 1000) throw new S3Error('AccessDenied', 'request has expired')
  return claim
}

function claimFrom(
  credential: string,
  amzDate: string,
  signedHeaders: string,
  signature: string,
  payloadHash: string,
  presigned: boolean,
): SignatureClaim {
  const scope = credential.split('/')
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1]))
    throw new S3Error('AuthorizationHeaderMalformed', 'the credential must be KEY/yyyymmdd/region/s3/aws4_request')
  if (scope[3] !== 's3') throw new S3Error('AuthorizationHeaderMalformed', 'the credential scope service must be s3')
  if (!amzDate.startsWith(scope[1]))
    throw new S3Error('AuthorizationHeaderMalformed', 'the credential date does not match the request date')
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new S3Error('SignatureDoesNotMatch', 'the signature is malformed')
  return {
    accessKeyId: scope[0],
    date: scope[1],
    region: scope[2],
    service: scope[3],
    amzDate,
    signedHeaders: signedHeaders.split(';').map((h) => h.trim().toLowerCase()),
    signature,
    payloadHash,
    presigned,
  }
}

function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  if (!m) throw new S3Error('AccessDenied', 'X-Amz-Date must be yyyymmddThhmmssZ')
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** S3's URI encoding: every byte but unreserved characters percent-encoded (upper-case hex); `/` kept when asked. */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Percent-decoding that never throws (a malformed escape stays as it is). */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function canonicalQuery(rawQuery: string, presigned: boolean): string {
  if (rawQuery === '') return ''
  const pairs: [string, string][] = []
  for (const part of rawQuery.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const k = safeDecode((eq === -1 ? part : part.slice(0, eq)).replace(/\+/g, '%20'))
    const v = eq === -1 ? '' : safeDecode(part.slice(eq + 1).replace(/\+/g, '%20'))
    if (presigned && k === 'X-Amz-Signature') continue
    pairs.push([uriEncode(k, false), uriEncode(v, false)])
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

function canonicalHeaders(p: SignedRequestParts, signed: string[]): string {
  const values = new Map<string, string[]>()
  for (let i = 0; i + 1 < p.rawHeaders.length; i += 2) {
    const name = p.rawHeaders[i].toLowerCase()
    if (!signed.includes(name)) continue
    const list = values.get(name) ?? []
    list.push(p.rawHeaders[i + 1].trim().replace(/\s+/g, ' '))
    values.set(name, list)
  }
  return signed.map((h) => `${h}:${(values.get(h) ?? []).join(',')}\n`).join('')
}

export function canonicalRequest(p: SignedRequestParts, claim: SignatureClaim): string {
  if (!claim.signedHeaders.includes('host'))
    throw new S3Error('AuthorizationHeaderMalformed', 'the host header must be signed')
  return [
    p.method,
    uriEncode(safeDecode(p.rawPath), true),
    canonicalQuery(p.rawQuery, claim.presigned),
    canonicalHeaders(p, claim.signedHeaders),
    claim.signedHeaders.join(';'),
    claim.payloadHash,
  ].join('\n')
}

export function scopeOf(c: Pick<SignatureClaim, 'date' | 'region' | 'service'>): string {
  return `${c.date}/${c.region}/${c.service}/aws4_request`
}

/** kSigning = HMAC chain of the secret over date, region, service and "aws4_request". */
export function signingKey(secret: string, c: Pick<SignatureClaim, 'date' | 'region' | 'service'>): Buffer {
  const kDate = createHmac('sha256', `AWS4${secret}`).update(c.date).digest()
  const kRegion = createHmac('sha256', kDate).update(c.region).digest()
  const kService = createHmac('sha256', kRegion).update(c.service).digest()
  return createHmac('sha256', kService).update('aws4_request').digest()
}

export function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex')
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Checks the request's signature with `secret`; SignatureDoesNotMatch otherwise. Returns the signing key (chunks chain from it). */
export function verifySignature(p: SignedRequestParts, claim: SignatureClaim, secret: string): Buffer {
  const key = signingKey(secret, claim)
  const toSign = [ALGORITHM, claim.amzDate, scopeOf(claim), sha256Hex(canonicalRequest(p, claim))].join('\n')
  if (!signaturesEqual(hmacHex(key, toSign), claim.signature))
    throw new S3Error(
      'SignatureDoesNotMatch',
      'the request signature we calculated does not match the signature you provided: check your key and signing method',
    )
  return key
}
