/** Human output helpers: byte sizes, aligned tables, JSON documents, the one-line error format. */
import { ERROR_CODES, toStratosError, type StratosError } from '../errors.ts'

/** A byte count in binary units, one decimal below 100: "512 B", "2.9 MiB", "99.4 GiB", "472 GiB". */
export function formatBytes(n: number | bigint): string {
  // A bigint (ozone) only needs its magnitude here; formatBytesExact prints the exact count beside it.
  if (typeof n === 'bigint') n = Number(n)
  if (!Number.isFinite(n)) return String(n)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
}

/** A count with thousands separators: 106681763204 → "106,681,763,204". */
export function groupDigits(n: number | bigint): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 })
}

/**
 * A byte count for people who may also need the exact figure (ozone, file sizes):
 * "99.4 GiB (106,681,763,204 bytes)"; below 1 KiB just "512 bytes".
 */
export function formatBytesExact(n: number | bigint): string {
  const exact = `${groupDigits(n)} byte${n === 1 || n === 1n ? '' : 's'}`
  const abs = typeof n === 'bigint' ? (n < 0n ? -n : n) : Math.abs(n)
  return abs < 1024 ? exact : `${formatBytes(n)} (${exact})`
}

/** Seconds since `then` in the largest whole unit: "4s", "3m", "2h", "5d" (a narrow column). */
export function formatAge(now: number, then: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m`
  if (s < 172_800) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}

/** Cuts text to `max` characters, marking the cut with "…" in the middle (addresses keep both ends). */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text
  const tail = Math.floor((max - 1) / 3)
  return `${text.slice(0, max - 1 - tail)}…${text.slice(text.length - tail)}`
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}

/** Left-aligned columns separated by two spaces; columns listed in `right` are right-aligned. */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** The one line every failed command prints on stderr: `error: <message> (<CODE>)`. */
export function errorLine(e: unknown): { line: string; exit: number; error: StratosError } {
  const error = toStratosError(e)
  const message = error.message.split('\n')[0]
  return { line: `error: ${message} (${error.code})`, exit: ERROR_CODES[error.code].exit, error }
}
