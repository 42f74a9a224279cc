/**
 * HTTP plumbing shared by the typed clients: one undici Agent per process (keep-alive,
 * bounded connections per origin), JSON requests with typed errors, timeouts and AbortSignal. In the CLI bundle
 * `undici` is scripts/undici-node-http.cjs (the same Agent and request() on node:http; scripts/bundle-cli.mjs).
 */
import { Agent, request, type Dispatcher } from 'undici'
import { StratosError, toStratosError } from '../errors.ts'
import { CLIENT_CONTROL_TIMEOUT_MS, CLIENT_SHARD_CONCURRENCY } from '../limits.ts'

let sharedAgent: Agent | undefined
/** Process-wide connection pool: keep-alive connections, at most CLIENT_SHARD_CONCURRENCY per origin. */
export function defaultDispatcher(): Agent {
  sharedAgent ??= new Agent({ connections: CLIENT_SHARD_CONCURRENCY, keepAliveTimeout: 30_000, pipelining: 1 })
  return sharedAgent
}

export async function closeDefaultDispatcher(): Promise<void> {
  const a = sharedAgent
  sharedAgent = undefined
  await a?.close()
}

export interface JsonRequestOptions {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT'
  body?: unknown
  signal?: AbortSignal
  timeoutMs?: number
  dispatcher?: Dispatcher
  headers?: Record<string, string>
}

/** Combines a caller's signal with a timeout; the returned signal fires on either. */
export function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const t = AbortSignal.timeout(timeoutMs)
  return signal ? AbortSignal.any([signal, t]) : t
}

/** Maps transport failures to typed errors: aborts stay ABORTED, timeouts TIMEOUT, the rest NODE_UNAVAILABLE. */
export function transportError(e: unknown, url: string, callerSignal?: AbortSignal): StratosError {
  if (e instanceof StratosError) return e
  if (callerSignal?.aborted) return new StratosError('ABORTED', 'operation aborted', undefined, { cause: e })
  const name = (e as { name?: string })?.name
  if (name === 'TimeoutError' || name === 'AbortError' || (e as { code?: string })?.code === 'UND_ERR_ABORTED') {
    return new StratosError('TIMEOUT', `request to ${url} timed out`, { url }, { cause: e })
  }
  const err = toStratosError(e)
  return new StratosError('NODE_UNAVAILABLE', `cannot reach ${url}: ${err.message}`, { url }, { cause: e })
}

/** A small answer: the status and the whole body (a JSON document or an error's). */
export interface SmallAnswer {
  status: number
  body: Buffer
}

export interface SmallRequest {
  /** `http(s)://host[:port]` and the path (with its query), as a dispatcher takes them. */
  origin: string
  path: string
  method: 'GET' | 'POST' | 'DELETE' | 'PUT'
  headers: Record<string, string>
  body?: string | Uint8Array
  /** The caller's signal: its abort fails the request (transportError maps it to ABORTED). */
  signal?: AbortSignal
  /** Fails the request with a TimeoutError (TIMEOUT) when it has not ended after this many ms. */
  timeoutMs: number
  dispatcher: Dispatcher
}

const EMPTY = Buffer.alloc(0)

/**
 * One in-flight SmallRequest: undici's dispatch handler (its onConnect … onComplete / onError callbacks, the form its
 * HTTP/1.1 client calls directly), the caller signal's listener (handleEvent) and the timeout's target, in one object.
 */
class SmallExchange {
  status = 0
  chunks: Buffer[] = []
  bytes = 0
  done = false
  /** Why it ended early (timeout, caller's abort): handed to undici's abort once it gives one. */
  reason: unknown = undefined
  abort: ((e: Error) => void) | undefined = undefined
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  readonly signal: AbortSignal | undefined
  readonly resolve: (a: SmallAnswer) => void
  readonly reject: (e: unknown) => void

  constructor(signal: AbortSignal | undefined, resolve: (a: SmallAnswer) => void, reject: (e: unknown) => void) {
    this.signal = signal
    this.resolve = resolve
    this.reject = reject
  }

  onConnect(abort: (e: Error) => void): void {
    if (this.done) abort(this.reason instanceof Error ? this.reason : new Error('request ended'))
    else this.abort = abort
  }

  onHeaders(status: number): boolean {
    // Interim answers (1xx) precede the real one.
    if (status >= 200) this.status = status
    return true
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    return true
  }

  onComplete(): void {
    if (this.done) return
    const c = this.chunks
    const body = c.length === 1 ? c[0]! : c.length === 0 ? EMPTY : Buffer.concat(c, this.bytes)
    this.end()
    this.resolve({ status: this.status, body })
  }

  onError(e: Error): void {
    if (this.done) return
    this.end()
    this.reject(e)
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.fail(this.signal?.reason ?? new DOMException('This operation was aborted', 'AbortError'))
  }

  fail(reason: unknown): void {
    if (this.done) return
    this.reason = reason
    this.end()
    this.reject(reason)
    // undici calls onError (ignored now): the connection is dropped, as an aborted request's is.
    this.abort?.(reason instanceof Error ? reason : new Error('request ended'))
  }

  end(): void {
    this.done = true
    clearTimeout(this.timer)
    if (this.signal) offAbort(this.signal, this)
  }
}

/**
 * The requests waiting on each caller signal, behind one 'abort' listener per signal: a caller may run any number of
 * requests under one signal (a devnet's start, an upload's PUTs), and Node warns of a leak past 10 listeners on one.
 */
const waitingOn = new WeakMap<AbortSignal, Set<{ handleEvent(): void }>>()

function onAbort(signal: AbortSignal, waiter: { handleEvent(): void }): void {
  let waiters = waitingOn.get(signal)
  if (!waiters) {
    const all = new Set<{ handleEvent(): void }>()
    waitingOn.set(signal, all)
    signal.addEventListener(
      'abort',
      () => {
        for (const w of [...all]) w.handleEvent()
      },
      { once: true },
    )
    waiters = all
  }
  waiters.add(waiter)
}

function offAbort(signal: AbortSignal, waiter: { handleEvent(): void }): void {
  waitingOn.get(signal)?.delete(waiter)
}

function timeOut(x: SmallExchange): void {
  x.fail(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
}

/**
 * Sends one request whose answer is small and returns its status and body, through undici's dispatch with one
 * handler object and one timer: no AbortSignal.timeout + AbortSignal.any per request, no response stream (the
 * control requests and small shard PUTs of every upload; bench/README.md). Transport failures reject with
 * undici's error, the caller signal's reason or a TimeoutError, which transportError maps.
 */
export function smallRequest(r: SmallRequest): Promise<SmallAnswer> {
  if (r.signal?.aborted) return Promise.reject(r.signal.reason ?? new DOMException('aborted', 'AbortError'))
  return new Promise<SmallAnswer>((resolve, reject) => {
    const x = new SmallExchange(r.signal, resolve, reject)
    x.timer = setTimeout(timeOut, r.timeoutMs, x)
    if (r.signal) onAbort(r.signal, x)
    r.dispatcher.dispatch(
      { origin: r.origin, path: r.path, method: r.method, headers: r.headers, body: r.body ?? null },
      x as unknown as Dispatcher.DispatchHandler,
    )
  })
}

/** `url` as the origin and path a dispatcher takes, or undefined for anything but a plain http(s) URL. */
export function splitUrl(url: string): { origin: string; path: string } | undefined {
  const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : -1
  if (scheme < 0) return undefined
  let end = scheme
  while (end < url.length) {
    const ch = url.charCodeAt(end)
    // '/', '?', '#' end the authority; '@' (user info) and '\\' are left to undici's own URL parsing.
    if (ch === 0x2f || ch === 0x3f || ch === 0x23) break
    if (ch === 0x40 || ch === 0x5c) return undefined
    end++
  }
  if (end === scheme) return undefined
  const rest = url.slice(end)
  if (rest.includes('#')) return undefined
  return { origin: url.slice(0, end), path: rest.length === 0 ? '/' : rest.startsWith('?') ? `/${rest}` : rest }
}

/** Whether `d` takes dispatch() calls (undici's; the CLI bundle's node:http stand-in does not: request() there). */
function dispatches(d: Dispatcher): boolean {
  return typeof (d as { dispatch?: unknown }).dispatch === 'function'
}

/**
 * A PUT of `body` whose answer is small (a shard PUT's receipt): smallRequest where the dispatcher takes it, undici's
 * request() otherwise. Transport failures reject unmapped (callers map them with transportError).
 */
export async function putBytes(
  url: string,
  dispatcher: Dispatcher,
  headers: Record<string, string>,
  body: Uint8Array,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  const parts = dispatches(dispatcher) ? splitUrl(url) : undefined
  if (parts) {
    const a = await smallRequest({ ...parts, method: 'PUT', headers, body, signal, timeoutMs, dispatcher })
    return { status: a.status, text: a.body.toString('utf8') }
  }
  const res = await request(url, {
    method: 'PUT',
    dispatcher,
    headers: { ...headers, 'content-length': String(body.length) },
    body,
    signal: withTimeout(signal, timeoutMs),
  })
  return { status: res.statusCode, text: await res.body.text() }
}

export async function jsonRequest<T>(url: string, opts: JsonRequestOptions): Promise<T> {
  const dispatcher = opts.dispatcher ?? defaultDispatcher()
  const timeoutMs = opts.timeoutMs ?? CLIENT_CONTROL_TIMEOUT_MS
  const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined
  const headers: Record<string, string> =
    body !== undefined
      ? { accept: 'application/json', 'content-type': 'application/json', ...opts.headers }
      : { accept: 'application/json', ...opts.headers }
  const parts = dispatches(dispatcher) ? splitUrl(url) : undefined
  let status: number
  let text: string
  if (parts) {
    let answer: SmallAnswer
    try {
      answer = await smallRequest({
        origin: parts.origin,
        path: parts.path,
        method: opts.method,
        headers,
        body,
        signal: opts.signal,
        timeoutMs,
        dispatcher,
      })
    } catch (e) {
      throw transportError(e, url, opts.signal)
    }
    status = answer.status
    text = answer.body.toString('utf8')
  } else {
    const signal = withTimeout(opts.signal, timeoutMs)
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, { method: opts.method, dispatcher, headers, body, signal })
    } catch (e) {
      throw transportError(e, url, opts.signal)
    }
    try {
      text = await res.body.text()
    } catch (e) {
      throw transportError(e, url, opts.signal)
    }
    status = res.statusCode
  }
  let parsed: unknown
  try {
    parsed = text.length ? JSON.parse(text) : undefined
  } catch {
    throw new StratosError('UPSTREAM_ERROR', `${url} answered HTTP ${status} with a body that is not JSON`, {
      status,
    })
  }
  if (status >= 400) throw StratosError.fromBody(parsed, status)
  return parsed as T
}
