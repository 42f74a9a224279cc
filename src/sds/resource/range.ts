/**
 * HTTP Range (RFC 9110 §14) for shard reads: one `bytes=` range per request.
 *
 *   bytes=a-b  bytes a..b inclusive (b clipped to the last byte)
 *   bytes=a-   from a to the end
 *   bytes=-n   the last n bytes
 *
 * As the RFC allows, a header we do not serve as a range (another unit, a malformed spec, or a
 * list of several ranges) is ignored and the whole shard is sent. A single well-formed range
 * that selects no byte is RANGE_NOT_SATISFIABLE (416, with `Content-Range: bytes *\/size`).
 */
import { StratosError } from '../../errors.ts'

export interface ByteRange {
  start: number
  /** Exclusive. */
  end: number
  /** true when answered as 206 Partial Content. */
  partial: boolean
}

const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i

export function parseRange(header: string | undefined, size: number): ByteRange {
  const whole: ByteRange = { start: 0, end: size, partial: false }
  if (header === undefined) return whole
  const m = SINGLE_RANGE.exec(header)
  if (!m) return whole
  const [, first, last] = m
  if (first === '' && last === '') return whole
  if (first === '') {
    // Suffix range: the last n bytes.
    const n = Number(last)
    if (!Number.isSafeInteger(n)) return whole
    if (n === 0) throw unsatisfiable(size)
    return { start: Math.max(0, size - n), end: size, partial: true }
  }
  const start = Number(first)
  const lastByte = last === '' ? Math.max(start, size - 1) : Number(last)
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(lastByte) || lastByte < start) return whole
  if (start >= size) throw unsatisfiable(size)
  return { start, end: Math.min(size, lastByte + 1), partial: true }
}

function unsatisfiable(size: number): StratosError {
  return new StratosError('RANGE_NOT_SATISFIABLE', `range selects no byte of the ${size}-byte shard`, { size })
}
