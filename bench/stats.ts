/**
 * Summary statistics for benchmark samples.
 *
 * Percentiles use the nearest-rank method on the sorted samples (p50 of [1,2,3,4] is 2, p90 of
 * ten samples is the 9th): every reported value is a sample that really happened, which is
 * what we want with 5–50 samples. The median is the usual midpoint average for even counts.
 */

export interface Summary {
  /** Raw samples in the order they were taken. */
  samples: number[]
  count: number
  median: number
  p90: number
  min: number
  max: number
  mean: number
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  const sum = samples.reduce((a, b) => a + b, 0)
  return {
    samples: samples.map(round3),
    count: samples.length,
    median: round3(median(samples)),
    p90: round3(percentile(sorted, 90)),
    min: round3(sorted[0] ?? Number.NaN),
    max: round3(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round3(samples.length ? sum / samples.length : Number.NaN),
  }
}

/** Decimal megabytes per second (1 MB = 10^6 bytes), the unit every throughput here is in. */
export function mbPerSecond(bytes: number, ms: number): number {
  return round3(bytes / 1e6 / (ms / 1000))
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
