/**
 * Node identities: ed25519 keys, addresses `stsds1…` (bech32 of the first 20 bytes of
 * sha256(public key), the Tendermint-style address Stratos uses for SDS nodes).
 *
 * Signing and verifying go through node:crypto: an order of magnitude faster than @noble/curves
 * (bench/README.md, "Measurements cited by the code"), and tickets are checked on every
 * shard request. Keys are plain 32-byte seeds so they interoperate with any ed25519 library.
 * Meta and resource node processes install libsodium instead where it loads (native-ed25519.ts,
 * `setNodeCryptoAccelerator`): about twice as fast again, on every ticket, receipt and heartbeat.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { bech32 } from '@scure/base'
import { sha256 } from './hash.ts'
import { writeFileAtomic } from '../util/fs.ts'
import { StratosError } from '../errors.ts'
import { NODE_PUBLIC_KEY_CACHE_ENTRIES } from '../limits.ts'
import { Lru } from '../util/lru.ts'

export const NODE_ADDRESS_PREFIX = 'stsds'
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export function nodeAddressFromPublicKey(publicKey: Uint8Array): string {
  return bech32.encode(NODE_ADDRESS_PREFIX, bech32.toWords(sha256(publicKey).subarray(0, 20)))
}

const addressCache = new Lru<string, string>({ maxEntries: NODE_PUBLIC_KEY_CACHE_ENTRIES, order: 'fifo' })
/**
 * nodeAddressFromPublicKey of a key given as text (its base64url form, as signed messages carry it), remembered:
 * every ticket, receipt and order check binds a signer address to its key, and a node sees the same few keys again
 * and again (sha-256 + bech32 each time was ~1 % of a resource node's CPU per shard PUT).
 */
export function cachedNodeAddress(keyText: string, publicKey: Uint8Array): string {
  let address = addressCache.get(keyText)
  if (address === undefined) {
    address = nodeAddressFromPublicKey(publicKey)
    addressCache.set(keyText, address)
  }
  return address
}

export function isNodeAddress(s: string): boolean {
  try {
    const d = bech32.decode(s as `${string}1${string}`)
    return d.prefix === NODE_ADDRESS_PREFIX && bech32.fromWords(d.words).length === 20
  } catch {
    return false
  }
}

const publicKeyCache = new Lru<string, KeyObject>({ maxEntries: NODE_PUBLIC_KEY_CACHE_ENTRIES, order: 'fifo' })
function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const k = Buffer.from(publicKey).toString('hex')
  let obj = publicKeyCache.get(k)
  if (!obj) {
    obj = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' })
    publicKeyCache.set(k, obj)
  }
  return obj
}

/**
 * The same signatures computed by another ed25519 implementation (libsodium, src/crypto/native-ed25519.ts), installed
 * by a process that signs and verifies many: ed25519 signing is deterministic, so it gives the bytes node:crypto
 * gives; its verification is RFC 8032's with libsodium's stricter checks (it also refuses small-order keys and R),
 * which honest keys never meet.
 */
export interface NodeCryptoAccelerator {
  /** The 64-byte signature of `message` under `secretKey` (libsodium's form: seed ‖ public key, 64 bytes). */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}

let accelerator: NodeCryptoAccelerator | undefined

/** Installs (or, with undefined, removes) the process's ed25519 accelerator. */
export function setNodeCryptoAccelerator(a: NodeCryptoAccelerator | undefined): void {
  accelerator = a
}

/** Verifies an ed25519 signature; never throws on malformed input, returns false. */
export function verifyNodeSignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  if (accelerator) return accelerator.verify(publicKey, message, signature)
  try {
    return nodeVerify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}

export class NodeKey {
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
  readonly address: string
  readonly #private: KeyObject
  /** seed ‖ public key: the secret key an accelerator signs with. */
  readonly #secret: Uint8Array

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new StratosError('BAD_REQUEST', 'an ed25519 seed is 32 bytes')
    this.seed = seed
    this.#private = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    const spki = createPublicKey(this.#private).export({ format: 'der', type: 'spki' })
    this.publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length))
    this.address = nodeAddressFromPublicKey(this.publicKey)
    this.#secret = new Uint8Array(64)
    this.#secret.set(seed)
    this.#secret.set(this.publicKey, 32)
  }

  static generate(random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): NodeKey {
    return new NodeKey(random(32))
  }

  sign(message: Uint8Array): Uint8Array {
    if (accelerator) return accelerator.sign(message, this.#secret)
    return new Uint8Array(nodeSign(null, message, this.#private))
  }

  /** Loads `node-key.json` from a data dir, creating it (atomically) on first start. */
  static loadOrCreate(dataDir: string): NodeKey {
    const path = join(dataDir, 'node-key.json')
    if (existsSync(path)) {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { type?: string; seed?: string }
      if (parsed.type !== 'ed25519' || typeof parsed.seed !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.seed)) {
        throw new StratosError('NETWORK_CONFIG', `${path} is not a valid node key file`)
      }
      return new NodeKey(new Uint8Array(Buffer.from(parsed.seed, 'hex')))
    }
    const key = NodeKey.generate()
    const body = JSON.stringify(
      {
        type: 'ed25519',
        address: key.address,
        publicKey: Buffer.from(key.publicKey).toString('hex'),
        seed: Buffer.from(key.seed).toString('hex'),
      },
      null,
      2,
    )
    writeFileAtomic(path, body + '\n', { mode: 0o600 })
    return key
  }
}
