/**
 * Upload sessions: create → plan segments (placements + PUT tickets) → replace failed shards → commit or abort.
 *
 * Every (node, shard) a session places holds a ref (the location ledger, stores/locations.ts) from the moment its ticket is issued, so a
 * shard that is on its way to a node is never deleted, and every way a session ends gives those refs back:
 *   - commit turns them into the file's refs (or, when the CID is already stored, releases them: dedup);
 *   - abort and the sweeper (sessions idle longer than sessionTtlMs) release them → pending deletes at zero;
 *   - a replacement releases the old location at once.
 * Each ticketed (node, shard) is also remembered, and when the session ends any of them nothing references is
 * queued for deletion again: a PUT that reached a replaced node late still gets cleaned up.
 *
 * Commit makes a file visible only when every shard of every segment has a valid receipt from the node it is
 * currently placed on, carrying the serial of that placement's ticket.
 */
import { createHash } from 'node:crypto'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { fromBase64Url } from '../../crypto/hash.ts'
import { StratosError, throwIfAborted } from '../../errors.ts'
import { MAX_REQUEST_TTL_MS } from '../../limits.ts'
import type { CanonicalValue } from '../../crypto/canonical.ts'
import { verifyNodeSignature } from '../../crypto/node-key.ts'
import type { SessionCallAction, SessionCallAuth } from '../protocol/messages.ts'
import type { AbortUploadBody } from '../protocol/api.ts'
import { CLOCK_SKEW_MS, MAX_PLACEMENTS_PER_SHARD, META_SWEEP_BATCH, TICKET_TTL_MS } from '../../limits.ts'
import { randomHex } from '../../util/components.ts'
import type {
  CommitBody,
  FileRecordView,
  Placement,
  PlanSegmentBody,
  PlanSegmentResponse,
  ReplaceShardBody,
  SegmentRecord,
  UploadSession,
} from '../protocol/api.ts'
import type { Receipt, SignedCreateUpload, SignedReceipt, SignedTicket } from '../protocol/messages.ts'
import { shardSizeFor } from '../protocol/shard.ts'
import { DOMAIN, sessionCallBytes, verifyNodeSigned } from '../protocol/signing.ts'
import { issueTicket } from '../protocol/ticket.ts'
import { verifyWalletRequestAsync } from './auth.ts'
import { assertDagPbBlock, canonicalCid, dagPbBlockCid } from './cid.ts'
import { DAG_PB_CODE, parseCid } from '../protocol/cid.ts'
import { recordView } from './files.ts'
import { placeShards } from './placement.ts'
import type { FileRecord, SessionRecord, SessionSegment, SessionShard } from './store.ts'
import type { FilesOptions } from './files.ts'
import type { CreditedPut } from './pot/pot-store.ts'

/** CPU-bound commit checks run in batches this large, yielding to the event loop in between. */
const BLOCKS_PER_BATCH = 1_024
const RECEIPTS_PER_BATCH = 64
/** Most missing items named in an UPLOAD_INCOMPLETE error's details (the count is always given). */
const MAX_MISSING_LISTED = 100

export interface UploadsOptions extends Omit<FilesOptions, 'access'> {
  sessionTtlMs: number
}

interface MissingShard {
  segment: number
  shardIndex: number
  shard: string
  node: string
  reason: 'no receipt' | 'size mismatch' | 'reported corrupt'
}

export class Uploads {
  readonly #o: UploadsOptions

  constructor(options: UploadsOptions) {
    this.#o = options
  }

  // ---- create ----------------------------------------------------------------------------------

  async create(msg: SignedCreateUpload): Promise<UploadSession> {
    const { store, chainId, random, sessionTtlMs, guard, registry } = this.#o
    const now = this.#o.clock.now()
    const p = await verifyWalletRequestAsync(msg, { chainId, now, store, delegation: this.#o.delegations })
    // Refuse a payer without ozone before any byte moves. Only "some ozone left" is checked here: a directory's session
    // declares the directory's total size but moves no shard bytes (its files were paid for), and each plan reserves
    // its segment's limits exactly (pot/ozone-guard.ts).
    const ozone = guard && (p.segment || (p.size !== null && p.size > 0)) ? await guard.balance(p.signer) : undefined
    // No capacity or node-count check here: a directory commit's session moves no shard bytes although it declares
    // the directory's total size, and planning checks placement exactly, segment by segment.
    // Drawn outside the transaction: a run of it again (PostgreSQL runs it once per round of reads) reads the same key.
    const freshId = randomHex(random, 16)
    const { session, placements } = await store.write(() => {
      let uploadId = freshId
      // Everything the create and segment 0's placement read, in one round trip on PostgreSQL.
      const pairs: [string, string][] = []
      if (p.segment)
        for (const id of p.segment.shards) for (const c of registry.candidates(now)) pairs.push([c.address, id])
      store.prefetch([
        ...store.nonces.reads([[p.signer, p.nonce]]),
        ...store.uploads.reads({ sessions: [uploadId] }),
        ...store.locations.reads(pairs),
        ...(guard && ozone !== undefined ? guard.reads([p.signer]) : []),
      ])
      if (guard && ozone !== undefined && p.size !== null && p.size > 0) {
        guard.checkAny(p.signer, ozone, Math.ceil(p.size / p.k) * (p.k + p.m))
      }
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      while (store.uploads.get(uploadId) !== undefined) uploadId = randomHex(random, 16)
      let s: SessionRecord = {
        uploadId,
        owner: p.signer,
        k: p.k,
        m: p.m,
        segmentSize: p.segmentSize,
        ...(p.name !== undefined ? { name: p.name } : {}),
        declaredSize: p.size,
        orderKey: p.orderKey,
        ...(p.public === true ? { public: true } : {}),
        createdAt: now,
        lastActivity: now,
        expiresAt: now + sessionTtlMs,
        segmentCount: 0,
      }
      // Segment 0 planned in the same transaction (one signed call and one synced commit instead of two): the
      // wallet's signature covers it, so it needs no session-key signature of its own.
      const placements = p.segment ? this.#placeSegment(s, { index: 0, ...p.segment }, now, ozone) : undefined
      if (placements) s = { ...s, segmentCount: 1 }
      store.uploads.put(s)
      return { session: s, placements }
    })
    this.#o.logger.debug({ uploadId: session.uploadId, owner: session.owner }, 'upload session created')
    return {
      uploadId: session.uploadId,
      k: session.k,
      m: session.m,
      segmentSize: session.segmentSize,
      expiresAt: session.expiresAt,
      ...(placements ? { placements } : {}),
    }
  }

  // ---- plan / replace ----------------------------------------------------------------------------

  async plan(uploadId: string, body: PlanSegmentBody): Promise<PlanSegmentResponse> {
    const { store, guard } = this.#o
    const owner = guard ? (await store.read(() => store.uploads.get(uploadId)))?.owner : undefined
    const ozone = guard && owner !== undefined ? await guard.balance(owner) : undefined
    const now = this.#o.clock.now()
    const { auth, ...call } = body
    const placements = await store.write(() => {
      store.prefetch([
        ...store.uploads.reads({
          sessions: [uploadId],
          segments:
            body.index > 0
              ? [
                  [uploadId, body.index - 1],
                  [uploadId, body.index],
                ]
              : [[uploadId, 0]],
        }),
        ...store.nonces.reads([[`upload:${uploadId}`, auth.nonce]]),
        ...(guard && owner !== undefined ? guard.reads([owner]) : []),
      ])
      const s = this.#liveSession(uploadId, now)
      this.#checkCall(s, 'upload.plan', call, auth, now)
      // The balance read before the transaction is the owner's only if the session still is (it cannot change
      // owner, but it may have ended and its id been reused).
      const placements = this.#placeSegment(s, call, now, s.owner === owner ? ozone : undefined)
      this.#touch({ ...s, segmentCount: Math.max(s.segmentCount, body.index + 1) }, now)
      return placements
    })
    return { placements }
  }

  /**
   * Inside a transaction: checks segment `seg` of session `s` against the session's geometry and earlier segments,
   * reserves its k + m PUT limits (when `ozone` is known), places its shards and issues their tickets. The caller
   * writes the session record (segmentCount, activity).
   */
  #placeSegment(
    s: SessionRecord,
    seg: { index: number; size: number; shardSize: number; shards: string[] },
    now: number,
    ozone: bigint | undefined,
  ): Placement[] {
    const { store, registry, random, guard } = this.#o
    const uploadId = s.uploadId
    const width = s.k + s.m
    if (seg.shards.length !== width)
      throw new StratosError(
        'BAD_REQUEST',
        `a segment has ${width} shards (k=${s.k}, m=${s.m}), got ${seg.shards.length}`,
        {
          expected: width,
          got: seg.shards.length,
        },
      )
    if (seg.size > s.segmentSize)
      throw new StratosError('BAD_REQUEST', `segment size ${seg.size} exceeds the session's ${s.segmentSize}`, {
        size: seg.size,
        segmentSize: s.segmentSize,
      })
    const expectedShardSize = shardSizeFor(seg.size, s.k)
    if (seg.shardSize !== expectedShardSize)
      throw new StratosError('BAD_REQUEST', `shard size for a ${seg.size}-byte segment is ${expectedShardSize}`, {
        expected: expectedShardSize,
        got: seg.shardSize,
      })
    if (seg.index > s.segmentCount)
      throw new StratosError('BAD_REQUEST', `segments are planned in order: next is ${s.segmentCount}`, {
        expected: s.segmentCount,
        got: seg.index,
      })
    if (seg.index > 0) {
      const prev = store.uploads.segment(uploadId, seg.index - 1)
      if (prev && prev.size < s.segmentSize)
        throw new StratosError('BAD_REQUEST', `segment ${seg.index - 1} is short, so it must be the last`, {
          segment: seg.index - 1,
        })
    }
    if (seg.index < s.segmentCount - 1 && seg.size !== s.segmentSize) {
      throw new StratosError('BAD_REQUEST', 'only the last segment may be shorter than the segment size', {
        segment: seg.index,
      })
    }
    if (s.declaredSize !== null && seg.index * s.segmentSize + seg.size > s.declaredSize) {
      throw new StratosError('SIZE_MISMATCH', `segment ${seg.index} ends past the declared size ${s.declaredSize}`, {
        declaredSize: s.declaredSize,
      })
    }
    const old = seg.index < s.segmentCount ? store.uploads.segment(uploadId, seg.index) : undefined
    if (old && (old.size !== seg.size || old.shards.some((x, i) => x.id !== seg.shards[i]))) {
      // The shard ids are the segment's content: a planned segment keeps them (a retry of the same plan is fine).
      throw new StratosError('CONFLICT', `segment ${seg.index} is already planned with other shards`, {
        segment: seg.index,
      })
    }
    // Every one of the k + m PUT limits will be spent: reserve them all (in the payer's shared row, committed with
    // the placements) before signing any.
    if (guard && ozone !== undefined) guard.reserve(s.owner, ozone, seg.shardSize * width, now + TICKET_TTL_MS)

    const candidates = registry.candidates(now)
    // Every location placement may look at, read at once (one round trip on PostgreSQL instead of one per key).
    const pairs: [string, string][] = []
    for (const id of seg.shards) for (const c of candidates) pairs.push([c.address, id])
    if (old) for (const o of old.shards) pairs.push([o.node, o.id])
    store.prefetch(store.locations.reads(pairs))
    const nodes = placeShards({
      candidates,
      shardSize: seg.shardSize,
      shards: seg.shards.map((id) => ({ exclude: this.#blockedNodes(candidates, id) })),
      random,
    })
    const shards: SessionShard[] = []
    const placements: Placement[] = []
    for (let i = 0; i < width; i++) {
      const node = nodes[i]
      const id = seg.shards[i]
      const ticket = this.#putTicket(s, node, id, seg.shardSize, now)
      shards.push({ id, node, serial: ticket.payload.serial, attempts: 1, expiresAt: ticket.payload.expiresAt })
      placements.push({ shardIndex: i, node, url: registry.location(node, now).url, ticket })
      store.locations.addRef(node, id)
      store.uploads.addTicket(uploadId, node, id)
    }
    // New refs first, then the old ones go: a location in both never touches zero.
    if (old) for (const o of old.shards) store.locations.releaseRef(o.node, o.id, now)
    store.uploads.putSegment(uploadId, seg.index, {
      index: seg.index,
      size: seg.size,
      shardSize: seg.shardSize,
      shards,
    })
    // Reserved here, not after the commit, so a plan running right behind this one already sees it.
    for (const node of nodes) registry.reserve(node, seg.shardSize)
    return placements
  }

  async replace(uploadId: string, body: ReplaceShardBody): Promise<Placement> {
    const { store, registry, random, guard } = this.#o
    const owner = guard ? (await store.read(() => store.uploads.get(uploadId)))?.owner : undefined
    const ozone = guard && owner !== undefined ? await guard.balance(owner) : undefined
    const now = this.#o.clock.now()
    const { auth, ...call } = body
    return store.write(() => {
      if (guard && owner !== undefined) store.prefetch(guard.reads([owner]))
      const s = this.#liveSession(uploadId, now)
      this.#checkCall(s, 'upload.replace', call, auth, now)
      const seg = store.uploads.segment(uploadId, body.segment)
      if (!seg)
        throw new StratosError('BAD_REQUEST', `segment ${body.segment} is not planned`, { segment: body.segment })
      if (guard && ozone !== undefined && s.owner === owner)
        guard.reserve(s.owner, ozone, seg.shardSize, now + TICKET_TTL_MS)
      const pos = seg.shards[body.shardIndex]
      if (!pos)
        throw new StratosError('BAD_REQUEST', `shard index ${body.shardIndex} is outside 0..${seg.shards.length - 1}`, {
          shardIndex: body.shardIndex,
        })
      if (pos.attempts >= MAX_PLACEMENTS_PER_SHARD) {
        throw new StratosError(
          'CONFLICT',
          `shard ${body.shardIndex} of segment ${body.segment} was placed ${pos.attempts} times already`,
          { attempts: pos.attempts },
        )
      }
      const candidates = registry.candidates(now)
      const [node] = placeShards({
        candidates,
        shardSize: seg.shardSize,
        shards: [{ exclude: this.#blockedNodes(candidates, pos.id) }],
        exclude: new Set([...seg.shards.map((x) => x.node), ...body.exclude]),
        random,
      })
      const ticket = this.#putTicket(s, node, pos.id, seg.shardSize, now)
      store.locations.addRef(node, pos.id)
      store.uploads.addTicket(uploadId, node, pos.id)
      store.locations.releaseRef(pos.node, pos.id, now)
      const shards = seg.shards.slice()
      shards[body.shardIndex] = {
        id: pos.id,
        node,
        serial: ticket.payload.serial,
        attempts: pos.attempts + 1,
        expiresAt: ticket.payload.expiresAt,
      }
      store.uploads.putSegment(uploadId, body.segment, { ...seg, shards })
      this.#touch(s, now)
      registry.reserve(node, seg.shardSize)
      return { shardIndex: body.shardIndex, node, url: registry.location(node, now).url, ticket } satisfies Placement
    })
  }

  // ---- commit ------------------------------------------------------------------------------------

  async commit(uploadId: string, body: CommitBody, signal?: AbortSignal): Promise<FileRecordView> {
    const { store, registry, chainId } = this.#o
    const p = await verifyWalletRequestAsync(body.request, {
      chainId,
      now: this.#o.clock.now(),
      store,
      delegation: this.#o.delegations,
    })
    if (p.uploadId !== uploadId)
      throw new StratosError('BAD_REQUEST', 'the signed upload id differs from the one in the path', {
        path: uploadId,
        signed: p.uploadId,
      })
    const root = parseCid(p.cid)
    const cid = root.toString()
    if (p.kind === 'directory' && root.code !== DAG_PB_CODE)
      throw new StratosError('INVALID_CID', 'a directory root is a dag-pb node', { cid })

    const blocks = await this.#checkBlocks(body.dagBlocks, p.dagDigest, root.version, cid, signal)
    if (p.kind === 'directory' && blocks.length === 0)
      throw new StratosError('BAD_REQUEST', 'a directory commit carries its DAG blocks')
    let children: string[] | undefined
    if (p.kind === 'directory') children = [...new Set((body.children ?? []).map(canonicalCid))]
    else if (body.children?.length) throw new StratosError('BAD_REQUEST', 'only directories have children')
    const receipts = await this.#verifyReceipts(body.receipts, signal)
    throwIfAborted(signal)

    const now = this.#o.clock.now()
    // The locations the receipts name are the ones the session's segments place (else the commit fails): read with
    // the session, they spare a commit its second round of reads (on PostgreSQL, a round trip).
    const receiptPairs = body.receipts.map((r) => [r.payload.node, r.payload.shard] as [string, string])
    const record = await store.write(() => {
      store.prefetch([
        ...store.uploads.reads({ sessions: [uploadId], segmentsOf: [uploadId], ticketsOf: [uploadId] }),
        ...store.nonces.reads([[p.signer, p.nonce]]),
        ...store.files.reads([cid, ...(children ?? [])]),
        ...store.locations.reads(receiptPairs),
      ])
      const s = this.#liveSession(uploadId, now)
      if (s.owner !== p.signer)
        throw new StratosError('NOT_OWNER', `upload ${uploadId} belongs to another wallet`, {
          uploadId,
          signer: p.signer,
        })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      if (s.declaredSize !== null && s.declaredSize !== p.size) {
        throw new StratosError('SIZE_MISMATCH', `upload declared ${s.declaredSize} bytes, commit says ${p.size}`, {
          declaredSize: s.declaredSize,
          size: p.size,
        })
      }
      const segments = store.uploads.segments(uploadId)
      const pairs = segments.flatMap((seg) => seg.shards.map((x) => [x.node, x.id] as [string, string]))
      store.prefetch(store.locations.reads(pairs))
      if (p.kind === 'file' || segments.length > 0) this.#checkLayout(s, segments, p.size)
      this.#checkReceipts(segments, receipts)
      if (children) {
        const missing = children.filter((c) => store.files.get(c) === undefined)
        if (missing.length) {
          throw new StratosError('UPLOAD_INCOMPLETE', `${missing.length} children of the directory are not stored`, {
            missingChildren: missing.slice(0, MAX_MISSING_LISTED),
            missingCount: missing.length,
          })
        }
      }
      const name = p.name ?? s.name
      const ownerEntry = {
        createdAt: now,
        kind: p.kind,
        size: p.size,
        ...(name !== undefined ? { name } : {}),
        ...(s.public === true ? { public: true } : {}),
      }
      let record = store.files.get(cid)
      if (record) {
        // Same content stored before: this owner joins it, this session's shards go.
        if (record.kind !== p.kind || record.size !== p.size) {
          throw new StratosError('CONFLICT', `${cid} is stored as a ${record.size}-byte ${record.kind}`, {
            cid,
            kind: record.kind,
            size: record.size,
          })
        }
        if (!record.owners.includes(p.signer)) {
          this.#o.records.invalidate(cid)
          record = store.files.setOwner(record, p.signer, ownerEntry)
        }
        this.#endSession(s, segments, true, now)
      } else {
        const segmentRecords: SegmentRecord[] = segments.map((seg) => ({
          index: seg.index,
          size: seg.size,
          shardSize: seg.shardSize,
          shards: seg.shards.map((x) => ({ id: x.id, node: x.node })),
        }))
        record = {
          cid,
          kind: p.kind,
          size: p.size,
          owners: [p.signer],
          ...(name !== undefined ? { name } : {}),
          createdAt: now,
          k: s.k,
          m: s.m,
          segmentSize: s.segmentSize,
          segments: segmentRecords,
          ...(children ? { children } : {}),
          blockCount: blocks.length,
        } satisfies FileRecord
        record = store.files.create(record, p.signer, ownerEntry, blocks)
        // Proof of Traffic: this wallet-signed commit, carrying every placement's receipt, is what pays the nodes for
        // these PUTs (no order does): one pending-credit row, credited by the sweep (pot/put-credits.ts). A guard
        // reserved each ticket's size (#placeSegment, replace): that promise ends when the credit is made.
        store.pot.addPutCredit(uploadId, {
          payer: s.owner,
          cid,
          puts: segments.flatMap((seg) =>
            seg.shards.map(
              (x): CreditedPut =>
                x.expiresAt !== undefined && this.#o.guard
                  ? [x.node, seg.shardSize, seg.shardSize, x.expiresAt]
                  : [x.node, seg.shardSize, 0, 0],
            ),
          ),
        })
        // The session's refs now belong to the file.
        this.#endSession(s, segments, false, now)
      }
      return record
    })
    this.#o.records.invalidate(cid)
    this.#o.logger.info({ cid, uploadId, owner: p.signer, size: p.size }, 'file committed')
    return recordView(record, registry, now)
  }

  /** Decodes the DAG blocks, checks them against the signed digest and the root CID. */
  async #checkBlocks(
    encoded: string[],
    dagDigest: string,
    version: 0 | 1,
    cid: string,
    signal?: AbortSignal,
  ): Promise<Uint8Array[]> {
    const hash = createHash('sha256')
    const blocks: Uint8Array[] = []
    let rootFound = false
    for (let i = 0; i < encoded.length; i++) {
      if (i > 0 && i % BLOCKS_PER_BATCH === 0) {
        await yieldToEventLoop()
        throwIfAborted(signal)
      }
      const bytes = fromBase64Url(encoded[i])
      hash.update(bytes)
      assertDagPbBlock(bytes, i)
      if (!rootFound && dagPbBlockCid(bytes, version) === cid) rootFound = true
      blocks.push(bytes)
    }
    if (hash.digest('hex') !== dagDigest)
      throw new StratosError('HASH_MISMATCH', 'the DAG blocks do not match the signed dagDigest')
    if (blocks.length > 0 && !rootFound)
      throw new StratosError('HASH_MISMATCH', `no DAG block hashes to the root ${cid}`, { cid })
    return blocks
  }

  /** Verifies every receipt's signature; returns the set of "node/shard/serial" → size they attest. */
  async #verifyReceipts(receipts: SignedReceipt[], signal?: AbortSignal): Promise<Map<string, number>> {
    const { chainId } = this.#o
    const out = new Map<string, number>()
    for (let i = 0; i < receipts.length; i++) {
      if (i > 0 && i % RECEIPTS_PER_BATCH === 0) {
        await yieldToEventLoop()
        throwIfAborted(signal)
      }
      const r = receipts[i]
      let payload: Receipt
      try {
        // A receipt counts only with the serial of the ticket this session holds for that placement, which no other
        // upload can present; its own expiry (set by the node, often just a ticket's TTL) would only fail uploads
        // that run longer than that, so freshness is judged at the time it was issued.
        payload = verifyNodeSigned(DOMAIN.receipt, r, {
          chainId,
          now: Math.min(this.#o.clock.now(), r.payload.storedAt),
        })
      } catch (e) {
        if (e instanceof StratosError)
          throw new StratosError(e.code, `receipt ${i}: ${e.message}`, { ...e.details, receipt: i })
        throw e
      }
      if (payload.node !== r.signer)
        throw new StratosError(
          'INVALID_SIGNATURE',
          `receipt ${i} is for node ${payload.node} but signed by ${r.signer}`,
          { receipt: i },
        )
      out.set(`${payload.node}/${payload.shard}/${payload.serial}`, payload.size)
    }
    return out
  }

  /** Segments 0..n-1 cover exactly `size` bytes; all but the last are full. */
  #checkLayout(s: SessionRecord, segments: SessionSegment[], size: number): void {
    let planned = 0
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]
      if (seg.index !== i)
        throw new StratosError('UPLOAD_INCOMPLETE', `segment ${i} is not planned`, { missingSegments: [i] })
      if (i < segments.length - 1 && seg.size !== s.segmentSize)
        throw new StratosError('SIZE_MISMATCH', `segment ${i} is short but not the last`, { segment: i })
      planned += seg.size
    }
    if (planned < size) {
      throw new StratosError('UPLOAD_INCOMPLETE', `planned segments cover ${planned} of ${size} bytes`, {
        plannedSegments: segments.length,
        plannedBytes: planned,
        size,
      })
    }
    if (planned > size)
      throw new StratosError('SIZE_MISMATCH', `planned segments cover ${planned} bytes, the file has ${size}`, {
        plannedBytes: planned,
        size,
      })
  }

  /** Every current placement has a receipt from its node with its ticket's serial and the right size. */
  #checkReceipts(segments: SessionSegment[], receipts: Map<string, number>): void {
    const { store } = this.#o
    const missing: MissingShard[] = []
    let count = 0
    for (const seg of segments) {
      seg.shards.forEach((pos, shardIndex) => {
        const size = receipts.get(`${pos.node}/${pos.id}/${pos.serial}`)
        const reason: MissingShard['reason'] | undefined = store.locations.isBad(pos.node, pos.id)
          ? 'reported corrupt'
          : size === undefined
            ? 'no receipt'
            : size !== seg.shardSize
              ? 'size mismatch'
              : undefined
        if (reason) {
          count++
          if (missing.length < MAX_MISSING_LISTED)
            missing.push({ segment: seg.index, shardIndex, shard: pos.id, node: pos.node, reason })
        }
      })
    }
    if (count > 0)
      throw new StratosError('UPLOAD_INCOMPLETE', `${count} shards have no valid receipt`, {
        missingShards: missing,
        missingCount: count,
      })
  }

  // ---- abort / sweep -------------------------------------------------------------------------------

  async abort(uploadId: string, body: AbortUploadBody): Promise<void> {
    const { store } = this.#o
    const now = this.#o.clock.now()
    await store.write(() => {
      const s = store.uploads.get(uploadId)
      if (!s) throw new StratosError('UPLOAD_NOT_FOUND', `no upload ${uploadId}`, { uploadId })
      this.#checkCall(s, 'upload.abort', {}, body.auth, now)
      this.#endSession(s, store.uploads.segments(uploadId), true, now)
    })
    this.#o.logger.debug({ uploadId }, 'upload aborted')
  }

  /** Ends sessions idle past their expiry (releasing their shards) and forgets expired nonces. Returns sessions swept. */
  async sweep(): Promise<number> {
    const { store } = this.#o
    const now = this.#o.clock.now()
    let swept = 0
    // Looked up with async reads (PostgreSQL: a read outside a transaction blocks the event loop).
    for (const uploadId of await store.read(() => store.uploads.expired(now, META_SWEEP_BATCH))) {
      // One transaction per session keeps each short; a crash between them leaves the rest for the next sweep.
      const ended = await store.write(() => {
        const s = store.uploads.get(uploadId)
        if (!s || s.expiresAt > now) return false
        this.#endSession(s, store.uploads.segments(uploadId), true, now)
        return true
      })
      if (ended) {
        swept++
        this.#o.logger.info({ uploadId }, 'abandoned upload expired, shards released')
      }
    }
    if (await store.read(() => store.nonces.hasExpired(now)))
      await store.write(() => store.nonces.prune(now, META_SWEEP_BATCH))
    return swept
  }

  // ---- helpers (inside store.write unless said otherwise) -------------------------------------------

  #liveSession(uploadId: string, now: number): SessionRecord {
    const s = this.#o.store.uploads.get(uploadId)
    if (!s || s.expiresAt <= now) throw new StratosError('UPLOAD_NOT_FOUND', `no open upload ${uploadId}`, { uploadId })
    return s
  }

  /**
   * A call on session `s` must be signed by its order key (which the owner's wallet named at create), be fresh, and
   * carry a nonce never used on this session: the nonce is recorded in the caller's transaction, with its effect.
   */
  #checkCall(
    s: SessionRecord,
    action: SessionCallAction,
    body: CanonicalValue,
    auth: SessionCallAuth,
    now: number,
  ): void {
    const { chainId, store } = this.#o
    if (auth.expiresAt + CLOCK_SKEW_MS < now)
      throw new StratosError('REQUEST_EXPIRED', 'the signed call has expired', { expiresAt: auth.expiresAt, now })
    if (auth.expiresAt > now + MAX_REQUEST_TTL_MS + CLOCK_SKEW_MS) {
      throw new StratosError('BAD_REQUEST', `a call's expiry may be at most ${MAX_REQUEST_TTL_MS} ms ahead`, {
        maxTtlMs: MAX_REQUEST_TTL_MS,
      })
    }
    let signature: Uint8Array
    try {
      signature = fromBase64Url(auth.signature)
    } catch {
      throw new StratosError('INVALID_SIGNATURE', 'the call signature is not base64url')
    }
    const bytes = sessionCallBytes({
      chainId,
      uploadId: s.uploadId,
      action,
      body,
      nonce: auth.nonce,
      expiresAt: auth.expiresAt,
    })
    if (!verifyNodeSignature(fromBase64Url(s.orderKey), bytes, signature)) {
      throw new StratosError('INVALID_SIGNATURE', `the call is not signed by upload ${s.uploadId}'s session key`, {
        uploadId: s.uploadId,
      })
    }
    store.nonces.use(`upload:${s.uploadId}`, auth.nonce, auth.expiresAt)
  }

  #touch(s: SessionRecord, now: number): void {
    const { store, sessionTtlMs } = this.#o
    const next: SessionRecord = { ...s, lastActivity: now, expiresAt: now + sessionTtlMs }
    store.uploads.put(next)
  }

  /** Removes the session; `release` gives its placements' refs back (abort, expiry, dedup commit). */
  #endSession(s: SessionRecord, segments: SessionSegment[], release: boolean, now: number): void {
    const { store } = this.#o
    if (release)
      for (const seg of segments) for (const pos of seg.shards) store.locations.releaseRef(pos.node, pos.id, now)
    for (const [node, shard] of store.uploads.tickets(s.uploadId)) {
      store.locations.queueDeleteIfUnreferenced(node, shard, now)
      store.uploads.removeTicket(s.uploadId, node, shard)
    }
    store.uploads.remove(s.uploadId)
  }

  /** Nodes that must not receive this shard id: it is marked bad there, or a delete of it is in flight. */
  #blockedNodes(candidates: readonly { address: string }[], shard: string): Set<string> {
    const blocked = new Set<string>()
    for (const c of candidates) if (this.#o.store.locations.locationBlocked(c.address, shard)) blocked.add(c.address)
    return blocked
  }

  #putTicket(s: SessionRecord, node: string, shard: string, size: number, now: number): SignedTicket {
    const { key, chainId, random } = this.#o
    return issueTicket({
      key,
      chainId,
      op: 'put',
      node,
      shard,
      size,
      payer: s.owner,
      context: s.uploadId,
      orderKey: s.orderKey,
      now,
      serial: randomHex(random, 16),
    })
  }
}
