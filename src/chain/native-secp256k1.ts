/**
 * Optional native secp256k1 signer recovery (libsecp256k1 through the `secp256k1` npm package,
 * which ships prebuilt linux/darwin/win32 binaries), for `ChainAppOptions.recoverSigner`.
 *
 * Pure-JS recovery (@noble/curves) caps a validator far below its transfer target; libsecp256k1 is
 * an order of magnitude faster (bench/README.md, "Measurements cited by the code"). The native path must
 * agree with `recoverTxSigner` on EVERY input, so it applies the same canonical-signature rules
 * first (hex layout recovery ‖ r ‖ s, recovery byte 0 or 1, s ≤ N/2) and only then asks
 * libsecp256k1, which itself rejects r or s = 0 or ≥ N, r that is not an x coordinate and a
 * recovered point at infinity — exactly the cases in which @noble/curves throws.
 *
 * When the binding cannot be loaded (no prebuilt for the platform, a broken install) or fails
 * its self-test, the pure-JS path is used and a warning is logged once. We load
 * `secp256k1/bindings.js` directly: the package's main entry silently falls back to `elliptic`
 * (pure JS), which would be slower than noble and is not what we measured.
 */
import { createRequire } from 'node:module'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { WalletKey, setWalletCryptoAccelerator, walletAddressFromPublicKey } from '../crypto/wallet-key.ts'
import { keccak256 } from '../crypto/keccak256.ts'
import { createLogger } from '../util/components.ts'
import { recoverTxSigner, type SignatureToRecover, type TxEnvelope, type TxSignerRecovery } from './tx.ts'

type NativeSecp256k1 = Pick<typeof import('secp256k1'), 'ecdsaRecover' | 'ecdsaSign'>

/** Half the order of secp256k1 (canonical signatures have s ≤ N/2), as in tx.ts. */
const SECP256K1_HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n
const CANONICAL_SIGNATURE_HEX = /^0[01][0-9a-f]{128}$/

let loaded: { native: NativeSecp256k1 | null; error?: string } | undefined

/** The native binding, or null when it cannot be loaded or disagrees with @noble/curves on a known signature. Cached. */
export function loadNativeSecp256k1(): NativeSecp256k1 | null {
  if (loaded) return loaded.native
  try {
    const require = createRequire(import.meta.url)
    const native = require('secp256k1/bindings.js') as NativeSecp256k1
    selfTest(native)
    loaded = { native }
  } catch (e) {
    loaded = { native: null, error: (e as Error).message }
  }
  return loaded.native
}

/** Why the native binding is not in use (undefined when it is, or has not been tried). */
export function nativeSecp256k1LoadError(): string | undefined {
  return loaded?.error
}

/**
 * A recovery by libsecp256k1 must give the address @noble/curves derives for the signing key, and its signature the
 * bytes @noble/curves signs (both RFC 6979 with low s). Run before any accelerator is installed, so `key.sign` is
 * noble's.
 */
function selfTest(native: NativeSecp256k1): void {
  const key = new WalletKey(new Uint8Array(32).fill(7))
  const message = new TextEncoder().encode('stratos native secp256k1 self-test')
  const sig = key.sign(message)
  const pub = native.ecdsaRecover(sig.subarray(1), sig[0], keccak_256(message), false)
  if (walletAddressFromPublicKey(pub) !== key.address)
    throw new Error('native secp256k1 self-test recovered the wrong key')
  const mine = native.ecdsaSign(keccak_256(message), key.privateKey)
  if (mine.recid !== sig[0] || Buffer.compare(Buffer.from(mine.signature), Buffer.from(sig.subarray(1))) !== 0)
    throw new Error('native secp256k1 self-test signed other bytes than @noble/curves')
}

/**
 * Wallet request signatures (src/crypto/wallet-key.ts) through libsecp256k1 in this process, when it loads: signing
 * and recovering canonical signatures (recovery byte 0 or 1, s ≤ N/2, the only kind wallets make); anything else is
 * left to @noble/curves, so every answer stays the one it gives. Returns whether the native path is in use.
 */
export function installNativeWalletCrypto(): boolean {
  const native = loadNativeSecp256k1()
  if (!native) return false
  setWalletCryptoAccelerator({
    recover(signature, digest) {
      if (signature[0]! > 1) return null
      if (BigInt('0x' + Buffer.from(signature.subarray(33)).toString('hex')) > SECP256K1_HALF_ORDER) return null
      try {
        return native.ecdsaRecover(signature.subarray(1), signature[0]!, digest, false)
      } catch {
        return null
      }
    },
    sign(digest, privateKey) {
      const { signature, recid } = native.ecdsaSign(digest, privateKey)
      const out = new Uint8Array(65)
      out[0] = recid
      out.set(signature, 1)
      return out
    },
  })
  return true
}

/**
 * `recoverTxSigner` computed by libsecp256k1: the signer's address, or null when the signature is
 * not canonical or does not recover.
 */
export function recoverTxSignerWith(native: NativeSecp256k1, envelope: SignatureToRecover): string | null {
  const sig = envelope.signed.signature
  if (!CANONICAL_SIGNATURE_HEX.test(sig)) return null
  if (BigInt('0x' + sig.slice(66)) > SECP256K1_HALF_ORDER) return null
  const bytes = Buffer.from(sig, 'hex')
  let pub: Uint8Array
  try {
    pub = native.ecdsaRecover(bytes.subarray(1), bytes[0], keccak256(envelope.signingBytes), false)
  } catch {
    return null
  }
  return addressOfPublicKey(pub)
}

/**
 * Most public keys whose address is remembered. A validator sees the same senders again and
 * again; their address (keccak-256 of the key + bech32, a fair share of a native recovery) is a pure
 * function of the key, so remembering it changes no answer.
 */
export const ADDRESS_MEMO_ENTRIES = 100_000
const addressMemo = new Map<string, string>()

function addressOfPublicKey(pub: Uint8Array): string {
  const key = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('latin1')
  let address = addressMemo.get(key)
  if (address === undefined) {
    address = walletAddressFromPublicKey(pub)
    if (addressMemo.size >= ADDRESS_MEMO_ENTRIES) addressMemo.clear()
    addressMemo.set(key, address)
  }
  return address
}

export interface RecoverSignerOptions {
  /** Where the one-time "falling back to pure JS" warning goes (default: a `chain` pino logger). */
  logger?: { warn(details: object, message: string): void }
  /** Use this binding (null: force the pure-JS path); default: loadNativeSecp256k1(). */
  native?: NativeSecp256k1 | null
}

/** A TxSignerRecovery that uses libsecp256k1 when it loads and `recoverTxSigner` otherwise (warning once). */
export function createRecoverSigner(
  options: RecoverSignerOptions = {},
): TxSignerRecovery & { readonly native: boolean } {
  const native = options.native !== undefined ? options.native : loadNativeSecp256k1()
  if (native) return Object.assign((env: TxEnvelope) => recoverTxSignerWith(native, env), { native: true })
  let warned = false
  return Object.assign(
    (env: TxEnvelope) => {
      if (!warned) {
        warned = true
        const reason = options.native === null ? 'disabled' : (nativeSecp256k1LoadError() ?? 'unavailable')
        ;(options.logger ?? createLogger('chain')).warn(
          { reason },
          'native secp256k1 not available; recovering signers with pure-JS @noble/curves (much slower)',
        )
      }
      return recoverTxSigner(env)
    },
    { native: false },
  )
}

let defaultRecover: TxSignerRecovery | undefined

/** Drop-in for `ChainAppOptions.recoverSigner`: native when possible, else pure JS (logged once). */
export const recoverSigner: TxSignerRecovery = (envelope) => (defaultRecover ??= createRecoverSigner())(envelope)
