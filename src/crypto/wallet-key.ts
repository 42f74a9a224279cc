/**
 * Wallet keys: BIP-39 mnemonic → BIP-32 path m/44'/606'/0'/0/0 → secp256k1.
 * Address = last 20 bytes of keccak-256 of the uncompressed public key (without the 0x04
 * prefix), bech32 with prefix `st` — the Stratos (Ethermint-style) convention.
 *
 * Signatures are 65-byte recoverable ECDSA over keccak-256 of the signing bytes, so a
 * signed request needs only the signer's address: the verifier recovers the public key. keccak-256 is the unrolled
 * one of keccak256.ts (the same digests as @noble/hashes', 2-10x less CPU: every upload's create and commit hash
 * their ~500 signing bytes on both ends).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { generateMnemonic, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { bech32 } from '@scure/base'
import { StratosError } from '../errors.ts'
import { derivePrivateKey, mnemonicToSeed, secp256k1PublicKey } from './hd-key.ts'
import { keccak256 } from './keccak256.ts'

export const WALLET_ADDRESS_PREFIX = 'st'
export const WALLET_HD_PATH = "m/44'/606'/0'/0/0"

export function walletAddressFromPublicKey(publicKey: Uint8Array): string {
  const uncompressed = publicKey.length === 65 ? publicKey : secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return bech32.encode(WALLET_ADDRESS_PREFIX, bech32.toWords(keccak256(uncompressed.subarray(1)).subarray(12)))
}

export function isWalletAddress(s: string): boolean {
  try {
    const d = bech32.decode(s as `${string}1${string}`)
    return d.prefix === WALLET_ADDRESS_PREFIX && bech32.fromWords(d.words).length === 20
  } catch {
    return false
  }
}

/**
 * The same signatures and recoveries computed by libsecp256k1 instead of @noble/curves (a pure-JS secp256k1 recovery
 * costs ~2 ms, most of a small upload's meta node CPU; libsecp256k1 is ~50× faster). Installed by Node processes
 * (src/chain/native-secp256k1.ts `installNativeWalletCrypto`), never in a browser. Each answers null for anything it
 * does not handle identically (a non-canonical signature), and @noble/curves answers instead.
 */
export interface WalletCryptoAccelerator {
  /** The 65-byte public key of `signature` (recovery ‖ r ‖ s) over `digest`, or null: noble decides. */
  recover(signature: Uint8Array, digest: Uint8Array): Uint8Array | null
  /** recovery ‖ r ‖ s over `digest` (RFC 6979, low s: the bytes noble gives), or null: noble signs. */
  sign(digest: Uint8Array, privateKey: Uint8Array): Uint8Array | null
}

let accelerator: WalletCryptoAccelerator | null = null

export function setWalletCryptoAccelerator(a: WalletCryptoAccelerator | null): void {
  accelerator = a
}

/** Recovers the signer's address from a 65-byte recoverable signature; null when it does not parse. */
export function recoverWalletAddress(message: Uint8Array, signature: Uint8Array): string | null {
  if (signature.length !== 65) return null
  if (accelerator) {
    const pub = accelerator.recover(signature, keccak256(message))
    if (pub) return walletAddressFromPublicKey(pub)
  }
  try {
    const pub = secp256k1.recoverPublicKey(signature, keccak256(message), { prehash: false })
    return walletAddressFromPublicKey(pub)
  } catch {
    return null
  }
}

/**
 * For a process that signs a few times and exits (a CLI command): sign without @noble/curves' table of base-point
 * multiples, which it otherwise builds on the first signature. Measured (three signatures in a fresh process): ~96 ms
 * of CPU with the table (window 6, the default), ~34 ms without. Still needed beside the native accelerator: its
 * self-test signs once with @noble/curves, and a process without the binding signs with it throughout. Long-running
 * signers keep the table.
 */
export function signFewTimes(): void {
  secp256k1.Point.BASE.precompute(1)
}

export class WalletKey {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
  readonly address: string

  constructor(privateKey: Uint8Array) {
    if (!secp256k1.utils.isValidSecretKey(privateKey))
      throw new StratosError('BAD_REQUEST', 'invalid secp256k1 private key')
    this.privateKey = privateKey
    this.publicKey = secp256k1PublicKey(privateKey, false)
    this.address = walletAddressFromPublicKey(this.publicKey)
  }

  static fromMnemonic(mnemonic: string, path: string = WALLET_HD_PATH): WalletKey {
    const words = mnemonic.trim().split(/\s+/).join(' ')
    if (!validateMnemonic(words, wordlist)) throw new StratosError('BAD_REQUEST', 'invalid BIP-39 mnemonic')
    return new WalletKey(derivePrivateKey(mnemonicToSeed(words), path))
  }

  static fromPrivateKeyHex(hex: string): WalletKey {
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hex)) throw new StratosError('BAD_REQUEST', 'a private key is 32 bytes of hex')
    return new WalletKey(new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex')))
  }

  static generateMnemonic(): string {
    return generateMnemonic(wordlist, 256)
  }

  /** 65-byte recoverable signature (recovery ‖ r ‖ s, noble's "recovered" format) over keccak-256(message). */
  sign(message: Uint8Array): Uint8Array {
    if (accelerator) {
      const sig = accelerator.sign(keccak256(message), this.privateKey)
      if (sig) return sig
    }
    return secp256k1.sign(keccak256(message), this.privateKey, { prehash: false, format: 'recovered' })
  }
}
