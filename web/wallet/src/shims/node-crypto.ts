/**
 * node:crypto for the browser bundle: what the shared modules call on the portal's paths, built on @noble/hashes
 * and @noble/curves (the libraries the CLI's wallet code is checked against) and crypto.getRandomValues. sha256 is
 * incremental (UnixFS leaves are hashed as prefix ‖ data ‖ suffix); PBKDF2, HMAC-SHA-512 and secp256k1 ECDH public
 * keys serve the HD derivation of src/crypto/hd-key.ts (so the browser runs the CLI's own derivation code); scrypt
 * runs noble's async variant (share-link passwords). Ed25519 node keys are never used by a browser: those throw.
 */
import { Buffer } from 'buffer'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hmac } from '@noble/hashes/hmac.js'
import { pbkdf2 } from '@noble/hashes/pbkdf2.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
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

/** One-shot hash (src/crypto/hash.ts sha256Hex): sha256 only, hex unless told. */
export function hash(algorithm: string, data: Data, encoding: 'hex' | 'base64' | 'base64url' = 'hex'): string {
  return createHash(algorithm).update(data).digest(encoding)
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

function hashOf(algorithm: string): typeof sha256 | typeof sha512 {
  if (algorithm === 'sha256') return sha256
  if (algorithm === 'sha512') return sha512
  throw new Error(`${algorithm} is not available in the browser`)
}

export function createHmac(algorithm: string, key: Data) {
  const mac = hmac.create(hashOf(algorithm), bytes(key))
  const self = {
    update(d: Data) {
      mac.update(bytes(d))
      return self
    },
    digest: (): Buffer => Buffer.from(mac.digest()),
  }
  return self
}

export function pbkdf2Sync(password: Data, salt: Data, iterations: number, keylen: number, digest: string): Buffer {
  return Buffer.from(pbkdf2(hashOf(digest), bytes(password), bytes(salt), { c: iterations, dkLen: keylen }))
}

export function createECDH(curve: string) {
  if (curve !== 'secp256k1') throw new Error(`ECDH on ${curve} is not available in the browser`)
  let secret: Uint8Array | undefined
  return {
    setPrivateKey(key: Uint8Array) {
      secret = key
    },
    getPublicKey(_encoding: null, format: 'compressed' | 'uncompressed'): Buffer {
      if (!secret) throw new Error('no private key set')
      return Buffer.from(secp256k1.getPublicKey(secret, format === 'compressed'))
    },
  }
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
export const createCipheriv = unavailable('createCipheriv')
export const createDecipheriv = unavailable('createDecipheriv')
export default { createHash, createHmac, createECDH, pbkdf2Sync, randomBytes, timingSafeEqual, scrypt }
