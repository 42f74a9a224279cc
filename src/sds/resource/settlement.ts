/**
 * Settlement loop: every interval (and once more at stop) the resource node hands the meta node
 * the (ticket, highest order) pairs of its serials that are due (OrderBook.due), in NodeSigned
 * batches of at most MAX_SETTLE_BATCH (POST /v1/orders/settle). The meta node answers per serial:
 * accepted (it will be paid) or rejected (with a code; never worth sending again). Both leave the
 * book; serials without an answer, and every serial of a batch that failed in transit, stay and
 * go again next round. Serials past their limit's expiry + ORDER_SETTLE_WINDOW_MS are dropped:
 * the meta node would refuse them. A meta node that is down never stops the loop.
 */
import { StratosError, toStratosError } from '../../errors.ts'
import {
  CLIENT_CONTROL_TIMEOUT_MS,
  HEARTBEAT_TTL_MS,
  MAX_SETTLE_BATCH,
  ORDER_SETTLE_STOP_TIMEOUT_MS,
} from '../../limits.ts'
import type { NodeKey } from '../../crypto/node-key.ts'
import type { SettleOrderItem, SettleOrdersResponse } from '../protocol/api.ts'
import { DOMAIN, signAsNode } from '../protocol/signing.ts'
import type { MetaClient } from '../../net/meta-client.ts'
import type { Clock, Logger, Startable } from '../../util/components.ts'
import type { OrderBook } from './orders.ts'

export interface SettlementComponents {
  book: OrderBook
  key: NodeKey
  chainId: string
  meta: Pick<MetaClient, 'settleOrders' | 'url'>
  clock: Clock
  logger: Logger
  intervalMs: number
  /** Default MAX_SETTLE_BATCH. */
  batchSize?: number
  /**
   * Which serials this loop settles, by the meta node that signed their limit (a node serving several meta nodes
   * runs one loop per meta node). Default: every serial.
   */
  issuer?: (address: string) => boolean
}

export interface SettlementRound {
  accepted: number
  rejected: number
  /** Rejections by code. */
  rejectedCodes: Record<string, number>
  /** Bytes the meta node accepted this round. */
  acceptedBytes: number
  dropped: number
  /** Serials sent but still pending (the request failed, or the answer did not name them). */
  failed: number
}

export class SettlementLoop implements Startable {
  /** Orders the meta node answered since start (metrics): accepted (with their bytes) and rejected. */
  readonly totals = { accepted: 0, rejected: 0, acceptedBytes: 0 }
  readonly #c: SettlementComponents
  readonly #batchSize: number
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> | undefined
  #abort: AbortController | undefined
  #lastProblem: string | undefined
  #last: Promise<void> = Promise.resolve()

  constructor(components: SettlementComponents) {
    this.#c = components
    this.#batchSize = Math.max(1, Math.min(MAX_SETTLE_BATCH, components.batchSize ?? MAX_SETTLE_BATCH))
  }

  async start(): Promise<void> {
    if (this.#abort) return
    this.#abort = new AbortController()
    this.#schedule()
  }

  /** Stops the timer, waits for a round in progress, then settles every pending serial once (bounded wait). */
  async stop(): Promise<void> {
    const abort = this.#abort
    if (!abort || abort.signal.aborted) return
    abort.abort(new StratosError('ABORTED', 'settlement loop stopped'))
    clearTimeout(this.#timer)
    await this.#running
    await this.round({ all: true, timeoutMs: ORDER_SETTLE_STOP_TIMEOUT_MS })
  }

  #schedule(): void {
    const signal = this.#abort?.signal
    if (!signal || signal.aborted) return
    this.#timer = setTimeout(() => {
      this.#running = this.round({ signal }).finally(() => {
        this.#running = undefined
        this.#schedule()
      })
    }, this.#c.intervalMs)
    this.#timer.unref()
  }

  /**
   * One settlement round; never throws (errors are logged, the serials stay for the next round).
   * `all`: settle every pending serial, not only the due ones (at stop).
   */
  round(o: { all?: boolean; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<SettlementRound> {
    // One round at a time: two rounds sending the same serial would see the second copy refused as a replay.
    const run = this.#last.then(() => this.#round(o))
    this.#last = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  async #round(o: { all?: boolean; signal?: AbortSignal; timeoutMs?: number }): Promise<SettlementRound> {
    const { book, clock, logger } = this.#c
    const result: SettlementRound = {
      accepted: 0,
      rejected: 0,
      rejectedCodes: {},
      acceptedBytes: 0,
      dropped: 0,
      failed: 0,
    }
    try {
      await book.prune(clock.now())
      const done = new Set<string>()
      for (;;) {
        if (o.signal?.aborted) break
        const now = clock.now()
        const due = book
          .due(now, this.#batchSize + done.size, o.all, this.#c.issuer)
          .filter((d) => !done.has(d.serial))
          .slice(0, this.#batchSize)
        if (due.length === 0) break
        const stale = due.filter((d) => d.stale).map((d) => d.serial)
        if (stale.length) {
          await book.drop(stale)
          result.dropped += stale.length
          logger.warn({ serials: stale.length }, 'dropped orders past their settlement window (unpaid)')
        }
        const fresh = due.filter((d) => !d.stale)
        if (fresh.length === 0) continue
        for (const s of fresh) done.add(s.serial)
        if (!(await this.#send(fresh, now, o, result))) break
      }
      if (this.#lastProblem !== undefined && result.failed === 0)
        logger.info({ metaUrl: this.#c.meta.url }, 'settlement works again')
      if (result.failed === 0) this.#lastProblem = undefined
      if (result.accepted || result.rejected || result.dropped) logger.debug({ ...result }, 'settlement round')
    } catch (e) {
      logger.error({ err: e }, 'settlement round failed')
    }
    return result
  }

  /** Sends one batch and marks answered serials settled; false when the request failed (stop this round). */
  async #send(
    due: Array<{ serial: string; expiresAt: number }>,
    now: number,
    o: { signal?: AbortSignal; timeoutMs?: number },
    result: SettlementRound,
  ): Promise<boolean> {
    const { book, key, chainId, meta, logger } = this.#c
    await book.flushed()
    const items: SettleOrderItem[] = []
    const bytes = new Map<string, number>()
    const expiry = new Map<string, number>()
    const missing: string[] = []
    for (const d of due) {
      const r = book.record(d.serial)
      if (!r) {
        missing.push(d.serial)
        continue
      }
      items.push({ ticket: r.ticket, order: r.order })
      bytes.set(d.serial, r.order.payload.bytes)
      expiry.set(d.serial, d.expiresAt)
    }
    if (missing.length) await book.drop(missing)
    if (items.length === 0) return true
    const body = signAsNode(DOMAIN.settleOrders, key, {
      v: 1 as const,
      chainId,
      node: key.address,
      items,
      expiresAt: now + HEARTBEAT_TTL_MS,
    })
    let response: SettleOrdersResponse
    try {
      response = await meta.settleOrders(body, {
        signal: o.signal,
        timeoutMs: o.timeoutMs ?? CLIENT_CONTROL_TIMEOUT_MS,
      })
      if (!response || !Array.isArray(response.results))
        throw new StratosError('UPSTREAM_ERROR', 'meta node sent a malformed settlement answer')
    } catch (e) {
      result.failed += items.length
      if (o.signal?.aborted) return false
      const err = toStratosError(e)
      const fields = { code: err.code, err: err.message, metaUrl: meta.url, items: items.length }
      const network = err.code === 'NODE_UNAVAILABLE' || err.code === 'TIMEOUT' || err.code === 'ABORTED'
      if (network || this.#lastProblem === err.code) logger.debug(fields, 'settlement failed; retrying next round')
      else logger.warn(fields, 'settlement failed; retrying next round')
      this.#lastProblem = err.code
      return false
    }
    const answered: Array<{ serial: string; expiresAt: number }> = []
    const rejectedCodes: Record<string, number> = {}
    for (const r of response.results) {
      const expiresAt = expiry.get(r?.serial)
      if (expiresAt === undefined || (r.status !== 'accepted' && r.status !== 'rejected')) continue
      expiry.delete(r.serial)
      answered.push({ serial: r.serial, expiresAt })
      if (r.status === 'accepted') {
        result.accepted++
        result.acceptedBytes += bytes.get(r.serial) ?? 0
        this.totals.accepted++
        this.totals.acceptedBytes += bytes.get(r.serial) ?? 0
      } else {
        result.rejected++
        this.totals.rejected++
        const code = typeof r.code === 'string' ? r.code : 'UNKNOWN'
        rejectedCodes[code] = (rejectedCodes[code] ?? 0) + 1
        result.rejectedCodes[code] = (result.rejectedCodes[code] ?? 0) + 1
      }
    }
    await book.settled(answered)
    if (Object.keys(rejectedCodes).length) logger.warn({ rejected: rejectedCodes }, 'meta node rejected orders')
    result.failed += items.length - answered.length
    return true
  }
}
