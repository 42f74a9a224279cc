/**
 * The gateway: a client with a wallet, serving the client-facing HTTP API.
 *
 *   GET|HEAD /ipfs/{cid}        file bytes via StratosClient.cat — one Range per request (206/416),
 *                               content-length, accept-ranges, etag "cid"; If-None-Match → 304
 *   POST     /api/v1/add?name=  uploads the request body (streamed) with the gateway's wallet → { cid, size }
 *   GET      /api/v1/status     the network status (meta node view)
 *   GET      /v1/info           { role: 'gateway', version, chainId, metaUrl, wallet }
 *
 * Errors are `{ error: { code, message } }` with the status from ERROR_CODES. The Kubo RPC API
 * and the full IPFS path gateway build on this in a later issue.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { CID } from 'multiformats/cid'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError, toStratosError } from '../errors.ts'
import { SOFTWARE_VERSION } from '../limits.ts'
import { StratosClient } from '../sds/client/index.ts'
import { silentLogger, type Logger, type Startable } from '../util/components.ts'
import { closeServer, listen, sendError, sendJson } from '../util/http-server.ts'
import { parseRange } from './range.ts'

export interface GatewayOptions {
  host?: string
  port: number
  metaUrl: string
  chainId?: string
  /** Signs uploads; without it the gateway is read-only (POST /api/v1/add answers NETWORK_CONFIG). */
  wallet?: WalletKey
  logger?: Logger
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
  readonly #server: http.Server
  readonly #log: Logger
  #url: string | undefined
  #client: Promise<StratosClient> | undefined

  constructor(options: GatewayOptions) {
    this.options = options
    this.#log = options.logger ?? silentLogger
    this.#server = http.createServer((req, res) => void this.#handle(req, res))
  }

  get url(): string {
    if (!this.#url) throw new StratosError('INTERNAL', 'gateway not started')
    return this.#url
  }

  async start(): Promise<void> {
    this.#url = await listen(this.#server, this.options.host ?? '127.0.0.1', this.options.port)
    this.#log.info({ url: this.#url, metaUrl: this.options.metaUrl, wallet: this.options.wallet?.address ?? null }, 'gateway listening')
  }

  async stop(): Promise<void> {
    await closeServer(this.#server)
    const client = await this.#client?.catch(() => undefined)
    await client?.close()
  }

  /** Connects to the meta node on first use (and again after a failure), so the gateway starts even if the meta node is down. */
  #getClient(): Promise<StratosClient> {
    let client = this.#client
    if (!client) {
      client = StratosClient.connect({ metaUrl: this.options.metaUrl, wallet: this.options.wallet, chainId: this.options.chainId }).catch((e: unknown) => {
        this.#client = undefined
        throw e
      })
      this.#client = client
    }
    return client
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Aborts the transfer behind this request when the HTTP client goes away.
    const controller = new AbortController()
    res.on('close', () => { if (!res.writableFinished) controller.abort() })
    try {
      const url = new URL(req.url ?? '/', 'http://gateway')
      const method = req.method ?? 'GET'
      const path = url.pathname
      if (path.startsWith('/ipfs/')) {
        if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(res, 'GET, HEAD')
        return await this.#serveFile(req, res, decodeURIComponent(path.slice('/ipfs/'.length)), method === 'HEAD', controller.signal)
      }
      switch (path) {
        case '/api/v1/add':
          if (method !== 'POST') throw methodNotAllowed(res, 'POST')
          return await this.#add(req, res, url.searchParams, controller.signal)
        case '/api/v1/status':
          if (method !== 'GET') throw methodNotAllowed(res, 'GET')
          return sendJson(res, 200, await (await this.#getClient()).status({ signal: controller.signal }))
        case '/v1/info':
          if (method !== 'GET') throw methodNotAllowed(res, 'GET')
          return sendJson(res, 200, this.#info())
        default:
          throw new StratosError('NOT_FOUND', `no route ${method} ${path}`)
      }
    } catch (e) {
      const err = toStratosError(e)
      if (err.code === 'INTERNAL') this.#log.error({ err: e, url: req.url }, 'request failed')
      else this.#log.debug({ code: err.code, url: req.url }, 'request refused')
      // The body was not read (error before or during an upload): do not keep the socket.
      if (!req.complete) res.setHeader('connection', 'close')
      sendError(res, err)
    }
  }

  #info(): GatewayInfo {
    return { role: 'gateway', version: SOFTWARE_VERSION, chainId: this.options.chainId ?? null, metaUrl: this.options.metaUrl, wallet: this.options.wallet?.address ?? null }
  }

  async #serveFile(req: IncomingMessage, res: ServerResponse, cidText: string, head: boolean, signal: AbortSignal): Promise<void> {
    if (cidText.includes('/')) throw new StratosError('NOT_FOUND', 'paths inside directories are not served yet; ask for the file\'s own CID')
    const cid = parseCid(cidText)
    const client = await this.#getClient()
    const rec = await client.stat(cid, { signal })
    if (rec.kind !== 'file') throw new StratosError('BAD_REQUEST', `${cid} is a directory; ask for one of its files' CIDs`)
    const etag = `"${cid}"`
    const common = {
      etag,
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=29030400, immutable',
      'x-ipfs-path': `/ipfs/${cid}`,
      'x-content-type-options': 'nosniff',
    }
    const inm = req.headers['if-none-match']
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      res.writeHead(304, common)
      res.end()
      return
    }
    // If-Range with another validator: serve the whole file.
    const ifRange = req.headers['if-range']
    const range = parseRange(ifRange === undefined || ifRange === etag ? req.headers.range : undefined, rec.size)
    if (range.kind === 'unsatisfiable') {
      res.setHeader('content-range', `bytes */${rec.size}`)
      throw new StratosError('RANGE_NOT_SATISFIABLE', `range ${req.headers.range} is outside the file's ${rec.size} bytes`)
    }
    const start = range.kind === 'partial' ? range.start : 0
    const length = range.kind === 'partial' ? range.end - range.start + 1 : rec.size
    res.writeHead(range.kind === 'partial' ? 206 : 200, {
      ...common,
      'content-type': 'application/octet-stream',
      'content-length': String(length),
      ...(range.kind === 'partial' ? { 'content-range': `bytes ${range.start}-${range.end}/${rec.size}` } : {}),
    })
    if (head || length === 0) {
      res.end()
      return
    }
    try {
      for await (const chunk of client.cat(cid, { offset: start, length, signal })) {
        if (!res.write(chunk)) await once(res, 'drain', { signal })
      }
      res.end()
    } catch (e) {
      // Headers are out: the only honest signal left is a cut connection (the length will not match).
      if (!signal.aborted) this.#log.warn({ err: e, cid }, 'read failed mid-stream')
      res.destroy()
    }
  }

  async #add(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, signal: AbortSignal): Promise<void> {
    if (!this.options.wallet) throw new StratosError('NETWORK_CONFIG', 'this gateway has no wallet (start it with STRATOS_MNEMONIC set); it is read-only')
    const name = q.get('name') ?? undefined
    if (name !== undefined && (name.length === 0 || name.length > 255)) throw new StratosError('BAD_REQUEST', 'name must be 1–255 characters')
    const cidVersion = q.get('cid-version') ?? '0'
    if (cidVersion !== '0' && cidVersion !== '1') throw new StratosError('BAD_REQUEST', 'cid-version must be 0 or 1')
    const rawLeaves = q.get('raw-leaves')
    const client = await this.#getClient()
    const result = await client.put(req as AsyncIterable<Uint8Array>, {
      name, cidVersion: cidVersion === '1' ? 1 : 0, rawLeaves: rawLeaves === null ? undefined : rawLeaves === 'true' || rawLeaves === '1', signal,
    })
    sendJson(res, 200, { cid: result.cid, size: result.size })
  }
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const g = new Gateway(options)
  await g.start()
  return g
}

function parseCid(text: string): string {
  try {
    CID.parse(text)
  } catch {
    throw new StratosError('INVALID_CID', `"${text}" is not a valid CID`)
  }
  return text
}

function methodNotAllowed(res: ServerResponse, allow: string): StratosError {
  res.setHeader('allow', allow)
  return new StratosError('METHOD_NOT_ALLOWED', `use ${allow}`)
}
