/**
 * Reed-Solomon erasure coding of segments (@ronomon/reed-solomon: native, systematic Cauchy
 * bit-matrix code, runs in libuv's threadpool so the event loop keeps moving bytes).
 *
 * Layout: one contiguous segment buffer holds k data shards then m parity shards, each `shardSize`
 * bytes (a multiple of SHARD_ALIGN_BYTES). Data shards are the file's bytes, so a healthy read
 * needs no decoding.
 *
 * Column ranges. The library's code is a *bit-matrix* code: it cuts every shard into stripes of
 * `stripeBytes(shardSize)` bytes (w packets of `chunkSize` bytes, chunkSize chosen from the shard
 * size to fit the CPU cache) and mixes bytes only within the same stripe of every shard. So bytes
 * [a, b) of a lost shard can be rebuilt from bytes [A, B) of any k other shards, where [A, B) is
 * [a, b) widened to stripe boundaries — not from [a, b) alone, and only with the stripe geometry of
 * the full shard size (which `reconstructColumns` reproduces). `alignColumns` gives [A, B).
 */
import { createRequire } from 'node:module'
import { StratosError } from '../../errors.ts'
import { MAX_DATA_SHARDS, MAX_PARITY_SHARDS, SHARD_ALIGN_BYTES } from '../../limits.ts'

interface RonomonReedSolomon {
  create(k: number, m: number): Buffer
  encode(
    context: Buffer,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    end: (error: Error | undefined) => void,
  ): void
}

const require = createRequire(import.meta.url)
const RS = require('@ronomon/reed-solomon') as RonomonReedSolomon

/** The library sizes its inner packets to keep (1 + k·w) packets within this many bytes of cache. */
const RS_CACHE_BYTES = 1_048_576

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

function bit(i: number): number {
  return 2 ** i
}

/** Bit mask of shard indexes (the library's `sources` / `targets` form). */
export function shardMask(indexes: Iterable<number>): number {
  let mask = 0
  for (const i of indexes) mask |= bit(i)
  return mask
}

const codes = new Map<string, ErasureCode>()

export class ErasureCode {
  readonly k: number
  readonly m: number
  /** Bits per symbol the library chose for (k, m): 2, 4 or 8. */
  readonly w: number
  readonly #context: Buffer | null

  /** Throws BAD_REQUEST unless the library can code k data + m parity shards. */
  static check(k: number, m: number): void {
    if (!Number.isInteger(k) || k < 1 || k > MAX_DATA_SHARDS)
      throw new StratosError('BAD_REQUEST', `k must be 1…${MAX_DATA_SHARDS}, got ${k}`)
    if (!Number.isInteger(m) || m < 0 || m > MAX_PARITY_SHARDS)
      throw new StratosError('BAD_REQUEST', `m must be 0…${MAX_PARITY_SHARDS}, got ${m}`)
  }

  private constructor(k: number, m: number) {
    ErasureCode.check(k, m)
    this.k = k
    this.m = m
    this.#context = m > 0 ? RS.create(k, m) : null
    this.w = this.#context ? this.#context[0] : 8
  }

  /** One cached coder per (k, m); contexts are immutable and safe to share between concurrent calls. */
  static for(k: number, m: number): ErasureCode {
    const key = `${k}/${m}`
    let c = codes.get(key)
    if (!c) {
      c = new ErasureCode(k, m)
      codes.set(key, c)
    }
    return c
  }

  /** Packet size the library uses for shards of `shardSize` bytes (mirrors binding.c dot_chunk_size). */
  packetBytes(shardSize: number): number {
    let c = shardSize / this.w
    while (c > 64 && c % 2 === 0 && (1 + this.k * this.w) * c > RS_CACHE_BYTES) c /= 2
    return c
  }

  /** Bytes per stripe: coding mixes bytes only within the same stripe of every shard. */
  stripeBytes(shardSize: number): number {
    return this.m === 0 ? shardSize : this.w * this.packetBytes(shardSize)
  }

  /**
   * The unit column ranges are aligned to: the smallest stripe·2^j that the native coder accepts as a
   * shard size (a multiple of SHARD_ALIGN_BYTES) and that codes with the same packet size as the whole
   * shard, so coding a unit alone gives the same bytes as those columns of the full shard. When no
   * such unit exists (odd geometries), the whole shard is the unit.
   */
  columnUnitBytes(shardSize: number): number {
    const packet = this.packetBytes(shardSize)
    for (let u = this.stripeBytes(shardSize); u < shardSize && shardSize % u === 0; u *= 2) {
      if (u % SHARD_ALIGN_BYTES === 0 && this.packetBytes(u) === packet) return u
    }
    return shardSize
  }

  /** Widens the column range [from, to) of a shard to whole column units (see columnUnitBytes). */
  alignColumns(shardSize: number, from: number, to: number): { start: number; end: number } {
    const s = this.columnUnitBytes(shardSize)
    return { start: Math.floor(from / s) * s, end: Math.min(shardSize, Math.ceil(to / s) * s) }
  }

  #checkShardSize(shardSize: number): void {
    if (!Number.isInteger(shardSize) || shardSize <= 0 || shardSize % SHARD_ALIGN_BYTES !== 0) {
      throw new StratosError(
        'BAD_REQUEST',
        `shard size must be a positive multiple of ${SHARD_ALIGN_BYTES}, got ${shardSize}`,
      )
    }
  }

  #run(sources: number, targets: number, buf: Uint8Array, shardSize: number): Promise<void> {
    const b = asBuffer(buf)
    const dataBytes = this.k * shardSize
    return new Promise((resolve, reject) => {
      try {
        RS.encode(this.#context!, sources, targets, b, 0, dataBytes, b, dataBytes, this.m * shardSize, (e) =>
          e ? reject(e) : resolve(),
        )
      } catch (e) {
        reject(e)
      }
    })
  }

  /** Computes the m parity shards of a segment buffer (k data shards then room for m parity shards). */
  async encode(segment: Uint8Array, shardSize: number): Promise<void> {
    this.#checkShardSize(shardSize)
    if (segment.length < (this.k + this.m) * shardSize)
      throw new StratosError('INTERNAL', 'segment buffer too small for its shards')
    if (this.m === 0) return
    const data = shardMask(range(0, this.k))
    const parity = shardMask(range(this.k, this.k + this.m))
    await this.#run(data, parity, segment, shardSize)
  }

  #checkMasks(present: readonly number[], targets: readonly number[]): { sources: number; targetMask: number } {
    if (targets.length === 0) return { sources: 0, targetMask: 0 }
    const sources = present.filter((i) => !targets.includes(i)).slice(0, this.k)
    if (sources.length < this.k || this.m === 0) {
      throw new StratosError('DATA_UNAVAILABLE', `need ${this.k} shards to rebuild, have ${sources.length}`, {
        have: sources.length,
        need: this.k,
      })
    }
    if (targets.length > this.m)
      throw new StratosError('DATA_UNAVAILABLE', `cannot rebuild ${targets.length} shards with ${this.m} parity shards`)
    for (const i of [...present, ...targets]) {
      if (!Number.isInteger(i) || i < 0 || i >= this.k + this.m)
        throw new StratosError('INTERNAL', `shard index ${i} out of range`)
    }
    return { sources: shardMask(sources), targetMask: shardMask(targets) }
  }

  /**
   * Rebuilds `targets` in a full segment buffer from k of the `present` shards. Every shard that is
   * neither a chosen source nor a target may be overwritten too (with its correct bytes).
   */
  async reconstruct(
    segment: Uint8Array,
    shardSize: number,
    present: readonly number[],
    targets: readonly number[],
  ): Promise<void> {
    this.#checkShardSize(shardSize)
    const { sources, targetMask } = this.#checkMasks(present, targets)
    if (targetMask === 0) return
    if (segment.length < (this.k + this.m) * shardSize)
      throw new StratosError('INTERNAL', 'segment buffer too small for its shards')
    await this.#run(sources, targetMask, segment, shardSize)
  }

  /**
   * Rebuilds columns [start, start+span) of `targets`. `buf` holds k+m regions of `span` bytes: region i
   * is bytes [start, start+span) of shard i (present ones filled in). [start, start+span) must be whole
   * stripes of a shard of `shardSize` bytes (see `alignColumns`).
   */
  async reconstructColumns(
    buf: Uint8Array,
    span: number,
    shardSize: number,
    start: number,
    present: readonly number[],
    targets: readonly number[],
  ): Promise<void> {
    this.#checkShardSize(shardSize)
    const { sources, targetMask } = this.#checkMasks(present, targets)
    if (targetMask === 0) return
    const unit = this.columnUnitBytes(shardSize)
    if (start % unit !== 0 || span <= 0 || span % unit !== 0 || start + span > shardSize) {
      throw new StratosError('INTERNAL', `column range ${start}+${span} is not whole units of ${unit} bytes`)
    }
    if (buf.length < (this.k + this.m) * span) throw new StratosError('INTERNAL', 'column buffer too small')
    const n = this.k + this.m
    if (span % SHARD_ALIGN_BYTES === 0 && this.packetBytes(span) === this.packetBytes(shardSize)) {
      // Same packet geometry: one call over the whole column range.
      await this.#run(sources, targetMask, buf, span)
      return
    }
    // Otherwise code unit by unit (a unit codes with the full shard's packet size by construction).
    const scratch = new Uint8Array(n * unit)
    for (let off = 0; off < span; off += unit) {
      for (let i = 0; i < n; i++)
        if (sources & bit(i)) scratch.set(buf.subarray(i * span + off, i * span + off + unit), i * unit)
      await this.#run(sources, targetMask, scratch, unit)
      for (let i = 0; i < n; i++)
        if (targetMask & bit(i)) buf.set(scratch.subarray(i * unit, (i + 1) * unit), i * span + off)
    }
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
