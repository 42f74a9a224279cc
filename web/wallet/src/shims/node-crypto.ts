/**
 * node:crypto for the browser bundle: what the shared modules call on the portal's paths, built on @noble/hashes
 * (the same library the CLI's wallet code uses) and crypto.getRandomValues. sha256 is incremental (UnixFS leaves are
 * hashed as prefix ‖ data ‖ suffix); scrypt runs noble's async variant (share-link passwords). Ed25519 node keys
 * are never used by a browser: those functions throw.
 */
import { Buffer } from 'buffer'
import { sha256 } from '@noble/hashes/sha2.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'

type Data = Uint8Array | string

function bytes(d: Data): Uint8Array {
  return typeof d === 'string' ? new TextEncoder().encode(d) : d
}

class Sha256Hash {
  readonly #h = sha256.create()
  update(d: Data): this {
    this.#h.update(bytes(d))
    return this
  }
  digest(): Buffer
  digest(encoding: 'hex' | 'base64' | 'base64url'): string
  digest(encoding?: 'hex' | 'base64' | 'base64url'): Buffer | string {
    const out = Buffer.from(this.#h.digest())
    return encoding === undefined ? out : out.toString(encoding)
  }
}

export function createHash(algorithm: string): Sha256Hash {
  if (algorithm !== 'sha256') throw new Error(`createHash(${algorithm}) is not available in the browser`)
  return new Sha256Hash()
}

export function randomBytes(n: number): Buffer {
  const out = new Uint8Array(n)
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)))
  return Buffer.from(out)
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) throw new RangeError('inputs must have the same length')
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export function scrypt(
  password: Data,
  salt: Data,
  keylen: number,
  options: { N: number; r: number; p: number },
  callback: (err: Error | null, key: Buffer) => void,
): void {
  scryptAsync(bytes(password), bytes(salt), { N: options.N, r: options.r, p: options.p, dkLen: keylen }).then(
    (key) => callback(null, Buffer.from(key)),
    (e: unknown) => callback(e as Error, Buffer.alloc(0)),
  )
}

function unavailable(name: string): () => never {
  return () => {
    throw new Error(`crypto.${name} is not available in the browser`)
  }
}

export const createPrivateKey = unavailable('createPrivateKey')
export const createPublicKey = unavailable('createPublicKey')
export const sign = unavailable('sign')
export const verify = unavailable('verify')
export const createHmac = unavailable('createHmac')
export const createCipheriv = unavailable('createCipheriv')
export const createDecipheriv = unavailable('createDecipheriv')
export default { createHash, randomBytes, timingSafeEqual, scrypt }
