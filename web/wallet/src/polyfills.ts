/**
 * The one global the shared src/ modules expect beyond the web platform: Buffer (they hex-encode signatures with
 * it). Imported first by main.tsx, so it is in place before any shared module runs.
 */
import { Buffer } from 'buffer'

const g = globalThis as { Buffer?: typeof Buffer }
g.Buffer ??= Buffer

// buffer@6 predates Node's 'base64url' encoding, which the shared modules use (src/crypto/hash.ts toBase64Url).
type Encoding = Parameters<Buffer['toString']>[0]
const toStringOf = Buffer.prototype.toString
Buffer.prototype.toString = function (this: Buffer, encoding?: string, start?: number, end?: number): string {
  if (encoding !== 'base64url') return toStringOf.call(this, encoding as Encoding, start, end)
  return toStringOf.call(this, 'base64', start, end).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
} as Buffer['toString']
const fromOf = Buffer.from as (...a: unknown[]) => Buffer
Buffer.from = ((value: unknown, encoding?: unknown, length?: unknown): Buffer => {
  if (encoding === 'base64url' && typeof value === 'string')
    return fromOf.call(Buffer, value.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  return fromOf.call(Buffer, value, encoding, length)
}) as typeof Buffer.from
