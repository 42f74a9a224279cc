/**
 * A wallet's own private files in the browser (the wallet portal's player and downloads, docs/wallet.md):
 *
 *   POST   /api/v1/session                   header x-stratos-access: session.… (the wallet's signed session token,
 *                                             naming this gateway's order key) → sets the SESSION_COOKIE; { address, expiresAt }
 *   DELETE /api/v1/session                   clears it (the portal's lock)
 *   GET|HEAD /api/v1/content/{cid}[/path]    the file as /ipfs/ serves it (ranges, types, ETag), read under the cookie's
 *                                             session: the wallet's own private files, paid by the wallet
 *
 * Why a cookie: a <video> or <img> element cannot send a header, and a token in the URL would sit in logs and
 * history. The cookie is HttpOnly (page scripts cannot read it), SameSite=Strict (another site's page cannot make the
 * browser use it) and scoped to /api/v1/content/. The token is the one the portal signs for the meta node: the meta
 * node verifies it on every read; the gateway checks its signature, chain and order key up front so a bad one fails
 * here. Responses are `Cache-Control: private, no-cache`, never in the shared hot-range cache.
 */
import { fromBase64Url } from '../crypto/hash.ts'
import { StratosError } from '../errors.ts'
import { ACCESS_SESSION_MAX_TTL_MS, CLOCK_SKEW_MS } from '../limits.ts'
import { sendJson } from '../net/http-server.ts'
import { ACCESS_HEADER } from '../sds/protocol/api.ts'
import { zAccessSessionPayload, zWalletSigned } from '../sds/protocol/messages.ts'
import { verifyWalletSigned } from '../sds/protocol/signing.ts'
import { parseIpfsPath } from '../ipfs/path.ts'
import { gatewayCookie, requestCookie } from './cookies.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'
import { overrideCacheControl } from './share.ts'

export const SESSION_COOKIE = 'stratos-session'
export const CONTENT_PREFIX = '/api/v1/content/'
const SESSION_PREFIX = 'session.'
const zSessionToken = zWalletSigned(zAccessSessionPayload)

export function sessionRoutes(): GatewayRoute[] {
  return [
    { name: 'session', path: '/api/v1/session', methods: ['POST', 'DELETE'], handle: handleSession },
    { name: 'content', path: CONTENT_PREFIX, methods: ['GET', 'HEAD'], handle: handleContent },
  ]
}

async function handleSession(c: GatewayContext): Promise<void> {
  if (c.method === 'DELETE') {
    c.res.setHeader('set-cookie', gatewayCookie(SESSION_COOKIE, '', CONTENT_PREFIX, 0))
    sendJson(c.res, 200, { cleared: true })
    return
  }
  const header = c.req.headers[ACCESS_HEADER]
  if (typeof header !== 'string' || !header.startsWith(SESSION_PREFIX))
    throw new StratosError('BAD_REQUEST', `${ACCESS_HEADER} must carry the wallet's session token (session.…)`)
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(fromBase64Url(header.slice(SESSION_PREFIX.length))).toString('utf8'))
  } catch {
    throw new StratosError('BAD_REQUEST', 'the session token is not base64url JSON')
  }
  const parsed = zSessionToken.safeParse(raw)
  if (!parsed.success) throw new StratosError('BAD_REQUEST', 'the session token is not a signed access.session')
  const client = await c.gateway.client()
  const now = Date.now()
  const p = verifyWalletSigned(parsed.data, { chainId: client.chainId, now })
  if (p.orderKey !== client.orderKey)
    throw new StratosError(
      'BAD_REQUEST',
      "the session token must name this gateway's order key (GET /api/v1/edge/params)",
    )
  if (p.expiresAt > now + ACCESS_SESSION_MAX_TTL_MS + CLOCK_SKEW_MS)
    throw new StratosError('BAD_REQUEST', `a session token may live at most ${ACCESS_SESSION_MAX_TTL_MS} ms`)
  c.res.setHeader(
    'set-cookie',
    gatewayCookie(SESSION_COOKIE, header, CONTENT_PREFIX, Math.max(0, Math.floor((p.expiresAt - now) / 1000))),
  )
  sendJson(c.res, 200, { address: p.signer, expiresAt: p.expiresAt })
}

/** The session token in the request's cookie; ACCESS_DENIED without one. */
function sessionOf(c: GatewayContext): string {
  const session = requestCookie(c.req, SESSION_COOKIE, (v) => v.startsWith(SESSION_PREFIX) && v.length <= 4096)
  if (session !== undefined) return session
  throw new StratosError('ACCESS_DENIED', 'unlock the wallet first: no session for private content')
}

async function handleContent(c: GatewayContext): Promise<void> {
  const access = sessionOf(c)
  const target = parseIpfsPath(`/ipfs/${c.rawPath.slice(CONTENT_PREFIX.length)}`)
  overrideCacheControl(c.res)
  const contentPath = `${CONTENT_PREFIX}${target.root.toString()}${target.path.map((s) => '/' + encodeURIComponent(s)).join('')}${target.trailingSlash && target.path.length > 0 ? '/' : ''}`
  await c.gateway.paths.serve(
    { req: c.req, res: c.res, url: c.url, head: c.method === 'HEAD', signal: c.signal },
    { ...target, contentPath, dag: await c.gateway.scopedDag(access) },
  )
}
