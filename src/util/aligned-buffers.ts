/**
 * Page-aligned, reused buffers for direct I/O.
 *
 * O_DIRECT reads and writes need the memory address, the file offset and the length aligned to
 * the device's block size. Node has no aligned allocator and does not expose a buffer's address,
 * but the backing store of a WebAssembly.Memory is mapped by V8 with the system page allocator,
 * so it starts on a page boundary; slots whose size is a multiple of DIRECT_IO_ALIGN_BYTES inside
 * it stay aligned. A slab is reserved when first needed and its pages are touched only when used.
 *
 * Slots are handed out last-in first-out, so the most recently used (cache-warm, already backed
 * by the hypervisor) memory is reused first. Slabs are never freed: the pool grows to the peak
 * number of slots in use at once, which its users bound (a resource node: its concurrent shard
 * writes × PUMP_STAGING_BUFFERS, plus one tail block per write).
 */
import { DIRECT_IO_ALIGN_BYTES } from '../limits.ts'

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer
}
const WasmMemoryClass = (
  globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => WasmMemory } }
).WebAssembly.Memory

/** WebAssembly memory is sized in 64 KiB pages. */
const WASM_PAGE_BYTES = 64 * 1024

export function alignUp(n: number, alignment = DIRECT_IO_ALIGN_BYTES): number {
  return Math.ceil(n / alignment) * alignment
}

export function isAligned(n: number, alignment = DIRECT_IO_ALIGN_BYTES): boolean {
  return n % alignment === 0
}

/**
 * One page-aligned buffer of `bytes` (rounded up to whole 64 KiB WebAssembly pages underneath),
 * for long-lived buffers that direct I/O reads into (a client's segment buffers). Zero-filled;
 * pages are touched only when used.
 */
export function allocAligned(bytes: number): Buffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES))
  return Buffer.from(new WasmMemoryClass({ initial: pages, maximum: pages }).buffer, 0, bytes)
}

export class AlignedBufferPool {
  readonly #free: Buffer[] = []
  readonly #slabs: WasmMemory[] = []
  readonly #slabBuffers = new Set<ArrayBufferLike>()
  #inUse = 0

  /**
   * @param slotBytes size of every buffer (a multiple of DIRECT_IO_ALIGN_BYTES)
   * @param slotsPerSlab buffers reserved together when the pool runs dry
   */
  constructor(
    readonly slotBytes: number,
    readonly slotsPerSlab = 8,
  ) {
    if (!(slotBytes > 0) || !isAligned(slotBytes))
      throw new RangeError(`slot size ${slotBytes} is not a positive multiple of ${DIRECT_IO_ALIGN_BYTES}`)
  }

  /** A buffer of slotBytes whose start is aligned to DIRECT_IO_ALIGN_BYTES; its contents are whatever the last user left. */
  take(): Buffer {
    let buf = this.#free.pop()
    if (!buf) {
      this.#grow()
      buf = this.#free.pop() as Buffer
    }
    this.#inUse++
    return buf
  }

  /** Returns a buffer from take(); the caller must not touch it (or let I/O use it) afterwards. */
  give(buf: Buffer): void {
    if (buf.length !== this.slotBytes) throw new RangeError('not a buffer of this pool')
    this.#inUse--
    this.#free.push(buf)
  }

  /** Whether `buf` lies in this pool's memory at an aligned start (then direct I/O can use it as it is). */
  owns(buf: Uint8Array): boolean {
    return this.#slabBuffers.has(buf.buffer) && isAligned(buf.byteOffset)
  }

  /** Buffers handed out and not given back. */
  get inUse(): number {
    return this.#inUse
  }

  /** Bytes reserved in slabs. */
  get reservedBytes(): number {
    return this.#slabs.length * this.#slabBytes()
  }

  #slabBytes(): number {
    return alignUp(this.slotBytes * this.slotsPerSlab, WASM_PAGE_BYTES)
  }

  #grow(): void {
    const pages = this.#slabBytes() / WASM_PAGE_BYTES
    const memory = new WasmMemoryClass({ initial: pages, maximum: pages })
    this.#slabs.push(memory)
    this.#slabBuffers.add(memory.buffer)
    // Pushed in reverse so the first take() gets the slab's first slot.
    for (let i = this.slotsPerSlab - 1; i >= 0; i--)
      this.#free.push(Buffer.from(memory.buffer, i * this.slotBytes, this.slotBytes))
  }
}
