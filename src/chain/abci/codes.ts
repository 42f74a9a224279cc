/**
 * ABCI result codes: the number CometBFT reports (CheckTx, FinalizeBlock's per-tx results, Query) for each
 * error code of src/errors.ts. 0 is success (ABCI's convention). The numbers are part of the chain's
 * consensus (they enter CometBFT's LastResultsHash), so a code keeps its number forever: a new error code
 * gets the next free number at the end, never a reused one. `Record<ErrorCode, number>` keeps the table
 * exhaustive (a new error code without a number does not compile); the codespace is `ABCI_CODESPACE`.
 */
import type { ErrorCode } from '../../errors.ts'

export const ABCI_CODESPACE = 'stratos'

export const ABCI_OK = 0

export const ABCI_CODES: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 1,
  INVALID_CID: 2,
  INVALID_SIGNATURE: 3,
  REQUEST_EXPIRED: 4,
  REPLAYED_NONCE: 5,
  WRONG_CHAIN: 6,
  TICKET_MISSING: 7,
  TICKET_INVALID: 8,
  TICKET_EXPIRED: 9,
  TICKET_WRONG_NODE: 10,
  TICKET_MISMATCH: 11,
  UNTRUSTED_ISSUER: 12,
  NOT_OWNER: 13,
  ORDER_MISSING: 14,
  ORDER_INVALID: 15,
  ORDER_LIMIT_EXCEEDED: 16,
  AUDIT_INVALID: 17,
  INSUFFICIENT_OZONE: 18,
  BAD_PASSWORD: 19,
  SHARE_NOT_FOUND: 20,
  SHARE_EXPIRED: 21,
  SHARE_REVOKED: 22,
  PASSWORD_REQUIRED: 23,
  TOO_MANY_ATTEMPTS: 24,
  RATE_LIMITED: 25,
  ACCESS_DENIED: 26,
  GRANT_NOT_FOUND: 27,
  GRANT_EXPIRED: 28,
  GRANT_REVOKED: 29,
  BUDGET_EXCEEDED: 30,
  NOT_FOUND: 31,
  FILE_NOT_FOUND: 32,
  SHARD_NOT_FOUND: 33,
  UPLOAD_NOT_FOUND: 34,
  NODE_NOT_REGISTERED: 35,
  METHOD_NOT_ALLOWED: 36,
  CONFLICT: 37,
  UPLOAD_INCOMPLETE: 38,
  PAYLOAD_TOO_LARGE: 39,
  RANGE_NOT_SATISFIABLE: 40,
  HASH_MISMATCH: 41,
  SIZE_MISMATCH: 42,
  UNKNOWN_MESSAGE: 43,
  BAD_NONCE: 44,
  INSUFFICIENT_FEE: 45,
  INSUFFICIENT_FUNDS: 46,
  BAD_BLOCK: 47,
  INSUFFICIENT_STORAGE: 48,
  NOT_ENOUGH_NODES: 49,
  NODE_UNAVAILABLE: 50,
  SHARD_CORRUPT: 51,
  DATA_UNAVAILABLE: 52,
  MEMPOOL_FULL: 53,
  BUSY: 54,
  UPSTREAM_ERROR: 55,
  ABORTED: 56,
  TIMEOUT: 57,
  NETWORK_CONFIG: 58,
  INTERNAL: 59,
  DELEGATION_NOT_FOUND: 60,
  DELEGATION_EXPIRED: 61,
  DELEGATION_REVOKED: 62,
  DELEGATION_SCOPE: 63,
  ORDER_NOT_NEEDED: 64,
}

/** The ABCI code of a result: 0 for 'OK', else the error code's number. */
export function abciCode(code: 'OK' | ErrorCode): number {
  return code === 'OK' ? ABCI_OK : ABCI_CODES[code]
}

const BY_NUMBER = new Map(Object.entries(ABCI_CODES).map(([code, n]) => [n, code as ErrorCode]))

/** The error code of a non-zero ABCI code of this chain (codespace `stratos`); unknown numbers are UPSTREAM_ERROR. */
export function errorCodeOfAbci(code: number): ErrorCode {
  return BY_NUMBER.get(code) ?? 'UPSTREAM_ERROR'
}
