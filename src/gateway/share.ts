/**
 * Share links on the gateway: GET|HEAD /share/{id}[/path].
 *
 * The link is resolved at the meta node (id + password → CID) on every request, so a revoked or expired link stops
 * working at once, and the request is then served exactly like /ipfs/{cid}[/path] by the gateway's own handler
 * (`gateway.paths.serve`: ranges, ETag, content type, directory paths…). The password comes from `?password=`, an
 * `x-stratos-share-password` header, or HTTP Basic auth (any user name). A missing or wrong password answers 401
 * with `WWW-Authenticate: Basic`, so a browser asks for it and then repeats it on every range request of a video —
 * except for a script's request (`X-Requested-With` set, as the wallet portal's share page sends it), which asks for
 * the password in its own form and must not get the browser's login dialog.
 *
 * Differences from /ipfs/: the content is read under the link's access token (resolve hands it out), so a private
 * file is served through its link only, paid by the link's creator; pages link only within /share/{id}/ (never to
 * /ipfs/{cid}, which answers ACCESS_DENIED for a private file and outlives the link). Responses are
 * `Cache-Control: private, no-cache` (a shared cache must not serve a password-protected or revocable link to others;
 * browsers revalidate, which re-checks the link) and `Referrer-Policy: no-referrer` (a `?password=` must not leak to
 * other sites).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { isStratosError, StratosError } from '../errors.ts'
import { SHARE_PATH_PREFIX, type ShareResolution } from '../sds/protocol/api.ts'
import { zShareId } from '../sds/protocol/messages.ts'
import { parseIpfsPath } from '../ipfs/path.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'

export { SHARE_PATH_PREFIX }

/** Request header that may carry a share link's password (scripts; browsers use Basic auth). */
export const SHARE_PASSWORD_HEADER = 'x-stratos-share-password'
export const SHARE_CACHE_CONTROL = 'private, no-cache'

/** The gateway route for /share/{id}[/path]. */
export function shareRoute(): GatewayRoute {
  return { name: 'share', path: SHARE_PATH_PREFIX, methods: ['GET', 'HEAD'], handle: handleShare }
}

/** The password a request carries: query, then the dedicated header, then Basic auth. */
export function sharePassword(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const fromQuery = query.get('password')
  if (fromQuery !== null && fromQuery !== '') return fromQuery
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
  return undefined
}

export async function handleShare(c: GatewayContext): Promise<void> {
  const rest = c.rawPath.slice(SHARE_PATH_PREFIX.length)
  const slash = rest.indexOf('/')
  const id = slash === -1 ? rest : rest.slice(0, slash)
  const subPath = slash === -1 ? '' : rest.slice(slash)
  if (!zShareId.safeParse(id).success)
    throw new StratosError('BAD_REQUEST', 'a share link id is 22 base64url characters', { id: id.slice(0, 100) })

  c.res.setHeader('referrer-policy', 'no-referrer')
  let link: ShareResolution
  try {
    const password = sharePassword(c.req, c.url.searchParams)
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
