/**
 * Decoded file records and their JSON, kept for the read path.
 *
 * A read answers the whole FileRecordView (the contract) plus tickets. For a file of many segments, decoding the
 * record and serialising its layout is most of the work (it grows with the segment count; bench/README.md), and
 * that layout only changes when an owner joins or leaves or the file goes. So the layout's JSON is
 * cached, bounded by META_RECORD_CACHE_BYTES (least recently used first out), and only the nodes' current
 * URL/state and the tickets are produced per request.
 *
 * Invalidation: whoever changes a `files` entry calls invalidate(cid) inside its write transaction (so a read
 * queued behind it cannot reuse the old entry) and again once it committed (a read that ran in between cached the
 * previous committed value). A read that fills the cache asynchronously (files.ts on a shared index) keeps what it
 * read only if that record was not invalidated, nor the cache cleared, meanwhile (`stamp`).
 */
import { Lru } from '../../util/lru.ts'
import type { FileRecord } from './store.ts'

/** CIDs whose invalidations the cache counts between two clears (stamp). */
const STAMPED_CIDS = 10_000

/** A response body that is already JSON text; the server sends it as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

export interface CachedRecord {
  record: FileRecord
  /** JSON of the record's view without `nodes` and `owners` (shown to owners only), and without its closing brace. */
  head: string
  /** Distinct nodes the record names, in first-seen order. */
  nodes: string[]
}

export function cacheEntry(r: FileRecord): CachedRecord {
  const view = {
    cid: r.cid,
    kind: r.kind,
    size: r.size,
    public: r.publicBy !== undefined,
    ...(r.name !== undefined ? { name: r.name } : {}),
    createdAt: r.createdAt,
    k: r.k,
    m: r.m,
    segmentSize: r.segmentSize,
    segments: r.segments,
    ...(r.children !== undefined ? { children: r.children } : {}),
  }
  const nodes = new Set<string>()
  for (const seg of r.segments) for (const s of seg.shards) nodes.add(s.node)
  return { record: r, head: JSON.stringify(view).slice(0, -1), nodes: [...nodes] }
}

/**
 * The read path's record cache: the one bounded LRU (util/lru.ts) bounded by bytes, refreshed on read; an entry
 * larger than the whole cache is not kept (and drops the key's previous entry). `invalidate` is `delete` under the
 * name the write paths use.
 */
export class RecordCache extends Lru<string, CachedRecord> {
  constructor(maxBytes: number) {
    super({ maxBytes, maxEntryBytes: maxBytes, cost })
  }

  #clears = 0
  /** Invalidations per CID since the last clear (forgotten all at once, as a clear, past STAMPED_CIDS). */
  readonly #invalidated = new Map<string, number>()

  /** Changes when `cid` is invalidated or the cache cleared: what an asynchronous fill compares before keeping. */
  stamp(cid: string): string {
    return `${this.#clears}:${this.#invalidated.get(cid) ?? 0}`
  }

  invalidate(cid: string): void {
    if (this.#invalidated.size >= STAMPED_CIDS) {
      this.#invalidated.clear()
      this.#clears++
    }
    this.#invalidated.set(cid, (this.#invalidated.get(cid) ?? 0) + 1)
    this.delete(cid)
  }

  override clear(): void {
    this.#clears++
    this.#invalidated.clear()
    super.clear()
  }
}

/** Rough memory of an entry: the JSON string (2 bytes a character) and the decoded record (about as much again). */
function cost(e: CachedRecord): number {
  return e.head.length * 4
}
