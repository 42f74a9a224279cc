/**
 * Share links: an owner of a file or directory creates a link (random 128-bit id) with an optional expiry and an
 * optional password; anyone holding the id (and the password) resolves it to the CID, which the gateway then serves
 * like /ipfs/{cid}. The owner lists and revokes their links.
 *
 * Storage: one LMDB database `shares` with two key shapes (see store.ts):
 *   ['id', id]             → ShareRecord (kept after revocation as a tombstone, so the link answers SHARE_REVOKED)
 *   ['owner', owner, id]   → true: the owner's live links (removed on revocation; bounded by MAX_SHARES_PER_OWNER)
 *
 * Passwords: only a scrypt hash with salt is stored (made by the owner's client, see share-password.ts). Wrong
 * passwords are bounded per link (SHARE_MAX_PASSWORD_FAILURES per SHARE_PASSWORD_WINDOW_MS) and checked before
 * any scrypt work, so guessing is slow and cannot burn the meta node's CPU. A correct password is remembered as a
 * sha256 in memory (never on disk) so a video player's many range requests cost one scrypt, not one each.
 *
 * Mutations (create, revoke, and list's nonce) are wallet-signed with chain id, nonce and expiry; the nonce is
 * recorded in the same transaction as the effect (auth.ts), so a replayed request is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  MAX_SHARES_PER_OWNER, SHARE_FAILURE_TRACKER_ENTRIES, SHARE_ID_BYTES, SHARE_MAX_PASSWORD_FAILURES, SHARE_PASSWORD_WINDOW_MS,
  SHARE_VERIFIED_CACHE_ENTRIES,
} from '../../limits.ts'
import type { Clock, Logger, RandomBytes } from '../../util/components.ts'
import type { ShareResolution, ShareResolveBody, ShareView } from '../protocol/api.ts'
import type { SignedShareCreate, SignedShareList, SignedShareRevoke } from '../protocol/messages.ts'
import { checkSharePassword, checkSharePasswordHash, verifySharePassword, type SharePasswordHash } from '../protocol/share-password.ts'
import { verifyWalletRequest } from './auth.ts'
import { canonicalCid } from './cid.ts'
import { KEY_STRING_MAX, type MetaStore } from './store.ts'


/**
 * A fresh share id: SHARE_ID_BYTES random bytes in base64url, never starting with '-' (a command line
 * would read `stratos share rm -Xy…` as an option) and never one already in use.
 */
export function newShareId(random: (n: number) => Uint8Array, taken: (id: string) => boolean): string {
  for (;;) {
    const id = toBase64Url(random(SHARE_ID_BYTES))
    if (!id.startsWith('-') && !taken(id)) return id
  }
}

export interface ShareRecord {
  id: string
  cid: string
  kind: 'file' | 'directory'
  name?: string
  owner: string
  createdAt: number
  expiresAt: number | null
  password: SharePasswordHash | null
  revokedAt?: number
}

export type ShareKey = ['id', string] | ['owner', string, string]
export type ShareEntry = ShareRecord | true

export interface SharesOptions {
  store: MetaStore
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
  /** The access token a resolved link hands out (access.ts shareToken): reads of its content under the link. */
  shareToken: (id: string) => string
}

interface Failures {
  count: number
  windowStart: number
}

export function shareView(r: ShareRecord, now: number): ShareView {
  const state = r.revokedAt !== undefined ? 'revoked' : r.expiresAt !== null && now >= r.expiresAt ? 'expired' : 'active'
  return {
    id: r.id, cid: r.cid, kind: r.kind, ...(r.name !== undefined ? { name: r.name } : {}), owner: r.owner, createdAt: r.createdAt,
    expiresAt: r.expiresAt, hasPassword: r.password !== null, ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}), state,
  }
}

function digest(password: string): Buffer {
  return createHash('sha256').update('stratos-share-verified\n').update(password, 'utf8').digest()
}

export class Shares {
  readonly #o: SharesOptions
  /** Wrong-password counts per link id (insertion order = age; the oldest go first when full). */
  readonly #failures = new Map<string, Failures>()
  /** Link id → sha256 of the password last verified with scrypt. */
  readonly #verified = new Map<string, Buffer>()

  constructor(options: SharesOptions) {
    this.#o = options
  }

  #record(id: string): ShareRecord {
    const r = this.#o.store.shares.get(['id', id])
    if (r === undefined || r === true) throw new StratosError('SHARE_NOT_FOUND', `no share link ${id}`, { id })
    return r
  }

  /** Creates a link for a file or directory the signer owns. */
  async create(msg: SignedShareCreate): Promise<ShareView> {
    const { store, chainId, random, logger } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    if (p.linkExpiresAt !== null && p.linkExpiresAt <= now) {
      throw new StratosError('BAD_REQUEST', 'the link expiry is in the past', { linkExpiresAt: p.linkExpiresAt, now })
    }
    if (p.password !== null) checkSharePasswordHash(p.password)
    const cid = canonicalCid(p.cid)
    const record = await store.write(() => {
      const file = store.files.get(cid)
      if (!file) throw new StratosError('FILE_NOT_FOUND', `no file ${cid}`, { cid })
      if (!file.owners.includes(p.signer)) throw new StratosError('NOT_OWNER', `${p.signer} does not own ${cid}`, { cid, signer: p.signer })
      const live = store.shares.getCount({ start: ['owner', p.signer, ''], end: ['owner', p.signer, KEY_STRING_MAX] })
      if (live >= MAX_SHARES_PER_OWNER) {
        throw new StratosError('CONFLICT', `${p.signer} already has ${live} share links; revoke some first`, { limit: MAX_SHARES_PER_OWNER })
      }
      store.useNonce(p.signer, p.nonce, p.expiresAt)
      const id = newShareId(random, (candidate) => store.shares.get(['id', candidate]) !== undefined)
      const r: ShareRecord = {
        id, cid, kind: file.kind, ...(file.name !== undefined ? { name: file.name } : {}), owner: p.signer, createdAt: now,
        expiresAt: p.linkExpiresAt, password: p.password,
      }
      store.shares.putSync(['id', id], r)
      store.shares.putSync(['owner', p.signer, id], true)
      return r
    })
    logger.info({ id: record.id, cid, owner: p.signer, expiresAt: record.expiresAt, password: record.password !== null }, 'share link created')
    return shareView(record, now)
  }

  /** The signer's live links (active and expired; revoked ones are gone from the list), oldest first. */
  async list(msg: SignedShareList): Promise<{ shares: ShareView[] }> {
    const { store, chainId } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    await store.write(() => store.useNonce(p.signer, p.nonce, p.expiresAt))
    const shares: ShareView[] = []
    for (const key of store.shares.getKeys({ start: ['owner', p.signer, ''], end: ['owner', p.signer, KEY_STRING_MAX] })) {
      const r = store.shares.get(['id', key[2] as string])
      if (r !== undefined && r !== true) shares.push(shareView(r, now))
    }
    shares.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
    return { shares }
  }

  /** Revokes a link of the signer's; revoking a revoked link answers it again (idempotent). */
  async revoke(id: string, msg: SignedShareRevoke): Promise<ShareView> {
    const { store, chainId, logger } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    if (p.id !== id) throw new StratosError('BAD_REQUEST', 'the signed share id differs from the id in the path', { path: id, signed: p.id })
    const record = await store.write(() => {
      const r = this.#record(id)
      if (r.owner !== p.signer) throw new StratosError('NOT_OWNER', `${p.signer} did not create share link ${id}`, { id, signer: p.signer })
      store.useNonce(p.signer, p.nonce, p.expiresAt)
      if (r.revokedAt !== undefined) return r
      const revoked: ShareRecord = { ...r, revokedAt: now }
      store.shares.putSync(['id', id], revoked)
      store.shares.removeSync(['owner', r.owner, id])
      return revoked
    })
    this.#verified.delete(id)
    this.#failures.delete(id)
    logger.info({ id, owner: p.signer }, 'share link revoked')
    return shareView(record, now)
  }

  /**
   * id (+ password) → what the link points at. Refuses, in this order: unknown link, revoked, expired, missing
   * password, too many wrong passwords, wrong password, file gone (or no longer owned by the link's creator).
   */
  async resolve(id: string, body: ShareResolveBody): Promise<ShareResolution> {
    const now = this.#o.clock.now()
    const r = this.#record(id)
    if (r.revokedAt !== undefined) throw new StratosError('SHARE_REVOKED', `share link ${id} was revoked by its owner`, { id, revokedAt: r.revokedAt })
    if (r.expiresAt !== null && now >= r.expiresAt) throw new StratosError('SHARE_EXPIRED', `share link ${id} expired`, { id, expiresAt: r.expiresAt })
    if (r.password !== null) await this.#checkPassword(r, body.password, now)
    const file = this.#o.store.files.get(r.cid)
    if (!file) throw new StratosError('FILE_NOT_FOUND', `the file of share link ${id} was deleted`, { id, cid: r.cid })
    if (!file.owners.includes(r.owner)) {
      throw new StratosError('SHARE_REVOKED', `the creator of share link ${id} no longer owns the file`, { id, cid: r.cid })
    }
    return { id, cid: r.cid, kind: r.kind, ...(r.name !== undefined ? { name: r.name } : {}), size: file.size, expiresAt: r.expiresAt, access: this.#o.shareToken(id) }
  }

  async #checkPassword(r: ShareRecord, password: string | undefined, now: number): Promise<void> {
    if (password === undefined || password === '') throw new StratosError('PASSWORD_REQUIRED', `share link ${r.id} needs a password`, { id: r.id })
    checkSharePassword(password)
    const f = this.#failures.get(r.id)
    if (f !== undefined && now - f.windowStart >= SHARE_PASSWORD_WINDOW_MS) this.#failures.delete(r.id)
    else if (f !== undefined && f.count >= SHARE_MAX_PASSWORD_FAILURES) {
      const retryAfterMs = f.windowStart + SHARE_PASSWORD_WINDOW_MS - now
      throw new StratosError('TOO_MANY_ATTEMPTS', `too many wrong passwords for share link ${r.id}; retry in ${Math.ceil(retryAfterMs / 1000)} s`, { id: r.id, retryAfterMs })
    }
    const d = digest(password)
    const known = this.#verified.get(r.id)
    if (known !== undefined && timingSafeEqual(known, d)) {
      // Refresh its place in the LRU order.
      this.#verified.delete(r.id)
      this.#verified.set(r.id, known)
      return
    }
    // Counted as a failure before the (slow, async) check, so concurrent guesses cannot all slip under the limit.
    const pending = this.#countFailure(r.id, now)
    if (await verifySharePassword(password, r.password!)) {
      pending.count--
      if (this.#verified.size >= SHARE_VERIFIED_CACHE_ENTRIES) this.#verified.delete(this.#verified.keys().next().value!)
      this.#verified.set(r.id, d)
      return
    }
    throw new StratosError('BAD_PASSWORD', `wrong password for share link ${r.id}`, { id: r.id })
  }

  #countFailure(id: string, now: number): Failures {
    let f = this.#failures.get(id)
    if (f === undefined) {
      if (this.#failures.size >= SHARE_FAILURE_TRACKER_ENTRIES) this.#failures.delete(this.#failures.keys().next().value!)
      f = { count: 0, windowStart: now }
      this.#failures.set(id, f)
    }
    f.count++
    return f
  }
}
