/**
 * The Kubo-compatible RPC API server: `POST /api/v0/<command>` on node:http (127.0.0.1:5001 by default); commands
 * are found by src/net/router.ts.
 *
 * Request handling follows go-ipfs-cmds' HTTP handler: OPTIONS → 204, GET/HEAD/others → 405 (text),
 * a request with an `Origin` (or `Referer`) not in `allowedOrigins` → 403 (browsers must not drive the
 * wallet behind this API), an unknown command → 404 "404 page not found"; then the query is parsed
 * (params.ts) and the command runs. Errors are Kubo's JSON (kubo-error.ts).
 *
 * Each client address gets a token bucket (RPC_RATE_PER_SECOND, RPC_RATE_BURST; src/util/rate-limit.ts): past it,
 * 429 with Retry-After and Kubo's error body plus `"StratosCode":"RATE_LIMITED"`, before any other work.
 *
 * The API is a client with a wallet: uploads are signed with it and traffic is charged to it. The SDK
 * client (and the DAG reader over it) connect to the meta node on first use, so the API starts even if
 * the meta node is not up yet.
 */
import { createOps, serveOps, type Ops } from '../../net/ops.ts'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdirSync } from 'node:fs'
import { base58btc } from 'multiformats/bases/base58'
import { StratosError, toStratosError } from '../../errors.ts'
import { RPC_MAX_HEADER_BYTES, RPC_MAX_SMALL_BODY_BYTES, RPC_RATE_BURST, RPC_RATE_PER_SECOND } from '../../limits.ts'
import { NodeKey } from '../../crypto/node-key.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import { StratosClient } from '../../sds/client/index.ts'
import { silentLogger, systemClock, type Clock, type Logger, type Startable } from '../../util/components.ts'
import { closeServer, listen } from '../../net/http-server.ts'
import { Router } from '../../net/router.ts'
import { RateLimiter, rateLimitedError, retryAfterOf } from '../../util/rate-limit.ts'
import { createDagReader, type DagReader } from '../dag.ts'
import { COMMANDS, type ApiComponents, type Command } from './commands.ts'
import { KUBO_ERR_CLIENT, kuboBody, sendKuboError, sendPlain } from './kubo-error.ts'
import { parseRequest } from './params.ts'
import { PinStore } from './pins.ts'
import { GarbageCollector, type GcInit } from './gc.ts'

export const API_PREFIX = '/api/v0/'

/**
 * The commands as routes of the one router (src/net/router.ts): POST /api/v0/<command>. Only POST is looked up:
 * OPTIONS, other methods and the origin check answer for every path under the prefix first, as Kubo does.
 */
const COMMAND_ROUTES = new Router<Command>()
for (const [name, cmd] of Object.entries(COMMANDS)) COMMAND_ROUTES.on('POST', API_PREFIX + name, cmd)

export interface IpfsRpcApiOptions {
  host?: string
  port: number
  metaUrl: string
  chainId?: string
  /** Signs uploads and deletes; without it `add` works only with `only-hash` and pins are never deleted from the network. */
  wallet?: WalletKey
  /** Holds the pin set (pins.json) and the API's peer identity (node-key.json). */
  dataDir: string
  /** Browser origins allowed to call the API (Kubo's API.HTTPHeaders Access-Control-Allow-Origin); default none. */
  allowedOrigins?: string[]
  logger?: Logger
  clock?: Clock
  /** Use this SDK client instead of connecting one (tests, a process that already has one). */
  client?: StratosClient
  /** Requests per client address (token bucket); `false` turns the limit off. @default RPC_RATE_PER_SECOND, RPC_RATE_BURST */
  rateLimit?: { ratePerSecond?: number; burst?: number } | false
  /** Garbage collection of what the API stored and no pin keeps (gc.ts). @default RPC_GC_GRACE_MS, RPC_GC_INTERVAL_MS */
  gc?: GcInit
  /** /metrics, /healthz, /readyz and request metrics (the gateway process shares its Ops; default its own, role `gateway`). */
  ops?: Ops
}

/** A libp2p peer id (identity multihash of the protobuf ed25519 public key) and that key, base64. */
function peerIdentity(key: NodeKey): { id: string; publicKey: string } {
  const pb = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, 0x20]), Buffer.from(key.publicKey)])
  const mh = Buffer.concat([Buffer.from([0x00, pb.length]), pb])
  return { id: base58btc.baseEncode(mh), publicKey: pb.toString('base64') }
}

async function drainSmallBody(req: IncomingMessage): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > RPC_MAX_SMALL_BODY_BYTES)
    throw new StratosError(
      'PAYLOAD_TOO_LARGE',
      `body of ${declared} bytes exceeds the ${RPC_MAX_SMALL_BODY_BYTES}-byte limit`,
    )
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > RPC_MAX_SMALL_BODY_BYTES)
      throw new StratosError('PAYLOAD_TOO_LARGE', `body exceeds the ${RPC_MAX_SMALL_BODY_BYTES}-byte limit`)
  }
}

export class IpfsRpcApi implements Startable {
  readonly options: IpfsRpcApiOptions
  readonly pins: PinStore
  readonly gc: GarbageCollector
  readonly peerId: string
  readonly #server: http.Server
  readonly #log: Logger
  readonly #ops: Ops
  readonly #components: ApiComponents
  #url: string | undefined
  #client: Promise<StratosClient> | undefined
  #dag: Promise<DagReader> | undefined
  #streamDag: Promise<DagReader> | undefined
  readonly #ownsClient: boolean
  readonly #limiter: RateLimiter | undefined

  constructor(options: IpfsRpcApiOptions) {
    this.options = options
    this.#log = options.logger ?? silentLogger
    this.#ops = options.ops ?? createOps('gateway')
    mkdirSync(options.dataDir, { recursive: true })
    this.pins = PinStore.open(options.dataDir)
    const peer = peerIdentity(NodeKey.loadOrCreate(options.dataDir))
    this.peerId = peer.id
    this.#ownsClient = !options.client
    if (options.client) this.#client = Promise.resolve(options.client)
    const clock = options.clock ?? systemClock
    this.gc = new GarbageCollector(
      { client: () => this.#getClient(), pins: this.pins, wallet: options.wallet, clock, logger: this.#log },
      options.gc,
    )
    this.#components = {
      client: () => this.#getClient(),
      dag: () => this.#getDag(),
      streamDag: () => this.#getStreamDag(),
      wallet: options.wallet,
      pins: this.pins,
      gc: this.gc,
      clock,
      logger: this.#log,
      peer,
    }
    const rl = options.rateLimit
    this.#limiter =
      rl === false
        ? undefined
        : new RateLimiter(
            { clock: options.clock ?? systemClock },
            {
              ratePerSecond: rl?.ratePerSecond ?? RPC_RATE_PER_SECOND,
              burst: rl?.burst ?? RPC_RATE_BURST,
            },
          )
    this.#server = http.createServer({ maxHeaderSize: RPC_MAX_HEADER_BYTES }, (req, res) => void this.#handle(req, res))
  }

  get url(): string {
    if (!this.#url) throw new StratosError('INTERNAL', 'IPFS RPC API not started')
    return this.#url
  }

  async start(): Promise<void> {
    this.#url = await listen(this.#server, this.options.host ?? '127.0.0.1', this.options.port)
    await this.gc.start()
    this.#log.info(
      { url: this.#url, wallet: this.options.wallet?.address ?? null, pins: this.pins.size },
      'IPFS RPC API listening',
    )
  }

  async stop(): Promise<void> {
    await this.gc.stop()
    await closeServer(this.#server)
    if (this.#ownsClient) {
      const client = await this.#client?.catch(() => undefined)
      await client?.close()
    }
  }

  #getClient(): Promise<StratosClient> {
    let client = this.#client
    if (!client) {
      const o = this.options
      client = StratosClient.connect({
        metaUrl: o.metaUrl,
        wallet: o.wallet,
        chainId: o.chainId,
        clock: o.clock,
      }).catch((e: unknown) => {
        this.#client = undefined
        throw e
      })
      this.#client = client
    }
    return client
  }

  #getDag(): Promise<DagReader> {
    let dag = this.#dag
    if (!dag) {
      dag = this.#getClient().then((client) => createDagReader({ client }))
      dag.catch(() => {
        this.#dag = undefined
      })
      this.#dag = dag
    }
    return dag
  }

  /** See ApiComponents.streamDag. */
  #getStreamDag(): Promise<DagReader> {
    let dag = this.#streamDag
    if (!dag) {
      dag = this.#getClient().then((client) =>
        createDagReader({
          client,
          read: (file, o) =>
            client.cat(file, { offset: o.offset, length: o.length, signal: o.signal, reuseBuffers: true }),
        }),
      )
      dag.catch(() => {
        this.#streamDag = undefined
      })
      this.#streamDag = dag
    }
    return dag
  }

  #originAllowed(req: IncomingMessage): boolean {
    const allowed = this.options.allowedOrigins ?? []
    const origin = req.headers.origin
    if (origin !== undefined && !allowed.includes('*') && !allowed.includes(origin)) return false
    const referer = req.headers.referer
    if (referer !== undefined) {
      let o: string
      try {
        const u = new URL(referer)
        o = `${u.protocol}//${u.host}`
      } catch {
        return false
      }
      if (!allowed.includes('*') && !allowed.includes(o)) return false
    }
    return true
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new StratosError('ABORTED', 'client went away'))
    })
    let command = ''
    const pathname = (req.url ?? '/').split('?', 1)[0]!
    if (serveOps(this.#ops, req, res, pathname)) return
    const route = COMMAND_ROUTES.find('POST', pathname.replace(/\/+$/, ''))
    this.#ops.metrics.observe(req, res, route?.handler ? route.pattern : 'unmatched')
    const limited = this.#limiter?.take(req.socket.remoteAddress ?? 'unknown')
    if (limited?.allowed === false) {
      // Kubo has no such error: its body shape (clients read Message) with our stable code beside it.
      const err = rateLimitedError(req.socket.remoteAddress ?? 'unknown', limited.retryAfterMs)
      const text = JSON.stringify({ ...kuboBody(err), Code: KUBO_ERR_CLIENT, StratosCode: err.code }) + '\n'
      // The body (an add's upload) is not read: answer, then close rather than read the rest.
      res.writeHead(429, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'retry-after': String(retryAfterOf(err)),
        connection: 'close',
      })
      res.end(text)
      res.once('finish', () => req.destroy())
      return
    }
    try {
      const url = new URL(req.url ?? '/', 'http://api.invalid')
      if (!url.pathname.startsWith(API_PREFIX)) return sendPlain(res, 404, '404 page not found')
      const path = url.pathname.replace(/\/+$/, '')
      command = path.slice(API_PREFIX.length)
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { allow: 'OPTIONS, POST' })
        res.end()
        return
      }
      if (req.method !== 'POST') return sendPlain(res, 405, '405 - Method Not Allowed', { allow: 'OPTIONS, POST' })
      if (!this.#originAllowed(req)) return sendPlain(res, 403, '403 - Forbidden')
      const found = COMMAND_ROUTES.find('POST', path)
      if (!found?.handler) return sendPlain(res, 404, '404 page not found')
      const cmd = found.handler
      const p = parseRequest(url.searchParams, cmd.spec)
      if (!cmd.takesBody) await drainSmallBody(req)
      const signal =
        p.timeoutMs !== undefined
          ? AbortSignal.any([controller.signal, AbortSignal.timeout(p.timeoutMs)])
          : controller.signal
      await cmd.run({ req, res, p, signal, api: this.#components })
    } catch (e) {
      const err = toStratosError(e)
      this.#ops.metrics.error(err.code)
      if (err.code === 'INTERNAL') this.#log.error({ err, command }, 'RPC command failed')
      else this.#log.debug({ code: err.code, message: err.message, command }, 'RPC command error')
      // A body not read to the end (an add that failed early): answer, then close rather than read the rest.
      const unread = !req.readableEnded
      if (unread && !res.headersSent) res.setHeader('connection', 'close')
      sendKuboError(res, err)
      if (unread) res.once('finish', () => req.destroy())
    }
  }
}

/** Creates and starts the RPC API. */
export async function startIpfsRpcApi(options: IpfsRpcApiOptions): Promise<IpfsRpcApi> {
  const api = new IpfsRpcApi(options)
  await api.start()
  return api
}
