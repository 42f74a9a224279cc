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
      // Loops and concatenation rather than filter/map/join: the same text with fewer temporaries (this runs for
      // every tx, result and event a validator handles; bench/README.md, issue 14).
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          const v = value[i] as CanonicalValue
          // A hole stays empty, as join() left it; an undefined member is null.
          out += (i === 0 ? '' : ',') + (v !== undefined ? canonicalJson(v) : i in value ? 'null' : '')
        }
        return out + ']'
      }
      const obj = value as { readonly [key: string]: CanonicalValue }
      const keys = Object.keys(obj).sort()
      let out = '{'
      for (const k of keys) {
        const v = obj[k]
        if (v === undefined) continue
        out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v)
      }
      return out + '}'
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
