import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import { MAX_LIST_PAGE } from '../../limits.ts'
import { randomHex } from '../../util/components.ts'
import {
  MAX_READ_SEGMENTS,
  type FileList,
  type FileRecordView,
  type FileSummary,
  type ReadBody,
  type ReadResponse,
  type SegmentRecord,
} from '../protocol/api.ts'
import type { SignedDelete, SignedTicket } from '../protocol/messages.ts'
import { issueTicket } from '../protocol/ticket.ts'
import { verifyWalletRequest, verifyWalletRequestAsync } from './auth.ts'
import { blockHolders } from './blocks.ts'
import { canonicalCid } from './cid.ts'
import type { Registry } from './registry.ts'
import type { MetaCoreComponents } from './components.ts'
import type { FileRecord, OwnerEntry } from './store.ts'
import { cacheEntry, JsonText, type CachedRecord } from './record-cache.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { TICKET_TTL_MS } from '../../limits.ts'
import type { ChainLink } from './chain-link.ts'
import type { OzoneGuard } from './pot/ozone-guard.ts'
import type { ReadRouter } from './repair/replicas.ts'
import { ANONYMOUS, treeOf, walkTreeAhead, type Access, type Accessor } from './access.ts'
import type { SignedBudget, SignedBudgetList, SignedVisibility } from '../protocol/messages.ts'
import type { BudgetView } from '../protocol/api.ts'
import type { DelegationCheck } from '../protocol/signing.ts'

export interface FilesOptions extends MetaCoreComponents {
  /** Read counting and routing to replicas of hot segments (repair/replicas.ts); absent: reads go to the record's nodes. */
  reads?: ReadRouter
  /** The chain (Proof of Traffic); absent: storage-only mode, no ozone checks. */
  chain?: ChainLink
  /** Refuses order limits the payer's ozone does not cover (pot/ozone-guard.ts); absent: no checks. */
  guard?: OzoneGuard
  /** Who may see and read what, and who pays (access.ts). */
  access: Access
  /** Accepts requests a delegate key signs for a wallet (delegations.ts); absent: wallets sign everything themselves. */
  delegations?: DelegationCheck
}

/** The API view of a record: the layout plus the current URL and state of every node it names; owners only for owners. */
export function recordView(r: FileRecord, registry: Registry, now: number, showOwners = true): FileRecordView {
  const nodes: FileRecordView['nodes'] = {}
  for (const seg of r.segments) {
    for (const s of seg.shards) if (!(s.node in nodes)) nodes[s.node] = registry.location(s.node, now)
  }
  return {
    cid: r.cid,
    kind: r.kind,
    size: r.size,
    ...(showOwners ? { owners: r.owners } : {}),
    public: r.publicBy !== undefined,
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

/** A listing entry: an owner's entry or a public file's record (both carry kind, size, name and createdAt). */
function fileSummary(
  cid: string,
  e: Pick<OwnerEntry, 'kind' | 'size' | 'name' | 'createdAt'>,
  isPublic: boolean,
): FileSummary {
  return {
    cid,
    kind: e.kind,
    size: e.size,
    ...(e.name !== undefined ? { name: e.name } : {}),
    createdAt: e.createdAt,
    public: isPublic,
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

  /**
   * A shared index (PostgreSQL): brings the record into the cache with an async read, so the request does not block
   * the event loop on a miss (the cache is emptied every META_SHARED_REFRESH_MS there). On LMDB reads are memory
   * reads: #cached reads it when needed. A missing record is FILE_NOT_FOUND at once (not read again by #cached).
   */
  async #load(cid: string): Promise<void> {
    const { records, store } = this.#o
    if (!store.shared) return
    const key = canonicalCid(cid)
    if (records.get(key)) return
    const stamp = records.stamp(key)
    const r = await store.read(() => store.files.get(key))
    if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${key}`, { cid: key })
    // Invalidated meanwhile (a commit or delete here) or dropped (the shared refresh): #cached reads it again instead.
    if (records.stamp(key) === stamp && !records.get(key)) records.set(key, cacheEntry(r))
  }

  /** The cached record, if `a` may see it (ACCESS_DENIED otherwise). */
  #visible(cid: string, a: Accessor): CachedRecord {
    const c = this.#cached(cid)
    this.#o.access.authorizeRead(c.record, a)
    return c
  }

  /** FileRecordView JSON: the cached layout, owners for owners, plus the nodes' current URL and state. */
  #viewJson(c: CachedRecord, now: number, a: Accessor): string {
    const nodes: FileRecordView['nodes'] = {}
    for (const n of c.nodes) nodes[n] = this.#o.registry.location(n, now)
    const owners = this.#o.access.isOwner(c.record, a) ? `,"owners":${JSON.stringify(c.record.owners)}` : ''
    return `${c.head}${owners},"nodes":${JSON.stringify(nodes)}}`
  }

  get(cid: string, a: Accessor = ANONYMOUS): FileRecordView {
    const r = this.#visible(cid, a).record
    return recordView(r, this.#o.registry, this.#o.clock.now(), this.#o.access.isOwner(r, a))
  }

  /** Same as get(), as JSON text (the HTTP route: large layouts are served from the cache). */
  async getJson(cid: string, a: Accessor = ANONYMOUS): Promise<JsonText> {
    await this.#load(cid)
    const c = this.#cached(cid)
    await this.#o.access.authorizeReadAsync(c.record, a)
    return new JsonText(this.#viewJson(c, this.#o.clock.now(), a))
  }

  /** The DAG's inner blocks, base64url, in the order the upload gave them (an async read: never blocks). */
  async dag(cid: string, a: Accessor = ANONYMOUS): Promise<string[]> {
    await this.#load(cid)
    const r = this.#cached(cid).record
    await this.#o.access.authorizeReadAsync(r, a)
    const { store } = this.#o
    return (await store.read(() => store.files.blocks(r.cid))).map(toBase64Url)
  }

  /**
   * The records holding the DAG block `cid` that `a` may see (blocks.ts); FILE_NOT_FOUND when none. One async read
   * (the gateway asks for every block it resolves): the block index, then the holders' records together.
   */
  async blockHolders(cid: string, a: Accessor = ANONYMOUS): Promise<{ files: string[] }> {
    const { store, access } = this.#o
    const files = await store.read(() =>
      blockHolders(store, cid).filter((holder) => {
        const r = store.files.get(holder)
        return r !== undefined && access.canSee(r, a)
      }),
    )
    if (files.length === 0)
      throw new StratosError('FILE_NOT_FOUND', `no stored DAG you may read holds block ${cid}`, { cid })
    return { files }
  }

  /**
   * One page of files, ordered by CID: an owner's (`owner` given: only that wallet's own session may list them) or,
   * without `owner`, the public files. `next` is the last CID of a full page.
   */
  async list(q: { owner?: string; limit?: number; after?: string }, a: Accessor = ANONYMOUS): Promise<FileList> {
    const limit = Math.min(q.limit ?? MAX_LIST_PAGE, MAX_LIST_PAGE)
    const after = q.after ?? ''
    const { store } = this.#o
    const files: FileSummary[] = []
    let more = false
    if (q.owner !== undefined) {
      if (!isWalletAddress(q.owner))
        throw new StratosError('BAD_REQUEST', 'owner must be an st1… wallet address', { owner: q.owner })
      if (a.kind !== 'wallet' || a.address !== q.owner || (a.scopes !== undefined && !a.scopes.includes('list'))) {
        throw new StratosError('ACCESS_DENIED', `listing ${q.owner}'s files needs that wallet's session`, {
          owner: q.owner,
        })
      }
      const owner = q.owner
      // One async read (on PostgreSQL a read outside a transaction blocks the event loop for its round trip).
      const page = await store.read(() => store.files.ownedBy(owner, after, limit + 1))
      more = page.length > limit
      for (const { cid, entry } of page.slice(0, limit)) files.push(fileSummary(cid, entry, entry.public === true))
    } else {
      const page = await store.read(() => {
        store.prefetch(store.files.reads(store.files.publicCids(after, limit + 1)).slice(0, 1))
        return store.files.publicAfter(after, limit + 1)
      })
      more = page.length > limit
      for (const { cid, record } of page.slice(0, limit)) files.push(fileSummary(cid, record, true))
    }
    return more ? { files, next: files[files.length - 1].cid } : { files }
  }

  /**
   * The record plus GET tickets for every shard of segments [from, to), at most MAX_READ_SEGMENTS of them, as JSON
   * text (ReadResponse): the HTTP route, on the critical path of every download.
   */
  async readJson(cid: string, body: ReadBody, a: Accessor = ANONYMOUS): Promise<JsonText> {
    await this.#load(cid)
    const c0 = this.#cached(cid)
    const auth = await this.#o.access.authorizeReadAsync(c0.record, a)
    // A session's tickets name its own order key: a copy of the token in other hands yields tickets nobody else can spend.
    if (a.kind === 'wallet' && !auth.counted && body.orderKey !== a.orderKey) {
      throw new StratosError('ACCESS_DENIED', 'reads under a session name the order key its token was signed for', {
        cid: c0.record.cid,
      })
    }
    const guard = this.#o.guard
    // The payer's balance is cached (OZONE_CACHE_MS): one resolved promise on the hot path, no chain round trip.
    const ozone = guard ? await guard.balance(auth.payer) : undefined
    const now = this.#o.clock.now()
    // Dropped from the cache during the awaits above (the shared refresh, a commit): read again without blocking.
    await this.#load(cid)
    const c = this.#cached(cid)
    const range = this.#range(c.record, body)
    const bytes = this.#readBytes(c.record, range.from, range.to)
    const budgets = auth.counted && (await this.#o.access.hasBudgetsAsync(auth.payer, c.record.cid))
    if (!budgets && guard && ozone !== undefined) {
      // The ozone its limits promise (the payer's row, shared by every process), in a grant transaction batched with
      // this process's other reads by that payer (pot/ozone-guard.ts); the tickets are signed once it committed.
      await guard.grant(auth.payer, ozone, bytes, now + TICKET_TTL_MS)
    } else if (budgets) {
      // One transaction for the budgets this read spends and the ozone its limits promise. A lost promise (a crash
      // before the flush) is bounded by one ticket lifetime, hence not durable.
      const { store } = this.#o
      await store.write(
        () => {
          if (guard && ozone !== undefined) {
            store.prefetch(guard.reads([auth.payer]))
            guard.reserve(auth.payer, ozone, bytes, now + TICKET_TTL_MS)
          }
          if (budgets) this.#o.access.chargeBudgets(auth.payer, c.record.cid, bytes, now)
        },
        { durable: false },
      )
    }
    const { from, to, tickets, routed } = this.#tickets(c.record, range, body.orderKey, auth.payer, now)
    // A read routed to replicas shows the chosen nodes in its view (the tickets name them): serialised per request.
    const file = routed
      ? JSON.stringify(
          recordView(withSegments(c.record, routed), this.#o.registry, now, this.#o.access.isOwner(c.record, a)),
        )
      : this.#viewJson(c, now, a)
    return new JsonText(`{"file":${file},"from":${from},"to":${to},"tickets":${JSON.stringify(tickets)}}`)
  }

  #range(r: FileRecord, body: ReadBody): { from: number; to: number } {
    const n = r.segments.length
    const from = body.from ?? 0
    const to = body.to ?? Math.min(n, from + MAX_READ_SEGMENTS)
    if (from > n || to > n || to < from) {
      throw new StratosError('RANGE_NOT_SATISFIABLE', `segment range [${from}, ${to}) is outside [0, ${n})`, {
        from,
        to,
        segments: n,
      })
    }
    return { from, to: Math.min(to, from + MAX_READ_SEGMENTS) }
  }

  /** A healthy read moves the k data shards of each segment: what the limits promise (ozone-guard.ts) and budgets count. */
  #readBytes(r: FileRecord, from: number, to: number): number {
    let bytes = 0
    for (let i = from; i < to; i++) bytes += r.k * r.segments[i].shardSize
    return bytes
  }

  #tickets(
    r: FileRecord,
    range: { from: number; to: number },
    orderKey: string,
    payer: string,
    now: number,
  ): Omit<ReadResponse, 'file'> & { routed?: Map<number, SegmentRecord> } {
    const { key, chainId, random } = this.#o
    const { from, to } = range
    this.#o.reads?.onRead(r.cid, from, to, now)
    const routed = this.#o.reads?.route(r, from, to, now)
    const tickets: SignedTicket[][] = []
    for (let i = from; i < to; i++) {
      const seg = routed?.get(i) ?? r.segments[i]
      tickets.push(
        seg.shards.map((s) =>
          issueTicket({
            key,
            chainId,
            op: 'get',
            node: s.node,
            shard: s.id,
            size: seg.shardSize,
            payer,
            context: r.cid,
            orderKey,
            now,
            serial: randomHex(random, 16),
          }),
        ),
      )
    }
    return routed ? { from, to, tickets, routed } : { from, to, tickets }
  }

  // ---- visibility and budgets (owner-signed) --------------------------------------------------------

  /**
   * Makes the signer's file public or private again; for a directory, every record of its tree the signer owns too
   * (publishing a folder publishes what it holds). A file stays public while any of its owners publishes it.
   */
  async setVisibility(cid: string, msg: SignedVisibility): Promise<FileRecordView> {
    const { store, chainId, records } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    const key = canonicalCid(cid)
    if (canonicalCid(p.cid) !== key)
      throw new StratosError('BAD_REQUEST', 'the signed CID differs from the CID in the path', {
        path: key,
        signed: p.cid,
      })
    let changed: string[] = []
    // A directory's tree as it is now, read ahead a level at a time (PostgreSQL; see walkTreeAhead).
    const known = await walkTreeAhead(store, [key])
    const record = await store.write(() => {
      const r = store.files.get(key)
      if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${key}`, { cid: key })
      if (!r.owners.includes(p.signer) || !store.files.ownerEntry(p.signer, key))
        throw new StratosError('NOT_OWNER', `${p.signer} does not own ${key}`, { cid: key, signer: p.signer })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      changed = [...(r.kind === 'directory' ? treeOf(store, key, undefined, known.slice(1)) : [key])]
      let root = r
      // Every record's owner entry in one round (a deep tree: one round, not one per record).
      store.prefetch(store.files.ownerEntryReads(p.signer, changed))
      for (const c of changed) {
        const entry = store.files.ownerEntry(p.signer, c)
        const rec = store.files.get(c)
        if (!entry || !rec) continue
        records.invalidate(c)
        const updated = store.files.setOwner(rec, p.signer, { ...entry, public: p.public })
        if (c === key) root = updated
      }
      return root
    })
    for (const c of changed) records.invalidate(c)
    this.#o.logger.info(
      { cid: key, signer: p.signer, public: p.public, records: changed.length },
      'file visibility set',
    )
    return recordView(record, this.#o.registry, now)
  }

  /** Sets or removes a cap on what strangers' reads of the signer's public files may cost per epoch. */
  async setBudget(msg: SignedBudget): Promise<BudgetView> {
    const { store, chainId, access } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    const cid = p.cid === undefined ? '' : canonicalCid(p.cid)
    const epoch = access.epoch(now)
    const spentBytes = await store.write(() => {
      if (cid !== '') {
        const r = store.files.get(cid)
        if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${cid}`, { cid })
        if (!r.owners.includes(p.signer))
          throw new StratosError('NOT_OWNER', `${p.signer} does not own ${cid}`, { cid, signer: p.signer })
      }
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      store.budgets.setCap(
        p.signer,
        cid,
        p.bytesPerEpoch === null ? null : { bytesPerEpoch: p.bytesPerEpoch, setAt: now },
      )
      // Read in the transaction (no read outside it: on PostgreSQL that would block).
      return access.spent(p.signer, cid, epoch)
    })
    return {
      owner: p.signer,
      ...(cid ? { cid } : {}),
      bytesPerEpoch: p.bytesPerEpoch,
      spentBytes,
      epoch,
    }
  }

  async listBudgets(msg: SignedBudgetList): Promise<{ budgets: BudgetView[] }> {
    const { store, chainId, access } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    const epoch = access.epoch(now)
    // Listed in the transaction that records the nonce (no read outside it: on PostgreSQL that would block).
    const budgets: BudgetView[] = await store.write(() => {
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      const caps = store.budgets.caps(p.signer)
      store.prefetch(
        store.budgets.spentReads(
          p.signer,
          caps.map((c) => c.cid),
          epoch,
        ),
      )
      return caps.map(({ cid, budget }) => ({
        owner: p.signer,
        ...(cid ? { cid } : {}),
        bytesPerEpoch: budget.bytesPerEpoch,
        spentBytes: access.spent(p.signer, cid, epoch),
        epoch,
      }))
    })
    return { budgets }
  }

  /** Settled traffic of a file: its owners only. */
  async assertOwner(cid: string, a: Accessor): Promise<void> {
    await this.#load(cid)
    const r = this.#record(cid)
    if (!this.#o.access.isOwner(r, a))
      throw new StratosError('ACCESS_DENIED', `the traffic of ${r.cid} is shown to its owners only (send a session)`, {
        cid: r.cid,
      })
  }

  /**
   * Removes the signer from the file's owners. The last owner's delete removes the record and its blocks and
   * releases every shard location, queueing deletes on the nodes for those nothing else references.
   */
  async delete(cid: string, msg: SignedDelete): Promise<{ deleted: true; remainingOwners: number }> {
    const { store, chainId, records } = this.#o
    const now = this.#o.clock.now()
    const p = await verifyWalletRequestAsync(msg, { chainId, now, store, delegation: this.#o.delegations })
    const key = canonicalCid(cid)
    if (canonicalCid(p.cid) !== key)
      throw new StratosError('BAD_REQUEST', 'the signed CID differs from the CID in the path', {
        path: key,
        signed: p.cid,
      })
    const remainingOwners = await store.write(() => {
      const r = store.files.get(key)
      if (!r) throw new StratosError('FILE_NOT_FOUND', `no file ${key}`, { cid: key })
      if (!r.owners.includes(p.signer))
        throw new StratosError('NOT_OWNER', `${p.signer} does not own ${key}`, { cid: key, signer: p.signer })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      records.invalidate(key)
      const left = store.files.removeOwner(r, p.signer)
      if (left) return left.owners.length
      // The last owner: the record is gone, its shards' references go with it.
      for (const seg of r.segments) for (const s of seg.shards) store.locations.releaseRef(s.node, s.id, now)
      return 0
    })
    records.invalidate(key)
    this.#o.logger.info(
      { cid: key, signer: p.signer, remainingOwners },
      remainingOwners ? 'owner removed from file' : 'file deleted',
    )
    return { deleted: true, remainingOwners }
  }
}
