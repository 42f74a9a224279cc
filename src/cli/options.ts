/** Argument parsers for commander options: integers, byte sizes, repeatable values. */
import { InvalidArgumentError } from 'commander'
import type { SyncMode } from '../sds/resource/flusher.ts'

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
}

/** Parses `1048576`, `64KiB`, `1MiB`, `1.5GB` into a byte count (a safe non-negative integer). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined
  if (!m || unit === undefined)
    throw new InvalidArgumentError(`"${text}" is not a byte size (e.g. 1048576, 64KiB, 32MiB)`)
  const value = Math.round(Number(m[1]) * unit)
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(`"${text}" is too large`)
  return value
}

export function parseNonNegativeInt(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not a non-negative integer`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${text}" is too large`)
  return n
}

export function parsePositiveInt(text: string): number {
  const n = parseNonNegativeInt(text)
  if (n === 0) throw new InvalidArgumentError('must be at least 1')
  return n
}

export function parsePort(text: string): number {
  const n = parseNonNegativeInt(text)
  if (n > 65_535) throw new InvalidArgumentError(`${n} is not a TCP port`)
  return n
}

/** Accumulates a repeatable option into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** `N=BYTES` pairs of `--node-capacity`, accumulated into a map (resource-N → bytes). */
export function collectNodeCapacity(value: string, previous: Map<number, number> | undefined): Map<number, number> {
  const m = /^(\d+)=(.+)$/.exec(value)
  if (!m) throw new InvalidArgumentError(`"${value}" is not N=BYTES (e.g. 1=64KiB for resource-1)`)
  const map = new Map(previous ?? [])
  map.set(Number(m[1]), parseBytes(m[2]))
  return map
}

/** Kept here (not imported from flusher.ts) so the CLI does not load the resource node's modules to parse flags. */
const SYNC_MODE_NAMES: readonly SyncMode[] = ['always', 'batch', 'none']

/** `--sync` of a resource node (and the devnet's nodes). */
export function parseSyncMode(text: string): SyncMode {
  if (!(SYNC_MODE_NAMES as readonly string[]).includes(text))
    throw new InvalidArgumentError(`"${text}" is not a sync mode (always, batch, none)`)
  return text as SyncMode
}
