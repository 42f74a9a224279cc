/**
 * The meta node's index: named, ordered key → value tables in one storage engine (engine/), and the subsystem stores
 * that own them. This class opens the tables, hands each store its own, and runs transactions; it reads and writes
 * only its own `meta` keys ('schema', 'accessSecret').
 *
 * Tables and their owners (the key layouts are documented where they are owned; stores/index.ts lists them all):
 *   files, blocks, owners, publicFiles, blockIndex, shardFiles, meta 'counters' | 'blockIndexReady'
 *                                      → FileStore (stores/files.ts): records, DAG blocks, owner entries, indexes
 *   sessions, sessionSegments, sessionTickets, sessionLocations, sessionExpiry
 *                                      → UploadStore (stores/uploads.ts): open upload sessions
 *   refs, bad, deletes                 → LocationStore (stores/locations.ts): the shard-location ledger
 *   nodes                              → NodeStore (stores/nodes.ts): the resource-node registry
 *   nonces, nonceExpiry                → NonceStore (stores/nonces.ts): wallet requests' nonces
 *   shares, shareAttempts, grants, budgets
 *                                      → ShareStore, GrantStore, BudgetStore (stores/sharing.ts)
 *   reputation                         → ReputationStore (stores/reputation.ts): audits and reputation
 *   repairing, replicas                → RepairStore (stores/repair.ts): repair copies in flight, hot replicas
 *   pot                                → PotStore (pot/pot-store.ts): Proof of Traffic
 *   ozone                              → OzoneStore (stores/ozone.ts): what the ozone guard promised per payer
 *   leases                             → LeaseStore (stores/leases.ts): which process runs a background duty
 *   delegations                        → delegation records (OwnedRecords, stores/sharing.ts), for delegations.ts
 *   meta 'schema' | 'accessSecret'     → this class (schema version; the share-token HMAC key, secret())
 *
 * Engines (engine/): the tables live in LMDB (engine/lmdb.ts, one process, the embedded default) or in PostgreSQL
 * (engine/postgres.ts, `--index postgres://…`, shared by several processes of one meta node); the same code runs
 * over both, engine/table.ts states the contract, and test/sds/meta/engine/ holds both engines — and every store
 * over each — to it.
 *
 * Transactions (the unit of work): `write(fn)` runs `fn` synchronously — no other JS interleaves with it — and
 * commits everything it wrote, in any table, at once or not at all. A change that spans subsystems (a nonce
 * recorded with the effect it authorises, a file record with its refs and PoT entries) is one `write` calling
 * several stores. On LMDB it is a child transaction of lmdb-js's next write batch, committed and flushed on lmdb's
 * write thread; on PostgreSQL a REPEATABLE READ transaction on a pooled connection (several in flight per process,
 * the event loop never waits), in which `fn` runs once per round of reads it needs and again after a write
 * conflict (engine/postgres.ts), so `fn` must be re-runnable. By default `write()` resolves only once the commit is durable, so a reply sent after it survives
 * kill -9; heartbeat bookkeeping opts out of waiting for the flush on LMDB (a lost heartbeat is re-sent).
 */
import type { PrefetchRead, StorageEngine, Table, WriteOptions } from './engine/table.ts'
import { LmdbEngine } from './engine/lmdb.ts'
import { PostgresEngine, type PostgresEngineOptions } from './engine/postgres.ts'
import { StratosError } from '../../errors.ts'
import type { Lease } from './leases.ts'
import type { DelegationRecord } from './delegations.ts'
import { TablePotStore, type PotKey, type PotStore } from './pot/pot-store.ts'
import { TableNodeStore, type NodeRecord, type NodeStore } from './stores/nodes.ts'
import { TableLocationStore, type BadLocation, type LocationStore, type PendingDelete } from './stores/locations.ts'
import { TableNonceStore, type NonceStore } from './stores/nonces.ts'
import { TableRepairStore, type RepairInFlight, type RepairStore, type ReplicaRecord } from './stores/repair.ts'
import { TableReputationStore, type ReputationStore } from './stores/reputation.ts'
import type { NodeReputation } from './audit/reputation.ts'
import { TableLeaseStore, type LeaseStore } from './stores/leases.ts'
import { TableOzoneStore, type OzoneBook, type OzoneKey, type OzoneStore } from './stores/ozone.ts'
import {
  OwnedRecords,
  TableBudgetStore,
  TableGrantStore,
  TableShareStore,
  type BudgetStore,
  type GrantStore,
  type SharingTables,
  type ShareStore,
} from './stores/sharing.ts'
import { TableFileStore, type FileStore, type FileTables } from './stores/files.ts'
import { TableUploadStore, type UploadStore, type UploadTables } from './stores/uploads.ts'

export type { NodeRecord } from './stores/nodes.ts'
export type { BadLocation, PendingDelete } from './stores/locations.ts'
export type { RepairInFlight, ReplicaRecord } from './stores/repair.ts'
export type { Counters, FileKind, FileRecord, OwnerEntry } from './stores/files.ts'
export type { SessionRecord, SessionSegment, SessionShard } from './stores/uploads.ts'

export const STORE_SCHEMA_VERSION = 1
export { KEY_STRING_MAX } from './engine/table.ts'

type Pair = [string, string]

/** Every table and its types. */
interface AllTables extends SharingTables, FileTables, UploadTables {
  pot: Table<unknown, PotKey>
  nodes: Table<NodeRecord, string>
  refs: Table<number, Pair>
  bad: Table<BadLocation, Pair>
  deletes: Table<PendingDelete, Pair>
  nonces: Table<number, Pair>
  nonceExpiry: Table<true, [number, string, string]>
  reputation: Table<NodeReputation, string>
  repairing: Table<RepairInFlight, Pair>
  replicas: Table<ReplicaRecord, [string, number, number, string]>
  leases: Table<Lease, string>
  ozone: Table<OzoneBook | true, OzoneKey>
  delegations: Table<DelegationRecord | true, ['id', string] | ['owner', string, string]>
}

/** The same as a plain object type (what openTables takes). */
type MetaTables = { [N in keyof AllTables]: AllTables[N] }

/** Every table of the index (its order is the LMDB databases' creation order). */
const TABLE_NAMES = [
  'files',
  'blocks',
  'owners',
  'sessions',
  'sessionSegments',
  'sessionTickets',
  'sessionExpiry',
  'refs',
  'bad',
  'deletes',
  'nodes',
  'nonces',
  'nonceExpiry',
  'meta',
  'shares',
  'blockIndex',
  'reputation',
  'shardFiles',
  'repairing',
  'replicas',
  'pot',
  'grants',
  'budgets',
  'publicFiles',
  'shareAttempts',
  'leases',
  'delegations',
  'sessionLocations',
  'ozone',
] as const satisfies readonly (keyof MetaTables)[]

function isSqlUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** A location for messages: a URL without its password. */
function redactUrl(location: string): string {
  return isSqlUrl(location) ? location.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') : location
}

export class MetaStore {
  readonly #engine: StorageEngine
  /** This class's keys of `meta` only ('schema', 'accessSecret'); the FileStore has its own keys there. */
  readonly #meta: Table<unknown, string>
  /** Stored files: records, DAG blocks, owner entries, public listing, block and shard indexes (stores/files.ts). */
  readonly files: FileStore
  /** Open upload sessions (stores/uploads.ts). */
  readonly uploads: UploadStore
  /** The resource-node registry (stores/nodes.ts). */
  readonly nodes: NodeStore
  /** Referenced, bad and to-be-deleted shard locations (stores/locations.ts). */
  readonly locations: LocationStore
  /** Wallet requests' nonces (stores/nonces.ts). */
  readonly nonces: NonceStore
  /** Share links and their wrong-password counters (stores/sharing.ts). */
  readonly shares: ShareStore
  /** Read grants (stores/sharing.ts). */
  readonly grants: GrantStore
  /** Public-read budgets and their spending (stores/sharing.ts). */
  readonly budgets: BudgetStore
  /** Audits and reputation per resource node (stores/reputation.ts). */
  readonly reputation: ReputationStore
  /** Repair copies in flight and hot segments' replicas (stores/repair.ts). */
  readonly repair: RepairStore
  /** Proof of Traffic bookkeeping: settled serials, traffic credits, reports (pot/pot-store.ts). */
  readonly pot: PotStore
  /** Delegation records and each wallet's live ones (the layout of stores/sharing.ts; delegations.ts decides). */
  readonly delegations: OwnedRecords<DelegationRecord>
  /** Background duties' leases (stores/leases.ts; leases.ts decides who holds one). */
  readonly leases: LeaseStore
  /** What the ozone guard promised and accepted per payer, shared by every process (stores/ozone.ts). */
  readonly ozone: OzoneStore
  #closed = false

  private constructor(engine: StorageEngine) {
    this.#engine = engine
    const t = engine.openTables<MetaTables>(TABLE_NAMES)
    this.#meta = t.meta
    this.files = new TableFileStore(t)
    this.uploads = new TableUploadStore(t)
    this.nodes = new TableNodeStore(t.nodes)
    this.locations = new TableLocationStore(t.refs, t.bad, t.deletes)
    this.nonces = new TableNonceStore(t.nonces, t.nonceExpiry)
    this.shares = new TableShareStore(t.shares, t.shareAttempts)
    this.grants = new TableGrantStore(t.grants)
    this.budgets = new TableBudgetStore(t.budgets)
    this.reputation = new TableReputationStore(t.reputation)
    this.repair = new TableRepairStore(t.repairing, t.replicas)
    this.pot = new TablePotStore(t.pot)
    this.leases = new TableLeaseStore(t.leases)
    this.ozone = new TableOzoneStore(t.ozone)
    this.delegations = new OwnedRecords(t.delegations)
  }

  /**
   * Opens (or creates) the index: an LMDB environment at a directory path (the embedded default), or the PostgreSQL
   * database of a `postgres://` / `postgresql://` URL (shared by several processes of one meta node). Refuses an
   * index written by a newer schema.
   */
  static async open(location: string, options: PostgresEngineOptions = {}): Promise<MetaStore> {
    const engine = isSqlUrl(location) ? new PostgresEngine(location, options) : LmdbEngine.open(location)
    let store: MetaStore
    try {
      store = new MetaStore(engine)
    } catch (e) {
      await engine.close()
      if (e instanceof StratosError) throw e
      throw new StratosError(
        'NETWORK_CONFIG',
        `cannot open the meta index at ${redactUrl(location)}: ${(e as Error).message}`,
        { location: redactUrl(location) },
        { cause: e },
      )
    }
    const schema = await store.write(() => {
      const found = store.#meta.get('schema')
      if (found === undefined) store.#meta.putSync('schema', STORE_SCHEMA_VERSION)
      return found
    })
    if (schema !== undefined && schema !== STORE_SCHEMA_VERSION) {
      await engine.close()
      throw new StratosError(
        'NETWORK_CONFIG',
        `meta index at ${redactUrl(location)} has schema ${String(schema)}, this software reads ${STORE_SCHEMA_VERSION}`,
      )
    }
    // Indexes added after the first release, filled once for an index written by older software.
    if (store.files.blockIndexPending()) await store.write(() => store.files.backfillBlockIndex())
    if (store.uploads.locationsPending()) await store.write(() => store.uploads.backfillLocations())
    return store
  }

  get closed(): boolean {
    return this.#closed
  }

  /** `lmdb` or `postgres`. */
  get engine(): StorageEngine['kind'] {
    return this.#engine.kind
  }

  /** Several processes may share this index: background duties take leases (leases.ts), caches are refreshed. */
  get shared(): boolean {
    return this.#engine.shared
  }

  /** True while the index can commit (readiness: a process cut off from PostgreSQL is not ready). */
  async ready(): Promise<boolean> {
    return !this.#closed && (await this.#engine.ready())
  }

  /**
   * Runs `fn` in one write transaction (the unit of work, engine/table.ts): everything it writes, in whatever
   * tables, commits together or not at all (a throw rolls it back and rejects with that error). `fn` must be
   * synchronous and re-runnable. Resolves with its result once committed and — unless `durable: false` — durable.
   */
  async write<T>(fn: () => T, options: WriteOptions = {}): Promise<T> {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    return this.#engine.write(fn, options)
  }

  /**
   * Runs `fn`, which only reads (through the stores), on one consistent view of the index without blocking the event
   * loop on PostgreSQL, where it is a transaction like write()'s: `fn` must be synchronous and re-runnable, and
   * should prefetch what it reads (one round trip per level of reads). For walks over many records.
   */
  async read<T>(fn: () => T): Promise<T> {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the meta index is closed')
    return this.#engine.read(fn)
  }

  /**
   * Inside write(): the keys the transaction is about to read, read at once where reads are round trips (PostgreSQL;
   * engine/table.ts). Only a hint: every read answers the same without it.
   */
  prefetch(reads: PrefetchRead[]): void {
    this.#engine.prefetch(reads)
  }

  /**
   * The index's secret `name` (the share-token HMAC key): made once from `fresh()` and kept, so every process over
   * the index agrees on it.
   */
  async secret(name: 'accessSecret', fresh: () => Uint8Array): Promise<Uint8Array> {
    const found = this.#meta.get(name) as Uint8Array | undefined
    if (found !== undefined) return found
    const made = fresh()
    await this.write(() => {
      if (this.#meta.get(name) === undefined) this.#meta.putSync(name, made)
    })
    return this.#meta.get(name) as Uint8Array
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#engine.close()
  }
}
