/**
 * Injected components (js-libp2p style): every role takes its clock, randomness and logger
 * from here so tests can make them deterministic.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Logger } from 'pino'

export interface Clock {
  /** Unix time in milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t
  }
  advance(ms: number): void {
    this.t += ms
  }
  set(t: number): void {
    this.t = t
  }
}

export type RandomBytes = (n: number) => Uint8Array
/** Bytes taken from the system's CSPRNG 4 KiB at a time for small requests (each byte handed out once). */
let randomPool = new Uint8Array(0)
let randomPoolAt = 0
/**
 * The system's CSPRNG. Small requests (ticket serials, session ids, placement draws: several per upload) come from a
 * pool refilled 4 KiB at a time, as Node's randomUUID does: one randomBytes call costs ~8 µs whatever its size.
 */
export const systemRandom: RandomBytes = (n) => {
  if (n > 256) return new Uint8Array(nodeRandomBytes(n))
  if (randomPoolAt + n > randomPool.length) {
    randomPool = new Uint8Array(nodeRandomBytes(4096))
    randomPoolAt = 0
  }
  const out = randomPool.slice(randomPoolAt, randomPoolAt + n)
  randomPool.fill(0, randomPoolAt, randomPoolAt + n)
  randomPoolAt += n
  return out
}

/** Deterministic random source for tests (xorshift; not for keys in production). */
export function seededRandom(seed: number): RandomBytes {
  let s = seed >>> 0 || 1
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      s ^= s << 13
      s >>>= 0
      s ^= s >>> 17
      s ^= s << 5
      s >>>= 0
      out[i] = s & 0xff
    }
    return out
  }
}

/** Uniform float in [0, 1) from a RandomBytes source. */
export function randomFloat(random: RandomBytes): number {
  const b = random(6)
  let v = 0
  for (const x of b) v = v * 256 + x
  return v / 2 ** 48
}

export function randomHex(random: RandomBytes, bytes: number): string {
  return Buffer.from(random(bytes)).toString('hex')
}

export type { Logger }

/** JSON logs to stderr (pino); level from STRATOS_LOG_LEVEL, default 'info'; 'silent' in tests. */
export function createLogger(name: string, level = process.env.STRATOS_LOG_LEVEL ?? 'info'): Logger {
  // Loaded on first use: a CLI command that logs nothing does not pay for loading pino (~60 ms of start-up CPU).
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino')
  return pino.pino({ name, level }, pino.destination(2))
}

const noop = (): void => {}
/** A logger that drops everything (what pino({ level: 'silent' }) does), without loading pino. */
const silent = {
  level: 'silent',
  fatal: noop,
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  silent: noop,
  child: () => silent,
  isLevelEnabled: () => false,
  bindings: () => ({}),
  setBindings: noop,
  flush: noop,
}
export const silentLogger: Logger = silent as unknown as Logger

/** Lifecycle of every long-running role (js-libp2p Startable). */
export interface Startable {
  start(): Promise<void>
  stop(): Promise<void>
}
