/** Human output helpers: byte sizes, STOS amounts, aligned tables, JSON documents, the one-line error format. */
import { ERROR_CODES, StratosError, toStratosError } from '../errors.ts'
import { WEI_PER_STOS } from '../chain/params.ts'

/** A byte count in binary units, one decimal below 100: "512 B", "2.9 MiB", "99.4 GiB", "472 GiB". */
export function formatBytes(n: number | bigint): string {
  // A bigint (ozone) only needs its magnitude here; formatBytesExact prints the exact count beside it.
  if (typeof n === 'bigint') n = Number(n)
  if (!Number.isFinite(n)) return String(n)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let i = 0
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`
}

/**
 * A count with thousands separators: 106681763204 → "106,681,763,204" (a number is rounded to an integer, halves away
 * from zero, as toLocaleString('en-US') does). By hand, not through Intl: the first toLocaleString of a process loads
 * ICU's number formatting, ~20–50 ms of a CLI command's start-up on this machine.
 */
export function groupDigits(n: number | bigint): string {
  if (typeof n === 'number') {
    if (!Number.isFinite(n) || Math.abs(n) >= Number.MAX_SAFE_INTEGER) return n.toLocaleString('en-US')
    // Intl keeps the sign of a negative that rounds to 0 ("-0"), and of -0 itself.
    return (n < 0 || Object.is(n, -0) ? '-' : '') + thousands(String(Math.round(Math.abs(n))))
  }
  return (n < 0n ? '-' : '') + thousands(String(n < 0n ? -n : n))
}

/** "1234567" → "1,234,567" (a string of digits). */
function thousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+$)/g, ',')
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
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
}

/** Left-aligned columns separated by two spaces; columns listed in `right` are right-aligned. */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
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

// ---- STOS amounts (wallet commands: what people type and read) -----------------------------------------------------------------------------------

/**
 * Parses `12.5stos`, `1000wei` or a plain number (STOS) into wei, exactly. Negative numbers,
 * fractions of a wei, more than 18 decimals and anything else are BAD_REQUEST.
 */
export function parseAmount(text: string, what = 'amount'): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*(stos|wei)?\s*$/i.exec(text)
  if (!m)
    throw new StratosError('BAD_REQUEST', `${what} "${text}" is not an amount: use e.g. 12.5stos, 1000wei or 3 (STOS)`)
  const whole = m[1]!
  const frac = m[2] ?? ''
  const unit = (m[3] ?? 'stos').toLowerCase()
  if (unit === 'wei') {
    if (frac !== '') throw new StratosError('BAD_REQUEST', `${what} "${text}": wei amounts are whole numbers`)
    return BigInt(whole)
  }
  if (frac.length > 18)
    throw new StratosError('BAD_REQUEST', `${what} "${text}" has more than 18 decimals (1 wei = 10^-18 STOS)`)
  return BigInt(whole) * WEI_PER_STOS + BigInt(frac.padEnd(18, '0') || '0')
}

/** Wei as STOS with up to 18 decimals, trailing zeros trimmed: "12.5", "0.000000000000001", "80". */
export function formatStosAmount(wei: bigint): string {
  const sign = wei < 0n ? '-' : ''
  const a = wei < 0n ? -wei : wei
  const frac = (a % WEI_PER_STOS).toString().padStart(18, '0').replace(/0+$/, '')
  return `${sign}${a / WEI_PER_STOS}${frac ? '.' + frac : ''}`
}

/** Decimals `formatStos` shows by default: a millionth of a STOS is far below any fee or reward people compare. */
export const HUMAN_STOS_DECIMALS = 6

/**
 * Wei as STOS for people: thousands grouped, at most `maxDecimals` decimals, trailing zeros
 * trimmed: "12.5", "100,000,000". An amount that needs more decimals is cut toward zero and
 * marked "~" ("~1.035605"), so a balance never reads as more than it is; a non-zero amount below
 * the last decimal reads "<0.000001" rather than a misleading "0". Exact amounts (--json, and
 * wherever a value is echoed back to be typed again) use formatStosAmount.
 */
export function formatStos(wei: bigint, maxDecimals = HUMAN_STOS_DECIMALS): string {
  if (!Number.isInteger(maxDecimals) || maxDecimals < 0 || maxDecimals > 18)
    throw new RangeError(`maxDecimals ${maxDecimals} is not 0…18`)
  const negative = wei < 0n
  const a = negative ? -wei : wei
  const step = 10n ** BigInt(18 - maxDecimals) // wei per last shown decimal
  const steps = a / step
  const smallest = maxDecimals === 0 ? '1' : `0.${'0'.repeat(maxDecimals - 1)}1`
  if (steps === 0n && a !== 0n) return negative ? `>-${smallest}` : `<${smallest}`
  const scale = 10n ** BigInt(maxDecimals)
  const whole = groupDigits(steps / scale)
  const frac = maxDecimals === 0 ? '' : (steps % scale).toString().padStart(maxDecimals, '0').replace(/0+$/, '')
  return `${steps * step === a ? '' : '~'}${negative ? '-' : ''}${whole}${frac ? '.' + frac : ''}`
}
