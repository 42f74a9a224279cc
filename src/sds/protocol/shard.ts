/**
 * Shard naming and segment geometry.
 *
 * A shard id is a two-level hash of its bytes: sha256 over a domain tag, the shard size and
 * the sha256 of each 256 KiB chunk. It names the same bytes a plain hash would, but lets a
 * node and a client verify any byte range by checking only the chunks it touches against the
 * chunk-hash list (which itself hashes to the id). Full-shard and range reads both verify.
 */
import { createHash } from 'node:crypto'
import { SHARD_CHUNK_BYTES, SHARD_ALIGN_BYTES } from '../../limits.ts'

export const SHARD_ID_PATTERN = /^[0-9a-f]{64}$/
const SHARD_DOMAIN = Buffer.from('stratos-shard-v1\n')

export function isShardId(s: string): boolean {
  return SHARD_ID_PATTERN.test(s)
}

export function chunkCount(shardSize: number): number {
  return Math.max(1, Math.ceil(shardSize / SHARD_CHUNK_BYTES))
}

/** sha256 of each SHARD_CHUNK_BYTES chunk, concatenated (32 bytes per chunk). */
export function shardChunkHashes(data: Uint8Array): Uint8Array {
  const n = chunkCount(data.length)
  const out = new Uint8Array(n * 32)
  for (let i = 0; i < n; i++) {
    const chunk = data.subarray(i * SHARD_CHUNK_BYTES, Math.min(data.length, (i + 1) * SHARD_CHUNK_BYTES))
    out.set(createHash('sha256').update(chunk).digest(), i * 32)
  }
  return out
}

export function shardIdFromChunkHashes(shardSize: number, chunkHashes: Uint8Array): string {
  const size = Buffer.alloc(8)
  size.writeBigUInt64BE(BigInt(shardSize))
  return createHash('sha256').update(SHARD_DOMAIN).update(size).update(chunkHashes).digest('hex')
}

export function computeShardId(data: Uint8Array): { id: string; chunkHashes: Uint8Array } {
  const chunkHashes = shardChunkHashes(data)
  return { id: shardIdFromChunkHashes(data.length, chunkHashes), chunkHashes }
}

/** Incremental shard hasher for streams (resource node write path): feed bytes in any pieces. */
export class ShardHasher {
  #chunkHashes: Buffer[] = []
  #current = createHash('sha256')
  #inChunk = 0
  #size = 0

  update(data: Uint8Array): void {
    let off = 0
    while (off < data.length) {
      const take = Math.min(SHARD_CHUNK_BYTES - this.#inChunk, data.length - off)
      this.#current.update(data.subarray(off, off + take))
      this.#inChunk += take
      off += take
      if (this.#inChunk === SHARD_CHUNK_BYTES) {
        this.#chunkHashes.push(this.#current.digest())
        this.#current = createHash('sha256')
        this.#inChunk = 0
      }
    }
    this.#size += data.length
  }

  get size(): number {
    return this.#size
  }

  digest(): { id: string; chunkHashes: Uint8Array; size: number } {
    if (this.#inChunk > 0 || this.#chunkHashes.length === 0) this.#chunkHashes.push(this.#current.digest())
    const chunkHashes = new Uint8Array(Buffer.concat(this.#chunkHashes))
    return { id: shardIdFromChunkHashes(this.#size, chunkHashes), chunkHashes, size: this.#size }
  }
}

/** Verifies that a chunk-hash list belongs to a shard id. */
export function chunkHashesMatch(shardId: string, shardSize: number, chunkHashes: Uint8Array): boolean {
  return chunkHashes.length === chunkCount(shardSize) * 32 && shardIdFromChunkHashes(shardSize, chunkHashes) === shardId
}

/** Verifies chunk `index` of a shard against its chunk-hash list. */
export function chunkMatches(chunkHashes: Uint8Array, index: number, chunk: Uint8Array): boolean {
  const expected = chunkHashes.subarray(index * 32, index * 32 + 32)
  const got = createHash('sha256').update(chunk).digest()
  return expected.length === 32 && Buffer.compare(got, expected) === 0
}

/**
 * Segment geometry: a segment of `segmentSize` bytes is split into k data shards of
 * `shardSize` bytes (the segment's bytes in order, the last one zero-padded) and m parity
 * shards of the same size. Data shard j holds segment bytes [j·shardSize, (j+1)·shardSize).
 */
export function shardSizeFor(segmentSize: number, k: number): number {
  const raw = Math.ceil(Math.max(1, segmentSize) / k)
  return Math.ceil(raw / SHARD_ALIGN_BYTES) * SHARD_ALIGN_BYTES
}
