/** Human output helpers: byte sizes, aligned tables, JSON documents, the one-line error format. */
import { ERROR_CODES, toStratosError, type StratosError } from '../errors.ts'

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
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
