/**
 * Who a meta request acts for, and what it may see (docs/security.md).
 *
 * Every request may carry ACCESS_HEADER: a wallet's session token (its own files), a read grant's id, or a share
 * link's access token. `identify()` turns the header into an `Accessor`; `authorizeRead()` decides, per file, whether
 * that accessor may read it and who pays (the ozone payer named in the GET tickets):
 *
 *   accessor                     may read                                               pays
 *   wallet (session token)       files it owns · public files                          itself · the publisher
 *   grant holder                 the grantor's files in the grant's scope · public       the grantor
 *   share-link holder            the link's file, and what its directory links to        the link's creator
 *   anonymous                    public files                                            the publisher
 *
 * Strangers' reads of public files count against the publisher's budgets (budget.set: per wallet and per file, per
 * epoch); past a budget they are refused with BUDGET_EXCEEDED while the owner's own reads go on.
 *
 * Costs on the read path: a session token's secp256k1 signature is checked once and cached (ACCESS_SESSION_CACHE_ENTRIES);
 * a grant or share costs one LMDB get per request (so revocation takes effect at once); a share token is an HMAC
 * under a secret kept in the index.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { fromBase64Url, toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  ACCESS_SESSION_CACHE_ENTRIES,
  ACCESS_SESSION_MAX_TTL_MS,
  CLOCK_SKEW_MS,
  GRANT_SCOPE_MAX_RECORDS_WALKED,
  PUBLIC_BUDGET_EPOCHS_KEPT,
  PUBLIC_BUDGET_WINDOW_MS,
} from '../../limits.ts'
import type { Clock, RandomBytes } from '../../util/components.ts'
import { Lru } from '../../util/lru.ts'
import { ACCESS_HEADER } from '../protocol/api.ts'
import { zAccessSessionPayload, zWalletSigned } from '../protocol/messages.ts'
import { verifyWalletSigned, type DelegateProof } from '../protocol/signing.ts'
import type { Delegations } from './delegations.ts'
import type { ChainLink } from './chain-link.ts'
import type { ShareRecord } from './shares.ts'
import type { FileRecord, MetaStore } from './store.ts'

export { ACCESS_HEADER }

/** A stored read grant (grants.ts): its API view without the derived `state`. */
export type { GrantRecord } from './stores/sharing.ts'
import type { GrantRecord } from './stores/sharing.ts'

export type Accessor =
  | { kind: 'anonymous' }
  /** `scopes`: set when a delegate key signed the session (delegations.ts): what the wallet let it do. */
  | { kind: 'wallet'; address: string; orderKey: string; scopes?: readonly string[] }
  | { kind: 'grant'; grant: GrantRecord }
  | { kind: 'share'; share: ShareRecord }

export const ANONYMOUS: Accessor = { kind: 'anonymous' }

export interface ReadAuthorization {
  /** The wallet whose ozone pays the read. */
  payer: string
  /** A stranger's read of a public file: counted against the publisher's budgets. */
  counted: boolean
}

export interface AccessOptions {
  store: MetaStore
  chainId: string
  clock: Clock
  /** Makes the share-token secret on first start. */
  random: RandomBytes
  /** Budget epochs follow the chain's when there is one; else PUBLIC_BUDGET_WINDOW_MS windows. */
  chain?: ChainLink
  /** Session tokens signed by a delegate for a wallet (delegations.ts); absent: only wallets' own tokens. */
  delegations?: Delegations
}

const SESSION_PREFIX = 'session.'
const GRANT_PREFIX = 'grant.'
const SHARE_PREFIX = 'share.'
const zSessionToken = zWalletSigned(zAccessSessionPayload)

export class Access {
  readonly #o: AccessOptions
  /** Verified session tokens: signature → (address, order key, expiry). FIFO (insertion order = age, oldest out). */
  readonly #sessions = new Lru<
    string,
    { address: string; orderKey: string; expiresAt: number; delegate?: DelegateProof; scopes?: readonly string[] }
  >({
    maxEntries: ACCESS_SESSION_CACHE_ENTRIES,
    order: 'fifo',
  })
  #secret: Buffer | undefined

  constructor(options: AccessOptions) {
    this.#o = options
  }

  /** The HMAC key of share access tokens: made once, kept in the index (so every process over it agrees). */
  async init(): Promise<void> {
    this.#secret = Buffer.from(await this.#o.store.secret('accessSecret', () => this.#o.random(32)))
  }

  // ---- identify --------------------------------------------------------------------------------

  /** The accessor a request's ACCESS_HEADER names; ANONYMOUS without one. Refuses a malformed, expired or revoked one. */
  identify(header: string | string[] | undefined): Accessor {
    if (header === undefined || header === '') return ANONYMOUS
    if (Array.isArray(header)) throw new StratosError('BAD_REQUEST', `one ${ACCESS_HEADER} header per request`)
    if (header.length > 4096) throw new StratosError('BAD_REQUEST', `${ACCESS_HEADER} is too long`)
    if (header.startsWith(SESSION_PREFIX)) return this.#session(header.slice(SESSION_PREFIX.length))
    if (header.startsWith(GRANT_PREFIX)) return { kind: 'grant', grant: this.grant(header.slice(GRANT_PREFIX.length)) }
    if (header.startsWith(SHARE_PREFIX))
      return { kind: 'share', share: this.#shareFromToken(header.slice(SHARE_PREFIX.length)) }
    throw new StratosError('BAD_REQUEST', `${ACCESS_HEADER} must start with session., grant. or share.`)
  }

  /**
   * identify() without blocking the event loop on PostgreSQL: a token whose check reads the index — a grant, a share
   * link, a delegated session (its delegation is looked up on every use) — is checked in one async read
   * (MetaStore.read); a wallet's own session token, once verified, reads nothing.
   */
  async identifyAsync(header: string | string[] | undefined): Promise<Accessor> {
    if (typeof header !== 'string' || !this.#o.store.shared || !this.#readsIndex(header)) return this.identify(header)
    return this.#o.store.read(() => this.identify(header))
  }

  #readsIndex(header: string): boolean {
    if (header.startsWith(GRANT_PREFIX) || header.startsWith(SHARE_PREFIX)) return true
    if (!header.startsWith(SESSION_PREFIX) || !this.#o.delegations) return false
    const cached = this.#sessions.peek(header.slice(SESSION_PREFIX.length))
    return cached === undefined || cached.delegate !== undefined
  }

  #session(encoded: string): Accessor {
    const now = this.#o.clock.now()
    const cached = this.#sessions.get(encoded)
    if (cached !== undefined) {
      if (cached.expiresAt + CLOCK_SKEW_MS < now)
        throw new StratosError('REQUEST_EXPIRED', 'the session token has expired', { expiresAt: cached.expiresAt, now })
      // A delegated token is only as good as its delegation: looked up on every use, so revocation acts at once.
      if (cached.delegate && this.#o.delegations) {
        const d = this.#o.delegations.live(cached.delegate, cached.address, now)
        return { kind: 'wallet', address: cached.address, orderKey: cached.orderKey, scopes: d.scopes }
      }
      return { kind: 'wallet', address: cached.address, orderKey: cached.orderKey }
    }
    let raw: unknown
    try {
      raw = JSON.parse(Buffer.from(fromBase64Url(encoded)).toString('utf8'))
    } catch {
      throw new StratosError('BAD_REQUEST', 'the session token is not base64url JSON')
    }
    const parsed = zSessionToken.safeParse(raw)
    if (!parsed.success) throw new StratosError('BAD_REQUEST', 'the session token is not a signed access.session')
    const delegations = this.#o.delegations
    const p = verifyWalletSigned(parsed.data, {
      chainId: this.#o.chainId,
      now,
      ...(delegations ? { delegation: delegations.check } : {}),
    })
    if (p.expiresAt > now + ACCESS_SESSION_MAX_TTL_MS + CLOCK_SKEW_MS) {
      throw new StratosError('BAD_REQUEST', `a session token may live at most ${ACCESS_SESSION_MAX_TTL_MS} ms`, {
        maxTtlMs: ACCESS_SESSION_MAX_TTL_MS,
      })
    }
    const delegate = parsed.data.delegate
    if (delegate && delegations) {
      const scopes = delegations.live(delegate, p.signer, now).scopes
      this.#sessions.set(encoded, { address: p.signer, orderKey: p.orderKey, expiresAt: p.expiresAt, delegate, scopes })
      return { kind: 'wallet', address: p.signer, orderKey: p.orderKey, scopes }
    }
    this.#sessions.set(encoded, { address: p.signer, orderKey: p.orderKey, expiresAt: p.expiresAt })
    return { kind: 'wallet', address: p.signer, orderKey: p.orderKey }
  }

  /** A live grant by id: GRANT_NOT_FOUND, GRANT_REVOKED or GRANT_EXPIRED otherwise. */
  grant(id: string): GrantRecord {
    if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new StratosError('BAD_REQUEST', 'a grant id is 22 base64url characters')
    const g = this.#o.store.grants.get(id)
    if (g === undefined) throw new StratosError('GRANT_NOT_FOUND', `no read grant ${id}`, { id })
    if (g.revokedAt !== undefined)
      throw new StratosError('GRANT_REVOKED', `read grant ${id} was revoked`, { id, revokedAt: g.revokedAt })
    if (this.#o.clock.now() >= g.expiresAt)
      throw new StratosError('GRANT_EXPIRED', `read grant ${id} expired`, { id, expiresAt: g.expiresAt })
    return g
  }

  /** The token a resolved share link hands out: `{id}.{hmac}` (no expiry of its own: each use re-checks the link). */
  shareToken(shareId: string): string {
    return `${shareId}.${this.#mac(shareId)}`
  }

  #mac(shareId: string): string {
    if (!this.#secret) throw new StratosError('INTERNAL', 'access not initialised')
    return toBase64Url(createHmac('sha256', this.#secret).update(`stratos-share-access\n${shareId}`).digest())
  }

  #shareFromToken(token: string): ShareRecord {
    const dot = token.indexOf('.')
    const id = dot === -1 ? '' : token.slice(0, dot)
    const given = Buffer.from(dot === -1 ? '' : token.slice(dot + 1))
    const want = Buffer.from(/^[A-Za-z0-9_-]{22}$/.test(id) ? this.#mac(id) : '')
    if (want.length === 0 || given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new StratosError('ACCESS_DENIED', 'the share access token is not valid')
    }
    const r = this.#o.store.shares.get(id)
    if (r === undefined) throw new StratosError('SHARE_NOT_FOUND', `no share link ${id}`, { id })
    if (r.revokedAt !== undefined)
      throw new StratosError('SHARE_REVOKED', `share link ${id} was revoked by its owner`, {
        id,
        revokedAt: r.revokedAt,
      })
    if (r.expiresAt !== null && this.#o.clock.now() >= r.expiresAt)
      throw new StratosError('SHARE_EXPIRED', `share link ${id} expired`, { id, expiresAt: r.expiresAt })
    return r
  }

  // ---- authorize -------------------------------------------------------------------------------

  /** True when the accessor is one of the file's owners (it sees owners, traffic and the full record). */
  isOwner(r: FileRecord, a: Accessor): boolean {
    return a.kind === 'wallet' && r.owners.includes(a.address)
  }

  /** Who pays for `a` reading `r`; ACCESS_DENIED when `a` may not read it. */
  authorizeRead(r: FileRecord, a: Accessor, known?: readonly string[]): ReadAuthorization {
    switch (a.kind) {
      case 'wallet':
        if (r.owners.includes(a.address)) return { payer: a.address, counted: false }
        break
      case 'grant':
        if (r.owners.includes(a.grant.owner) && this.#inGrantScope(r, a.grant, known))
          return { payer: a.grant.owner, counted: false }
        break
      case 'share':
        if (r.owners.includes(a.share.owner) && this.#reachable(a.share.cid, r.cid, known))
          return { payer: a.share.owner, counted: false }
        break
      case 'anonymous':
        break
    }
    if (r.publicBy !== undefined) return { payer: r.publicBy, counted: true }
    throw new StratosError(
      'ACCESS_DENIED',
      `${r.cid} is private: reading it needs its owner's session, a share link or a read grant`,
      { cid: r.cid },
    )
  }

  /**
   * authorizeRead() without blocking the event loop on PostgreSQL: a grant's or share link's scope (its directory
   * tree, the owner's names) is read in one async read; other accessors read nothing.
   */
  async authorizeReadAsync(r: FileRecord, a: Accessor): Promise<ReadAuthorization> {
    const scoped =
      (a.kind === 'grant' && r.owners.includes(a.grant.owner)) ||
      (a.kind === 'share' && r.owners.includes(a.share.owner))
    const { store } = this.#o
    if (!scoped || !store.shared) return this.authorizeRead(r, a)
    // The scope's directory trees, walked ahead a level per read (a deep tree would need a round per level inside
    // one transaction); nothing to walk when the file is a root of the scope itself.
    const roots = a.kind === 'grant' ? (a.grant.scope.cids ?? []) : a.kind === 'share' ? [a.share.cid] : []
    const known = roots.includes(r.cid) ? [] : await walkTreeAhead(store, roots, r.cid)
    return store.read(() => this.authorizeRead(r, a, known))
  }

  /** Whether `a` may see `r` at all (stat, DAG, listing): the same rule as reading, without the payer. */
  canSee(r: FileRecord, a: Accessor): boolean {
    try {
      this.authorizeRead(r, a)
      return true
    } catch {
      return false
    }
  }

  #inGrantScope(r: FileRecord, g: GrantRecord, known?: readonly string[]): boolean {
    for (const cid of g.scope.cids ?? []) if (this.#reachable(cid, r.cid, known)) return true
    const prefixes = g.scope.prefixes ?? []
    if (prefixes.length > 0) {
      const name = this.#o.store.files.ownerEntry(g.owner, r.cid)?.name
      if (name !== undefined && prefixes.some((p) => name.startsWith(p))) return true
    }
    return false
  }

  /** `target` is `root` or a record `root`'s directory tree links to (bounded walk over the records' children). */
  #reachable(root: string, target: string, known?: readonly string[]): boolean {
    return root === target || treeOf(this.#o.store, root, target, known).has(target)
  }

  // ---- budgets ---------------------------------------------------------------------------------

  /** The current budget epoch. */
  epoch(now: number): number {
    const chainEpoch = this.#o.chain?.epoch ?? 0
    return chainEpoch > 0 ? chainEpoch : Math.floor(now / PUBLIC_BUDGET_WINDOW_MS)
  }

  /**
   * Counts `bytes` of a stranger's read of `cid` against `payer`'s budgets (wallet-wide and the file's); refuses with
   * BUDGET_EXCEEDED when either would go past its cap. Inside store.write(). Files without a budget cost one get.
   */
  chargeBudgets(payer: string, cid: string, bytes: number, now: number): void {
    const { store } = this.#o
    const epoch = this.epoch(now)
    const caps = this.#caps(payer, cid).map((c) => ({ ...c, spent: this.spent(payer, c.key, epoch) }))
    for (const { key, cap, spent } of caps) {
      if (spent + bytes > cap) {
        throw new StratosError(
          'BUDGET_EXCEEDED',
          `the owner's budget for strangers' reads${key ? ` of ${cid}` : ''} is used up this epoch (${spent} of ${cap} bytes)`,
          {
            cid,
            epoch,
            spentBytes: spent,
            budgetBytes: cap,
            scope: key ? 'file' : 'wallet',
          },
        )
      }
    }
    for (const { key, spent } of caps) store.budgets.setSpent(payer, key, epoch, spent + bytes)
  }

  /** Whether `payer` has any budget set (so the read path only opens a write for those that do). */
  hasBudgets(payer: string, cid: string): boolean {
    return this.#caps(payer, cid).length > 0
  }

  /**
   * hasBudgets without blocking the event loop: on a shared index (PostgreSQL) one async read of both caps instead of
   * two synchronous round trips; on LMDB a memory read.
   */
  async hasBudgetsAsync(payer: string, cid: string): Promise<boolean> {
    const { store } = this.#o
    if (!store.shared) return this.hasBudgets(payer, cid)
    return store.read(() => {
      store.prefetch(store.budgets.capReads(payer, ['', cid]))
      return this.hasBudgets(payer, cid)
    })
  }

  /** `payer`'s caps that apply to reads of `cid`: the wallet-wide one (key '') and the file's. */
  #caps(payer: string, cid: string): { key: string; cap: number }[] {
    const caps: { key: string; cap: number }[] = []
    for (const key of ['', cid]) {
      const b = this.#o.store.budgets.cap(payer, key)
      if (b !== undefined) caps.push({ key, cap: b.bytesPerEpoch })
    }
    return caps
  }

  /** Forgets spending of epochs older than PUBLIC_BUDGET_EPOCHS_KEPT (the sweeper calls it). */
  async pruneSpent(now: number, limit: number): Promise<void> {
    const { store } = this.#o
    const oldest = this.epoch(now) - PUBLIC_BUDGET_EPOCHS_KEPT
    await store.write(() => store.budgets.pruneSpent(oldest, limit), { durable: false })
  }

  spent(payer: string, key: string, epoch: number): number {
    return this.#o.store.budgets.spent(payer, key, epoch)
  }
}

/**
 * The records of `root`'s directory tree, `root` first (breadth first over the records' `children`, at most
 * GRANT_SCOPE_MAX_RECORDS_WALKED of them); stops early once `until` is found. `known`: records of the tree found
 * before the transaction (walkTreeAhead), read together first.
 */
export function treeOf(store: MetaStore, root: string, until?: string, known: readonly string[] = []): Set<string> {
  const seen = new Set([root])
  const queue = [root]
  // Inside a transaction (MetaStore.read on PostgreSQL): the records queued so far are read at once, one round trip
  // per level of the tree instead of one per record — and with `known`, one for the whole tree as it was a moment
  // ago (a transaction has at most a few dozen rounds of reads: a deep tree must not take one per level).
  if (known.length > 0) store.prefetch([store.files.reads([root, ...known])[0]!])
  let prefetched = 0
  for (let i = 0; i < queue.length && seen.size < GRANT_SCOPE_MAX_RECORDS_WALKED; i++) {
    if (i >= prefetched) {
      prefetched = queue.length
      store.prefetch([store.files.reads(queue.slice(i))[0]!])
    }
    for (const c of store.files.get(queue[i])?.children ?? []) {
      if (seen.has(c)) continue
      seen.add(c)
      if (c === until) return seen
      queue.push(c)
    }
  }
  return seen
}

/**
 * On a shared index (PostgreSQL): the records of the trees under `roots` as they are now, read one level per async
 * read before the transaction that needs them (treeOf's `known`), so that transaction reads the whole tree in one
 * round however deep it is. Each level is its own snapshot: a hint, checked again inside the transaction. Stops once
 * `until` is found, or at GRANT_SCOPE_MAX_RECORDS_WALKED records. On LMDB (reads are memory reads) nothing.
 */
export async function walkTreeAhead(store: MetaStore, roots: readonly string[], until?: string): Promise<string[]> {
  if (!store.shared) return []
  const seen = new Set(roots)
  let level = [...seen]
  while (level.length > 0 && seen.size < GRANT_SCOPE_MAX_RECORDS_WALKED) {
    const parents = level
    const children = await store.read(() => {
      store.prefetch([store.files.reads(parents)[0]!])
      return parents.flatMap((c) => store.files.get(c)?.children ?? [])
    })
    level = []
    for (const c of children) {
      if (seen.has(c)) continue
      seen.add(c)
      level.push(c)
    }
    if (until !== undefined && seen.has(until)) break
  }
  return [...seen]
}
