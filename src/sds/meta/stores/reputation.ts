/**
 * The audit subsystem's store: it owns `reputation` (node address → NodeReputation: audit and online scores,
 * suspension, maintenance, slashing). audit/reputation.ts keeps a copy in memory and writes through this store.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { NodeReputation } from '../audit/reputation.ts'
import type { PrefetchRead, Table } from '../engine/table.ts'
import { KeyedRecordTable } from './keyed-records.ts'

export interface ReputationStore {
  get(node: string): NodeReputation | undefined
  /** Every node's record (one per resource node ever audited or seen). */
  all(): NodeReputation[]
  /** The read `all` makes, for MetaStore.prefetch. */
  allReads(): PrefetchRead[]
  /** Inside write(). */
  put(record: NodeReputation): void
}

/** The `reputation` table, keyed by each record's node address. */
export class TableReputationStore extends KeyedRecordTable<NodeReputation> implements ReputationStore {
  constructor(table: Table<NodeReputation, string>) {
    super(table, (r) => r.node)
  }
}
