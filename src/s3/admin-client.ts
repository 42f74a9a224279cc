/**
 * The wallet's side of the S3 gateway's credential admin (server.ts `/_stratos/…`, credentials.ts): the wallet signs,
 * the gateway relays the delegation to the meta node and answers the credential. Used by `stratos s3 credentials`
 * and by the devnet (a ready credential per dev wallet).
 */
import type { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import { CLIENT_REQUEST_TTL_MS } from '../limits.ts'
import { jsonRequest } from '../net/json-request.ts'
import type {
  DelegationCreatePayload,
  DelegationListPayload,
  DelegationRevokePayload,
} from '../sds/protocol/messages.ts'
import { signAsWallet } from '../sds/protocol/signing.ts'
import { randomHex, systemClock, systemRandom, type Clock, type RandomBytes } from '../util/components.ts'
import type { CreatedCredential, CredentialView } from './credentials.ts'
import type { S3Info } from './server.ts'

export interface S3AdminOptions {
  clock?: Clock
  random?: RandomBytes
  signal?: AbortSignal
}

function base(wallet: WalletKey, chainId: string, o: S3AdminOptions) {
  const now = (o.clock ?? systemClock).now()
  return {
    chainId,
    signer: wallet.address,
    nonce: randomHex(o.random ?? systemRandom, 16),
    expiresAt: now + CLIENT_REQUEST_TTL_MS,
  }
}

export class S3AdminClient {
  readonly url: string
  constructor(url: string) {
    this.url = url.replace(/\/+$/, '')
  }

  info(o: S3AdminOptions = {}): Promise<S3Info> {
    return jsonRequest(`${this.url}/_stratos/info`, { method: 'GET', ...(o.signal ? { signal: o.signal } : {}) })
  }

  /** Signs a delegation to this gateway's key (all four scopes) and has the gateway make a credential: the secret is in the answer, once. */
  async create(
    wallet: WalletKey,
    p: { expiresAt: number; label?: string },
    o: S3AdminOptions = {},
  ): Promise<CreatedCredential> {
    const info = await this.info(o)
    const payload: DelegationCreatePayload = {
      ...base(wallet, info.chainId, o),
      action: 'delegation.create',
      delegate: info.delegateKey,
      scopes: ['upload', 'read', 'list', 'delete'],
      delegationExpiresAt: p.expiresAt,
      ...(p.label !== undefined ? { label: p.label } : {}),
    }
    return jsonRequest(`${this.url}/_stratos/credentials`, {
      method: 'POST',
      body: signAsWallet(wallet, payload),
      ...(o.signal ? { signal: o.signal } : {}),
    })
  }

  async list(wallet: WalletKey, o: S3AdminOptions = {}): Promise<CredentialView[]> {
    const info = await this.info(o)
    const payload: DelegationListPayload = { ...base(wallet, info.chainId, o), action: 'delegation.list' }
    const r = await jsonRequest<{ credentials: CredentialView[] }>(`${this.url}/_stratos/credentials/list`, {
      method: 'POST',
      body: signAsWallet(wallet, payload),
      ...(o.signal ? { signal: o.signal } : {}),
    })
    return r.credentials
  }

  /** Revokes a credential of the wallet's: its delegation at the meta node, and the key at the gateway, at once. */
  async revoke(wallet: WalletKey, accessKeyId: string, o: S3AdminOptions = {}): Promise<CredentialView> {
    const info = await this.info(o)
    const mine = await this.list(wallet, o)
    const c = mine.find((x) => x.accessKeyId === accessKeyId)
    if (!c)
      throw new StratosError('NOT_FOUND', `${wallet.address} has no S3 credential ${accessKeyId}`, { accessKeyId })
    const payload: DelegationRevokePayload = {
      ...base(wallet, info.chainId, o),
      action: 'delegation.revoke',
      id: c.delegationId,
    }
    return jsonRequest(`${this.url}/_stratos/credentials/${encodeURIComponent(accessKeyId)}/revoke`, {
      method: 'POST',
      body: signAsWallet(wallet, payload),
      ...(o.signal ? { signal: o.signal } : {}),
    })
  }
}
