/**
 * Read grants (the Storj "access grant" idea, kept simple): an owner signs `grant.create` with a scope (CIDs — a
 * directory covers what it links to — and/or name prefixes of the owner's files) and an expiry; the meta node keeps
 * the grant and answers its random id, which is the bearer secret a holder sends as `grant.{id}` in ACCESS_HEADER.
 * Reads under a grant are paid by its owner. Revocation is checked on every request, so it takes effect at once.
 *
 * Storage: the GrantStore (stores/sharing.ts) keeps the grants — revoked ones too, so the id answers GRANT_REVOKED —
 * and each owner's live grants (bounded here by MAX_GRANTS_PER_OWNER). Mutations are wallet-signed with
 * chain id, nonce and expiry, the nonce recorded in the same transaction as the effect (auth.ts).
 */
import { StratosError } from '../../errors.ts'
import { GRANT_MAX_TTL_MS, MAX_GRANTS_PER_OWNER } from '../../limits.ts'
import type { Clock, Logger, RandomBytes } from '../../util/components.ts'
import type { GrantView } from '../protocol/api.ts'
import type { SignedGrantCreate, SignedGrantList, SignedGrantRevoke } from '../protocol/messages.ts'
import type { GrantRecord } from './access.ts'
import { verifyWalletRequest } from './auth.ts'
import { canonicalCid } from './cid.ts'
import { newShareId } from './shares.ts'
import type { MetaStore } from './store.ts'

export interface GrantsOptions {
  store: MetaStore
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
}

export function grantView(g: GrantRecord, now: number): GrantView {
  const state = g.revokedAt !== undefined ? 'revoked' : now >= g.expiresAt ? 'expired' : 'active'
  return {
    id: g.id,
    owner: g.owner,
    scope: g.scope,
    createdAt: g.createdAt,
    expiresAt: g.expiresAt,
    ...(g.revokedAt !== undefined ? { revokedAt: g.revokedAt } : {}),
    state,
  }
}

export class Grants {
  readonly #o: GrantsOptions

  constructor(options: GrantsOptions) {
    this.#o = options
  }

  async create(msg: SignedGrantCreate): Promise<GrantView> {
    const { store, chainId, random, logger } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    if (p.grantExpiresAt <= now)
      throw new StratosError('BAD_REQUEST', 'the grant expiry is in the past', {
        grantExpiresAt: p.grantExpiresAt,
        now,
      })
    if (p.grantExpiresAt > now + GRANT_MAX_TTL_MS)
      throw new StratosError('BAD_REQUEST', `a grant may live at most ${GRANT_MAX_TTL_MS} ms`, {
        maxTtlMs: GRANT_MAX_TTL_MS,
      })
    const cids = p.scope.cids?.map(canonicalCid)
    // Drawn outside the transaction: a run of it again (PostgreSQL runs it once per round of reads) reads the same key.
    const fresh = newShareId(random, () => false)
    const record = await store.write(() => {
      for (const cid of cids ?? []) {
        const file = store.files.get(cid)
        if (!file) throw new StratosError('FILE_NOT_FOUND', `no file ${cid}`, { cid })
        if (!file.owners.includes(p.signer))
          throw new StratosError('NOT_OWNER', `${p.signer} does not own ${cid}`, { cid, signer: p.signer })
      }
      const live = store.grants.liveCount(p.signer)
      if (live >= MAX_GRANTS_PER_OWNER)
        throw new StratosError('CONFLICT', `${p.signer} already has ${live} grants; revoke some first`, {
          limit: MAX_GRANTS_PER_OWNER,
        })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      const id = store.grants.exists(fresh) ? newShareId(random, (c) => store.grants.exists(c)) : fresh
      const g: GrantRecord = {
        id,
        owner: p.signer,
        scope: { ...(cids ? { cids } : {}), ...(p.scope.prefixes ? { prefixes: p.scope.prefixes } : {}) },
        createdAt: now,
        expiresAt: p.grantExpiresAt,
      }
      store.grants.put(g)
      return g
    })
    logger.info({ id: record.id, owner: p.signer, expiresAt: record.expiresAt }, 'read grant created')
    return grantView(record, now)
  }

  async list(msg: SignedGrantList): Promise<{ grants: GrantView[] }> {
    const { store, chainId } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    // Listed in the transaction that records the nonce (no read outside it: on PostgreSQL that would block).
    const grants = await store.write(() => {
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      store.prefetch(store.grants.byOwnerReads(p.signer))
      return store.grants.byOwner(p.signer)
    })
    return { grants: grants.map((g) => grantView(g, now)) }
  }

  /** Revokes a grant of the signer's (idempotent). */
  async revoke(id: string, msg: SignedGrantRevoke): Promise<GrantView> {
    const { store, chainId, logger } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    if (p.id !== id)
      throw new StratosError('BAD_REQUEST', 'the signed grant id differs from the id in the path', {
        path: id,
        signed: p.id,
      })
    const record = await store.write(() => {
      const g = store.grants.get(id)
      if (g === undefined) throw new StratosError('GRANT_NOT_FOUND', `no read grant ${id}`, { id })
      if (g.owner !== p.signer)
        throw new StratosError('NOT_OWNER', `${p.signer} did not issue grant ${id}`, { id, signer: p.signer })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      if (g.revokedAt !== undefined) return g
      const revoked: GrantRecord = { ...g, revokedAt: now }
      store.grants.put(revoked)
      return revoked
    })
    logger.info({ id, owner: p.signer }, 'read grant revoked')
    return grantView(record, now)
  }
}
