/**
 * The file index seen from outside: record views, DAG blocks, listing by owner, read tickets and deletion.
 *
 * Reads are on the critical path of every download (the first byte of a range read waits for them), so they touch
 * only the file record (one LMDB get; the DAG blocks live apart) and the in-memory registry, and sign one GET
 * ticket per shard of the requested segments.
 */
import type { NodeKey } from '../../crypto/node-key.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import { MAX_LIST_PAGE } from '../../limits.ts'
import { randomHex, type Clock, type Logger, type RandomBytes } from '../../util/components.ts'
import { MAX_READ_SEGMENTS, type FileList, type FileRecordView, type FileSummary, type ReadBody, type ReadResponse, type SegmentRecord } from '../protocol/api.ts'
import type { SignedDelete, SignedTicket } from '../protocol/messages.ts'
import { issueTicket } from '../protocol/ticket.ts'
import { verifyWalletRequest } from './auth.ts'
import { blockHolders, unindexRecordBlocks } from './blocks.ts'
import { canonicalCid } from './cid.ts'
import type { Registry } from './registry.ts'
import type { MetaCoreComponents } from './components.ts'
import { KEY_STRING_MAX, type FileRecord, type MetaStore } from './store.ts'
import { cacheEntry, JsonText, type CachedRecord, type RecordCache } from './record-cache.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { TICKET_TTL_MS } from '../../limits.ts'
import type { ChainLink } from './chain-link.ts'
import type { OzoneGuard } from './pot/ozone-guard.ts'
import type { ReadRouter } from './repair/replicas.ts'
import { unindexRecordShards } from './repair/shard-index.ts'

export interface FilesOptions extends MetaCoreComponents {
  /** Read counting and routing to replicas of hot segments (repair/replicas.ts); absent: reads go to the record's nodes. */
  reads?: ReadRouter
  /** The chain (Proof of Traffic); absent: storage-only mode, no ozone checks. */
  chain?: ChainLink
  /** Refuses order limits the payer's ozone does not cover (pot/ozone-guard.ts); absent: no checks. */
  guard?: OzoneGuard
}

/** The API view of a record: the layout plus the current URL and state of every node it names. */
export function recordView(r: FileRecord, registry: Registry, now: number): FileRecordView {
  const nodes: FileRecordView['nodes'] = {}
  for (const seg of r.segments) {
    for (const s of seg.shards) if (!(s.node in nodes)) nodes[s.node] = registry.location(s.node, now)
  }
  return {
    cid: r.cid,
    kind: r.kind,
    size: r.size,
    owners: r.owners,
    ...(r.name !== undefined ? { name: r.name } : {}),
    createdAt: r.createdAt,
    k: r.k,
    m: r.m,
    segmentSize: r.segmentSize,
    segments: r.segments,
    nodes,
    ...(r.children !== undefined ? { children: r.children } : {}),
  }
}

/** The record with some segments replaced (a read routed to replicas). */
function withSegments(r: FileRecord, replaced: Map<number, SegmentRecord>): FileRecord {
  return { ...r, segments: r.segments.map((seg, i) => replaced.get(i) ?? seg) }
}

export class Files {
  readonly #o: FilesOptions

  constructor(options: FilesOptions) {
    this.#o = options
  }

  #record(cid: string): FileRecord {
    return this.#cached(cid).record
  }

  #cached(cid: string): CachedRecord {
    const key = canonicalCid(cid)
    const { records, store } = this.#o
    let c = records.get(key)
    if (!c) {
      const r = store.files.get(key)
      if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${key}`, { cid: key })
      records.set(key, (c = cacheEntry(r)))
    }
    return c
  }

  /** FileRecordView JSON: the cached layout plus the nodes' current URL and state. */
  #viewJson(c: CachedRecord, now: number): string {
    const nodes: FileRecordView['nodes'] = {}
    for (const n of c.nodes) nodes[n] = this.#o.registry.location(n, now)
    return `${c.head},"nodes":${JSON.stringify(nodes)}}`
  }

  get(cid: string): FileRecordView {
    return recordView(this.#record(cid), this.#o.registry, this.#o.clock.now())
  }

  /** Same as get(), as JSON text (the HTTP route: large layouts are served from the cache). */
  getJson(cid: string): JsonText {
    return new JsonText(this.#viewJson(this.#cached(cid), this.#o.clock.now()))
  }

  /** The DAG's inner blocks, base64url, in the order the upload gave them. */
  dag(cid: string): string[] {
    const r = this.#record(cid)
    return this.#o.store.fileBlocks(r.cid).map(toBase64Url)
  }

  /** The records holding the DAG block `cid` (blocks.ts); FILE_NOT_FOUND when none does. */
  blockHolders(cid: string): { files: string[] } {
    const files = blockHolders(this.#o.store, cid)
    if (files.length === 0) throw new StratosError('FILE_NOT_FOUND', `no stored DAG holds block ${cid}`, { cid })
    return { files }
  }

  /** One page of files, ordered by CID: an owner's (when given) or all. `next` is the last CID of a full page. */
  list(q: { owner?: string; limit?: number; after?: string }): FileList {
    const limit = Math.min(q.limit ?? MAX_LIST_PAGE, MAX_LIST_PAGE)
    const after = q.after ?? ''
    const { store } = this.#o
    const files: FileSummary[] = []
    let more = false
    if (q.owner !== undefined) {
      if (!isWalletAddress(q.owner)) throw new StratosError('BAD_REQUEST', 'owner must be an st1… wallet address', { owner: q.owner })
      for (const { key, value } of store.owners.getRange({ start: [q.owner, after], end: [q.owner, KEY_STRING_MAX] })) {
        if (key[1] === after) continue
        if (files.length === limit) { more = true; break }
        files.push({ cid: key[1], kind: value.kind, size: value.size, ...(value.name !== undefined ? { name: value.name } : {}), createdAt: value.createdAt })
      }
    } else {
      for (const { key, value } of store.files.getRange({ start: after })) {
        if (key === after) continue
        if (files.length === limit) { more = true; break }
        files.push({ cid: key, kind: value.kind, size: value.size, ...(value.name !== undefined ? { name: value.name } : {}), createdAt: value.createdAt })
      }
    }
    return more ? { files, next: files[files.length - 1].cid } : { files }
  }

  /** The record plus GET tickets for every shard of segments [from, to), at most MAX_READ_SEGMENTS of them. */
  async read(cid: string, body: ReadBody): Promise<ReadResponse> {
    const r0 = this.#record(cid)
    const ozone = this.#o.guard ? await this.#o.guard.balance(r0.owners[0]) : undefined
    const now = this.#o.clock.now()
    const r = this.#record(cid)
    const { from, to, tickets, routed } = this.#tickets(r, body, now, ozone)
    return { file: recordView(routed ? withSegments(r, routed) : r, this.#o.registry, now), from, to, tickets }
  }

  /** Same as read(), as JSON text: the HTTP route, on the critical path of every download. */
  readJson(cid: string, body: ReadBody): JsonText | Promise<JsonText> {
    const guard = this.#o.guard
    if (!guard) return this.#readJsonNow(cid, body, undefined)
    // The owner's balance is cached (OZONE_CACHE_MS): one resolved promise on the hot path, no chain round trip.
    return guard.balance(this.#cached(cid).record.owners[0]).then((ozone) => this.#readJsonNow(cid, body, ozone))
  }

  #readJsonNow(cid: string, body: ReadBody, ozone: bigint | undefined): JsonText {
    const now = this.#o.clock.now()
    const c = this.#cached(cid)
    const { from, to, tickets, routed } = this.#tickets(c.record, body, now, ozone)
    // A read routed to replicas shows the chosen nodes in its view (the tickets name them): serialised per request.
    const file = routed ? JSON.stringify(recordView(withSegments(c.record, routed), this.#o.registry, now)) : this.#viewJson(c, now)
    return new JsonText(`{"file":${file},"from":${from},"to":${to},"tickets":${JSON.stringify(tickets)}}`)
  }

  #tickets(r: FileRecord, body: ReadBody, now: number, ozone?: bigint): Omit<ReadResponse, 'file'> & { routed?: Map<number, SegmentRecord> } {
    const { key, chainId, random } = this.#o
    const n = r.segments.length
    const from = body.from ?? 0
    let to = body.to ?? Math.min(n, from + MAX_READ_SEGMENTS)
    if (from > n || to > n || to < from) {
      throw new StratosError('RANGE_NOT_SATISFIABLE', `segment range [${from}, ${to}) is outside [0, ${n})`, { from, to, segments: n })
    }
    to = Math.min(to, from + MAX_READ_SEGMENTS)
    this.#o.reads?.onRead(r.cid, from, to, now)
    const routed = this.#o.reads?.route(r, from, to, now)
    const payer = r.owners[0]
    if (this.#o.guard && ozone !== undefined) {
      // A healthy read moves the k data shards of each segment: that is what the limits promise (ozone-guard.ts).
      let bytes = 0
      for (let i = from; i < to; i++) bytes += r.k * r.segments[i].shardSize
      this.#o.guard.reserve(payer, ozone, bytes, now + TICKET_TTL_MS)
    }
    const tickets: SignedTicket[][] = []
    for (let i = from; i < to; i++) {
      const seg = routed?.get(i) ?? r.segments[i]
      tickets.push(seg.shards.map((s) => issueTicket({
        key, chainId, op: 'get', node: s.node, shard: s.id, size: seg.shardSize, payer, context: r.cid, orderKey: body.orderKey, now, serial: randomHex(random, 16),
      })))
    }
    return routed ? { from, to, tickets, routed } : { from, to, tickets }
  }

  /**
   * Removes the signer from the file's owners. The last owner's delete removes the record and its blocks and
   * releases every shard location, queueing deletes on the nodes for those nothing else references.
   */
  async delete(cid: string, msg: SignedDelete): Promise<{ deleted: true; remainingOwners: number }> {
    const { store, chainId, records } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    const key = canonicalCid(cid)
    if (canonicalCid(p.cid) !== key) throw new StratosError('BAD_REQUEST', 'the signed CID differs from the CID in the path', { path: key, signed: p.cid })
    const remainingOwners = await store.write(() => {
      const r = store.files.get(key)
      if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${key}`, { cid: key })
      if (!r.owners.includes(p.signer)) throw new StratosError('NOT_OWNER', `${p.signer} does not own ${key}`, { cid: key, signer: p.signer })
      store.useNonce(p.signer, p.nonce, p.expiresAt)
      records.invalidate(key)
      store.owners.removeSync([p.signer, key])
      const owners = r.owners.filter((o) => o !== p.signer)
      if (owners.length > 0) {
        store.files.putSync(key, { ...r, owners })
        return owners.length
      }
      store.files.removeSync(key)
      unindexRecordBlocks(store, key, r.kind, store.fileBlocks(key))
      unindexRecordShards(store, r)
      for (let i = 0; i < r.blockCount; i++) store.blocks.removeSync([key, i])
      for (const seg of r.segments) for (const s of seg.shards) store.releaseRef(s.node, s.id, now)
      store.addCounters(-1, r.kind === 'file' ? -r.size : 0)
      return 0
    })
    records.invalidate(key)
    this.#o.logger.info({ cid: key, signer: p.signer, remainingOwners }, remainingOwners ? 'owner removed from file' : 'file deleted')
    return { deleted: true, remainingOwners }
  }
}
