/**
 * The meta node's state owners: one store per subsystem, each the only code that reads or writes its tables of the
 * meta index (store.ts opens the tables and hands each store its own; nothing else gets a table).
 *
 *   files.ts       FileStore      `files`, `blocks`, `owners`,  stored records with their DAG blocks, owner entries,
 *                                 `publicFiles`, `blockIndex`,  public listing, block and shard indexes and counters
 *                                 `shardFiles`, meta 'counters' (files.ts, uploads.ts commit, access.ts, blocks.ts,
 *                                                               repair/)
 *   uploads.ts     UploadStore    `sessions`, `sessionSegments`,
 *                                 `sessionTickets`,             open upload sessions (uploads.ts; settlement and the
 *                                 `sessionLocations`,           auditor ask whether a location is an open upload's)
 *                                 `sessionExpiry`
 *   nodes.ts       NodeStore      `nodes`                       the resource-node registry (registry.ts)
 *   locations.ts   LocationStore  `refs`, `bad`, `deletes`      which (node, shard) locations are referenced, reported
 *                                                               bad or queued for deletion (placement, the heartbeat's
 *                                                               delete lists, audits, repair, settlement)
 *   nonces.ts      NonceStore     `nonces`, `nonceExpiry`       wallet requests' nonces (auth.ts and every signed op)
 *   sharing.ts     ShareStore     `shares`, `shareAttempts`     share links and wrong-password counts (shares.ts)
 *                  GrantStore     `grants`                      read grants (grants.ts)
 *                  BudgetStore    `budgets`                     public-read budgets and their spending (access.ts)
 *   reputation.ts  ReputationStore `reputation`                audit and online scores per node (audit/reputation.ts)
 *   repair.ts      RepairStore    `repairing`, `replicas`       copies in flight and hot segments' replicas (repair/,
 *                                                               and the auditor: a copy in flight is not audited)
 *   leases.ts      LeaseStore     `leases`                      which process runs a background duty (leases.ts)
 *   ozone.ts       OzoneStore     `ozone`                       per payer: ozone promised under unexpired limits,
 *                                                               leased to a process, accepted and not yet charged
 *                                                               (pot/ozone-guard.ts, settlement, reports)
 *   (elsewhere)    PotStore (pot/pot-store.ts: `pot`); delegations.ts's records (`delegations`, OwnedRecords in
 *                  sharing.ts); MetaStore itself keeps `meta` 'schema' and 'accessSecret'
 *
 * Every store is one implementation over the engine contract (engine/table.ts), so the same code runs on LMDB (the
 * embedded default) and on PostgreSQL (`--index postgres://…`); test/sds/meta/engine/store-suite.ts holds each
 * store to its behaviour on both engines.
 *
 * Calling convention: methods documented "inside write()" must run inside a MetaStore.write transaction (the unit
 * of work: a nonce is recorded in the same transaction as the effect it authorises, a file's refs with its
 * record); reads may run anywhere and see committed data (inside write, also its own writes).
 *
 * Synchronous methods, asynchronous transactions: every method is synchronous. Inside write() that costs nothing on
 * PostgreSQL: the engine runs `fn` against what the transaction has read and runs it again after each round of
 * reads it lacked (engine/postgres.ts), so a transaction never blocks the event loop; a store that knows what it will
 * read offers `reads()` for MetaStore.prefetch, so a transaction takes one round of reads instead of several. Outside
 * write() a read is a blocking round trip on PostgreSQL (engine/pg-bridge.ts). The interfaces are shaped so each method can become `Promise`-returning without
 * a redesign: methods take and return plain values — arrays, bounded by a `limit` wherever a table grows with use,
 * never a live cursor or a Table — and each names one operation a subsystem needs, so a SQL implementation can
 * answer it in one statement (or a few) instead of key by key. What the switch would change is the callers: a
 * method called inside write() becomes an `await`, so write(fn) would take an async `fn` (and the engines' write()
 * with it), which is the part left for later.
 */
export type { FileStore } from './files.ts'
export type { UploadStore } from './uploads.ts'
export type { LeaseStore } from './leases.ts'
export type { OzoneStore } from './ozone.ts'
export type { NodeStore } from './nodes.ts'
export type { LocationStore } from './locations.ts'
export type { NonceStore } from './nonces.ts'
export type { BudgetStore, GrantStore, ShareStore } from './sharing.ts'
export type { ReputationStore } from './reputation.ts'
export type { RepairStore } from './repair.ts'
