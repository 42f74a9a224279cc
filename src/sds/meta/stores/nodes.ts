/**
 * The resource-node registry's store: it owns the `nodes` table (address → NodeRecord: URL, version, the last
 * heartbeat's stats and sequence number). registry.ts keeps a copy in memory and writes through this store.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { Table } from '../engine/table.ts'

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
  /** Inside write(): stores a node's record (its heartbeat). */
  put(record: NodeRecord): void
}

export class TableNodeStore implements NodeStore {
  readonly #t: Table<NodeRecord, string>

  constructor(table: Table<NodeRecord, string>) {
    this.#t = table
  }

  get(address: string): NodeRecord | undefined {
    return this.#t.get(address)
  }

  all(): NodeRecord[] {
    return [...this.#t.getRange()].map((e) => e.value)
  }

  put(record: NodeRecord): void {
    this.#t.putSync(record.address, record)
  }
}
