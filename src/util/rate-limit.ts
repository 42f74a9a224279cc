/**
 * Per-client token buckets: each client key (the caller's IP address) may make `burst` requests at once and
 * `ratePerSecond` on average; a request over that is refused with RATE_LIMITED (HTTP 429) and how long to wait.
 *
 * Guarantees:
 *  - Memory is bounded: at most `maxClients` buckets. The map is kept in least-recently-seen order; a new client
 *    past the bound evicts the least recently seen one. A bucket idle long enough to be full again is the same as
 *    no bucket at all, so evicting it loses nothing; only when every kept client was active within
 *    burst / ratePerSecond seconds (a flood from more than `maxClients` addresses) does an eviction hand a client
 *    a fresh burst early.
 *  - Time comes from the injected clock (tests move it by hand); a clock that steps back never adds tokens.
 *
 * The surfaces (gateway, IPFS RPC API) call `check()` before any other work and answer with `sendRateLimited`
 * semantics: status 429, `Retry-After` in whole seconds (at least 1), error code RATE_LIMITED.
 */
import { StratosError } from '../errors.ts'
import { RATE_LIMIT_MAX_CLIENTS } from '../limits.ts'
import type { Clock } from './components.ts'
import { Lru } from './lru.ts'

export interface RateLimitInit {
  /** Average requests per second one client may make (the bucket's refill rate). */
  ratePerSecond: number
  /** Requests one client may make at once (the bucket's size). */
  burst: number
  /** Buckets kept at most. @default RATE_LIMIT_MAX_CLIENTS */
  maxClients?: number
}

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number }

interface Bucket {
  tokens: number
  /** Clock time the tokens were last brought up to date. */
  at: number
}

export class RateLimiter {
  readonly ratePerSecond: number
  readonly burst: number
  readonly maxClients: number
  readonly #clock: Clock
  /** Per client, least recently seen first out once maxClients are kept. */
  readonly #buckets: Lru<string, Bucket>

  constructor(components: { clock: Clock }, init: RateLimitInit) {
    if (!(init.ratePerSecond > 0) || !Number.isFinite(init.ratePerSecond))
      throw new StratosError('BAD_REQUEST', 'a rate limit needs a positive, finite rate per second', {
        ratePerSecond: init.ratePerSecond,
      })
    if (!(init.burst >= 1) || !Number.isFinite(init.burst))
      throw new StratosError('BAD_REQUEST', 'a rate limit needs a burst of at least 1', { burst: init.burst })
    this.#clock = components.clock
    this.ratePerSecond = init.ratePerSecond
    this.burst = init.burst
    this.maxClients = init.maxClients ?? RATE_LIMIT_MAX_CLIENTS
    if (!(this.maxClients >= 1))
      throw new StratosError('BAD_REQUEST', 'a rate limiter must keep at least one client', {
        maxClients: this.maxClients,
      })
    this.#buckets = new Lru({ maxEntries: this.maxClients })
  }

  /** Buckets kept right now. */
  get size(): number {
    return this.#buckets.size
  }

  /** Takes one request's token for `client`, or says how long until one is there. */
  take(client: string): RateLimitDecision {
    const now = this.#clock.now()
    let b = this.#buckets.get(client)
    if (b === undefined) {
      b = { tokens: this.burst, at: now }
    } else {
      const elapsed = Math.max(0, now - b.at)
      b.tokens = Math.min(this.burst, b.tokens + (elapsed * this.ratePerSecond) / 1000)
      b.at = Math.max(b.at, now)
    }
    this.#buckets.set(client, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return { allowed: true }
    }
    return { allowed: false, retryAfterMs: Math.ceil(((1 - b.tokens) * 1000) / this.ratePerSecond) }
  }

  /** `take()`, throwing RATE_LIMITED (details: retryAfterMs) when refused. */
  check(client: string): void {
    const d = this.take(client)
    if (!d.allowed) throw rateLimitedError(client, d.retryAfterMs)
  }
}

/** The error a refused request answers with; `retryAfterMs` is in its details. */
export function rateLimitedError(client: string, retryAfterMs: number): StratosError {
  return new StratosError(
    'RATE_LIMITED',
    `too many requests from ${client}; retry in ${retryAfterSeconds(retryAfterMs)} s`,
    { retryAfterMs },
  )
}

/** HTTP Retry-After value (whole seconds, at least 1) for a wait in milliseconds. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000))
}

/** The Retry-After seconds of a RATE_LIMITED error, or undefined for any other error. */
export function retryAfterOf(e: StratosError): number | undefined {
  if (e.code !== 'RATE_LIMITED') return undefined
  const ms = e.details?.retryAfterMs
  return retryAfterSeconds(typeof ms === 'number' ? ms : 1000)
}
