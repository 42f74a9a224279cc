/**
 * PUT credits: the Proof of Traffic of shard PUTs is the commit that made them part of a file.
 *
 * A shard PUT carries no order (docs/protocol.md, Orders). The wallet-signed commit of an upload names the file and
 * carries, for every placement, the receipt its node signed for that placement's ticket; the meta node accepts it only
 * when every current placement has one (uploads.ts). That commit is the payer's consent to pay for exactly those PUTs
 * — a stronger statement than a per-shard order, which was signed before the bytes moved and paid only once this
 * commit happened anyway. Repair and replica PUTs are the meta node's own: its commit of the new placement is theirs.
 *
 * So each commit writes one pending-credit row (pot-store.ts ['c', id]: payer, cid, per placement node, bytes and the
 * ozone its ticket promised), a new key per commit: concurrent commits never touch the same row. This duty — one per
 * meta process, every PUT_CREDIT_INTERVAL_MS — moves pending rows into the aggregates in batches of PUT_CREDIT_BATCH:
 * (current chain epoch, node, payer) (the volume report's input), the nodes' totals, (file, epoch, 'put'), and the
 * payers' ozone books (the ticket's promise ends, its bytes wait to be charged: OzoneGuard.settled). Each aggregate
 * row is written once per batch, not once per commit, and the pending rows are deleted in the same transaction, so
 * every committed placement is credited exactly once: two processes sweeping at once over one PostgreSQL delete the
 * same rows, so one of them runs again (engine/postgres.ts) and finds them gone; a process killed mid-way committed
 * nothing, and the rows wait for the next sweep. Aborted, expired, deduplicated or replaced placements never get a
 * row. stop() sweeps once more.
 */
import { PUT_CREDIT_BATCH, PUT_CREDIT_INTERVAL_MS } from '../../../limits.ts'
import type { Logger } from '../../../util/components.ts'
import type { ChainLink } from '../chain-link.ts'
import type { MetaStore } from '../store.ts'
import type { OzoneGuard } from './ozone-guard.ts'
import { promiseBucket } from '../stores/ozone.ts'

/** Batches one sweep moves at most before it yields to the next tick. */
const MAX_BATCHES_PER_SWEEP = 20

export interface PutCreditsOptions {
  store: MetaStore
  chain?: Pick<ChainLink, 'epoch' | 'synced'>
  guard?: OzoneGuard
  logger: Logger
  /** Default PUT_CREDIT_INTERVAL_MS. */
  intervalMs?: number
  /** Default PUT_CREDIT_BATCH. */
  batch?: number
}

export class PutCredits {
  /** Credited since start (metrics, tests): placements and their bytes. */
  readonly totals = { puts: 0, bytes: 0 }
  readonly #o: PutCreditsOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<number> | undefined

  constructor(options: PutCreditsOptions) {
    this.#o = options
  }

  start(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => {
      void this.sweep().catch((e: unknown) => this.#o.logger.warn({ err: e }, 'PUT credit sweep failed'))
    }, this.#o.intervalMs ?? PUT_CREDIT_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Stops the timer and sweeps once more (the index must still be open). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running?.catch(() => 0)
    await this.sweep().catch((e: unknown) => this.#o.logger.warn({ err: e }, 'PUT credit sweep at stop failed'))
  }

  /** Moves pending PUT credits into the aggregates (one sweep at a time per process). Returns placements credited. */
  sweep(): Promise<number> {
    if (this.#running) return this.#running
    this.#running = this.#sweep().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #sweep(): Promise<number> {
    const { store, chain, guard } = this.#o
    // The epoch is the chain's: unknown until synced, then the rows wait.
    if (store.closed || (chain && !chain.synced)) return 0
    const limit = this.#o.batch ?? PUT_CREDIT_BATCH
    let credited = 0
    for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
      const done = await store.write(() => {
        const rows = store.pot.pendingPutCredits(limit)
        if (rows.length === 0) return { rows: 0, puts: 0, bytes: 0 }
        const epoch = chain?.epoch ?? 0
        const credits = rows.map((r) => r.credit)
        const payers = [...new Set(credits.map((c) => c.payer))]
        store.prefetch([...store.pot.putCreditReads(epoch, credits), ...(guard ? guard.reads(payers) : [])])
        store.pot.creditPuts(epoch, rows)
        let puts = 0
        let bytes = 0
        // The payers' books: per (payer, promise bucket), the promises end and the bytes wait to be charged.
        const books = new Map<string, { payer: string; promised: number; expiresAt: number; bytes: number }>()
        for (const c of credits) {
          for (const [, n, promised, expiresAt] of c.puts) {
            puts++
            bytes += n
            const key = `${c.payer}\n${promised > 0 ? promiseBucket(expiresAt) : 0}`
            const b = books.get(key)
            if (b) {
              b.promised += promised
              b.bytes += n
            } else books.set(key, { payer: c.payer, promised, expiresAt: promised > 0 ? expiresAt : 0, bytes: n })
          }
        }
        if (guard) for (const b of books.values()) guard.settled(b.payer, b.promised, b.expiresAt, b.bytes)
        return { rows: rows.length, puts, bytes }
      })
      credited += done.puts
      this.totals.puts += done.puts
      this.totals.bytes += done.bytes
      if (done.rows < limit || store.closed) break
    }
    if (credited > 0) this.#o.logger.debug({ puts: credited }, 'PUT traffic credited')
    return credited
  }
}
