/**
 * The operations endpoints every role serves on its own port, beside its API: GET /metrics (Prometheus text,
 * metrics.ts), GET /healthz (liveness: 200 while the process answers) and GET /readyz (200 when every readiness
 * check passes, 503 with the failing checks otherwise; health.ts). A server calls serveOps() before its own routing
 * and observes every other request through `ops.metrics`; a new server (the S3 gateway) does the same with the
 * role's Ops, so its endpoints and request metrics come for free.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendError, sendJson } from './http-server.ts'
import { Health } from './health.ts'
import { Metrics } from './metrics.ts'

export const OPS_ROUTES = { metrics: '/metrics', healthz: '/healthz', readyz: '/readyz' } as const

export interface Ops {
  readonly metrics: Metrics
  readonly health: Health
}

/** A role's Ops: its metrics (labelled `role`) and its readiness checks. */
export function createOps(role: string): Ops {
  return { metrics: new Metrics(role), health: new Health() }
}

/** Answers GET/HEAD of an ops route and returns true; any other request returns false untouched. */
export function serveOps(ops: Ops, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path !== OPS_ROUTES.metrics && path !== OPS_ROUTES.healthz && path !== OPS_ROUTES.readyz) return false
  if (req.method !== 'GET' && req.method !== 'HEAD') return false
  ops.metrics.observe(req, res, path)
  void answer(ops, res, path).catch((e: unknown) => sendError(res, e))
  return true
}

async function answer(ops: Ops, res: ServerResponse, path: string): Promise<void> {
  if (path === OPS_ROUTES.healthz) return sendJson(res, 200, { status: 'ok', role: ops.metrics.role })
  if (path === OPS_ROUTES.readyz) {
    const r = await ops.health.readiness()
    return sendJson(res, r.ready ? 200 : 503, { ...r, role: ops.metrics.role })
  }
  const { contentType, text } = await ops.metrics.scrape()
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
