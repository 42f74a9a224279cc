/**
 * Encoding of state values and key parts.
 *
 *  - amounts and counters: decimal ASCII of a non-negative bigint; a missing key reads as 0 and
 *    writing 0 deletes the key (so empty accounts leave no trace in the state);
 *  - records: canonical JSON (bigints as decimal strings), decoded by each module's own parser;
 *  - numbers inside keys (heights, epochs): 20-digit zero-padded decimal so key order is numeric
 *    order.
 */
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { StratosError } from '../../errors.ts'
import type { KvStore } from './kv.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeText(s: string): Uint8Array {
  return encoder.encode(s)
}

export function decodeText(b: Uint8Array): string {
  return decoder.decode(b)
}

export function readAmount(store: KvStore, key: string): bigint {
  const v = store.get(key)
  return v === undefined ? 0n : parseStoredBigint(decoder.decode(v), key)
}

/** Writes a non-negative amount; 0 deletes the key. A negative value is a bug: it throws INTERNAL. */
export function writeAmount(store: KvStore, key: string, value: bigint): void {
  if (value < 0n) throw new StratosError('INTERNAL', `negative amount for ${key}`)
  if (value === 0n) store.delete(key)
  else store.set(key, encodeDigits(value.toString()))
}

/** ASCII digits → bytes; faster than TextEncoder for short strings (bench/README.md), and a big report writes 10,000 balances. */
function encodeDigits(s: string): Uint8Array {
  const b = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i)
  return b
}

export function readRecord<T>(store: KvStore, key: string, parse: (raw: Record<string, unknown>) => T): T | undefined {
  const v = store.get(key)
  return v === undefined ? undefined : parse(JSON.parse(decoder.decode(v)) as Record<string, unknown>)
}

export function writeRecord(store: KvStore, key: string, value: object): void {
  store.set(key, encoder.encode(canonicalJson(value as CanonicalValue)))
}

/** Decodes a JSON record value from an iterated entry. */
export function decodeRecord<T>(bytes: Uint8Array, parse: (raw: Record<string, unknown>) => T): T {
  return parse(JSON.parse(decoder.decode(bytes)) as Record<string, unknown>)
}

export function decodeAmount(bytes: Uint8Array, key = '?'): bigint {
  return parseStoredBigint(decoder.decode(bytes), key)
}

/** Reads a bigint field of a stored record (stored as a decimal string). */
export function big(raw: Record<string, unknown>, field: string): bigint {
  const v = raw[field]
  if (typeof v !== 'string') throw new StratosError('INTERNAL', `stored record field ${field} is not a decimal string`)
  return parseStoredBigint(v, field)
}

export function str(raw: Record<string, unknown>, field: string): string {
  const v = raw[field]
  if (typeof v !== 'string') throw new StratosError('INTERNAL', `stored record field ${field} is not a string`)
  return v
}

export function num(raw: Record<string, unknown>, field: string): number {
  const v = raw[field]
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new StratosError('INTERNAL', `stored record field ${field} is not an integer`)
  return v
}

/** A height or epoch as a fixed-width key part. */
export function keyNum(n: number | bigint): string {
  return n.toString().padStart(20, '0')
}

function parseStoredBigint(s: string, key: string): bigint {
  if (!/^(0|[1-9][0-9]*)$/.test(s)) throw new StratosError('INTERNAL', `stored value of ${key} is not a decimal amount`)
  return BigInt(s)
}
