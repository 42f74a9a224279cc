/**
 * Bytes the gateway has served: a total and a bounded per-CID map (GATEWAY_STATS_MAX_CIDS, oldest dropped first).
 * Counted as response body bytes are handed to the socket, so a client that stops reading (a video player that
 * seeks away) is charged only what it was sent. Exposed at GET /api/v1/stats[?cid=CID].
 */
import { GATEWAY_STATS_MAX_CIDS } from '../limits.ts'
import { Lru } from '../util/lru.ts'

export interface GatewayStatsView {
  /** Response body bytes written since the gateway started. */
  bytesServed: number
  /** With ?cid=: that CID's bytes (0 when unknown or forgotten). */
  cid?: string
  bytes?: number
}

export class GatewayStats {
  #total = 0
  /** FIFO, not LRU: a CID keeps the place where it was first counted (counting it again does not refresh it). */
  readonly #byCid = new Lru<string, number>({ maxEntries: GATEWAY_STATS_MAX_CIDS, order: 'fifo' })

  add(cid: string, bytes: number): void {
    this.#total += bytes
    this.#byCid.set(cid, (this.#byCid.get(cid) ?? 0) + bytes)
  }

  bytesFor(cid: string): number {
    return this.#byCid.get(cid) ?? 0
  }

  view(cid?: string): GatewayStatsView {
    return cid === undefined
      ? { bytesServed: this.#total }
      : { bytesServed: this.#total, cid, bytes: this.bytesFor(cid) }
  }
}
