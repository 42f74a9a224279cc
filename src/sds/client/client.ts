/**
 * StratosClient: the SDK facade. Uploads and downloads stream shards directly between this
 * process and the resource nodes; the meta node only plans, issues tickets and indexes.
 *
 * @example
 * const client = await StratosClient.connect({ metaUrl: 'http://127.0.0.1:7100', wallet })
 * const { cid } = await client.put('./video.mp4')
 * for await (const bytes of client.cat(cid, { offset: 1 << 20, length: 1 << 20 })) process.stdout.write(bytes)
 * await client.close()
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto'
import { mkdir, readdir, lstat, rename, rm, stat as fsStat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Agent } from 'undici'
import { StratosError, throwIfAborted, toStratosError } from '../../errors.ts'
import {
  CLIENT_ACCESS_SESSION_TTL_MS,
  CLIENT_BUFFERS_IDLE_MS,
  CLIENT_READ_POOL_BUFFERS,
  CLIENT_REQUEST_TTL_MS,
  CLIENT_SEGMENTS_IN_FLIGHT,
  CLIENT_FILE_WRITES_IN_FLIGHT,
  CLIENT_SHARD_CONCURRENCY,
  CLIENT_UPLOAD_POOL_MAX_BUFFER_BYTES,
  MAX_LIST_PAGE,
  MAX_SHARD_BYTES,
} from '../../limits.ts'
import { NodeKey } from '../../crypto/node-key.ts'
import { fromBase64Url, sha256Hex, toHex } from '../../crypto/hash.ts'
import { randomHex, systemClock, systemRandom, type Clock, type RandomBytes } from '../../util/components.ts'
import { fsyncDir } from '../../util/fs.ts'
import { ReadCache } from './read-cache.ts'
import { MetaClient } from '../../net/meta-client.ts'
import { ResourceClient } from '../../net/resource-client.ts'
import type { FileRecordView, FileSummary, MetaInfo, NetworkStatus } from '../protocol/api.ts'
import type {
  AccessSessionPayload,
  BudgetListPayload,
  BudgetPayload,
  DeletePayload,
  GrantCreatePayload,
  GrantListPayload,
  GrantRevokePayload,
  GrantScope,
  VisibilityPayload,
} from '../protocol/messages.ts'
import type { BudgetView, GrantView } from '../protocol/api.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import { signAsWallet, type WalletSigner } from '../protocol/signing.ts'
import { shareUrl, type ShareView } from '../protocol/api.ts'
import type { ShareCreatePayload, ShareListPayload, ShareRevokePayload } from '../protocol/messages.ts'
import { hashSharePassword } from '../protocol/share-password.ts'
import { Semaphore } from './limiter.ts'
import { RecyclingBufferPool } from '../../util/buffer-pool.ts'
import type { UploadAuthority } from './upload.ts'
import { ErasureCode } from './erasure.ts'
import { readFile } from './download.ts'
import { localFileError } from './source.ts'
import { OutputFile } from './output-file.ts'
import type { DirectoryDagResult, DirectoryEntry } from './unixfs.ts'
import { parseCid } from '../protocol/cid.ts'
import type { CID } from 'multiformats/cid'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { OrderSigner } from '../protocol/orders.ts'
import type {
  ProgressEvent,
  PutOptions,
  PutResult,
  ReadOptions,
  StratosClientOptions,
  TransferComponents,
  UploadSource,
} from './types.ts'

const SHA256_CODE = sha256Hasher.code

/**
 * Upload and UnixFS code (the DAG importer, sources), loaded on first use: a process that only reads (`stratos get`,
 * `cat`, `status`) does not pay for loading them at start-up. The promise is kept: an `import()` of a loaded module
 * still resolves its specifier on every call (through the loader's hooks where there are any: ~6 % of a client's CPU
 * per 64 KiB put under tsx).
 */
let uploadsModule: Promise<typeof import('./upload.ts')> | undefined
let unixfsModule: Promise<typeof import('./unixfs.ts')> | undefined
const uploads = (): Promise<typeof import('./upload.ts')> => (uploadsModule ??= import('./upload.ts'))
const unixfs = (): Promise<typeof import('./unixfs.ts')> => (unixfsModule ??= import('./unixfs.ts'))

export class StratosClient {
  readonly meta: MetaClient
  readonly chainId: string
  readonly k: number
  readonly m: number
  readonly segmentSize: number
  /** Files of at most this many bytes are stored as 1 + m whole copies (StratosClientOptions.copiesUpToBytes). */
  readonly copiesUpToBytes: number
  readonly wallet: WalletSigner | undefined
  readonly #components: TransferComponents
  readonly #agent: Agent
  /** A scoped client (withAccess) shares its parent's connections and leaves closing them to the parent. */
  readonly #ownsAgent: boolean
  /** The wallet's session token (ACCESS_HEADER) and when to sign a fresh one. */
  #session: { header: string; renewAt: number } | undefined

  private constructor(p: {
    meta: MetaClient
    agent: Agent
    resource: ResourceClient
    chainId: string
    k: number
    m: number
    segmentSize: number
    copiesUpToBytes?: number
    wallet?: WalletSigner
    clock: Clock
    random: RandomBytes
    access?: string | null
    parent?: TransferComponents
  }) {
    this.#agent = p.agent
    this.#ownsAgent = p.parent === undefined
    this.chainId = p.chainId
    this.k = p.k
    this.m = p.m
    this.segmentSize = p.segmentSize
    this.copiesUpToBytes = p.copiesUpToBytes ?? 0
    this.wallet = p.wallet
    const fixed = p.access
    this.meta = p.meta.withAccess(fixed === null ? () => undefined : () => fixed ?? this.#sessionHeader())
    // The session's order key comes from the injected randomness, like everything else a test pins down.
    const orders = p.parent?.orders ?? new OrderSigner(NodeKey.generate(p.random))
    this.#components = {
      meta: this.meta,
      reads: new ReadCache(this.meta, p.clock, orders.publicKey, (ticket) => orders.remainingBytes(ticket)),
      orders,
      resource: p.resource,
      shardLimiter: p.parent?.shardLimiter ?? new Semaphore(CLIENT_SHARD_CONCURRENCY),
      chainId: p.chainId,
      clock: p.clock,
      random: p.random,
      readBuffers:
        p.parent?.readBuffers ??
        new RecyclingBufferPool(CLIENT_READ_POOL_BUFFERS, MAX_SHARD_BYTES, CLIENT_BUFFERS_IDLE_MS),
      fileBuffers:
        p.parent?.fileBuffers ??
        new RecyclingBufferPool(CLIENT_READ_POOL_BUFFERS, MAX_SHARD_BYTES, CLIENT_BUFFERS_IDLE_MS, true),
      uploadBuffers:
        p.parent?.uploadBuffers ??
        new RecyclingBufferPool(CLIENT_SEGMENTS_IN_FLIGHT, CLIENT_UPLOAD_POOL_MAX_BUFFER_BYTES, CLIENT_BUFFERS_IDLE_MS),
    }
  }

  /**
   * The wallet's session token: signed here for CLIENT_ACCESS_SESSION_TTL_MS, naming this client's order key (so a
   * copy of it in other hands yields tickets only this client can spend), renewed when a quarter of it is left.
   */
  #sessionHeader(): string | undefined {
    const wallet = this.wallet
    if (!wallet) return undefined
    const { clock, random, orders } = this.#components
    const now = clock.now()
    if (this.#session === undefined || now >= this.#session.renewAt) {
      const payload: AccessSessionPayload = {
        chainId: this.chainId,
        signer: wallet.address,
        nonce: randomHex(random, 16),
        expiresAt: now + CLIENT_ACCESS_SESSION_TTL_MS,
        action: 'access.session',
        orderKey: orders.publicKey,
      }
      const token = toBase64Url(Buffer.from(JSON.stringify(signAsWallet(wallet, payload))))
      this.#session = { header: `session.${token}`, renewAt: now + Math.floor((CLIENT_ACCESS_SESSION_TTL_MS * 3) / 4) }
    }
    return this.#session.header
  }

  /**
   * The same client (connections, buffers, order key) reading under another access: a share link's token
   * (`share.{token}`, from meta.resolveShare), a grant (`grant.{id}`), or null for anonymous (public files only).
   * Its reads are paid by whoever granted them. Closing it does nothing; close the parent.
   */
  withAccess(access: string | null): StratosClient {
    return new StratosClient({
      meta: this.meta,
      agent: this.#agent,
      resource: this.#components.resource,
      chainId: this.chainId,
      k: this.k,
      m: this.m,
      segmentSize: this.segmentSize,
      copiesUpToBytes: this.copiesUpToBytes,
      ...(this.wallet ? { wallet: this.wallet } : {}),
      clock: this.#components.clock,
      random: this.#components.random,
      access,
      parent: this.#components,
    })
  }

  /**
   * Connects to a meta node: learns its chain id and coding defaults (one request), and checks the chain id against
   * `chainId` when given. With `infoBeside` and all of chainId, k, m and segmentSize given, that request is sent
   * without waiting for it, and the first call's answer waits for its check instead.
   */
  static async connect(options: StratosClientOptions): Promise<StratosClient> {
    // Coding settings are checked here, with the checks the upload would make, not at the first upload.
    if (options.k !== undefined || options.m !== undefined) ErasureCode.check(options.k ?? 1, options.m ?? 0)
    if (options.segmentSize !== undefined) (await uploads()).checkSegmentSize(options.segmentSize)
    const copiesUpToBytes = options.copiesUpToBytes ?? 0
    if (!Number.isSafeInteger(copiesUpToBytes) || copiesUpToBytes < 0)
      throw new StratosError('BAD_REQUEST', `copiesUpToBytes must be a whole number of bytes, got ${copiesUpToBytes}`)
    // Wallet signatures (each upload's create and commit) by libsecp256k1 when it loads: ~2 ms of pure JS each.
    if (options.nativeWalletCrypto ?? true)
      (await import('../../chain/native-secp256k1.ts')).installNativeWalletCrypto()
    // One connection pool per client (keep-alive, bounded per origin), closed by close().
    const agent = new Agent({ connections: CLIENT_SHARD_CONCURRENCY, keepAliveTimeout: 30_000, pipelining: 1 })
    try {
      const bare = new MetaClient(options.metaUrl, { dispatcher: agent })
      const checked = (info: MetaInfo): MetaInfo => {
        if (options.chainId !== undefined && options.chainId !== info.chainId) {
          throw new StratosError(
            'WRONG_CHAIN',
            `meta node at ${options.metaUrl} serves chain ${info.chainId}, not ${options.chainId}`,
            { expected: options.chainId, got: info.chainId },
          )
        }
        return info
      }
      const { chainId, k, m, segmentSize } = options
      let meta = bare
      let known: { chainId: string; defaults: MetaInfo['defaults'] }
      if (
        options.infoBeside &&
        chainId !== undefined &&
        k !== undefined &&
        m !== undefined &&
        segmentSize !== undefined
      ) {
        // Nothing to learn from `info` but the check: it runs beside the first call, whose answer waits for it.
        meta = new MetaClient(options.metaUrl, { dispatcher: agent, gate: bare.info().then(checked) })
        known = { chainId, defaults: { k, m, segmentSize } }
      } else {
        known = checked(await bare.info())
      }
      return new StratosClient({
        meta,
        agent,
        resource: new ResourceClient({ dispatcher: agent, clock: options.clock }),
        chainId: known.chainId,
        k: k ?? known.defaults.k,
        m: m ?? known.defaults.m,
        segmentSize: segmentSize ?? known.defaults.segmentSize,
        copiesUpToBytes,
        wallet: options.wallet,
        clock: options.clock ?? systemClock,
        random: options.random ?? systemRandom,
        ...(options.access !== undefined
          ? { access: options.access }
          : options.grant !== undefined
            ? { access: grantAccess(options.grant) }
            : {}),
      })
    } catch (e) {
      await agent.close().catch(() => undefined)
      throw e
    }
  }

  #wallet(): WalletSigner {
    if (!this.wallet)
      throw new StratosError('BAD_REQUEST', 'this operation needs a wallet (StratosClientOptions.wallet)')
    return this.wallet
  }

  /** This client's order key (base64url ed25519): the key upload sessions and session tokens name for it. */
  get orderKey(): string {
    return this.#components.orders.publicKey
  }

  /**
   * Uploads a byte stream under someone else's authority (a browser's signed create and commit, relayed by the
   * gateway's edge): this client only codes, places and pays nothing; `shape` is what the signed create names.
   */
  async putWith(
    source: UploadSource,
    authority: UploadAuthority,
    shape: { k: number; m: number; segmentSize: number; name?: string; public?: boolean },
    options: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {},
  ): Promise<PutResult> {
    const { upload } = await uploads()
    const r = await upload(this.#components, { source, authority, ...shape, ...options })
    return { cid: r.cid, size: r.size, kind: 'file', segments: r.segments, dagSize: r.dagSize }
  }

  /** Uploads a file (path), bytes or a byte stream; resolves once the meta node has committed it. */
  async put(source: UploadSource, options: PutOptions = {}): Promise<PutResult> {
    const r = await this.#putFile(source, options)
    return { cid: r.cid, size: r.size, kind: 'file', segments: r.segments, dagSize: r.dagSize }
  }

  /**
   * Commits a UnixFS directory built (buildDirectory) over files this client already stored: the IPFS
   * RPC API's `add` assembles directories from a multipart stream instead of a local path.
   */
  async putDirectoryDag(
    dir: DirectoryDagResult,
    p: { size: number; children: string[]; name?: string; public?: boolean; signal?: AbortSignal },
  ): Promise<PutResult> {
    const wallet = this.#wallet()
    const cid = dir.cid.toString()
    const c = this.#components
    const { createSession, commitSession, abortSession } = await uploads()
    const session = await createSession(
      c,
      wallet,
      { k: this.k, m: this.m, segmentSize: this.segmentSize, size: p.size, name: p.name, public: p.public },
      p.signal,
    )
    try {
      await commitSession(
        c,
        wallet,
        session.uploadId,
        {
          cid,
          size: p.size,
          kind: 'directory',
          name: p.name,
          blocks: dir.blocks,
          receipts: [],
          children: [...new Set(p.children)],
        },
        p.signal,
      )
    } catch (e) {
      await abortSession(c, session.uploadId)
      throw p.signal?.aborted ? new StratosError('ABORTED', 'upload aborted') : toStratosError(e)
    }
    return { cid, size: p.size, kind: 'directory', segments: 0, dagSize: dir.dagSize }
  }

  async #putFile(
    source: UploadSource,
    options: PutOptions,
  ): Promise<Awaited<ReturnType<Awaited<ReturnType<typeof uploads>>['upload']>>> {
    const { upload } = await uploads()
    return upload(this.#components, {
      source,
      wallet: this.#wallet(),
      k: this.k,
      m: this.m,
      segmentSize: this.segmentSize,
      copiesUpToBytes: this.copiesUpToBytes,
      cidVersion: options.cidVersion,
      rawLeaves: options.rawLeaves,
      chunkBytes: options.chunkBytes,
      name: options.name ?? (typeof source === 'string' ? basename(source) : undefined),
      directIo: options.directIo,
      signal: options.signal,
      onProgress: options.onProgress,
      public: options.public,
    })
  }

  /**
   * Uploads every file under `path` (sorted by name; dot-files only with `hidden`, as Kubo's
   * `ipfs add -r`), then commits the UnixFS directory over them. Symlinks and special files are refused.
   */
  async putDirectory(path: string, options: PutOptions = {}): Promise<PutResult> {
    const wallet = this.#wallet()
    const root = await fsStat(path).catch((e: unknown) => {
      throw localFileError(e, path)
    })
    if (!root.isDirectory()) throw new StratosError('BAD_REQUEST', `${path} is not a directory`, { path })
    const files: { rel: string; abs: string }[] = []
    const emptyDirs: string[] = []
    await walk(path, '', options.hidden ?? false, files, emptyDirs, options.signal)
    const entries: (DirectoryEntry & { size: number; cidString: string })[] = []
    let segments = 0
    for (const f of files) {
      throwIfAborted(options.signal)
      const r = await this.#putFile(f.abs, { ...options, name: basename(f.rel) })
      segments += r.segments
      entries.push({ path: f.rel, cid: parseCid(r.cid), cidString: r.cid, dagSize: r.dagSize, size: r.size })
    }
    const { buildDirectory } = await unixfs()
    const { createSession, commitSession, abortSession } = await uploads()
    const dir = await buildDirectory(entries, emptyDirs, {
      cidVersion: options.cidVersion,
      rawLeaves: options.rawLeaves,
    })
    const cid = dir.cid.toString()
    const size = entries.reduce((a, e) => a + e.size, 0)
    const c = this.#components
    const session = await createSession(
      c,
      wallet,
      {
        k: this.k,
        m: this.m,
        segmentSize: this.segmentSize,
        size,
        name: options.name ?? basename(path),
        public: options.public,
      },
      options.signal,
    )
    try {
      await commitSession(
        c,
        wallet,
        session.uploadId,
        {
          cid,
          size,
          kind: 'directory',
          name: options.name ?? basename(path),
          blocks: dir.blocks,
          receipts: [],
          children: [...new Set(entries.map((e) => e.cidString))],
        },
        options.signal,
      )
    } catch (e) {
      await abortSession(c, session.uploadId)
      throw options.signal?.aborted ? new StratosError('ABORTED', 'upload aborted') : toStratosError(e)
    }
    emit(options.onProgress, { type: 'upload:commit', cid })
    return {
      cid,
      size,
      kind: 'directory',
      segments,
      dagSize: dir.dagSize,
      entries: entries.map((e) => ({ path: e.path, cid: e.cidString, size: e.size })),
    }
  }

  /**
   * Streams a file or the byte range [offset, offset+length) of it, verified. Each chunk is a fresh
   * buffer, unless `reuseBuffers` is set: then a chunk is valid only until the loop asks for the next
   * one (not for stream.pipeline or Readable.from, which read ahead).
   */
  cat(cid: string, options: ReadOptions = {}): AsyncIterable<Uint8Array> {
    return readFile(this.#components, { cid, ...options, segmentSizeHint: this.segmentSize })
  }

  /**
   * Writes a file (temp file + fsync + rename, so `outPath` is either absent or complete) or recreates a
   * directory tree (built in a temp directory beside `outPath`, renamed into place at the end).
   */
  async get(
    cid: string,
    outPath: string,
    options: ReadOptions = {},
  ): Promise<{ kind: 'file' | 'directory'; bytes: number }> {
    const record = await this.#recordForGet(cid, options)
    if (record.kind === 'file') {
      const bytes = await this.#writeFileAtomic(cid, outPath, options)
      return { kind: 'file', bytes }
    }
    if (options.offset !== undefined || options.length !== undefined)
      throw new StratosError('BAD_REQUEST', 'byte ranges apply to files, not directories')
    const tmp = join(dirname(outPath), `.${basename(outPath)}.${nodeRandomBytes(6).toString('hex')}.tmp`)
    await mkdir(tmp, { recursive: false }).catch((e: unknown) => {
      throw localFileError(e, tmp)
    })
    try {
      // Directory blocks by the sha256 of their bytes (so CIDv0 and CIDv1 links both find them).
      const blocks = new Map<string, Uint8Array>()
      for (const b64 of await this.meta.fileDag(cid, { signal: options.signal })) {
        const bytes = fromBase64Url(b64)
        blocks.set(sha256Hex(bytes), bytes)
      }
      const bytes = await this.#writeDirectory(parseCid(cid), tmp, blocks, options)
      try {
        await rename(tmp, outPath)
      } catch (e) {
        const code = (e as { code?: string }).code
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
          throw new StratosError('CONFLICT', `${outPath} already exists`, { path: outPath })
        }
        throw localFileError(e, outPath)
      }
      fsyncDir(dirname(outPath))
      return { kind: 'directory', bytes }
    } catch (e) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
      throw options.signal?.aborted ? new StratosError('ABORTED', 'download aborted') : toStratosError(e)
    }
  }

  /**
   * The record `get` decides on. A whole-file get asks for it as the read's first window (segment 0's tickets, the
   * request the read itself starts with, now cached for it), so a file costs one meta round trip before its first
   * byte instead of two; a folder or an empty file has no segment 0 (RANGE_NOT_SATISFIABLE): then the record alone.
   * A ranged get keeps asking for the record alone: its read may start elsewhere, and tickets are counted reads.
   */
  async #recordForGet(cid: string, options: ReadOptions): Promise<FileRecordView> {
    if (options.offset !== undefined || options.length !== undefined)
      return this.meta.file(cid, { signal: options.signal })
    try {
      return (await this.#components.reads.read(cid, { from: 0, to: 1 }, { signal: options.signal })).file
    } catch (e) {
      if (!(e instanceof StratosError) || e.code !== 'RANGE_NOT_SATISFIABLE') throw e
      return this.meta.file(cid, { signal: options.signal })
    }
  }

  async #writeDirectory(
    dirCid: CID,
    into: string,
    blocks: Map<string, Uint8Array>,
    options: ReadOptions,
  ): Promise<number> {
    let total = 0
    const blockOf = (c: CID): Uint8Array | undefined =>
      c.multihash.code === SHA256_CODE ? blocks.get(toHex(c.multihash.digest)) : undefined
    const { listDirectory, checkEntryName, isDirectoryNode } = await unixfs()
    const links = listDirectory(dirCid, blockOf)
    for (const link of links) {
      checkEntryName(link.name)
      throwIfAborted(options.signal)
      const path = join(into, link.name)
      const block = blockOf(link.cid)
      if (block && isDirectoryNode(block)) {
        await mkdir(path)
        total += await this.#writeDirectory(link.cid, path, blocks, options)
      } else {
        total += await this.#writeFileAtomic(link.cid.toString(), path, {
          signal: options.signal,
          onProgress: options.onProgress,
          segmentsInFlight: options.segmentsInFlight,
        })
      }
    }
    return total
  }

  async #writeFileAtomic(cid: string, outPath: string, options: ReadOptions): Promise<number> {
    const tmp = join(dirname(outPath), `.${basename(outPath)}.${nodeRandomBytes(6).toString('hex')}.tmp`)
    const out = await OutputFile.create(tmp)
    const buffers =
      this.#components.fileBuffers ??
      new RecyclingBufferPool(CLIENT_READ_POOL_BUFFERS, MAX_SHARD_BYTES, undefined, true)
    // Chunks come from an aligned pool, so whole shards go to the disk with direct I/O (output-file.ts); up to
    // CLIENT_FILE_WRITES_IN_FLIGHT writes run at once (one alone leaves the disk idle between them), and each
    // chunk's buffer goes back to the pool when its write is done.
    const writes = new Set<Promise<void>>()
    let failure: { error: unknown } | undefined
    try {
      const chunks = readFile(this.#components, {
        cid,
        ...options,
        segmentSizeHint: this.segmentSize,
        reuseBuffers: true,
        buffers,
        callerGivesBack: true,
      })
      for await (const chunk of chunks) {
        const w: Promise<void> = out.write(chunk, buffers.directIoReady(chunk)).then(
          () => {
            writes.delete(w)
            buffers.give(chunk as Buffer)
          },
          (e: unknown) => {
            writes.delete(w)
            failure ??= { error: e }
          },
        )
        writes.add(w)
        if (writes.size >= CLIENT_FILE_WRITES_IN_FLIGHT) await Promise.race(writes)
        if (failure) throw failure.error
      }
      await Promise.all(writes)
      if (failure) throw failure.error
      await out.finish()
      await rename(tmp, outPath).catch((e: unknown) => {
        throw localFileError(e, outPath)
      })
      fsyncDir(dirname(outPath))
      return out.bytes
    } catch (e) {
      await Promise.all(writes)
      await out.close()
      await rm(tmp, { force: true }).catch(() => undefined)
      throw e
    }
  }

  /** The meta node's record of a file or directory. */
  stat(cid: string, options: { signal?: AbortSignal } = {}): Promise<FileRecordView> {
    return this.meta.file(cid, { signal: options.signal })
  }

  /** Every file of `owner` (default: this client's wallet; without one, the public files), all pages. Another wallet's files need that wallet's session (ACCESS_DENIED). */
  async ls(options: { owner?: string; signal?: AbortSignal } = {}): Promise<FileSummary[]> {
    const owner = options.owner ?? this.wallet?.address
    const out: FileSummary[] = []
    let after: string | undefined
    do {
      const page = await this.meta.listFiles({ owner, limit: MAX_LIST_PAGE, after }, { signal: options.signal })
      out.push(...page.files)
      after = page.next
    } while (after)
    return out
  }

  /** Removes this wallet's ownership of a file (the meta node frees shards when no owner is left). */
  async rm(cid: string, options: { signal?: AbortSignal } = {}): Promise<{ remainingOwners: number }> {
    const wallet = this.#wallet()
    const payload: DeletePayload = {
      chainId: this.chainId,
      signer: wallet.address,
      nonce: randomHex(this.#components.random, 16),
      expiresAt: this.#components.clock.now() + CLIENT_REQUEST_TTL_MS,
      action: 'file.delete',
      cid,
    }
    const { remainingOwners } = await this.meta.deleteFile(cid, signAsWallet(wallet, payload), {
      signal: options.signal,
    })
    this.#components.reads.forget(cid)
    return { remainingOwners }
  }

  // ---- Share links ----------------------------------------------------------------------------

  /**
   * Creates a share link for a file or directory this wallet owns. `expiresAt` (unix ms) ends it; a `password` is
   * hashed here (scrypt) and only the hash leaves this process. With `gatewayUrl` the result carries the link's URL.
   */
  async createShare(
    cid: string,
    options: { expiresAt?: number; password?: string; gatewayUrl?: string; signal?: AbortSignal } = {},
  ): Promise<ShareView & { url?: string }> {
    const wallet = this.#wallet()
    const password =
      options.password === undefined ? null : await hashSharePassword(options.password, this.#components.random)
    const payload: ShareCreatePayload = {
      ...this.#requestBase(wallet),
      action: 'share.create',
      cid,
      linkExpiresAt: options.expiresAt ?? null,
      password,
    }
    const view = await this.meta.createShare(signAsWallet(wallet, payload), { signal: options.signal })
    return options.gatewayUrl === undefined ? view : { ...view, url: shareUrl(options.gatewayUrl, view.id) }
  }

  /** This wallet's share links (active and expired; revoked ones are not listed), oldest first. */
  listShares(options: { signal?: AbortSignal } = {}): Promise<ShareView[]> {
    const wallet = this.#wallet()
    const payload: ShareListPayload = { ...this.#requestBase(wallet), action: 'share.list' }
    return this.meta.listShares(signAsWallet(wallet, payload), { signal: options.signal })
  }

  /** Revokes one of this wallet's share links; the gateway answers SHARE_REVOKED for it from then on. */
  revokeShare(id: string, options: { signal?: AbortSignal } = {}): Promise<ShareView> {
    const wallet = this.#wallet()
    const payload: ShareRevokePayload = { ...this.#requestBase(wallet), action: 'share.revoke', id }
    return this.meta.revokeShare(id, signAsWallet(wallet, payload), { signal: options.signal })
  }

  #requestBase(wallet: WalletSigner): { chainId: string; signer: string; nonce: string; expiresAt: number } {
    return {
      chainId: this.chainId,
      signer: wallet.address,
      nonce: randomHex(this.#components.random, 16),
      expiresAt: this.#components.clock.now() + CLIENT_REQUEST_TTL_MS,
    }
  }

  status(options: { signal?: AbortSignal } = {}): Promise<NetworkStatus> {
    return this.meta.status({ signal: options.signal })
  }

  // ---- Access: visibility, budgets, read grants (docs/security.md) -----------------------------------

  /** Makes a file of this wallet's public (anyone may read it, paid by this wallet) or private again. */
  setPublic(cid: string, isPublic: boolean, options: { signal?: AbortSignal } = {}): Promise<FileRecordView> {
    const wallet = this.#wallet()
    const payload: VisibilityPayload = {
      ...this.#requestBase(wallet),
      action: 'file.visibility',
      cid,
      public: isPublic,
    }
    this.#components.reads.forget(cid)
    return this.meta.setVisibility(cid, signAsWallet(wallet, payload), { signal: options.signal })
  }

  /**
   * Caps what strangers' reads of this wallet's public files may cost per epoch: wallet-wide, or for one file with
   * `cid`. `bytesPerEpoch` null removes the cap. The owner's own reads, share links and grants are never counted.
   */
  setBudget(bytesPerEpoch: number | null, options: { cid?: string; signal?: AbortSignal } = {}): Promise<BudgetView> {
    const wallet = this.#wallet()
    const payload: BudgetPayload = {
      ...this.#requestBase(wallet),
      action: 'budget.set',
      ...(options.cid !== undefined ? { cid: options.cid } : {}),
      bytesPerEpoch,
    }
    return this.meta.setBudget(signAsWallet(wallet, payload), { signal: options.signal })
  }

  budgets(options: { signal?: AbortSignal } = {}): Promise<BudgetView[]> {
    const wallet = this.#wallet()
    const payload: BudgetListPayload = { ...this.#requestBase(wallet), action: 'budget.list' }
    return this.meta.listBudgets(signAsWallet(wallet, payload), { signal: options.signal })
  }

  /**
   * Grants read access to this wallet's files in `scope` (CIDs — a directory covers what it links to — and/or name
   * prefixes) until `expiresAt` (unix ms). Hand the returned id to the reader: `StratosClient.connect({ grant: id })`
   * or `stratos --grant ID cat …`. Reads under it are paid by this wallet.
   */
  createGrant(scope: GrantScope, expiresAt: number, options: { signal?: AbortSignal } = {}): Promise<GrantView> {
    const wallet = this.#wallet()
    const payload: GrantCreatePayload = {
      ...this.#requestBase(wallet),
      action: 'grant.create',
      scope,
      grantExpiresAt: expiresAt,
    }
    return this.meta.createGrant(signAsWallet(wallet, payload), { signal: options.signal })
  }

  listGrants(options: { signal?: AbortSignal } = {}): Promise<GrantView[]> {
    const wallet = this.#wallet()
    const payload: GrantListPayload = { ...this.#requestBase(wallet), action: 'grant.list' }
    return this.meta.listGrants(signAsWallet(wallet, payload), { signal: options.signal })
  }

  /** Revokes a grant of this wallet's: reads under it are refused (GRANT_REVOKED) from the next request on. */
  revokeGrant(id: string, options: { signal?: AbortSignal } = {}): Promise<GrantView> {
    const wallet = this.#wallet()
    const payload: GrantRevokePayload = { ...this.#requestBase(wallet), action: 'grant.revoke', id }
    return this.meta.revokeGrant(id, signAsWallet(wallet, payload), { signal: options.signal })
  }

  /** Closes this client's connections (a scoped client from withAccess leaves them to its parent). */
  async close(): Promise<void> {
    if (this.#ownsAgent) await this.#agent.close().catch(() => undefined)
  }
}

/** The ACCESS_HEADER value of a read grant, from its id (or a value already in that form). */
export function grantAccess(grant: string): string {
  return grant.startsWith('grant.') ? grant : `grant.${grant}`
}

function emit(onProgress: ((e: ProgressEvent) => void) | undefined, e: ProgressEvent): void {
  try {
    onProgress?.(e)
  } catch {
    // ignore callback errors
  }
}

/** Byte order of UTF-8 names, as Go sorts directory entries (Kubo). */
function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

async function walk(
  abs: string,
  rel: string,
  hidden: boolean,
  files: { rel: string; abs: string }[],
  emptyDirs: string[],
  signal?: AbortSignal,
): Promise<void> {
  throwIfAborted(signal)
  const { checkEntryName } = await unixfs()
  const names = (
    await readdir(abs).catch((e: unknown) => {
      throw localFileError(e, abs)
    })
  ).sort(byName)
  let kept = 0
  for (const name of names) {
    if (!hidden && name.startsWith('.')) continue
    checkEntryName(name)
    const a = join(abs, name)
    const r = rel ? `${rel}/${name}` : name
    const st = await lstat(a).catch((e: unknown) => {
      throw localFileError(e, a)
    })
    if (st.isDirectory()) {
      await walk(a, r, hidden, files, emptyDirs, signal)
    } else if (st.isFile()) {
      files.push({ rel: r, abs: a })
    } else {
      throw new StratosError(
        'BAD_REQUEST',
        `${a} is not a regular file or directory (symlinks and special files are not supported)`,
        { path: a },
      )
    }
    kept++
  }
  if (kept === 0 && rel !== '') emptyDirs.push(rel)
}
