/**
 * Wallet request checks shared by create-upload, commit and delete: signature, chain, expiry window and nonce.
 * The nonce is only *checked* here; the operation records it (MetaStore.useNonce) in the same transaction as its
 * effect, so a request that fails leaves nothing behind and a request that succeeds can never run twice.
 */
import { StratosError } from '../../errors.ts'
import { CLOCK_SKEW_MS, MAX_REQUEST_TTL_MS } from '../../limits.ts'
import { verifyWalletSigned, type BasePayload, type DelegationCheck, type WalletSigned } from '../protocol/signing.ts'
import type { MetaStore } from './store.ts'

export interface WalletRequestPayload extends BasePayload {
  signer: string
  nonce: string
}

export function verifyWalletRequest<T extends WalletRequestPayload>(
  msg: WalletSigned<T>,
  o: { chainId: string; now: number; store: MetaStore; delegation?: DelegationCheck | undefined },
): T {
  // A delegated request (a delegate key acting for the wallet) passes only where the caller gives the check.
  const payload = verifyWalletSigned(msg, {
    chainId: o.chainId,
    now: o.now,
    ...(o.delegation ? { delegation: o.delegation } : {}),
  })
  // Bounding the expiry bounds how long a nonce must be remembered.
  if (payload.expiresAt > o.now + MAX_REQUEST_TTL_MS + CLOCK_SKEW_MS) {
    throw new StratosError('BAD_REQUEST', `request expiry may be at most ${MAX_REQUEST_TTL_MS} ms ahead`, {
      expiresAt: payload.expiresAt,
      now: o.now,
      maxTtlMs: MAX_REQUEST_TTL_MS,
    })
  }
  // An early refusal before the caller's work (receipts, DAG checks); the operation's own transaction records the nonce
  // and refuses a replay there in any case. On a shared index (PostgreSQL) this read, outside a transaction, is a
  // round trip that blocks the process (engine/pg-bridge.ts), so it is left to that transaction.
  if (!o.store.shared && o.store.nonces.isUsed(payload.signer, payload.nonce)) {
    throw new StratosError('REPLAYED_NONCE', 'this request was already used', { nonce: payload.nonce })
  }
  return payload
}

/**
 * verifyWalletRequest() without blocking the event loop on PostgreSQL: a delegated request's delegation (looked up on
 * every use, so a revocation acts at once) is checked in one async read (MetaStore.read) instead of a read through
 * the worker bridge; the signature is verified once, outside it. The same refusals, in the same order, as the
 * synchronous check.
 */
export async function verifyWalletRequestAsync<T extends WalletRequestPayload>(
  msg: WalletSigned<T>,
  o: { chainId: string; now: number; store: MetaStore; delegation?: DelegationCheck | undefined },
): Promise<T> {
  const check = o.delegation
  if (check === undefined || msg.delegate === undefined || !o.store.shared) return verifyWalletRequest(msg, o)
  // The check verifyWalletSigned asks for is noted, not run (it would read the index), and run after in one read.
  let asked: Parameters<DelegationCheck> | undefined
  const deferred: DelegationCheck = (...args) => {
    asked = args
  }
  const run = async (): Promise<void> => {
    const a = asked
    if (a !== undefined) await o.store.read(() => check(...a))
  }
  let payload: T
  try {
    payload = verifyWalletRequest(msg, { ...o, delegation: deferred })
  } catch (e) {
    // A refusal past the delegation check (the expiry bound) comes after that check's own refusal, as it does inline.
    await run()
    throw e
  }
  await run()
  return payload
}
