/**
 * On-disk format of one stored shard: a single file, so one atomic rename publishes the data
 * and the hashes that verify it together.
 *
 * Format 2 (written now): the data first, so it starts on an aligned offset and is written with
 * direct I/O straight from the staging buffers (shard-writer.ts); the hashes in a trailer, written
 * last, once every chunk has been verified.
 *
 *   offset 0          the shard's bytes
 *   offset size       "STSHARD2"             magic (8 bytes)
 *   offset size + 8   u64 big-endian         shard size in bytes
 *   offset size + 16  u32 big-endian         chunk count n = chunkCount(size)
 *   offset size + 20  n × 32 bytes           BLAKE3 of each SHARD_CHUNK_BYTES chunk (hashes to the shard id)
 *
 * Format 1 (read only): the same header ("STSHARD1", size, n, hashes) before the data. Both have
 * the same length for a given shard size, a strictly increasing function of it, so the index is
 * rebuilt at start from `stat` alone (`shardSizeFromFileBytes`) without reading a byte; which
 * format a file has is decided when it is opened, by the hash list that matches the shard id.
 */
import { SHARD_CHUNK_BYTES } from '../../limits.ts'
import { chunkCount } from '../protocol/shard.ts'

export const SHARD_FILE_MAGIC = Buffer.from('STSHARD2', 'latin1')
export const SHARD_FILE_V1_MAGIC = Buffer.from('STSHARD1', 'latin1')
export const SHARD_FILE_FIXED_META_BYTES = 8 + 8 + 4
export const CHUNK_HASH_BYTES = 32
/** Where a (format 2) shard's bytes start in its file. */
export const SHARD_DATA_OFFSET = 0

/** Bytes of the hash trailer (format 2) or header (format 1): fixed part plus the chunk-hash list. */
export function shardMetaBytes(size: number): number {
  return SHARD_FILE_FIXED_META_BYTES + chunkCount(size) * CHUNK_HASH_BYTES
}

/** Total file length of a stored shard of `size` bytes (what it costs on disk, ignoring block rounding). */
export function shardFileBytes(size: number): number {
  return shardMetaBytes(size) + size
}

/** Inverse of shardFileBytes; undefined when no shard size gives this file length (truncated or foreign file). */
export function shardSizeFromFileBytes(fileBytes: number): number | undefined {
  const g = fileBytes - SHARD_FILE_FIXED_META_BYTES
  if (!Number.isSafeInteger(g) || g <= CHUNK_HASH_BYTES) return undefined
  // size + 32·chunkCount(size) = g; chunkCount is within one of g / (chunk + 32).
  const estimate = Math.ceil(g / (SHARD_CHUNK_BYTES + CHUNK_HASH_BYTES))
  for (let n = Math.max(1, estimate - 1); n <= estimate + 1; n++) {
    const size = g - n * CHUNK_HASH_BYTES
    if (size >= 1 && chunkCount(size) === n) return size
  }
  return undefined
}

/** The trailer (magic, size, count, chunk-hash list) written after the data once it is complete. */
export function encodeShardTrailer(size: number, chunkHashes: Uint8Array): Buffer {
  const n = chunkCount(size)
  if (chunkHashes.length !== n * CHUNK_HASH_BYTES)
    throw new RangeError(`a ${size}-byte shard has ${n} chunk hashes, got ${chunkHashes.length / CHUNK_HASH_BYTES}`)
  const out = Buffer.allocUnsafe(SHARD_FILE_FIXED_META_BYTES + chunkHashes.length)
  SHARD_FILE_MAGIC.copy(out, 0)
  out.writeBigUInt64BE(BigInt(size), 8)
  out.writeUInt32BE(n, 16)
  out.set(chunkHashes, SHARD_FILE_FIXED_META_BYTES)
  return out
}

/** Where a format's hash block and data sit in the file. */
export interface ShardFileLayout {
  format: 1 | 2
  /** Offset of the magic, size, count and chunk-hash list. */
  metaOffset: number
  /** Offset of the shard's first byte. */
  dataOffset: number
  magic: Buffer
}

/** The layouts a shard file of `size` bytes may have, the current one first. */
export function shardFileLayouts(size: number): ShardFileLayout[] {
  return [
    { format: 2, metaOffset: size, dataOffset: SHARD_DATA_OFFSET, magic: SHARD_FILE_MAGIC },
    { format: 1, metaOffset: 0, dataOffset: shardMetaBytes(size), magic: SHARD_FILE_V1_MAGIC },
  ]
}

/**
 * Parses a hash block read from disk for a shard expected to be `size` bytes; returns the
 * chunk-hash list (a copy) or a reason why the block is unusable. The caller still checks the
 * list against the shard id.
 */
export function decodeShardMeta(
  meta: Uint8Array,
  size: number,
  magic: Buffer = SHARD_FILE_MAGIC,
): { chunkHashes: Uint8Array } | { problem: string } {
  const n = chunkCount(size)
  if (meta.length < SHARD_FILE_FIXED_META_BYTES + n * CHUNK_HASH_BYTES) return { problem: 'hash block truncated' }
  const buf = Buffer.from(meta.buffer, meta.byteOffset, meta.byteLength)
  if (!buf.subarray(0, 8).equals(magic)) return { problem: 'bad magic' }
  if (buf.readBigUInt64BE(8) !== BigInt(size)) return { problem: 'size field differs from file length' }
  if (buf.readUInt32BE(16) !== n) return { problem: 'chunk count field is wrong' }
  return {
    chunkHashes: new Uint8Array(
      buf.subarray(SHARD_FILE_FIXED_META_BYTES, SHARD_FILE_FIXED_META_BYTES + n * CHUNK_HASH_BYTES),
    ),
  }
}
