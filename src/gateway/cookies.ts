/**
 * The gateway's cookies (the wallet session, session.ts; share links, share.ts): always `HttpOnly` (page scripts
 * cannot read them) and `SameSite=Strict` (another site's page cannot make the browser send them), each scoped to
 * the one path prefix that reads it.
 */
import type { IncomingMessage } from 'node:http'

/** A Set-Cookie value; `maxAgeSeconds` 0 with an empty value clears it. */
export function gatewayCookie(name: string, value: string, path: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict`
}

/** The first value of cookie `name` in the request that `accept` takes (a browser may send several of one name). */
export function requestCookie(
  req: IncomingMessage,
  name: string,
  accept: (value: string) => boolean,
): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim()
      if (accept(v)) return v
    }
  }
  return undefined
}
