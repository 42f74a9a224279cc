/**
 * Query-string handling of the RPC API, following go-ipfs-cmds: `arg` values are the positional
 * arguments, every other key is an option of the command (long name or alias), values are converted to
 * the option's type with Go's rules (`strconv.ParseBool`, `ParseInt`), a single-valued option given
 * twice is an error, and defaults fill in what is absent.
 *
 * Unknown options are ignored, as Kubo does: the unchanged kubo-rpc-client sends options Kubo has no
 * flag for (`stream` on pin/add, `paths` on pin/ls), and a request must not fail on them. The price is
 * Kubo's too: a typo such as `cid-verison=1` is ignored rather than refused. Options Kubo knows but we do
 * not implement are accepted only at their default (or harmless) value, anything else is refused with a
 * message naming the option.
 */
import { clientError } from './kubo-error.ts'

export type OptionType = 'bool' | 'int' | 'string' | 'strings'
export type OptionValue = boolean | number | string | string[]

export interface OptionSpec {
  type: OptionType
  aliases?: string[]
  default?: OptionValue
  /**
   * Kubo has the option but this API does not implement it. `accept` says which values are harmless
   * (they give Kubo's result anyway); any other value is refused.
   */
  unsupported?: { accept: (v: OptionValue) => boolean; why: string }
}

export interface CommandSpec {
  /** Positional arguments: `required` ones must be present, a `variadic` one takes the rest. */
  args: { name: string; required: boolean; variadic?: boolean }[]
  options: Record<string, OptionSpec>
}

export interface ParsedRequest {
  args: string[]
  options: Map<string, OptionValue>
  /** From the global `timeout` option (Go duration), if given. */
  timeoutMs?: number
}

/** Options go-ipfs-cmds and Kubo's root command accept on every command. */
const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  encoding: {
    type: 'string',
    aliases: ['enc'],
    default: 'json',
    unsupported: { accept: (v) => v === 'json', why: 'only JSON output is implemented' },
  },
  'stream-channels': { type: 'bool' },
  timeout: { type: 'string' },
  offline: { type: 'bool' },
  'cid-base': {
    type: 'string',
    unsupported: {
      accept: (v) => v === '' || v === 'base58btc' || v === 'base32',
      why: 'CIDs are printed in their own base (base58btc for CIDv0, base32 for CIDv1)',
    },
  },
  'upgrade-cidv0-in-output': {
    type: 'bool',
    unsupported: { accept: (v) => v === false, why: 'CIDs are printed as stored' },
  },
  help: { type: 'bool', aliases: ['h'], unsupported: { accept: (v) => v === false, why: 'no help text over HTTP' } },
  debug: { type: 'bool', aliases: ['D'] },
  local: { type: 'bool', aliases: ['L'] },
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false
  return undefined
}

/** Go's strconv.ParseInt(s, 10, 64), limited to safe JS integers. */
export function parseGoInt(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's time.ParseDuration, in milliseconds ("1m30s", "500ms", "2h"); undefined if malformed. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let i = 0
  while (i < s.length) {
    re.lastIndex = i
    const m = re.exec(s)
    if (!m) return undefined
    total += Number(m[1]) * DURATION_UNITS[m[2]]
    i = re.lastIndex
  }
  return s.length > 0 ? total : undefined
}

function convert(key: string, spec: OptionSpec, raw: string): OptionValue {
  const fail = (): never => {
    const value = raw === '' ? 'empty value' : `value ${JSON.stringify(raw)}`
    throw clientError(`Could not convert ${value} to type ${JSON.stringify(spec.type)} (for option "-${key}")`, {
      option: key,
    })
  }
  switch (spec.type) {
    case 'bool':
      return parseGoBool(raw) ?? fail()
    case 'int':
      return parseGoInt(raw) ?? fail()
    default:
      return raw
  }
}

/** Parses the query string of a command request against its spec. */
export function parseRequest(search: URLSearchParams, spec: CommandSpec): ParsedRequest {
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...spec.options }
  const byName = new Map<string, [string, OptionSpec]>()
  for (const [name, s] of Object.entries(all)) {
    byName.set(name, [name, s])
    for (const a of s.aliases ?? []) byName.set(a, [name, s])
  }
  const args: string[] = []
  const options = new Map<string, OptionValue>()
  const keys = new Set<string>()
  for (const key of search.keys()) keys.add(key)
  for (const key of keys) {
    const values = search.getAll(key)
    if (key === 'arg') {
      args.push(...values)
      continue
    }
    const found = byName.get(key)
    // Not an option of this command (nor a global one): ignored, as Kubo does.
    if (!found) continue
    const [name, s] = found
    if (options.has(name))
      throw clientError(`Duplicate command options were provided ("${name}" and "${key}")`, { option: key })
    let value: OptionValue
    if (s.type === 'strings') value = values
    else {
      if (values.length > 1)
        throw clientError(`expected key ${name} to have only a single value, received [${values.join(' ')}]`, {
          option: key,
        })
      value = convert(key, s, values[0])
    }
    if (s.unsupported && !s.unsupported.accept(value)) {
      throw clientError(`option "${name}" is not supported by this API: ${s.unsupported.why}`, { option: name })
    }
    options.set(name, value)
  }
  // Positional arguments, as go-ipfs-cmds counts them.
  const required = spec.args.filter((a) => a.required)
  if (args.length < required.length) {
    const missing = required[args.length] ?? required[0]
    throw clientError(`argument "${missing.name}" is required`, { argument: missing.name })
  }
  const variadic = spec.args.some((a) => a.variadic)
  if (!variadic && args.length > spec.args.length) {
    throw clientError(`expected ${spec.args.length} argument(s), got ${args.length}`)
  }
  for (const [name, s] of Object.entries(all)) {
    if (!options.has(name) && s.default !== undefined) options.set(name, s.default)
  }
  let timeoutMs: number | undefined
  const timeout = options.get('timeout')
  if (typeof timeout === 'string' && timeout !== '') {
    timeoutMs = parseGoDuration(timeout)
    if (timeoutMs === undefined)
      throw clientError(`time: invalid duration ${JSON.stringify(timeout)}`, { option: 'timeout' })
  }
  return { args, options, timeoutMs }
}

export function boolOption(p: ParsedRequest, name: string): boolean {
  return p.options.get(name) === true
}

export function intOption(p: ParsedRequest, name: string): number | undefined {
  const v = p.options.get(name)
  return typeof v === 'number' ? v : undefined
}

export function stringOption(p: ParsedRequest, name: string): string | undefined {
  const v = p.options.get(name)
  return typeof v === 'string' ? v : undefined
}

/** Accepts only the value that gives Kubo's default behaviour. */
export const onlyFalse = (why: string): OptionSpec['unsupported'] => ({ accept: (v) => v === false, why })
