/** Byte encodings for the browser side (no Buffer needed here). */
import { base64, base64urlnopad } from '@scure/base'

export const toB64 = (b: Uint8Array): string => base64.encode(b)
export const fromB64 = (s: string): Uint8Array => base64.decode(s)
export const toB64Url = (b: Uint8Array): string => base64urlnopad.encode(b)
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')
}
