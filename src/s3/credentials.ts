/**
 * S3 credentials: an access key id and secret that act for one wallet.
 *
 * A credential is made by the wallet, never by the gateway on its own: `stratos s3 credentials create` signs a
 * `delegation.create` naming this gateway's node key (GET /_stratos/info), and the admin endpoint relays it to the
 * meta node. Only once the meta node has stored the delegation does the gateway make the access key id and secret,
 * keep them, and answer the secret — once; it is never shown again. Listing and revoking are wallet-signed too;
 * revoking relays the wallet's `delegation.revoke` to the meta node and refuses the key here from that moment.
 *
 * The secret must be kept in a form SigV4 can use (HMAC keys derive from it, per day and region), so it cannot be
 * hashed. It is sealed at rest with AES-256-GCM under a master key in `dataDir/s3-master.key` (mode 0600, apart from
 * the index), bound to its access key id as associated data: a copy of the index alone reveals no secret. Whoever
 * reads both files has the secrets (docs/security.md).
 *
 * Even a leaked secret reaches no more than the delegation's scopes, and the wallet can revoke the delegation at the
 * meta node directly: every network call the gateway makes for the credential is then refused there.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StratosError } from '../errors.ts'
import { CLOCK_SKEW_MS, MAX_REQUEST_TTL_MS, S3_CREDENTIAL_CACHE_ENTRIES, S3_DELEGATION_RECHECK_MS } from '../limits.ts'
import type { MetaClient } from '../net/meta-client.ts'
import type { DelegationView } from '../sds/protocol/api.ts'
import type { SignedDelegationCreate, SignedDelegationRevoke, SignedDelegationList } from '../sds/protocol/messages.ts'
import { verifyWalletSigned } from '../sds/protocol/signing.ts'
import type { Clock, RandomBytes } from '../util/components.ts'
import { writeFileAtomic } from '../util/fs.ts'
import { Lru } from '../util/lru.ts'
import { S3Error } from './errors.ts'
import type { CredentialRecord, S3Store, SealedSecret } from './store.ts'

const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

export interface CredentialView {
  accessKeyId: string
  owner: string
  delegationId: string
  createdAt: number
  expiresAt: number
  label?: string
  revokedAt?: number
  state: 'active' | 'expired' | 'revoked'
}

export interface CreatedCredential extends CredentialView {
  /** Shown once. */
  secretAccessKey: string
}

/** A credential ready to check a signature with. */
export interface LiveCredential {
  record: CredentialRecord
  secret: string
}

export interface CredentialsOptions {
  store: S3Store
  dataDir: string
  meta: MetaClient
  chainId: string
  /** This gateway's delegate key (base64url ed25519): delegations must name it. */
  delegateKey: string
  clock: Clock
  random: RandomBytes
}

function randomString(random: RandomBytes, alphabet: string, n: number): string {
  const bytes = random(n)
  let s = ''
  for (const b of bytes) s += alphabet[b % alphabet.length]
  return s
}

export function credentialView(r: CredentialRecord, now: number): CredentialView {
  const state = r.revokedAt !== undefined ? 'revoked' : now >= r.expiresAt ? 'expired' : 'active'
  const { secret: _secret, ...rest } = r
  return { ...rest, state }
}

export class Credentials {
  readonly #o: CredentialsOptions
  readonly #masterKey: Buffer
  /** Unsealed secrets and when the delegation was last confirmed live at the meta node. */
  readonly #cache = new Lru<string, { secret: string; checkedAt: number }>({ maxEntries: S3_CREDENTIAL_CACHE_ENTRIES })

  constructor(options: CredentialsOptions) {
    this.#o = options
    const path = join(options.dataDir, 's3-master.key')
    if (!existsSync(path))
      writeFileAtomic(path, Buffer.from(options.random(32)).toString('hex') + '\n', { mode: 0o600 })
    const hex = readFileSync(path, 'utf8').trim()
    if (!/^[0-9a-f]{64}$/.test(hex))
      throw new StratosError('NETWORK_CONFIG', `${path} is not a 32-byte hex key`, { path })
    this.#masterKey = Buffer.from(hex, 'hex')
  }

  #seal(accessKeyId: string, secret: string): SealedSecret {
    const iv = Buffer.from(this.#o.random(12))
    const c = createCipheriv('aes-256-gcm', this.#masterKey, iv)
    c.setAAD(Buffer.from(accessKeyId))
    const ct = Buffer.concat([c.update(secret, 'utf8'), c.final()])
    return { iv: iv.toString('base64'), ct: ct.toString('base64'), tag: c.getAuthTag().toString('base64') }
  }

  #unseal(accessKeyId: string, s: SealedSecret): string {
    const d = createDecipheriv('aes-256-gcm', this.#masterKey, Buffer.from(s.iv, 'base64'))
    d.setAAD(Buffer.from(accessKeyId))
    d.setAuthTag(Buffer.from(s.tag, 'base64'))
    return Buffer.concat([d.update(Buffer.from(s.ct, 'base64')), d.final()]).toString('utf8')
  }

  /**
   * The credential an access key id names, with its secret: InvalidAccessKeyId when unknown, revoked or expired.
   * Every S3_DELEGATION_RECHECK_MS the delegation is confirmed at the meta node, so a delegation the wallet revoked
   * there (without this gateway) stops the credential here too.
   */
  async live(accessKeyId: string, signal?: AbortSignal): Promise<LiveCredential> {
    const now = this.#o.clock.now()
    const record = this.#o.store.credentials.get(accessKeyId)
    if (!record)
      throw new S3Error('InvalidAccessKeyId', 'the AWS access key id you provided does not exist in our records')
    if (record.revokedAt !== undefined)
      throw new S3Error('InvalidAccessKeyId', 'the AWS access key id you provided was revoked by its wallet')
    if (now >= record.expiresAt)
      throw new S3Error('InvalidAccessKeyId', 'the AWS access key id you provided has expired')
    let cached = this.#cache.get(accessKeyId)
    if (cached === undefined) {
      cached = { secret: this.#unseal(accessKeyId, record.secret), checkedAt: 0 }
      this.#cache.set(accessKeyId, cached)
    }
    if (now - cached.checkedAt >= S3_DELEGATION_RECHECK_MS) {
      let d: DelegationView
      try {
        d = await this.#o.meta.delegation(record.delegationId, signal ? { signal } : {})
      } catch (e) {
        if (e instanceof StratosError && e.code === 'DELEGATION_NOT_FOUND')
          throw new S3Error('InvalidAccessKeyId', 'the delegation behind this access key is gone')
        throw e
      }
      if (d.state !== 'active') {
        if (d.state === 'revoked') await this.#markRevoked(accessKeyId, d.revokedAt ?? now)
        throw new S3Error('InvalidAccessKeyId', `the access key's delegation is ${d.state}`)
      }
      cached.checkedAt = now
    }
    return { record, secret: cached.secret }
  }

  async #markRevoked(accessKeyId: string, at: number): Promise<void> {
    const { store } = this.#o
    this.#cache.delete(accessKeyId)
    await store.write(() => {
      const r = store.credentials.get(accessKeyId)
      if (r && r.revokedAt === undefined) store.credentials.putSync(accessKeyId, { ...r, revokedAt: at })
    })
  }

  /** Relays the wallet's delegation to the meta node, then makes the credential. */
  async create(msg: SignedDelegationCreate, signal?: AbortSignal): Promise<CreatedCredential> {
    const { store, random, clock } = this.#o
    const p = msg.payload
    if (p.delegate !== this.#o.delegateKey)
      throw new StratosError('BAD_REQUEST', "the delegation must name this gateway's key (GET /_stratos/info)", {
        delegateKey: this.#o.delegateKey,
      })
    for (const scope of ['upload', 'read', 'list', 'delete'] as const)
      if (!p.scopes.includes(scope))
        throw new StratosError('BAD_REQUEST', `an S3 credential's delegation needs the ${scope} scope`, { scope })
    const d = await this.#o.meta.createDelegation(msg, signal ? { signal } : {})
    let accessKeyId = `STR${randomString(random, ACCESS_KEY_ALPHABET, 17)}`
    while (store.credentials.get(accessKeyId) !== undefined)
      accessKeyId = `STR${randomString(random, ACCESS_KEY_ALPHABET, 17)}`
    const secret = randomString(random, SECRET_ALPHABET, 40)
    const record: CredentialRecord = {
      accessKeyId,
      owner: d.owner,
      delegationId: d.id,
      secret: this.#seal(accessKeyId, secret),
      createdAt: clock.now(),
      expiresAt: d.expiresAt,
      ...(p.label !== undefined ? { label: p.label } : {}),
    }
    await store.write(() => {
      store.credentials.putSync(accessKeyId, record)
      store.ownerCreds.putSync([record.owner, accessKeyId], true)
    })
    return { ...credentialView(record, clock.now()), secretAccessKey: secret }
  }

  /** The signer's credentials (without secrets). The wallet signs a `delegation.list` request. */
  list(msg: SignedDelegationList): CredentialView[] {
    const now = this.#o.clock.now()
    const p = verifyWalletSigned(msg, { chainId: this.#o.chainId, now })
    if (p.expiresAt > now + MAX_REQUEST_TTL_MS + CLOCK_SKEW_MS)
      throw new StratosError('BAD_REQUEST', `request expiry may be at most ${MAX_REQUEST_TTL_MS} ms ahead`)
    const out: CredentialView[] = []
    for (const key of this.#o.store.ownerCreds.getKeys({ start: [p.signer, ''], end: [p.signer, '\uffff'] })) {
      const r = this.#o.store.credentials.get(key[1])
      if (r) out.push(credentialView(r, now))
    }
    return out.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** Relays the wallet's `delegation.revoke` to the meta node, then refuses the key here. */
  async revoke(accessKeyId: string, msg: SignedDelegationRevoke, signal?: AbortSignal): Promise<CredentialView> {
    const r = this.#o.store.credentials.get(accessKeyId)
    if (!r) throw new StratosError('NOT_FOUND', `no S3 credential ${accessKeyId}`, { accessKeyId })
    if (msg.payload.id !== r.delegationId || msg.payload.signer !== r.owner)
      throw new StratosError('BAD_REQUEST', "the signed revocation must name this credential's delegation and wallet", {
        delegationId: r.delegationId,
      })
    const d = await this.#o.meta.revokeDelegation(r.delegationId, msg, signal ? { signal } : {})
    await this.#markRevoked(accessKeyId, d.revokedAt ?? this.#o.clock.now())
    const updated = this.#o.store.credentials.get(accessKeyId) ?? r
    return credentialView(updated, this.#o.clock.now())
  }
}
