/**
 * The resource-node registry's store: it owns the `nodes` table (address → NodeRecord: URL, version, the last
 * heartbeat's stats and sequence number). registry.ts keeps a copy in memory and writes through this store.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { PrefetchRead, Table } from '../engine/table.ts'
import { KeyedRecordTable } from './keyed-records.ts'

export interface NodeRecord {
  address: string
  url: string
  version: string
  registeredAt: number
  lastSeen: number
  seq: number
  capacityBytes: number
  freeBytes: number
  usedBytes: number
  shardCount: number
  load: number
}

export interface NodeStore {
  get(address: string): NodeRecord | undefined
  /** Every registered node, by address (the registry is small: one record per resource node). */
  all(): NodeRecord[]
  /** The read `all` makes, for MetaStore.prefetch. */
  allReads(): PrefetchRead[]
  /** Inside write(): stores a node's record (its heartbeat). */
  put(record: NodeRecord): void
}

/** The `nodes` table, keyed by each record's address. */
export class TableNodeStore extends KeyedRecordTable<NodeRecord> implements NodeStore {
  constructor(table: Table<NodeRecord, string>) {
    super(table, (r) => r.address)
  }
}
