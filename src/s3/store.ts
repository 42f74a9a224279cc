/**
 * The S3 gateway's own index: one LMDB environment under `dataDir/index`.
 *
 * Keyspaces (key → value):
 *   credentials   accessKeyId                      → CredentialRecord (owner wallet, delegation id, sealed secret)
 *   ownerCreds    [owner, accessKeyId]             → true
 *   buckets       name                             → BucketRecord (owner wallet)
 *   ownerBuckets  [owner, name]                    → true (ListBuckets and the per-owner bucket limit read only the
 *                                                    caller's buckets; rebuilt from `buckets` when an index older
 *                                                    than it is opened)
 *   objects       [bucket, key]                    → ObjectRecord (CID, size, ETag, metadata); key order = listing order
 *   refs          [owner, cid]                     → how many objects of `owner` name `cid` (the network file is
 *                                                    deleted when the last one goes: copies and equal bodies share it)
 *   unrefs        [owner, cid]                     → queuedAt: network files to delete (retried until the meta node agrees)
 *   uploads       uploadId                         → UploadRecord (multipart: bucket, key, owner, metadata, expiry)
 *   uploadKeys    [bucket, key, uploadId]          → true (ListMultipartUploads order)
 *   parts         [uploadId, partNumber]           → PartRecord (size, MD5, staged file)
 *
 * Every multi-key change is one `write()` transaction (a child transaction of lmdb-js's write batch, resolved once
 * flushed), so an answer sent after it survives kill -9.
 */
import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { StratosError } from '../errors.ts'

export interface SealedSecret {
  /** base64 of the AES-256-GCM nonce, ciphertext and tag (credentials.ts). */
  iv: string
  ct: string
  tag: string
}

export interface CredentialRecord {
  accessKeyId: string
  owner: string
  delegationId: string
  secret: SealedSecret
  createdAt: number
  expiresAt: number
  label?: string
  revokedAt?: number
}

export interface BucketRecord {
  name: string
  owner: string
  createdAt: number
}

/** What S3 keeps about an object besides its bytes (which are the network file `cid`). */
export interface ObjectMeta {
  contentType?: string
  contentDisposition?: string
  contentEncoding?: string
  contentLanguage?: string
  cacheControl?: string
  expires?: string
  /** x-amz-meta-* (lower-case names without the prefix). */
  user: Record<string, string>
}

export interface ObjectRecord {
  cid: string
  size: number
  /** Quoted, as S3 sends it: "md5" or "md5-of-part-md5s-N". */
  etag: string
  lastModified: number
  owner: string
  meta: ObjectMeta
  /** Multipart objects: part count and each part's size (GET ?partNumber=). */
  parts?: number[]
  public?: boolean
}

export interface UploadRecord {
  uploadId: string
  bucket: string
  key: string
  owner: string
  initiated: number
  meta: ObjectMeta
  public?: boolean
  /** Abandoned after this (unix ms): the sweeper aborts it and frees its staged parts. */
  expiresAt: number
}

export interface PartRecord {
  partNumber: number
  size: number
  md5: string
  /** Staged file name under dataDir/parts/{uploadId}/. */
  file: string
  lastModified: number
}

export class S3Store {
  readonly #root: RootDatabase
  readonly credentials: Database<CredentialRecord, string>
  readonly ownerCreds: Database<true, [string, string]>
  readonly buckets: Database<BucketRecord, string>
  readonly ownerBuckets: Database<true, [string, string]>
  readonly objects: Database<ObjectRecord, [string, string]>
  readonly refs: Database<number, [string, string]>
  readonly unrefs: Database<number, [string, string]>
  readonly uploads: Database<UploadRecord, string>
  readonly uploadKeys: Database<true, [string, string, string]>
  readonly parts: Database<PartRecord, [string, number]>
  #closed = false

  private constructor(root: RootDatabase) {
    this.#root = root
    const dbs = root.transactionSync(() => ({
      credentials: root.openDB<CredentialRecord, string>({ name: 'credentials' }),
      ownerCreds: root.openDB<true, [string, string]>({ name: 'ownerCreds' }),
      buckets: root.openDB<BucketRecord, string>({ name: 'buckets' }),
      ownerBuckets: root.openDB<true, [string, string]>({ name: 'ownerBuckets' }),
      objects: root.openDB<ObjectRecord, [string, string]>({ name: 'objects' }),
      refs: root.openDB<number, [string, string]>({ name: 'refs' }),
      unrefs: root.openDB<number, [string, string]>({ name: 'unrefs' }),
      uploads: root.openDB<UploadRecord, string>({ name: 'uploads' }),
      uploadKeys: root.openDB<true, [string, string, string]>({ name: 'uploadKeys' }),
      parts: root.openDB<PartRecord, [string, number]>({ name: 'parts' }),
    }))
    this.credentials = dbs.credentials
    this.ownerCreds = dbs.ownerCreds
    this.buckets = dbs.buckets
    this.ownerBuckets = dbs.ownerBuckets
    this.objects = dbs.objects
    this.refs = dbs.refs
    this.unrefs = dbs.unrefs
    this.uploads = dbs.uploads
    this.uploadKeys = dbs.uploadKeys
    this.parts = dbs.parts
    // An index written before ownerBuckets existed: build it once (every later change keeps both in one transaction).
    root.transactionSync(() => {
      for (const _ of this.ownerBuckets.getKeys({ limit: 1 })) return
      for (const { value } of this.buckets.getRange()) this.ownerBuckets.putSync([value.owner, value.name], true)
    })
  }

  /** Names of `owner`'s buckets in name order (at most `limit`). */
  bucketsOf(owner: string, limit?: number): string[] {
    const names: string[] = []
    for (const [, name] of this.ownerBuckets.getKeys({ start: [owner, ''], end: [owner, '\u{10FFFF}'], limit }))
      names.push(name)
    return names
  }

  /** Inside write(): a new bucket. */
  addBucket(b: BucketRecord): void {
    this.buckets.putSync(b.name, b)
    this.ownerBuckets.putSync([b.owner, b.name], true)
  }

  /** Inside write(): bucket `name` is gone. */
  removeBucket(name: string): void {
    const b = this.buckets.get(name)
    this.buckets.removeSync(name)
    if (b) this.ownerBuckets.removeSync([b.owner, name])
  }

  static open(path: string): S3Store {
    mkdirSync(path, { recursive: true })
    try {
      return new S3Store(open({ path, maxDbs: 16, compression: false }))
    } catch (e) {
      throw new StratosError('NETWORK_CONFIG', `cannot open the S3 index at ${path}: ${(e as Error).message}`, { path })
    }
  }

  /** Runs `fn` (synchronous) in one transaction; resolves once committed and flushed. */
  async write<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the S3 index is closed')
    const r = await this.#root.childTransaction(fn)
    await this.#root.flushed
    return r
  }

  /** Inside write(): one more object of `owner` names `cid`. */
  addRef(owner: string, cid: string): void {
    this.refs.putSync([owner, cid], (this.refs.get([owner, cid]) ?? 0) + 1)
    this.unrefs.removeSync([owner, cid])
  }

  /** Inside write(): one object fewer names `cid`; at zero the network file is queued for deletion. */
  dropRef(owner: string, cid: string, now: number): void {
    const n = (this.refs.get([owner, cid]) ?? 0) - 1
    if (n > 0) this.refs.putSync([owner, cid], n)
    else {
      this.refs.removeSync([owner, cid])
      this.unrefs.putSync([owner, cid], now)
    }
  }

  /** Whether the bucket holds any object. */
  bucketEmpty(bucket: string): boolean {
    for (const _ of this.objects.getKeys({ start: [bucket, ''], end: [bucket, '\u{10FFFF}'], limit: 1 })) return false
    for (const _ of this.uploadKeys.getKeys({ start: [bucket, '', ''], end: [bucket, '\u{10FFFF}', ''], limit: 1 }))
      return false
    return true
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#root.flushed
    await this.#root.close()
  }
}
