/**
 * Typed errors with stable codes.
 *
 * Every error that crosses a boundary (HTTP API, CLI exit, SDK call) is a `StratosError`
 * with a `code` from `ERROR_CODES`. Tests assert codes, never message text. The HTTP
 * status and CLI exit code for each code are fixed here so every surface agrees.
 */

export const ERROR_CODES = {
  // Input and protocol validation (4xx).
  BAD_REQUEST: { status: 400, exit: 2 },
  INVALID_CID: { status: 400, exit: 2 },
  INVALID_SIGNATURE: { status: 401, exit: 3 },
  REQUEST_EXPIRED: { status: 401, exit: 3 },
  REPLAYED_NONCE: { status: 409, exit: 3 },
  WRONG_CHAIN: { status: 401, exit: 3 },
  TICKET_MISSING: { status: 401, exit: 3 },
  TICKET_INVALID: { status: 401, exit: 3 },
  TICKET_EXPIRED: { status: 401, exit: 3 },
  TICKET_WRONG_NODE: { status: 403, exit: 3 },
  TICKET_MISMATCH: { status: 403, exit: 3 },
  UNTRUSTED_ISSUER: { status: 403, exit: 3 },
  NOT_OWNER: { status: 403, exit: 3 },
  // Proof of Traffic: a shard transfer without a valid signed order, or past its order limit.
  ORDER_MISSING: { status: 401, exit: 3 },
  ORDER_INVALID: { status: 403, exit: 3 },
  ORDER_LIMIT_EXCEEDED: { status: 403, exit: 3 },
  // A PUT order handed in for settlement: PUT traffic is credited from the upload's commit, not settled from orders.
  ORDER_NOT_NEEDED: { status: 400, exit: 3 },
  // Storage audits: a challenge or an answer that does not check out (wrong node or shard, stale nonce, forged
  // chunk-hash list, chunk bytes that do not match).
  AUDIT_INVALID: { status: 403, exit: 3 },
  // The payer's prepaid traffic (ozone) does not cover the transfer; details name the shortfall.
  INSUFFICIENT_OZONE: { status: 402, exit: 8 },
  // A keystore password that does not open the keystore (or a keystore altered since it was written).
  BAD_PASSWORD: { status: 401, exit: 3 },
  // Share links: a link id nobody created, a link past its expiry or revoked by its owner, a password-protected link
  // asked without a password (the gateway answers 401 with WWW-Authenticate: Basic), too many wrong passwords.
  SHARE_NOT_FOUND: { status: 404, exit: 4 },
  SHARE_EXPIRED: { status: 410, exit: 4 },
  SHARE_REVOKED: { status: 410, exit: 4 },
  PASSWORD_REQUIRED: { status: 401, exit: 3 },
  TOO_MANY_ATTEMPTS: { status: 429, exit: 6 },
  // Per-client rate limit of the gateway or the IPFS RPC API (src/util/rate-limit.ts); Retry-After says when to retry.
  RATE_LIMITED: { status: 429, exit: 6 },
  // Access control (docs/security.md): a private file read without its owner's session, a share link or a grant; a
  // grant nobody issued, past its expiry or revoked; a public file whose owner's budget for strangers' reads is used up.
  ACCESS_DENIED: { status: 403, exit: 3 },
  GRANT_NOT_FOUND: { status: 404, exit: 4 },
  GRANT_EXPIRED: { status: 410, exit: 4 },
  GRANT_REVOKED: { status: 410, exit: 4 },
  BUDGET_EXCEEDED: { status: 429, exit: 8 },
  // Delegations (src/sds/meta/delegations.ts): a delegate key acting for a wallet without a live delegation that
  // names it, or outside the delegation's scopes.
  DELEGATION_NOT_FOUND: { status: 404, exit: 4 },
  DELEGATION_EXPIRED: { status: 410, exit: 4 },
  DELEGATION_REVOKED: { status: 410, exit: 4 },
  DELEGATION_SCOPE: { status: 403, exit: 3 },
  NOT_FOUND: { status: 404, exit: 4 },
  FILE_NOT_FOUND: { status: 404, exit: 4 },
  SHARD_NOT_FOUND: { status: 404, exit: 4 },
  UPLOAD_NOT_FOUND: { status: 404, exit: 4 },
  NODE_NOT_REGISTERED: { status: 404, exit: 4 },
  METHOD_NOT_ALLOWED: { status: 405, exit: 2 },
  CONFLICT: { status: 409, exit: 2 },
  UPLOAD_INCOMPLETE: { status: 409, exit: 5 },
  PAYLOAD_TOO_LARGE: { status: 413, exit: 2 },
  RANGE_NOT_SATISFIABLE: { status: 416, exit: 2 },
  HASH_MISMATCH: { status: 422, exit: 5 },
  SIZE_MISMATCH: { status: 422, exit: 5 },
  // Chain (STOS ledger) transactions.
  UNKNOWN_MESSAGE: { status: 400, exit: 2 },
  BAD_NONCE: { status: 409, exit: 3 },
  INSUFFICIENT_FEE: { status: 422, exit: 2 },
  INSUFFICIENT_FUNDS: { status: 422, exit: 2 },
  BAD_BLOCK: { status: 400, exit: 2 },
  // Capacity and availability (5xx: the caller may retry elsewhere).
  INSUFFICIENT_STORAGE: { status: 507, exit: 6 },
  NOT_ENOUGH_NODES: { status: 503, exit: 6 },
  NODE_UNAVAILABLE: { status: 503, exit: 6 },
  SHARD_CORRUPT: { status: 500, exit: 6 },
  DATA_UNAVAILABLE: { status: 503, exit: 6 },
  /** The chain node's mempool (or one sender's share of it) is full; retry after a block. */
  MEMPOOL_FULL: { status: 503, exit: 6 },
  /** A bounded server resource (SSE subscribers, long-poll waiters) is exhausted; retry later. */
  BUSY: { status: 503, exit: 6 },
  UPSTREAM_ERROR: { status: 502, exit: 6 },
  // Local and lifecycle.
  ABORTED: { status: 499, exit: 130 },
  TIMEOUT: { status: 504, exit: 6 },
  NETWORK_CONFIG: { status: 500, exit: 7 },
  INTERNAL: { status: 500, exit: 1 },
} as const satisfies Record<string, { status: number; exit: number }>

export type ErrorCode = keyof typeof ERROR_CODES

export type ErrorDetails = Record<string, unknown>

/** JSON shape of every error answered by our HTTP APIs: `{ "error": { code, message, details? } }`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: ErrorDetails }
}

export class StratosError extends Error {
  readonly code: ErrorCode
  readonly details: ErrorDetails | undefined

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StratosError'
    this.code = code
    this.details = details
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } }
  }

  /** Rebuilds an error received over HTTP; unknown codes become UPSTREAM_ERROR. */
  static fromBody(body: unknown, status: number): StratosError {
    const e = (body as Partial<ErrorBody> | undefined)?.error
    if (e && typeof e.code === 'string' && e.code in ERROR_CODES && typeof e.message === 'string') {
      return new StratosError(e.code as ErrorCode, e.message, e.details)
    }
    return new StratosError('UPSTREAM_ERROR', `unexpected HTTP ${status} response`, { status })
  }
}

export function isStratosError(e: unknown, code?: ErrorCode): e is StratosError {
  return e instanceof StratosError && (code === undefined || e.code === code)
}

/** Wraps anything thrown into a StratosError, keeping typed ones as they are. */
export function toStratosError(e: unknown): StratosError {
  if (e instanceof StratosError) return e
  if (e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR')) {
    return new StratosError('ABORTED', 'operation aborted', undefined, { cause: e })
  }
  const message = e instanceof Error ? e.message : String(e)
  return new StratosError('INTERNAL', message, undefined, { cause: e })
}

/** Throws ABORTED if the signal has fired; call at every await point of long operations. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal.reason })
}
