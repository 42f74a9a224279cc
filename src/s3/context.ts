/**
 * What every S3 operation gets: the gateway's parts (`S3Services`) and the request at hand (`S3Request`: the
 * authenticated wallet, bucket, key and query), plus the helpers every operation answers with.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Clock, Logger, RandomBytes } from '../util/components.ts'
import type { Credentials, LiveCredential } from './credentials.ts'
import { S3Error } from './errors.ts'
import type { NetworkClients } from './network.ts'
import type { Assemblers } from './assembler.ts'
import type { BucketRecord, ObjectMeta, S3Store } from './store.ts'
import type { SignatureClaim } from './sigv4.ts'
import { xmlDocument, type XmlNode } from './xml.ts'
import type { StratosClient } from '../sds/client/client.ts'

export interface S3Services {
  store: S3Store
  credentials: Credentials
  network: NetworkClients
  clock: Clock
  random: RandomBytes
  logger: Logger
  /** Where multipart parts are staged (dataDir/parts). */
  partsDir: string
  region: string
  /** How long a multipart upload may stay idle before it is aborted and its parts freed. */
  multipartTtlMs: number
  /** Wakes the deleter (network files no object names any more). */
  kickDeleter: () => void
  /** Speculative assembly of multipart objects while their parts arrive (assembler.ts). */
  assemblers: Assemblers
}

export interface S3Request {
  req: IncomingMessage
  res: ServerResponse
  method: string
  bucket: string
  key: string
  query: URLSearchParams
  credential: LiveCredential
  /** The credential's wallet. */
  owner: string
  claim: SignatureClaim
  signingKey: Buffer
  signal: AbortSignal
  requestId: string
}

/** The SDK client acting for the request's credential. */
export function clientFor(s: S3Services, r: S3Request): Promise<StratosClient> {
  return s.network.client(r.owner, r.credential.record.delegationId)
}

export function sendXml(
  res: ServerResponse,
  status: number,
  root: string,
  body: XmlNode,
  headers: Record<string, string> = {},
): void {
  const text = xmlDocument(root, body)
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { 'content-length': 0, ...headers })
  res.end()
}

/** The bucket, which must exist and belong to the request's wallet (NoSuchBucket, AccessDenied). */
export function ownBucket(s: S3Services, r: S3Request, name = r.bucket): BucketRecord {
  const b = s.store.buckets.get(name)
  if (!b) throw new S3Error('NoSuchBucket', 'the specified bucket does not exist', { BucketName: name })
  if (b.owner !== r.owner) throw new S3Error('AccessDenied', 'access denied')
  return b
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.000Z')
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString()
}

/** Object metadata from a PUT's (or CreateMultipartUpload's, or a REPLACE copy's) headers. */
export function metaFromHeaders(req: IncomingMessage): ObjectMeta {
  const h = req.headers
  const str = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v)
  const user: Record<string, string> = {}
  let userBytes = 0
  for (const [name, value] of Object.entries(h)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue
    const v = str(value) ?? ''
    user[name.slice('x-amz-meta-'.length)] = v
    userBytes += name.length - 'x-amz-meta-'.length + Buffer.byteLength(v)
  }
  if (userBytes > 2048)
    throw new S3Error('InvalidArgument', 'your metadata headers exceed the maximum allowed metadata size (2 KB)')
  const meta: ObjectMeta = { user }
  const set = (k: Exclude<keyof ObjectMeta, 'user'>, header: string): void => {
    const v = str(h[header])
    if (v !== undefined) meta[k] = v
  }
  set('contentType', 'content-type')
  set('contentDisposition', 'content-disposition')
  set('contentEncoding', 'content-encoding')
  set('contentLanguage', 'content-language')
  set('cacheControl', 'cache-control')
  set('expires', 'expires')
  // aws-chunked is how the body travelled, not how the object is encoded.
  if (meta.contentEncoding !== undefined) {
    const rest = meta.contentEncoding
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '' && x !== 'aws-chunked')
    if (rest.length === 0) delete meta.contentEncoding
    else meta.contentEncoding = rest.join(', ')
  }
  return meta
}

/** `x-amz-acl: public-read` (or public-read-write) publishes the object: the IPFS gateway then serves it to anyone. */
export function wantsPublic(req: IncomingMessage): boolean {
  const acl = req.headers['x-amz-acl']
  return acl === 'public-read' || acl === 'public-read-write'
}

export function checkKey(key: string): void {
  if (key === '') throw new S3Error('InvalidRequest', 'an object key is required')
  if (Buffer.byteLength(key) > 1024) throw new S3Error('KeyTooLongError', 'your key is too long')
}
