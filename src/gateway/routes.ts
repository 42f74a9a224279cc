/**
 * How the gateway dispatches requests: routes, each owning an exact path or a path prefix, found by the one router
 * of src/net (router.ts). Built-in routes (/ipfs/, /api/v1/…, /v1/info) and share links are registered first;
 * modules add theirs with `Gateway.use(route)` or `GatewayOptions.routes`. A route throws StratosError for refusals; the gateway turns it into the JSON error reply.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gateway } from './index.ts'

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS'

export interface GatewayContext {
  req: IncomingMessage
  res: ServerResponse
  /** Parsed request URL (path not normalized: use `rawPath` to see exactly what was sent). */
  url: URL
  /** The request path as sent, before percent-decoding and dot-segment removal. */
  rawPath: string
  method: string
  /** Aborted when the HTTP client goes away. */
  signal: AbortSignal
  gateway: Gateway
}

export interface GatewayRoute {
  /** For logs. */
  name: string
  /** An exact path ('/api/v1/add') or, ending in '/', a prefix ('/share/'). */
  path: string
  /** Methods answered; others get 405 with Allow. */
  methods: HttpMethod[]
  handle(ctx: GatewayContext): Promise<void> | void
}

/**
 * The src/net/router.ts patterns of a route: an exact path is itself; a prefix 'P/' is 'P' and 'P/*rest' (the rest
 * as sent, which the handler reads from `rawPath`). Literal paths win over prefixes.
 */
export function routePatterns(route: GatewayRoute): string[] {
  if (!route.path.endsWith('/')) return [route.path]
  return route.path === '/' ? ['/*rest'] : [route.path.slice(0, -1), `${route.path}*rest`]
}
