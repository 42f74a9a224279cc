/**
 * The audit subsystem's store: it owns `reputation` (node address → NodeReputation: audit and online scores,
 * suspension, maintenance, slashing). audit/reputation.ts keeps a copy in memory and writes through this store.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { NodeReputation } from '../audit/reputation.ts'
import type { Table } from '../engine/table.ts'

export interface ReputationStore {
  get(node: string): NodeReputation | undefined
  /** Every node's record (one per resource node ever audited or seen). */
  all(): NodeReputation[]
  /** Inside write(). */
  put(record: NodeReputation): void
}

export class TableReputationStore implements ReputationStore {
  readonly #t: Table<NodeReputation, string>

  constructor(table: Table<NodeReputation, string>) {
    this.#t = table
  }

  get(node: string): NodeReputation | undefined {
    return this.#t.get(node)
  }

  all(): NodeReputation[] {
    return [...this.#t.getRange()].map((e) => e.value)
  }

  put(record: NodeReputation): void {
    this.#t.putSync(record.node, record)
  }
}
