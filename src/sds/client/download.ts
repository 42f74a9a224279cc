/**
 * Streaming, verified reads of a file or a byte range of it.
 *
 * Tickets come from the meta node (`read`) in windows of segments, the next window fetched ahead.
 * For each segment only the touched data shards are fetched, and from each only the touched byte
 * columns (range GETs, verified per 256 KiB chunk by ResourceClient), written straight into the
 * segment's output buffer: data shards are the file's bytes, so a healthy read decodes nothing.
 *
 * A data shard that fails (error, HASH_MISMATCH, node offline in the record or already failed in
 * this read) or is slower than CLIENT_HEDGE_AFTER_MS is rebuilt: the same columns, widened to the
 * code's stripes, are taken from k other shards (healthy data shards already fetched count, padding
 * is known zeros, the rest are range GETs of parity shards) and decoded. Fewer than k readable
 * shards → DATA_UNAVAILABLE. Segments are yielded in order while the next one is being fetched
 * (CLIENT_SEGMENTS_IN_FLIGHT, or the read's segmentsInFlight). Each yielded chunk is a fresh Buffer the caller may keep, unless the
 * read asked for reuseBuffers: then it is recycled once the consumer asks for the next chunk.
 */
import { StratosError, toStratosError, throwIfAborted } from '../../errors.ts'
import {
  CLIENT_HEDGE_AFTER_MS,
  CLIENT_READ_POOL_BUFFERS,
  CLIENT_TICKET_REFRESHES,
  CLIENT_READ_WINDOW_SEGMENTS,
  CLIENT_SEGMENTS_IN_FLIGHT,
  MAX_SEGMENTS_PER_READ_REQUEST,
  MAX_SHARD_BYTES,
} from '../../limits.ts'
import type { FileRecordView, ReadResponse, SegmentRecord } from '../protocol/api.ts'
import type { SignedTicket } from '../protocol/messages.ts'
import { ErasureCode } from './erasure.ts'
import { linkedController } from './limiter.ts'
import { RecyclingBufferPool } from '../../util/buffer-pool.ts'
import type { ProgressEvent, TransferComponents } from './types.ts'

export interface ReadParameters {
  cid: string
  offset?: number
  length?: number
  signal?: AbortSignal
  onProgress?: (e: ProgressEvent) => void
  /** Segment size to assume before the record is known (the client's default); a wrong guess costs one more round trip. */
  segmentSizeHint: number
  /** Override of CLIENT_HEDGE_AFTER_MS (tests). */
  hedgeAfterMs?: number
  /** See ReadOptions.reuseBuffers: a yielded chunk goes back to the pool when the consumer asks for the next. */
  reuseBuffers?: boolean
  /** With reuseBuffers: the pool chunks come from (default: the client's readBuffers), e.g. an aligned one for direct I/O. */
  buffers?: RecyclingBufferPool
  /** With reuseBuffers and `buffers`: the caller gives every chunk back to `buffers` itself (it may keep a few at once). */
  callerGivesBack?: boolean
  /** See ReadOptions.segmentsInFlight (default CLIENT_SEGMENTS_IN_FLIGHT). */
  segmentsInFlight?: number
}

function emit(onProgress: ((e: ProgressEvent) => void) | undefined, e: ProgressEvent): void {
  if (!onProgress) return
  try {
    onProgress(e)
  } catch {
    // A throwing progress callback must not break the transfer.
  }
}

/**
 * The reason a read or segment stops its own remaining work once it is done: nobody sees its stack (the fetches it
 * stops are awaited and dropped), so it is built without one (capturing it cost more than the rest of the abort).
 */
function abortReason(message: string): StratosError {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new StratosError('ABORTED', message)
  } finally {
    Error.stackTraceLimit = limit
  }
}

const WINDOW = Math.min(CLIENT_READ_WINDOW_SEGMENTS, MAX_SEGMENTS_PER_READ_REQUEST)

/** Read tickets in windows of segments; the window after the one in use is requested ahead. */
class TicketWindows {
  #windows: { from: number; to: number; response: Promise<ReadResponse> }[] = []
  /** Per segment: the latest refresh and every serial refreshes of the segment have replaced. */
  readonly #refreshed = new Map<
    number,
    { stale: Set<string>; fresh: Promise<{ tickets: SignedTicket[]; file: FileRecordView }> }
  >()
  constructor(
    readonly c: TransferComponents,
    readonly cid: string,
    readonly lastSegment: number,
    readonly signal: AbortSignal,
    first: ReadResponse,
  ) {
    this.#windows.push({ from: first.from, to: first.to, response: Promise.resolve(first) })
  }

  #open(from: number): { from: number; to: number; response: Promise<ReadResponse> } {
    const to = Math.min(this.lastSegment + 1, from + WINDOW)
    const response = this.c.reads.read(this.cid, { from, to }, { signal: this.signal })
    response.catch(() => undefined)
    const w = { from, to, response }
    this.#windows.push(w)
    return w
  }

  async forSegment(segment: number): Promise<{ tickets: SignedTicket[]; file: FileRecordView }> {
    // Once a segment's tickets were refreshed, its window's tickets are spent or closed: use the new ones.
    const refreshed = this.#refreshed.get(segment)
    if (refreshed) return refreshed.fresh
    const covers = (r: ReadResponse): boolean => segment >= r.from && segment < r.to && !!r.tickets[segment - r.from]
    let w = this.#windows.find((x) => segment >= x.from && segment < x.to) ?? this.#open(segment)
    let r = await w.response
    if (!covers(r)) {
      // The meta node answered a shorter window than asked: ask again from this segment.
      w.to = Math.max(w.from, Math.min(w.to, r.to))
      w = this.#open(segment)
      r = await w.response
      if (!covers(r))
        throw new StratosError('UPSTREAM_ERROR', `meta node gave no read tickets for segment ${segment}`, { segment })
    }
    // Fetch the next window ahead once this one is in use; forget windows behind us.
    if (r.to <= this.lastSegment && !this.#windows.some((x) => x.from <= r.to && r.to < x.to)) this.#open(r.to)
    this.#windows = this.#windows.filter((x) => x.to > segment)
    return { tickets: r.tickets[segment - r.from], file: r.file }
  }

  /**
   * New tickets for one segment, replacing `stale` (the segment's tickets a fetch failed with:
   * TICKET_EXPIRED or ORDER_LIMIT_EXCEEDED). Fetches of the segment that fail on the same old tickets
   * share one meta round trip (each refresh issues k + m new limits, which the meta node counts
   * against the payer's ozone until they are settled or expire).
   */
  refresh(segment: number, stale: SignedTicket[]): Promise<{ tickets: SignedTicket[]; file: FileRecordView }> {
    const serials = stale.filter(Boolean).map((t) => t.payload.serial)
    const known = this.#refreshed.get(segment)
    // Failed on tickets an earlier refresh already replaced: the newest ones are the answer.
    if (known && serials.some((x) => known.stale.has(x))) return known.fresh
    const fresh = this.c.reads
      .refresh(this.cid, { from: segment, to: segment + 1 }, { signal: this.signal })
      .then((r) => {
        if (r.from !== segment || !r.tickets[0])
          throw new StratosError('UPSTREAM_ERROR', `meta node gave no tickets for segment ${segment}`)
        return { tickets: r.tickets[0], file: r.file }
      })
    fresh.catch(() => undefined)
    this.#refreshed.set(segment, { stale: new Set([...(known?.stale ?? []), ...serials]), fresh })
    return fresh
  }
}

/** First meta round trip: record + tickets for the segments the range starts in. */
async function openRead(
  c: TransferComponents,
  p: ReadParameters,
  signal: AbortSignal,
): Promise<{ first: ReadResponse; start: number; end: number }> {
  const offset = p.offset ?? 0
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new StratosError('BAD_REQUEST', `offset must be a non-negative integer, got ${p.offset}`)
  if (p.length !== undefined && (!Number.isSafeInteger(p.length) || p.length < 0))
    throw new StratosError('BAD_REQUEST', `length must be a non-negative integer, got ${p.length}`)
  // Guess the segments from the client's default segment size; the meta node refuses windows past the
  // file's last segment, so ask for exactly the segments the range needs (one when it is open-ended).
  const hint = Math.max(1, p.segmentSizeHint)
  const from = Math.floor(offset / hint)
  const last = p.length !== undefined && p.length > 0 ? Math.floor((offset + p.length - 1) / hint) : from
  let first: ReadResponse
  try {
    first = await c.reads.read(p.cid, { from, to: Math.min(last + 1, from + WINDOW) }, { signal })
  } catch (e) {
    if (!(e instanceof StratosError) || e.code !== 'RANGE_NOT_SATISFIABLE') throw e
    // Past the last segment (short file, wrong guess or a range beyond the end): learn the layout, no tickets.
    const n = typeof e.details?.segments === 'number' ? e.details.segments : 0
    first = await c.meta.read(
      p.cid,
      {
        ...(from < n ? { from, to: Math.min(n, last + 1, from + WINDOW) } : { from: 0, to: 0 }),
        orderKey: c.orders.publicKey,
      },
      { signal },
    )
  }
  const file = first.file
  if (file.kind !== 'file')
    throw new StratosError('BAD_REQUEST', `${p.cid} is a ${file.kind}, not a file`, { cid: p.cid, kind: file.kind })
  if (offset > file.size) {
    throw new StratosError('RANGE_NOT_SATISFIABLE', `offset ${offset} is beyond the end of a ${file.size}-byte file`, {
      offset,
      size: file.size,
    })
  }
  const end = p.length === undefined ? file.size : Math.min(file.size, offset + p.length)
  if (end > offset) {
    const need = Math.floor(offset / file.segmentSize)
    if (need < first.from || need >= first.to) {
      const lastNeeded = Math.floor((end - 1) / file.segmentSize)
      first = await c.reads.read(p.cid, { from: need, to: Math.min(lastNeeded + 1, need + WINDOW) }, { signal })
    }
  }
  return { first, start: offset, end }
}

interface Piece {
  /** Data shard index. */
  shard: number
  /** Column range inside the shard. */
  c0: number
  c1: number
  /** The columns' bytes: a buffer of its own, handed to the caller as one chunk. */
  buf: Buffer
  status: 'pending' | 'ok' | 'failed'
  code?: string
  direct?: Promise<void>
  ctrl: AbortController
  repairing: boolean
  repaired: boolean
  repairError?: StratosError
}

/** Errors that may mean a cached record is out of date (shards moved or deleted since it was cached). */
const STALE_RECORD_CODES = new Set([
  'DATA_UNAVAILABLE',
  'SHARD_NOT_FOUND',
  'NODE_UNAVAILABLE',
  'TICKET_INVALID',
  'UNTRUSTED_ISSUER',
])

/**
 * Reads [start, end) of one file; yields fresh buffers (one per touched data shard of each segment), in order.
 * A read that fails before its first byte while using a cached record is retried once with a fresh one.
 */
export async function* readFile(c: TransferComponents, p: ReadParameters): AsyncGenerator<Buffer> {
  const cached = c.reads.has(p.cid)
  let yielded = false
  try {
    for await (const chunk of readFileOnce(c, p)) {
      yielded = true
      yield chunk
    }
  } catch (e) {
    if (yielded || !cached || p.signal?.aborted || !(e instanceof StratosError) || !STALE_RECORD_CODES.has(e.code))
      throw e
    c.reads.forget(p.cid)
    yield* readFileOnce(c, p)
  }
}

async function* readFileOnce(c: TransferComponents, p: ReadParameters): AsyncGenerator<Buffer> {
  const depth = p.segmentsInFlight ?? CLIENT_SEGMENTS_IN_FLIGHT
  if (!Number.isSafeInteger(depth) || depth < 1)
    throw new StratosError('BAD_REQUEST', `segmentsInFlight must be a whole number ≥ 1, got ${p.segmentsInFlight}`)
  const { controller, dispose } = linkedController(p.signal)
  const signal = controller.signal
  const inFlight: Promise<Buffer[]>[] = []
  try {
    const { first, start, end } = await openRead(c, p, signal)
    if (end <= start) return
    const file = first.file
    const segmentSize = file.segmentSize
    const firstSeg = Math.floor(start / segmentSize)
    const lastSeg = Math.floor((end - 1) / segmentSize)
    if (
      lastSeg >= file.segments.length ||
      file.segments.some((seg, i) => seg.index !== i || (i < file.segments.length - 1 && seg.size !== segmentSize))
    ) {
      throw new StratosError('UPSTREAM_ERROR', 'file record has a segment layout that does not match its size', {
        cid: p.cid,
      })
    }
    const pool = p.reuseBuffers
      ? (p.buffers ?? c.readBuffers ?? new RecyclingBufferPool(CLIENT_READ_POOL_BUFFERS, MAX_SHARD_BYTES))
      : undefined
    const reader = new SegmentReader(c, p, file, new TicketWindows(c, p.cid, lastSeg, signal, first), signal, pool)
    const total = end - start
    let bytes = 0
    let next = firstSeg
    const startNext = (): void => {
      const s = next++
      const segStart = s * segmentSize
      const a = Math.max(start, segStart) - segStart
      const b = Math.min(end, segStart + file.segments[s].size) - segStart
      const pr = reader.read(s, a, b)
      pr.catch(() => undefined)
      inFlight.push(pr)
    }
    while (next <= lastSeg || inFlight.length > 0) {
      while (inFlight.length < depth && next <= lastSeg) startNext()
      const chunks = await inFlight[0]
      inFlight.shift()
      // Start the next fetch before handing this segment to the consumer.
      while (inFlight.length < depth && next <= lastSeg) startNext()
      for (const chunk of chunks) {
        bytes += chunk.length
        emit(p.onProgress, { type: 'download:progress', bytes, total })
        yield chunk
        // The consumer asked for more: with reuseBuffers it is done with this one (unless it gives chunks back itself).
        if (!(p.callerGivesBack && p.buffers)) pool?.give(chunk)
      }
    }
  } catch (e) {
    if (p.signal?.aborted) throw new StratosError('ABORTED', 'download aborted', undefined, { cause: p.signal.reason })
    throw toStratosError(e)
  } finally {
    controller.abort(abortReason('read finished'))
    await Promise.allSettled(inFlight)
    dispose()
  }
}

/** Fetches segments (or column ranges of them), falling back to reconstruction per data shard. */
class SegmentReader {
  readonly #code: ErasureCode
  /** Nodes that failed at the transport level, or were hedged as too slow, during this read: skipped up front afterwards. */
  readonly #suspect = new Set<string>()
  readonly #hedgeAfterMs: number

  constructor(
    readonly c: TransferComponents,
    readonly p: ReadParameters,
    readonly file: FileRecordView,
    readonly windows: TicketWindows,
    readonly signal: AbortSignal,
    /** Where piece buffers come from with reuseBuffers (fresh allocations otherwise). */
    readonly pool?: RecyclingBufferPool,
  ) {
    this.#code = ErasureCode.for(file.k, file.m)
    this.#hedgeAfterMs = p.hedgeAfterMs ?? CLIENT_HEDGE_AFTER_MS
  }

  #nodeOf(
    file: FileRecordView,
    seg: SegmentRecord,
    shard: number,
  ): { node: string; url: string | undefined; usable: boolean } {
    const node = seg.shards[shard]?.node
    const info = node ? file.nodes[node] : undefined
    return { node: node ?? '?', url: info?.url, usable: !!info && info.state === 'online' && !this.#suspect.has(node) }
  }

  /**
   * A refusal of the meta node (INSUFFICIENT_OZONE, a file deleted meanwhile, …) holds for every shard
   * of the read: it is remembered and ends the read with its own code instead of a parity rebuild
   * that would meet the same refusal (and report DATA_UNAVAILABLE).
   */
  async #fromMeta<T>(segment: number, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (e) {
      const err = toStratosError(e)
      if (!this.signal.aborted && err.code !== 'ABORTED' && !this.#metaFailures.has(segment))
        this.#metaFailures.set(segment, err)
      throw err
    }
  }

  /** Per segment: the meta node's refusal of its tickets, which ends the read (see #fromMeta). */
  readonly #metaFailures = new Map<number, StratosError>()

  /**
   * GETs columns [from, to) of shard `shard` of segment `s` into `into`. Refreshes the segment's tickets
   * and retries (up to CLIENT_TICKET_REFRESHES times) on TICKET_EXPIRED, or on ORDER_LIMIT_EXCEEDED: a
   * reused (cached) limit this client already spent on earlier reads of the shard, one this read spent
   * (a repair reading the shard again), or one the node closed for settlement.
   */
  async #fetch(
    s: number,
    shard: number,
    from: number,
    to: number,
    into: Uint8Array,
    signal: AbortSignal,
  ): Promise<void> {
    let { tickets, file } = await this.#fromMeta(s, () => this.windows.forSegment(s))
    for (let attempt = 0; ; attempt++) {
      const seg = file.segments[s]
      const { node, url } = this.#nodeOf(file, seg, shard)
      const ticket = tickets[shard]
      if (!url || !ticket)
        throw new StratosError('NODE_UNAVAILABLE', `no location for shard ${shard} of segment ${s}`, { node })
      // A limit this client already spent (a cached ticket, or one an earlier piece of this read used)
      // would be refused by the node: refresh first instead of paying a round trip for the refusal.
      if (
        this.c.orders.remainingBytes(ticket.payload) < to - from &&
        attempt < CLIENT_TICKET_REFRESHES &&
        !signal.aborted
      ) {
        ;({ tickets, file } = await this.#fromMeta(s, () => this.windows.refresh(s, tickets)))
        continue
      }
      try {
        await this.c.shardLimiter.run(
          () =>
            this.c.resource.getShard({
              url,
              ticket,
              shardId: seg.shards[shard].id,
              shardSize: seg.shardSize,
              offset: from,
              length: to - from,
              into,
              orders: this.c.orders,
              signal,
            }),
          signal,
        )
        return
      } catch (e) {
        const err = toStratosError(e)
        if (
          (err.code === 'TICKET_EXPIRED' || err.code === 'ORDER_LIMIT_EXCEEDED') &&
          attempt < CLIENT_TICKET_REFRESHES &&
          !signal.aborted
        ) {
          ;({ tickets, file } = await this.#fromMeta(s, () => this.windows.refresh(s, tickets)))
          continue
        }
        if ((err.code === 'NODE_UNAVAILABLE' || err.code === 'TIMEOUT') && !signal.aborted) this.#suspect.add(node)
        throw err
      }
    }
  }

  /**
   * Bytes [a, b) of segment `s`, verified, as one new buffer per touched data shard. (Per shard, not per
   * segment: allocations under glibc's 32 MiB mmap threshold reuse freed heap memory, while a fresh
   * 32 MiB mapping per segment costs a page fault per 4 KiB — several times the CPU of the copy itself; bench/README.md.)
   */
  async read(s: number, a: number, b: number): Promise<Buffer[]> {
    throwIfAborted(this.signal)
    const seg = this.file.segments[s]
    const S = seg.shardSize
    const { controller: segCtrl, dispose } = linkedController(this.signal)
    const pieces: Piece[] = []
    for (let j = Math.floor(a / S); j <= Math.floor((b - 1) / S); j++) {
      const c0 = Math.max(a, j * S) - j * S
      const c1 = Math.min(b, (j + 1) * S) - j * S
      pieces.push({
        shard: j,
        c0,
        c1,
        buf: this.pool ? this.pool.take(c1 - c0) : Buffer.allocUnsafe(c1 - c0),
        status: 'pending',
        ctrl: new AbortController(),
        repairing: false,
        repaired: false,
      })
    }
    // Each piece's own controller also fires with the segment's (plain listeners rather than AbortSignal.any,
    // whose dependent signals have had garbage-collection bugs in Node).
    segCtrl.signal.addEventListener(
      'abort',
      () => {
        for (const pc of pieces) pc.ctrl.abort(segCtrl.signal.reason)
      },
      { once: true },
    )
    let wake: () => void = () => {}
    let changed = new Promise<void>((r) => {
      wake = r
    })
    const notify = (): void => {
      const w = wake
      changed = new Promise<void>((r) => {
        wake = r
      })
      w()
    }
    const repairs: Promise<void>[] = []
    let finished = false
    try {
      for (const piece of pieces) {
        const { node, usable } = this.#nodeOf(this.file, seg, piece.shard)
        if (!usable) {
          piece.status = 'failed'
          piece.code = 'NODE_UNAVAILABLE'
          emit(this.p.onProgress, {
            type: 'download:fallback',
            segment: s,
            shardIndex: piece.shard,
            node,
            code: 'NODE_UNAVAILABLE',
          })
          continue
        }
        piece.direct = this.#fetch(s, piece.shard, piece.c0, piece.c1, piece.buf, piece.ctrl.signal).then(
          () => {
            piece.status = 'ok'
            notify()
          },
          (e: unknown) => {
            piece.status = 'failed'
            piece.code = toStratosError(e).code
            if (!piece.ctrl.signal.aborted && !segCtrl.signal.aborted)
              emit(this.p.onProgress, {
                type: 'download:fallback',
                segment: s,
                shardIndex: piece.shard,
                node,
                code: piece.code,
              })
            notify()
          },
        )
      }
      let hedged = false
      const hedgeTimer = setTimeout(() => {
        hedged = true
        notify()
      }, this.#hedgeAfterMs)
      try {
        for (;;) {
          throwIfAborted(this.signal)
          if (pieces.every((pc) => pc.status === 'ok' || pc.repaired)) break
          const refused = this.#metaFailures.get(s)
          if (refused) throw refused
          const lost = pieces.find((pc) => pc.status === 'failed' && pc.repairError && !pc.repaired)
          if (lost) throw lost.repairError
          // Failed pieces are rebuilt at once. Slow ones only when they are stragglers: with more than m
          // pieces unfinished (everything is slow, e.g. a busy client), waiting is all parity allows.
          const unfinished = pieces.filter((pc) => pc.status !== 'ok' && !pc.repaired)
          const idle = (pc: Piece): boolean => !pc.repairing && !pc.repairError
          const need = unfinished.filter(
            (pc) =>
              idle(pc) &&
              (pc.status === 'failed' || (hedged && pc.status === 'pending' && unfinished.length <= this.file.m)),
          )
          if (need.length > 0) {
            for (const pc of need) {
              pc.repairing = true
              if (pc.status === 'pending') {
                const slow = this.#nodeOf(this.file, seg, pc.shard).node
                // A node that never answers (cut off: packets dropped) would cost every later segment the hedge
                // delay again: skip it up front for the rest of this read, while at most m nodes are skipped.
                if (this.#suspect.size < this.file.m) this.#suspect.add(slow)
                emit(this.p.onProgress, {
                  type: 'download:fallback',
                  segment: s,
                  shardIndex: pc.shard,
                  node: slow,
                  code: 'SLOW',
                })
              }
            }
            const r = this.#repair(s, seg, need, pieces, segCtrl.signal, () => finished).then(
              () => {
                for (const pc of need) {
                  pc.repaired = true
                  pc.repairing = false
                }
                notify()
              },
              (e: unknown) => {
                for (const pc of need) {
                  pc.repairError = toStratosError(e)
                  pc.repairing = false
                }
                notify()
              },
            )
            repairs.push(r)
            continue
          }
          await changed
        }
      } finally {
        clearTimeout(hedgeTimer)
      }
      finished = true
      return pieces.map((pc) => pc.buf)
    } finally {
      finished = true
      // Stop what may still run (hedged fetches, repairs); a segment whose fetches all settled has nothing to stop.
      if (repairs.length > 0 || pieces.some((pc) => pc.status === 'pending')) segCtrl.abort(abortReason('segment done'))
      // No fetch or repair may still write into a piece's buffer once it is handed out.
      await Promise.allSettled([...pieces.map((pc) => pc.direct), ...repairs])
      dispose()
    }
  }

  /**
   * Rebuilds the columns of `targets` (data shards) from k other shards and writes them into their buffers.
   * Direct fetches of the targets still running are aborted (and awaited) before their bytes are replaced.
   */
  async #repair(
    s: number,
    seg: SegmentRecord,
    targets: Piece[],
    pieces: Piece[],
    signal: AbortSignal,
    done: () => boolean,
  ): Promise<void> {
    const { k, m } = this.file
    const code = this.#code
    const S = seg.shardSize
    if (m === 0)
      throw new StratosError(
        'DATA_UNAVAILABLE',
        `shard ${targets[0].shard} of segment ${s} is unreadable and the file has no parity`,
        { segment: s },
      )
    // The decoder works on whole stripes: the targets' columns, widened to the code's alignment.
    const { start: A, end: B } = code.alignColumns(
      S,
      Math.min(...targets.map((t) => t.c0)),
      Math.max(...targets.map((t) => t.c1)),
    )
    const span = B - A
    const scratch = new Uint8Array((k + m) * span)
    const region = (i: number): Uint8Array => scratch.subarray(i * span, (i + 1) * span)
    const targetShards = new Set(targets.map((t) => t.shard))
    const candidates = this.#repairSources(s, seg, targetShards, pieces, A, B, region, signal)
    const sources = await loadShards(s, k, candidates, signal)
    await code.reconstructColumns(scratch, span, S, A, sources.slice(0, k), [...targetShards])
    if (done()) return
    // Stop the targets' own fetches (they may be writing into their buffers) before putting the rebuilt bytes there.
    for (const t of targets) t.ctrl.abort(new StratosError('ABORTED', 'rebuilt from parity'))
    await Promise.allSettled(targets.map((t) => t.direct))
    if (done()) return
    for (const t of targets) t.buf.set(region(t.shard).subarray(t.c0 - A, t.c1 - A))
  }

  /**
   * Every shard of segment `s` but the targets that can fill its `region` with columns [A, B), cheapest
   * first: known zeros (data columns past the file's end), bytes this read fetches anyway, parity or data
   * on healthy nodes, then nodes the record or this read distrust (they may still answer). Data shards
   * that already failed in this read are left out.
   */
  #repairSources(
    s: number,
    seg: SegmentRecord,
    targetShards: Set<number>,
    pieces: Piece[],
    A: number,
    B: number,
    region: (i: number) => Uint8Array,
    signal: AbortSignal,
  ): RepairSource[] {
    const { k, m } = this.file
    const S = seg.shardSize
    // Where the file's bytes end inside data shard i: beyond is zero padding, known without reading.
    const dataEnd = (i: number): number => Math.max(0, Math.min(S, seg.size - i * S))
    const pieceOf = (i: number): Piece | undefined => pieces.find((pc) => pc.shard === i)
    const free: RepairSource[] = []
    const fetched: RepairSource[] = []
    const fresh: RepairSource[] = []
    const lastResort: RepairSource[] = []
    for (let i = 0; i < k + m; i++) {
      if (targetShards.has(i)) continue
      const r = region(i)
      if (i < k && dataEnd(i) <= A) {
        free.push({
          shard: i,
          load: async () => {
            r.fill(0)
          },
        })
        continue
      }
      const pc = i < k ? pieceOf(i) : undefined
      const needTo = i < k ? Math.min(B, dataEnd(i)) : B
      if (pc && pc.status !== 'failed' && pc.c0 < needTo && pc.c1 > A) {
        // A data shard this read fetches anyway overlaps the columns: wait for it and copy, and GET only the
        // columns it lacks (a range ending inside the shard would otherwise read the shard twice, paid twice).
        const from = Math.max(A, pc.c0)
        const to = Math.min(needTo, pc.c1)
        const gaps = [
          [A, from],
          [to, needTo],
        ].filter(([a, b]) => b > a)
        fetched.push({
          shard: i,
          load: async () => {
            await Promise.all([
              (async () => {
                await pc.direct
                if (pc.status !== 'ok') throw new StratosError('NODE_UNAVAILABLE', `shard ${i} failed`)
                r.set(pc.buf.subarray(from - pc.c0, to - pc.c0), from - A)
              })(),
              ...gaps.map(([a, b]) => this.#fetch(s, i, a, b, r.subarray(a - A, b - A), signal)),
            ])
            r.fill(0, needTo - A)
          },
        })
        continue
      }
      if (pc?.status === 'failed') continue
      const { usable } = this.#nodeOf(this.file, seg, i)
      const src: RepairSource = {
        shard: i,
        load: async () => {
          await this.#fetch(s, i, A, needTo, r.subarray(0, needTo - A), signal)
          r.fill(0, needTo - A)
        },
      }
      ;(usable ? fresh : lastResort).push(src)
    }
    return [...free, ...fetched, ...fresh, ...lastResort]
  }
}

/** A shard a repair may decode from, and how to load its columns into the repair's scratch buffer. */
interface RepairSource {
  shard: number
  load: () => Promise<void>
}

/**
 * Loads `candidates` in order until k of them have loaded, running at most as many loads as shards are
 * still missing (a repair pays for no more shards than the decoder needs); a failed load is replaced by
 * the next candidate. Returns the loaded shards' indexes in the order they loaded; DATA_UNAVAILABLE once
 * the candidates run out, the load's own error once `signal` is aborted.
 */
function loadShards(s: number, k: number, candidates: RepairSource[], signal: AbortSignal): Promise<number[]> {
  const sources: number[] = []
  let failures = 0
  let cursor = 0
  const errors: string[] = []
  return new Promise<number[]>((resolve, reject) => {
    let running = 0
    const pump = (): void => {
      if (sources.length >= k) {
        resolve(sources)
        return
      }
      if (cursor >= candidates.length && running === 0) {
        reject(
          new StratosError(
            'DATA_UNAVAILABLE',
            `segment ${s}: only ${sources.length} of the ${k} shards needed are readable (${errors.join(', ') || 'no other shard'})`,
            {
              segment: s,
              have: sources.length,
              need: k,
              failures,
              errors,
            },
          ),
        )
        return
      }
      while (running < k - sources.length && cursor < candidates.length) {
        const cand = candidates[cursor++]
        running++
        cand.load().then(
          () => {
            running--
            sources.push(cand.shard)
            pump()
          },
          (e: unknown) => {
            running--
            failures++
            errors.push(`${cand.shard}:${toStratosError(e).code}`)
            if (signal.aborted) reject(toStratosError(e))
            else pump()
          },
        )
      }
    }
    pump()
  })
}
