/**
 * The S3 gateway's HTTP server (node:http): path-style requests `/{bucket}/{key}` (and virtual-hosted ones,
 * `{bucket}.{host}`, when the Host header names a bucket under the configured domain), SigV4-authenticated, answered
 * in S3 XML. Operations are chosen by method, bucket/key presence and the query's sub-resource, from one table.
 *
 * Outside S3's namespace (bucket names cannot start with `_`): `/_stratos/…`, the gateway's own JSON endpoints —
 * `GET /_stratos/info` (its delegate key and chain) and the wallet-signed credential admin (credentials.ts).
 * Unsigned requests are anonymous and refused (AccessDenied): every object belongs to a wallet; public objects are
 * read through the IPFS gateway by their CID.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { StratosError, toStratosError } from '../errors.ts'
import { MAX_JSON_BODY_BYTES, S3_MAX_BUCKETS_PER_OWNER } from '../limits.ts'
import { markErrorCode, readJsonBody, sendJson } from '../net/http-server.ts'
import {
  zDelegationCreatePayload,
  zDelegationListPayload,
  zDelegationRevokePayload,
  zWalletSigned,
} from '../sds/protocol/messages.ts'
import { randomHex } from '../util/components.ts'
import { ownBucket, sendEmpty, sendXml, type S3Request, type S3Services } from './context.ts'
import { S3Error, toS3Error } from './errors.ts'
import { listBuckets, listObjects } from './listing.ts'
import {
  abortMultipart,
  completeMultipart,
  createMultipart,
  listMultipartUploads,
  listParts,
  uploadPart,
  uploadPartCopy,
} from './multipart.ts'
import { copyObject, deleteObject, deleteObjects, getObject, putObject, readXmlText } from './objects.ts'
import { isSigned, parseClaim, safeDecode, verifySignature } from './sigv4.ts'
import { serveOps, type Ops } from '../net/ops.ts'
import { parseXmlBody } from './xml.ts'

export const ADMIN_PREFIX = '/_stratos'

export interface S3Info {
  /** This gateway's node address and delegate key (base64url ed25519): credentials' delegations name it. */
  address: string
  delegateKey: string
  chainId: string
  metaUrl: string
  region: string
  version: string
}

export interface S3ServerOptions {
  services: S3Services
  info: S3Info
  /** Virtual-hosted-style requests: `{bucket}.{domain}`. Absent: path style only. */
  domain?: string
  /** /metrics, /healthz, /readyz (answered to unsigned requests only: signed ones are S3 requests) and request metrics. */
  ops: Ops
}

type Op = (s: S3Services, r: S3Request) => Promise<void> | void

/** Chooses the operation; NotImplemented for S3 sub-resources this gateway does not serve. */
function route(r: S3Request): Op {
  const q = r.query
  const m = r.method
  if (r.bucket === '') {
    if (m === 'GET') return listBuckets
    throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource')
  }
  if (r.key === '') {
    if (q.has('location')) {
      if (m === 'GET') return getBucketLocation
    } else if (q.has('uploads')) {
      if (m === 'GET') return listMultipartUploads
    } else if (q.has('delete')) {
      if (m === 'POST') return deleteObjects
    } else if (q.has('versioning')) {
      if (m === 'GET') return getBucketVersioning
    } else if (SUBRESOURCES.some((x) => q.has(x))) {
      throw new S3Error(
        'NotImplemented',
        'a header or query you provided implies functionality that is not implemented',
      )
    } else {
      switch (m) {
        case 'PUT':
          return createBucket
        case 'HEAD':
          return headBucket
        case 'DELETE':
          return deleteBucket
        case 'GET':
          return (s, req) => listObjects(s, req, q.get('list-type') === '2')
      }
    }
    throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource')
  }
  if (q.has('uploads')) {
    if (m === 'POST') return createMultipart
  } else if (q.has('uploadId')) {
    switch (m) {
      case 'PUT':
        return r.req.headers['x-amz-copy-source'] !== undefined ? uploadPartCopy : uploadPart
      case 'POST':
        return completeMultipart
      case 'DELETE':
        return abortMultipart
      case 'GET':
        return listParts
    }
  } else if (SUBRESOURCES.some((x) => q.has(x))) {
    throw new S3Error('NotImplemented', 'a header or query you provided implies functionality that is not implemented')
  } else {
    switch (m) {
      case 'PUT':
        return r.req.headers['x-amz-copy-source'] !== undefined ? copyObject : putObject
      case 'GET':
        return (s, req) => getObject(s, req, false)
      case 'HEAD':
        return (s, req) => getObject(s, req, true)
      case 'DELETE':
        return deleteObject
    }
  }
  throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource')
}

/** Sub-resources S3 has and this gateway does not serve (answered NotImplemented, not mistaken for a plain GET). */
const SUBRESOURCES = [
  'acl',
  'policy',
  'cors',
  'lifecycle',
  'tagging',
  'website',
  'logging',
  'notification',
  'replication',
  'encryption',
  'object-lock',
  'retention',
  'legal-hold',
  'torrent',
  'restore',
  'select',
  'versions',
  'accelerate',
  'requestPayment',
  'ownershipControls',
  'publicAccessBlock',
  'analytics',
  'inventory',
  'metrics',
  'intelligent-tiering',
  'attributes',
]

function getBucketLocation(s: S3Services, r: S3Request): void {
  ownBucket(s, r)
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${s.region === 'us-east-1' ? '' : s.region}</LocationConstraint>`
  r.res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) })
  r.res.end(text)
}

function getBucketVersioning(s: S3Services, r: S3Request): void {
  ownBucket(s, r)
  sendXml(r.res, 200, 'VersioningConfiguration', {})
}

/** S3's bucket naming rules (3–63 of a-z 0-9 . -, starting and ending with a letter or digit, not an IP address). */
export function checkBucketName(name: string): void {
  if (
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) ||
    name.includes('..') ||
    /^\d+\.\d+\.\d+\.\d+$/.test(name) ||
    name.startsWith('xn--') ||
    name.endsWith('-s3alias')
  )
    throw new S3Error('InvalidBucketName', 'the specified bucket is not valid', { BucketName: name })
}

async function createBucket(s: S3Services, r: S3Request): Promise<void> {
  checkBucketName(r.bucket)
  const body = await readXmlText(r)
  if (body.trim() !== '') {
    const doc = parseXmlBody(body, 'CreateBucketConfiguration')
    const loc = typeof doc.LocationConstraint === 'string' ? doc.LocationConstraint.trim() : ''
    if (loc !== '' && loc !== s.region)
      throw new S3Error('InvalidArgument', `this gateway serves region ${s.region}`, { LocationConstraint: loc })
  }
  const { store } = s
  await store.write(() => {
    const b = store.buckets.get(r.bucket)
    if (b) {
      if (b.owner === r.owner)
        throw new S3Error(
          'BucketAlreadyOwnedByYou',
          'your previous request to create the named bucket succeeded and you already own it',
        )
      throw new S3Error('BucketAlreadyExists', 'the requested bucket name is not available')
    }
    if (store.bucketsOf(r.owner, S3_MAX_BUCKETS_PER_OWNER).length >= S3_MAX_BUCKETS_PER_OWNER)
      throw new S3Error('TooManyBuckets', 'you have attempted to create more buckets than allowed')
    store.addBucket({ name: r.bucket, owner: r.owner, createdAt: s.clock.now() })
  })
  sendEmpty(r.res, 200, { location: `/${r.bucket}` })
}

function headBucket(s: S3Services, r: S3Request): void {
  ownBucket(s, r)
  sendEmpty(r.res, 200, { 'x-amz-bucket-region': s.region })
}

async function deleteBucket(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const { store } = s
  await store.write(() => {
    if (!store.bucketEmpty(r.bucket)) throw new S3Error('BucketNotEmpty', 'the bucket you tried to delete is not empty')
    store.removeBucket(r.bucket)
  })
  sendEmpty(r.res, 204)
}

export interface S3Server {
  server: http.Server
  drain(): Promise<void>
}

function sendS3Error(res: ServerResponse, err: S3Error, resource: string, requestId: string, head: boolean): void {
  // Counted by S3 code in stratos_errors_total (metrics.ts); a 304 is an answer, not an error.
  if (err.status !== 304) markErrorCode(res, err.code)
  if (res.headersSent) {
    res.destroy(err)
    return
  }
  const extra = Object.entries(err.extra)
    .map(([k, v]) => `<${k}>${escapeText(v)}</${k}>`)
    .join('')
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${escapeText(err.message)}</Message>${extra}<Resource>${escapeText(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
  if (err.status === 304) {
    res.writeHead(304, { 'x-amz-request-id': requestId })
    res.end()
    return
  }
  res.writeHead(err.status, {
    'content-type': 'application/xml',
    'content-length': head ? 0 : Buffer.byteLength(text),
    'x-amz-request-id': requestId,
    ...(err.code === 'ServiceUnavailable' || err.code === 'SlowDown' ? { 'retry-after': '1' } : {}),
  })
  res.end(head ? undefined : text)
}

function escapeText(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'))
}

export function createS3Server(o: S3ServerOptions): S3Server {
  const s = o.services
  const inFlight = new Set<Promise<void>>()

  const admin = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    try {
      const method = req.method ?? 'GET'
      if (path === `${ADMIN_PREFIX}/info` && method === 'GET') return sendJson(res, 200, o.info)
      if (path === `${ADMIN_PREFIX}/healthz` && method === 'GET') return sendJson(res, 200, { ok: true })
      if (path === `${ADMIN_PREFIX}/credentials` && method === 'POST') {
        const body = zWalletSigned(zDelegationCreatePayload).safeParse(await readJsonBody(req, MAX_JSON_BODY_BYTES))
        if (!body.success) throw new StratosError('BAD_REQUEST', 'expected a wallet-signed delegation.create')
        return sendJson(res, 200, await s.credentials.create(body.data))
      }
      if (path === `${ADMIN_PREFIX}/credentials/list` && method === 'POST') {
        const body = zWalletSigned(zDelegationListPayload).safeParse(await readJsonBody(req, MAX_JSON_BODY_BYTES))
        if (!body.success) throw new StratosError('BAD_REQUEST', 'expected a wallet-signed delegation.list')
        return sendJson(res, 200, { credentials: s.credentials.list(body.data) })
      }
      const m = /^\/_stratos\/credentials\/([A-Z0-9]{20})\/revoke$/.exec(path)
      if (m && method === 'POST') {
        const body = zWalletSigned(zDelegationRevokePayload).safeParse(await readJsonBody(req, MAX_JSON_BODY_BYTES))
        if (!body.success) throw new StratosError('BAD_REQUEST', 'expected a wallet-signed delegation.revoke')
        return sendJson(res, 200, await s.credentials.revoke(m[1], body.data))
      }
      throw new StratosError('NOT_FOUND', `no route ${method} ${path}`)
    } catch (e) {
      const err = toStratosError(e)
      if (err.httpStatus >= 500) s.logger.error({ err: e, path }, 'S3 admin request failed')
      sendJson(res, err.httpStatus, err.toBody())
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomHex(s.random, 8).toUpperCase()
    res.setHeader('x-amz-request-id', requestId)
    res.setHeader('server', 'Stratos-S3')
    const ac = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) ac.abort()
    })
    const url = req.url ?? '/'
    const qi = url.indexOf('?')
    const rawPath = qi === -1 ? url : url.slice(0, qi)
    const rawQuery = qi === -1 ? '' : url.slice(qi + 1)
    if (rawPath === ADMIN_PREFIX || rawPath.startsWith(`${ADMIN_PREFIX}/`)) {
      o.ops.metrics.observe(req, res, 'admin')
      return admin(req, res, rawPath)
    }
    const method = req.method ?? 'GET'
    // A bucket may be named `metrics`: only an unsigned request reaches the ops endpoints.
    const signed = isSigned({ method, rawPath, rawQuery, headers: req.headers, rawHeaders: req.rawHeaders })
    if (!signed && serveOps(o.ops, req, res, rawPath)) return
    o.ops.metrics.observe(req, res, 's3')
    let resource = safeDecode(rawPath)
    try {
      // Bucket and key: from the path, or the bucket from a virtual-hosted Host header.
      let path = resource.replace(/^\//, '')
      const host = (req.headers.host ?? '').replace(/:\d+$/, '')
      if (o.domain && host.endsWith(`.${o.domain}`)) path = `${host.slice(0, -o.domain.length - 1)}/${path}`
      const slash = path.indexOf('/')
      const bucket = slash === -1 ? path : path.slice(0, slash)
      const key = slash === -1 ? '' : path.slice(slash + 1)
      resource = `/${path}`
      const parts = { method, rawPath, rawQuery, headers: req.headers, rawHeaders: req.rawHeaders }
      if (!signed)
        throw new S3Error('AccessDenied', 'anonymous access is not allowed: sign requests with an S3 credential')
      const now = s.clock.now()
      const claim = parseClaim(parts, now)
      const credential = await s.credentials.live(claim.accessKeyId, ac.signal)
      const signingKey = verifySignature(parts, claim, credential.secret)
      const r: S3Request = {
        req,
        res,
        method,
        bucket,
        key,
        query: new URLSearchParams(rawQuery),
        credential,
        owner: credential.record.owner,
        claim,
        signingKey,
        signal: ac.signal,
        requestId,
      }
      await route(r)(s, r)
    } catch (e) {
      const err = toS3Error(e)
      if (err.status >= 500) s.logger.error({ err: e, method, url }, 'S3 request failed')
      else s.logger.debug({ code: err.code, method, url }, 'S3 request refused')
      // A body we did not read: close the connection rather than drain it.
      if (!req.complete) res.setHeader('connection', 'close')
      sendS3Error(res, err, resource, requestId, method === 'HEAD')
    }
  }

  const server = http.createServer((req, res) => {
    const p = handle(req, res)
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  })
  return {
    server,
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    },
  }
}
