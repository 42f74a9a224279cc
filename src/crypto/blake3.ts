/**
 * BLAKE3 for bulk data: shard chunks are named and verified with it (shard.ts).
 *
 * Why BLAKE3 rather than sha256 there: every byte a client uploads or downloads is hashed on both
 * ends of the wire, and on this class of machine native BLAKE3 runs about twice as fast on one core
 * as node:crypto's sha256 (SHA-NI) on 256 KiB chunks (bench/README.md, "Measurements cited by the
 * code"). Shard ids are
 * this network's own names (CIDs stay sha256, as Kubo makes them), so the faster hash costs no
 * compatibility. The native binding is napi-rs' SIMD-dispatched Rust `blake3` crate, shipped per
 * platform as `@napi-rs/blake-hash-<platform>-<arch>[-<abi>]`; package.json lists the Linux x64
 * (glibc) one as an optional dependency (the npm registry reachable here carries only that build,
 * so the `@napi-rs/blake-hash` wrapper, which names every platform's package, cannot be locked).
 * Where no binding loads, @noble/hashes' pure-JS BLAKE3 gives the same digests, much slower.
 */
import { createRequire } from 'node:module'
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js'

/** Incremental hasher over byte pieces of any size. */
export interface Blake3Hasher {
  update(data: Uint8Array): void
  /** The 32-byte digest; the hasher must not be used afterwards. */
  digest(): Buffer
}

interface NativeBlake3 {
  blake3(input: Uint8Array): Buffer
  Blake3Hasher: new () => { update(input: Uint8Array): unknown; digestBuffer(): Buffer }
}

function loadNative(): NativeBlake3 | undefined {
  if (process.env.STRATOS_BLAKE3 === 'js') return undefined
  const require = createRequire(import.meta.url)
  const base = `@napi-rs/blake-hash-${process.platform}-${process.arch}`
  for (const name of [`${base}-gnu`, `${base}-musl`, `${base}-msvc`, base, '@napi-rs/blake-hash']) {
    try {
      const m = require(name) as NativeBlake3
      if (typeof m.blake3 === 'function' && typeof m.Blake3Hasher === 'function') return m
    } catch {
      // Not installed for this platform: try the next name, then fall back to pure JS.
    }
  }
  return undefined
}

const native = loadNative()

/** Which implementation this process uses ('native' or 'js'), for logs and benchmarks. */
export const BLAKE3_IMPLEMENTATION: 'native' | 'js' = native ? 'native' : 'js'

/** BLAKE3-256 of `data`. */
export const blake3: (data: Uint8Array) => Buffer = native
  ? (data) => native.blake3(data)
  : (data) => toBuffer(nobleBlake3(data))

/** A new incremental BLAKE3-256 hasher. */
export const createBlake3: () => Blake3Hasher = native
  ? () => {
      const h = new native.Blake3Hasher()
      return {
        update: (data) => {
          h.update(data)
        },
        digest: () => h.digestBuffer(),
      }
    }
  : () => {
      const h = nobleBlake3.create()
      return {
        update: (data) => {
          h.update(data)
        },
        digest: () => toBuffer(h.digest()),
      }
    }

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}
