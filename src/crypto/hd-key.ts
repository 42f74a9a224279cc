/**
 * BIP-39 seed and BIP-32 private-key derivation for secp256k1 on node:crypto (OpenSSL): PBKDF2-HMAC-SHA512, HMAC-SHA512
 * and the curve's point multiplication run natively, so a CLI process derives its wallet key in a few milliseconds
 * instead of the ~0.2 s the pure-JavaScript libraries take in a fresh process (bench/README.md). Only private
 * derivation (CKDpriv) is needed: a wallet derives its own key. Checked against independently computed vectors
 * (test/crypto/wallet-vector.test.ts) and against @scure/bip32 (test/crypto/hd-key.test.ts).
 */
import { createECDH, createHmac, pbkdf2Sync } from 'node:crypto'
import { StratosError } from '../errors.ts'

/** Order of the secp256k1 group. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HARDENED = 0x80000000

/** The BIP-39 seed of a mnemonic (NFKD-normalised words, salt "mnemonic" + passphrase). */
export function mnemonicToSeed(mnemonic: string, passphrase = ''): Uint8Array {
  return pbkdf2Sync(mnemonic.normalize('NFKD'), `mnemonic${passphrase}`.normalize('NFKD'), 2048, 64, 'sha512')
}

/** The compressed (33-byte) or uncompressed (65-byte) public key of a secp256k1 private key. */
export function secp256k1PublicKey(privateKey: Uint8Array, compressed: boolean): Uint8Array {
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(privateKey)
  return ecdh.getPublicKey(null, compressed ? 'compressed' : 'uncompressed')
}

function toBigInt(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`)
}

function to32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, '0'), 'hex')
}

/** The private key at `path` (e.g. m/44'/606'/0'/0/0) below the master key of `seed` (BIP-32 CKDpriv). */
export function derivePrivateKey(seed: Uint8Array, path: string): Uint8Array {
  const parts = path.split('/')
  if (parts[0] !== 'm') throw new StratosError('BAD_REQUEST', `HD path must start with m/, got ${path.slice(0, 40)}`)
  let I = createHmac('sha512', 'Bitcoin seed').update(seed).digest()
  let key = toBigInt(I.subarray(0, 32))
  let chain = I.subarray(32)
  if (key === 0n || key >= N) throw new StratosError('INTERNAL', 'seed gives an invalid master key')
  for (const part of parts.slice(1)) {
    const m = /^(\d+)('?)$/.exec(part)
    const n = m ? Number(m[1]) : Number.NaN
    if (!m || !Number.isSafeInteger(n) || n >= HARDENED)
      throw new StratosError('BAD_REQUEST', `bad HD path segment ${part.slice(0, 20)}`)
    const index = m[2] ? n + HARDENED : n
    const data = Buffer.alloc(37)
    if (index >= HARDENED) to32(key).copy(data, 1)
    else Buffer.from(secp256k1PublicKey(to32(key), true)).copy(data, 0)
    data.writeUInt32BE(index, 33)
    I = createHmac('sha512', chain).update(data).digest()
    const il = toBigInt(I.subarray(0, 32))
    const child = (il + key) % N
    // Probability below 2^-127; BIP-32 says to skip to the next index, which would silently change the wallet.
    if (il >= N || child === 0n) throw new StratosError('INTERNAL', `HD derivation hit an invalid key at ${part}`)
    key = child
    chain = I.subarray(32)
  }
  return new Uint8Array(to32(key))
}
