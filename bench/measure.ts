/**
 * Read measurements shared by both sides, so Stratos and Helia are timed by the same code:
 * a side is just a `cat(cid, { offset, length })` that streams bytes.
 *
 * Timed loops only count bytes (a hash would cap throughput at the hash speed); correctness is
 * checked outside the timed region: one full verified read per side, and every range read is
 * compared with the file on disk after its timing has been taken.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'

/**
 * A side's read. `consumeEachChunk`: the caller is done with every chunk before it asks for the next
 * (a side may then recycle its buffers, as Stratos' `reuseBuffers` does; Helia has no such mode).
 */
export type CatFn = (
  cid: string,
  options?: { offset?: number; length?: number; consumeEachChunk?: boolean },
) => AsyncIterable<Uint8Array>

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** Streams the whole file and checks its sha256 against `expectedSha256` (not timed). */
export async function verifyFullRead(
  cat: CatFn,
  cid: string,
  expectedSha256: string,
  expectedSize: number,
): Promise<void> {
  const h = createHash('sha256')
  let n = 0
  for await (const chunk of cat(cid, { consumeEachChunk: true })) {
    h.update(chunk)
    n += chunk.length
  }
  if (n !== expectedSize) throw new Error(`full read of ${cid} gave ${n} bytes, expected ${expectedSize}`)
  const got = h.digest('hex')
  if (got !== expectedSha256) throw new Error(`full read of ${cid} has sha256 ${got}, expected ${expectedSha256}`)
}

/** Time to stream every byte of `cid` into a counting sink. */
export async function timeFullRead(cat: CatFn, cid: string, expectedSize: number): Promise<number> {
  const t0 = performance.now()
  let n = 0
  for await (const chunk of cat(cid, { consumeEachChunk: true })) n += chunk.length
  const ms = performance.now() - t0
  if (n !== expectedSize) throw new Error(`read of ${cid} gave ${n} bytes, expected ${expectedSize}`)
  return ms
}

export interface RangeTiming {
  offset: number
  /** From calling cat() to the first chunk of bytes in hand. */
  firstByteMs: number
  /** From calling cat() to the last byte of the range. */
  totalMs: number
}

/** One range read through a fresh cat() call; its bytes are compared with the file afterwards. */
export async function timeRangeRead(
  cat: CatFn,
  cid: string,
  offset: number,
  length: number,
  filePath: string,
): Promise<RangeTiming> {
  const chunks: Uint8Array[] = []
  const t0 = performance.now()
  let firstByteMs = -1
  for await (const chunk of cat(cid, { offset, length })) {
    if (firstByteMs < 0 && chunk.length > 0) firstByteMs = performance.now() - t0
    chunks.push(chunk)
  }
  const totalMs = performance.now() - t0
  const got = Buffer.concat(chunks)
  const want = Buffer.alloc(length)
  const fh = await open(filePath, 'r')
  try {
    await fh.read(want, 0, length, offset)
  } finally {
    await fh.close()
  }
  if (!got.equals(want))
    throw new Error(`range read of ${cid} at ${offset}+${length} returned wrong bytes (${got.length} bytes)`)
  return { offset, firstByteMs, totalMs }
}

/** Offsets of `count` reads of `length` bytes, uniformly inside the middle third of a `size`-byte file. */
export function middleThirdOffsets(
  size: number,
  length: number,
  count: number,
  nextInt: (n: number) => number,
): number[] {
  const lo = Math.floor(size / 3)
  const hi = Math.max(lo, Math.floor((2 * size) / 3) - length)
  return Array.from({ length: count }, () => lo + nextInt(hi - lo + 1))
}
