/**
 * Share-link passwords: scrypt (node:crypto) with a random salt and fixed cost parameters.
 *
 * The owner's client hashes the password and signs only the hash into its share.create request, so the meta node
 * never sees the plain password at creation and the signature binds the hash. The meta node accepts only the
 * parameters below (a client may not pick a cheap hash, nor an expensive one that would slow every check).
 * Checking compares derived keys in constant time.
 */
import { scrypt, timingSafeEqual } from 'node:crypto'
import { fromBase64Url, toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  MAX_SHARE_PASSWORD_BYTES,
  SHARE_HASH_BYTES,
  SHARE_SALT_BYTES,
  SHARE_SCRYPT_N,
  SHARE_SCRYPT_P,
  SHARE_SCRYPT_R,
} from '../../limits.ts'
import type { RandomBytes } from '../../util/components.ts'

export interface SharePasswordHash {
  alg: 'scrypt'
  N: number
  r: number
  p: number
  /** base64url */
  salt: string
  /** base64url of the SHARE_HASH_BYTES-byte derived key */
  hash: string
}

/** memory scrypt needs for N, r (128·N·r bytes) plus headroom; node's default maxmem (32 MiB) is tight at r = 8. */
const SCRYPT_MAXMEM = 128 * SHARE_SCRYPT_N * SHARE_SCRYPT_R * 2

export function checkSharePassword(password: string): Buffer {
  const bytes = Buffer.from(password, 'utf8')
  if (bytes.length === 0) throw new StratosError('BAD_REQUEST', 'the password must not be empty')
  if (bytes.length > MAX_SHARE_PASSWORD_BYTES) {
    throw new StratosError('BAD_REQUEST', `the password is longer than ${MAX_SHARE_PASSWORD_BYTES} bytes`, {
      limit: MAX_SHARE_PASSWORD_BYTES,
    })
  }
  return bytes
}

function derive(password: Buffer, salt: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      SHARE_HASH_BYTES,
      { N: SHARE_SCRYPT_N, r: SHARE_SCRYPT_R, p: SHARE_SCRYPT_P, maxmem: SCRYPT_MAXMEM },
      (err, key) => {
        if (err) reject(new StratosError('INTERNAL', `scrypt failed: ${err.message}`, undefined, { cause: err }))
        else resolve(key)
      },
    )
  })
}

/** Hashes a password for a new share link (runs on the libuv thread pool, not the event loop). */
export async function hashSharePassword(password: string, random: RandomBytes): Promise<SharePasswordHash> {
  const salt = random(SHARE_SALT_BYTES)
  const key = await derive(checkSharePassword(password), salt)
  return {
    alg: 'scrypt',
    N: SHARE_SCRYPT_N,
    r: SHARE_SCRYPT_R,
    p: SHARE_SCRYPT_P,
    salt: toBase64Url(salt),
    hash: toBase64Url(key),
  }
}

/** BAD_REQUEST unless the hash uses exactly this software's parameters and sizes. */
export function checkSharePasswordHash(h: SharePasswordHash): void {
  if (h.alg !== 'scrypt' || h.N !== SHARE_SCRYPT_N || h.r !== SHARE_SCRYPT_R || h.p !== SHARE_SCRYPT_P) {
    throw new StratosError(
      'BAD_REQUEST',
      `share passwords must be hashed with scrypt N=${SHARE_SCRYPT_N} r=${SHARE_SCRYPT_R} p=${SHARE_SCRYPT_P}`,
      { alg: h.alg, N: h.N, r: h.r, p: h.p },
    )
  }
  let salt: Uint8Array, hash: Uint8Array
  try {
    salt = fromBase64Url(h.salt)
    hash = fromBase64Url(h.hash)
  } catch {
    throw new StratosError('BAD_REQUEST', 'password salt and hash must be base64url')
  }
  if (salt.length !== SHARE_SALT_BYTES || hash.length !== SHARE_HASH_BYTES) {
    throw new StratosError(
      'BAD_REQUEST',
      `password salt must be ${SHARE_SALT_BYTES} bytes and hash ${SHARE_HASH_BYTES} bytes`,
    )
  }
}

/** True when `password` matches `h` (constant-time comparison of the derived keys). */
export async function verifySharePassword(password: string, h: SharePasswordHash): Promise<boolean> {
  const key = await derive(checkSharePassword(password), fromBase64Url(h.salt))
  const want = Buffer.from(fromBase64Url(h.hash))
  return key.length === want.length && timingSafeEqual(key, want)
}
