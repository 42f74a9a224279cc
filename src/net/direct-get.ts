/**
 * HTTP/1.1 GETs whose response body the kernel copies straight into the caller's buffer.
 *
 * Why not undici for shard reads: a shard GET moves megabytes into a buffer the client already
 * owns (a segment's output), and with undici every 64 KiB read becomes a fresh Buffer, a llhttp
 * span, a stream chunk and a copy into place. Reading with `net.Socket`'s `onread` into
 * `target.subarray(received)` costs a fraction of that client CPU, and the same loop with BLAKE3
 * verification moves about twice the bytes per second (bench/README.md, "Measurements cited by the
 * code"). Everything else (PUTs,
 * JSON control requests) stays on undici.
 *
 * Deliberately narrow: plain `http:` origins, GET only, one request at a time per connection
 * (no pipelining), keep-alive reuse. A 2xx must carry Content-Length (the body goes into the
 * buffer `onHead` returns, which must be exactly that long); any other status has its body
 * read into a bounded buffer (DIRECT_GET_MAX_ERROR_BODY_BYTES) for the caller's error parsing.
 * Response heads above DIRECT_GET_MAX_HEAD_BYTES, chunked 2xx bodies, bytes beyond the body and
 * data on an idle connection are protocol errors (UPSTREAM_ERROR) and drop the connection.
 * A request on a reused connection that dies before any response byte is retried once on a
 * new connection (the server may have closed it idle at the same moment).
 */
import net from 'node:net'
import { StratosError } from '../errors.ts'
import {
  DIRECT_GET_IDLE_TIMEOUT_MS,
  DIRECT_GET_MAX_ERROR_BODY_BYTES,
  DIRECT_GET_MAX_HEAD_BYTES,
  DIRECT_GET_MAX_IDLE_PER_ORIGIN,
} from '../limits.ts'

export interface DirectGetHead {
  status: number
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>
  contentLength: number | undefined
}

export interface DirectGetParameters {
  /** `http://host:port` (anything after the authority is ignored). */
  origin: string
  /** Path and query, starting with `/`. */
  path: string
  headers: Record<string, string>
  /**
   * Called once with the head of a 2xx response: returns the buffer the body is read into, exactly
   * Content-Length bytes long, or throws to refuse the response (the connection is then dropped).
   * A list of buffers is filled one after the other (a scatter read: their lengths add up to Content-Length).
   */
  onHead: (head: DirectGetHead) => Uint8Array | Uint8Array[]
  /**
   * Called after every read of body bytes with the count received so far (the bytes are in the
   * buffer already): may verify them and throw to stop (the connection is then dropped).
   */
  onBody?: (received: number) => void
  signal: AbortSignal
  /**
   * Fails the request with a TimeoutError (as AbortSignal.timeout's) when it has not finished after this many ms:
   * one timer, instead of a timeout signal joined to `signal` per request.
   */
  timeoutMs?: number
}

export interface DirectGetResult {
  head: DirectGetHead
  /** For a 2xx, the number of body bytes read into the buffer (= Content-Length); otherwise the error body. */
  received: number
  errorBody?: Buffer
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

interface Active {
  p: DirectGetParameters
  resolve: (r: DirectGetResult) => void
  reject: (e: unknown) => void
  /** Bytes of the response seen so far (0 = nothing yet: a reused connection may be retried). */
  responseBytes: number
}

/** One keep-alive connection to one origin. */
class Connection {
  readonly socket: net.Socket
  readonly #pool: DirectGetPool
  readonly origin: string
  /** Where reads land while no body target is set: the response head, error bodies. */
  readonly #scratch = Buffer.allocUnsafe(64 * 1024)
  #state: 'connecting' | 'idle' | 'head' | 'body' | 'error-body' | 'closed' = 'connecting'
  #head: Buffer[] = []
  #headBytes = 0
  /** The body's buffers (onHead's answer), the one being filled and how far. */
  #targets: Uint8Array[] = []
  #part = 0
  #partFilled = 0
  #received = 0
  #expected = 0
  #errorBody: Buffer[] = []
  #errorBytes = 0
  #errorUntilClose = false
  #parsed: DirectGetHead | undefined
  #reusable = true
  #active: Active | undefined
  #idleTimer: NodeJS.Timeout | undefined
  /** Requests this connection has finished (0: a failure before the first response is not a stale keep-alive). */
  served = 0
  readonly connected: Promise<void>

  constructor(pool: DirectGetPool, origin: string, host: string, port: number) {
    this.#pool = pool
    this.origin = origin
    let onConnect: () => void = () => {}
    let onConnectError: (e: unknown) => void = () => {}
    this.connected = new Promise<void>((resolve, reject) => {
      onConnect = resolve
      onConnectError = reject
    })
    this.connected.catch(() => {})
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => this.#readBuffer(),
        callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf),
      },
    } as net.NetConnectOpts)
    this.socket.once('connect', () => {
      if (this.#state === 'connecting') this.#state = 'idle'
      onConnect()
    })
    this.socket.on('error', (e) => {
      onConnectError(e)
      this.#fail(e)
    })
    this.socket.on('end', () => this.#onEnd())
    this.socket.on('close', () => {
      onConnectError(new StratosError('NODE_UNAVAILABLE', `connection to ${origin} closed`))
      this.#onEnd()
    })
  }

  get idle(): boolean {
    return this.#state === 'idle' && !this.#active
  }

  /** Sends one request; the connection must be idle. */
  start(active: Active, requestBytes: string): void {
    this.#clearIdle()
    this.socket.ref()
    this.#active = active
    this.#state = 'head'
    this.#head = []
    this.#headBytes = 0
    this.#clearTargets()
    this.#received = 0
    this.#parsed = undefined
    this.#errorBody = []
    this.#errorBytes = 0
    this.#errorUntilClose = false
    this.socket.write(requestBytes, 'latin1')
  }

  /** Drops the connection; an active request fails with `reason`. */
  destroy(reason: unknown): void {
    if (this.#state === 'closed') return
    this.#fail(reason)
  }

  /** Idle in the pool: does not keep the process alive, closes itself after DIRECT_GET_IDLE_TIMEOUT_MS. */
  parkIdle(): void {
    this.socket.unref()
    this.#idleTimer = setTimeout(() => this.#close(), DIRECT_GET_IDLE_TIMEOUT_MS)
    this.#idleTimer.unref()
  }

  #clearIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
  }

  #readBuffer(): Uint8Array {
    // The body's own bytes, never more: a read can then never take bytes past the body.
    if (this.#state === 'body' && this.#part < this.#targets.length)
      return this.#targets[this.#part].subarray(this.#partFilled)
    return this.#scratch
  }

  #clearTargets(): void {
    this.#targets = []
    this.#part = 0
    this.#partFilled = 0
  }

  /** `n` more body bytes are in the current buffer: moves on to the next one when it is full. */
  #advance(n: number): void {
    this.#partFilled += n
    while (this.#part < this.#targets.length && this.#partFilled >= this.#targets[this.#part].length) {
      this.#partFilled -= this.#targets[this.#part].length
      this.#part++
    }
  }

  /** Copies body bytes that arrived with the head into the body's buffers. */
  #scatter(bytes: Uint8Array): void {
    let off = 0
    while (off < bytes.length) {
      const t = this.#targets[this.#part]
      const take = Math.min(t.length - this.#partFilled, bytes.length - off)
      t.set(bytes.subarray(off, off + take), this.#partFilled)
      off += take
      this.#advance(take)
    }
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    try {
      if (n <= 0) return true
      const a = this.#active
      if (!a) throw new StratosError('UPSTREAM_ERROR', `${this.origin} sent data on an idle connection`)
      a.responseBytes += n
      if (this.#state === 'body') {
        this.#advance(n)
        this.#received += n
        a.p.onBody?.(this.#received)
        if (this.#received === this.#expected) this.#finish()
        return true
      }
      const bytes = Buffer.from(buf.buffer, buf.byteOffset, n)
      if (this.#state === 'head') this.#onHeadBytes(bytes)
      else if (this.#state === 'error-body') this.#onErrorBytes(bytes)
      return true
    } catch (e) {
      this.#fail(e)
      return false
    }
  }

  #onHeadBytes(bytes: Buffer): void {
    // The scratch buffer is reused by the next read: keep a copy of what belongs to the head.
    this.#head.push(Buffer.from(bytes))
    this.#headBytes += bytes.length
    const all = this.#head.length === 1 ? this.#head[0] : Buffer.concat(this.#head)
    this.#head = [all]
    const end = all.indexOf(CRLFCRLF)
    if (end < 0) {
      if (this.#headBytes > DIRECT_GET_MAX_HEAD_BYTES)
        throw new StratosError(
          'UPSTREAM_ERROR',
          `${this.origin} sent a response head over ${DIRECT_GET_MAX_HEAD_BYTES} bytes`,
        )
      return
    }
    const head = parseHead(all.subarray(0, end).toString('latin1'), this.origin)
    this.#parsed = head
    if ((head.headers.connection ?? '').toLowerCase().includes('close')) this.#reusable = false
    const rest = all.subarray(end + 4)
    if (head.status >= 200 && head.status < 300) {
      if (head.contentLength === undefined)
        throw new StratosError('UPSTREAM_ERROR', `${this.origin} answered a ${head.status} without Content-Length`)
      const answer = this.#active!.p.onHead(head)
      const targets = Array.isArray(answer) ? answer.filter((t) => t.length > 0) : [answer]
      let length = 0
      for (const t of targets) length += t.length
      if (length !== head.contentLength)
        throw new StratosError('UPSTREAM_ERROR', `body buffer of ${length} bytes for a ${head.contentLength}-byte body`)
      if (rest.length > length)
        throw new StratosError('UPSTREAM_ERROR', `${this.origin} sent more bytes than its Content-Length`)
      this.#targets = targets
      this.#part = 0
      this.#partFilled = 0
      this.#expected = length
      this.#state = 'body'
      this.#scatter(rest)
      this.#received = rest.length
      if (rest.length > 0) this.#active!.p.onBody?.(this.#received)
      if (this.#received === this.#expected) this.#finish()
      return
    }
    // An error status: its body (if any) is read into a bounded buffer.
    this.#state = 'error-body'
    if (head.contentLength === undefined) {
      // No length (chunked or until close): read what comes, bounded, and never reuse the connection.
      this.#reusable = false
      this.#errorUntilClose = true
      this.#expected = DIRECT_GET_MAX_ERROR_BODY_BYTES
    } else {
      this.#expected = head.contentLength
    }
    this.#onErrorBytes(rest)
  }

  #onErrorBytes(bytes: Buffer): void {
    const room = Math.min(this.#expected, DIRECT_GET_MAX_ERROR_BODY_BYTES) - this.#errorBytes
    if (room > 0 && bytes.length > 0) {
      const take = bytes.subarray(0, room)
      this.#errorBody.push(Buffer.from(take))
      this.#errorBytes += take.length
    }
    this.#received += bytes.length
    if (this.#received > this.#expected && !this.#errorUntilClose) this.#reusable = false
    // Done when the whole declared body is here, or (no length) when the bound is reached.
    if (this.#received >= this.#expected) {
      if (this.#expected > DIRECT_GET_MAX_ERROR_BODY_BYTES) this.#reusable = false
      this.#finish()
    } else if (this.#errorBytes >= DIRECT_GET_MAX_ERROR_BODY_BYTES) {
      // An oversized error body: keep its start and drop the connection rather than read the rest.
      this.#reusable = false
      this.#finish()
    }
  }

  #finish(): void {
    const a = this.#active!
    const head = this.#parsed!
    const ok = head.status >= 200 && head.status < 300
    const result: DirectGetResult = ok
      ? { head, received: this.#received }
      : { head, received: this.#errorBytes, errorBody: Buffer.concat(this.#errorBody) }
    this.#active = undefined
    this.#clearTargets()
    this.#errorBody = []
    this.served++
    if (this.#reusable) {
      this.#state = 'idle'
      this.#pool.release(this)
    } else {
      this.#close()
    }
    a.resolve(result)
  }

  #onEnd(): void {
    if (this.#state === 'closed') return
    if (this.#active && this.#state === 'error-body' && this.#errorUntilClose) {
      this.#reusable = false
      this.#finish()
      return
    }
    this.#fail(new StratosError('NODE_UNAVAILABLE', `${this.origin} closed the connection`, { url: this.origin }))
  }

  #fail(e: unknown): void {
    const a = this.#active
    this.#active = undefined
    this.#clearTargets()
    this.#close()
    a?.reject(e)
  }

  #close(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#clearIdle()
    this.#pool.forget(this)
    this.socket.destroy()
  }
}

/** Parses an HTTP/1.x response head (status line and headers, without the blank line). */
export function parseHead(text: string, origin: string): DirectGetHead {
  const lines = text.split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (!m) throw new StratosError('UPSTREAM_ERROR', `${origin} sent a malformed status line`)
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    const colon = line.indexOf(':')
    if (colon <= 0) throw new StratosError('UPSTREAM_ERROR', `${origin} sent a malformed header line`)
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let contentLength: number | undefined
  if (headers['transfer-encoding'] !== undefined) contentLength = undefined
  else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (!Number.isSafeInteger(n) || n < 0 || !/^\d+$/.test(headers['content-length']))
      throw new StratosError('UPSTREAM_ERROR', `${origin} sent an invalid Content-Length`)
    contentLength = n
  }
  return { status: Number(m[1]), headers, contentLength }
}

/** Keep-alive connections per origin for direct GETs. */
export class DirectGetPool {
  readonly #idle = new Map<string, Connection[]>()
  readonly #all = new Set<Connection>()
  readonly #endpoints = new Map<string, { host: string; port: number; hostHeader: string }>()
  #closed = false

  /** Runs one GET (see DirectGetParameters). Transport failures reject with the socket's error or the signal's reason. */
  async get(p: DirectGetParameters): Promise<DirectGetResult> {
    if (this.#closed) throw new StratosError('ABORTED', 'the connection pool is closed')
    const ep = this.#endpoint(p.origin)
    const request =
      `GET ${p.path} HTTP/1.1\r\nhost: ${ep.hostHeader}\r\n` +
      Object.entries(p.headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n'
    if (/[\r\n]/.test(p.path) || Object.entries(p.headers).some(([k, v]) => /[\r\n:]/.test(k) || /[\r\n]/.test(v))) {
      throw new StratosError('BAD_REQUEST', 'header or path contains a line break')
    }
    let timedOut: DOMException | undefined
    let current: Connection | undefined
    const timer =
      p.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = new DOMException('The operation was aborted due to timeout', 'TimeoutError')
            current?.destroy(timedOut)
          }, p.timeoutMs)
    try {
      return await this.#get(
        p,
        request,
        ep,
        (c) => {
          current = c
          if (timedOut) c.destroy(timedOut)
        },
        () => timedOut,
      )
    } finally {
      clearTimeout(timer)
    }
  }

  async #get(
    p: DirectGetParameters,
    request: string,
    ep: { host: string; port: number },
    use: (c: Connection) => void,
    timedOut: () => DOMException | undefined,
  ): Promise<DirectGetResult> {
    for (let attempt = 0; ; attempt++) {
      p.signal.throwIfAborted()
      const late = timedOut()
      if (late) throw late
      const conn = this.#take(p.origin) ?? this.#open(p.origin, ep.host, ep.port)
      const reused = conn.served > 0
      use(conn)
      const active: Active = { p, resolve: () => {}, reject: () => {}, responseBytes: 0 }
      const done = new Promise<DirectGetResult>((resolve, reject) => {
        active.resolve = resolve
        active.reject = reject
      })
      const onAbort = (): void => conn.destroy(p.signal.reason)
      p.signal.addEventListener('abort', onAbort, { once: true })
      try {
        await Promise.race([conn.connected, done])
        conn.start(active, request)
        return await done
      } catch (e) {
        if (p.signal.aborted) throw p.signal.reason ?? e
        const late = timedOut()
        if (late) throw late
        // A keep-alive connection the server closed just as we reused it: nothing was answered, try a new one.
        if (reused && attempt === 0 && active.responseBytes === 0) continue
        throw e
      } finally {
        p.signal.removeEventListener('abort', onAbort)
      }
    }
  }

  /** Closes every connection (idle ones at once; active requests fail). */
  close(): void {
    this.#closed = true
    for (const c of [...this.#all]) c.destroy(new StratosError('ABORTED', 'the connection pool is closed'))
  }

  /** Called by a connection that finished a response and can be reused. */
  release(conn: Connection): void {
    if (this.#closed) {
      conn.destroy(new StratosError('ABORTED', 'the connection pool is closed'))
      return
    }
    const list = this.#idle.get(conn.origin) ?? []
    if (list.length >= DIRECT_GET_MAX_IDLE_PER_ORIGIN) {
      conn.destroy(new StratosError('ABORTED', 'idle pool full'))
      return
    }
    list.push(conn)
    this.#idle.set(conn.origin, list)
    conn.parkIdle()
  }

  /** Called by a connection that closed. */
  forget(conn: Connection): void {
    this.#all.delete(conn)
    const list = this.#idle.get(conn.origin)
    if (!list) return
    const i = list.indexOf(conn)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) this.#idle.delete(conn.origin)
  }

  #take(origin: string): Connection | undefined {
    const list = this.#idle.get(origin)
    while (list && list.length > 0) {
      const c = list.pop()!
      if (c.idle) return c
    }
    return undefined
  }

  #open(origin: string, host: string, port: number): Connection {
    const c = new Connection(this, origin, host, port)
    this.#all.add(c)
    return c
  }

  #endpoint(origin: string): { host: string; port: number; hostHeader: string } {
    let ep = this.#endpoints.get(origin)
    if (ep) return ep
    let u: URL
    try {
      u = new URL(origin)
    } catch {
      throw new StratosError('BAD_REQUEST', `not a URL: ${origin}`)
    }
    if (u.protocol !== 'http:')
      throw new StratosError('BAD_REQUEST', `direct GETs support http: origins only, not ${u.protocol}`)
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    ep = { host, port: Number(u.port || 80), hostHeader: u.host }
    if (this.#endpoints.size > 4096) this.#endpoints.clear()
    this.#endpoints.set(origin, ep)
    return ep
  }
}

let sharedPool: DirectGetPool | undefined
/** The process-wide pool (like the shared undici Agent in json-request.ts). */
export function defaultDirectGetPool(): DirectGetPool {
  sharedPool ??= new DirectGetPool()
  return sharedPool
}
