/**
 * On-disk format of one stored shard: a single file, so one atomic rename publishes the data
 * and the hashes that verify it together.
 *
 *   offset 0   "STSHARD1"                 magic (8 bytes)
 *   offset 8   u64 big-endian             shard size in bytes
 *   offset 16  u32 big-endian             chunk count n = chunkCount(size)
 *   offset 20  n × 32 bytes               BLAKE3 of each SHARD_CHUNK_BYTES chunk (hashes to the shard id)
 *   offset 20 + 32n                       the shard's bytes
 *
 * The file length is a strictly increasing function of the shard size, so the index can be
 * rebuilt at start from `stat` alone (`shardSizeFromFileBytes`), without reading any header.
 */
import { SHARD_CHUNK_BYTES } from '../../limits.ts'
import { chunkCount } from '../protocol/shard.ts'

export const SHARD_FILE_MAGIC = Buffer.from('STSHARD1', 'latin1')
export const SHARD_FILE_FIXED_HEADER_BYTES = 8 + 8 + 4
export const CHUNK_HASH_BYTES = 32

/** Bytes before the shard data: fixed header plus the chunk-hash list. */
export function shardHeaderBytes(size: number): number {
  return SHARD_FILE_FIXED_HEADER_BYTES + chunkCount(size) * CHUNK_HASH_BYTES
}

/** Total file length of a stored shard of `size` bytes (what it costs on disk, ignoring block rounding). */
export function shardFileBytes(size: number): number {
  return shardHeaderBytes(size) + size
}

/** Inverse of shardFileBytes; undefined when no shard size gives this file length (truncated or foreign file). */
export function shardSizeFromFileBytes(fileBytes: number): number | undefined {
  const g = fileBytes - SHARD_FILE_FIXED_HEADER_BYTES
  if (!Number.isSafeInteger(g) || g <= CHUNK_HASH_BYTES) return undefined
  // size + 32·chunkCount(size) = g; chunkCount is within one of g / (chunk + 32).
  const estimate = Math.ceil(g / (SHARD_CHUNK_BYTES + CHUNK_HASH_BYTES))
  for (let n = Math.max(1, estimate - 1); n <= estimate + 1; n++) {
    const size = g - n * CHUNK_HASH_BYTES
    if (size >= 1 && chunkCount(size) === n) return size
  }
  return undefined
}

/** The header (fixed part + chunk-hash list) to write at offset 0 once the data is complete. */
export function encodeShardHeader(size: number, chunkHashes: Uint8Array): Buffer {
  const n = chunkCount(size)
  if (chunkHashes.length !== n * CHUNK_HASH_BYTES) throw new RangeError(`a ${size}-byte shard has ${n} chunk hashes, got ${chunkHashes.length / CHUNK_HASH_BYTES}`)
  const out = Buffer.allocUnsafe(SHARD_FILE_FIXED_HEADER_BYTES + chunkHashes.length)
  SHARD_FILE_MAGIC.copy(out, 0)
  out.writeBigUInt64BE(BigInt(size), 8)
  out.writeUInt32BE(n, 16)
  out.set(chunkHashes, SHARD_FILE_FIXED_HEADER_BYTES)
  return out
}

/**
 * Parses a header read from disk for a shard expected to be `size` bytes; returns the chunk-hash
 * list (a copy) or a reason why the header is unusable.
 */
export function decodeShardHeader(header: Uint8Array, size: number): { chunkHashes: Uint8Array } | { problem: string } {
  const n = chunkCount(size)
  if (header.length < SHARD_FILE_FIXED_HEADER_BYTES + n * CHUNK_HASH_BYTES) return { problem: 'header truncated' }
  const buf = Buffer.from(header.buffer, header.byteOffset, header.byteLength)
  if (!buf.subarray(0, 8).equals(SHARD_FILE_MAGIC)) return { problem: 'bad magic' }
  if (buf.readBigUInt64BE(8) !== BigInt(size)) return { problem: 'size field differs from file length' }
  if (buf.readUInt32BE(16) !== n) return { problem: 'chunk count field is wrong' }
  return { chunkHashes: new Uint8Array(buf.subarray(SHARD_FILE_FIXED_HEADER_BYTES, SHARD_FILE_FIXED_HEADER_BYTES + n * CHUNK_HASH_BYTES)) }
}
