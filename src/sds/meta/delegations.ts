/**
 * Delegations: a wallet lets a delegate key act for it without handing over its own key.
 *
 * The wallet signs `delegation.create` (canonical encoding, chain id, nonce, request expiry) naming an ed25519 public
 * key, the scopes it may use (`upload`, `read`, `list`, `delete`) and when the delegation ends. From then on a
 * request signed by that key in the delegated form (signing.ts `DelegatedWallet`: payload signer = the wallet,
 * `delegate` = { id, key }) is accepted for the wallet by the routes that take delegated requests — upload create
 * and commit (`upload`), session tokens (`read`; listing needs `list` too), file delete (`delete`) — while the
 * delegation is unexpired and unrevoked. Everything else (grants, shares, visibility, budgets, delegations
 * themselves) needs the wallet's own signature. `delegation.revoke`, wallet-signed, takes effect at once: every
 * delegated request, and every use of a delegated session token, looks the delegation up (one LMDB get).
 *
 * The S3 gateway (src/s3) is the first delegate: each S3 credential is one delegation naming the gateway's node key.
 *
 * Storage: its own store interface (DelegationStore), implemented over its own table of the meta index
 * (TableDelegationStore: the delegation records and an owner index), so it works on LMDB and on PostgreSQL alike.
 */
import { StratosError } from '../../errors.ts'
import { CLOCK_SKEW_MS, DELEGATION_MAX_TTL_MS, MAX_DELEGATIONS_PER_OWNER, MAX_REQUEST_TTL_MS } from '../../limits.ts'
import type { Clock, Logger, RandomBytes } from '../../util/components.ts'
import type { DelegationView } from '../protocol/api.ts'
import type {
  DelegationScope,
  SignedDelegationCreate,
  SignedDelegationList,
  SignedDelegationRevoke,
} from '../protocol/messages.ts'
import { verifyWalletSigned, type DelegateProof, type DelegationCheck } from '../protocol/signing.ts'
import { newShareId } from './shares.ts'
import type { MetaStore } from './store.ts'

/** A stored delegation: its API view without the derived `state`. */
export type DelegationRecord = Omit<DelegationView, 'state'>

/** What the delegation subsystem needs from storage (TableDelegationStore). */
export interface DelegationStore {
  get(id: string): DelegationRecord | undefined
  /** Live (unrevoked) delegations of `owner`, oldest first. */
  byOwner(owner: string): DelegationRecord[]
  isNonceUsed(signer: string, nonce: string): boolean
  /**
   * Runs `fn`, which reads through this store, on one consistent view without blocking the event loop (MetaStore.read:
   * on PostgreSQL an async transaction, so `fn` must be re-runnable).
   */
  read<T>(fn: () => T): Promise<T>
  /**
   * Atomically: refuses a used nonce (REPLAYED_NONCE), runs `check` against the current state (it may throw), then
   * records the nonce until `keepUntil` and stores `record` (and indexes it under its owner while unrevoked).
   * Durable once resolved.
   */
  put(
    record: DelegationRecord,
    nonce: { signer: string; nonce: string; keepUntil: number },
    check: () => void,
  ): Promise<void>
  /**
   * Atomically: refuses a used nonce (REPLAYED_NONCE), records it until `keepUntil`, and answers `owner`'s live
   * delegations (byOwner) from the same transaction: a signed list request is answered once, like every other.
   */
  listOnce(owner: string, nonce: { signer: string; nonce: string; keepUntil: number }): Promise<DelegationRecord[]>
  /** Forgets nonces kept until before `now` (at most `limit`). */
  pruneNonces(now: number, limit: number): Promise<number>
  close(): Promise<void>
}

/**
 * The delegations in the meta index (store.ts `delegations`: the records by id and each wallet's live ones, the
 * layout of stores/sharing.ts OwnedRecords), on either engine, so every process of a meta node over PostgreSQL sees a delegation (and its revocation)
 * at once. Request nonces go to the index's nonce table with the other wallet requests' nonces (one namespace per
 * signer; pruned by the upload sweep with the others).
 */
export class TableDelegationStore implements DelegationStore {
  readonly #store: MetaStore

  constructor(store: MetaStore) {
    this.#store = store
  }

  get(id: string): DelegationRecord | undefined {
    return this.#store.delegations.get(id)
  }

  byOwner(owner: string): DelegationRecord[] {
    const store = this.#store
    if (store.shared) store.prefetch(store.delegations.byOwnerReads(owner))
    return store.delegations.byOwner(owner)
  }

  isNonceUsed(signer: string, nonce: string): boolean {
    return this.#store.nonces.isUsed(signer, nonce)
  }

  read<T>(fn: () => T): Promise<T> {
    return this.#store.read(fn)
  }

  async put(
    record: DelegationRecord,
    n: { signer: string; nonce: string; keepUntil: number },
    check: () => void,
  ): Promise<void> {
    const store = this.#store
    await store.write(() => {
      store.nonces.useUntil(n.signer, n.nonce, n.keepUntil)
      check()
      store.delegations.put(record)
    })
  }

  listOnce(owner: string, n: { signer: string; nonce: string; keepUntil: number }): Promise<DelegationRecord[]> {
    const store = this.#store
    return store.write(() => {
      store.nonces.useUntil(n.signer, n.nonce, n.keepUntil)
      return this.byOwner(owner)
    })
  }

  /** Nothing of its own: the nonces are the index's, pruned with the others (uploads.ts sweep). */
  async pruneNonces(_now: number, _limit: number): Promise<number> {
    return 0
  }

  /** The index is the meta node's; it closes it. */
  async close(): Promise<void> {}
}

export interface DelegationsOptions {
  store: DelegationStore
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
}

/** Which scope each delegable action needs (anything not listed is never delegable). */
const ACTION_SCOPES: Record<string, DelegationScope> = {
  'upload.create': 'upload',
  'upload.commit': 'upload',
  'access.session': 'read',
  'file.delete': 'delete',
}

export function delegationView(d: DelegationRecord, now: number): DelegationView {
  const state = d.revokedAt !== undefined ? 'revoked' : now >= d.expiresAt ? 'expired' : 'active'
  return { ...d, state }
}

export class Delegations {
  readonly #o: DelegationsOptions

  constructor(options: DelegationsOptions) {
    this.#o = options
  }

  /** The live delegation `d` names, acting for `wallet`; DELEGATION_* otherwise. One get: revocation is seen at once. */
  live(d: DelegateProof, wallet: string, now: number): DelegationRecord {
    const r = this.#o.store.get(d.id)
    if (r === undefined || r.owner !== wallet || r.delegate !== d.key)
      throw new StratosError('DELEGATION_NOT_FOUND', `no delegation ${d.id} of ${wallet} to this key`, { id: d.id })
    if (r.revokedAt !== undefined)
      throw new StratosError('DELEGATION_REVOKED', `delegation ${d.id} was revoked by its wallet`, {
        id: d.id,
        revokedAt: r.revokedAt,
      })
    if (now >= r.expiresAt)
      throw new StratosError('DELEGATION_EXPIRED', `delegation ${d.id} expired`, { id: d.id, expiresAt: r.expiresAt })
    return r
  }

  /** The check verifyWalletSigned runs on a delegated request. */
  readonly check: DelegationCheck = (d, wallet, action, now) => {
    const r = this.live(d, wallet, now)
    const scope = ACTION_SCOPES[action]
    if (scope === undefined)
      throw new StratosError('DELEGATION_SCOPE', `${action || 'this request'} needs the wallet's own signature`, {
        action,
      })
    this.requireScope(r, scope)
  }

  requireScope(r: DelegationRecord, scope: DelegationScope): void {
    if (!r.scopes.includes(scope))
      throw new StratosError('DELEGATION_SCOPE', `delegation ${r.id} does not include ${scope}`, {
        id: r.id,
        scope,
        scopes: r.scopes,
      })
  }

  async get(id: string): Promise<DelegationView> {
    const { store } = this.#o
    const r = await store.read(() => store.get(id))
    if (!r) throw new StratosError('DELEGATION_NOT_FOUND', `no delegation ${id}`, { id })
    return delegationView(r, this.#o.clock.now())
  }

  async create(msg: SignedDelegationCreate): Promise<DelegationView> {
    const { store, random, logger } = this.#o
    const now = this.#o.clock.now()
    const p = this.#verify(msg, now)
    // Drawn outside the read: a run of it again (PostgreSQL runs it once per round of reads) reads the same key.
    let id = newShareId(random, () => false)
    const { used, taken } = await store.read(() => ({
      used: store.isNonceUsed(p.signer, p.nonce),
      taken: store.get(id) !== undefined,
    }))
    this.#refuseUsed(p, used)
    if (p.delegationExpiresAt <= now)
      throw new StratosError('BAD_REQUEST', 'the delegation expiry is in the past', {
        delegationExpiresAt: p.delegationExpiresAt,
        now,
      })
    if (p.delegationExpiresAt > now + DELEGATION_MAX_TTL_MS)
      throw new StratosError('BAD_REQUEST', `a delegation may live at most ${DELEGATION_MAX_TTL_MS} ms`, {
        maxTtlMs: DELEGATION_MAX_TTL_MS,
      })
    while (taken) {
      id = newShareId(random, () => false)
      const candidate = id
      if ((await store.read(() => store.get(candidate))) === undefined) break
    }
    const record: DelegationRecord = {
      id,
      owner: p.signer,
      delegate: p.delegate,
      scopes: [...new Set(p.scopes)],
      createdAt: now,
      expiresAt: p.delegationExpiresAt,
      ...(p.label !== undefined ? { label: p.label } : {}),
    }
    await store.put(record, this.#nonce(p), () => {
      const live = store.byOwner(p.signer).filter((d) => d.expiresAt > now).length
      if (live >= MAX_DELEGATIONS_PER_OWNER)
        throw new StratosError('CONFLICT', `${p.signer} already has ${live} delegations; revoke some first`, {
          limit: MAX_DELEGATIONS_PER_OWNER,
        })
    })
    logger.info({ id, owner: p.signer, scopes: record.scopes, expiresAt: record.expiresAt }, 'delegation created')
    return delegationView(record, now)
  }

  async list(msg: SignedDelegationList): Promise<{ delegations: DelegationView[] }> {
    const now = this.#o.clock.now()
    const p = this.#verify(msg, now)
    // Listed in the transaction that records the nonce, as grant and share lists are: a replay is REPLAYED_NONCE.
    const list = await this.#o.store.listOnce(p.signer, this.#nonce(p))
    return { delegations: list.map((d) => delegationView(d, now)) }
  }

  /** Revokes a delegation of the signer's (idempotent): from the next request on, its key acts for nobody. */
  async revoke(id: string, msg: SignedDelegationRevoke): Promise<DelegationView> {
    const { store, logger } = this.#o
    const now = this.#o.clock.now()
    const p = this.#verify(msg, now)
    const { used, d } = await store.read(() => ({ used: store.isNonceUsed(p.signer, p.nonce), d: store.get(id) }))
    this.#refuseUsed(p, used)
    if (p.id !== id)
      throw new StratosError('BAD_REQUEST', 'the signed delegation id differs from the id in the path', {
        path: id,
        signed: p.id,
      })
    if (!d) throw new StratosError('DELEGATION_NOT_FOUND', `no delegation ${id}`, { id })
    if (d.owner !== p.signer)
      throw new StratosError('NOT_OWNER', `${p.signer} did not create delegation ${id}`, { id, signer: p.signer })
    const revoked: DelegationRecord = d.revokedAt !== undefined ? d : { ...d, revokedAt: now }
    await store.put(revoked, this.#nonce(p), () => {})
    logger.info({ id, owner: p.signer }, 'delegation revoked')
    return delegationView(revoked, now)
  }

  /**
   * Wallet-signed only (never delegated); the request's expiry is bounded like every wallet request's. Whether the
   * nonce was used is the caller's to read (with its other reads, MetaStore.read) and refuse (#refuseUsed) next.
   */
  #verify<T extends { signer: string; nonce: string; expiresAt: number; chainId: string }>(
    msg: { payload: T; signature: string; delegate?: DelegateProof },
    now: number,
  ): T {
    const p = verifyWalletSigned(msg, { chainId: this.#o.chainId, now })
    if (p.expiresAt > now + MAX_REQUEST_TTL_MS + CLOCK_SKEW_MS)
      throw new StratosError('BAD_REQUEST', `request expiry may be at most ${MAX_REQUEST_TTL_MS} ms ahead`, {
        maxTtlMs: MAX_REQUEST_TTL_MS,
      })
    return p
  }

  #refuseUsed(p: { nonce: string }, used: boolean): void {
    if (used) throw new StratosError('REPLAYED_NONCE', 'this request was already used', { nonce: p.nonce })
  }

  #nonce(p: { signer: string; nonce: string; expiresAt: number }): {
    signer: string
    nonce: string
    keepUntil: number
  } {
    return { signer: p.signer, nonce: p.nonce, keepUntil: p.expiresAt + 2 * CLOCK_SKEW_MS }
  }

  pruneNonces(now: number, limit: number): Promise<number> {
    return this.#o.store.pruneNonces(now, limit)
  }
}
