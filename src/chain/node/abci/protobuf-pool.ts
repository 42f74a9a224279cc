/**
 * A shared allocation pool for cosmjs-types' protobuf writer (imported for this effect by server.ts, and by
 * bench/abci-app.ts, which encodes as the server does).
 *
 * cosmjs-types' `BinaryWriter.alloc` calls `pool(...)(size)`: it builds a new pool on every call, so every encoded
 * message of up to 4 KiB allocated and zero-filled a fresh 8 KiB slab (one per CheckTx answer: ~3 µs per encode
 * against 0.7 µs with one pool, measured in process; bench/README.md, issue 14). This is the pool it meant to keep:
 * messages up to half a slab are cut out of the current 8 KiB slab (8-byte aligned), larger ones get their own
 * array. The bytes are the same; a slab lives as long as any message cut from it.
 */
import { BinaryWriter } from 'cosmjs-types/binary'

const SLAB_BYTES = 8192
const MAX_POOLED_BYTES = SLAB_BYTES >>> 1

let slab = new Uint8Array(SLAB_BYTES)
let offset = 0

BinaryWriter.alloc = (size: number): Uint8Array => {
  if (size < 1 || size > MAX_POOLED_BYTES) return new Uint8Array(size)
  if (offset + size > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES)
    offset = 0
  }
  const out = slab.subarray(offset, offset + size)
  offset = (offset + size + 7) & ~7
  return out
}
