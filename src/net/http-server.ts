/**
 * node:http helpers shared by role servers: JSON replies, typed error replies, bounded JSON
 * body reading, listening on an address and closing with in-flight requests drained.
 */
import { SERVER_CLOSE_GRACE_MS, SERVER_KEEP_ALIVE_TIMEOUT_MS } from '../limits.ts'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StratosError, toStratosError } from '../errors.ts'

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError(res: ServerResponse, e: unknown): void {
  const err = toStratosError(e)
  if (res.headersSent) {
    res.destroy(err)
    return
  }
  sendJson(res, err.httpStatus, err.toBody())
}

/** Reads a JSON body of at most maxBytes; PAYLOAD_TOO_LARGE beyond, BAD_REQUEST if it does not parse. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > maxBytes) throw new StratosError('PAYLOAD_TOO_LARGE', `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`)
  const parts: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > maxBytes) throw new StratosError('PAYLOAD_TOO_LARGE', `body exceeds the ${maxBytes}-byte limit`)
    parts.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'))
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
    server.listen(port, host, () => { server.off('error', reject); resolve() })
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
