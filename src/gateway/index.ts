/**
 * The gateway: a client with a wallet, serving the client-facing HTTP API.
 *
 *   GET|HEAD /ipfs/{cid}[/{path}]  the IPFS path gateway with the trustless formats (path-gateway.ts)
 *   POST     /api/v1/add?name=     uploads the request body (streamed) with the gateway's wallet → { cid, size }
 *   GET      /api/v1/status        the network status (meta node view)
 *   GET      /v1/info              { role: 'gateway', version, chainId, metaUrl, wallet }
 *   GET      /api/v1/stats[?cid=]  response body bytes served, in total and for one CID (stats.ts)
 *   GET|HEAD /share/{id}[/{path}]  a share link: resolved at the meta node, then served as /ipfs/ (share.ts)
 *   GET|HEAD /wallet/…             the wallet portal's page (wallet-app.ts; keys stay in the browser, docs/wallet.md)
 *   …        /api/v1/chain|meta/…  the chain REST and meta APIs relayed for the portal (proxy.ts)
 *   …        /api/v1/edge/…        browser uploads: the browser signs, the gateway codes and places (edge.ts)
 *   …        /api/v1/session, /api/v1/content/{cid}  a wallet's own private files in the browser (session.ts)
 *   …                              routes other modules register (`routes` option or `use()`; see routes.ts)
 *
 * File bytes are read through the hot-range cache (cache.ts: memory + disk under `dataDir/cache`), which the DAG
 * reader (src/ipfs/dag.ts) also uses to rebuild leaf blocks. Errors are `{ error: { code, message } }` with the
 * status from ERROR_CODES; request heads above GATEWAY_MAX_HEADER_BYTES get 431 from node:http. Each client address
 * gets a token bucket (GATEWAY_RATE_PER_SECOND, GATEWAY_RATE_BURST; src/util/rate-limit.ts): past it, 429 RATE_LIMITED
 * with Retry-After, before any other work.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError, toStratosError } from '../errors.ts'
import {
  CLIENT_READ_POOL_BUFFERS,
  GATEWAY_MAX_HEADER_BYTES,
  GATEWAY_READ_BUFFERS_IDLE_MS,
  MAX_SHARD_BYTES,
  GATEWAY_RATE_BURST,
  GATEWAY_RATE_PER_SECOND,
  GATEWAY_SCOPED_READERS,
  SOFTWARE_VERSION,
} from '../limits.ts'
import { StratosClient } from '../sds/client/index.ts'
import { createDagReader, type DagReader } from '../ipfs/dag.ts'
import { parseIpfsPath } from '../ipfs/path.ts'
import { silentLogger, systemClock, type Clock, type Logger, type Startable } from '../util/components.ts'
import { Lru } from '../util/lru.ts'
import { RecyclingBufferPool } from '../util/buffer-pool.ts'
import { RateLimiter, retryAfterOf } from '../util/rate-limit.ts'
import { closeServer, listen, sendError, sendJson } from '../net/http-server.ts'
import { createOps, serveOps, type Ops } from '../net/ops.ts'
import { registerGatewayMetrics } from './metrics.ts'
import { Router, isMethodMiss } from '../net/router.ts'
import { HotRangeCache } from './cache.ts'
import { PathGateway } from './path-gateway.ts'
import { shareRoutes } from './share.ts'
import { edgeRoutes } from './edge.ts'
import { proxyRoutes } from './proxy.ts'
import { sessionRoutes } from './session.ts'
import { walletAppRoute } from './wallet-app.ts'
import { routePatterns, type GatewayContext, type GatewayRoute } from './routes.ts'

export type { GatewayContext, GatewayRoute } from './routes.ts'

export interface GatewayOptions {
  host?: string
  port: number
  metaUrl: string
  /**
   * The chain's REST API (one URL, or several validators' comma-separated), relayed for the wallet portal at
   * /api/v1/chain/ (proxy.ts); without it that relay answers NETWORK_CONFIG.
   */
  chainUrl?: string
  /** The built wallet portal (dist/wallet by default, wallet-app.ts). */
  walletDir?: string
  chainId?: string
  /** Signs uploads; without it the gateway is read-only (POST /api/v1/add answers NETWORK_CONFIG). */
  wallet?: WalletKey
  /** Holds the disk tier of the hot-range cache (cache/); without it the cache is memory-only. */
  dataDir?: string
  /** Cache sizes (defaults GATEWAY_CACHE_MEMORY_BYTES, GATEWAY_CACHE_DISK_BYTES, GATEWAY_CACHE_PIECE_BYTES, GATEWAY_CACHE_STREAM_MIN_BYTES). */
  cache?: { memoryBytes?: number; diskBytes?: number; pieceBytes?: number; streamMinBytes?: number }
  /** Extra routes, tried after the built-in ones. */
  routes?: GatewayRoute[]
  /** Requests per client address (token bucket); `false` turns the limit off. @default GATEWAY_RATE_PER_SECOND, GATEWAY_RATE_BURST */
  rateLimit?: { ratePerSecond?: number; burst?: number } | false
  logger?: Logger
  clock?: Clock
  /** /metrics, /healthz, /readyz and request metrics (default its own, role `gateway`). */
  ops?: Ops
}

export interface GatewayInfo {
  role: 'gateway'
  version: string
  chainId: string | null
  metaUrl: string
  wallet: string | null
}

export class Gateway implements Startable {
  readonly options: GatewayOptions
  /** The hot-range cache every file read goes through. */
  readonly cache: HotRangeCache
  /** The SDK read buffers cold reads stream in (kept GATEWAY_READ_BUFFERS_IDLE_MS, not the SDK's 30 s). */
  readonly #readBuffers = new RecyclingBufferPool(
    CLIENT_READ_POOL_BUFFERS,
    MAX_SHARD_BYTES,
    GATEWAY_READ_BUFFERS_IDLE_MS,
  )
  /** The /ipfs/ handler; other routes call `paths.serve()` to answer with a node of the network. */
  readonly paths: PathGateway
  readonly #server: http.Server
  readonly #log: Logger
  /** Metrics and readiness (served at /metrics, /healthz, /readyz). */
  readonly ops: Ops
  /** Every route's patterns (routes.ts routePatterns), in the one router of src/net. */
  readonly #routes = new Router<GatewayRoute>()
  readonly #limiter: RateLimiter | undefined
  #url: string | undefined
  #client: Promise<StratosClient> | undefined
  #dag: { client: StratosClient; reader: DagReader } | undefined
  #public: { parent: StratosClient; client: StratosClient } | undefined
  readonly #scoped = new Lru<string, { parent: StratosClient; reader: DagReader }>({
    maxEntries: GATEWAY_SCOPED_READERS,
  })

  constructor(options: GatewayOptions) {
    this.options = options
    this.#log = options.logger ?? silentLogger
    this.ops = options.ops ?? createOps('gateway')
    this.cache = new HotRangeCache({
      ...options.cache,
      ...(options.dataDir ? { dir: join(options.dataDir, 'cache') } : {}),
      logger: this.#log,
      source: (file, o) => this.#catFromNetwork(file, o),
      sizeOf: async (file, signal) => (await (await this.publicClient()).stat(file, { signal })).size,
    })
    this.paths = new PathGateway({
      dag: () => this.dag(),
      logger: this.#log,
      prefetch: (file, offset, fileSize) => this.cache.prefetch(file, offset, fileSize),
    })
    const portal = [walletAppRoute(options.walletDir), ...proxyRoutes(), ...edgeRoutes(), ...sessionRoutes()]
    for (const route of [...builtinRoutes(), ...portal, ...(options.routes ?? [])]) this.use(route)
    registerGatewayMetrics(this.ops, { stats: this.paths.stats, cache: this.cache, connect: () => this.client() })
    const rl = options.rateLimit
    this.#limiter =
      rl === false
        ? undefined
        : new RateLimiter(
            { clock: options.clock ?? systemClock },
            {
              ratePerSecond: rl?.ratePerSecond ?? GATEWAY_RATE_PER_SECOND,
              burst: rl?.burst ?? GATEWAY_RATE_BURST,
            },
          )
    this.#server = http.createServer(
      { maxHeaderSize: GATEWAY_MAX_HEADER_BYTES },
      (req, res) => void this.#handle(req, res),
    )
  }

  get url(): string {
    if (!this.#url) throw new StratosError('INTERNAL', 'gateway not started')
    return this.#url
  }

  /** Adds a route. A method already answered on one of its patterns throws (two routes may not claim one request). */
  use(route: GatewayRoute): void {
    for (const pattern of routePatterns(route))
      for (const method of route.methods) this.#routes.on(method, pattern, route)
  }

  async start(): Promise<void> {
    this.#url = await listen(this.#server, this.options.host ?? '127.0.0.1', this.options.port)
    this.#log.info(
      { url: this.#url, metaUrl: this.options.metaUrl, wallet: this.options.wallet?.address ?? null },
      'gateway listening',
    )
  }

  async stop(): Promise<void> {
    await closeServer(this.#server)
    await this.cache.flushed()
    const client = await this.#client?.catch(() => undefined)
    await client?.close()
    this.#readBuffers.clear()
  }

  /** The SDK client, connected to the meta node on first use (and again after a failure), so the gateway starts even if the meta node is down. */
  client(): Promise<StratosClient> {
    let client = this.#client
    if (!client) {
      client = StratosClient.connect({
        metaUrl: this.options.metaUrl,
        wallet: this.options.wallet,
        chainId: this.options.chainId,
      }).catch((e: unknown) => {
        this.#client = undefined
        throw e
      })
      this.#client = client
    }
    return client
  }

  /**
   * The client /ipfs/ reads go through: anonymous, so the gateway serves public files only (paid by their
   * publishers), never its own wallet's private ones (docs/security.md).
   */
  async publicClient(): Promise<StratosClient> {
    const client = await this.client()
    if (this.#public?.parent !== client) this.#public = { parent: client, client: client.withAccess(null) }
    return this.#public.client
  }

  /** The public DAG reader over the network, reading file bytes through the hot-range cache. */
  async dag(): Promise<DagReader> {
    const client = await this.publicClient()
    if (this.#dag?.client !== client) this.#dag = { client, reader: createDagReader({ client, read: this.cache.read }) }
    return this.#dag.reader
  }

  /**
   * A DAG reader under another access (a share link's token): reads bypass the hot-range cache, which serves public
   * content only. Kept per access value (GATEWAY_SCOPED_READERS, least recently used dropped).
   */
  async scopedDag(access: string): Promise<DagReader> {
    const client = await this.client()
    let entry = this.#scoped.get(access)
    if (entry?.parent !== client)
      entry = { parent: client, reader: createDagReader({ client: client.withAccess(access) }) }
    this.#scoped.set(access, entry)
    return entry.reader
  }

  async *#catFromNetwork(
    file: string,
    o: { offset: number; length: number; signal?: AbortSignal; reuseBuffers?: boolean },
  ): AsyncIterable<Uint8Array> {
    const client = await this.publicClient()
    yield* client.cat(file, {
      offset: o.offset,
      length: o.length,
      signal: o.signal,
      ...(o.reuseBuffers ? { reuseBuffers: true, buffers: this.#readBuffers } : {}),
    })
  }

  info(): GatewayInfo {
    return {
      role: 'gateway',
      version: SOFTWARE_VERSION,
      chainId: this.options.chainId ?? null,
      metaUrl: this.options.metaUrl,
      wallet: this.options.wallet?.address ?? null,
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Aborts the transfer behind this request when the HTTP client goes away.
    const controller = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) controller.abort()
    })
    try {
      const target = req.url ?? '/'
      const q = target.indexOf('?')
      const rawPath = q === -1 ? target : target.slice(0, q)
      // Scrapes and probes are not client traffic: no rate limit.
      if (serveOps(this.ops, req, res, rawPath)) return
      const method = req.method ?? 'GET'
      const found = this.#routes.find(method, rawPath)
      this.ops.metrics.observe(req, res, found && !isMethodMiss(found) ? found.pattern : 'unmatched')
      // Per client address, before any work: a stranger's flood of reads must not spend the owners' traffic or our CPU.
      this.#limiter?.check(req.socket.remoteAddress ?? 'unknown')
      if (!target.startsWith('/')) throw new StratosError('BAD_REQUEST', 'request target must be a path')
      if (!found) throw new StratosError('NOT_FOUND', `no route ${method} ${rawPath.slice(0, 200)}`)
      if (isMethodMiss(found)) {
        res.setHeader('allow', found.allow)
        throw new StratosError('METHOD_NOT_ALLOWED', `use ${found.allow}`)
      }
      const route = found.handler
      let url: URL
      try {
        url = new URL(target, 'http://gateway')
      } catch {
        throw new StratosError('BAD_REQUEST', 'malformed request target')
      }
      await route.handle({ req, res, url, rawPath, method, signal: controller.signal, gateway: this })
    } catch (e) {
      const err = toStratosError(e)
      if (err.code === 'INTERNAL') this.#log.error({ err: e, url: req.url }, 'request failed')
      else this.#log.debug({ code: err.code, url: req.url }, 'request refused')
      // The body was not read (error before or during an upload): do not keep the socket.
      if (!req.complete) res.setHeader('connection', 'close')
      const retryAfter = retryAfterOf(err)
      if (retryAfter !== undefined && !res.headersSent) res.setHeader('retry-after', String(retryAfter))
      sendError(res, err)
    }
  }
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const g = new Gateway(options)
  await g.start()
  return g
}

// ---- built-in routes ---------------------------------------------------------------------------------

function builtinRoutes(): GatewayRoute[] {
  return [
    { name: 'ipfs', path: '/ipfs/', methods: ['GET', 'HEAD'], handle: serveIpfsPath },
    { name: 'add', path: '/api/v1/add', methods: ['POST'], handle: add },
    {
      name: 'status',
      path: '/api/v1/status',
      methods: ['GET'],
      handle: async (c) => sendJson(c.res, 200, await (await c.gateway.client()).status({ signal: c.signal })),
    },
    { name: 'info', path: '/v1/info', methods: ['GET'], handle: (c) => sendJson(c.res, 200, c.gateway.info()) },
    // Response body bytes served (stats.ts): { bytesServed }, plus { cid, bytes } with ?cid=.
    {
      name: 'stats',
      path: '/api/v1/stats',
      methods: ['GET'],
      handle: (c) => sendJson(c.res, 200, c.gateway.paths.stats.view(c.url.searchParams.get('cid') ?? undefined)),
    },
    ...shareRoutes(),
  ]
}

async function serveIpfsPath(c: GatewayContext): Promise<void> {
  const target = parseIpfsPath(c.rawPath)
  await c.gateway.paths.serve(
    { req: c.req, res: c.res, url: c.url, head: c.method === 'HEAD', signal: c.signal },
    target,
  )
}

async function add(c: GatewayContext): Promise<void> {
  const { gateway, url, req, res, signal } = c
  if (!gateway.options.wallet)
    throw new StratosError(
      'NETWORK_CONFIG',
      'this gateway has no wallet (start it with STRATOS_MNEMONIC set); it is read-only',
    )
  const q = url.searchParams
  const name = q.get('name') ?? undefined
  if (name !== undefined && (name.length === 0 || name.length > 255))
    throw new StratosError('BAD_REQUEST', 'name must be 1–255 characters')
  const cidVersion = q.get('cid-version') ?? '0'
  if (cidVersion !== '0' && cidVersion !== '1') throw new StratosError('BAD_REQUEST', 'cid-version must be 0 or 1')
  const rawLeaves = q.get('raw-leaves')
  const client = await gateway.client()
  // Gateway content is public (docs/security.md): anyone may read it, paid by the gateway's wallet.
  const result = await client.put(req as AsyncIterable<Uint8Array>, {
    public: true,
    name,
    cidVersion: cidVersion === '1' ? 1 : 0,
    rawLeaves: rawLeaves === null ? undefined : rawLeaves === 'true' || rawLeaves === '1',
    signal,
  })
  sendJson(res, 200, { cid: result.cid, size: result.size })
}
