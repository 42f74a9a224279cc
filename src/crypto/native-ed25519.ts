/**
 * ed25519 through libsodium (the `sodium-native` npm package, prebuilt for linux, darwin and win32), for the processes
 * that sign and verify on every request: a meta node signs a ticket per shard PUT and verifies each receipt; a resource
 * node verifies each ticket and signs each receipt. Measured here (300-byte messages, one core): sign 18 µs and verify
 * 57 µs, against 40 and 108 µs through node:crypto (OpenSSL) — about 0.4 ms of CPU less per small upload across the
 * roles (bench/README.md).
 *
 * Installed with `installNativeNodeCrypto()` by meta and resource nodes only, never by a validator: the chain's own
 * checks of node signatures (node-proofs.ts) keep one implementation on every validator. Loading fails over to
 * node:crypto (a warning once) when the binding cannot load or disagrees with node:crypto in its self-test.
 */
import { createRequire } from 'node:module'
import { NodeKey, setNodeCryptoAccelerator, verifyNodeSignature } from './node-key.ts'

/** The part of sodium-native used here. */
interface Sodium {
  crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void
  crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean
}

let loaded: { sodium: Sodium | null; error?: string } | undefined

/** Why libsodium is not in use (undefined when it is, or has not been tried). */
export function nativeEd25519LoadError(): string | undefined {
  return loaded?.error
}

/** A Buffer over the same bytes (sodium-native takes Buffers; a Uint8Array view needs no copy). */
const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength)

function load(): Sodium | null {
  if (loaded) return loaded.sodium
  try {
    const sodium = createRequire(import.meta.url)('sodium-native') as Sodium
    selfTest(sodium)
    loaded = { sodium }
  } catch (e) {
    loaded = { sodium: null, error: (e as Error).message }
  }
  return loaded.sodium
}

/** Signatures byte-equal to node:crypto's, and each library accepts the other's and refuses a changed one. */
function selfTest(sodium: Sodium): void {
  const key = new NodeKey(new Uint8Array(32).fill(9))
  const message = Buffer.from('stratos native ed25519 self-test')
  const expected = key.sign(message) // node:crypto: no accelerator is installed yet
  const secret = Buffer.concat([key.seed, key.publicKey])
  const mine = Buffer.alloc(64)
  sodium.crypto_sign_detached(mine, message, secret)
  if (!mine.equals(Buffer.from(expected))) throw new Error('libsodium signed other bytes than node:crypto')
  const pub = Buffer.from(key.publicKey)
  if (!sodium.crypto_sign_verify_detached(Buffer.from(expected), message, pub))
    throw new Error('libsodium refused a node:crypto signature')
  const changed = Buffer.from(expected)
  changed[5]! ^= 1
  if (sodium.crypto_sign_verify_detached(changed, message, pub))
    throw new Error('libsodium accepted a changed signature')
  if (!verifyNodeSignature(key.publicKey, message, mine)) throw new Error('node:crypto refused a libsodium signature')
}

/**
 * Node signatures (src/crypto/node-key.ts) through libsodium in this process, when it loads. Returns whether it is in
 * use; `false` leaves node:crypto in place (see nativeEd25519LoadError).
 */
export function installNativeNodeCrypto(): boolean {
  const sodium = load()
  if (!sodium) return false
  setNodeCryptoAccelerator({
    sign(message, secretKey) {
      const out = Buffer.alloc(64)
      sodium.crypto_sign_detached(out, asBuffer(message), asBuffer(secretKey))
      return new Uint8Array(out.buffer, out.byteOffset, 64)
    },
    verify(publicKey, message, signature) {
      try {
        return sodium.crypto_sign_verify_detached(asBuffer(signature), asBuffer(message), asBuffer(publicKey))
      } catch {
        return false
      }
    },
  })
  return true
}
