/**
 * Canonical JSON: the one encoding every signed message uses.
 *
 * Rules: object keys sorted by UTF-16 code unit order, no whitespace, `bigint` written as a
 * decimal string, `undefined` members dropped, only finite safe integers as numbers (no floats:
 * amounts are bigint, sizes and times are integers). Two equal values always encode to the
 * same bytes, so a signature over the encoding is a signature over the value.
 */
import { StratosError } from '../errors.ts'

export type CanonicalValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue }

export function canonicalJson(value: CanonicalValue): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'bigint':
      return JSON.stringify(value.toString())
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isSafeInteger(value))
        throw new StratosError('BAD_REQUEST', `canonical encoding allows only safe integers, got ${value}`)
      return String(value)
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value))
        return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']'
      const obj = value as { readonly [key: string]: CanonicalValue }
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort()
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}'
    }
    default:
      throw new StratosError('BAD_REQUEST', `canonical encoding cannot encode ${typeof value}`)
  }
}

const encoder = new TextEncoder()

/** Bytes that get signed: a domain tag (so a signature for one message type is never valid for another) and the canonical JSON. */
export function signingBytes(domain: string, value: CanonicalValue): Uint8Array {
  return encoder.encode(`${domain}\n${canonicalJson(value)}`)
}
