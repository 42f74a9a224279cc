/**
 * Shard naming and segment geometry.
 *
 * A shard id is a two-level hash of its bytes: BLAKE3 over a domain tag, the shard size and
 * the BLAKE3 of each 256 KiB chunk. It names the same bytes a plain hash would, but lets a
 * node and a client verify any byte range by checking only the chunks it touches against the
 * chunk-hash list (which itself hashes to the id). Full-shard and range reads both verify.
 * (BLAKE3 rather than sha256 because every shard byte is hashed on both ends of every transfer
 * and BLAKE3 is twice as fast here; see crypto/blake3.ts. v1 ids were sha256.)
 */
import { blake3, createBlake3, type Blake3Hasher } from '../../crypto/blake3.ts'
import { SHARD_CHUNK_BYTES, SHARD_ALIGN_BYTES } from '../../limits.ts'

export const SHARD_ID_PATTERN = /^[0-9a-f]{64}$/
const SHARD_DOMAIN = Buffer.from('stratos-shard-v2\n')

export function isShardId(s: string): boolean {
  return SHARD_ID_PATTERN.test(s)
}

export function chunkCount(shardSize: number): number {
  return Math.max(1, Math.ceil(shardSize / SHARD_CHUNK_BYTES))
}

/** BLAKE3 of each SHARD_CHUNK_BYTES chunk, concatenated (32 bytes per chunk). */
export function shardChunkHashes(data: Uint8Array): Uint8Array {
  const n = chunkCount(data.length)
  const out = new Uint8Array(n * 32)
  for (let i = 0; i < n; i++) {
    const chunk = data.subarray(i * SHARD_CHUNK_BYTES, Math.min(data.length, (i + 1) * SHARD_CHUNK_BYTES))
    out.set(blake3(chunk), i * 32)
  }
  return out
}

export function shardIdFromChunkHashes(shardSize: number, chunkHashes: Uint8Array): string {
  const size = Buffer.alloc(8)
  size.writeBigUInt64BE(BigInt(shardSize))
  const h = createBlake3()
  h.update(SHARD_DOMAIN)
  h.update(size)
  h.update(chunkHashes)
  return h.digest().toString('hex')
}

export function computeShardId(data: Uint8Array): { id: string; chunkHashes: Uint8Array } {
  const chunkHashes = shardChunkHashes(data)
  return { id: shardIdFromChunkHashes(data.length, chunkHashes), chunkHashes }
}

/** Incremental shard hasher for streams (resource node write path): feed bytes in any pieces. */
export class ShardHasher {
  #chunkHashes: Buffer[] = []
  #current: Blake3Hasher = createBlake3()
  #inChunk = 0
  #size = 0

  update(data: Uint8Array): void {
    let off = 0
    while (off < data.length) {
      const take = Math.min(SHARD_CHUNK_BYTES - this.#inChunk, data.length - off)
      // A whole chunk in one piece is hashed in one call (the common case for aligned writes).
      if (take === SHARD_CHUNK_BYTES) {
        this.#chunkHashes.push(blake3(data.subarray(off, off + take)))
        off += take
        continue
      }
      this.#current.update(data.subarray(off, off + take))
      this.#inChunk += take
      off += take
      if (this.#inChunk === SHARD_CHUNK_BYTES) {
        this.#chunkHashes.push(this.#current.digest())
        this.#current = createBlake3()
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
  const got = blake3(chunk)
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
