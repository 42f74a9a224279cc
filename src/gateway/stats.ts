/**
 * Bytes the gateway has served: a total and a bounded per-CID map (GATEWAY_STATS_MAX_CIDS, oldest dropped first).
 * Counted as response body bytes are handed to the socket, so a client that stops reading (a video player that
 * seeks away) is charged only what it was sent. Exposed at GET /api/v1/stats[?cid=CID].
 */
import { GATEWAY_STATS_MAX_CIDS } from '../limits.ts'

export interface GatewayStatsView {
  /** Response body bytes written since the gateway started. */
  bytesServed: number
  /** With ?cid=: that CID's bytes (0 when unknown or forgotten). */
  cid?: string
  bytes?: number
}

export class GatewayStats {
  #total = 0
  readonly #byCid = new Map<string, number>()

  add(cid: string, bytes: number): void {
    this.#total += bytes
    const prev = this.#byCid.get(cid)
    if (prev === undefined && this.#byCid.size >= GATEWAY_STATS_MAX_CIDS) this.#byCid.delete(this.#byCid.keys().next().value!)
    this.#byCid.set(cid, (prev ?? 0) + bytes)
  }

  bytesFor(cid: string): number {
    return this.#byCid.get(cid) ?? 0
  }

  view(cid?: string): GatewayStatsView {
    return cid === undefined ? { bytesServed: this.#total } : { bytesServed: this.#total, cid, bytes: this.bytesFor(cid) }
  }
}
