/**
 * Share links: an owner of a file or directory creates a link (random 128-bit id) with an optional expiry and an
 * optional password; anyone holding the id (and the password) resolves it to the CID, which the gateway then serves
 * like /ipfs/{cid}. The owner lists and revokes their links.
 *
 * Storage: the ShareStore (stores/sharing.ts) keeps the links — revoked ones as tombstones, so the link answers
 * SHARE_REVOKED — and each owner's live links (bounded here by MAX_SHARES_PER_OWNER).
 *
 * Passwords: only a scrypt hash with salt is stored (made by the owner's client, see share-password.ts). Wrong
 * passwords are bounded per (link, client) — SHARE_MAX_PASSWORD_FAILURES per SHARE_PASSWORD_WINDOW_MS — and checked
 * before any scrypt work, so guessing is slow and cannot burn the meta node's CPU, while a stranger's guesses lock
 * out only the stranger, never the link's other users. The client is the caller's address, or, when the caller is
 * a trusted proxy (`trustedProxies`, default loopback: the gateway on this host), the `client` address the proxy
 * names in the request. The counters live in the index (the ShareStore's `shareAttempts`), so a restart keeps a
 * lock; they are bounded (SHARE_FAILURE_TRACKER_ENTRIES; past it the oldest window goes first).
 * Counting is not flushed before the answer (`durable: false`): a crash may forget the last few ms of failures.
 * A correct password is remembered as a sha256 in memory (never on disk) so a video player's many range requests
 * cost one scrypt, not one each.
 *
 * Mutations (create, revoke, and list's nonce) are wallet-signed with chain id, nonce and expiry; the nonce is
 * recorded in the same transaction as the effect (auth.ts), so a replayed request is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  DEFAULT_SHARE_TRUSTED_PROXIES,
  MAX_SHARES_PER_OWNER,
  SHARE_ID_BYTES,
  SHARE_MAX_PASSWORD_FAILURES,
  SHARE_PASSWORD_WINDOW_MS,
  SHARE_VERIFIED_CACHE_ENTRIES,
} from '../../limits.ts'
import type { Clock, Logger, RandomBytes } from '../../util/components.ts'
import { Lru } from '../../util/lru.ts'
import type { ShareResolution, ShareResolveBody, ShareView } from '../protocol/api.ts'
import type { SignedShareCreate, SignedShareList, SignedShareRevoke } from '../protocol/messages.ts'
import { checkSharePassword, checkSharePasswordHash, verifySharePassword } from '../protocol/share-password.ts'
import { verifyWalletRequest } from './auth.ts'
import { canonicalCid } from './cid.ts'
import type { MetaStore } from './store.ts'
import type { ShareAttempts, ShareRecord } from './stores/sharing.ts'

export type { ShareAttempts, ShareRecord } from './stores/sharing.ts'

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

export interface SharesOptions {
  store: MetaStore
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
  /** The access token a resolved link hands out (access.ts shareToken): reads of its content under the link. */
  shareToken: (id: string) => string
  /** Callers whose `client` field is believed (the gateway). @default DEFAULT_SHARE_TRUSTED_PROXIES (loopback) */
  trustedProxies?: readonly string[]
}

/** Who asks: the HTTP caller's address (undefined when unknown, e.g. in-process calls). */
export interface ShareCaller {
  address?: string
}

/** An address in one spelling: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, how a dual-stack socket reports IPv4) → `1.2.3.4`. */
function canonicalAddress(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a)
  return m ? m[1] : a.toLowerCase()
}

export function shareView(r: ShareRecord, now: number): ShareView {
  const state =
    r.revokedAt !== undefined ? 'revoked' : r.expiresAt !== null && now >= r.expiresAt ? 'expired' : 'active'
  return {
    id: r.id,
    cid: r.cid,
    kind: r.kind,
    ...(r.name !== undefined ? { name: r.name } : {}),
    owner: r.owner,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    hasPassword: r.password !== null,
    ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}),
    state,
  }
}

function digest(password: string): Buffer {
  return createHash('sha256').update('stratos-share-verified\n').update(password, 'utf8').digest()
}

export class Shares {
  readonly #o: SharesOptions
  /** Link id → sha256 of the password last verified with scrypt; least recently matched first out. */
  readonly #verified = new Lru<string, Buffer>({ maxEntries: SHARE_VERIFIED_CACHE_ENTRIES })
  readonly #trusted: Set<string>

  constructor(options: SharesOptions) {
    this.#o = options
    this.#trusted = new Set((options.trustedProxies ?? DEFAULT_SHARE_TRUSTED_PROXIES).map(canonicalAddress))
  }

  /** The client a resolve is counted for: the caller, or the end user a trusted proxy names (a valid IP only). */
  clientOf(caller: ShareCaller, claimed: string | undefined): string {
    const address = caller.address === undefined ? 'unknown' : canonicalAddress(caller.address)
    if (claimed !== undefined && this.#trusted.has(address) && isIP(claimed) !== 0) return canonicalAddress(claimed)
    return address
  }

  #record(id: string): ShareRecord {
    const r = this.#o.store.shares.get(id)
    if (r === undefined) throw new StratosError('SHARE_NOT_FOUND', `no share link ${id}`, { id })
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
    // Drawn outside the transaction: a run of it again (PostgreSQL runs it once per round of reads) reads the same key.
    const fresh = newShareId(random, () => false)
    const record = await store.write(() => {
      const file = store.files.get(cid)
      if (!file) throw new StratosError('FILE_NOT_FOUND', `no file ${cid}`, { cid })
      if (!file.owners.includes(p.signer))
        throw new StratosError('NOT_OWNER', `${p.signer} does not own ${cid}`, { cid, signer: p.signer })
      const live = store.shares.liveCount(p.signer)
      if (live >= MAX_SHARES_PER_OWNER) {
        throw new StratosError('CONFLICT', `${p.signer} already has ${live} share links; revoke some first`, {
          limit: MAX_SHARES_PER_OWNER,
        })
      }
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      const id = store.shares.exists(fresh) ? newShareId(random, (c) => store.shares.exists(c)) : fresh
      const r: ShareRecord = {
        id,
        cid,
        kind: file.kind,
        ...(file.name !== undefined ? { name: file.name } : {}),
        owner: p.signer,
        createdAt: now,
        expiresAt: p.linkExpiresAt,
        password: p.password,
      }
      store.shares.put(r)
      return r
    })
    logger.info(
      { id: record.id, cid, owner: p.signer, expiresAt: record.expiresAt, password: record.password !== null },
      'share link created',
    )
    return shareView(record, now)
  }

  /** The signer's live links (active and expired; revoked ones are gone from the list), oldest first. */
  async list(msg: SignedShareList): Promise<{ shares: ShareView[] }> {
    const { store, chainId } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    // Listed in the transaction that records the nonce (no read outside it: on PostgreSQL that would block).
    const shares = await store.write(() => {
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      store.prefetch(store.shares.byOwnerReads(p.signer))
      return store.shares.byOwner(p.signer)
    })
    return { shares: shares.map((r) => shareView(r, now)) }
  }

  /** Revokes a link of the signer's; revoking a revoked link answers it again (idempotent). */
  async revoke(id: string, msg: SignedShareRevoke): Promise<ShareView> {
    const { store, chainId, logger } = this.#o
    const now = this.#o.clock.now()
    const p = verifyWalletRequest(msg, { chainId, now, store })
    if (p.id !== id)
      throw new StratosError('BAD_REQUEST', 'the signed share id differs from the id in the path', {
        path: id,
        signed: p.id,
      })
    const record = await store.write(() => {
      const r = this.#record(id)
      if (r.owner !== p.signer)
        throw new StratosError('NOT_OWNER', `${p.signer} did not create share link ${id}`, { id, signer: p.signer })
      store.nonces.use(p.signer, p.nonce, p.expiresAt)
      if (r.revokedAt !== undefined) return r
      const revoked: ShareRecord = { ...r, revokedAt: now }
      store.shares.put(revoked)
      // A revoked link answers SHARE_REVOKED before any password check: its counters are moot.
      store.shares.clearAttempts(id)
      return revoked
    })
    this.#verified.delete(id)
    logger.info({ id, owner: p.signer }, 'share link revoked')
    return shareView(record, now)
  }

  /**
   * id (+ password) → what the link points at. Refuses, in this order: unknown link, revoked, expired, missing
   * password, too many wrong passwords, wrong password, file gone (or no longer owned by the link's creator).
   */
  async resolve(id: string, body: ShareResolveBody, caller: ShareCaller = {}): Promise<ShareResolution> {
    const now = this.#o.clock.now()
    const { store } = this.#o
    // The link and its file in one async read (on PostgreSQL a read outside a transaction blocks the event loop);
    // the checks below run in their usual order (a deleted file shows only past the password).
    // A password link's counter of this client's wrong passwords is read with them (checked only past the password).
    const client = this.clientOf(caller, body.client)
    const { r, file, attempts } = await store.read(() => {
      const r = this.#record(id)
      const attempts = r.password !== null ? store.shares.attempts(id, client, now) : undefined
      return { r, file: store.files.get(r.cid), attempts }
    })
    if (r.revokedAt !== undefined)
      throw new StratosError('SHARE_REVOKED', `share link ${id} was revoked by its owner`, {
        id,
        revokedAt: r.revokedAt,
      })
    if (r.expiresAt !== null && now >= r.expiresAt)
      throw new StratosError('SHARE_EXPIRED', `share link ${id} expired`, { id, expiresAt: r.expiresAt })
    if (r.password !== null) await this.#checkPassword(r, body.password, client, attempts, now)
    if (!file) throw new StratosError('FILE_NOT_FOUND', `the file of share link ${id} was deleted`, { id, cid: r.cid })
    if (!file.owners.includes(r.owner)) {
      throw new StratosError('SHARE_REVOKED', `the creator of share link ${id} no longer owns the file`, {
        id,
        cid: r.cid,
      })
    }
    return {
      id,
      cid: r.cid,
      kind: r.kind,
      ...(r.name !== undefined ? { name: r.name } : {}),
      size: file.size,
      expiresAt: r.expiresAt,
      access: this.#o.shareToken(id),
    }
  }

  async #checkPassword(
    r: ShareRecord,
    password: string | undefined,
    client: string,
    attempts: ShareAttempts | undefined,
    now: number,
  ): Promise<void> {
    if (password === undefined || password === '')
      throw new StratosError('PASSWORD_REQUIRED', `share link ${r.id} needs a password`, { id: r.id })
    checkSharePassword(password)
    // A locked client is refused even with the right password (else the lock would tell it when it guessed right).
    this.#throwIfLocked(r.id, client, attempts, now)
    const d = digest(password)
    const known = this.#verified.peek(r.id) // refreshed below only when it matches
    if (known !== undefined && timingSafeEqual(known, d)) {
      this.#verified.get(r.id) // refreshes its place in the LRU order
      return
    }
    // Counted as a failure before the (slow, async) check, so concurrent guesses cannot all slip under the limit.
    await this.#countFailure(r.id, client, now)
    if (await verifySharePassword(password, r.password!)) {
      await this.#uncountFailure(r.id, client)
      this.#verified.set(r.id, d)
      return
    }
    throw new StratosError('BAD_PASSWORD', `wrong password for share link ${r.id}`, { id: r.id })
  }

  #throwIfLocked(id: string, client: string, a: ShareAttempts | undefined, now: number): void {
    if (a === undefined || a.count < SHARE_MAX_PASSWORD_FAILURES) return
    const retryAfterMs = a.windowStart + SHARE_PASSWORD_WINDOW_MS - now
    throw new StratosError(
      'TOO_MANY_ATTEMPTS',
      `too many wrong passwords for share link ${id} from ${client}; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
      { id, retryAfterMs },
    )
  }

  /** One more failure of `client` for `id` (refused when locked: checked again inside the transaction). */
  async #countFailure(id: string, client: string, now: number): Promise<void> {
    const { store } = this.#o
    await store.write(
      () => {
        this.#throwIfLocked(id, client, store.shares.attempts(id, client, now), now)
        store.shares.countFailure(id, client, now)
      },
      { durable: false },
    )
  }

  /** The right password after all: its pending failure is taken back. */
  async #uncountFailure(id: string, client: string): Promise<void> {
    const { store } = this.#o
    await store.write(() => store.shares.uncountFailure(id, client), { durable: false })
  }
}
