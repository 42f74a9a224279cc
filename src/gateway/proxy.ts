/**
 * The chain's REST API and the meta node's API under the gateway's own origin, for the wallet portal
 * (docs/wallet.md): the portal's page is served by the gateway, so relaying these keeps every request same-origin
 * (no CORS on the chain or the meta node, one address for a person to open).
 *
 *   GET|HEAD /api/v1/chain/{path}      → {chainUrl}/{path}          (every read of the REST API, SSE included)
 *   POST     /api/v1/chain/txs[/batch] → {chainUrl}/txs[/batch]     (signed in the browser)
 *   …        /api/v1/meta/{path}       → {metaUrl}/{path}           (only META_ALLOWED: what the portal uses)
 *
 * A relay adds no authority: each request is signed in the browser (txs, wallet requests) or carries the browser's
 * own session token, and the upstream checks it as it would from anyone. Share-link resolution is not relayed: the
 * meta node trusts the gateway's word for the end user's address there (shares.ts), so it stays at /share/{id}.
 * Request bodies are read first, bounded (GATEWAY_PROXY_MAX_BODY_BYTES); replies are streamed. A chain URL may list
 * several validators, comma-separated (tried in order while unreachable); none reachable is NODE_UNAVAILABLE.
 */
import { pipeline } from 'node:stream/promises'
import { request } from 'undici'
import { StratosError } from '../errors.ts'
import { GATEWAY_PROXY_MAX_BODY_BYTES } from '../limits.ts'
import { ACCESS_HEADER } from '../sds/protocol/api.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'

export const CHAIN_PROXY_PREFIX = '/api/v1/chain/'
export const META_PROXY_PREFIX = '/api/v1/meta/'

/** Meta routes the portal uses, by method: patterns of META_ROUTES / SHARE_ROUTES ('*' stands for one segment). */
const META_ALLOWED: Record<string, RegExp[]> = {
  GET: [
    /^\/v1\/(info|status|nodes|files|traffic\/nodes)$/,
    /^\/v1\/files\/[A-Za-z0-9]+$/,
    /^\/v1\/files\/[A-Za-z0-9]+\/traffic$/,
  ],
  POST: [
    /^\/v1\/files\/[A-Za-z0-9]+\/(delete|visibility)$/,
    /^\/v1\/shares(\/list)?$/,
    /^\/v1\/shares\/[A-Za-z0-9_-]+\/revoke$/,
    /^\/v1\/uploads$/,
    /^\/v1\/uploads\/[A-Za-z0-9_-]+\/commit$/,
  ],
}
const CHAIN_POST = /^\/txs(\/batch)?$/

const FORWARDED_REQUEST_HEADERS = ['content-type', 'content-length', 'accept', 'last-event-id', ACCESS_HEADER]
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'content-length', 'cache-control', 'retry-after', 'allow']

export function proxyRoutes(): GatewayRoute[] {
  return [
    {
      name: 'chain-proxy',
      path: CHAIN_PROXY_PREFIX,
      methods: ['GET', 'HEAD', 'POST'],
      handle: (c) => {
        const base = c.gateway.options.chainUrl
        if (!base)
          throw new StratosError('NETWORK_CONFIG', 'this gateway was started without --chain-url: no chain to relay to')
        const path = '/' + c.rawPath.slice(CHAIN_PROXY_PREFIX.length)
        if (c.method === 'POST' && !CHAIN_POST.test(path))
          throw new StratosError('METHOD_NOT_ALLOWED', 'only POST /txs and /txs/batch are relayed to the chain')
        return relay(c, base, path)
      },
    },
    {
      name: 'meta-proxy',
      path: META_PROXY_PREFIX,
      methods: ['GET', 'HEAD', 'POST'],
      handle: (c) => {
        const path = '/' + c.rawPath.slice(META_PROXY_PREFIX.length)
        const method = c.method === 'HEAD' ? 'GET' : c.method
        if (!(META_ALLOWED[method] ?? []).some((r) => r.test(path)))
          throw new StratosError(
            'NOT_FOUND',
            `the gateway does not relay ${c.method} ${path.slice(0, 100)} to the meta node`,
          )
        return relay(c, c.gateway.options.metaUrl, path)
      },
    },
  ]
}

async function relay(c: GatewayContext, bases: string, path: string): Promise<void> {
  const q = c.url.search
  const headers: Record<string, string> = {}
  for (const h of FORWARDED_REQUEST_HEADERS) {
    const v = c.req.headers[h]
    if (typeof v === 'string') headers[h] = v
  }
  // A body is read first (bounded), so the request can go to the next URL when one cannot be reached.
  let body: Buffer | undefined
  if (c.method === 'POST') {
    const declared = c.req.headers['content-length']
    if (declared === undefined) throw new StratosError('BAD_REQUEST', 'a relayed body needs a Content-Length')
    if (Number(declared) > GATEWAY_PROXY_MAX_BODY_BYTES)
      throw new StratosError('PAYLOAD_TOO_LARGE', `a relayed body is at most ${GATEWAY_PROXY_MAX_BODY_BYTES} bytes`, {
        limit: GATEWAY_PROXY_MAX_BODY_BYTES,
      })
    const parts: Buffer[] = []
    let total = 0
    for await (const chunk of c.req as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > GATEWAY_PROXY_MAX_BODY_BYTES)
        throw new StratosError('PAYLOAD_TOO_LARGE', `a relayed body is at most ${GATEWAY_PROXY_MAX_BODY_BYTES} bytes`, {
          limit: GATEWAY_PROXY_MAX_BODY_BYTES,
        })
      parts.push(chunk)
    }
    body = Buffer.concat(parts)
  }
  // Several comma-separated URLs (a devnet with several validators): each is tried once, in order.
  const urls = bases
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u !== '')
  let upstream: Awaited<ReturnType<typeof request>> | undefined
  let lastError: unknown
  for (const base of urls) {
    try {
      upstream = await request(base + path + q, {
        method: c.method as 'GET' | 'HEAD' | 'POST',
        headers,
        body,
        signal: c.signal,
        // Long polls (/txs/:hash/wait) and block events run as long as the browser keeps them.
        bodyTimeout: 0,
      })
      break
    } catch (e) {
      if (c.signal.aborted) throw e
      lastError = e
    }
  }
  if (!upstream)
    throw new StratosError('NODE_UNAVAILABLE', `cannot reach ${urls.map((u) => new URL(u).host).join(', ')}`, {
      upstream: urls,
      reason: (lastError as Error | undefined)?.message,
    })
  const out: Record<string, string | string[]> = {}
  for (const h of FORWARDED_RESPONSE_HEADERS) {
    const v = upstream.headers[h]
    if (v !== undefined) out[h] = v
  }
  c.res.writeHead(upstream.statusCode, out)
  if (c.method === 'HEAD') {
    upstream.body.resume()
    c.res.end()
    return
  }
  await pipeline(upstream.body, c.res)
}
