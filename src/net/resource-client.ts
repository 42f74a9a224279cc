/**
 * Typed client for a resource node's shard API, with end-to-end verification of what it reads:
 * the node's chunk-hash list must hash to the shard id, and every chunk returned must match
 * its hash, so a client never hands out a byte that differs from what was stored.
 *
 * In src/net beside the transports it drives (undici, direct-get.ts, direct-put.ts): src/sds/protocol stays the pure
 * contract; the SDK client and the meta node's repair both use this client, so it belongs to neither role.
 *
 * @example
 * Every shard GET carries a signed order (Proof of Traffic, orders.ts) covering the bytes it moves,
 * signed with the caller's OrderSigner: the exact span it asks for (the asked range widened to whole
 * verification chunks). A shard PUT carries its ticket only: the upload's commit is its proof of
 * traffic (docs/protocol.md, Orders).
 *
 * const node = new ResourceClient()
 * const orders = new OrderSigner() // its publicKey goes into the create-upload / read request
 * const receipt = await node.putShard({ url, ticket, shardId, data })
 * const bytes = await node.getShard({ url, ticket, shardId, shardSize, offset: 0, length: 1024, orders })
 */
import type { Dispatcher } from 'undici'
import { StratosError } from '../errors.ts'
import {
  CLIENT_SHARD_CONCURRENCY,
  CLIENT_SHARD_TIMEOUT_MS,
  DIRECT_PUT_MIN_BYTES,
  SHARD_CHUNK_BYTES,
} from '../limits.ts'
import { SHARD_HEADERS, type ResourceNodeInfo } from '../sds/protocol/api.ts'
import { TICKET_HEADER, type SignedReceipt, type SignedTicket } from '../sds/protocol/messages.ts'
import { encodeTicketHeader } from '../sds/protocol/ticket.ts'
import { chunkHashesMatch, chunkMatches } from '../sds/protocol/shard.ts'
import { defaultDispatcher, jsonRequest, putBytes, transportError, withTimeout } from './json-request.ts'
import { ORDER_HEADER, encodeOrderHeader, type OrderSigner } from '../sds/protocol/orders.ts'
import { systemClock, type Clock } from '../util/components.ts'
import { defaultDirectGetPool, type DirectGetPool, type DirectGetResult } from './direct-get.ts'
import { canDirectPut, directPut } from './direct-put.ts'
import { memoizeByObject } from '../util/memo.ts'

export interface PutShardParameters {
  url: string
  ticket: SignedTicket
  shardId: string
  data: Uint8Array
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

/**
 * Scratch buffers for the edge chunks of unaligned range GETs (one chunk each), reused: a range read allocates
 * nothing but its own output. Keeps two per shard GET a client runs at once (8 MiB at most); more in flight just allocate.
 */
const scratchFree: Uint8Array[] = []
/** The signal of a GET without one (its timeout is direct-get's own timer). */
const neverAborted = new AbortController().signal
const SCRATCH_KEEP = 2 * CLIENT_SHARD_CONCURRENCY
function takeScratch(): Uint8Array {
  return scratchFree.pop() ?? new Uint8Array(SHARD_CHUNK_BYTES)
}
function giveScratch(b: Uint8Array): void {
  if (scratchFree.length < SCRATCH_KEEP) scratchFree.push(b)
}

/** The ticket header of a ticket object, encoded once (a read sends the same ticket with each of its range GETs). */
const ticketHeader = memoizeByObject((t: SignedTicket) => encodeTicketHeader(t))

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
    const timeoutMs = p.timeoutMs ?? CLIENT_SHARD_TIMEOUT_MS
    const headers = {
      [TICKET_HEADER]: encodeTicketHeader(p.ticket),
      'content-type': 'application/octet-stream',
    }
    if (this.#directPut && p.data.length >= DIRECT_PUT_MIN_BYTES && canDirectPut(p.url)) {
      const signal = withTimeout(p.signal, timeoutMs)
      try {
        const res = await directPut({ origin: p.url, path: `/v1/shards/${p.shardId}`, headers, body: p.data, signal })
        if (res.status >= 400) throw StratosError.fromBody(res.body, res.status)
        return (res.body as { receipt: SignedReceipt }).receipt
      } catch (e) {
        throw transportError(e, url, p.signal)
      }
    }
    try {
      // A small shard: one undici dispatch (no per-request signals or response stream; json-request.ts).
      const res = await putBytes(url, this.#dispatcher, headers, p.data, p.signal, timeoutMs)
      const body = res.text ? JSON.parse(res.text) : undefined
      if (res.status >= 400) throw StratosError.fromBody(body, res.status)
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
    const signal = p.signal ?? neverAborted
    // The body goes straight into the destination: the chunks wholly inside the asked range land in place, the
    // (at most two) edge chunks the range only partly covers in reused scratch buffers, from which their asked
    // bytes are copied once verified. Each chunk is verified as soon as it is complete, so a wrong byte stops the
    // transfer at the first bad chunk.
    const span = end - start
    const chunks = endChunk - firstChunk
    /** Where each chunk of the span lands (a view of `out`, or of a scratch buffer). */
    const views: Uint8Array[] = new Array(chunks)
    const scratch: Uint8Array[] = []
    const targets: Uint8Array[] = []
    for (let i = 0; i < chunks; i++) {
      const cs = start + i * SHARD_CHUNK_BYTES
      const ce = Math.min(end, cs + SHARD_CHUNK_BYTES)
      if (cs >= offset && ce <= offset + length) {
        views[i] = out.subarray(cs - offset, ce - offset)
        const prev = targets.length > 0 ? targets[targets.length - 1] : undefined
        // Consecutive chunks in `out` are one target (one buffer for the socket to fill).
        if (prev && prev.buffer === out.buffer && prev.byteOffset + prev.length === views[i].byteOffset)
          targets[targets.length - 1] = new Uint8Array(out.buffer, prev.byteOffset, prev.length + views[i].length)
        else targets.push(views[i])
      } else {
        const b = takeScratch()
        scratch.push(b)
        views[i] = b.subarray(0, ce - cs)
        targets.push(views[i])
      }
    }
    let chunkHashes = new Uint8Array(0)
    let verifiedUpTo = 0
    let verified = 0
    let result: DirectGetResult
    try {
      try {
        result = await this.#direct.get({
          origin: p.url,
          path: `/v1/shards/${p.shardId}`,
          headers: {
            [TICKET_HEADER]: ticketHeader(p.ticket),
            [ORDER_HEADER]: encodeOrderHeader(p.orders.next(p.ticket.payload, end - start, this.#clock.now())),
            ...(whole ? {} : { range: `bytes=${start}-${end - 1}` }),
          },
          signal,
          timeoutMs: p.timeoutMs ?? CLIENT_SHARD_TIMEOUT_MS,
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
            return targets
          },
          onBody: (received) => {
            while (verified < chunks) {
              const chunk = views[verified]
              if (verifiedUpTo + chunk.length > received) break
              if (!chunkMatches(chunkHashes, firstChunk + verified, chunk)) {
                throw new StratosError(
                  'HASH_MISMATCH',
                  `chunk ${firstChunk + verified} of shard ${p.shardId} does not match its hash`,
                  { url, chunk: firstChunk + verified },
                )
              }
              verifiedUpTo += chunk.length
              verified++
            }
          },
        })
      } catch (e) {
        throw transportError(e, url, p.signal)
      }
      if (result.head.status < 300 && verifiedUpTo === span) {
        // The edge chunks' asked bytes, verified above, into place.
        for (let i = 0; i < chunks; i++) {
          if (views[i].buffer === out.buffer) continue
          const cs = start + i * SHARD_CHUNK_BYTES
          const from = Math.max(offset, cs)
          const to = Math.min(offset + length, cs + views[i].length)
          if (to > from) out.set(views[i].subarray(from - cs, to - cs), from - offset)
        }
      }
    } finally {
      // The connection no longer holds them (a finished or failed request drops its body buffers).
      for (const b of scratch) giveScratch(b)
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
    return out
  }
}
