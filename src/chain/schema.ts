/**
 * Primitive zod schemas for decoding untrusted chain JSON (transactions, messages, genesis).
 *
 * Amounts travel as decimal strings ("1000000000000000000") and decode to bigint: no sign,
 * no fraction, no exponent, no leading zeros (so every amount has exactly one encoding and
 * the canonical JSON a wallet signed is the canonical JSON the chain re-encodes), at most
 * 2^256 − 1. Addresses must be lowercase bech32 with a valid checksum: bech32 also accepts
 * all-uppercase strings, which would be a second spelling of the same account.
 */
import { z } from 'zod'
import { isNodeAddress } from '../crypto/node-key.ts'
import { isWalletAddress } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import { MAX_MONIKER_CHARS, MAX_NODE_URL_CHARS, MAX_UINT256 } from './params.ts'

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/

/** A non-negative integer amount as a decimal string → bigint. */
export const zAmount = z
  .string()
  .regex(
    DECIMAL,
    'amount must be a non-negative integer as a decimal string (no sign, fraction, exponent or leading zeros)',
  )
  .transform((s) => BigInt(s))
  .refine((v) => v <= MAX_UINT256, 'amount exceeds 2^256 - 1')

/** A positive amount (> 0). */
export const zPositiveAmount = zAmount.refine((v) => v > 0n, 'amount must be positive')

export const zWalletAddress = z
  .string()
  .max(100)
  .refine(isCanonicalWalletAddress, 'not a valid lowercase st1… wallet address (bad checksum or prefix)')

/** What zWalletAddress accepts (after its length bound of 100): a lowercase st1… address with a valid checksum. */
export function isCanonicalWalletAddress(s: string): boolean {
  return knownWalletAddresses.has(s) || (s === s.toLowerCase() && isWalletAddress(s) && remember(s))
}

/** What zAmount accepts, decoded (undefined when it would refuse `s`): tx.ts's fast path for transfers. */
export function parseAmount(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || !DECIMAL.test(s)) return undefined
  const v = BigInt(s)
  return v <= MAX_UINT256 ? v : undefined
}

/**
 * Addresses that already passed the check above (a pure function of the string), so the bech32
 * checksum of a busy sender is not recomputed for each of its transactions. Bounded: cleared
 * when full.
 */
const KNOWN_WALLET_ADDRESSES = 100_000
const knownWalletAddresses = new Set<string>()
function remember(address: string): true {
  if (knownWalletAddresses.size >= KNOWN_WALLET_ADDRESSES) knownWalletAddresses.clear()
  knownWalletAddresses.add(address)
  return true
}

export const zNodeAddress = z
  .string()
  .max(100)
  .refine(
    (s) => s === s.toLowerCase() && isNodeAddress(s),
    'not a valid lowercase stsds1… node address (bad checksum or prefix)',
  )

/** Exactly `bytes` bytes as lowercase hex. */
export function zHexBytes(bytes: number) {
  return z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes of lowercase hex`)
}

/** An ed25519 public key (32 bytes, hex). */
export const zEd25519PublicKey = zHexBytes(32)
/** An ed25519 signature (64 bytes, hex). */
export const zEd25519Signature = zHexBytes(64)

/** A human-readable name: printable, bounded. */
export const zMoniker = z
  .string()
  .max(MAX_MONIKER_CHARS)
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'moniker must not contain control characters')

/**
 * A node's public http(s) base URL (a meta node's, where resource nodes and clients reach it): bounded, no
 * credentials, query or fragment, no trailing slash.
 */
export const zNodeUrl = z
  .string()
  .max(MAX_NODE_URL_CHARS)
  .refine((u) => {
    try {
      const p = new URL(u)
      return (
        (p.protocol === 'http:' || p.protocol === 'https:') &&
        !p.username &&
        !p.password &&
        !p.search &&
        !p.hash &&
        !u.endsWith('/')
      )
    } catch {
      return false
    }
  }, 'must be an http(s) URL without credentials, query, fragment or trailing slash')

/** Epoch or height numbers: safe non-negative integers. */
export const zCounter = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

/** Basis points 0…10,000 as a plain integer. */
export const zBps = z.number().int().min(0).max(10_000)

/**
 * Parses untrusted input; any failure becomes a BAD_REQUEST StratosError whose details list
 * each problem with its path (e.g. `msgs.0.amount`).
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issues = r.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }))
  const first = issues[0]
  throw new StratosError(
    'BAD_REQUEST',
    `invalid ${what}${first ? `: ${first.path ? first.path + ': ' : ''}${first.message}` : ''}`,
    { issues },
  )
}
