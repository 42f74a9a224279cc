/**
 * Share links on the gateway: GET|HEAD /share/{id}[/path].
 *
 * The link is resolved at the meta node (id + password → CID) on every request, so a revoked or expired link stops
 * working at once, and the request is then served exactly like /ipfs/{cid}[/path] by the gateway's own handler
 * (`gateway.paths.serve`: ranges, ETag, content type, directory paths…). The password comes from an
 * `x-stratos-share-password` header, HTTP Basic auth (any user name), the share cookie, or `?password=` (scripts
 * only: a URL ends up in logs and history). A missing or wrong password answers 401
 * with `WWW-Authenticate: Basic`, so a browser asks for it and then repeats it on every range request of a video —
 * except for a script's request (`X-Requested-With` set, as the wallet portal's share page sends it), which asks for
 * the password in its own form and must not get the browser's login dialog.
 *
 * The share cookie is how a page plays a password link in a `<video>` (which cannot send a header) without putting
 * the password in the media URL: `POST /api/v1/share-session/{id}` with the password header checks it at the meta
 * node and answers with `stratos-share`, the password sealed (AES-256-GCM) under a key only this gateway process
 * holds, bound to the link id and an expiry (SHARE_COOKIE_TTL_MS), `HttpOnly; SameSite=Strict; Path=/share/{id}`.
 * The meta node still resolves the link with that password on every request, so a revoked or expired link stops at
 * once; the cookie only spares the page from sending the password again. A gateway restart makes old cookies
 * unreadable (ignored: the page asks again).
 *
 * Differences from /ipfs/: the content is read under the link's access token (resolve hands it out), so a private
 * file is served through its link only, paid by the link's creator; pages link only within /share/{id}/ (never to
 * /ipfs/{cid}, which answers ACCESS_DENIED for a private file and outlives the link). Responses are
 * `Cache-Control: private, no-cache` (a shared cache must not serve a password-protected or revocable link to others;
 * browsers revalidate, which re-checks the link) and `Referrer-Policy: no-referrer` (a `?password=` must not leak to
 * other sites).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { fromBase64Url, toBase64Url } from '../crypto/hash.ts'
import { isStratosError, StratosError } from '../errors.ts'
import { MAX_SHARE_PASSWORD_BYTES, SHARE_COOKIE_TTL_MS } from '../limits.ts'
import { sendJson } from '../net/http-server.ts'
import { systemClock } from '../util/components.ts'
import { SHARE_PATH_PREFIX, type ShareResolution } from '../sds/protocol/api.ts'
import { zShareId } from '../sds/protocol/messages.ts'
import { parseIpfsPath } from '../ipfs/path.ts'
import { gatewayCookie, requestCookie } from './cookies.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'

export { SHARE_PATH_PREFIX }

/** Request header that may carry a share link's password (scripts; browsers use Basic auth). */
export const SHARE_PASSWORD_HEADER = 'x-stratos-share-password'
export const SHARE_CACHE_CONTROL = 'private, no-cache'
/** The cookie that carries a checked share password, sealed (see the file comment). */
export const SHARE_COOKIE = 'stratos-share'
export const SHARE_SESSION_PREFIX = '/api/v1/share-session/'

/** Seals and opens share cookies with a key that lives only in this gateway process. */
export class ShareCookieSeal {
  readonly #key = randomBytes(32)

  seal(id: string, password: string, expiresAt: number): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(id))
    const body = Buffer.concat([cipher.update(JSON.stringify({ p: password, e: expiresAt }), 'utf8'), cipher.final()])
    return toBase64Url(Buffer.concat([iv, body, cipher.getAuthTag()]))
  }

  /** The password, or undefined for a cookie this process did not seal for this link, or one that expired. */
  open(id: string, value: string, now: number): string | undefined {
    try {
      const raw = Buffer.from(fromBase64Url(value))
      if (raw.length < 12 + 16 + 2) return undefined
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12))
      decipher.setAAD(Buffer.from(id))
      decipher.setAuthTag(raw.subarray(raw.length - 16))
      const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()])
      const v = JSON.parse(text.toString('utf8')) as { p?: unknown; e?: unknown }
      if (typeof v.p !== 'string' || typeof v.e !== 'number' || v.e <= now) return undefined
      return v.p
    } catch {
      return undefined
    }
  }
}

/** The gateway routes for /share/{id}[/path] and the share cookie (one seal key per gateway). */
export function shareRoutes(): GatewayRoute[] {
  const seal = new ShareCookieSeal()
  return [
    { name: 'share', path: SHARE_PATH_PREFIX, methods: ['GET', 'HEAD'], handle: (c) => handleShare(c, seal) },
    {
      name: 'share-session',
      path: SHARE_SESSION_PREFIX,
      methods: ['POST', 'DELETE'],
      handle: (c) => handleShareSession(c, seal),
    },
  ]
}

function shareIdOf(raw: string): string {
  if (!zShareId.safeParse(raw).success)
    throw new StratosError('BAD_REQUEST', 'a share link id is 22 base64url characters', { id: raw.slice(0, 100) })
  return raw
}

function shareCookie(id: string, value: string, maxAgeSeconds: number): string {
  return gatewayCookie(SHARE_COOKIE, value, `${SHARE_PATH_PREFIX}${id}`, maxAgeSeconds)
}

/** The sealed value of the request's share cookie (only the link's own is sent: the cookie's path is the link). */
function shareCookieValue(req: IncomingMessage): string | undefined {
  return requestCookie(req, SHARE_COOKIE, (v) => v !== '' && v.length <= 2 * MAX_SHARE_PASSWORD_BYTES + 200)
}

/**
 * POST /api/v1/share-session/{id} with the password in `x-stratos-share-password`: checked at the meta node, then
 * kept as the share cookie. DELETE clears it. Answers { expiresAt }.
 */
async function handleShareSession(c: GatewayContext, seal: ShareCookieSeal): Promise<void> {
  const id = shareIdOf(c.rawPath.slice(SHARE_SESSION_PREFIX.length))
  if (c.method === 'DELETE') {
    c.res.setHeader('set-cookie', shareCookie(id, '', 0))
    sendJson(c.res, 200, { cleared: true })
    return
  }
  const header = c.req.headers[SHARE_PASSWORD_HEADER]
  if (typeof header !== 'string' || header === '')
    throw new StratosError('BAD_REQUEST', `${SHARE_PASSWORD_HEADER} must carry the link's password`)
  const client = c.req.socket.remoteAddress
  // Checked now, so a wrong password never becomes a cookie (the meta node counts the failure against the user).
  await (await c.gateway.client()).meta.resolveShare(
    id,
    { password: header, ...(client === undefined ? {} : { client }) },
    { signal: c.signal },
  )
  const expiresAt = (c.gateway.options.clock ?? systemClock).now() + SHARE_COOKIE_TTL_MS
  c.res.setHeader('set-cookie', shareCookie(id, seal.seal(id, header, expiresAt), SHARE_COOKIE_TTL_MS / 1000))
  c.res.setHeader('cache-control', 'no-store')
  sendJson(c.res, 200, { expiresAt })
}

/** The password a request carries: the dedicated header, Basic auth, the share cookie, then the query. */
export function sharePassword(
  req: IncomingMessage,
  query: URLSearchParams,
  cookie?: { id: string; seal: ShareCookieSeal; now: number },
): string | undefined {
  const header = req.headers[SHARE_PASSWORD_HEADER]
  if (typeof header === 'string' && header !== '') return header
  const auth = req.headers.authorization
  const m = auth === undefined ? null : /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth)
  if (m) {
    const decoded = Buffer.from(m[1], 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const password = colon === -1 ? decoded : decoded.slice(colon + 1)
    if (password !== '') return password
  }
  if (cookie !== undefined) {
    const sealed = shareCookieValue(req)
    const password = sealed === undefined ? undefined : cookie.seal.open(cookie.id, sealed, cookie.now)
    if (password !== undefined) return password
  }
  const fromQuery = query.get('password')
  if (fromQuery !== null && fromQuery !== '') return fromQuery
  return undefined
}

async function handleShare(c: GatewayContext, seal: ShareCookieSeal): Promise<void> {
  const rest = c.rawPath.slice(SHARE_PATH_PREFIX.length)
  const slash = rest.indexOf('/')
  const id = shareIdOf(slash === -1 ? rest : rest.slice(0, slash))
  const subPath = slash === -1 ? '' : rest.slice(slash)

  c.res.setHeader('referrer-policy', 'no-referrer')
  let link: ShareResolution
  try {
    const now = (c.gateway.options.clock ?? systemClock).now()
    const password = sharePassword(c.req, c.url.searchParams, { id, seal, now })
    // `client`: the end user's address, so the meta node limits wrong passwords per user, not per gateway (shares.ts).
    const client = c.req.socket.remoteAddress
    link = await (await c.gateway.client()).meta.resolveShare(
      id,
      { ...(password === undefined ? {} : { password }), ...(client === undefined ? {} : { client }) },
      { signal: c.signal },
    )
  } catch (e) {
    const script = c.req.headers['x-requested-with'] !== undefined
    if (!script && (isStratosError(e, 'PASSWORD_REQUIRED') || isStratosError(e, 'BAD_PASSWORD'))) {
      c.res.setHeader('www-authenticate', `Basic realm="stratos share link ${id}", charset="UTF-8"`)
    }
    throw e
  }
  // The same checks as /ipfs/{cid}/{path} (no "..", no encoded slashes), on the link's CID and the path below it.
  const target = parseIpfsPath(`/ipfs/${link.cid}${subPath}`)
  overrideCacheControl(c.res)
  // Read under the link's access (paid by its creator; private files too), and keep every page's links within the link.
  const contentPath = `${SHARE_PATH_PREFIX}${id}${target.path.map((s) => '/' + encodeURIComponent(s)).join('')}${target.trailingSlash && target.path.length > 0 ? '/' : ''}`
  await c.gateway.paths.serve(
    { req: c.req, res: c.res, url: c.url, head: c.method === 'HEAD', signal: c.signal },
    { ...target, contentPath, dag: await c.gateway.scopedDag(`share.${link.access}`) },
  )
}

/** Makes every response head written from now on carry SHARE_CACHE_CONTROL, whatever the /ipfs handler sets. */
export function overrideCacheControl(res: ServerResponse): void {
  const writeHead = res.writeHead
  res.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    for (const a of args) {
      if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
        const headers = a as OutgoingHttpHeaders
        for (const k of Object.keys(headers)) if (k.toLowerCase() === 'cache-control') delete headers[k]
      }
    }
    this.setHeader('cache-control', SHARE_CACHE_CONTROL)
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args)
  } as typeof res.writeHead
}
