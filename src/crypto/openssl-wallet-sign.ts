/**
 * Wallet signatures for a process that signs a few times and exits (a CLI command): the same bytes @noble/curves
 * gives (ECDSA over secp256k1, RFC 6979 nonce, low s, recovery ‖ r ‖ s), with its one costly step, k·G, computed by
 * node:crypto — OpenSSL's ECDH over secp256k1 returns a private key's public point, here the nonce's. The rest is
 * the RFC 6979 HMAC-DRBG (node:crypto's HMAC-SHA256) and a few modular operations, blinded as @noble/curves blinds
 * them. A fresh process signs in ~0.3 ms instead of ~11 ms (@noble/curves without its table, signFewTimes) and
 * without loading libsecp256k1 (~40 ms with its self-test); bench/README.md, issue 15. Installed as the wallet
 * crypto accelerator by the CLI's client commands; recovery stays with @noble/curves (a CLI recovers nothing on
 * its hot path). test/crypto/openssl-wallet-sign.test.ts checks the bytes against @noble/curves.
 */
import { createECDH, createHmac, randomBytes } from 'node:crypto'
import type { WalletCryptoAccelerator } from './wallet-key.ts'

/** Order of the secp256k1 group. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = N >> 1n

function toInt(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') || '0'}`)
}

function to32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, '0'), 'hex')
}

/** a⁻¹ mod N by the extended Euclidean algorithm: variable-time, so only for a blinded a (b·k, never k itself). */
function invertModN(a: bigint): bigint {
  let [r0, r1] = [a % N, N]
  let [s0, s1] = [1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1] = [r1, r0 - q * r1]
    ;[s0, s1] = [s1, s0 - q * s1]
  }
  return ((s0 % N) + N) % N
}

/**
 * The 65-byte recoverable signature (recovery ‖ r ‖ s) of a 32-byte digest, or null where node:crypto has no
 * secp256k1 (a build whose OpenSSL lacks the curve) or the inputs are not what @noble/curves would sign: it decides.
 */
export function opensslSignRecoverable(digest: Uint8Array, privateKey: Uint8Array): Uint8Array | null {
  if (digest.length !== 32 || privateKey.length !== 32) return null
  const d = toInt(privateKey)
  if (d <= 0n || d >= N) return null
  let ecdh: ReturnType<typeof createECDH>
  try {
    ecdh = createECDH('secp256k1')
  } catch {
    return null
  }
  // RFC 6979 3.2 with HMAC-SHA256 (bits2int of a 256-bit digest needs no shift), seeded by int2octets(d) ‖ int2octets(h mod n).
  const m = toInt(digest) % N
  const seed = Buffer.concat([to32(d), to32(m)])
  const hmac = (key: Buffer, ...parts: Uint8Array[]): Buffer => {
    const h = createHmac('sha256', key)
    for (const p of parts) h.update(p)
    return h.digest()
  }
  let v: Buffer = Buffer.alloc(32, 1)
  let k: Buffer = Buffer.alloc(32, 0)
  k = hmac(k, v, Buffer.of(0), seed)
  v = hmac(k, v)
  k = hmac(k, v, Buffer.of(1), seed)
  v = hmac(k, v)
  for (let i = 0; i < 1000; i++) {
    v = hmac(k, v)
    const nonce = toInt(v)
    if (nonce > 0n && nonce < N) {
      ecdh.setPrivateKey(v)
      const q = ecdh.getPublicKey(null, 'uncompressed') // 0x04 ‖ x ‖ y of nonce·G
      const x = toInt(q.subarray(1, 33))
      const r = x % N
      if (r !== 0n) {
        // s = k⁻¹(m + r·d), blinded by a random b as @noble/curves does: (b·k)⁻¹ · (b·m + b·d·r).
        const b = (toInt(randomBytes(48)) % (N - 1n)) + 1n
        const ibk = invertModN((b * nonce) % N)
        let s = (ibk * (((b * m) % N) + ((((b * d) % N) * r) % N))) % N
        if (s !== 0n) {
          let recovery = (x === r ? 0 : 2) | (q[64]! & 1)
          if (s > HALF_N) {
            s = N - s
            recovery ^= 1
          }
          return new Uint8Array(Buffer.concat([Buffer.of(recovery), to32(r), to32(s)]))
        }
      }
    }
    k = hmac(k, v, Buffer.of(0))
    v = hmac(k, v)
  }
  return null
}

/** The accelerator a short-lived signer installs (setWalletCryptoAccelerator): signs here, recovers nothing. */
export const opensslWalletSigner: WalletCryptoAccelerator = {
  recover: () => null,
  sign: opensslSignRecoverable,
}
