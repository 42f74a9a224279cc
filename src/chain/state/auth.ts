/**
 * Accounts' nonces: the number of transactions of each sender included so far. A transaction is
 * valid only with nonce == the sender's account nonce, which makes every signed transaction
 * usable once and in order (no replay, no reordering).
 */
import type { KvStore } from './kv.ts'
import { readAmount, writeAmount } from './codec.ts'

const NONCE = 'auth/nonce/'

export function accountNonce(store: KvStore, address: string): bigint {
  return readAmount(store, NONCE + address)
}

export function incrementNonce(store: KvStore, address: string): void {
  writeAmount(store, NONCE + address, accountNonce(store, address) + 1n)
}
