/**
 * Errors the portal shows a person: a stable code (the network's StratosError codes, plus the portal's own) and a
 * sentence that says what happened and what to do.
 */
export class AppError extends Error {
  readonly code: string
  readonly status: number
  readonly details: Record<string, unknown> | undefined

  constructor(code: string, message: string, status = 0, details?: Record<string, unknown>) {
    super(message)
    this.code = code
    this.status = status
    this.details = details
  }
}

/** What to tell a person for a code the network answered (the server's message is kept as a fallback). */
const FRIENDLY: Record<string, string> = {
  INSUFFICIENT_OZONE: 'You have no ozone (prepaid traffic) left for this. Prepay some STOS for ozone first.',
  INSUFFICIENT_FUNDS: 'Your balance is too low for this amount plus the fee.',
  NETWORK_UNREACHABLE: 'The network cannot be reached. Check that the gateway is running, then try again.',
  NODE_UNAVAILABLE: 'A node of the network is not reachable right now. Try again in a moment.',
  BAD_PASSWORD: 'Wrong password for this link.',
  PASSWORD_REQUIRED: 'This link needs a password.',
  SHARE_EXPIRED: 'This link has expired.',
  SHARE_REVOKED: 'This link was revoked by its owner.',
  SHARE_NOT_FOUND: 'There is no such link.',
  RATE_LIMITED: 'Too many requests: wait a few seconds and try again.',
  ACCESS_DENIED: 'You may not read this file with the current account.',
  REQUEST_EXPIRED: "This device's clock seems wrong: requests expired before they arrived.",
  BAD_NONCE: 'Another transaction from this account was sent at the same time. Try again.',
}

export function friendly(e: unknown): { code: string; message: string } {
  if (e instanceof AppError) return { code: e.code, message: FRIENDLY[e.code] ?? e.message }
  if (e instanceof DOMException && e.name === 'AbortError') return { code: 'ABORTED', message: 'Cancelled.' }
  const message = e instanceof Error ? e.message : String(e)
  return { code: 'INTERNAL', message }
}
