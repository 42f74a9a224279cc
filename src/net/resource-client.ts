/**
 * Typed client for a resource node's shard API, with end-to-end verification of what it reads:
 * the node's chunk-hash list must hash to the shard id, and every chunk returned must match
 * its hash, so a client never hands out a byte that differs from what was stored.
 *
 * In src/net beside the transports it drives (undici, direct-get.ts, direct-put.ts): src/sds/protocol stays the pure
 * contract; the SDK client and the meta node's repair both use this client, so it belongs to neither role.
 *
 * @example
 * Every shard PUT and GET carries a signed order (Proof of Traffic, orders.ts) covering the bytes it
 * moves, signed with the caller's OrderSigner: a PUT the shard's size, a GET the exact span it asks
 * for (the asked range widened to whole verification chunks).
 *
 * const node = new ResourceClient()
 * const orders = new OrderSigner() // its publicKey goes into the create-upload / read request
 * const receipt = await node.putShard({ url, ticket, shardId, data, orders })
 * const bytes = await node.getShard({ url, ticket, shardId, shardSize, offset: 0, length: 1024, orders })
 */
import { request, type Dispatcher } from 'undici'
import { StratosError } from '../errors.ts'
import { CLIENT_SHARD_TIMEOUT_MS, DIRECT_PUT_MIN_BYTES, SHARD_CHUNK_BYTES } from '../limits.ts'
import { SHARD_HEADERS, type ResourceNodeInfo } from '../sds/protocol/api.ts'
import { TICKET_HEADER, type SignedReceipt, type SignedTicket } from '../sds/protocol/messages.ts'
import { encodeTicketHeader } from '../sds/protocol/ticket.ts'
import { chunkHashesMatch, chunkMatches } from '../sds/protocol/shard.ts'
import { defaultDispatcher, jsonRequest, transportError, withTimeout } from './json-request.ts'
import { ORDER_HEADER, encodeOrderHeader, type OrderSigner } from '../sds/protocol/orders.ts'
import { systemClock, type Clock } from '../util/components.ts'
import { defaultDirectGetPool, type DirectGetPool, type DirectGetResult } from './direct-get.ts'
import { canDirectPut, directPut } from './direct-put.ts'

export interface PutShardParameters {
  url: string
  ticket: SignedTicket
  shardId: string
  data: Uint8Array
  /** Signs the order this PUT carries (its key must be the ticket's orderKey). */
  orders: OrderSigner
  signal?: AbortSignal
  timeoutMs?: number
}

export interface GetShardParameters {
  url: string
  ticket: SignedTicket
  shardId: string
  shardSize: number
  /** Byte range inside the shard; defaults to the whole shard. */
  offset?: number
  length?: number
  /** Where to write the verified bytes (must be `length` long); a new buffer otherwise. */
  into?: Uint8Array
  /** Signs the order this GET carries (its key must be the ticket's orderKey). */
  orders: OrderSigner
  signal?: AbortSignal
  timeoutMs?: number
}

export class ResourceClient {
  readonly #dispatcher: Dispatcher
  readonly #direct: DirectGetPool
  readonly #directPut: boolean
  readonly #clock: Clock

  /**
   * `dispatcher` carries info requests and shard PUTs under DIRECT_PUT_MIN_BYTES (every PUT with `directPut: false`);
   * shard GETs use `directGet` (direct-get.ts), larger shard PUTs to http: nodes their own connection (direct-put.ts).
   */
  constructor(
    options: { dispatcher?: Dispatcher; directGet?: DirectGetPool; directPut?: boolean; clock?: Clock } = {},
  ) {
    this.#dispatcher = options.dispatcher ?? defaultDispatcher()
    this.#direct = options.directGet ?? defaultDirectGetPool()
    this.#directPut = options.directPut ?? true
    this.#clock = options.clock ?? systemClock
  }

  info(url: string, o: { signal?: AbortSignal } = {}): Promise<ResourceNodeInfo> {
    return jsonRequest(`${url}/v1/info`, { method: 'GET', dispatcher: this.#dispatcher, signal: o.signal })
  }

  async putShard(p: PutShardParameters): Promise<SignedReceipt> {
    const url = `${p.url}/v1/shards/${p.shardId}`
    const signal = withTimeout(p.signal, p.timeoutMs ?? CLIENT_SHARD_TIMEOUT_MS)
    const headers = {
      [TICKET_HEADER]: encodeTicketHeader(p.ticket),
      [ORDER_HEADER]: encodeOrderHeader(p.orders.next(p.ticket.payload, p.data.length, this.#clock.now())),
      'content-type': 'application/octet-stream',
    }
    if (this.#directPut && p.data.length >= DIRECT_PUT_MIN_BYTES && canDirectPut(p.url)) {
      try {
        const res = await directPut({ origin: p.url, path: `/v1/shards/${p.shardId}`, headers, body: p.data, signal })
        if (res.status >= 400) throw StratosError.fromBody(res.body, res.status)
        return (res.body as { receipt: SignedReceipt }).receipt
      } catch (e) {
        throw transportError(e, url, p.signal)
      }
    }
    try {
      const res = await request(url, {
        method: 'PUT',
        dispatcher: this.#dispatcher,
        headers: { ...headers, 'content-length': String(p.data.length) },
        body: p.data,
        signal,
      })
      const text = await res.body.text()
      const body = text ? JSON.parse(text) : undefined
      if (res.statusCode >= 400) throw StratosError.fromBody(body, res.statusCode)
      return (body as { receipt: SignedReceipt }).receipt
    } catch (e) {
      if (e instanceof SyntaxError) throw new StratosError('UPSTREAM_ERROR', `${url} answered a body that is not JSON`)
      throw transportError(e, url, p.signal)
    }
  }

  /** Fetches and verifies a shard or a byte range of it. Throws HASH_MISMATCH if the node sends wrong bytes. */
  async getShard(p: GetShardParameters): Promise<Uint8Array> {
    const offset = p.offset ?? 0
    const length = p.length ?? p.shardSize - offset
    if (offset < 0 || length < 0 || offset + length > p.shardSize) {
      throw new StratosError(
        'RANGE_NOT_SATISFIABLE',
        `range ${offset}+${length} is outside shard of ${p.shardSize} bytes`,
      )
    }
    const out = p.into ?? new Uint8Array(length)
    if (length === 0) return out
    // Fetch whole verification chunks around the asked range so every byte can be checked.
    const firstChunk = Math.floor(offset / SHARD_CHUNK_BYTES)
    const endChunk = Math.ceil((offset + length) / SHARD_CHUNK_BYTES)
    const start = firstChunk * SHARD_CHUNK_BYTES
    const end = Math.min(p.shardSize, endChunk * SHARD_CHUNK_BYTES)
    const whole = start === 0 && end === p.shardSize
    const url = `${p.url}/v1/shards/${p.shardId}`
    const signal = withTimeout(p.signal, p.timeoutMs ?? CLIENT_SHARD_TIMEOUT_MS)
    // The body goes straight into the destination (or a span buffer when the asked range is not
    // chunk-aligned); each chunk is verified in place as soon as it is complete, so a wrong byte
    // stops the transfer at the first bad chunk.
    const span = end - start
    const aligned = start === offset && end === offset + length
    let spanBuf: Uint8Array | undefined
    let chunkHashes = new Uint8Array(0)
    let verifiedUpTo = 0
    let chunkIndex = firstChunk
    let result: DirectGetResult
    try {
      result = await this.#direct.get({
        origin: p.url,
        path: `/v1/shards/${p.shardId}`,
        headers: {
          [TICKET_HEADER]: encodeTicketHeader(p.ticket),
          [ORDER_HEADER]: encodeOrderHeader(p.orders.next(p.ticket.payload, end - start, this.#clock.now())),
          ...(whole ? {} : { range: `bytes=${start}-${end - 1}` }),
        },
        signal,
        onHead: (head) => {
          if (head.status !== (whole ? 200 : 206))
            throw new StratosError('UPSTREAM_ERROR', `node answered HTTP ${head.status} to a shard read`, { url })
          const hashesHeader = head.headers[SHARD_HEADERS.chunkHashes]
          chunkHashes =
            typeof hashesHeader === 'string'
              ? new Uint8Array(Buffer.from(hashesHeader, 'base64url'))
              : new Uint8Array(0)
          if (
            Number(head.headers[SHARD_HEADERS.shardSize]) !== p.shardSize ||
            !chunkHashesMatch(p.shardId, p.shardSize, chunkHashes)
          ) {
            throw new StratosError('HASH_MISMATCH', 'node sent a chunk-hash list that does not match the shard id', {
              url,
            })
          }
          if (head.contentLength !== span)
            throw new StratosError('SIZE_MISMATCH', `node sends ${head.contentLength} bytes, not ${span}`, { url })
          spanBuf = aligned ? out : new Uint8Array(span)
          return spanBuf
        },
        onBody: (received) => {
          while (verifiedUpTo < received) {
            const chunkEnd = Math.min(span, verifiedUpTo + SHARD_CHUNK_BYTES)
            if (chunkEnd > received) break
            if (!chunkMatches(chunkHashes, chunkIndex, spanBuf!.subarray(verifiedUpTo, chunkEnd))) {
              throw new StratosError(
                'HASH_MISMATCH',
                `chunk ${chunkIndex} of shard ${p.shardId} does not match its hash`,
                { url, chunk: chunkIndex },
              )
            }
            verifiedUpTo = chunkEnd
            chunkIndex++
          }
        },
      })
    } catch (e) {
      throw transportError(e, url, p.signal)
    }
    if (result.head.status >= 300) {
      let body: unknown
      try {
        body = JSON.parse(result.errorBody?.toString('utf8') ?? '')
      } catch {
        body = undefined
      }
      throw StratosError.fromBody(body, result.head.status)
    }
    if (verifiedUpTo !== span)
      throw new StratosError('SIZE_MISMATCH', `node sent ${verifiedUpTo} of ${span} bytes`, { url })
    if (!aligned) out.set(spanBuf!.subarray(offset - start, offset - start + length))
    return out
  }
}
