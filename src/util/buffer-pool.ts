import { allocAligned, isAligned } from './aligned-buffers.ts'

/**
 * Buffers given back once their bytes are used and taken again by a later user: a client's
 * `reuseBuffers` reads, a resource node's shard reads. Never blocks (a miss allocates); keeps at most
 * `maxFree` idle buffers of at most `maxBytes` each. Why: every fresh multi-MiB buffer is external
 * memory to V8, which runs a full garbage collection per ~64 MB of it, and fresh pages cost a page
 * fault per 4 KiB; a 200 MiB read in fresh buffers spent more client CPU in GC than in verifying the
 * bytes (reuse halved it: bench/README.md, "Measurements cited by the code").
 *
 * A request is served by the smallest idle buffer that holds it (a view of its first `bytes`), not
 * only by one of exactly that size: the last segment of every file has its own shard size, and with
 * exact matching each read of a file allocated its tail pieces afresh and pushed full-size buffers
 * out of the pool (an external-memory full GC and tens of MB of fresh buffers per large read; see
 * bench/README.md). When the pool is full the smallest idle buffer goes first.
 *
 * Contract: give back exactly what take returned, once, and only when nothing reads or writes it.
 * With `idleMs`, every idle buffer is dropped once the pool has been left alone that long (a
 * long-lived client does not hold its last transfer's buffers forever); the timer never keeps the
 * process alive. With `aligned`, fresh buffers are page-aligned (allocAligned), so a buffer taken from the pool can
 * go to direct I/O as it is (`directIoReady`).
 */
export class RecyclingBufferPool {
  /** Idle buffers, each a whole allocation (byteOffset 0, spanning its ArrayBuffer). */
  readonly #free: Buffer[] = []
  /** The allocations this pool made, so a view handed out can be traced back to its whole buffer. */
  readonly #ours = new WeakSet<ArrayBufferLike>()

  #idleTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly maxFree: number,
    readonly maxBytes: number,
    readonly idleMs?: number,
    readonly aligned = false,
  ) {}

  /** Idle buffers held (tests, diagnostics). */
  get idle(): number {
    return this.#free.length
  }

  take(bytes: number): Buffer {
    this.#idleTimer?.refresh()
    let best = -1
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i].length
      if (len >= bytes && (best < 0 || len < this.#free[best].length)) best = i
    }
    if (best >= 0) {
      const whole = this.#free.splice(best, 1)[0]
      return whole.length === bytes ? whole : whole.subarray(0, bytes)
    }
    const fresh = this.aligned
      ? (tryAllocAligned(bytes) ?? Buffer.allocUnsafeSlow(bytes))
      : Buffer.allocUnsafeSlow(bytes)
    if (bytes <= this.maxBytes) this.#ours.add(fresh.buffer)
    return fresh
  }

  /** Whether `buf` (from take) starts on a DIRECT_IO_ALIGN_BYTES boundary in memory: an aligned pool's own buffer. */
  directIoReady(buf: Uint8Array): boolean {
    return this.aligned && this.#ours.has(buf.buffer) && isAligned(buf.byteOffset)
  }

  give(buf: Buffer): void {
    if (buf.byteOffset !== 0 || !this.#ours.has(buf.buffer)) return
    const whole = buf.length === buf.buffer.byteLength ? buf : Buffer.from(buf.buffer)
    if (this.#free.some((f) => f.buffer === whole.buffer)) return // given twice: keep it once
    if (this.#free.length >= this.maxFree) {
      let smallest = 0
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i].length < this.#free[smallest].length) smallest = i
      if (this.#free[smallest].length >= whole.length) return
      this.#free.splice(smallest, 1)
    }
    this.#free.push(whole)
    this.#armIdleRelease()
  }

  /** Drops every idle buffer (their memory goes back to the system once collected). */
  clear(): void {
    this.#free.length = 0
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
  }

  #armIdleRelease(): void {
    if (this.idleMs === undefined) return
    if (this.#idleTimer) this.#idleTimer.refresh()
    else {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined
        this.#free.length = 0
      }, this.idleMs)
      this.#idleTimer.unref()
    }
  }
}

/**
 * allocAligned, or undefined should V8 refuse another WebAssembly memory (a RangeError: they reserve address space
 * beyond their size; 5,000 at once were accepted here, so this is a safeguard, not an expected path). The caller then
 * takes an ordinary buffer, which directIoReady reports as not aligned (its bytes go through the page cache).
 */
function tryAllocAligned(bytes: number): Buffer | undefined {
  try {
    return allocAligned(bytes)
  } catch (e) {
    if (e instanceof RangeError) return undefined
    throw e
  }
}
