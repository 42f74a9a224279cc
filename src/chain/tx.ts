/**
 * Transactions: canonical form, signing, hashing and decoding from untrusted JSON.
 *
 *   Tx       { chainId, sender, nonce, fee, msgs, memo? }      nonce and fee are bigint (decimal strings in JSON)
 *   SignedTx { tx, signature }                                 signature: 65-byte recoverable secp256k1, hex
 *
 * The wallet signs `signingBytes('stratos/tx/v1', tx)` (domain tag + canonical JSON, see
 * crypto/canonical.ts) with keccak-256 prehashing, like every WalletSigned message; the chain
 * recovers the signer and requires it to equal `tx.sender`. The signature covers the chain id
 * (no cross-chain replay), the sender's nonce (no replay, no reordering: the chain accepts only
 * nonce == account nonce) and the fee.
 *
 * Tx hash = sha256 hex of the canonical JSON of the signed tx. Decoding is strict (unknown keys
 * are errors, amounts have one spelling), so re-encoding a decoded tx gives the bytes that were
 * signed and hashed.
 */
import { z } from 'zod'
import { canonicalJson, type CanonicalValue } from '../crypto/canonical.ts'
import { sha256Hex } from '../crypto/hash.ts'
import { recoverWalletAddress, type WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import { isMsgType, MSG_TYPES, zMsg, type Msg } from './msgs.ts'
import { canonicalVolumeReportJson } from './node-proofs.ts'
import { MAX_CHAIN_ID_CHARS, MAX_MEMO_CHARS, MAX_MSGS_PER_TX, MAX_TX_BYTES } from './params.ts'
import { isCanonicalWalletAddress, parseAmount, parseOrThrow, zAmount, zWalletAddress } from './schema.ts'

export const TX_DOMAIN = 'stratos/tx/v1'

export interface Tx {
  chainId: string
  sender: string
  /** Must equal the sender's account nonce (number of its transactions included so far). */
  nonce: bigint
  /** Paid in wei to the block proposer whether the messages succeed or not. */
  fee: bigint
  msgs: Msg[]
  memo?: string
}

export interface SignedTx {
  tx: Tx
  /** 65-byte recoverable secp256k1 signature (r ‖ s ‖ recovery), lowercase hex. */
  signature: string
}

export const zTx = z.strictObject({
  chainId: z.string().min(1).max(MAX_CHAIN_ID_CHARS),
  sender: zWalletAddress,
  nonce: zAmount,
  fee: zAmount,
  msgs: z.array(zMsg).min(1).max(MAX_MSGS_PER_TX),
  memo: z.string().max(MAX_MEMO_CHARS).optional(),
})

const SIGNATURE_HEX = /^[0-9a-f]{130}$/

export const zSignedTx = z.strictObject({
  tx: zTx,
  signature: z.string().regex(SIGNATURE_HEX, 'signature must be 65 bytes of lowercase hex'),
})

/**
 * Decodes a signed transaction from parsed JSON. Throws UNKNOWN_MESSAGE for a message type the
 * chain does not know and BAD_REQUEST (with the path of each problem) for anything else.
 */
export function decodeSignedTx(value: unknown): SignedTx {
  const msgs = (value as { tx?: { msgs?: unknown } } | null)?.tx?.msgs
  if (Array.isArray(msgs)) {
    for (const m of msgs.slice(0, MAX_MSGS_PER_TX + 1)) {
      const type = (m as { type?: unknown } | null)?.type
      if (!isMsgType(type))
        throw new StratosError('UNKNOWN_MESSAGE', `unknown message type ${String(JSON.stringify(type)).slice(0, 64)}`, {
          known: MSG_TYPES,
        })
    }
  }
  const signed = deepFreeze(decodeTransfer(value) ?? (parseOrThrow(zSignedTx, value, 'transaction') as SignedTx))
  validated.add(signed)
  validatedTxs.add(signed.tx)
  return signed
}

/**
 * decodeSignedTx's fast path: a signed tx of `send` messages only and no memo (the bulk of the traffic), checked by
 * hand with exactly zSignedTx's rules and built with its output's keys in its order; undefined for any other shape
 * and for anything zSignedTx would refuse, which then goes through the schema (same value, or its error). Half the
 * CPU of a transfer's decoding (bench/README.md, issue 14).
 */
function decodeTransfer(value: unknown): SignedTx | undefined {
  if (!isPlainObject(value) || Object.keys(value).length !== 2) return undefined
  const { tx, signature } = value
  if (typeof signature !== 'string' || !SIGNATURE_HEX.test(signature)) return undefined
  if (!isPlainObject(tx) || Object.keys(tx).length !== 5) return undefined
  const { chainId, sender, nonce, fee, msgs } = tx
  if (typeof chainId !== 'string' || chainId.length < 1 || chainId.length > MAX_CHAIN_ID_CHARS) return undefined
  if (typeof sender !== 'string' || sender.length > 100 || !isCanonicalWalletAddress(sender)) return undefined
  const n = parseAmount(nonce)
  const f = parseAmount(fee)
  if (n === undefined || f === undefined) return undefined
  if (!Array.isArray(msgs) || msgs.length < 1 || msgs.length > MAX_MSGS_PER_TX) return undefined
  const out: Msg[] = []
  for (const m of msgs as unknown[]) {
    if (!isPlainObject(m) || Object.keys(m).length !== 3) return undefined
    const { type, to, amount } = m
    if (type !== 'send' || typeof to !== 'string' || to.length > 100 || !isCanonicalWalletAddress(to)) return undefined
    const a = parseAmount(amount)
    if (a === undefined || a === 0n) return undefined
    out.push({ type: 'send', to, amount: a })
  }
  return { tx: { chainId, sender, nonce: n, fee: f, msgs: out }, signature }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype
}

/**
 * Decoded transactions are frozen: their hash, signer and encodings are cached per object, so
 * the object must not change after decoding.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** Signed transactions that came out of decodeSignedTx (so their shape and bounds are known good). */
const validated = new WeakSet<SignedTx>()
/** Their txs (canonicalTxJson writes those by hand). */
const validatedTxs = new WeakSet<Tx>()

/**
 * Returns `signed` if it came from decodeSignedTx, else validates it by re-decoding its
 * canonical JSON (a transaction built in code gets the same checks as one from the network).
 */
export function ensureValidTx(signed: SignedTx): SignedTx {
  if (validated.has(signed)) return signed
  let json: unknown
  try {
    json = JSON.parse(encodeSignedTx(signed))
  } catch (e) {
    throw new StratosError('BAD_REQUEST', `transaction cannot be encoded: ${(e as Error).message}`)
  }
  return decodeSignedTx(json)
}

/** Parses and decodes a signed transaction from JSON text; malformed JSON is BAD_REQUEST, oversized PAYLOAD_TOO_LARGE. */
export function parseSignedTx(text: string): SignedTx {
  if (text.length > MAX_TX_BYTES)
    throw new StratosError('PAYLOAD_TOO_LARGE', `a transaction is at most ${MAX_TX_BYTES} bytes`, { max: MAX_TX_BYTES })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new StratosError('BAD_REQUEST', `transaction is not valid JSON: ${(e as Error).message}`)
  }
  return decodeSignedTx(value)
}

/** The canonical JSON text of a signed transaction (what is hashed, stored and sent). */
export function encodeSignedTx(signed: SignedTx): string {
  const cached = envelopes.get(signed)
  if (cached) return cached.json
  return `{"signature":${JSON.stringify(signed.signature)},"tx":${canonicalTxJson(signed.tx)}}`
}

const encoder = new TextEncoder()

/**
 * The canonical encodings of a signed tx computed once: the tx's canonical JSON, the bytes the
 * wallet signed and the tx hash. (`{"signature":…,"tx":…}` is the canonical JSON of the signed
 * tx because "signature" sorts before "tx".)
 */
export interface TxEnvelope {
  readonly signed: SignedTx
  readonly hash: string
  readonly signingBytes: Uint8Array
  /** The canonical JSON of the signed tx (what encodeSignedTx returns). */
  readonly json: string
  /** Size of the canonical JSON of the signed tx, bytes. */
  readonly size: number
}

/** Envelopes computed once per decoded (frozen) signed tx (checkTx and block execution share them). */
const envelopes = new WeakMap<SignedTx, TxEnvelope>()

export function txEnvelope(signed: SignedTx): TxEnvelope {
  const cached = envelopes.get(signed)
  if (cached) return cached
  const txJson = canonicalTxJson(signed.tx)
  const full = `{"signature":${JSON.stringify(signed.signature)},"tx":${txJson}}`
  const env: TxEnvelope = {
    signed,
    hash: sha256Hex(full),
    signingBytes: encoder.encode(`${TX_DOMAIN}\n${txJson}`),
    json: full,
    size: Buffer.byteLength(full),
  }
  if (validated.has(signed)) envelopes.set(signed, env)
  return env
}

/**
 * `canonicalJson(tx)`, with volume reports encoded by their fast path (node-proofs.ts) so a
 * 10,000-wallet report is not pushed through the generic encoder.
 */
export function canonicalTxJson(tx: Tx): string {
  // A decoded tx has exactly zTx's keys and types, so its canonical JSON can be written field by field (sorted keys:
  // chainId, fee, memo, msgs, nonce, sender), a send by hand too: a fifth of the generic encoder's CPU for a transfer.
  const known = validatedTxs.has(tx)
  if (!known && !tx.msgs.some((m) => m.type === 'volume_report')) return canonicalJson(tx as unknown as CanonicalValue)
  let msgs = ''
  for (const m of tx.msgs) {
    if (msgs !== '') msgs += ','
    if (known && m.type === 'send') msgs += `{"amount":"${m.amount}","to":${JSON.stringify(m.to)},"type":"send"}`
    else if (m.type === 'volume_report')
      msgs += `{"publicKey":${JSON.stringify(m.publicKey)},"report":${canonicalVolumeReportJson(m.report)},"signature":${JSON.stringify(m.signature)},"type":"volume_report"}`
    else msgs += canonicalJson(m as unknown as CanonicalValue)
  }
  const memo = tx.memo === undefined ? '' : `,"memo":${JSON.stringify(tx.memo)}`
  return `{"chainId":${JSON.stringify(tx.chainId)},"fee":"${tx.fee}"${memo},"msgs":[${msgs}],"nonce":"${tx.nonce}","sender":${JSON.stringify(tx.sender)}}`
}

export function txHash(signed: SignedTx): string {
  return txEnvelope(signed).hash
}

export function txSigningBytes(tx: Tx): Uint8Array {
  return encoder.encode(`${TX_DOMAIN}\n${canonicalTxJson(tx)}`)
}

/** Signs a transaction with the sender's wallet key. */
export function signTx(key: WalletKey, tx: Tx): SignedTx {
  if (tx.sender !== key.address) throw new StratosError('BAD_REQUEST', 'tx.sender must be the signing wallet')
  return { tx, signature: Buffer.from(key.sign(txSigningBytes(tx))).toString('hex') }
}

/** Half the order of secp256k1: canonical signatures have s ≤ N/2. */
const SECP256K1_HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/**
 * Recovers the address that signed the transaction; null when the signature is not canonical or
 * does not parse. Canonical = recovery byte 0 or 1 and low s (s ≤ N/2, as Ethereum's EIP-2):
 * otherwise (r, N−s) with the other recovery byte would be a second valid signature of the same
 * transaction under a different tx hash (malleability), letting a relayer change the hash a
 * wallet is waiting for. Signature layout: noble's "recovered" format, recovery ‖ r ‖ s.
 */
export function recoverTxSigner(envelope: SignatureToRecover): string | null {
  const sig = envelope.signed.signature
  if (!/^0[01][0-9a-f]{128}$/.test(sig)) return null
  if (BigInt('0x' + sig.slice(66)) > SECP256K1_HALF_ORDER) return null
  return recoverWalletAddress(envelope.signingBytes, Buffer.from(sig, 'hex'))
}

/** What signer recovery reads from a TxEnvelope (all a recovery worker is sent). */
export interface SignatureToRecover {
  readonly signed: { readonly signature: string }
  readonly signingBytes: Uint8Array
}

/** Recovers a transaction's signer; the app's default is `recoverTxSigner` (pure JS, @noble/curves). */
export type TxSignerRecovery = (envelope: TxEnvelope) => string | null
