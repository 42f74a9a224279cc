/**
 * The meta node (files, shares, traffic), through the gateway's relay, and the wallet's session with it.
 *
 * Every request that acts for the wallet carries its session token (x-stratos-access: session.…), a wallet-signed
 * `access.session` made here (src/sds/protocol/signing.ts signAsWallet, as the CLI signs it) that names the
 * gateway's order key: read tickets it yields can only be spent by the gateway reading for this page. The same token
 * is handed to the gateway once as an HttpOnly cookie (POST /api/v1/session) so <video>/<img> elements can read the
 * wallet's private files. Changes (delete, share create/revoke) are wallet-signed requests of their own.
 */
import type { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import type {
  FileList,
  FileRecordView,
  FileTraffic,
  NetworkStatus,
  NodeTrafficList,
  ShareView,
} from '../../../../src/sds/protocol/api.ts'
import type {
  AccessSessionPayload,
  DeletePayload,
  ShareCreatePayload,
  ShareListPayload,
  ShareRevokePayload,
} from '../../../../src/sds/protocol/messages.ts'
import { hashSharePassword } from '../../../../src/sds/protocol/share-password.ts'
import { signAsWallet } from '../../../../src/sds/protocol/signing.ts'
import { randomHex, toB64Url, utf8 } from './bytes.ts'
import { http } from './http.ts'

const M = '/api/v1/meta'
/** A signed request's own expiry (as the CLI's CLIENT_REQUEST_TTL_MS). */
const REQUEST_TTL_MS = 60_000
/** Session tokens live an hour and are renewed with a quarter left. */
const SESSION_TTL_MS = 60 * 60_000

export interface EdgeParams {
  chainId: string
  orderKey: string
  k: number
  m: number
  segmentSize: number
}

let edgeParams: Promise<EdgeParams> | undefined
export function getEdgeParams(): Promise<EdgeParams> {
  edgeParams ??= http<EdgeParams>('/api/v1/edge/params').catch((e: unknown) => {
    edgeParams = undefined
    throw e
  })
  return edgeParams
}

function base(key: WalletKey, chainId: string) {
  return { chainId, signer: key.address, nonce: randomHex(16), expiresAt: Date.now() + REQUEST_TTL_MS }
}

const sessions = new Map<string, { header: string; renewAt: number }>()

/** The wallet's session token for the meta node (and the gateway's content cookie), signed here. */
export async function sessionHeader(key: WalletKey): Promise<string> {
  const cached = sessions.get(key.address)
  if (cached && Date.now() < cached.renewAt) return cached.header
  const p = await getEdgeParams()
  const payload: AccessSessionPayload = {
    ...base(key, p.chainId),
    expiresAt: Date.now() + SESSION_TTL_MS,
    action: 'access.session',
    orderKey: p.orderKey,
  }
  const header = `session.${toB64Url(utf8(JSON.stringify(signAsWallet(key, payload))))}`
  sessions.set(key.address, { header, renewAt: Date.now() + (SESSION_TTL_MS * 3) / 4 })
  await http('/api/v1/session', { method: 'POST', headers: { 'x-stratos-access': header } })
  return header
}

/** Forgets the tokens and clears the gateway's cookie (lock). */
export async function endSessions(): Promise<void> {
  sessions.clear()
  await http('/api/v1/session', { method: 'DELETE' }).catch(() => undefined)
}

async function asWallet<T>(key: WalletKey, path: string, body?: unknown): Promise<T> {
  return http<T>(`${M}${path}`, { body, headers: { 'x-stratos-access': await sessionHeader(key) } })
}

export const meta = {
  status: () => http<NetworkStatus>(`${M}/v1/status`),
  trafficNodes: (epoch?: number) =>
    http<NodeTrafficList>(`${M}/v1/traffic/nodes${epoch === undefined ? '' : `?epoch=${epoch}`}`),
  listFiles: (key: WalletKey, after?: string) =>
    asWallet<FileList>(
      key,
      `/v1/files?owner=${key.address}&limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    ),
  file: (key: WalletKey, cid: string) => asWallet<FileRecordView>(key, `/v1/files/${cid}`),
  traffic: (key: WalletKey, cid: string) => asWallet<FileTraffic>(key, `/v1/files/${cid}/traffic`),
  async deleteFile(key: WalletKey, cid: string): Promise<void> {
    const { chainId } = await getEdgeParams()
    const payload: DeletePayload = { ...base(key, chainId), action: 'file.delete', cid }
    await asWallet(key, `/v1/files/${cid}/delete`, signAsWallet(key, payload))
  },
  async createShare(
    key: WalletKey,
    cid: string,
    o: { linkExpiresAt: number | null; password: string | null },
  ): Promise<ShareView> {
    const { chainId } = await getEdgeParams()
    // The password is hashed here (scrypt, the CLI's parameters): the meta node never sees it at creation.
    const password =
      o.password === null ? null : await hashSharePassword(o.password, (n) => crypto.getRandomValues(new Uint8Array(n)))
    const payload: ShareCreatePayload = {
      ...base(key, chainId),
      action: 'share.create',
      cid,
      linkExpiresAt: o.linkExpiresAt,
      password,
    }
    return asWallet<ShareView>(key, '/v1/shares', signAsWallet(key, payload))
  },
  async listShares(key: WalletKey): Promise<ShareView[]> {
    const { chainId } = await getEdgeParams()
    const payload: ShareListPayload = { ...base(key, chainId), action: 'share.list' }
    return (await asWallet<{ shares: ShareView[] }>(key, '/v1/shares/list', signAsWallet(key, payload))).shares
  },
  async revokeShare(key: WalletKey, id: string): Promise<ShareView> {
    const { chainId } = await getEdgeParams()
    const payload: ShareRevokePayload = { ...base(key, chainId), action: 'share.revoke', id }
    return asWallet<ShareView>(key, `/v1/shares/${id}/revoke`, signAsWallet(key, payload))
  },
}

/** Where the page plays or downloads one of the wallet's files (the gateway reads it under the session cookie). */
export function contentUrl(cid: string, name?: string, download = false): string {
  const q = new URLSearchParams()
  if (name) q.set('filename', name)
  if (download) q.set('download', 'true')
  const s = q.toString()
  return `/api/v1/content/${cid}${s ? `?${s}` : ''}`
}

/** The public gateway URL of a CID (works for public files; private ones need the owner's session or a link). */
export function gatewayUrl(cid: string): string {
  return `${location.origin}/ipfs/${cid}`
}
