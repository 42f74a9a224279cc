/**
 * The meta node's HTTP API (META_ROUTES) on node:http.
 *
 * node:http rather than fastify: the read route is on the critical path of every download (a range read's first
 * byte waits for its tickets), and a plain handler found by a table lookup (src/net/router.ts) adds nothing to it. Every body, parameter
 * and query is validated with the contract's zod schemas (400 BAD_REQUEST, issues in `details`); JSON bodies are
 * bounded by MAX_JSON_BODY_BYTES (413); unknown paths answer 404 NOT_FOUND and known paths with another method
 * 405 METHOD_NOT_ALLOWED; every error is ErrorBody JSON with its code's status.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { z } from 'zod'
import { StratosError, toStratosError } from '../../errors.ts'
import { MAX_JSON_BODY_BYTES } from '../../limits.ts'
import { Router, isMethodMiss, type RouteParams } from '../../net/router.ts'
import type { Logger } from '../../util/components.ts'
import { readJsonBody, sendError, sendJson, sendJsonText } from '../../net/http-server.ts'
import { createOps, serveOps, type Ops } from '../../net/ops.ts'
import {
  META_ROUTES,
  zCidParam,
  zCommitBody,
  zCreateUploadBody,
  zDeleteBody,
  zListQuery,
  zPlanSegmentBody,
  zReadBody,
  zReplaceShardBody,
  zUploadIdParam,
  type MetaInfo,
  type NetworkStatus,
} from '../protocol/api.ts'
import { zSignedHeartbeat } from '../protocol/messages.ts'
import type { SignedHeartbeatT } from '../protocol/types.ts'
import type { Files } from './files.ts'
import type { Registry } from './registry.ts'
import type { Uploads } from './uploads.ts'
import { JsonText } from './record-cache.ts'
import type { Shares } from './shares.ts'
import type { Settlement } from './pot/settlement.ts'
import type { TrafficViews } from './pot/traffic.ts'
import { zSettleOrdersBody, zTrafficNodesQuery, type SettleOrdersBody } from '../protocol/api.ts'
import { zSignedMaintenance, type SignedMaintenance } from '../protocol/audit.ts'
import type { NodeView } from '../protocol/api.ts'
import {
  ACCESS_HEADER,
  zAbortUploadBody,
  zBudgetBody,
  zBudgetListBody,
  zGrantCreateBody,
  zGrantIdParam,
  zGrantListBody,
  zGrantRevokeBody,
  zVisibilityBody,
} from '../protocol/api.ts'
import type { Access, Accessor } from './access.ts'
import type { Grants } from './grants.ts'
import type { Delegations } from './delegations.ts'
import {
  DELEGATION_ROUTES,
  zDelegationCreateBody,
  zDelegationIdParam,
  zDelegationListBody,
  zDelegationRevokeBody,
} from '../protocol/api.ts'
import {
  SHARE_ROUTES,
  zShareCreateBody,
  zShareIdParam,
  zShareListBody,
  zShareResolveBody,
  zShareRevokeBody,
} from '../protocol/api.ts'

/** Most validation issues echoed in a 400's details. */
const MAX_ISSUES_LISTED = 20

export interface MetaApi {
  info(): MetaInfo
  status(): Promise<NetworkStatus>
  registry: Registry
  uploads: Uploads
  files: Files
  shares: Shares
  /** Proof of Traffic: order settlement and traffic views (pot/). */
  settlement: Settlement
  traffic: TrafficViews
  /** Planned downtime of a resource node (audit/maintenance.ts); absent: the route answers NOT_FOUND. */
  maintenance?: (msg: SignedMaintenance) => Promise<NodeView>
  /** Who a request acts for (ACCESS_HEADER) and what it may see (access.ts). */
  access: Access
  grants: Grants
  /** Wallets' delegations to delegate keys (delegations.ts). */
  delegations: Delegations
}

type Method = 'GET' | 'POST' | 'DELETE'

interface RequestContext {
  params: RouteParams
  query: Record<string, string>
  /** Parsed JSON body (POST and DELETE routes); undefined when the request has none. */
  body: unknown
  signal: AbortSignal
  /** Who the request acts for (its ACCESS_HEADER), identified on first call. */
  accessor: () => Accessor
  /** The caller's network address (share-link password attempts are counted per client). */
  remoteAddress: string | undefined
}

type Handler = (ctx: RequestContext) => unknown

/** Parses with a contract schema; BAD_REQUEST with a summary of the issues otherwise. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issues = r.error.issues
    .slice(0, MAX_ISSUES_LISTED)
    .map((i) => ({ path: i.path.map(String).join('.'), code: i.code, message: i.message }))
  throw new StratosError(
    'BAD_REQUEST',
    `invalid ${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    { issues, issueCount: r.error.issues.length },
  )
}

function buildRoutes(api: MetaApi): Router<Handler> {
  const table: [string, Method, Handler][] = [
    [META_ROUTES.info, 'GET', () => api.info()],
    [
      META_ROUTES.heartbeat,
      'POST',
      (c) => api.registry.heartbeat(validate(zSignedHeartbeat, c.body, 'heartbeat') as SignedHeartbeatT),
    ],
    [META_ROUTES.nodes, 'GET', () => ({ nodes: api.registry.views() })],
    [META_ROUTES.status, 'GET', () => api.status()],
    [
      META_ROUTES.uploads,
      'POST',
      (c) => api.uploads.create(validate(zCreateUploadBody, c.body, 'create-upload request')),
    ],
    [
      META_ROUTES.planSegment,
      'POST',
      (c) => api.uploads.plan(uploadId(c), validate(zPlanSegmentBody, c.body, 'segment plan')),
    ],
    [
      META_ROUTES.replaceShard,
      'POST',
      async (c) => ({
        placement: await api.uploads.replace(uploadId(c), validate(zReplaceShardBody, c.body, 'replace request')),
      }),
    ],
    [
      META_ROUTES.commit,
      'POST',
      async (c) => ({ file: await api.uploads.commit(uploadId(c), validate(zCommitBody, c.body, 'commit'), c.signal) }),
    ],
    [
      META_ROUTES.abort,
      'DELETE',
      async (c) => {
        await api.uploads.abort(uploadId(c), validate(zAbortUploadBody, c.body ?? {}, 'abort request'))
        return { aborted: true }
      },
    ],
    [META_ROUTES.files, 'GET', (c) => api.files.list(validate(zListQuery, c.query, 'query'), c.accessor())],
    [META_ROUTES.file, 'GET', (c) => api.files.getJson(cidParam(c), c.accessor())],
    [META_ROUTES.fileDag, 'GET', async (c) => ({ blocks: await api.files.dag(cidParam(c), c.accessor()) })],
    [
      META_ROUTES.read,
      'POST',
      (c) => api.files.readJson(cidParam(c), validate(zReadBody, c.body ?? {}, 'read request'), c.accessor()),
    ],
    [META_ROUTES.blocks, 'GET', (c) => api.files.blockHolders(cidParam(c), c.accessor())],
    [
      META_ROUTES.visibility,
      'POST',
      (c) => api.files.setVisibility(cidParam(c), validate(zVisibilityBody, c.body, 'visibility request')),
    ],
    [META_ROUTES.budgets, 'POST', (c) => api.files.setBudget(validate(zBudgetBody, c.body, 'budget request'))],
    [
      META_ROUTES.budgetList,
      'POST',
      (c) => api.files.listBudgets(validate(zBudgetListBody, c.body, 'budget list request')),
    ],
    [META_ROUTES.grants, 'POST', (c) => api.grants.create(validate(zGrantCreateBody, c.body, 'grant request'))],
    [META_ROUTES.grantList, 'POST', (c) => api.grants.list(validate(zGrantListBody, c.body, 'grant list request'))],
    [
      META_ROUTES.grantRevoke,
      'POST',
      (c) =>
        api.grants.revoke(
          validate(zGrantIdParam, c.params, 'grant id').id,
          validate(zGrantRevokeBody, c.body, 'grant revoke request'),
        ),
    ],
    [
      META_ROUTES.deleteFile,
      'POST',
      (c) => api.files.delete(cidParam(c), validate(zDeleteBody, c.body, 'delete request')),
    ],
    [
      META_ROUTES.settleOrders,
      'POST',
      (c) =>
        api.settlement.settle(validate(zSettleOrdersBody, c.body, 'settlement batch') as SettleOrdersBody, c.signal),
    ],
    [META_ROUTES.trafficNodes, 'GET', (c) => api.traffic.nodes(validate(zTrafficNodesQuery, c.query, 'query'))],
    [
      META_ROUTES.fileTraffic,
      'GET',
      async (c) => {
        await api.files.assertOwner(cidParam(c), c.accessor())
        return api.traffic.file(cidParam(c))
      },
    ],
    ...shareRoutes(api.shares),
    ...delegationRoutes(api.delegations),
    [
      META_ROUTES.maintenance,
      'POST',
      (c) => {
        if (!api.maintenance) throw new StratosError('NOT_FOUND', 'this meta node takes no maintenance requests')
        return api.maintenance(validate(zSignedMaintenance, c.body, 'maintenance request') as SignedMaintenance)
      },
    ],
  ]
  const routes = new Router<Handler>()
  for (const [path, method, handler] of table) routes.on(method, path, handler)
  return routes
}

/** Share links (shares.ts): create, list and revoke are wallet-signed; resolve is open (id + password). */
function shareRoutes(shares: Shares): [string, Method, Handler][] {
  const id = (c: RequestContext): string => validate(zShareIdParam, c.params, 'share id').id
  return [
    [SHARE_ROUTES.create, 'POST', (c) => shares.create(validate(zShareCreateBody, c.body, 'share request'))],
    [SHARE_ROUTES.list, 'POST', (c) => shares.list(validate(zShareListBody, c.body, 'share list request'))],
    [
      SHARE_ROUTES.revoke,
      'POST',
      (c) => shares.revoke(id(c), validate(zShareRevokeBody, c.body, 'share revoke request')),
    ],
    [
      SHARE_ROUTES.resolve,
      'POST',
      (c) =>
        shares.resolve(id(c), validate(zShareResolveBody, c.body ?? {}, 'share resolve request'), {
          address: c.remoteAddress,
        }),
    ],
  ]
}

/** Delegations (delegations.ts): create, list and revoke are wallet-signed (never delegated); get is open. */
function delegationRoutes(delegations: Delegations): [string, Method, Handler][] {
  const id = (c: RequestContext): string => validate(zDelegationIdParam, c.params, 'delegation id').id
  return [
    [
      DELEGATION_ROUTES.create,
      'POST',
      (c) => delegations.create(validate(zDelegationCreateBody, c.body, 'delegation request')),
    ],
    [
      DELEGATION_ROUTES.list,
      'POST',
      (c) => delegations.list(validate(zDelegationListBody, c.body, 'delegation list request')),
    ],
    [DELEGATION_ROUTES.get, 'GET', (c) => delegations.get(id(c))],
    [
      DELEGATION_ROUTES.revoke,
      'POST',
      (c) => delegations.revoke(id(c), validate(zDelegationRevokeBody, c.body, 'delegation revoke request')),
    ],
  ]
}

function uploadId(c: RequestContext): string {
  return validate(zUploadIdParam, c.params, 'upload id').id
}

function cidParam(c: RequestContext): string {
  return validate(zCidParam, c.params, 'CID').cid
}

export interface MetaServer {
  server: http.Server
  /** Resolves when every request handler that started has finished (call after the server stopped accepting). */
  drain(): Promise<void>
}

export function createMetaServer(api: MetaApi, logger: Logger, ops: Ops = createOps('meta')): MetaServer {
  const routes = buildRoutes(api)
  const inFlight = new Set<Promise<void>>()

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const ac = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) ac.abort()
    })
    try {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      if (serveOps(ops, req, res, path)) return
      const found = routes.find(
        req.method ?? 'GET',
        path.length > 1 && path.endsWith('/') ? path.replace(/\/+$/, '') : path,
      )
      ops.metrics.observe(req, res, found && !isMethodMiss(found) ? found.pattern : 'unmatched')
      if (!found) throw new StratosError('NOT_FOUND', `no route ${req.method} ${path}`)
      if (isMethodMiss(found)) {
        res.setHeader('allow', found.allow)
        throw new StratosError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`, {
          allow: found.methods,
        })
      }
      const handler = found.handler
      const body =
        req.method === 'POST' || req.method === 'DELETE' ? await readJsonBody(req, MAX_JSON_BODY_BYTES) : undefined
      const query = q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1)))
      // Identified before the handler runs, without blocking (a grant or share token is looked up in the index: an
      // async read on PostgreSQL); a refusal is only raised if the route asks who is calling.
      const header = req.headers[ACCESS_HEADER]
      let accessor: Accessor | undefined
      let refused: { error: unknown } | undefined
      if (header !== undefined && header !== '')
        accessor = await api.access.identifyAsync(header).catch((error: unknown) => {
          refused = { error }
          return undefined
        })
      const identify = (): Accessor => {
        if (refused) throw refused.error
        return (accessor ??= api.access.identify(header))
      }
      const result = await handler({
        params: found.params,
        query,
        body,
        signal: ac.signal,
        accessor: identify,
        remoteAddress: req.socket.remoteAddress,
      })
      if (result instanceof JsonText) sendJsonText(res, 200, result.text)
      else sendJson(res, 200, result)
    } catch (e) {
      const err = toStratosError(e)
      if (err.httpStatus >= 500 && err.code !== 'NOT_ENOUGH_NODES')
        logger.error({ err: e, method: req.method, url: req.url }, 'meta request failed')
      else logger.debug({ code: err.code, method: req.method, url: req.url }, 'meta request refused')
      // We stopped reading an oversized body midway: do not leave the connection to drain it. (Other unread bodies
      // are small and node:http discards them, keeping the connection alive.)
      if (err.code === 'PAYLOAD_TOO_LARGE' && !res.headersSent) res.setHeader('connection', 'close')
      sendError(res, err)
    }
  }

  const server = http.createServer((req, res) => {
    const p = handle(req, res)
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  })
  return {
    server,
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    },
  }
}
