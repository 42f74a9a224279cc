/**
 * Client-side cache of read responses (file record + GET tickets per segment window).
 *
 * A player seeking through a video, or a gateway serving ranges of a hot file, reads the same
 * file many times within seconds; asking the meta node for the record and fresh tickets on every
 * read would put a control round trip in front of every first byte. Tickets stay valid for
 * TICKET_TTL_MS, so a window is reused while every ticket in it has CLIENT_READ_CACHE_MARGIN_MS
 * of life left and the entry is younger than CLIENT_READ_CACHE_TTL_MS (so node state and shard
 * locations in the record are at most that old). Bounded to CLIENT_READ_CACHE_FILES files, least
 * recently used evicted. `refresh` (after TICKET_EXPIRED) always asks the meta node.
 *
 * A window is not reused once it holds a ticket whose limit this client has used up (no
 * `remainingBytes` left): every GET under it would be refused (ORDER_LIMIT_EXCEEDED) and then
 * refreshed one segment at a time. Reading a file whole spends its data shards' limits, so the next
 * whole read gets a fresh window in one round trip (before, every second whole read of a file made
 * refused GETs and a meta round trip per segment; bench/README.md). A partly spent ticket keeps its window: a later
 * range may still fit under it.
 */
import type { MetaClient, CallOptions } from '../../net/meta-client.ts'
import type { ReadBody, ReadResponse } from '../protocol/api.ts'
import type { Ticket } from '../protocol/messages.ts'
import type { Clock } from '../../util/components.ts'
import { Lru } from '../../util/lru.ts'
import { CLIENT_READ_CACHE_FILES, CLIENT_READ_CACHE_MARGIN_MS, CLIENT_READ_CACHE_TTL_MS } from '../../limits.ts'

interface Entry {
  response: ReadResponse
  storedAt: number
  /** Earliest ticket expiry in the window. */
  expiresAt: number
}

export class ReadCache {
  /** Windows per file, least recently hit or refreshed first out (a miss does not refresh). */
  readonly #files = new Lru<string, Entry[]>({ maxEntries: CLIENT_READ_CACHE_FILES })

  constructor(
    private readonly meta: MetaClient,
    private readonly clock: Clock,
    private readonly orderKey: string,
    /** Bytes a ticket's limit still covers for this client (OrderSigner.remainingBytes); the whole limit when absent. */
    private readonly remainingBytes: (ticket: Ticket) => number = (ticket) => ticket.size,
  ) {}

  /** A cached window covering [from, to) when one is fresh, else the meta node's answer (then cached). */
  async read(cid: string, body: { from: number; to: number }, o?: CallOptions): Promise<ReadResponse> {
    const now = this.clock.now()
    const entries = this.#files.peek(cid)
    if (entries) {
      const hit = entries.find((e) => e.response.from <= body.from && body.to <= e.response.to && this.#fresh(e, now))
      if (hit) {
        this.#files.get(cid) // refreshes its LRU position
        return hit.response
      }
    }
    return this.refresh(cid, body, o)
  }

  /** Always asks the meta node; replaces cached windows of this file that overlap the answer. */
  async refresh(cid: string, body: Omit<ReadBody, 'orderKey'>, o?: CallOptions): Promise<ReadResponse> {
    const response = await this.meta.read(cid, { ...body, orderKey: this.orderKey }, o)
    const now = this.clock.now()
    let expiresAt = Infinity
    for (const row of response.tickets) for (const t of row) if (t) expiresAt = Math.min(expiresAt, t.payload.expiresAt)
    if (response.to > response.from && Number.isFinite(expiresAt)) {
      const kept = (this.#files.peek(cid) ?? []).filter(
        (e) => this.#fresh(e, now) && (e.response.to <= response.from || e.response.from >= response.to),
      )
      this.#files.set(cid, [...kept, { response, storedAt: now, expiresAt }])
    }
    return response
  }

  /** Whether any window of this file is cached (fresh or not). */
  has(cid: string): boolean {
    return this.#files.has(cid)
  }

  /** Drops every cached window of a file (after it was deleted, or a read found its record stale). */
  forget(cid: string): void {
    this.#files.delete(cid)
  }

  #fresh(e: Entry, now: number): boolean {
    return (
      now - e.storedAt < CLIENT_READ_CACHE_TTL_MS &&
      e.expiresAt - now > CLIENT_READ_CACHE_MARGIN_MS &&
      !this.#spent(e.response)
    )
  }

  /** Whether a ticket of the window has no bytes left for this client. */
  #spent(r: ReadResponse): boolean {
    for (const row of r.tickets) for (const t of row) if (t && this.remainingBytes(t.payload) <= 0) return true
    return false
  }
}
