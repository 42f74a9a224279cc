/**
 * Bytes of keys and values for engines that store them outside LMDB (postgres.ts).
 *
 * Keys use `ordered-binary`, the encoding lmdb-js gives its keys, so byte order (PostgreSQL's BYTEA and
 * CockroachDB's BYTES compare bytewise) is the order the LMDB engine iterates in. Values use msgpack without
 * record structures (nothing to share between processes beyond the bytes themselves).
 */
import { fromBufferKey, toBufferKey } from 'ordered-binary'
import { Packr } from 'msgpackr'
import type { Key } from './table.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeKey(key: Key): Buffer {
  // toBufferKey answers a view into a shared scratch buffer: copy it before the next call overwrites it.
  return Buffer.from(toBufferKey(key))
}

export function decodeKey<K extends Key>(bytes: Uint8Array): K {
  return fromBufferKey(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as K
}

export function encodeValue(value: unknown): Buffer {
  // pack may answer a view into a buffer the next pack reuses: copy it.
  return Buffer.from(packr.pack(value))
}

export function decodeValue<V>(bytes: Uint8Array): V {
  return packr.unpack(bytes) as V
}
