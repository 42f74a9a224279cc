/**
 * The state hash: a commitment to the whole state that costs O(writes of the block).
 *
 * Scheme (chained write-set hash):
 *   h_genesis = H(zero32, sorted genesis entries)
 *   h_n       = h_{n-1}                                  if block n changed nothing
 *             = H(h_{n-1}, the block's effective writes) otherwise
 *   H(prev, writes) = sha256("stratos/state/v1\n" ‖ prev ‖ for each write in ascending key order:
 *                     u32be(len key) ‖ key ‖ (0x00 = delete | 0x01 ‖ u32be(len value) ‖ value))
 * "Effective" writes are the ones that change the store (a value equal to the stored one, or the
 * deletion of a missing key, is dropped), so the hash depends only on the sequence of states,
 * not on how a handler happened to write. By induction, two nodes with equal hashes at a height
 * went through the same states from the same genesis; a transaction that changes nothing (a bad
 * signature, a wrong chain id) leaves the hash as it was. Keys under `app/` (height, time, the
 * hash itself) are bookkeeping, not state, and are not covered.
 *
 * The hash is history-dependent: a snapshot is trusted together with its hash (like any
 * checkpoint) and checked against `stateDigest`, a plain sha256 over all sorted entries that a
 * node can recompute from a snapshot in O(state).
 */
import { createHash } from 'node:crypto'
import type { KvStore, KvWrite } from './kv.ts'

export const GENESIS_PARENT_HASH = '0'.repeat(64)
export const APP_PREFIX = 'app/'
const TAG = 'stratos/state/v1\n'

/** Drops writes that would not change `base`. */
export function effectiveWrites(base: KvStore, writes: readonly KvWrite[]): KvWrite[] {
  return writes.filter(([k, v]) => {
    const old = base.get(k)
    if (v === null) return old !== undefined
    return old === undefined || !bytesEqual(old, v)
  })
}

export function chainStateHash(prevHex: string, writes: readonly KvWrite[]): string {
  if (writes.length === 0) return prevHex
  return hashEntries(prevHex, writes)
}

/** sha256 over every entry of the state outside `app/` (for snapshots; O(state)). */
export function stateDigest(store: KvStore): string {
  const entries: KvWrite[] = []
  for (const [k, v] of store.iterate('')) if (!k.startsWith(APP_PREFIX)) entries.push([k, v])
  return hashEntries(GENESIS_PARENT_HASH, entries)
}

const encoder = new TextEncoder()

function hashEntries(prevHex: string, writes: readonly KvWrite[]): string {
  // One buffer, filled in place (keys via encodeInto: no per-key allocation), hashed with one update.
  let size = 0
  for (const [k, v] of writes) size += 9 + k.length * 3 + (v ? v.length : 0)
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  let o = 0
  for (const [k, v] of writes) {
    const keyBytes = encoder.encodeInto(k, buf.subarray(o + 4)).written
    view.setUint32(o, keyBytes)
    o += 4 + keyBytes
    if (v === null) {
      buf[o++] = 0
    } else {
      buf[o] = 1
      view.setUint32(o + 1, v.length)
      buf.set(v, o + 5)
      o += 5 + v.length
    }
  }
  return createHash('sha256').update(TAG).update(Buffer.from(prevHex, 'hex')).update(buf.subarray(0, o)).digest('hex')
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
