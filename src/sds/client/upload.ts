/**
 * Streaming upload: source → segment buffers → (CID leaves, parity, shard ids) → parallel PUTs to
 * the nodes the meta node placed them on → commit.
 *
 * Each segment buffer is (k+m)·shardSize bytes: the k data shards are the file's bytes read straight
 * into it (zero-padded at the tail), the m parity shards follow, so no shard is ever copied. At most
 * CLIENT_SEGMENTS_IN_FLIGHT buffers exist: while segment i is being PUT, segment i+1 is read, encoded
 * and hashed into the other buffer. They come from the client's pool and go back to it when the upload
 * ends, so the next upload does not touch fresh memory. Parity runs in the threadpool while the event loop hashes the data
 * shards; a segment is planned as soon as its shard ids are known, and its CID leaves are hashed while
 * its PUTs run (the first nodes start one hash pass earlier; the last segment's hashing is not alone).
 * The session is opened while the first segment is read.
 *
 * A failed PUT (network, timeout, 5xx such as INSUFFICIENT_STORAGE) is retried on another node
 * (meta replaceShard with the failed nodes excluded), up to CLIENT_SHARD_UPLOAD_ATTEMPTS times.
 * Any failure or abort aborts the session at the meta node (best effort) and rethrows a typed error;
 * nothing is visible until the commit, which the meta node accepts only with every shard's receipt.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { CanonicalValue } from '../../crypto/canonical.ts'
import type { SessionCallAction, SessionCallAuth } from '../protocol/messages.ts'
import { sessionCallBytes } from '../protocol/signing.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import { randomHex } from '../../util/components.ts'
import { StratosError, toStratosError } from '../../errors.ts'
import {
  CLIENT_REQUEST_TTL_MS,
  CLIENT_SEGMENTS_IN_FLIGHT,
  CLIENT_SHARD_UPLOAD_ATTEMPTS,
  CLIENT_CONTROL_TIMEOUT_MS,
  MAX_SEGMENT_BYTES,
} from '../../limits.ts'
import { computeShardId, shardSizeFor } from '../protocol/shard.ts'
import { signAsWallet, type WalletSigner } from '../protocol/signing.ts'
import type { Placement, PlanSegmentResponse, UploadSession, FileRecordView } from '../protocol/api.ts'
import type { SignedReceipt } from '../protocol/messages.ts'
import { commitPayload, createPayload, type SessionShape } from '../protocol/upload-requests.ts'
import { ErasureCode } from './erasure.ts'
import { BufferPool, linkedController } from './limiter.ts'
import { openSource, type SegmentSource } from './source.ts'
import { isAligned } from '../../util/aligned-buffers.ts'
import { dagDigest, UnixFsFileBuilder, type CidOptions, type DagBlock } from './unixfs.ts'
import type { ProgressEvent, TransferComponents, UploadSource } from './types.ts'

/**
 * Who authorises an upload: opens its session (a wallet-signed `upload.create` naming the uploader's order key) and
 * commits it (a wallet-signed `upload.commit` over the CID, size and DAG digest this upload computed). The default,
 * `walletAuthority`, signs both with a key in this process; the gateway's browser edge (src/gateway/edge.ts) hands
 * over signatures a browser made instead, so the wallet's key never leaves the browser.
 */
export interface UploadAuthority {
  /**
   * Opens the session. `shape.segment` (segment 0's size and shard ids, when the upload read it before opening) may
   * be planned with the create: the session then comes back with its `placements`; an authority that cannot sign it
   * (a browser signed the create before the bytes were read) leaves it out, and the segment is planned on its own.
   */
  open(shape: SessionShape, signal: AbortSignal): Promise<UploadSession>
  commit(uploadId: string, parts: CommitParts, signal: AbortSignal): Promise<FileRecordView>
  /**
   * Optional: signs the commit while the last PUTs still run (the signature covers the CID, size and DAG digest, not
   * the receipts) and sends it once `receipts` resolves; a rejection of `receipts` rejects it unsent. Without it,
   * `commit` is called once every shard is stored.
   */
  commitWhenStored?(
    uploadId: string,
    parts: Omit<CommitParts, 'receipts'>,
    receipts: Promise<SignedReceipt[]>,
    signal: AbortSignal,
  ): Promise<FileRecordView>
}

/** What a commit names and carries (the wallet signs cid, size, kind, name and the digest of `blocks`). */
export interface CommitParts {
  cid: string
  size: number
  kind: 'file' | 'directory'
  name?: string
  blocks: DagBlock[]
  receipts: SignedReceipt[]
  children?: string[]
}

/** The authority of a wallet key held here: signs the create and the commit itself. */
export function walletAuthority(c: TransferComponents, wallet: WalletSigner): UploadAuthority {
  return {
    open: (shape, signal) => createSession(c, wallet, shape, signal),
    commit: (uploadId, parts, signal) => commitSession(c, wallet, uploadId, parts, signal),
    commitWhenStored: (uploadId, parts, receipts, signal) =>
      commitSession(c, wallet, uploadId, { ...parts, receipts }, signal),
  }
}

export interface UploadParameters extends CidOptions {
  source: UploadSource
  /** Signs the session and the commit (walletAuthority); or give `authority`. */
  wallet?: WalletSigner
  /** Opens and commits the session instead of `wallet` (a browser's signatures, relayed). */
  authority?: UploadAuthority
  k: number
  m: number
  segmentSize: number
  /** A source of known size up to this many bytes is stored as 1 + m whole copies (k = 1); default 0: never. */
  copiesUpToBytes?: number
  name?: string
  /** Publish the file: anyone may read it, paid by this wallet (default: private). */
  public?: boolean
  /** Read a file source with direct I/O (default false; see source.ts). */
  directIo?: boolean
  signal?: AbortSignal
  onProgress?: (e: ProgressEvent) => void
}

export interface UploadResult {
  cid: string
  size: number
  segments: number
  /** Cumulative DAG size (Tsize for a directory link). */
  dagSize: number
  file: FileRecordView
}

/**
 * Codes after which the same shard may succeed on another node. ORDER_LIMIT_EXCEEDED: the node
 * closed the limit (a GET's, settled; a node from before PUT credits also closes PUT limits); the
 * replacement placement comes with a fresh one.
 */
export function isRetryableTransfer(e: StratosError): boolean {
  if (e.code === 'ABORTED') return false
  return (
    e.code === 'TIMEOUT' ||
    e.code === 'NODE_UNAVAILABLE' ||
    e.code === 'TICKET_EXPIRED' ||
    e.code === 'ORDER_LIMIT_EXCEEDED' ||
    e.httpStatus >= 500
  )
}

function emit(onProgress: ((e: ProgressEvent) => void) | undefined, e: ProgressEvent): void {
  if (!onProgress) return
  try {
    onProgress(e)
  } catch {
    // A throwing progress callback must not break the transfer.
  }
}

export async function createSession(
  c: TransferComponents,
  wallet: WalletSigner,
  p: SessionShape,
  signal?: AbortSignal,
): Promise<UploadSession> {
  const payload = createPayload(
    {
      chainId: c.chainId,
      signer: wallet.address,
      nonce: randomHex(c.random, 16),
      expiresAt: c.clock.now() + CLIENT_REQUEST_TTL_MS,
      orderKey: c.orders.publicKey,
    },
    p,
  )
  return c.meta.createUpload(signAsWallet(wallet, payload), { signal })
}

/** Signs and sends a commit; `p.receipts` may still be on their way (signed first, sent once they are all in). */
export async function commitSession(
  c: TransferComponents,
  wallet: WalletSigner,
  uploadId: string,
  p: Omit<CommitParts, 'receipts'> & { receipts: SignedReceipt[] | Promise<SignedReceipt[]> },
  signal?: AbortSignal,
): Promise<FileRecordView> {
  const payload = commitPayload(
    {
      chainId: c.chainId,
      signer: wallet.address,
      nonce: randomHex(c.random, 16),
      expiresAt: c.clock.now() + CLIENT_REQUEST_TTL_MS,
    },
    {
      uploadId,
      cid: p.cid,
      size: p.size,
      kind: p.kind,
      name: p.name,
      dagDigest: dagDigest(p.blocks.map((b) => b.bytes)),
    },
  )
  const request = signAsWallet(wallet, payload)
  const dagBlocks = p.blocks.map((b) => toBase64Url(b.bytes))
  const receipts = await p.receipts
  return c.meta.commit(
    uploadId,
    {
      request,
      dagBlocks,
      receipts,
      ...(p.children ? { children: p.children } : {}),
    },
    { signal },
  )
}

export { dagDigest, commitPayload, createPayload, type SessionShape }

/**
 * Signs a call on upload session `uploadId` with the session's order key (the key the wallet named at create), with
 * a fresh nonce and a short expiry: the meta node refuses such calls from anyone else (docs/security.md).
 */
export function signSessionCall<B extends { [key: string]: CanonicalValue }>(
  c: TransferComponents,
  uploadId: string,
  action: SessionCallAction,
  body: B,
): B & { auth: SessionCallAuth } {
  const nonce = randomHex(c.random, 16)
  const expiresAt = c.clock.now() + CLIENT_REQUEST_TTL_MS
  const signature = c.orders.sign(sessionCallBytes({ chainId: c.chainId, uploadId, action, body, nonce, expiresAt }))
  return { ...body, auth: { nonce, expiresAt, signature } }
}

/** Best effort: tells the meta node to drop the session (its shards get released). Never throws. */
export async function abortSession(c: TransferComponents, uploadId: string): Promise<void> {
  await c.meta
    .abort(uploadId, signSessionCall(c, uploadId, 'upload.abort', {}), { timeoutMs: CLIENT_CONTROL_TIMEOUT_MS })
    .catch(() => undefined)
}

/** Throws BAD_REQUEST unless `segmentSize` is a whole number of bytes from 1 to MAX_SEGMENT_BYTES. */
export function checkSegmentSize(segmentSize: number): void {
  if (!Number.isInteger(segmentSize) || segmentSize <= 0 || segmentSize > MAX_SEGMENT_BYTES) {
    throw new StratosError('BAD_REQUEST', `segment size must be 1…${MAX_SEGMENT_BYTES} bytes, got ${segmentSize}`)
  }
}

/**
 * What the steps of one upload share: its parts, and the jobs and the session a failure must wait
 * for or abort. One per upload, never per segment.
 */
interface UploadRun {
  readonly c: TransferComponents
  readonly p: UploadParameters
  readonly code: ErasureCode
  readonly source: SegmentSource
  readonly cid: UnixFsFileBuilder
  /** The largest segment this upload reads: the segment size, or a smaller file's size. */
  readonly maxSegment: number
  /** CLIENT_SEGMENTS_IN_FLIGHT segment buffers, (k+m)·shardSize bytes each. */
  readonly segments: BufferPool
  readonly authority: UploadAuthority
  readonly controller: AbortController
  readonly signal: AbortSignal
  /** The request opening the session, and the session once the meta node opened it (to abort it on failure). */
  opened: Promise<UploadSession> | undefined
  session: UploadSession | undefined
  /** The first failure of a segment's plan or PUTs; it aborts the others. */
  failure: unknown
  /** Each segment's plan and PUTs. */
  readonly tasks: Promise<void>[]
  /** The parity job of the segment being prepared (it writes into the buffer from the threadpool). */
  encoding: Promise<unknown>
}

/** What sendSegments read: the byte count, the number of segments, and every segment's receipts (filled as its PUTs end). */
interface SentSegments {
  bytes: number
  segments: number
  receipts: SignedReceipt[][]
}

export async function upload(c: TransferComponents, asked: UploadParameters): Promise<UploadResult> {
  const { segmentSize } = asked
  checkSegmentSize(segmentSize)
  ErasureCode.check(asked.k, asked.m)
  const authority = asked.authority ?? (asked.wallet ? walletAuthority(c, asked.wallet) : undefined)
  if (!authority) throw new StratosError('BAD_REQUEST', 'an upload needs a wallet or an authority')
  // Direct reads need every read aligned: whole segments of an aligned size into aligned buffers (the pool below).
  const source = await openSource(asked.source, { direct: (asked.directIo ?? false) && isAligned(segmentSize) })
  // A small file of known size may go as whole copies (copiesUpToBytes): k = 1, same m, the same losses survived.
  const p =
    source.size !== null && source.size <= (asked.copiesUpToBytes ?? 0) && asked.k > 1 ? { ...asked, k: 1 } : asked
  const { k, m } = p
  const code = ErasureCode.for(k, m)
  const { controller, dispose } = linkedController(p.signal)
  const cid = new UnixFsFileBuilder({ cidVersion: p.cidVersion, rawLeaves: p.rawLeaves, chunkBytes: p.chunkBytes })
  // Buffers only as large as this upload needs (a small file does not get 2 × 48 MiB). They come from
  // the client's pool and go back to it (finally below) once no PUT, hash or parity job uses them.
  const maxSegment = source.size === null ? segmentSize : Math.max(1, Math.min(segmentSize, source.size))
  const segments = new BufferPool(
    CLIENT_SEGMENTS_IN_FLIGHT,
    (k + m) * shardSizeFor(maxSegment, k),
    source.direct === true,
    c.uploadBuffers,
  )
  const run: UploadRun = {
    c,
    p,
    code,
    source,
    cid,
    maxSegment,
    segments,
    authority,
    controller,
    signal: controller.signal,
    opened: undefined,
    session: undefined,
    failure: undefined,
    tasks: [],
    encoding: Promise.resolve(),
  }
  try {
    emit(p.onProgress, { type: 'upload:start', total: source.size })
    // A stream opens its session at once, while its first segment is read; a file of known size opens it once its
    // first segment is coded, with that segment's plan in the same signed call (one round trip and commit fewer).
    if (source.size === null) openSession(run)
    const sent = await sendSegments(run)
    return await commitUpload(run, sent)
  } catch (e) {
    throw await abandonUpload(run, e)
  } finally {
    dispose()
    // Every PUT, hash and parity job has settled by now (awaited on both paths).
    segments.close()
    await source.close()
  }
}

/**
 * Opens the upload session: a stream's while its first segment is read and hashed (it is needed only to plan it), a
 * file's with its first segment's plan.
 * The session is remembered before its shape is checked, so one the meta node opened with other
 * parameters than asked is aborted like any other.
 */
function openSession(run: UploadRun, segment?: SessionShape['segment']): Promise<UploadSession> {
  const { p } = run
  const { k, m, segmentSize } = p
  const opened = run.authority
    .open(
      { k, m, segmentSize, size: run.source.size, name: p.name, public: p.public, ...(segment ? { segment } : {}) },
      run.signal,
    )
    .then((s) => {
      run.session = s
      if (s.k !== k || s.m !== m || s.segmentSize !== segmentSize) {
        throw new StratosError(
          'UPSTREAM_ERROR',
          `meta node opened a session with k=${s.k} m=${s.m} segmentSize=${s.segmentSize}, asked k=${k} m=${m} segmentSize=${segmentSize}`,
        )
      }
      return s
    })
  run.opened = opened
  opened.catch(() => undefined)
  return opened
}

/**
 * The pipeline: reads the source segment by segment into the pool's buffers, names each segment's
 * shards, plans it and starts its PUTs, then hashes its CID leaves while they run. Returns once the
 * source is read and hashed; the last segments' PUTs may still run (run.tasks). A segment's buffer
 * goes back to the pool when its PUTs end, so the next read waits for a free one: at most
 * CLIENT_SEGMENTS_IN_FLIGHT segments are in memory.
 */
async function sendSegments(run: UploadRun): Promise<SentSegments> {
  const { c, p, source, segments, cid, maxSegment, signal } = run
  const fail = (e: unknown): void => {
    run.failure ??= e
    run.controller.abort(e)
  }
  const receipts: SignedReceipt[][] = []
  let bytes = 0
  let index = 0
  let previousPlan: Promise<void> = Promise.resolve()
  for (;;) {
    const buf = await segments.take(signal)
    const n = await source.fill(buf, maxSegment, signal)
    if (n === 0) {
      segments.give(buf)
      break
    }
    const shardSize = shardSizeFor(n, p.k)
    const ids = await encodeSegment(run, buf, n, shardSize)
    const segment = index++
    const opened = run.opened ?? openSession(run, { size: n, shardSize, shards: ids })
    const s = await opened
    // The meta node takes segment plans strictly in order: each plan waits for the previous one. Segment 0 may have
    // been planned by the create.
    const planned =
      segment === 0 && s.placements
        ? Promise.resolve<PlanSegmentResponse>({ placements: s.placements })
        : previousPlan.then(() =>
            c.meta.planSegment(
              s.uploadId,
              signSessionCall(c, s.uploadId, 'upload.plan', { index: segment, size: n, shardSize, shards: ids }),
              { signal },
            ),
          )
    previousPlan = planned.then(
      () => undefined,
      () => undefined,
    )
    const task = planned
      .then((plan) => uploadSegment(c, p, s.uploadId, segment, buf, shardSize, ids, plan, signal))
      .then((r) => {
        receipts[segment] = r
      })
    task.catch(fail)
    run.tasks.push(task)
    // CID leaves are hashed while the segment is planned and sent (the PUTs only read the buffer): the
    // nodes start work one hash pass earlier, and the last segment's hashing overlaps its PUTs. The source's last
    // bytes are marked so: the file's tail is hashed in place, not copied aside until the builder finishes.
    const last = n < maxSegment || (source.size !== null && bytes + n >= source.size)
    try {
      const chunk = cid.options.chunkBytes
      for (let off = 0; off < n; off += chunk) {
        const end = Math.min(n, off + chunk)
        await cid.push(buf.subarray(off, end), last && end === n)
      }
    } finally {
      void task.then(
        () => segments.give(buf),
        () => segments.give(buf),
      )
    }
    bytes += n
    emit(p.onProgress, { type: 'upload:progress', bytes, total: source.size })
    if (last) break
  }
  return { bytes, segments: index, receipts }
}

/**
 * Turns the n file bytes at the start of `buf` into k+m shards in place and returns their ids (the
 * plan names them): zero-pads the last data shard, computes parity in the threadpool while this
 * thread hashes the data shards, then hashes the parity shards. (Hashing shards in a worker thread
 * instead was measured slower on a busy 2-core box: more CPU in total, no idle core.)
 */
async function encodeSegment(run: UploadRun, buf: Uint8Array, n: number, shardSize: number): Promise<string[]> {
  const { k, m } = run.p
  buf.fill(0, n, k * shardSize)
  const shard = (i: number): Uint8Array => buf.subarray(i * shardSize, (i + 1) * shardSize)
  const parity = run.code.encode(buf, shardSize)
  parity.catch(() => undefined)
  run.encoding = parity
  const ids = range(0, k).map((i) => computeShardId(shard(i)).id)
  await parity
  ids.push(...range(k, k + m).map((i) => computeShardId(shard(i)).id))
  return ids
}

/**
 * Builds the DAG while the last PUTs run, waits for every segment's PUTs, refuses a source that changed size
 * meanwhile and commits with every receipt: only now does the file become visible. An authority that can sign
 * before the receipts are in (commitWhenStored) signs while the PUTs run.
 */
async function commitUpload(run: UploadRun, sent: SentSegments): Promise<UploadResult> {
  const { p, source, signal } = run
  // An empty source read no segment: its session opens now.
  const s = await (run.opened ?? openSession(run))
  const stored = Promise.all(run.tasks).then(() => {
    if (source.size !== null && sent.bytes !== source.size) {
      throw new StratosError(
        'CONFLICT',
        `source changed while uploading: read ${sent.bytes} bytes, expected ${source.size}`,
      )
    }
    return sent.receipts.flat()
  })
  stored.catch(() => undefined)
  // The last PUTs go on the wire first (undici writes once this yields), then the DAG is built and the commit signed.
  await yieldToEventLoop()
  const dag = await run.cid.finish()
  const cidString = dag.cid.toString()
  const parts = { cid: cidString, size: sent.bytes, kind: 'file' as const, name: p.name, blocks: dag.blocks }
  const file = run.authority.commitWhenStored
    ? await run.authority.commitWhenStored(s.uploadId, parts, stored, signal)
    : await run.authority.commit(s.uploadId, { ...parts, receipts: await stored }, signal)
  emit(p.onProgress, { type: 'upload:commit', cid: cidString })
  return { cid: cidString, size: sent.bytes, segments: sent.segments, dagSize: dag.dagSize, file }
}

/**
 * After a failure or an abort: stops every job, waits until none uses a segment buffer any more (the
 * buffers go back to the pool after this), and aborts the session at the meta node so its shards are
 * released now rather than when it expires. Returns the error to throw: ABORTED when the caller
 * aborted, else the first failure.
 */
async function abandonUpload(run: UploadRun, e: unknown): Promise<StratosError> {
  const { c, p } = run
  const err = p.signal?.aborted
    ? new StratosError('ABORTED', 'upload aborted', undefined, { cause: p.signal.reason })
    : toStratosError(run.failure ?? e)
  run.controller.abort(err)
  run.cid.abort(err)
  await Promise.allSettled([...run.tasks, run.encoding])
  // A session still being opened is waited for, so it is aborted too rather than left to expire.
  await run.opened?.catch(() => undefined)
  if (run.session) await abortSession(c, run.session.uploadId)
  return err
}

/** PUTs the k+m shards of a planned segment in parallel; returns the receipts in shard order. */
async function uploadSegment(
  c: TransferComponents,
  p: UploadParameters,
  uploadId: string,
  segment: number,
  buf: Uint8Array,
  shardSize: number,
  ids: string[],
  plan: PlanSegmentResponse,
  signal: AbortSignal,
): Promise<SignedReceipt[]> {
  const byIndex = new Map(plan.placements.map((pl) => [pl.shardIndex, pl]))
  // All of them in one go: undici writes them to their sockets once this yields. (A turn of the event loop between
  // PUTs, so that the first leaves before the next order is signed, was ~2 ms slower at p50 on the 2-core devnet: the
  // nodes woken first took the cores the client needed to send the rest.)
  return Promise.all(
    ids.map((shardId, i) => {
      const placement = byIndex.get(i)
      if (!placement)
        throw new StratosError('UPSTREAM_ERROR', `meta node gave no placement for shard ${i} of segment ${segment}`)
      return putShard(
        c,
        p,
        uploadId,
        segment,
        i,
        shardId,
        buf.subarray(i * shardSize, (i + 1) * shardSize),
        placement,
        signal,
      )
    }),
  )
}

async function putShard(
  c: TransferComponents,
  p: UploadParameters,
  uploadId: string,
  segment: number,
  shardIndex: number,
  shardId: string,
  data: Uint8Array,
  first: Placement,
  signal: AbortSignal,
): Promise<SignedReceipt> {
  const failedNodes: string[] = []
  let placement = first
  for (let attempt = 1; ; attempt++) {
    try {
      const receipt = await c.shardLimiter.run(
        () =>
          c.resource.putShard({
            url: placement.url,
            ticket: placement.ticket,
            shardId,
            data,
            signal,
          }),
        signal,
      )
      if (
        receipt?.payload?.shard !== shardId ||
        receipt.payload.node !== placement.node ||
        receipt.payload.size !== data.length
      ) {
        throw new StratosError('UPSTREAM_ERROR', `node ${placement.node} answered a receipt for another shard`, {
          node: placement.node,
        })
      }
      emit(p.onProgress, { type: 'upload:shard', segment, shardIndex, node: placement.node, bytes: data.length })
      return receipt
    } catch (e) {
      const err = toStratosError(e)
      if (signal.aborted) throw err
      if (!isRetryableTransfer(err) || attempt >= CLIENT_SHARD_UPLOAD_ATTEMPTS) {
        throw new StratosError(
          err.code,
          `shard ${shardIndex} of segment ${segment}: ${err.message}`,
          { ...err.details, segment, shardIndex, node: placement.node, attempts: attempt },
          { cause: err },
        )
      }
      failedNodes.push(placement.node)
      emit(p.onProgress, { type: 'upload:retry', segment, shardIndex, node: placement.node, code: err.code })
      placement = await c.meta.replaceShard(
        uploadId,
        signSessionCall(c, uploadId, 'upload.replace', { segment, shardIndex, exclude: failedNodes }),
        { signal },
      )
    }
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
