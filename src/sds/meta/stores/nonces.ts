/**
 * The wallet requests' nonce store: it owns `nonces` ([signer, nonce] → keep-until ms) and its pruning index
 * `nonceExpiry` ([keepUntil, signer, nonce] → true). A signed request is checked against it (auth.ts) and its nonce
 * recorded in the same write() as the request's effect, so a request never runs twice. Namespaces share the table:
 * a wallet's address, or `upload:<id>` for an upload session's order-key calls.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import { StratosError } from '../../../errors.ts'
import { CLOCK_SKEW_MS } from '../../../limits.ts'
import type { PrefetchRead, Table } from '../engine/table.ts'

export interface NonceStore {
  isUsed(signer: string, nonce: string): boolean
  /** Inside write(): records a request's nonce until well after the request expires; REPLAYED_NONCE if seen. */
  use(signer: string, nonce: string, expiresAt: number): void
  /** Inside write(): records a nonce until `keepUntil`; REPLAYED_NONCE if seen. */
  useUntil(signer: string, nonce: string, keepUntil: number): void
  /** Some nonce is kept until at or before `now` (a prune would remove something). */
  hasExpired(now: number): boolean
  /** Inside write(): forgets nonces whose requests can no longer pass the expiry check (at most `limit`). */
  prune(now: number, limit: number): number
  /** The reads `use` makes for these (signer, nonce) pairs, for MetaStore.prefetch. */
  reads(keys: [string, string][]): PrefetchRead[]
}

export class TableNonceStore implements NonceStore {
  readonly #nonces: Table<number, [string, string]>
  readonly #expiry: Table<true, [number, string, string]>

  constructor(nonces: Table<number, [string, string]>, expiry: Table<true, [number, string, string]>) {
    this.#nonces = nonces
    this.#expiry = expiry
  }

  reads(keys: [string, string][]): PrefetchRead[] {
    return [{ table: this.#nonces, keys }]
  }

  isUsed(signer: string, nonce: string): boolean {
    return this.#nonces.get([signer, nonce]) !== undefined
  }

  use(signer: string, nonce: string, expiresAt: number): void {
    this.useUntil(signer, nonce, expiresAt + CLOCK_SKEW_MS)
  }

  useUntil(signer: string, nonce: string, keepUntil: number): void {
    if (this.isUsed(signer, nonce)) throw new StratosError('REPLAYED_NONCE', 'this request was already used', { nonce })
    this.#nonces.putSync([signer, nonce], keepUntil)
    this.#expiry.putSync([keepUntil, signer, nonce], true)
  }

  hasExpired(now: number): boolean {
    for (const _ of this.#expiry.getKeys({ end: [now, '', ''], limit: 1 })) return true
    return false
  }

  prune(now: number, limit: number): number {
    const expired: [number, string, string][] = []
    for (const key of this.#expiry.getKeys({ end: [now, '', ''], limit })) expired.push(key)
    for (const key of expired) {
      this.#expiry.removeSync(key)
      this.#nonces.removeSync([key[1], key[2]])
    }
    return expired.length
  }
}
