/**
 * The meta node's state owners: one store per subsystem, each the only code that reads or writes its tables of the
 * meta index (store.ts opens the tables and hands each store its own; nothing else gets a table).
 *
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
 *   (elsewhere)    PotStore (pot/pot-store.ts), DelegationStore (delegations.ts), leases (leases.ts)
 *
 * Every store is one implementation over the engine contract (engine/table.ts), so the same code runs on LMDB (the
 * embedded default) and on PostgreSQL (`--index postgres://…`); test/sds/meta/engine/store-suite.ts holds each
 * store to its behaviour on both engines.
 *
 * Calling convention: methods documented "inside write()" must run inside a MetaStore.write transaction (the unit
 * of work: a nonce is recorded in the same transaction as the effect it authorises, a file's refs with its
 * record); reads may run anywhere and see committed data (inside write, also its own writes).
 *
 * Async later: today every method is synchronous because the engines are (PostgreSQL blocks the event loop per
 * round trip in engine/pg-bridge.ts). The interfaces are shaped so they can become `Promise`-returning without a
 * redesign: methods take and return plain values (arrays bounded by a `limit`, never a live cursor or a Table),
 * each names one operation a subsystem needs (so a SQL implementation can answer it in one statement), and no
 * caller relies on a method's result being available in the same tick beyond the surrounding write().
 */
export type { NodeStore } from './nodes.ts'
export type { LocationStore } from './locations.ts'
export type { NonceStore } from './nonces.ts'
export type { BudgetStore, GrantStore, ShareStore } from './sharing.ts'
export type { ReputationStore } from './reputation.ts'
export type { RepairStore } from './repair.ts'
