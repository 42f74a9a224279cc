/**
 * Multipart uploads: Create, UploadPart (and UploadPartCopy), Complete, Abort, ListParts, ListMultipartUploads.
 *
 * Parts are staged on the gateway's disk (dataDir/parts/{uploadId}/), each written to a temp file, fsynced and
 * renamed into place before its record is committed — so an acknowledged part survives kill -9 of the gateway and a
 * client that resumes sends only the parts it is missing. Complete streams the parts, in order, through the SDK as one
 * network file (so the object's CID is exactly `ipfs add` of its bytes, and its traffic is paid once), then maps the
 * key to it; the ETag is S3's `md5(part md5s)-N`. Complete answers 200 at once and keeps the connection alive with
 * whitespace while the bytes move, as S3 does; a failure then travels as an <Error> document in that 200 body.
 * Uploads idle longer than their TTL are aborted by the sweeper, which frees their staged parts.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import {
  S3_COMPLETE_KEEPALIVE_MS,
  S3_MAX_OBJECT_BYTES,
  S3_MAX_PART_BYTES,
  S3_MAX_PARTS,
  S3_MIN_PART_BYTES,
  S3_MAX_LIST_KEYS,
  S3_STAGE_WRITE_BUFFERS,
  S3_STAGE_WRITE_BYTES,
} from '../limits.ts'
import { fsyncDirAsync } from '../util/fs.ts'
import { markErrorCode } from '../net/http-server.ts'
import { randomHex } from '../util/components.ts'
import { S3Error, toS3Error } from './errors.ts'
import { decodeBody, type BodyResult } from './body.ts'
import {
  checkKey,
  clientFor,
  isoDate,
  metaFromHeaders,
  ownBucket,
  sendEmpty,
  sendXml,
  wantsPublic,
  type S3Request,
  type S3Services,
} from './context.ts'
import {
  checkConditions,
  copySource,
  getRecord,
  networkName,
  parseRange,
  putObjectRecord,
  readXmlText,
} from './objects.ts'
import type { PartRecord, UploadRecord } from './store.ts'
import type { LivePart } from './assembler.ts'
import type { PutResult } from '../sds/client/types.ts'
import { escapeXml, parseXmlBody, S3_XMLNS, type XmlNode } from './xml.ts'

function liveUpload(s: S3Services, r: S3Request): UploadRecord {
  const id = r.query.get('uploadId') ?? ''
  const u = s.store.uploads.get(id)
  if (!u || u.bucket !== r.bucket || u.key !== r.key)
    throw new S3Error('NoSuchUpload', 'the specified multipart upload does not exist', { UploadId: id })
  if (u.owner !== r.owner) throw new S3Error('AccessDenied', 'access denied')
  return u
}

export async function createMultipart(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  checkKey(r.key)
  const now = s.clock.now()
  const uploadId = randomHex(s.random, 16)
  const u: UploadRecord = {
    uploadId,
    bucket: r.bucket,
    key: r.key,
    owner: r.owner,
    initiated: now,
    meta: metaFromHeaders(r.req),
    ...(wantsPublic(r.req) ? { public: true } : {}),
    expiresAt: now + s.multipartTtlMs,
  }
  await s.store.write(() => {
    s.store.uploads.putSync(uploadId, u)
    s.store.uploadKeys.putSync([r.bucket, r.key, uploadId], true)
  })
  sendXml(r.res, 200, 'InitiateMultipartUploadResult', { Bucket: r.bucket, Key: r.key, UploadId: uploadId })
}

function partNumberOf(r: S3Request): number {
  const n = Number(r.query.get('partNumber'))
  if (!Number.isInteger(n) || n < 1 || n > S3_MAX_PARTS)
    throw new S3Error('InvalidArgument', `part number must be an integer between 1 and ${S3_MAX_PARTS}`)
  return n
}

/** A new staged file name for part `partNumber` (a replaced part's file is another). */
function stagedName(partNumber: number): string {
  return `${partNumber}-${randomBytes(6).toString('hex')}.part`
}

/** Writes `chunks` to staged file `name` of the upload (temp, fsync, rename). */
async function stage(s: S3Services, uploadId: string, name: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const dir = join(s.partsDir, uploadId)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${name}.tmp`)
  const fh = await open(tmp, 'w', 0o600)
  try {
    // Buffers are written in batches (one writev per S3_STAGE_WRITE_BYTES or S3_STAGE_WRITE_BUFFERS): a request body
    // arrives in ~64 KiB pieces, and one threadpool round trip each would cost more than the copy into the page cache.
    let batch: Uint8Array[] = []
    let bytes = 0
    for await (const c of chunks) {
      batch.push(c)
      bytes += c.byteLength
      if (bytes >= S3_STAGE_WRITE_BYTES || batch.length >= S3_STAGE_WRITE_BUFFERS) {
        await fh.writev(batch)
        batch = []
        bytes = 0
      }
    }
    if (batch.length > 0) await fh.writev(batch)
    await fh.sync()
  } catch (e) {
    await fh.close()
    await rm(tmp, { force: true })
    throw e
  }
  await fh.close()
  await rename(tmp, join(dir, name))
  await fsyncDirAsync(dir)
}

async function recordPart(s: S3Services, u: UploadRecord, part: PartRecord): Promise<void> {
  const { store } = s
  const old = await store.write(() => {
    const cur = store.uploads.get(u.uploadId)
    if (!cur)
      throw new S3Error('NoSuchUpload', 'the specified multipart upload does not exist', { UploadId: u.uploadId })
    const prev = store.parts.get([u.uploadId, part.partNumber])
    store.parts.putSync([u.uploadId, part.partNumber], part)
    store.uploads.putSync(u.uploadId, { ...cur, expiresAt: part.lastModified + s.multipartTtlMs })
    return prev
  })
  if (old && old.file !== part.file) await rm(join(s.partsDir, u.uploadId, old.file), { force: true })
}

/**
 * Yields `body` and hands the same buffers to `live` (the speculative assembly reads them from memory); once the body
 * passed every check, tells `live` which part record it makes. Any failure fails `live`.
 */
async function* teeLive(
  body: AsyncIterable<Uint8Array>,
  live: LivePart,
  result: Partial<BodyResult>,
  part: (r: BodyResult) => PartRecord,
): AsyncGenerator<Uint8Array> {
  let ok = false
  try {
    for await (const c of body) {
      live.push(c)
      yield c
    }
    if (result.md5 === undefined || result.size === undefined)
      throw new S3Error('IncompleteBody', 'the body ended early')
    live.verified(part(result as BodyResult))
    ok = true
  } finally {
    if (!ok) live.fail()
  }
}

export async function uploadPart(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const u = liveUpload(s, r)
  const partNumber = partNumberOf(r)
  const result: Partial<BodyResult> = {}
  const body = decodeBody(
    r.req,
    { headers: r.req.headers, claim: r.claim, signingKey: r.signingKey, maxBytes: S3_MAX_PART_BYTES },
    result,
  )
  const file = stagedName(partNumber)
  const lastModified = s.clock.now()
  const part = (b: BodyResult): PartRecord => ({ partNumber, size: b.size, md5: b.md5, file, lastModified })
  const name = networkName(r.bucket, r.key)
  const live = s.assemblers.openLive(s, u, partNumber, declaredSize(r), () => clientFor(s, r), name)
  try {
    await stage(s, u.uploadId, file, live ? teeLive(body, live, result, part) : body)
    if (result.md5 === undefined || result.size === undefined)
      throw new S3Error('IncompleteBody', 'the body ended early')
    await recordPart(s, u, part(result as BodyResult))
  } catch (e) {
    live?.fail()
    throw e
  }
  s.assemblers.onPart(s, u, part(result as BodyResult), () => clientFor(s, r), name)
  sendEmpty(r.res, 200, { etag: `"${result.md5}"` })
}

/** The decoded body size a part request declares (Content-Length, or X-Amz-Decoded-Content-Length when chunked). */
function declaredSize(r: S3Request): number | undefined {
  const h = r.req.headers
  const v = h['x-amz-decoded-content-length'] ?? h['content-length']
  const n = typeof v === 'string' ? Number(v) : Number.NaN
  return Number.isSafeInteger(n) && n >= 0 && n <= S3_MAX_PART_BYTES ? n : undefined
}

/** UploadPartCopy: a part whose bytes are (a range of) an existing object of the wallet's. */
export async function uploadPartCopy(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const u = liveUpload(s, r)
  const partNumber = partNumberOf(r)
  const [srcBucket, srcKey] = copySource(r.req.headers['x-amz-copy-source'])
  ownBucket(s, r, srcBucket)
  const src = getRecord(s, r, srcBucket, srcKey)
  checkConditions(r.req.headers, src, 'x-amz-copy-source-')
  const rangeHeader = r.req.headers['x-amz-copy-source-range']
  const range =
    src.size > 0 ? parseRange(typeof rangeHeader === 'string' ? rangeHeader : undefined, src.size) : undefined
  const [start, end] = range ?? [0, src.size - 1]
  const length = src.size === 0 ? 0 : end - start + 1
  if (length > S3_MAX_PART_BYTES) throw new S3Error('EntityTooLarge', 'a part may be at most 5 GiB')
  const md5 = createHash('md5')
  const client = await clientFor(s, r)
  const chunks = async function* (): AsyncGenerator<Uint8Array> {
    if (length === 0) return
    for await (const c of client.cat(src.cid, { offset: start, length, signal: r.signal })) {
      md5.update(c)
      yield c
    }
  }
  const file = stagedName(partNumber)
  await stage(s, u.uploadId, file, chunks())
  const digest = md5.digest('hex')
  const now = s.clock.now()
  const part = { partNumber, size: length, md5: digest, file, lastModified: now }
  await recordPart(s, u, part)
  s.assemblers.onPart(s, u, part, () => clientFor(s, r), networkName(r.bucket, r.key))
  sendXml(r.res, 200, 'CopyPartResult', { LastModified: isoDate(now), ETag: `"${digest}"` })
}

export async function abortMultipart(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const u = liveUpload(s, r)
  await dropUpload(s, u)
  sendEmpty(r.res, 204)
}

/** Forgets an upload and frees its staged parts. */
export async function dropUpload(s: S3Services, u: UploadRecord): Promise<void> {
  const { store } = s
  s.assemblers.drop(u.uploadId)
  await store.write(() => {
    store.uploads.removeSync(u.uploadId)
    store.uploadKeys.removeSync([u.bucket, u.key, u.uploadId])
    for (const k of store.parts.getKeys({ start: [u.uploadId, 0], end: [u.uploadId, S3_MAX_PARTS + 1] }))
      store.parts.removeSync(k)
  })
  await rm(join(s.partsDir, u.uploadId), { recursive: true, force: true })
}

function uploadParts(s: S3Services, uploadId: string): PartRecord[] {
  return [...s.store.parts.getRange({ start: [uploadId, 0], end: [uploadId, S3_MAX_PARTS + 1] })].map((e) => e.value)
}

export async function completeMultipart(s: S3Services, r: S3Request): Promise<void> {
  ownBucket(s, r)
  const u = liveUpload(s, r)
  const doc = parseXmlBody(await readXmlText(r), 'CompleteMultipartUpload')
  const listed = (doc.Part as Record<string, unknown>[] | undefined) ?? []
  if (listed.length === 0) throw new S3Error('MalformedXML', 'you must specify at least one part')
  const stored = new Map(uploadParts(s, u.uploadId).map((p) => [p.partNumber, p]))
  const parts: PartRecord[] = []
  let prev = 0
  for (const item of listed) {
    const n = Number(String(item.PartNumber ?? '').trim())
    const etag = String(item.ETag ?? '')
      .trim()
      .replace(/^"|"$/g, '')
      .replace(/^&quot;|&quot;$/g, '')
    if (!Number.isInteger(n) || n <= prev)
      throw new S3Error('InvalidPartOrder', 'the list of parts was not in ascending order')
    prev = n
    const p = stored.get(n)
    if (!p || p.md5 !== etag)
      throw new S3Error(
        'InvalidPart',
        'one or more of the specified parts could not be found or its entity tag did not match',
        {
          PartNumber: String(n),
        },
      )
    parts.push(p)
  }
  parts.forEach((p, i) => {
    if (i < parts.length - 1 && p.size < S3_MIN_PART_BYTES)
      throw new S3Error('EntityTooSmall', 'your proposed upload is smaller than the minimum allowed object size', {
        PartNumber: String(p.partNumber),
        ProposedSize: String(p.size),
        MinSizeAllowed: String(S3_MIN_PART_BYTES),
      })
  })
  const total = parts.reduce((a, p) => a + p.size, 0)
  if (total > S3_MAX_OBJECT_BYTES)
    throw new S3Error('EntityTooLarge', 'your proposed upload exceeds the maximum allowed size')
  const etag = `"${createHash('md5')
    .update(Buffer.concat(parts.map((p) => Buffer.from(p.md5, 'hex'))))
    .digest('hex')}-${parts.length}"`

  // From here on S3 answers 200 at once and keeps the connection alive; errors travel in the body.
  const res = r.res
  res.writeHead(200, { 'content-type': 'application/xml' })
  res.write('<?xml version="1.0" encoding="UTF-8"?>\n')
  const keepAlive = setInterval(() => res.write(' '), S3_COMPLETE_KEEPALIVE_MS)
  try {
    const dir = join(s.partsDir, u.uploadId)
    const concat = async function* (): AsyncGenerator<Uint8Array> {
      for (const p of parts) yield* createReadStream(join(dir, p.file), { highWaterMark: 1 << 20 })
    }
    // The speculative assembly (assembler.ts) when it fed exactly these parts; else the staged parts, streamed now.
    const assembly = s.assemblers.take(u.uploadId)
    let put: PutResult | undefined
    if (assembly?.finish(parts)) {
      s.logger.debug({ uploadId: u.uploadId, parts: parts.length }, 'completing from the speculative assembly')
      put = await assembly.result.catch((e: unknown) => {
        s.logger.warn({ err: e, uploadId: u.uploadId }, 'speculative assembly failed; streaming the staged parts')
        return undefined
      })
    } else assembly?.abandon()
    if (put === undefined) {
      const client = await clientFor(s, r)
      put = await client.put(concat(), {
        name: networkName(r.bucket, r.key),
        public: u.public === true,
        signal: r.signal,
      })
    }
    if (put.size !== total) throw new S3Error('InternalError', `staged parts hold ${put.size} bytes, expected ${total}`)
    await putObjectRecord(
      s,
      r.bucket,
      r.key,
      {
        cid: put.cid,
        size: total,
        etag,
        lastModified: s.clock.now(),
        owner: r.owner,
        meta: u.meta,
        parts: parts.map((p) => p.size),
        ...(u.public ? { public: true } : {}),
      },
      false,
    )
    await dropUpload(s, u)
    clearInterval(keepAlive)
    res.end(
      `<CompleteMultipartUploadResult xmlns="${S3_XMLNS}"><Location>/${escapeXml(r.bucket)}/${escapeXml(r.key)}</Location>` +
        `<Bucket>${escapeXml(r.bucket)}</Bucket><Key>${escapeXml(r.key)}</Key><ETag>${escapeXml(etag)}</ETag>` +
        `<StratosCid>${put.cid}</StratosCid></CompleteMultipartUploadResult>`,
    )
  } catch (e) {
    clearInterval(keepAlive)
    const err = toS3Error(e)
    markErrorCode(res, err.code)
    s.logger.warn({ err: e, uploadId: u.uploadId }, 'complete multipart upload failed')
    res.end(
      `<Error><Code>${err.code}</Code><Message>${escapeXml(err.message)}</Message><RequestId>${r.requestId}</RequestId></Error>`,
    )
  }
}

export function listParts(s: S3Services, r: S3Request): void {
  ownBucket(s, r)
  const u = liveUpload(s, r)
  const max = Math.min(Number(r.query.get('max-parts') ?? S3_MAX_LIST_KEYS) || S3_MAX_LIST_KEYS, S3_MAX_LIST_KEYS)
  const marker = Number(r.query.get('part-number-marker') ?? 0) || 0
  const all = uploadParts(s, u.uploadId).filter((p) => p.partNumber > marker)
  const page = all.slice(0, max)
  const truncated = all.length > max
  sendXml(r.res, 200, 'ListPartsResult', {
    Bucket: r.bucket,
    Key: r.key,
    UploadId: u.uploadId,
    Initiator: { ID: u.owner, DisplayName: u.owner },
    Owner: { ID: u.owner, DisplayName: u.owner },
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: page.length > 0 ? page[page.length - 1].partNumber : marker,
    MaxParts: max,
    IsTruncated: truncated,
    Part: page.map(
      (p): XmlNode => ({
        PartNumber: p.partNumber,
        LastModified: isoDate(p.lastModified),
        ETag: `"${p.md5}"`,
        Size: p.size,
      }),
    ),
  })
}

export function listMultipartUploads(s: S3Services, r: S3Request): void {
  ownBucket(s, r)
  const prefix = r.query.get('prefix') ?? ''
  const delimiter = r.query.get('delimiter') ?? ''
  const keyMarker = r.query.get('key-marker') ?? ''
  const idMarker = r.query.get('upload-id-marker') ?? ''
  const max = Math.min(Number(r.query.get('max-uploads') ?? S3_MAX_LIST_KEYS) || S3_MAX_LIST_KEYS, S3_MAX_LIST_KEYS)
  const uploads: XmlNode[] = []
  const prefixes: string[] = []
  let truncated = false
  let last: [string, string] | undefined
  for (const key of s.store.uploadKeys.getKeys({
    start: [r.bucket, keyMarker, idMarker],
    end: [r.bucket, '\u{10FFFF}', ''],
  })) {
    const [, k, id] = key
    if (keyMarker !== '' && (k < keyMarker || (k === keyMarker && (idMarker === '' || id <= idMarker)))) continue
    if (!k.startsWith(prefix)) continue
    if (uploads.length + prefixes.length >= max) {
      truncated = true
      break
    }
    if (delimiter !== '') {
      const i = k.indexOf(delimiter, prefix.length)
      if (i !== -1) {
        const cp = k.slice(0, i + delimiter.length)
        if (!prefixes.includes(cp)) prefixes.push(cp)
        last = [k, id]
        continue
      }
    }
    const u = s.store.uploads.get(id)
    if (!u) continue
    uploads.push({
      Key: k,
      UploadId: id,
      Initiator: { ID: u.owner, DisplayName: u.owner },
      Owner: { ID: u.owner, DisplayName: u.owner },
      StorageClass: 'STANDARD',
      Initiated: isoDate(u.initiated),
    })
    last = [k, id]
  }
  sendXml(r.res, 200, 'ListMultipartUploadsResult', {
    Bucket: r.bucket,
    KeyMarker: keyMarker,
    UploadIdMarker: idMarker,
    NextKeyMarker: truncated && last ? last[0] : undefined,
    NextUploadIdMarker: truncated && last ? last[1] : undefined,
    Delimiter: delimiter || undefined,
    Prefix: prefix,
    MaxUploads: max,
    IsTruncated: truncated,
    Upload: uploads,
    CommonPrefixes: prefixes.map((p) => ({ Prefix: p })),
  })
}
