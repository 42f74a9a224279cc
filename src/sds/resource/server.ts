/**
 * The resource node's HTTP API on plain node:http (shard bodies stream straight between the
 * socket and the store, no framework in the path; routes found by src/net/router.ts).
 *
 *   GET  /v1/info            → ResourceNodeInfo
 *   PUT  /v1/shards/:id      ticket (op put) + raw body of exactly ticket.size bytes → 201/200 { receipt }
 *   GET  /v1/shards/:id      ticket (op get) + order [+ Range] → verified bytes (200/206)
 *   HEAD /v1/shards/:id      ticket (op get), no order (no body bytes move) → same headers as GET
 *
 * Orders (Proof of Traffic, orders.ts): a GET's order must cover the exact response body (the asked
 * range), on top of what was served under the serial before. Checked last, after every other refusal,
 * and before a single body byte moves. A PUT needs none (an order header on one is ignored): its
 * upload's commit, which carries this node's receipt, is what pays it (docs/protocol.md, Orders).
 *
 * Every refusal is a typed ErrorBody JSON (sendError). Nothing is stored unless the bytes
 * hash to the id; an aborted upload leaves no file behind (the store removes its temp file).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { StratosError, toStratosError } from '../../errors.ts'
import {
  DIRECT_PUT_IDLE_TIMEOUT_MS,
  MAX_CONCURRENT_SHARD_WRITES,
  MAX_SHARD_BYTES,
  SERVER_CLOSE_GRACE_MS,
  SOFTWARE_VERSION,
  TICKET_TTL_MS,
} from '../../limits.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import type { NodeKey } from '../../crypto/node-key.ts'
import { RESOURCE_ROUTES, SHARD_BODY_UPGRADE, SHARD_HEADERS, type ResourceNodeInfo } from '../protocol/api.ts'
import { SocketBody } from '../../net/socket-body.ts'
import { TICKET_HEADER, type SignedReceipt } from '../protocol/messages.ts'
import { isShardId } from '../protocol/shard.ts'
import { DOMAIN, signAsNode } from '../protocol/signing.ts'
import { TicketCache, verifySignedTicket } from '../protocol/ticket.ts'
import { closeServer, listen, sendError, sendJson } from '../../net/http-server.ts'
import type { Clock, Logger } from '../../util/components.ts'
import type { ShardStore } from './store.ts'
import type { OrderBook } from './orders.ts'
import { ORDER_HEADER } from '../protocol/orders.ts'
import { parseRange } from './range.ts'
import { AuditResponder } from './audit.ts'
import { readJsonBody } from '../../net/http-server.ts'
import { Router, isMethodMiss, type RouteParams } from '../../net/router.ts'
import { AUDIT_MAX_CHALLENGE_BYTES } from '../../limits.ts'
import type { Counter } from 'prom-client'
import { createOps, serveOps, type Ops } from '../../net/ops.ts'
import type { ShardOwners } from './shard-owners.ts'
import { memoizeByObject } from '../../util/memo.ts'

export interface ResourceServerComponents {
  store: ShardStore
  key: NodeKey
  chainId: string
  /** Meta node addresses whose tickets are accepted right now (may change while running). */
  trust: { readonly issuers: ReadonlySet<string> }
  clock: Clock
  logger: Logger
  /** Proof of Traffic: checks and counts the order of every shard GET. */
  orders: OrderBook
  /** Records which meta node each stored shard belongs to (the issuer of its PUT ticket). */
  owners?: Pick<ShardOwners, 'claim'>
  /** Default MAX_CONCURRENT_SHARD_WRITES. */
  maxConcurrentWrites?: number
  /** /metrics, /healthz, /readyz and request metrics (default: the server's own, role `resource`). */
  ops?: Ops
}

const SHARD_PREFIX = RESOURCE_ROUTES.shard.slice(0, RESOURCE_ROUTES.shard.indexOf(':id'))
/** The shard route with its id as the raw rest of the path: any text after the prefix is an id, valid or 400. */
const SHARD_PATTERN = `${SHARD_PREFIX}*id`

type Handler = (req: IncomingMessage, res: ServerResponse, params: RouteParams) => Promise<void> | void

function shardId(id: string | undefined): string {
  if (id === undefined || !isShardId(id))
    throw new StratosError('BAD_REQUEST', 'shard id is 64 lowercase hex characters')
  return id
}

export class ResourceServer {
  readonly #c: ResourceServerComponents
  readonly #server: http.Server
  readonly #maxWrites: number
  /** Requests that sent `Expect: 100-continue`: they get the interim response once the body is wanted. */
  readonly #expectsContinue = new WeakSet<IncomingMessage>()
  /** Verified GET tickets: a ticket reused for several reads of a shard is signature-checked once. */
  readonly #tickets = new TicketCache()
  /** Direct PUT bodies being read (socket-body.ts): node:http no longer tracks their connections. */
  readonly #directBodies = new Set<SocketBody>()
  /** Storage audits from trusted meta nodes (audit.ts). */
  readonly #audits: AuditResponder
  readonly #routes: Router<Handler>
  readonly #ops: Ops
  readonly #served: Counter
  readonly #received: Counter
  readonly #audited: Counter<'result'>
  #writes = 0
  #load = 0
  #url: string | undefined

  constructor(components: ResourceServerComponents) {
    this.#c = components
    this.#audits = new AuditResponder(components)
    this.#ops = components.ops ?? createOps('resource')
    const m = this.#ops.metrics
    this.#served = m.counter('stratos_resource_served_bytes_total', 'Shard bytes sent to readers (GET bodies)')
    this.#received = m.counter('stratos_resource_received_bytes_total', 'Shard bytes received and stored (new shards)')
    this.#audited = m.counter('stratos_resource_audits_total', 'Audit challenges answered, by result', ['result'])
    for (const result of ['answered', 'refused']) this.#audited.inc({ result }, 0)
    this.#routes = this.#buildRoutes()
    this.#maxWrites = components.maxConcurrentWrites ?? MAX_CONCURRENT_SHARD_WRITES
    this.#server = http.createServer({ noDelay: true }, (req, res) => this.#onRequest(req, res))
    this.#server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      this.#expectsContinue.add(req)
      this.#onRequest(req, res)
    })
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    )
  }

  /** Transfers (shard reads and writes) in progress. */
  get load(): number {
    return this.#load
  }

  get url(): string {
    if (!this.#url) throw new StratosError('INTERNAL', 'resource server is not listening')
    return this.#url
  }

  async listen(host: string, port: number): Promise<string> {
    this.#url = await listen(this.#server, host, port)
    return this.#url
  }

  /** Stops accepting connections; transfers in progress get a short grace period (closeServer). */
  async close(): Promise<void> {
    // Direct PUT bodies left node:http's hands: cut them after the same grace period.
    const cut = setTimeout(() => {
      for (const b of this.#directBodies) b.destroy()
    }, SERVER_CLOSE_GRACE_MS)
    cut.unref()
    try {
      if (this.#server.listening) await closeServer(this.#server)
    } finally {
      clearTimeout(cut)
    }
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    // Errors of a connection that went away surface through the handlers; never as uncaught events.
    req.on('error', noop)
    res.on('error', noop)
    this.#route(req, res).catch((e: unknown) => this.#fail(req, res, e))
  }

  /** The node's routes (RESOURCE_ROUTES); a shard's id is the raw rest of its path, checked by shardId(). */
  #buildRoutes(): Router<Handler> {
    return new Router<Handler>()
      .on('POST', RESOURCE_ROUTES.audit, async (req, res) => {
        try {
          const answer = await this.#audits.answer(
            await readJsonBody(req, AUDIT_MAX_CHALLENGE_BYTES, { required: true }),
          )
          this.#audited.inc({ result: 'answered' })
          sendJson(res, 200, answer)
        } catch (e) {
          this.#audited.inc({ result: 'refused' })
          throw e
        }
      })
      .on('GET', RESOURCE_ROUTES.info, (_req, res) => this.#info(res))
      .on('HEAD', RESOURCE_ROUTES.info, (_req, res) => this.#info(res))
      .on('GET', SHARD_PATTERN, (req, res, p) => this.#get(req, res, shardId(p.id), false))
      .on('HEAD', SHARD_PATTERN, (req, res, p) => this.#get(req, res, shardId(p.id), true))
      .on('PUT', SHARD_PATTERN, (req, res, p) => this.#put(req, res, shardId(p.id)))
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = requestPath(req)
    if (serveOps(this.#ops, req, res, path)) return
    const method = req.method ?? 'GET'
    const found = this.#routes.find(method, path)
    this.#ops.metrics.observe(req, res, found && !isMethodMiss(found) ? found.pattern : 'unmatched')
    if (found === undefined) throw new StratosError('NOT_FOUND', `no route ${method} ${path}`)
    if (isMethodMiss(found)) {
      // A malformed shard id is refused before the method, whatever the method.
      if (path.startsWith(SHARD_PREFIX)) shardId(path.slice(SHARD_PREFIX.length))
      return methodNotAllowed(res, found.allow)
    }
    return found.handler(req, res, found.params)
  }

  async #info(res: ServerResponse): Promise<void> {
    const stats = await this.#c.store.stats()
    const info: ResourceNodeInfo = {
      address: this.#c.key.address,
      key: toBase64Url(this.#c.key.publicKey),
      version: SOFTWARE_VERSION,
      chainId: this.#c.chainId,
      ...stats,
      load: this.#load,
    }
    sendJson(res, 200, info)
  }

  async #put(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const { created, receipt } = await this.#storeShard(req.headers, id, req, () => {
      if (this.#expectsContinue.has(req)) res.writeContinue()
    })
    sendJson(res, created ? 201 : 200, { receipt })
  }

  /**
   * A shard PUT announcing SHARD_BODY_UPGRADE: node:http parsed the head and hands over the socket;
   * the body goes from the socket straight into the store's staging buffers (socket-body.ts). Same
   * checks, same answers as #put; the connection closes after the answer. Anything else asking for
   * an upgrade gets 400.
   */
  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', noop)
    const path = requestPath(req)
    const id = path.startsWith(SHARD_PREFIX) ? path.slice(SHARD_PREFIX.length) : ''
    const declared = Number(req.headers['content-length'])
    const ours =
      String(req.headers.upgrade ?? '').toLowerCase() === SHARD_BODY_UPGRADE && req.method === 'PUT' && isShardId(id)
    if (!ours || !/^\d+$/.test(req.headers['content-length'] ?? '') || declared > MAX_SHARD_BYTES) {
      const err = !ours
        ? new StratosError('BAD_REQUEST', `only a shard PUT may ask for Upgrade: ${SHARD_BODY_UPGRADE}`)
        : new StratosError('BAD_REQUEST', `a shard PUT needs a Content-Length of at most ${MAX_SHARD_BYTES}`)
      const text = JSON.stringify(err.toBody())
      // Read and drop whatever else the sender sends until it closes (so it reads this answer), within a time limit.
      socket.setTimeout(DIRECT_PUT_IDLE_TIMEOUT_MS, () => socket.destroy())
      socket.resume()
      socket.end(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      )
      return
    }
    let body: SocketBody
    try {
      body = SocketBody.adopt(socket, head, declared)
    } catch {
      socket.destroy()
      return
    }
    this.#directBodies.add(body)
    void body.closed.then(() => this.#directBodies.delete(body))
    const timed = this.#ops.metrics.startTimer('PUT', SHARD_PATTERN)
    const expectsContinue = /100-continue/i.test(String(req.headers.expect ?? ''))
    this.#storeShard(req.headers, id, body, () => {
      if (expectsContinue) body.continue()
    })
      .then(({ created, receipt }) => {
        body.respond(created ? 201 : 200, { receipt })
        timed(created ? 201 : 200)
      })
      .catch(async (e: unknown) => {
        const err = toStratosError(e)
        this.#ops.metrics.error(err.code)
        timed(err.httpStatus)
        if (err.code === 'INTERNAL') this.#c.logger.error({ err: e, url: req.url }, 'direct shard PUT failed')
        else this.#c.logger.debug({ code: err.code, url: req.url }, 'direct shard PUT refused')
        body.respondError(err)
        // Read what is left of the body, so the sender gets to read the answer; then close.
        await body.drain(MAX_SHARD_BYTES)
        body.destroy()
      })
  }

  /** The checks and the store write of a shard PUT (both routes); returns the receipt to answer with. */
  async #storeShard(
    headers: IncomingHttpHeaders,
    id: string,
    body: IncomingMessage | SocketBody,
    onAccept: () => void,
  ): Promise<{ created: boolean; receipt: SignedReceipt }> {
    const { store, key, chainId, clock } = this.#c
    const signed = verifySignedTicket({
      header: headers[TICKET_HEADER],
      chainId,
      now: clock.now(),
      trustedIssuers: this.#c.trust.issuers,
      node: key.address,
      op: 'put',
      shard: id,
    })
    const ticket = signed.payload
    const declared = headers['content-length']
    if (declared === undefined) throw new StratosError('BAD_REQUEST', 'a shard PUT needs a Content-Length header')
    const length = Number(declared)
    if (length !== ticket.size) {
      throw new StratosError(
        'SIZE_MISMATCH',
        `Content-Length ${length} differs from the ticket's ${ticket.size} bytes`,
        { expected: ticket.size, got: length },
      )
    }
    if (!store.has(id) && this.#writes >= this.#maxWrites) {
      throw new StratosError('NODE_UNAVAILABLE', `node is busy: ${this.#writes} shard uploads in progress`, {
        retryable: true,
      })
    }
    this.#writes++
    this.#load++
    try {
      const { created } = await store.put(id, ticket.size, body, { onAccept })
      if (created) this.#received.inc(ticket.size)
      // The ticket's signer (verified above) is the meta node this shard belongs to.
      this.#c.owners?.claim(id, signed.signer, ticket.size)
      const now = clock.now()
      const receipt: SignedReceipt = signAsNode(DOMAIN.receipt, key, {
        v: 1,
        chainId,
        node: key.address,
        shard: id,
        size: ticket.size,
        serial: ticket.serial,
        storedAt: now,
        expiresAt: now + TICKET_TTL_MS,
      })
      this.#c.logger.debug({ shard: id, size: ticket.size, created }, 'shard stored')
      return { created, receipt }
    } finally {
      this.#writes--
      this.#load--
    }
  }

  async #get(req: IncomingMessage, res: ServerResponse, id: string, head: boolean): Promise<void> {
    const { store, key, chainId, clock } = this.#c
    const signed = verifySignedTicket({
      header: req.headers[TICKET_HEADER],
      chainId,
      now: clock.now(),
      trustedIssuers: this.#c.trust.issuers,
      node: key.address,
      op: 'get',
      shard: id,
      cache: this.#tickets,
    })
    const ticket = signed.payload
    const size = store.sizeOf(id)
    if (size === undefined) throw new StratosError('SHARD_NOT_FOUND', `shard ${id} is not stored here`, { shard: id })
    if (ticket.size !== size)
      throw new StratosError('TICKET_MISMATCH', `ticket says ${ticket.size} bytes, the shard has ${size}`, {
        expected: size,
        got: ticket.size,
      })
    let range: ReturnType<typeof parseRange>
    try {
      range = parseRange(req.headers.range, size)
    } catch (e) {
      res.setHeader('content-range', `bytes */${size}`)
      throw e
    }
    if (!head) {
      this.#c.orders.admit({
        ticket: signed,
        orderHeader: req.headers[ORDER_HEADER],
        bytes: range.end - range.start,
        now: clock.now(),
      })
    }
    const reader = await store.openRead(id, range.start, range.end)
    this.#load++
    try {
      const headers: http.OutgoingHttpHeaders = {
        'content-type': 'application/octet-stream',
        'content-length': reader.length,
        'accept-ranges': 'bytes',
        [SHARD_HEADERS.shardSize]: size,
        [SHARD_HEADERS.chunkHashes]: chunkHashesHeader(reader.chunkHashes),
        ...(range.partial ? { 'content-range': `bytes ${range.start}-${range.end - 1}/${size}` } : {}),
      }
      const status = range.partial ? 206 : 200
      if (head) {
        res.writeHead(status, headers)
        res.end()
        return
      }
      // Headers leave with the first verified chunk, so a corrupt first chunk still gets a JSON error.
      await reader.pipeTo(res, { onFirstChunk: () => res.writeHead(status, headers) })
      if (!res.headersSent) res.writeHead(status, headers)
      res.end()
      this.#served.inc(reader.length)
    } finally {
      this.#load--
      await reader.close()
    }
  }

  #fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    const err = toStratosError(e)
    const log = this.#c.logger
    if (err.code === 'INTERNAL' || err.code === 'SHARD_CORRUPT')
      log.error({ err: e, method: req.method, url: req.url }, 'request failed')
    else log.debug({ code: err.code, method: req.method, url: req.url }, 'request refused')
    if (res.headersSent || res.destroyed) {
      res.destroy()
      return
    }
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    if (hasBody && !req.complete) {
      // The body was not (fully) read. A plausible shard body is drained so the connection stays
      // usable and the client reads this answer; anything larger is cut off after the answer.
      const declared = Number(req.headers['content-length'])
      if (!(declared <= MAX_SHARD_BYTES)) res.setHeader('connection', 'close')
      else req.resume()
    }
    sendError(res, err)
  }
}

/** The request's path without its query. */
function requestPath(req: IncomingMessage): string {
  const raw = req.url ?? '/'
  const q = raw.indexOf('?')
  return q === -1 ? raw : raw.slice(0, q)
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow)
  sendError(res, new StratosError('METHOD_NOT_ALLOWED', `use ${allow}`))
}

function noop(): void {}

/** A shard's chunk-hash list as its header, encoded once per list the store holds (every GET of a shard sends it). */
const chunkHashesHeader = memoizeByObject((list: Uint8Array) => toBase64Url(list))
