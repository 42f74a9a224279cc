/**
 * Read counts per segment in a sliding window, for auto-scaling replication.
 *
 * Counted at the meta node's read route (every ticket request names the segments it reads). Each tracked segment
 * keeps HOT_BUCKETS counters covering `windowMs` (a ring advanced on use: O(1) per read); a segment is hot while
 * its reads in the window exceed `readsPerWindow`, and `lastHot` remembers the last time it was, which is what the
 * cooldown is measured from. At most `maxTracked` segments are tracked (least recently read forgotten first), so
 * memory is bounded however many files are read.
 */
import { Lru } from '../../../util/lru.ts'

const HOT_BUCKETS = 6

interface Counter {
  buckets: number[]
  /** Index (time / bucketMs) of the newest bucket. */
  head: number
  lastHot: number | undefined
}

export interface HotTrackerOptions {
  readsPerWindow: number
  windowMs: number
  maxTracked: number
}

export function segmentKey(cid: string, segment: number): string {
  return `${cid}/${segment}`
}

export function parseSegmentKey(key: string): { cid: string; segment: number } {
  const i = key.lastIndexOf('/')
  return { cid: key.slice(0, i), segment: Number(key.slice(i + 1)) }
}

export class HotTracker {
  readonly #o: HotTrackerOptions
  readonly #bucketMs: number
  /** Least recently read first out, once maxTracked are kept; looking a counter up (peek) does not refresh it. */
  readonly #counters: Lru<string, Counter>
  /** Segments that turned hot since the last drain (the replication loop takes them). */
  readonly #newlyHot = new Set<string>()

  constructor(options: HotTrackerOptions) {
    this.#o = options
    this.#bucketMs = Math.max(1, Math.ceil(options.windowMs / HOT_BUCKETS))
    this.#counters = new Lru({ maxEntries: options.maxTracked })
  }

  /** One read of segments [from, to) of `cid` at `now`. */
  onRead(cid: string, from: number, to: number, now: number): void {
    for (let s = from; s < to; s++) this.#count(segmentKey(cid, s), now)
  }

  #count(key: string, now: number): void {
    const head = Math.floor(now / this.#bucketMs)
    let c = this.#counters.get(key)
    if (c) advance(c, head)
    else c = { buckets: new Array<number>(HOT_BUCKETS).fill(0), head, lastHot: undefined }
    this.#counters.set(key, c)
    c.buckets[head % HOT_BUCKETS]++
    if (sum(c.buckets) > this.#o.readsPerWindow) {
      if (c.lastHot === undefined || !this.isHot(key, now)) this.#newlyHot.add(key)
      c.lastHot = now
    }
  }

  /** Reads of a segment within the window ending at `now`. */
  reads(cid: string, segment: number, now: number): number {
    const c = this.#counters.peek(segmentKey(cid, segment))
    if (!c) return 0
    advance(c, Math.floor(now / this.#bucketMs))
    return sum(c.buckets)
  }

  /** Last time the segment was read while hot (undefined: never, or forgotten). */
  lastHot(key: string): number | undefined {
    return this.#counters.peek(key)?.lastHot
  }

  isHot(key: string, now: number): boolean {
    const c = this.#counters.peek(key)
    return c?.lastHot !== undefined && now - c.lastHot <= this.#o.windowMs
  }

  /** Segments that became hot since the last call. */
  takeNewlyHot(): string[] {
    const out = [...this.#newlyHot]
    this.#newlyHot.clear()
    return out
  }

  get tracked(): number {
    return this.#counters.size
  }
}

function advance(c: Counter, head: number): void {
  if (head <= c.head) return
  const steps = Math.min(HOT_BUCKETS, head - c.head)
  for (let i = 1; i <= steps; i++) c.buckets[(c.head + i) % HOT_BUCKETS] = 0
  c.head = head
}

function sum(a: number[]): number {
  let s = 0
  for (const x of a) s += x
  return s
}
