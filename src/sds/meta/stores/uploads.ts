/**
 * The upload sessions' store: it owns
 *
 *   sessions          uploadId                  → SessionRecord (owner, geometry, activity)
 *   sessionSegments   [uploadId, index]         → SessionSegment (current placement + ticket serial per shard)
 *   sessionTickets    [uploadId, node, shard]   → true: every (node, shard) the session ever got a PUT ticket for
 *   sessionLocations  [node, shard, uploadId]   → true: the same, by location (is a location an open upload's?)
 *   sessionExpiry     [expiresAt, uploadId]     → true: the sweeper's index
 *
 * uploads.ts decides (placement, receipts, commit); the auditor asks whether a location may not be written yet. A
 * session's placements hold refs in the location ledger (stores/locations.ts), added and released by uploads.ts in
 * the same write().
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import { KEY_STRING_MAX, type PrefetchRead, type Table } from '../engine/table.ts'

export interface SessionRecord {
  uploadId: string
  owner: string
  k: number
  m: number
  segmentSize: number
  name?: string
  /** Total size declared at create (null for streams). */
  declaredSize: number | null
  /** The uploader's order key (wallet-authorised at create): PUT tickets name it, and it signs the session's calls. */
  orderKey: string
  /** The file is published when committed (create's `public`). */
  public?: boolean
  createdAt: number
  lastActivity: number
  expiresAt: number
  /** Segments 0..segmentCount-1 are planned (planning is sequential). */
  segmentCount: number
}

export interface SessionShard {
  id: string
  node: string
  /** Serial of the PUT ticket for the current placement; the receipt must carry it. */
  serial: string
  /** Nodes this shard position has been placed on so far (bounded by MAX_PLACEMENTS_PER_SHARD). */
  attempts: number
  /** That ticket's expiry: the ozone promise its PUT credit ends (pot/put-credits.ts); absent in older sessions. */
  expiresAt?: number
}

export interface SessionSegment {
  index: number
  size: number
  shardSize: number
  shards: SessionShard[]
}

type Triple = [string, string, string]

/** Tables of the UploadStore (store.ts opens them). */
export interface UploadTables {
  sessions: Table<SessionRecord, string>
  sessionSegments: Table<SessionSegment, [string, number]>
  sessionTickets: Table<true, Triple>
  sessionLocations: Table<true, Triple>
  sessionExpiry: Table<true, [number, string]>
}

export interface UploadStore {
  get(uploadId: string): SessionRecord | undefined
  /** Inside write(): stores a session (new, or its activity and expiry moved); the sweeper's index follows. */
  put(session: SessionRecord): void
  segment(uploadId: string, index: number): SessionSegment | undefined
  /** The session's planned segments, by index. */
  segments(uploadId: string): SessionSegment[]
  /** Inside write(). */
  putSegment(uploadId: string, index: number, segment: SessionSegment): void
  /** Inside write(): upload `uploadId` got a PUT ticket for (node, shard). */
  addTicket(uploadId: string, node: string, shard: string): void
  /** Inside write(): the session ends; forget one of its ticketed locations. */
  removeTicket(uploadId: string, node: string, shard: string): void
  /** Every (node, shard) the session ever got a ticket for. */
  tickets(uploadId: string): [string, string][]
  /** Upload `uploadId` is open and got a PUT ticket for (node, shard) (its PUT order may not be committed yet). */
  hasTicket(uploadId: string, node: string, shard: string): boolean
  /** Some open upload holds a PUT ticket for (node, shard): its bytes may not be written yet. */
  holdsLocation(node: string, shard: string): boolean
  /** Sessions whose expiry is at or before `now`, oldest first, at most `limit`. */
  expired(now: number, limit: number): string[]
  /** Inside write(): removes the session, its segments and its expiry entry (its tickets go by removeTicket). */
  remove(uploadId: string): void
  /** Open sessions. */
  count(): number
  /** Inside write(): indexes by location the tickets of an index written before `sessionLocations` existed. */
  backfillLocations(): void
  /** The location index needs a backfill. */
  locationsPending(): boolean
  /** The reads `get` and `segment` make for these keys, for MetaStore.prefetch (one round trip on PostgreSQL). */
  reads(keys: {
    sessions?: string[]
    segments?: [string, number][]
    /** Every segment of these uploads (`segments`). */
    segmentsOf?: string[]
    /** Every ticket of these uploads (`tickets`). */
    ticketsOf?: string[]
  }): PrefetchRead[]
}

/** Every segment of an upload, in `sessionSegments`. */
function segmentsRange(uploadId: string): { start: [string, number]; end: [string, number] } {
  return { start: [uploadId, 0], end: [uploadId, Number.MAX_SAFE_INTEGER] }
}

/** Every ticket of an upload, in `sessionTickets`. */
function ticketsRange(uploadId: string): { start: [string, string, string]; end: [string, string, string] } {
  return { start: [uploadId, '', ''], end: [uploadId, KEY_STRING_MAX, KEY_STRING_MAX] }
}

export class TableUploadStore implements UploadStore {
  readonly #t: UploadTables

  constructor(tables: UploadTables) {
    this.#t = tables
  }

  reads(keys: {
    sessions?: string[]
    segments?: [string, number][]
    /** Every segment of these uploads (`segments`). */
    segmentsOf?: string[]
    /** Every ticket of these uploads (`tickets`). */
    ticketsOf?: string[]
  }): PrefetchRead[] {
    const out: PrefetchRead[] = []
    if (keys.sessions?.length) out.push({ table: this.#t.sessions, keys: keys.sessions })
    const segmentRanges = (keys.segmentsOf ?? []).map((id) => ({ options: segmentsRange(id) }))
    if (keys.segments?.length || segmentRanges.length)
      out.push({ table: this.#t.sessionSegments, keys: keys.segments ?? [], ranges: segmentRanges })
    if (keys.ticketsOf?.length)
      out.push({
        table: this.#t.sessionTickets,
        keys: [],
        ranges: keys.ticketsOf.map((id) => ({ options: ticketsRange(id), keysOnly: true })),
      })
    return out
  }

  get(uploadId: string): SessionRecord | undefined {
    return this.#t.sessions.get(uploadId)
  }

  put(s: SessionRecord): void {
    const prev = this.#t.sessions.get(s.uploadId)
    if (prev !== undefined && prev.expiresAt !== s.expiresAt)
      this.#t.sessionExpiry.removeSync([prev.expiresAt, s.uploadId])
    this.#t.sessions.putSync(s.uploadId, s)
    this.#t.sessionExpiry.putSync([s.expiresAt, s.uploadId], true)
  }

  segment(uploadId: string, index: number): SessionSegment | undefined {
    return this.#t.sessionSegments.get([uploadId, index])
  }

  segments(uploadId: string): SessionSegment[] {
    return [...this.#t.sessionSegments.getRange(segmentsRange(uploadId))].map((e) => e.value)
  }

  putSegment(uploadId: string, index: number, segment: SessionSegment): void {
    this.#t.sessionSegments.putSync([uploadId, index], segment)
  }

  addTicket(uploadId: string, node: string, shard: string): void {
    this.#t.sessionTickets.putSync([uploadId, node, shard], true)
    this.#t.sessionLocations.putSync([node, shard, uploadId], true)
  }

  removeTicket(uploadId: string, node: string, shard: string): void {
    this.#t.sessionTickets.removeSync([uploadId, node, shard])
    this.#t.sessionLocations.removeSync([node, shard, uploadId])
  }

  tickets(uploadId: string): [string, string][] {
    const out: [string, string][] = []
    for (const key of this.#t.sessionTickets.getKeys(ticketsRange(uploadId))) out.push([key[1], key[2]])
    return out
  }

  hasTicket(uploadId: string, node: string, shard: string): boolean {
    return (
      this.#t.sessions.get(uploadId) !== undefined && this.#t.sessionTickets.get([uploadId, node, shard]) !== undefined
    )
  }

  holdsLocation(node: string, shard: string): boolean {
    for (const _ of this.#t.sessionLocations.getKeys({
      start: [node, shard, ''],
      end: [node, shard, KEY_STRING_MAX],
      limit: 1,
    }))
      return true
    return false
  }

  expired(now: number, limit: number): string[] {
    const out: string[] = []
    for (const key of this.#t.sessionExpiry.getKeys({ end: [now + 1, ''], limit })) out.push(key[1])
    return out
  }

  remove(uploadId: string): void {
    const s = this.#t.sessions.get(uploadId)
    if (s === undefined) return
    for (const key of [
      ...this.#t.sessionSegments.getKeys({ start: [uploadId, 0], end: [uploadId, Number.MAX_SAFE_INTEGER] }),
    ])
      this.#t.sessionSegments.removeSync(key)
    this.#t.sessionExpiry.removeSync([s.expiresAt, uploadId])
    this.#t.sessions.removeSync(uploadId)
  }

  count(): number {
    return this.#t.sessions.getCount()
  }

  locationsPending(): boolean {
    for (const _ of this.#t.sessionLocations.getKeys({ limit: 1 })) return false
    for (const _ of this.#t.sessionTickets.getKeys({ limit: 1 })) return true
    return false
  }

  backfillLocations(): void {
    for (const [uploadId, node, shard] of [...this.#t.sessionTickets.getKeys()])
      this.#t.sessionLocations.putSync([node, shard, uploadId], true)
  }
}
