/**
 * Single-range `Range: bytes=…` parsing (RFC 9110 §14). Headers that are not a byte range, and multi-range headers,
 * are ignored (the whole representation is served, which the RFC allows). A range that starts past the end, an
 * inverted range (last < first) and a zero-length suffix are unsatisfiable (416, as the path-gateway spec asks).
 */
export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // inclusive end, as in Content-Range
  | { kind: 'unsatisfiable' }

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' }
  if (m[1] === '') {
    // Suffix range: the last N bytes.
    const n = Number(m[2])
    if (!Number.isSafeInteger(n)) return { kind: 'full' }
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const last = m[2] === '' ? Infinity : Number(m[2])
  if (!Number.isSafeInteger(start) || (last !== Infinity && !Number.isSafeInteger(last))) return { kind: 'full' }
  if (last < start || start >= size) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end: Math.min(last, size - 1) }
}
