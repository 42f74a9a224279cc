/**
 * Leases of the background duties (volume reports, settlement, audits, repair, sweeps), stored in the index.
 *
 * Several processes of one meta node share a PostgreSQL index (store.ts `shared`); each duty must run in only one
 * of them at a time. Before a round a duty asks `hold(duty)`: inside one SERIALIZABLE write it reads the duty's
 * lease and takes (or renews) it when it is free, expired, or already this process's. Two processes racing for it
 * conflict, one of the transactions is retried and then sees the other's lease. A holder renews the lease every
 * round; if it dies, the lease runs out after its ttl and another process takes the duty over. No advisory locks
 * (CockroachDB has none): the lease is a row.
 *
 * On an index only one process opens (LMDB), there is nobody to share with: `hold` answers true without writing.
 */
import { randomBytes } from 'node:crypto'
import { StratosError } from '../../errors.ts'
import { META_DUTY_LEASE_RENEW_MS, META_DUTY_LEASE_TTL_MS, META_SHARED_REFRESH_MS } from '../../limits.ts'
import type { Logger } from '../../util/components.ts'
import type { MetaStore } from './store.ts'

export interface Lease {
  /** The process that holds it (Leases#holder). */
  holder: string
  /** Until when (ms since the epoch, the holder's clock). */
  until: number
}

export interface LeasesOptions {
  store: MetaStore
  clock: { now(): number }
  /** This process's id (default: random). */
  holder?: string
}

export class Leases {
  readonly holder: string
  readonly #store: MetaStore
  readonly #clock: { now(): number }

  constructor(options: LeasesOptions) {
    this.#store = options.store
    this.#clock = options.clock
    this.holder = options.holder ?? randomBytes(8).toString('hex')
  }

  /**
   * True when this process may run `duty` now, holding it for `ttlMs` (renewed by the next call). False when
   * another live process holds it, or the index cannot be written (then nobody here should act on it).
   */
  async hold(duty: string, ttlMs: number): Promise<boolean> {
    const store = this.#store
    if (!store.shared) return !store.closed
    try {
      return await store.write(() => {
        const now = this.#clock.now()
        const lease = store.leases.get(duty)
        if (lease !== undefined && lease.holder !== this.holder && lease.until > now) return false
        store.leases.put(duty, { holder: this.holder, until: now + ttlMs } satisfies Lease)
        return true
      })
    } catch (e) {
      if (e instanceof StratosError) return false
      throw e
    }
  }

  /** Gives `duty` up (on stop), so another process takes it at once instead of after the ttl. */
  async release(duty: string): Promise<void> {
    const store = this.#store
    if (!store.shared || store.closed) return
    try {
      await store.write(() => {
        if (store.leases.get(duty)?.holder === this.holder) store.leases.remove(duty)
      })
    } catch (e) {
      if (!(e instanceof StratosError)) throw e
    }
  }

  /** Several processes share the index (otherwise every duty is this process's). */
  get shared(): boolean {
    return this.#store.shared
  }

  /** Who holds `duty` now, if anyone (status views, tests). */
  holderOf(duty: string): string | undefined {
    const lease = this.#store.leases.get(duty)
    return lease !== undefined && lease.until > this.#clock.now() ? lease.holder : undefined
  }
}

/** The one lease of a meta process's background duties: sweeps, audits, repair and volume reports. */
export const DUTIES = 'duties'

/**
 * Keeps this process's claim on the background duties (`held`), which their loops read before each round. On an
 * index only this process opens, the duties are always held. On a shared one, the lease is renewed every
 * META_DUTY_LEASE_RENEW_MS (ttl META_DUTY_LEASE_TTL_MS); a renewal that fails — another process holds it, or the
 * index is out of reach — stops the duties here at once. A round already running when the lease goes finishes: the
 * duties' writes are idempotent (report states, repair's in-flight markers), so an overlap costs work, not harm.
 * `refresh` (shared only) runs every META_SHARED_REFRESH_MS.
 */
export class DutyLease {
  readonly #leases: Leases
  readonly #logger: Logger
  #held = false
  #timers: NodeJS.Timeout[] = []

  constructor(leases: Leases, logger: Logger) {
    this.#leases = leases
    this.#logger = logger
  }

  get held(): boolean {
    return this.#held
  }

  async start(refresh?: () => Promise<void>): Promise<void> {
    if (!this.#leases.shared) {
      this.#held = true
      return
    }
    await this.#renew()
    const renew = setInterval(() => void this.#renew(), META_DUTY_LEASE_RENEW_MS)
    renew.unref()
    this.#timers.push(renew)
    if (refresh) {
      let running = false
      const tick = setInterval(() => {
        if (running) return // the last one still waits for the index: no pile-up
        running = true
        refresh()
          .catch((e: unknown) => this.#logger.warn({ err: e }, 'refreshing from the shared meta index failed'))
          .finally(() => {
            running = false
          })
      }, META_SHARED_REFRESH_MS)
      tick.unref()
      this.#timers.push(tick)
    }
  }

  async #renew(): Promise<void> {
    const was = this.#held
    this.#held = await this.#leases.hold(DUTIES, META_DUTY_LEASE_TTL_MS)
    if (this.#held !== was)
      this.#logger.info(
        { holder: this.#leases.holder, held: this.#held },
        this.#held ? 'took the background duties' : 'gave up the background duties',
      )
  }

  async stop(): Promise<void> {
    for (const t of this.#timers.splice(0)) clearInterval(t)
    if (this.#held && this.#leases.shared) await this.#leases.release(DUTIES)
    this.#held = false
  }
}
