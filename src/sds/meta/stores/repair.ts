/**
 * The repair subsystem's store: it owns `repairing` ([node, shard] → RepairInFlight: a copy on its way to a node,
 * whose ref is held until the file record names the location or the copy fails) and `replicas` ([cid, segment,
 * shardIndex, node] → ReplicaRecord: an extra copy of a hot segment's data shard). repair/ (repairer, replicas,
 * service) and the auditor (a location with a copy in flight is not audited) go through it.
 * Calling convention and why the methods could become async: stores/index.ts.
 */
import { KEY_STRING_MAX, type Table } from '../engine/table.ts'

/** A location whose copy is in flight (its ref is held until the record names it or the copy fails). */
export interface RepairInFlight {
  cid: string
  segment: number
  startedAt: number
}

/** An extra copy of a hot segment's data shard. */
export interface ReplicaRecord {
  shard: string
  size: number
  addedAt: number
}

/** Where a replica is: file, segment, shard position and node. */
export interface ReplicaLocation {
  cid: string
  segment: number
  shardIndex: number
  node: string
}

type ReplicaKey = [string, number, number, string]

export interface RepairStore {
  /** A repair or replica copy to (node, shard) is in flight: the bytes may not be there yet. */
  copyInFlight(node: string, shard: string): boolean
  /** Inside write(): a copy of `shard` to `node` starts (the caller holds the location's ref). */
  startCopy(node: string, shard: string, copy: RepairInFlight): void
  /** Inside write(): the copy ended (landed in the record, or failed and its ref was released). */
  endCopy(node: string, shard: string): void
  /** Copies in flight, at most `limit` (a restarted process gives back what the previous run left). */
  copiesInFlight(limit: number): { node: string; shard: string; copy: RepairInFlight }[]
  replica(at: ReplicaLocation): ReplicaRecord | undefined
  /** Inside write(). */
  putReplica(at: ReplicaLocation, record: ReplicaRecord): void
  /** Inside write(). */
  removeReplica(at: ReplicaLocation): void
  /** Replicas of one segment, by shard position then node. */
  segmentReplicas(cid: string, segment: number): { at: ReplicaLocation; record: ReplicaRecord }[]
  /** Every replica (start-up: the in-memory map of hot segments is rebuilt from them), in key order. */
  allReplicas(): { at: ReplicaLocation; record: ReplicaRecord }[]
}

function at(key: ReplicaKey): ReplicaLocation {
  return { cid: key[0], segment: key[1], shardIndex: key[2], node: key[3] }
}

function key(a: ReplicaLocation): ReplicaKey {
  return [a.cid, a.segment, a.shardIndex, a.node]
}

export class TableRepairStore implements RepairStore {
  readonly #repairing: Table<RepairInFlight, [string, string]>
  readonly #replicas: Table<ReplicaRecord, ReplicaKey>

  constructor(repairing: Table<RepairInFlight, [string, string]>, replicas: Table<ReplicaRecord, ReplicaKey>) {
    this.#repairing = repairing
    this.#replicas = replicas
  }

  copyInFlight(node: string, shard: string): boolean {
    return this.#repairing.get([node, shard]) !== undefined
  }

  startCopy(node: string, shard: string, copy: RepairInFlight): void {
    this.#repairing.putSync([node, shard], copy)
  }

  endCopy(node: string, shard: string): void {
    this.#repairing.removeSync([node, shard])
  }

  copiesInFlight(limit: number): { node: string; shard: string; copy: RepairInFlight }[] {
    return [...this.#repairing.getRange({ limit })].map(({ key, value }) => ({
      node: key[0],
      shard: key[1],
      copy: value,
    }))
  }

  replica(a: ReplicaLocation): ReplicaRecord | undefined {
    return this.#replicas.get(key(a))
  }

  putReplica(a: ReplicaLocation, record: ReplicaRecord): void {
    this.#replicas.putSync(key(a), record)
  }

  removeReplica(a: ReplicaLocation): void {
    this.#replicas.removeSync(key(a))
  }

  segmentReplicas(cid: string, segment: number): { at: ReplicaLocation; record: ReplicaRecord }[] {
    return [
      ...this.#replicas.getRange({
        start: [cid, segment, 0, ''],
        end: [cid, segment, Number.MAX_SAFE_INTEGER, KEY_STRING_MAX],
      }),
    ].map(({ key, value }) => ({ at: at(key), record: value }))
  }

  allReplicas(): { at: ReplicaLocation; record: ReplicaRecord }[] {
    return [...this.#replicas.getRange()].map(({ key, value }) => ({ at: at(key), record: value }))
  }
}
