/**
 * node:http helpers shared by every server (meta, resource, chain REST, gateway, IPFS RPC API): JSON replies, typed
 * error replies, the one bounded JSON body reader, listening on an address and closing with in-flight requests
 * drained. Routing is router.ts.
 */
import { SERVER_CLOSE_GRACE_MS, SERVER_KEEP_ALIVE_TIMEOUT_MS } from '../limits.ts'
import type http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StratosError, toStratosError } from '../errors.ts'

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body))
}

/** A reply whose JSON is already text (a cached record, canonical JSON). */
export function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** The StratosError code of each error reply sent (metrics.ts counts them by code when the response ends). */
const errorCodes = new WeakMap<ServerResponse, string>()

/** The error code sendError() replied (or cut the response) with, if it did. */
export function errorCodeOf(res: ServerResponse): string | undefined {
  return errorCodes.get(res)
}

/** Records `code` as the error `res` replies with (a server with its own error format: the S3 gateway's XML). */
export function markErrorCode(res: ServerResponse, code: string): void {
  errorCodes.set(res, code)
}

export function sendError(res: ServerResponse, e: unknown): void {
  const err = toStratosError(e)
  errorCodes.set(res, err.code)
  if (res.headersSent) {
    res.destroy(err)
    return
  }
  sendJson(res, err.httpStatus, err.toBody())
}

/**
 * The one bounded JSON body reader of every server. Reads at most `maxBytes` (PAYLOAD_TOO_LARGE beyond, with
 * `details.limit`: a declared Content-Length above it is refused before a byte is read; a body that grows past it
 * stops being read, and the caller's error reply should close the connection rather than drain it). A body that
 * does not parse is BAD_REQUEST. An absent or empty body is `undefined`, or BAD_REQUEST when `required`.
 */
export async function readJsonBody(
  req: IncomingMessage,
  maxBytes: number,
  opts: { required?: boolean } = {},
): Promise<unknown> {
  const declared = req.headers['content-length']
  const none = declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)
  if (none && !opts.required) return undefined
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new StratosError('PAYLOAD_TOO_LARGE', `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`, {
      limit: maxBytes,
    })
  }
  const text = none
    ? ''
    : await new Promise<string>((resolve, reject) => {
        const parts: Buffer[] = []
        let total = 0
        const onData = (chunk: Buffer): void => {
          total += chunk.length
          if (total > maxBytes) {
            // Stop collecting; the error reply closes the connection, which discards the rest.
            req.off('data', onData)
            req.off('end', onEnd)
            reject(
              new StratosError('PAYLOAD_TOO_LARGE', `body exceeds the ${maxBytes}-byte limit`, { limit: maxBytes }),
            )
            return
          }
          parts.push(chunk)
        }
        const onEnd = (): void => resolve(Buffer.concat(parts, total).toString('utf8'))
        req.on('data', onData)
        req.on('end', onEnd)
        req.once('error', reject)
      })
  if (text.length === 0 && !opts.required) return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new StratosError('BAD_REQUEST', 'body is not valid JSON')
  }
}

export async function listen(server: http.Server, host: string, port: number): Promise<string> {
  // Idle keep-alive connections outlive every client's own keep-alive (30 s), so a client never reuses a
  // socket the server is closing at that instant (ECONNRESET on a POST, which is not retried).
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`
}

export async function closeServer(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
    // Active transfers get a short grace period, then are cut.
    setTimeout(() => server.closeAllConnections(), SERVER_CLOSE_GRACE_MS).unref()
  })
}
