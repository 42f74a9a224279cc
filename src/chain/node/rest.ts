/**
 * The chain node's REST API (node:http; routes found by src/net/router.ts, the one piece of networking the chain
 * node uses besides the server helper: the ledger itself, src/chain outside node/, imports none). JSON bodies are canonical JSON (bigint amounts as decimal
 * strings); errors are `{ "error": { code, message, details? } }` with the code's HTTP status.
 *
 *   GET  /status                              chain id, height, latest block hash/time, state hash, epoch, mempool size
 *   GET  /blocks/latest | /blocks/:height     stored block { events, hash, header, results, txs }
 *   POST /txs                                 signed tx JSON → 202 { hash } once admitted to the mempool
 *   POST /txs/batch                           { txs: [signed tx, …] } (≤ MAX_TX_BATCH_TXS) → 200 { results: [{ hash } | { hash?, error }] }, in order
 *   GET  /txs/:hash                           { hash, height, index, result } once in a block; 404 before
 *   GET  /txs/:hash/wait?timeoutMs=           the same, long-polling until the tx is in a block (TIMEOUT 504 after)
 *   GET  /accounts/:address                   { address, balance, nonce, ozone }
 *   GET  /accounts/:address/txs?limit=&before= { txs: [{ hash, height, index, tx, result }] } newest first (≤ MAX_ACCOUNT_TXS_PAGE;
 *                                             `before`: a height, for the next page)
 *   GET  /ozone | /ozone/:address             market { S, P, L, price, weiPerGiB } | { address, ozone }
 *   GET  /validators                          validators
 *   GET  /validators/:address/delegations     delegations to a validator
 *   GET  /delegations/:address                { delegations, unbondings } of a delegator
 *   GET  /nodes/resource | /nodes/meta        registered nodes (with tier)
 *   GET  /rewards/:address[?epoch=]           a wallet's unwithdrawn rewards
 *   GET  /reports[?epoch=]                    volume report summaries
 *   GET  /mining                              total mined, pool, circulating supply, stage
 *   GET  /params                              { chainId, genesisTime, params } (the chain's ChainParams; amounts in wei)
 *   GET  /events/blocks                       Server-Sent Events: `event: block` data { height, hash, time, txCount, stateHash }
 *   GET  /cosmos/…, /stratos/…                Cosmos-style read-only module queries (cosmos-rest.ts)
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { StratosError, toStratosError } from '../../errors.ts'
import type { Logger } from '../../util/components.ts'
import { closeServer, listen, readJsonBody, sendJsonText } from '../../net/http-server.ts'
import { Router, isMethodMiss, type RouteParams } from '../../net/router.ts'
import { createOps, serveOps, type Ops } from '../../net/ops.ts'
import {
  DEFAULT_TX_WAIT_MS,
  MAX_ACCOUNT_TXS_PAGE,
  MAX_SSE_SUBSCRIBERS,
  MAX_TX_BATCH_BYTES,
  MAX_TX_BATCH_TXS,
  MAX_TX_BYTES,
  MAX_TX_WAIT_MS,
  MAX_TX_WAITERS,
  SSE_KEEPALIVE_MS,
} from '../params.ts'
import { decodeSignedTx, txEnvelope, txHash, type SignedTx } from '../tx.ts'
import type { Blockchain, CommittedBlock } from './blockchain.ts'
import { registerCosmosRoutes } from './cosmos-rest.ts'

/** Where POST /txs and /txs/batch put transactions: the embedded engine's Mempool, or CometBFT's (abci/broadcast.ts). */
export interface TxIntake {
  readonly size: number
  readonly bytes: number
  has(hash: string): boolean
  admit(signed: SignedTx): Promise<{ hash: string }>
  addBatch(txs: readonly SignedTx[]): Promise<Array<{ hash: string } | StratosError>>
}

export interface ChainRestOptions {
  chain: Blockchain
  logger: Logger
  maxSseSubscribers?: number
  /** Default: the chain's own mempool. */
  intake?: TxIntake
  /** /metrics, /healthz, /readyz and request metrics (default: the server's own, role `validator`). */
  ops?: Ops
}

const HASH = /^[0-9a-f]{64}$/

type Handler = (req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL) => Promise<void> | void

export class ChainRestServer {
  readonly #chain: Blockchain
  readonly #intake: TxIntake
  readonly #logger: Logger
  readonly #maxSse: number
  readonly #server: http.Server
  readonly #routes: Router<Handler>
  readonly #ops: Ops
  readonly #sse = new Set<ServerResponse>()
  readonly #waiters = new Map<string, Set<() => void>>()
  #waiterCount = 0
  #unsubscribe: (() => void) | undefined
  #keepalive: NodeJS.Timeout | undefined

  constructor(o: ChainRestOptions) {
    this.#chain = o.chain
    this.#intake = o.intake ?? o.chain.mempool
    this.#logger = o.logger
    this.#maxSse = o.maxSseSubscribers ?? MAX_SSE_SUBSCRIBERS
    this.#ops = o.ops ?? createOps('validator')
    this.#routes = this.#buildRoutes()
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#sendError(res, e))
    })
  }

  async listen(host: string, port: number): Promise<string> {
    this.#unsubscribe = this.#chain.onBlock((b) => this.#onBlock(b))
    this.#keepalive = setInterval(() => {
      for (const res of this.#sse) res.write(': keepalive\n\n')
    }, SSE_KEEPALIVE_MS)
    this.#keepalive.unref()
    return listen(this.#server, host, port)
  }

  async close(): Promise<void> {
    this.#unsubscribe?.()
    if (this.#keepalive) clearInterval(this.#keepalive)
    for (const res of this.#sse) res.end()
    this.#sse.clear()
    for (const set of this.#waiters.values()) for (const wake of set) wake()
    await closeServer(this.#server)
  }

  #onBlock(b: CommittedBlock): void {
    const data = canonicalJson({
      height: b.header.height,
      hash: b.hash,
      time: b.header.time,
      txCount: b.header.txCount,
      stateHash: b.header.stateHash,
    })
    for (const res of this.#sse) res.write(`event: block\nid: ${b.header.height}\ndata: ${data}\n\n`)
    for (const hash of b.txHashes) {
      const set = this.#waiters.get(hash)
      if (set) for (const wake of set) wake()
    }
  }

  /** Every route of the API (the table in this file's header); GET routes answer HEAD too. */
  #buildRoutes(): Router<Handler> {
    const q = this.#chain.app.query
    const r = new Router<Handler>()
    const get = (pattern: string, handler: Handler): void => {
      r.on('GET', pattern, handler).on('HEAD', pattern, handler)
    }
    r.on('POST', '/txs', (req, res) => this.#submit(req, res))
    r.on('POST', '/txs/batch', (req, res) => this.#submitBatch(req, res))
    get('/status', (_req, res) => this.#sendStatus(res))
    get('/blocks/:height', (_req, res, p) => {
      const height = p.height === 'latest' ? this.#chain.height : parseCounter(p.height!, 'height')
      const json = this.#chain.blockJson(height)
      if (json === undefined)
        throw new StratosError('NOT_FOUND', `no block at height ${height}`, { height: this.#chain.height })
      sendJsonText(res, 200, json)
    })
    get('/txs/:hash', (_req, res, p) => this.#sendTx(res, parseHash(p.hash!)))
    get('/txs/:hash/wait', (req, res, p, url) =>
      this.#waitTx(req, res, parseHash(p.hash!), url.searchParams.get('timeoutMs')),
    )
    get('/accounts/:address', (_req, res, p) => send(res, q.account(parseAddress(p.address!))))
    get('/accounts/:address/txs', (_req, res, p, url) => {
      const limitParam = url.searchParams.get('limit')
      const before = url.searchParams.get('before')
      const limit =
        limitParam === null ? MAX_ACCOUNT_TXS_PAGE : Math.min(parseCounter(limitParam, 'limit'), MAX_ACCOUNT_TXS_PAGE)
      const txs = this.#chain.accountHistory(
        parseAddress(p.address!),
        Math.max(1, limit),
        before === null ? undefined : parseCounter(before, 'before'),
      )
      sendJsonText(res, 200, `{"txs":[${txs.map((t) => canonicalJson(t as unknown as CanonicalValue)).join(',')}]}`)
    })
    get('/ozone', (_req, res) => send(res, q.ozoneMarket()))
    get('/ozone/:address', (_req, res, p) => {
      const address = parseAddress(p.address!)
      send(res, { address, ozone: q.ozone(address) })
    })
    get('/validators', (_req, res) => send(res, q.validators()))
    get('/validators/:address/delegations', (_req, res, p) => send(res, q.delegationsTo(parseAddress(p.address!))))
    get('/delegations/:address', (_req, res, p) => {
      const address = parseAddress(p.address!)
      send(res, { delegations: q.delegationsOf(address), unbondings: q.unbondings(address) })
    })
    get('/nodes/resource', (_req, res) => send(res, q.resourceNodes()))
    get('/nodes/meta', (_req, res) => send(res, q.metaNodes()))
    get('/rewards/:address', (_req, res, p, url) => {
      const epoch = url.searchParams.get('epoch')
      send(res, q.rewards(parseAddress(p.address!), epoch === null ? undefined : parseCounter(epoch, 'epoch')))
    })
    get('/reports', (_req, res, _p, url) => {
      const epoch = url.searchParams.get('epoch')
      send(res, q.volumeReports(epoch === null ? undefined : parseCounter(epoch, 'epoch')))
    })
    get('/mining', (_req, res) => send(res, q.mining()))
    get('/params', (_req, res) => {
      const app = this.#chain.app
      send(res, { chainId: app.chainId, genesisTime: app.genesisTime, params: app.params })
    })
    get('/events/blocks', (req, res) => this.#subscribe(req, res))
    // Cosmos-style read-only paths (stratos-chain's module queries), cosmos-rest.ts.
    registerCosmosRoutes((pattern, answer) => get(pattern, (_req, res, p) => send(res, answer(p))), this.#chain)
    return r
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const method = req.method ?? 'GET'
    // Empty segments never mattered here ('/status/', '//status'): collapse them before the lookup.
    let path = url.pathname
    if (path.includes('//') || (path.length > 1 && path.endsWith('/')))
      path = '/' + path.split('/').filter(Boolean).join('/')
    if (serveOps(this.#ops, req, res, path)) return
    const found = this.#routes.find(method, path)
    this.#ops.metrics.observe(req, res, found && !isMethodMiss(found) ? found.pattern : 'unmatched')
    if (found === undefined) {
      // Only GET (and HEAD) reach unknown paths as 404: any other method is refused as such, as it always was.
      if (method !== 'GET' && method !== 'HEAD')
        throw new StratosError('METHOD_NOT_ALLOWED', `${method} ${url.pathname} is not supported`)
      throw new StratosError('NOT_FOUND', `no route ${method} ${url.pathname}`)
    }
    if (isMethodMiss(found)) {
      res.setHeader('allow', found.allow)
      throw new StratosError('METHOD_NOT_ALLOWED', `${method} ${url.pathname} is not supported`)
    }
    return found.handler(req, res, found.params, url)
  }

  #sendStatus(res: ServerResponse): void {
    const { header, hash } = this.#chain.latest
    const app = this.#chain.app
    send(res, {
      chainId: app.chainId,
      height: header.height,
      latestBlockHash: hash,
      latestBlockTime: header.time,
      stateHash: app.stateHash,
      epoch: app.epoch,
      mempool: { txs: this.#intake.size, bytes: this.#intake.bytes },
    })
  }

  async #submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, MAX_TX_BYTES, { required: true })
    const signed = decodeSignedTx(body)
    const checked = await this.#intake.admit(signed)
    send(res, { hash: checked.hash }, 202)
  }

  /**
   * Many signed txs in one request: each is decoded and admitted (or rejected) on its own, in
   * order, so a sender's consecutive nonces may share a batch. The HTTP status is 200 whenever the
   * batch itself is well-formed; each result is { hash } (admitted) or { hash?, error }.
   */
  async #submitBatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, MAX_TX_BATCH_BYTES, { required: true })
    const list = (body as { txs?: unknown } | null)?.txs
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      !Array.isArray(list) ||
      Object.keys(body).length !== 1
    ) {
      throw new StratosError('BAD_REQUEST', 'a batch is { "txs": [signed tx, …] }')
    }
    if (list.length > MAX_TX_BATCH_TXS)
      throw new StratosError(
        'PAYLOAD_TOO_LARGE',
        `a batch holds at most ${MAX_TX_BATCH_TXS} transactions, got ${list.length}`,
        { max: MAX_TX_BATCH_TXS },
      )
    const results: Array<{ hash?: string; error?: object }> = new Array(list.length)
    const decoded: SignedTx[] = []
    const at: number[] = []
    list.forEach((item, i) => {
      try {
        const signed = decodeSignedTx(item)
        const size = txEnvelope(signed).size
        if (size > MAX_TX_BYTES)
          throw new StratosError(
            'PAYLOAD_TOO_LARGE',
            `a transaction is at most ${MAX_TX_BYTES} bytes, this one ${size}`,
            { max: MAX_TX_BYTES },
          )
        decoded.push(signed)
        at.push(i)
      } catch (e) {
        results[i] = toStratosError(e).toBody()
      }
    })
    const admitted = await this.#intake.addBatch(decoded)
    admitted.forEach((r, j) => {
      results[at[j]!] = r instanceof StratosError ? { hash: txHash(decoded[j]!), ...r.toBody() } : { hash: r.hash }
    })
    send(res, { results })
  }

  #sendTx(res: ServerResponse, hash: string): void {
    const stored = this.#chain.tx(hash)
    if (!stored) {
      const pending = this.#intake.has(hash)
      throw new StratosError(
        'NOT_FOUND',
        pending ? `transaction ${hash} is in the mempool, not yet in a block` : `no transaction ${hash}`,
        { pending },
      )
    }
    send(res, { hash, ...stored })
  }

  async #waitTx(req: IncomingMessage, res: ServerResponse, hash: string, timeoutParam: string | null): Promise<void> {
    const timeoutMs =
      timeoutParam === null ? DEFAULT_TX_WAIT_MS : Math.min(parseCounter(timeoutParam, 'timeoutMs'), MAX_TX_WAIT_MS)
    if (!this.#chain.tx(hash)) {
      if (this.#waiterCount >= MAX_TX_WAITERS)
        throw new StratosError('BUSY', `too many transactions are being waited for (${MAX_TX_WAITERS})`)
      await new Promise<void>((resolve) => {
        let set = this.#waiters.get(hash)
        if (!set) this.#waiters.set(hash, (set = new Set()))
        const wake = (): void => {
          clearTimeout(timer)
          req.off('close', wake)
          set!.delete(wake)
          if (set!.size === 0) this.#waiters.delete(hash)
          this.#waiterCount--
          resolve()
        }
        const timer = setTimeout(wake, timeoutMs)
        req.on('close', wake)
        set.add(wake)
        this.#waiterCount++
      })
      if (res.destroyed) return
      if (!this.#chain.tx(hash))
        throw new StratosError('TIMEOUT', `transaction ${hash} was not included within ${timeoutMs} ms`, {
          pending: this.#intake.has(hash),
        })
    }
    this.#sendTx(res, hash)
  }

  #subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.#sse.size >= this.#maxSse) throw new StratosError('BUSY', `too many block subscribers (${this.#maxSse})`)
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    res.write(': subscribed\n\n')
    this.#sse.add(res)
    req.on('close', () => this.#sse.delete(res))
  }

  #sendError(res: ServerResponse, e: unknown): void {
    const err = toStratosError(e)
    this.#ops.metrics.error(err.code)
    if (err.code === 'INTERNAL') this.#logger.error({ err: e }, 'REST handler failed')
    if (res.headersSent) {
      res.destroy()
      return
    }
    let text: string
    try {
      text = canonicalJson(err.toBody() as unknown as CanonicalValue)
    } catch {
      text = JSON.stringify({ error: { code: err.code, message: err.message } })
    }
    // An oversized body stopped being read: close rather than drain it.
    if (err.code === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close')
    sendJsonText(res, err.httpStatus, text)
  }
}

function send(res: ServerResponse, value: unknown, status = 200): void {
  sendJsonText(res, status, canonicalJson(value as CanonicalValue))
}

function parseAddress(s: string): string {
  if (s !== s.toLowerCase() || !isWalletAddress(s))
    throw new StratosError(
      'BAD_REQUEST',
      `not a valid lowercase st1… wallet address (bad checksum or prefix): ${s.slice(0, 100)}`,
    )
  return s
}

function parseHash(s: string): string {
  if (!HASH.test(s)) throw new StratosError('BAD_REQUEST', 'a transaction hash is 32 bytes of lowercase hex')
  return s
}

function parseCounter(s: string, what: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(s) || !Number.isSafeInteger(Number(s)))
    throw new StratosError('BAD_REQUEST', `${what} must be a non-negative integer`)
  return Number(s)
}
