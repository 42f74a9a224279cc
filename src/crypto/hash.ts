/**
 * Hashing helpers. Bulk data goes through node:crypto (native sha256; speed in bench/README.md);
 * small control messages may use @noble/hashes where a pure function is handier.
 */
import { createHash, hash } from 'node:crypto'

export function sha256(data: Uint8Array): Uint8Array {
  const d = createHash('sha256').update(data).digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

/** One-shot `crypto.hash`: about half the CPU of a createHash object for the short inputs hashed per tx. */
export function sha256Hex(data: Uint8Array | string): string {
  return hash('sha256', data, 'hex')
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('invalid hex string')
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

export function fromBase64Url(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new TypeError('invalid base64url string')
  return new Uint8Array(Buffer.from(s, 'base64url'))
}
