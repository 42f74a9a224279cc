/**
 * ListObjectsV2 and ListObjects (V1): keys in UTF-8 byte order (LMDB's key order), with prefix, delimiter (common
 * prefixes, each counted once toward max-keys and skipped over with one seek), start-after / marker, continuation
 * tokens (opaque: base64url of the last key or common prefix returned) and max-keys (at most S3_MAX_LIST_KEYS);
 * `encoding-type=url` percent-encodes keys and prefixes in the answer, as aws-cli asks.
 */
import { S3_MAX_LIST_KEYS } from '../limits.ts'
import { S3Error } from './errors.ts'
import { isoDate, ownBucket, sendXml, type S3Request, type S3Services } from './context.ts'
import type { XmlNode } from './xml.ts'

/** Sorts after every key that starts with a given prefix (U+10FFFF is the largest code point: F4 8F BF BF). */
const AFTER_ALL = '\u{10FFFF}'

interface Page {
  contents: { key: string; rec: XmlNode }[]
  prefixes: string[]
  truncated: boolean
  /** The last key or common prefix returned (where the next page starts after). */
  last: string | undefined
}

function listPage(
  s: S3Services,
  bucket: string,
  prefix: string,
  delimiter: string,
  after: string,
  max: number,
  owner: string,
): Page {
  const page: Page = { contents: [], prefixes: [], truncated: false, last: undefined }
  if (max === 0) return page
  let start = after !== '' && after >= prefix ? after : prefix
  // A key equal to `after` is not listed; a common prefix equal to `after` means: skip past everything under it.
  let skipExact = after !== '' && after >= prefix
  if (delimiter !== '' && skipExact && after.endsWith(delimiter) && after.startsWith(prefix)) {
    const rest = after.slice(prefix.length)
    if (rest.indexOf(delimiter) === rest.length - delimiter.length) {
      start = after + AFTER_ALL
      skipExact = false
    }
  }
  for (;;) {
    let reseek: string | undefined
    for (const { key, value } of s.store.objects.getRange({ start: [bucket, start], end: [bucket, AFTER_ALL] })) {
      const k = key[1]
      if (skipExact && k === after) continue
      if (!k.startsWith(prefix)) {
        if (k > prefix) return page
        continue
      }
      if (page.contents.length + page.prefixes.length >= max) {
        page.truncated = true
        return page
      }
      if (delimiter !== '') {
        const i = k.indexOf(delimiter, prefix.length)
        if (i !== -1) {
          const cp = k.slice(0, i + delimiter.length)
          page.prefixes.push(cp)
          page.last = cp
          reseek = cp + AFTER_ALL
          break
        }
      }
      page.contents.push({
        key: k,
        rec: {
          LastModified: isoDate(value.lastModified),
          ETag: value.etag,
          Size: value.size,
          Owner: { ID: owner, DisplayName: owner },
          StorageClass: 'STANDARD',
        },
      })
      page.last = k
    }
    if (reseek === undefined) return page
    start = reseek
    skipExact = false
  }
}

function encoder(r: S3Request): (s: string) => string {
  const type = r.query.get('encoding-type')
  if (type === null) return (s) => s
  if (type !== 'url') throw new S3Error('InvalidArgument', 'encoding-type must be url')
  return (s) => encodeURIComponent(s).replace(/%2F/g, '/')
}

function maxKeys(r: S3Request): number {
  const v = r.query.get('max-keys')
  if (v === null) return S3_MAX_LIST_KEYS
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer')
  return Math.min(n, S3_MAX_LIST_KEYS)
}

export function listObjects(s: S3Services, r: S3Request, v2: boolean): void {
  ownBucket(s, r)
  const enc = encoder(r)
  const prefix = r.query.get('prefix') ?? ''
  const delimiter = r.query.get('delimiter') ?? ''
  const max = maxKeys(r)
  const common = {
    Name: r.bucket,
    Prefix: enc(prefix),
  }
  if (v2) {
    const token = r.query.get('continuation-token')
    let after = r.query.get('start-after') ?? ''
    if (token !== null) {
      try {
        after = Buffer.from(token, 'base64url').toString('utf8')
      } catch {
        throw new S3Error('InvalidArgument', 'the continuation token provided is incorrect')
      }
    }
    const page = listPage(s, r.bucket, prefix, delimiter, after, max, r.owner)
    sendXml(r.res, 200, 'ListBucketResult', {
      ...common,
      ...(token !== null ? { ContinuationToken: token } : {}),
      ...(r.query.has('start-after') ? { StartAfter: enc(r.query.get('start-after') ?? '') } : {}),
      KeyCount: page.contents.length + page.prefixes.length,
      MaxKeys: max,
      Delimiter: delimiter ? enc(delimiter) : undefined,
      EncodingType: r.query.get('encoding-type') ?? undefined,
      IsTruncated: page.truncated,
      NextContinuationToken:
        page.truncated && page.last !== undefined ? Buffer.from(page.last).toString('base64url') : undefined,
      Contents: page.contents.map((c) => ({ Key: enc(c.key), ...c.rec })),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: enc(p) })),
    })
    return
  }
  const marker = r.query.get('marker') ?? ''
  const page = listPage(s, r.bucket, prefix, delimiter, marker, max, r.owner)
  sendXml(r.res, 200, 'ListBucketResult', {
    ...common,
    Marker: enc(marker),
    NextMarker: page.truncated && page.last !== undefined ? enc(page.last) : undefined,
    MaxKeys: max,
    Delimiter: delimiter ? enc(delimiter) : undefined,
    EncodingType: r.query.get('encoding-type') ?? undefined,
    IsTruncated: page.truncated,
    Contents: page.contents.map((c) => ({ Key: enc(c.key), ...c.rec })),
    CommonPrefixes: page.prefixes.map((p) => ({ Prefix: enc(p) })),
  })
}

export function listBuckets(s: S3Services, r: S3Request): void {
  const buckets: XmlNode[] = []
  for (const name of s.store.bucketsOf(r.owner)) {
    const b = s.store.buckets.get(name)
    if (b) buckets.push({ Name: b.name, CreationDate: isoDate(b.createdAt) })
  }
  sendXml(r.res, 200, 'ListAllMyBucketsResult', {
    Owner: { ID: r.owner, DisplayName: r.owner },
    Buckets: { Bucket: buckets },
  })
}
