/**
 * Orders: the payer side of Proof of Traffic.
 *
 * A ticket (messages.ts `Ticket`) is the meta node's **order limit**: serial, payer, node, shard,
 * PUT/GET, max bytes (`size`), expiry, and the public key (`orderKey`) of the party allowed to
 * spend it. As bytes flow, that party signs **orders**: (serial, cumulative bytes). A resource node
 * serves a request only when the order it carries covers every byte the node has served under
 * that serial so far plus the bytes of this request, and keeps the highest order per serial; at
 * settlement it hands (ticket, highest order) pairs to the meta node, which pays it for
 * `order.bytes` and charges the ticket's payer.
 *
 * Order keys are ed25519 (node:crypto), generated per client session (`OrderSigner`): a reader
 * needs no wallet to download a file (the owner pays, like a publisher pays its CDN), and an
 * ed25519 signature costs microseconds (bench/README.md), so signing per request is free next to
 * the bytes it covers.
 * The owner's wallet authorises the key for uploads (it is inside the wallet-signed create
 * request); for downloads the meta node binds the reader's key into each GET ticket.
 *
 * Signed bytes: signingBytes(DOMAIN_ORDER, order) — canonical JSON with a domain tag, like every
 * other signed message of the system; chain id and serial are inside, `signedAt` dates it.
 */
import { z } from 'zod'
import { signingBytes, type CanonicalValue } from '../../crypto/canonical.ts'
import { fromBase64Url, toBase64Url } from '../../crypto/hash.ts'
import { NodeKey, verifyNodeSignature } from '../../crypto/node-key.ts'
import { StratosError } from '../../errors.ts'
import { CLOCK_SKEW_MS, MAX_ORDER_HEADER_BYTES, MAX_SHARD_BYTES, ORDER_SIGNER_SERIALS } from '../../limits.ts'
import { Lru } from '../../util/lru.ts'
import { zBase64Url, zNonce, zTime, type Ticket } from './messages.ts'

export const ORDER_DOMAIN = 'stratos/order/v1'
/** HTTP header carrying a signed order on shard PUT/GET: `base64url(JSON of SignedOrder)`. */
export const ORDER_HEADER = 'x-stratos-order'

export const zOrder = z.strictObject({
  v: z.literal(1),
  chainId: z.string().min(1).max(64),
  /** The ticket (order limit) serial this order spends. */
  serial: zNonce,
  /** Cumulative bytes authorised under this serial (never more than the ticket's size). */
  bytes: z.number().int().nonnegative().max(MAX_SHARD_BYTES),
  signedAt: zTime,
})
export type Order = z.infer<typeof zOrder>
export const zSignedOrder = z.strictObject({ payload: zOrder, signature: zBase64Url })
export interface SignedOrder {
  payload: Order
  signature: string
}

export function orderSigningBytes(order: Order): Uint8Array {
  return signingBytes(ORDER_DOMAIN, order as unknown as CanonicalValue)
}

export function signOrder(key: NodeKey, order: Order): SignedOrder {
  return { payload: order, signature: toBase64Url(key.sign(orderSigningBytes(order))) }
}

export interface VerifyOrderParameters {
  /** The order limit the order spends (already verified as signed by a trusted meta node). */
  ticket: Ticket
  order: SignedOrder
  chainId: string
}

/**
 * Checks an order against its limit: same chain and serial, signed by the limit's order key,
 * at most the limit's bytes, signed before the limit expired. Throws ORDER_INVALID or
 * ORDER_LIMIT_EXCEEDED; the caller checks that the order covers the bytes it is about to move.
 */
export function verifyOrder({ ticket, order, chainId }: VerifyOrderParameters): Order {
  const o = order.payload
  if (o.chainId !== chainId)
    throw new StratosError('ORDER_INVALID', `order is for chain ${o.chainId}, this is ${chainId}`, { serial: o.serial })
  if (o.serial !== ticket.serial)
    throw new StratosError('ORDER_INVALID', 'order serial differs from its order limit', {
      serial: o.serial,
      limit: ticket.serial,
    })
  let publicKey: Uint8Array, signature: Uint8Array
  try {
    publicKey = fromBase64Url(ticket.orderKey)
    signature = fromBase64Url(order.signature)
  } catch {
    throw new StratosError('ORDER_INVALID', 'order signature or key is not base64url', { serial: o.serial })
  }
  if (!verifyNodeSignature(publicKey, orderSigningBytes(o), signature)) {
    throw new StratosError('ORDER_INVALID', 'order is not signed by the key its limit names', { serial: o.serial })
  }
  if (o.bytes > ticket.size) {
    throw new StratosError('ORDER_LIMIT_EXCEEDED', `order for ${o.bytes} bytes exceeds its limit of ${ticket.size}`, {
      serial: o.serial,
      bytes: o.bytes,
      limit: ticket.size,
    })
  }
  if (o.signedAt > ticket.expiresAt + CLOCK_SKEW_MS) {
    throw new StratosError('ORDER_INVALID', 'order was signed after its limit expired', {
      serial: o.serial,
      signedAt: o.signedAt,
      expiresAt: ticket.expiresAt,
    })
  }
  return o
}

export function encodeOrderHeader(order: SignedOrder): string {
  return Buffer.from(JSON.stringify(order)).toString('base64url')
}

/** Parses the ORDER_HEADER value; ORDER_MISSING when absent, ORDER_INVALID when malformed. */
export function decodeOrderHeader(header: string | string[] | undefined): SignedOrder {
  if (header === undefined || header === '')
    throw new StratosError('ORDER_MISSING', `this transfer needs a signed order in the ${ORDER_HEADER} header`)
  if (Array.isArray(header) || header.length > MAX_ORDER_HEADER_BYTES)
    throw new StratosError('ORDER_INVALID', 'order header is malformed')
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
  } catch {
    throw new StratosError('ORDER_INVALID', 'order header is not base64url JSON')
  }
  const parsed = zSignedOrder.safeParse(raw)
  if (!parsed.success) throw new StratosError('ORDER_INVALID', 'order header does not hold a signed order')
  return parsed.data
}

/**
 * The client's order book: one ephemeral ed25519 key per client session and the cumulative bytes
 * signed per serial. `next(ticket, n)` signs an order covering everything signed so far under
 * that serial plus `n` bytes (capped at the limit: the node then refuses with
 * ORDER_LIMIT_EXCEEDED and the client asks the meta node for a fresh limit).
 * Bounded: at most ORDER_SIGNER_SERIALS serials are remembered (oldest dropped first; a dropped
 * serial's tickets have long expired in practice, and re-signing from 0 only under-pays).
 */
export class OrderSigner {
  readonly #key: NodeKey
  /** Bytes signed so far per ticket serial, least recently signed first out. */
  readonly #signed = new Lru<string, number>({ maxEntries: ORDER_SIGNER_SERIALS })
  readonly publicKey: string

  constructor(key: NodeKey = NodeKey.generate()) {
    this.#key = key
    this.publicKey = toBase64Url(key.publicKey)
  }

  /** Signs an order for `bytes` more under `ticket`'s serial; returns the header value. */
  next(ticket: Ticket, bytes: number, now: number): SignedOrder {
    const total = Math.min(ticket.size, (this.#signed.get(ticket.serial) ?? 0) + bytes)
    this.#signed.set(ticket.serial, total)
    return signOrder(this.#key, { v: 1, chainId: ticket.chainId, serial: ticket.serial, bytes: total, signedAt: now })
  }

  /** Signs other bytes with the same key (a session call, signing.ts sessionCallBytes); base64url signature. */
  sign(bytes: Uint8Array): string {
    return toBase64Url(this.#key.sign(bytes))
  }

  /** Cumulative bytes signed under `serial` (0 when unknown). */
  signed(serial: string): number {
    return this.#signed.peek(serial) ?? 0 // a look, not a use: the order stays as it was
  }

  /** Bytes `ticket`'s limit still covers for this client: a GET for more would be refused (ORDER_LIMIT_EXCEEDED). */
  remainingBytes(ticket: Ticket): number {
    return ticket.size - this.signed(ticket.serial)
  }
}
