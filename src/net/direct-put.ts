/**
 * Shard PUTs over a plain TCP connection, announcing SHARD_BODY_UPGRADE so the node can read the
 * body straight off the socket into its staging buffers (src/net/socket-body.ts).
 *
 * One connection per PUT: the node answers in HTTP/1.1 and closes the connection (a TCP handshake
 * per multi-MiB shard, cheap next to its bytes: bench/README.md). A node that ignores the Upgrade header answers the same
 * way through its ordinary PUT route, keeping the connection open; the answer is read by its
 * Content-Length either way. The answer is a small JSON document (≤ DIRECT_PUT_MAX_RESPONSE_BYTES).
 * http: origins only; callers use undici for anything else.
 */
import net from 'node:net'
import { StratosError } from '../errors.ts'
import { DIRECT_PUT_IDLE_TIMEOUT_MS, DIRECT_PUT_MAX_RESPONSE_BYTES } from '../limits.ts'
import { SHARD_BODY_UPGRADE } from '../sds/protocol/api.ts'
import { parseHead } from './direct-get.ts'

export interface DirectPutParameters {
  /** http://host:port of the node. */
  origin: string
  path: string
  /** Extra request headers (lowercase names; values must not contain CR or LF). */
  headers: Record<string, string>
  body: Uint8Array
  signal?: AbortSignal
}

export interface DirectPutResult {
  status: number
  /** The parsed JSON answer, undefined when empty. */
  body: unknown
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

/** Whether `origin` can take a direct PUT (plain http). */
export function canDirectPut(origin: string): boolean {
  return origin.startsWith('http://')
}

/** Sends one shard PUT and reads its answer. Transport failures reject with the socket's error (or ABORTED / TIMEOUT). */
export function directPut(p: DirectPutParameters): Promise<DirectPutResult> {
  const u = new URL(p.origin)
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  const port = Number(u.port || 80)
  let head = `PUT ${p.path} HTTP/1.1\r\nhost: ${u.host}\r\nconnection: upgrade\r\nupgrade: ${SHARD_BODY_UPGRADE}\r\ncontent-length: ${p.body.byteLength}\r\n`
  for (const [name, value] of Object.entries(p.headers)) {
    if (/[\r\n]/.test(value) || /[\r\n:]/.test(name))
      throw new StratosError('BAD_REQUEST', `header ${name} cannot be sent`)
    head += `${name}: ${value}\r\n`
  }
  head += '\r\n'
  return new Promise<DirectPutResult>((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    let settled = false
    const socket = net.connect({ host, port, noDelay: true })
    const settle = (e: unknown, result?: DirectPutResult): void => {
      if (settled) return
      settled = true
      p.signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      if (result) resolve(result)
      else reject(e)
    }
    // The signal's own reason (a TimeoutError from a timeout signal, the caller's abort): transportError maps it.
    const onAbort = (): void => settle(p.signal?.reason ?? new StratosError('ABORTED', 'operation aborted'))
    /** A complete answer (head and Content-Length bytes of body) ends the exchange. */
    const tryParse = (final: boolean): void => {
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      const end = all.indexOf(CRLFCRLF)
      if (end < 0) {
        if (final) settle(new StratosError('UPSTREAM_ERROR', `${p.origin} closed the connection before answering`))
        return
      }
      const parsed = parseHead(all.toString('latin1', 0, end), p.origin)
      if (parsed.status === 100) {
        // An interim answer: drop it and wait for the real one.
        chunks.length = 0
        if (all.length > end + 4) chunks.push(all.subarray(end + 4))
        bytes = all.length - end - 4
        if (bytes > 0) tryParse(final)
        return
      }
      const bodyBytes = all.length - end - 4
      const want = parsed.contentLength
      if (want === undefined ? !final : bodyBytes < want) {
        if (final)
          settle(new StratosError('UPSTREAM_ERROR', `${p.origin} closed the connection in the middle of its answer`))
        return
      }
      const text = all.toString('utf8', end + 4, end + 4 + (want ?? bodyBytes))
      let body: unknown
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        settle(new StratosError('UPSTREAM_ERROR', `${p.origin} answered a body that is not JSON`))
        return
      }
      settle(undefined, { status: parsed.status, body })
    }
    if (p.signal?.aborted) return onAbort()
    p.signal?.addEventListener('abort', onAbort, { once: true })
    socket.setTimeout(DIRECT_PUT_IDLE_TIMEOUT_MS, () =>
      settle(new StratosError('TIMEOUT', `${p.origin} moved no bytes for ${DIRECT_PUT_IDLE_TIMEOUT_MS} ms`)),
    )
    socket.on('error', (e) => settle(e))
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      bytes += d.length
      if (bytes > DIRECT_PUT_MAX_RESPONSE_BYTES)
        return settle(
          new StratosError('UPSTREAM_ERROR', `${p.origin} answered more than ${DIRECT_PUT_MAX_RESPONSE_BYTES} bytes`),
        )
      try {
        tryParse(false)
      } catch (e) {
        settle(e)
      }
    })
    socket.on('end', () => {
      try {
        tryParse(true)
      } catch (e) {
        settle(e)
      }
    })
    socket.on('close', () =>
      settle(new StratosError('UPSTREAM_ERROR', `${p.origin} closed the connection before answering`)),
    )
    socket.once('connect', () => {
      socket.write(head, 'latin1')
      socket.write(p.body)
    })
  })
}
