/**
 * The meta node's index: one LMDB environment under `dataDir/index`, split into named databases.
 *
 * Keyspaces (key → value):
 *   files           cid                          → FileRecord (layout and owners; the DAG blocks live apart)
 *   blocks          [cid, i]                     → bytes of the i-th inner DAG block (a file read never loads them)
 *   owners          [owner, cid]                 → OwnerEntry (createdAt plus the summary `ls` prints)
 *   sessions        uploadId                     → SessionRecord (owner, geometry, activity)
 *   sessionSegments [uploadId, index]            → SessionSegment (current placement + ticket serial per shard)
 *   sessionTickets  [uploadId, node, shard]      → true: every (node, shard) the session ever got a PUT ticket for
 *   sessionLocations [node, shard, uploadId]     → true: the same, by location (is a location an open upload's?)
 *   sessionExpiry   [expiresAt, uploadId]        → true: the sweeper's index
 *   refs, bad, deletes  [node, shard]            → shard locations: referenced / reported bad / to delete (stores/locations.ts)
 *   nodes           address                      → NodeRecord (the registry, stores/nodes.ts)
 *   nonces, nonceExpiry                          → wallet requests' nonces and their pruning index (stores/nonces.ts)
 *   meta            'schema' | 'counters'        → schema version | Counters (status totals)
 *   shares          ['id', id] | ['owner', owner, id] → ShareRecord | true: share links and their owner index (shares.ts)
 *   blockIndex      [digest hex, cid]            → true: record `cid` holds the DAG block with that sha256 (blocks.ts)
 *   reputation      node address                 → NodeReputation: audit/online scores, suspension, maintenance, slashing (audit/)
 *   pot             [tag, …]                     → Proof of Traffic: settled serials, traffic credits, volume reports
 *                                                  (layout in pot/pot-store.ts)
 *   grants          ['id', id] | ['owner', owner, id] → GrantRecord | true: read grants and their owner index (grants.ts)
 *   budgets         ['cap', owner, cid|''] | ['spent', owner, cid|'', epoch] → public-read budgets and spending (access.ts)
 *   publicFiles     cid                          → publisher: public files (anonymous listing)
 *   shareAttempts   ['client', id, client] | ['expiry', windowEnd, id, client] → ShareAttempts | true: wrong share-link
 *                                                  passwords per (link, client address) and their expiry index (shares.ts)
 *   leases          duty                         → Lease: which process runs a background duty (leases.ts)
 *   delegations     ['id', id] | ['owner', owner, id] → DelegationRecord | true: delegations and their owner index
 *                                                  (delegations.ts)
 *
 * State owners (stores/index.ts): a subsystem's tables are handed to its store (`nodes`, `locations`, `nonces`,
 * `pot`, …), the only code that reads or writes them, through named methods; the tables not yet behind a store
 * are still fields of this class. The invariants of refs / bad / deletes live with their store (stores/locations.ts).
 *
 * Engines (engine/): the tables live in LMDB (engine/lmdb.ts, one process, the embedded default) or in PostgreSQL
 * (engine/postgres.ts, `--index postgres://…`, shared by several processes of one meta node); the same code runs
 * over both, engine/table.ts states the contract and test/sds/meta/engine/ holds both engines to it.
 *
 * Transactions (the unit of work): `write(fn)` runs `fn` synchronously — no other JS interleaves with it — and
 * commits everything it wrote, in any table, at once or not at all. A change that spans subsystems (a nonce
 * recorded with the effect it authorises, a file record with its refs and PoT entries) is one `write`. On LMDB it is
 * a child transaction of lmdb-js's next write batch, committed and flushed on lmdb's write thread; on PostgreSQL a
 * SERIALIZABLE transaction, run again after a serialization failure, so `fn` must be re-runnable. By default
 * `write()` resolves only once the commit is durable, so a reply sent after it survives kill -9; heartbeat
 * bookkeeping opts out of waiting for the flush on LMDB (a lost heartbeat is re-sent).
 */
import type { PrefetchRead, StorageEngine, Table, WriteOptions } from './engine/table.ts'
import { LmdbEngine } from './engine/lmdb.ts'
import { PostgresEngine, type PostgresEngineOptions } from './engine/postgres.ts'
import { StratosError } from '../../errors.ts'
import type { FileRecordView } from '../protocol/api.ts'
import { backfillBlockIndex } from './blocks.ts'
import type { Lease } from './leases.ts'
import type { DelegationRecord } from './delegations.ts'
import { TablePotStore, type PotKey, type PotStore } from './pot/pot-store.ts'
import { TableNodeStore, type NodeRecord, type NodeStore } from './stores/nodes.ts'
import { TableLocationStore, type BadLocation, type LocationStore, type PendingDelete } from './stores/locations.ts'
import { TableNonceStore, type NonceStore } from './stores/nonces.ts'
import { TableRepairStore, type RepairInFlight, type RepairStore, type ReplicaRecord } from './stores/repair.ts'
import { TableReputationStore, type ReputationStore } from './stores/reputation.ts'
import type { NodeReputation } from './audit/reputation.ts'
import {
  TableBudgetStore,
  TableGrantStore,
  TableShareStore,
  type BudgetStore,
  type GrantStore,
  type SharingTables,
  type ShareStore,
} from './stores/sharing.ts'

export type { NodeRecord } from './stores/nodes.ts'
export type { BadLocation, PendingDelete } from './stores/locations.ts'
export type { RepairInFlight, ReplicaRecord } from './stores/repair.ts'

export const STORE_SCHEMA_VERSION = 1
export { KEY_STRING_MAX } from './engine/table.ts'
import { KEY_STRING_MAX } from './engine/table.ts'

export type FileKind = FileRecordView['kind']

/** A stored file: the API view without live node state, plus where its DAG blocks are. */
export interface FileRecord extends Omit<FileRecordView, 'nodes' | 'owners' | 'public'> {
  owners: string[]
  /** How many inner DAG blocks are stored under `blocks` [cid, 0..blockCount). */
  blockCount: number
  /** Set when the file is public: the owner who published it, whose ozone pays strangers' reads (access.ts). */
  publicBy?: string
}

export interface OwnerEntry {
  createdAt: number
  kind: FileKind
  size: number
  name?: string
  /** This owner published the file (anyone may read it, paid by this owner). */
  public?: boolean
}

export interface SessionRecord {
  uploadId: string
  owner: string
  k: number
  m: number
  segmentSize: number
  name?: string
  /** Total size declared at create (null for streams). */
  declaredSize: number | null
  /** The uploader's order key (wallet-authorised at create): PUT tickets name it, and it signs the session's calls. */
  orderKey: string
  /** The file is published when committed (create's `public`). */
  public?: boolean
  createdAt: number
  lastActivity: number
  expiresAt: number
  /** Segments 0..segmentCount-1 are planned (planning is sequential). */
  segmentCount: number
}

export interface SessionShard {
  id: string
  node: string
  /** Serial of the PUT ticket for the current placement; the receipt must carry it. */
  serial: string
  /** Nodes this shard position has been placed on so far (bounded by MAX_PLACEMENTS_PER_SHARD). */
  attempts: number
}

export interface SessionSegment {
  index: number
  size: number
  shardSize: number
  shards: SessionShard[]
}

export interface Counters {
  files: number
  /** Sum of the sizes of kind 'file' records. */
  fileBytes: number
}

type Pair = [string, string]

/** Tables a store owns (the rest are still MetaStore fields; see stores/index.ts). */
interface StoreTables extends SharingTables {
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
}

type MetaTables = {
  [N in (typeof TABLE_NAMES)[number]]: N extends keyof StoreTables
    ? StoreTables[N]
    : N extends keyof MetaStore
      ? MetaStore[N]
      : never
}

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
] as const

function isSqlUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** A location for messages: a URL without its password. */
function redactUrl(location: string): string {
  return isSqlUrl(location) ? location.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') : location
}

export class MetaStore {
  readonly #engine: StorageEngine
  readonly files: Table<FileRecord, string>
  readonly blocks: Table<Uint8Array, [string, number]>
  readonly owners: Table<OwnerEntry, Pair>
  readonly sessions: Table<SessionRecord, string>
  readonly sessionSegments: Table<SessionSegment, [string, number]>
  readonly sessionTickets: Table<true, [string, string, string]>
  readonly sessionExpiry: Table<true, [number, string]>
  readonly sessionLocations: Table<true, [string, string, string]>
  /** The resource-node registry (stores/nodes.ts). */
  readonly nodes: NodeStore
  /** Referenced, bad and to-be-deleted shard locations (stores/locations.ts). */
  readonly locations: LocationStore
  /** Wallet requests' nonces (stores/nonces.ts). */
  readonly nonces: NonceStore
  readonly meta: Table<unknown, string>
  /** Share links and their wrong-password counters (stores/sharing.ts). */
  readonly shares: ShareStore
  /** See blocks.ts. */
  readonly blockIndex: Table<true, [string, string]>
  /** Audits and reputation per resource node (stores/reputation.ts). */
  readonly reputation: ReputationStore
  /** See repair/shard-index.ts. */
  readonly shardFiles: Table<true, Pair>
  /** Repair copies in flight and hot segments' replicas (stores/repair.ts). */
  readonly repair: RepairStore
  /** Proof of Traffic bookkeeping: settled serials, traffic credits, reports (pot/pot-store.ts owns the table). */
  readonly pot: PotStore
  /** Read grants (stores/sharing.ts). */
  readonly grants: GrantStore
  /** Public-read budgets and their spending (stores/sharing.ts). */
  readonly budgets: BudgetStore
  /** cid → publisher: the public files, for anonymous listing. */
  readonly publicFiles: Table<string, string>
  /** Delegations (delegations.ts owns the layout: ['id', id] → record, ['owner', owner, id] → true). */
  readonly delegations: Table<DelegationRecord | true, (string | number)[]>
  /** Background duties' leases (leases.ts): duty name → Lease. */
  readonly leases: Table<Lease, string>
  #closed = false

  private constructor(engine: StorageEngine) {
    this.#engine = engine
    const t = engine.openTables<MetaTables>(TABLE_NAMES)
    this.files = t.files
    this.blocks = t.blocks
    this.owners = t.owners
    this.sessions = t.sessions
    this.sessionSegments = t.sessionSegments
    this.sessionTickets = t.sessionTickets
    this.sessionExpiry = t.sessionExpiry
    this.sessionLocations = t.sessionLocations
    this.nodes = new TableNodeStore(t.nodes)
    this.locations = new TableLocationStore(t.refs, t.bad, t.deletes)
    this.nonces = new TableNonceStore(t.nonces, t.nonceExpiry)
    this.meta = t.meta
    this.shares = new TableShareStore(t.shares, t.shareAttempts)
    this.blockIndex = t.blockIndex
    this.reputation = new TableReputationStore(t.reputation)
    this.shardFiles = t.shardFiles
    this.repair = new TableRepairStore(t.repairing, t.replicas)
    this.pot = new TablePotStore(t.pot)
    this.grants = new TableGrantStore(t.grants)
    this.budgets = new TableBudgetStore(t.budgets)
    this.publicFiles = t.publicFiles
    this.leases = t.leases
    this.delegations = t.delegations
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
      const found = store.meta.get('schema')
      if (found === undefined) {
        store.meta.putSync('schema', STORE_SCHEMA_VERSION)
        store.meta.putSync('counters', { files: 0, fileBytes: 0 } satisfies Counters)
      }
      return found
    })
    if (schema !== undefined && schema !== STORE_SCHEMA_VERSION) {
      await engine.close()
      throw new StratosError(
        'NETWORK_CONFIG',
        `meta index at ${redactUrl(location)} has schema ${String(schema)}, this software reads ${STORE_SCHEMA_VERSION}`,
      )
    }
    await backfillBlockIndex(store)
    await backfillSessionLocations(store)
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
   * Inside write(): the keys the transaction is about to read, read at once where reads are round trips (PostgreSQL;
   * engine/table.ts). Only a hint: every read answers the same without it.
   */
  prefetch(reads: PrefetchRead[]): void {
    this.#engine.prefetch(reads)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#engine.close()
  }

  // ---- Counters --------------------------------------------------------------------------

  counters(): Counters {
    return (this.meta.get('counters') as Counters | undefined) ?? { files: 0, fileBytes: 0 }
  }

  /** Inside write(). */
  addCounters(files: number, fileBytes: number): void {
    const c = this.counters()
    this.meta.putSync('counters', { files: c.files + files, fileBytes: c.fileBytes + fileBytes } satisfies Counters)
  }

  openUploads(): number {
    return this.sessions.getCount()
  }

  // ---- Upload sessions' ticketed locations ----------------------------------------------

  /** Inside write(): upload `uploadId` got a PUT ticket for (node, shard). */
  addSessionTicket(uploadId: string, node: string, shard: string): void {
    this.sessionTickets.putSync([uploadId, node, shard], true)
    this.sessionLocations.putSync([node, shard, uploadId], true)
  }

  /** Inside write(): the session ends; forget one of its ticketed locations. */
  removeSessionTicket(uploadId: string, node: string, shard: string): void {
    this.sessionTickets.removeSync([uploadId, node, shard])
    this.sessionLocations.removeSync([node, shard, uploadId])
  }

  /** Some open upload holds a PUT ticket for (node, shard): its bytes may not be written yet. */
  sessionHoldsLocation(node: string, shard: string): boolean {
    for (const _ of this.sessionLocations.getKeys({
      start: [node, shard, ''],
      end: [node, shard, KEY_STRING_MAX],
      limit: 1,
    }))
      return true
    return false
  }

  // ---- Ranges -------------------------------------------------------------------------------

  sessionSegmentList(uploadId: string): SessionSegment[] {
    return [...this.sessionSegments.getRange({ start: [uploadId, 0], end: [uploadId, Number.MAX_SAFE_INTEGER] })].map(
      (e) => e.value,
    )
  }

  sessionTicketPairs(uploadId: string): Pair[] {
    const out: Pair[] = []
    for (const key of this.sessionTickets.getKeys({
      start: [uploadId, '', ''],
      end: [uploadId, KEY_STRING_MAX, KEY_STRING_MAX],
    }))
      out.push([key[1], key[2]])
    return out
  }

  fileBlocks(cid: string): Uint8Array[] {
    return [...this.blocks.getRange({ start: [cid, 0], end: [cid, Number.MAX_SAFE_INTEGER] })].map((e) => e.value)
  }

  /** Sessions whose expiry is at or before `now`, oldest first. */
  expiredSessions(now: number, limit: number): string[] {
    const out: string[] = []
    for (const key of this.sessionExpiry.getKeys({ end: [now + 1, ''], limit })) out.push(key[1])
    return out
  }
}

/** An index written before `sessionLocations` existed: index the open uploads' ticketed locations once. */
async function backfillSessionLocations(store: MetaStore): Promise<void> {
  for (const _ of store.sessionLocations.getKeys({ limit: 1 })) return
  let tickets = false
  for (const _ of store.sessionTickets.getKeys({ limit: 1 })) tickets = true
  if (!tickets) return
  await store.write(() => {
    for (const [uploadId, node, shard] of store.sessionTickets.getKeys())
      store.sessionLocations.putSync([node, shard, uploadId], true)
  })
}
