/**
 * How the gateway dispatches requests: an ordered list of routes, each owning a path prefix. Built-in routes
 * (/ipfs/, /api/v1/…, /v1/info) come first; modules add theirs with `Gateway.use(route)` or `GatewayOptions.routes`
 * (e.g. share links). A route throws StratosError for refusals; the gateway turns it into the JSON error reply.
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

export function routeMatches(route: GatewayRoute, path: string): boolean {
  return route.path.endsWith('/') ? path.startsWith(route.path) || path === route.path.slice(0, -1) : path === route.path
}
