/**
 * Remembers the signer recovered for a transaction hash, so a transaction's secp256k1 recovery
 * (about a millisecond in pure JS) runs once per process, not once at mempool admission and
 * again when its block is applied. The hash covers the signature and the whole transaction, and
 * recovery is a pure function of them, so a cached answer is exactly the answer recovery would
 * give: this is not a weaker check, and it cannot make two nodes disagree.
 *
 * The answer may come from a RecoveryPool's worker threads (ChainApp.rememberSigners); '' records
 * a signature that does not recover (it matches no sender).
 *
 * Bounded (util/lru.ts, first in first out): when full, the oldest entry goes.
 */
import { Lru } from '../util/lru.ts'

export const SIGNATURE_CACHE_ENTRIES = 200_000

export class SignatureCache {
  readonly #signers: Lru<string, string>

  constructor(maxEntries = SIGNATURE_CACHE_ENTRIES) {
    this.#signers = new Lru({ maxEntries, order: 'fifo' })
  }

  get(txHash: string): string | undefined {
    return this.#signers.get(txHash)
  }

  set(txHash: string, signer: string): void {
    this.#signers.set(txHash, signer)
  }

  get size(): number {
    return this.#signers.size
  }
}
