/**
 * The chain node's REST API (node:http). JSON bodies are canonical JSON (bigint amounts as decimal
 * strings); errors are `{ "error": { code, message, details? } }` with the code's HTTP status.
 *
 *   GET  /status                              chain id, height, latest block hash/time, state hash, epoch, mempool size
 *   GET  /blocks/latest | /blocks/:height     stored block { events, hash, header, results, txs }
 *   POST /txs                                 signed tx JSON → 202 { hash } once admitted to the mempool
 *   POST /txs/batch                           { txs: [signed tx, …] } (≤ MAX_TX_BATCH_TXS) → 200 { results: [{ hash } | { hash?, error }] }, in order
 *   GET  /txs/:hash                           { hash, height, index, result } once in a block; 404 before
 *   GET  /txs/:hash/wait?timeoutMs=           the same, long-polling until the tx is in a block (TIMEOUT 504 after)
 *   GET  /accounts/:address                   { address, balance, nonce, ozone }
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
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { StratosError, toStratosError } from '../../errors.ts'
import type { Logger } from '../../util/components.ts'
import { closeServer, listen, readJsonBody } from '../../net/http-server.ts'
import { DEFAULT_TX_WAIT_MS, MAX_SSE_SUBSCRIBERS, MAX_TX_BATCH_BYTES, MAX_TX_BATCH_TXS, MAX_TX_BYTES, MAX_TX_WAIT_MS, MAX_TX_WAITERS, SSE_KEEPALIVE_MS } from '../params.ts'
import { decodeSignedTx, txEnvelope, txHash, type SignedTx } from '../tx.ts'
import type { Blockchain, CommittedBlock } from './blockchain.ts'

export interface ChainRestOptions {
  chain: Blockchain
  logger: Logger
  maxSseSubscribers?: number
}

const HASH = /^[0-9a-f]{64}$/

export class ChainRestServer {
  readonly #chain: Blockchain
  readonly #logger: Logger
  readonly #maxSse: number
  readonly #server: http.Server
  readonly #sse = new Set<ServerResponse>()
  readonly #waiters = new Map<string, Set<() => void>>()
  #waiterCount = 0
  #unsubscribe: (() => void) | undefined
  #keepalive: NodeJS.Timeout | undefined

  constructor(o: ChainRestOptions) {
    this.#chain = o.chain
    this.#logger = o.logger
    this.#maxSse = o.maxSseSubscribers ?? MAX_SSE_SUBSCRIBERS
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#sendError(res, e))
    })
  }

  async listen(host: string, port: number): Promise<string> {
    this.#unsubscribe = this.#chain.onBlock((b) => this.#onBlock(b))
    this.#keepalive = setInterval(() => { for (const res of this.#sse) res.write(': keepalive\n\n') }, SSE_KEEPALIVE_MS)
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
    const data = canonicalJson({ height: b.header.height, hash: b.hash, time: b.header.time, txCount: b.header.txCount, stateHash: b.header.stateHash })
    for (const res of this.#sse) res.write(`event: block\nid: ${b.header.height}\ndata: ${data}\n\n`)
    for (const hash of b.txHashes) {
      const set = this.#waiters.get(hash)
      if (set) for (const wake of set) wake()
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    const method = req.method ?? 'GET'
    const q = this.#chain.app.query
    const route = parts.join('/')

    if (method === 'POST' && route === 'txs') return this.#submit(req, res)
    if (method === 'POST' && route === 'txs/batch') return this.#submitBatch(req, res)
    if (method !== 'GET' && method !== 'HEAD') throw new StratosError('METHOD_NOT_ALLOWED', `${method} ${url.pathname} is not supported`)

    const [a, b, c] = parts
    if (route === 'status') return this.#sendStatus(res)
    if (a === 'blocks' && parts.length === 2) {
      const height = b === 'latest' ? this.#chain.height : parseCounter(b!, 'height')
      const json = this.#chain.blockJson(height)
      if (json === undefined) throw new StratosError('NOT_FOUND', `no block at height ${height}`, { height: this.#chain.height })
      return sendText(res, 200, json)
    }
    if (a === 'txs' && b && parts.length === 2) return this.#sendTx(res, parseHash(b))
    if (a === 'txs' && b && c === 'wait' && parts.length === 3) return this.#waitTx(req, res, parseHash(b), url.searchParams.get('timeoutMs'))
    if (a === 'accounts' && parts.length === 2) return send(res, q.account(parseAddress(b!)))
    if (a === 'ozone' && parts.length === 1) return send(res, q.ozoneMarket())
    if (a === 'ozone' && parts.length === 2) {
      const address = parseAddress(b!)
      return send(res, { address, ozone: q.ozone(address) })
    }
    if (route === 'validators') return send(res, q.validators())
    if (a === 'validators' && c === 'delegations' && parts.length === 3) return send(res, q.delegationsTo(parseAddress(b!)))
    if (a === 'delegations' && parts.length === 2) {
      const address = parseAddress(b!)
      return send(res, { delegations: q.delegationsOf(address), unbondings: q.unbondings(address) })
    }
    if (route === 'nodes/resource') return send(res, q.resourceNodes())
    if (route === 'nodes/meta') return send(res, q.metaNodes())
    if (a === 'rewards' && parts.length === 2) {
      const epoch = url.searchParams.get('epoch')
      return send(res, q.rewards(parseAddress(b!), epoch === null ? undefined : parseCounter(epoch, 'epoch')))
    }
    if (route === 'reports') {
      const epoch = url.searchParams.get('epoch')
      return send(res, q.volumeReports(epoch === null ? undefined : parseCounter(epoch, 'epoch')))
    }
    if (route === 'mining') return send(res, q.mining())
    if (route === 'params') {
      const app = this.#chain.app
      return send(res, { chainId: app.chainId, genesisTime: app.genesisTime, params: app.params })
    }
    if (route === 'events/blocks') return this.#subscribe(req, res)
    throw new StratosError('NOT_FOUND', `no route ${method} ${url.pathname}`)
  }

  #sendStatus(res: ServerResponse): void {
    const { header, hash } = this.#chain.latest
    const app = this.#chain.app
    send(res, {
      chainId: app.chainId, height: header.height, latestBlockHash: hash, latestBlockTime: header.time, stateHash: app.stateHash,
      epoch: app.epoch, mempool: { txs: this.#chain.mempool.size, bytes: this.#chain.mempool.bytes },
    })
  }

  async #submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, MAX_TX_BYTES)
    const signed = decodeSignedTx(body)
    const checked = await this.#chain.mempool.admit(signed)
    send(res, { hash: checked.hash }, 202)
  }

  /**
   * Many signed txs in one request: each is decoded and admitted (or rejected) on its own, in
   * order, so a sender's consecutive nonces may share a batch. The HTTP status is 200 whenever the
   * batch itself is well-formed; each result is { hash } (admitted) or { hash?, error }.
   */
  async #submitBatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req, MAX_TX_BATCH_BYTES)
    const list = (body as { txs?: unknown } | null)?.txs
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(list) || Object.keys(body).length !== 1) {
      throw new StratosError('BAD_REQUEST', 'a batch is { "txs": [signed tx, …] }')
    }
    if (list.length > MAX_TX_BATCH_TXS) throw new StratosError('PAYLOAD_TOO_LARGE', `a batch holds at most ${MAX_TX_BATCH_TXS} transactions, got ${list.length}`, { max: MAX_TX_BATCH_TXS })
    const results: Array<{ hash?: string; error?: object }> = new Array(list.length)
    const decoded: SignedTx[] = []
    const at: number[] = []
    list.forEach((item, i) => {
      try {
        const signed = decodeSignedTx(item)
        const size = txEnvelope(signed).size
        if (size > MAX_TX_BYTES) throw new StratosError('PAYLOAD_TOO_LARGE', `a transaction is at most ${MAX_TX_BYTES} bytes, this one ${size}`, { max: MAX_TX_BYTES })
        decoded.push(signed)
        at.push(i)
      } catch (e) {
        results[i] = toStratosError(e).toBody()
      }
    })
    const admitted = await this.#chain.mempool.addBatch(decoded)
    admitted.forEach((r, j) => {
      results[at[j]!] = r instanceof StratosError ? { hash: txHash(decoded[j]!), ...r.toBody() } : { hash: r.hash }
    })
    send(res, { results })
  }

  #sendTx(res: ServerResponse, hash: string): void {
    const stored = this.#chain.tx(hash)
    if (!stored) {
      const pending = this.#chain.mempool.has(hash)
      throw new StratosError('NOT_FOUND', pending ? `transaction ${hash} is in the mempool, not yet in a block` : `no transaction ${hash}`, { pending })
    }
    send(res, { hash, ...stored })
  }

  async #waitTx(req: IncomingMessage, res: ServerResponse, hash: string, timeoutParam: string | null): Promise<void> {
    const timeoutMs = timeoutParam === null ? DEFAULT_TX_WAIT_MS : Math.min(parseCounter(timeoutParam, 'timeoutMs'), MAX_TX_WAIT_MS)
    if (!this.#chain.tx(hash)) {
      if (this.#waiterCount >= MAX_TX_WAITERS) throw new StratosError('BUSY', `too many transactions are being waited for (${MAX_TX_WAITERS})`)
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
      if (!this.#chain.tx(hash)) throw new StratosError('TIMEOUT', `transaction ${hash} was not included within ${timeoutMs} ms`, { pending: this.#chain.mempool.has(hash) })
    }
    this.#sendTx(res, hash)
  }

  #subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.#sse.size >= this.#maxSse) throw new StratosError('BUSY', `too many block subscribers (${this.#maxSse})`)
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
    res.write(': subscribed\n\n')
    this.#sse.add(res)
    req.on('close', () => this.#sse.delete(res))
  }

  #sendError(res: ServerResponse, e: unknown): void {
    const err = toStratosError(e)
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
    sendText(res, err.httpStatus, text)
  }
}

function send(res: ServerResponse, value: unknown, status = 200): void {
  sendText(res, status, canonicalJson(value as CanonicalValue))
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function parseAddress(s: string): string {
  if (s !== s.toLowerCase() || !isWalletAddress(s)) throw new StratosError('BAD_REQUEST', `not a valid lowercase st1… wallet address (bad checksum or prefix): ${s.slice(0, 100)}`)
  return s
}

function parseHash(s: string): string {
  if (!HASH.test(s)) throw new StratosError('BAD_REQUEST', 'a transaction hash is 32 bytes of lowercase hex')
  return s
}

function parseCounter(s: string, what: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(s) || !Number.isSafeInteger(Number(s))) throw new StratosError('BAD_REQUEST', `${what} must be a non-negative integer`)
  return Number(s)
}
