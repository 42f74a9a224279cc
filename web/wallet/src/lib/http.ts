/**
 * Requests to the gateway that served this page (same origin): its own API, and the chain and meta APIs it relays
 * (/api/v1/chain/, /api/v1/meta/). Error replies `{ error: { code, message, details } }` become AppError with the
 * code; a request that never got an answer is NETWORK_UNREACHABLE.
 */
import { AppError } from './errors.ts'

export async function http<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
      signal: init.signal,
      credentials: 'same-origin',
    })
  } catch (e) {
    if (init.signal?.aborted) throw e
    throw new AppError('NETWORK_UNREACHABLE', 'The network cannot be reached.')
  }
  return parseResponse<T>(res)
}

export async function parseResponse<T>(res: Response): Promise<T> {
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (!res.ok) throw errorOf(res.status, json, text)
  return json as T
}

export function errorOf(status: number, json: unknown, text = ''): AppError {
  const err = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)
    ?.error
  if (err?.code) return new AppError(err.code, err.message ?? err.code, status, err.details)
  if (status === 502 || status === 503 || status === 504)
    return new AppError('NETWORK_UNREACHABLE', 'The network cannot be reached.', status)
  return new AppError('UPSTREAM_ERROR', `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`, status)
}
