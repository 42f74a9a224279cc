/**
 * The background duties' lease store: it owns `leases` (duty name → Lease: which process runs it, until when).
 * leases.ts decides who may take a lease; this store keeps the rows.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import type { Table } from '../engine/table.ts'
import type { Lease } from '../leases.ts'

export interface LeaseStore {
  get(duty: string): Lease | undefined
  /** Inside write(). */
  put(duty: string, lease: Lease): void
  /** Inside write(). */
  remove(duty: string): void
}

export class TableLeaseStore implements LeaseStore {
  readonly #t: Table<Lease, string>

  constructor(table: Table<Lease, string>) {
    this.#t = table
  }

  get(duty: string): Lease | undefined {
    return this.#t.get(duty)
  }

  put(duty: string, lease: Lease): void {
    this.#t.putSync(duty, lease)
  }

  remove(duty: string): void {
    this.#t.removeSync(duty)
  }
}
