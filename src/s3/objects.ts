/**
 * Object operations: PutObject, GetObject / HeadObject (Range, partNumber, conditional headers, response-*
 * overrides), DeleteObject, DeleteObjects, CopyObject.
 *
 * An object's bytes are an ordinary file of the network: PUT streams the (checked) body through the SDK as the
 * credential's wallet — the wallet owns it and its ozone pays — and the object record maps bucket/key to the file's
 * CID (answered in `x-stratos-cid`). GET streams the file (or a byte range of it) back through the SDK. Copies and
 * equal bodies share one network file (refs in store.ts); the file is deleted when no object names it any more.
 */
import type { ServerResponse } from 'node:http'
import { S3_MAX_DELETE_KEYS, S3_MAX_PUT_BYTES, S3_MAX_XML_BODY_BYTES } from '../limits.ts'
import { S3Error } from './errors.ts'
import { decodeBody, type BodyResult } from './body.ts'
import {
  checkKey,
  clientFor,
  httpDate,
  isoDate,
  metaFromHeaders,
  ownBucket,
  sendEmpty,
  sendXml,
  wantsPublic,
  type S3Request,
  type S3Services,
} from './context.ts'
import type { ObjectRecord } from './store.ts'
import { parseXmlBody, type XmlNode } from './xml.ts'
import { safeDecode } from './sigv4.ts'

export const CID_HEADER = 'x-stratos-cid'

/** The network file's name for an object (what `stratos ls` shows): bucket/key, cut to the 255 characters allowed. */
export function networkName(bucket: string, key: string): string {
  return `${bucket}/${key}`.slice(0, 255)
}

/** Reads a small XML request body (bounded). */
export async function readXmlText(r: S3Request): Promise<string> {
  const parts: Buffer[] = []
  let total = 0
  for await (const b of decodeBody(
    r.req,
    { headers: r.req.headers, claim: r.claim, signingKey: r.signingKey, maxBytes: S3_MAX_XML_BODY_BYTES },
    {},
  )) {
    total += b.length
    parts.push(Buffer.from(b))
  }
  return Buffer.concat(parts, total).toString('utf8')
}

/** Stores the object record; the object it replaces (if any) gives its ref back. */
export async function putObjectRecord(
  s: S3Services,
  bucket: string,
  key: string,
  rec: ObjectRecord,
  ifNoneMatch: boolean,
): Promise<void> {
  const { store } = s
  await store.write(() => {
    const old = store.objects.get([bucket, key])
    if (ifNoneMatch && old)
      throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold')
    store.objects.putSync([bucket, key], rec)
    store.addRef(rec.owner, rec.cid)
    if (old) store.dropRef(old.owner, old.cid, rec.lastModified)
  })
  s.kickDeleter()
}

export async function putObject(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  checkKey(r.key)
  const ifNoneMatch = r.req.headers['if-none-match'] === '*'
  if (ifNoneMatch && s.store.objects.get([r.bucket, r.key]))
    throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold')
  const meta = metaFromHeaders(r.req)
  const isPublic = wantsPublic(r.req)
  const result: Partial<BodyResult> = {}
  const body = decodeBody(
    r.req,
    { headers: r.req.headers, claim: r.claim, signingKey: r.signingKey, maxBytes: S3_MAX_PUT_BYTES },
    result,
  )
  const client = await clientFor(s, r)
  const put = await client.put(body, { name: networkName(r.bucket, r.key), public: isPublic, signal: r.signal })
  if (result.md5 === undefined) throw new S3Error('IncompleteBody', 'the body ended early')
  const etag = `"${result.md5}"`
  await putObjectRecord(
    s,
    r.bucket,
    r.key,
    {
      cid: put.cid,
      size: put.size,
      etag,
      lastModified: s.clock.now(),
      owner: r.owner,
      meta,
      ...(isPublic ? { public: true } : {}),
    },
    ifNoneMatch,
  )
  sendEmpty(r.res, 200, { etag, [CID_HEADER]: put.cid })
}

/** The object, which must exist (NoSuchKey). */
export function getRecord(s: S3Services, r: S3Request, bucket = r.bucket, key = r.key): ObjectRecord {
  const rec = s.store.objects.get([bucket, key])
  if (!rec) throw new S3Error('NoSuchKey', 'the specified key does not exist', { Key: key })
  return rec
}

function etagMatches(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((x) => x.trim())
    .some((x) => x === '*' || x === etag || `"${x}"` === etag || x.replace(/^W\//, '') === etag)
}

/**
 * S3's conditional checks (RFC 7232 order): If-Match / If-Unmodified-Since fail with 412, If-None-Match /
 * If-Modified-Since with 304. `prefix` reads the x-amz-copy-source-if-* forms (which fail with 412 throughout).
 */
export function checkConditions(
  headers: Record<string, string | string[] | undefined>,
  rec: ObjectRecord,
  prefix = '',
): 'ok' | 'not-modified' {
  const h = (n: string): string | undefined => {
    const v = headers[prefix + n]
    return Array.isArray(v) ? v[0] : v
  }
  const lastModifiedSec = Math.floor(rec.lastModified / 1000) * 1000
  const ifMatch = h('if-match')
  const ifNoneMatch = h('if-none-match')
  const ifModifiedSince = h('if-modified-since')
  const ifUnmodifiedSince = h('if-unmodified-since')
  const failed = (): never => {
    throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold')
  }
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, rec.etag)) failed()
  } else if (ifUnmodifiedSince !== undefined) {
    const t = Date.parse(ifUnmodifiedSince)
    if (!Number.isNaN(t) && lastModifiedSec > t) failed()
  }
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, rec.etag)) return prefix ? failed() : 'not-modified'
  } else if (ifModifiedSince !== undefined) {
    const t = Date.parse(ifModifiedSince)
    if (!Number.isNaN(t) && lastModifiedSec <= t) return prefix ? failed() : 'not-modified'
  }
  return 'ok'
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → [start, end] inclusive; undefined: whole object; InvalidRange when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined // several ranges or a malformed one: S3 sends the object
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) throw new S3Error('InvalidRange', 'the requested range is not satisfiable', { RangeRequested: header })
    return [Math.max(0, size - n), size - 1]
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || (m[2] !== '' && Number(m[2]) < start))
    throw new S3Error('InvalidRange', 'the requested range is not satisfiable', { RangeRequested: header })
  return [start, end]
}

function objectHeaders(rec: ObjectRecord, q: URLSearchParams): Record<string, string | number> {
  const h: Record<string, string | number> = {
    etag: rec.etag,
    'last-modified': httpDate(rec.lastModified),
    'accept-ranges': 'bytes',
    'content-type': q.get('response-content-type') ?? rec.meta.contentType ?? 'binary/octet-stream',
    [CID_HEADER]: rec.cid,
  }
  const opt = (name: string, value: string | undefined, override: string): void => {
    const v = q.get(override) ?? value
    if (v !== undefined) h[name] = v
  }
  opt('content-disposition', rec.meta.contentDisposition, 'response-content-disposition')
  opt('content-encoding', rec.meta.contentEncoding, 'response-content-encoding')
  opt('content-language', rec.meta.contentLanguage, 'response-content-language')
  opt('cache-control', rec.meta.cacheControl, 'response-cache-control')
  opt('expires', rec.meta.expires, 'response-expires')
  for (const [k, v] of Object.entries(rec.meta.user)) h[`x-amz-meta-${k}`] = v
  if (rec.parts) h['x-amz-mp-parts-count'] = rec.parts.length
  return h
}

/** GetObject and HeadObject. */
export async function getObject(s: S3Services, r: S3Request, head: boolean): Promise<void> {
  ownBucket(s, r)
  const rec = getRecord(s, r)
  if (checkConditions(r.req.headers, rec) === 'not-modified') {
    sendEmpty(r.res, 304, { etag: rec.etag, 'last-modified': httpDate(rec.lastModified) })
    return
  }
  const headers = objectHeaders(rec, r.query)
  let range: [number, number] | undefined
  const partNumber = r.query.get('partNumber')
  if (partNumber !== null) {
    const n = Number(partNumber)
    const sizes = rec.parts ?? [rec.size]
    if (!Number.isInteger(n) || n < 1 || n > sizes.length)
      throw new S3Error('InvalidPart', 'the requested part number is not satisfiable')
    const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0)
    range = sizes[n - 1] > 0 ? [start, start + sizes[n - 1] - 1] : undefined
    if (!rec.parts) range = undefined
  } else {
    const rh = r.req.headers.range
    range = rec.size > 0 ? parseRange(rh, rec.size) : undefined
    if (rh !== undefined && rec.size === 0 && /^bytes=\d+-/.test(rh.trim()))
      throw new S3Error('InvalidRange', 'the requested range is not satisfiable')
  }
  const [start, end] = range ?? [0, rec.size - 1]
  const length = rec.size === 0 ? 0 : end - start + 1
  headers['content-length'] = length
  if (range) headers['content-range'] = `bytes ${start}-${end}/${rec.size}`
  r.res.writeHead(range ? 206 : 200, headers)
  if (head || length === 0) {
    r.res.end()
    return
  }
  const client = await clientFor(s, r)
  await streamTo(r.res, client.cat(rec.cid, { offset: start, length, signal: r.signal }), r.signal)
}

/** Writes every chunk with backpressure; ends the response. */
export async function streamTo(
  res: ServerResponse,
  chunks: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  for await (const c of chunks) {
    if (!res.write(c)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          cleanup()
          resolve()
        }
        const onClose = (): void => {
          cleanup()
          reject(new S3Error('IncompleteBody', 'the client went away'))
        }
        const cleanup = (): void => {
          res.off('drain', onDrain)
          res.off('close', onClose)
        }
        res.on('drain', onDrain)
        res.on('close', onClose)
      })
    }
    if (signal.aborted) return
  }
  res.end()
}

/** Removes an object record (its network file is deleted when nothing else names it). */
async function removeObject(s: S3Services, bucket: string, key: string): Promise<void> {
  const { store } = s
  await store.write(() => {
    const old = store.objects.get([bucket, key])
    if (!old) return
    store.objects.removeSync([bucket, key])
    store.dropRef(old.owner, old.cid, s.clock.now())
  })
  s.kickDeleter()
}

export async function deleteObject(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  checkKey(r.key)
  await removeObject(s, r.bucket, r.key)
  sendEmpty(r.res, 204)
}

export async function deleteObjects(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const doc = parseXmlBody(await readXmlText(r), 'Delete')
  const objects = (doc.Object as Record<string, unknown>[] | undefined) ?? []
  if (objects.length > S3_MAX_DELETE_KEYS)
    throw new S3Error('MalformedXML', `at most ${S3_MAX_DELETE_KEYS} keys per DeleteObjects request`)
  const quiet = String(doc.Quiet ?? '').trim() === 'true'
  const deleted: XmlNode[] = []
  const errors: XmlNode[] = []
  for (const o of objects) {
    const key = typeof o.Key === 'string' ? o.Key : String(o.Key ?? '')
    try {
      checkKey(key)
      await removeObject(s, r.bucket, key)
      if (!quiet) deleted.push({ Key: key })
    } catch (e) {
      const err = e instanceof S3Error ? e : new S3Error('InternalError', String(e))
      errors.push({ Key: key, Code: err.code, Message: err.message })
    }
  }
  sendXml(r.res, 200, 'DeleteResult', { Deleted: deleted, Error: errors })
}

/** `x-amz-copy-source: /bucket/key` (URL-encoded; a leading slash optional; versionId ignored) → [bucket, key]. */
export function copySource(header: string | string[] | undefined): [string, string] {
  const v = Array.isArray(header) ? header[0] : header
  if (v === undefined) throw new S3Error('InvalidArgument', 'x-amz-copy-source is required')
  const path = safeDecode(v.split('?')[0]).replace(/^\//, '')
  const slash = path.indexOf('/')
  if (slash <= 0 || slash === path.length - 1)
    throw new S3Error('InvalidArgument', 'copy source must be of the form bucket/key')
  return [path.slice(0, slash), path.slice(slash + 1)]
}

export async function copyObject(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  checkKey(r.key)
  const [srcBucket, srcKey] = copySource(r.req.headers['x-amz-copy-source'])
  ownBucket(s, r, srcBucket)
  const src = getRecord(s, r, srcBucket, srcKey)
  checkConditions(r.req.headers, src, 'x-amz-copy-source-')
  const directive = (r.req.headers['x-amz-metadata-directive'] ?? 'COPY').toString().toUpperCase()
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw new S3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE')
  if (srcBucket === r.bucket && srcKey === r.key && directive === 'COPY')
    throw new S3Error(
      'InvalidRequest',
      'this copy request is illegal because it is trying to copy an object to itself without changing the metadata',
    )
  const now = s.clock.now()
  const rec: ObjectRecord = {
    ...src,
    lastModified: now,
    owner: r.owner,
    meta: directive === 'REPLACE' ? metaFromHeaders(r.req) : src.meta,
  }
  // A copy shares the source's network file, and so its visibility (publishing needs the wallet's own signature).
  await putObjectRecord(s, r.bucket, r.key, rec, false)
  sendXml(r.res, 200, 'CopyObjectResult', { LastModified: isoDate(now), ETag: rec.etag }, { [CID_HEADER]: rec.cid })
}
