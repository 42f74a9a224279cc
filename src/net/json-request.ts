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

export async function jsonRequest<T>(url: string, opts: JsonRequestOptions): Promise<T> {
  const signal = withTimeout(opts.signal, opts.timeoutMs ?? CLIENT_CONTROL_TIMEOUT_MS)
  let res: Dispatcher.ResponseData
  try {
    res = await request(url, {
      method: opts.method,
      dispatcher: opts.dispatcher ?? defaultDispatcher(),
      headers: {
        accept: 'application/json',
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal,
    })
  } catch (e) {
    throw transportError(e, url, opts.signal)
  }
  let text: string
  try {
    text = await res.body.text()
  } catch (e) {
    throw transportError(e, url, opts.signal)
  }
  let parsed: unknown
  try {
    parsed = text.length ? JSON.parse(text) : undefined
  } catch {
    throw new StratosError('UPSTREAM_ERROR', `${url} answered HTTP ${res.statusCode} with a body that is not JSON`, {
      status: res.statusCode,
    })
  }
  if (res.statusCode >= 400) throw StratosError.fromBody(parsed, res.statusCode)
  return parsed as T
}
