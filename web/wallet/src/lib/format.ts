/** Amounts and sizes for people: wei ↔ STOS (bigint, exact), bytes → KiB/MiB/GiB, dates. */
export const WEI_PER_STOS = 10n ** 18n

export function formatStos(wei: bigint, digits = 4): string {
  const neg = wei < 0n
  const v = neg ? -wei : wei
  const whole = v / WEI_PER_STOS
  const frac = (v % WEI_PER_STOS).toString().padStart(18, '0').slice(0, digits).replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}${frac ? `.${frac}` : ''} STOS`
}

/** "1.5" → 1.5·10^18 wei; null when it is not a positive amount with at most 18 decimals. */
export function parseStos(text: string): bigint | null {
  const m = /^\s*(\d{1,12})(?:\.(\d{1,18}))?\s*$/.exec(text)
  if (!m) return null
  const wei = BigInt(m[1]!) * WEI_PER_STOS + BigInt((m[2] ?? '').padEnd(18, '0') || '0')
  return wei > 0n ? wei : null
}

export function formatBytes(n: number | bigint): string {
  const v = Number(n)
  if (v < 1024) return `${v} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']
  let x = v / 1024
  let i = 0
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024
    i++
  }
  return `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ${units[i]}`
}

export function formatDate(ms: number): string {
  return new Date(ms).toLocaleString()
}

export function shortAddress(a: string): string {
  return a.length > 16 ? `${a.slice(0, 8)}…${a.slice(-6)}` : a
}
