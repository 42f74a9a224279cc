/** Resource node: stores shards in a content-addressed directory, serves them verified, heartbeats to the meta node. */
export { ResourceNode, startResourceNode, type ResourceNodeOptions } from './node.ts'
export {
  ShardStore,
  type ShardStoreOptions,
  type StoreStats,
  type PutOptions,
  type PutResult,
  type RecoveryReport,
} from './store.ts'
export {
  ShardFlusher,
  SYNC_MODES,
  DEFAULT_SYNC_MODE,
  isSyncMode,
  type SyncMode,
  type SyncOps,
  type SyncState,
  type FlusherStats,
} from './flusher.ts'
export { ShardReader } from './shard-reader.ts'
export { ResourceServer, type ResourceServerComponents } from './server.ts'
export { HeartbeatLoop, type HeartbeatComponents } from './heartbeat.ts'
export { MetaTrust, META_PIN_FILE } from './meta-trust.ts'
export { parseRange, type ByteRange } from './range.ts'
export { shardFileBytes, shardSizeFromFileBytes } from './shard-file.ts'
export { OrderBook, type OrderBookOptions, type AdmitParameters } from './orders.ts'
export { OrderStore, type OrderState, type StoredSerial } from './order-store.ts'
export { SettlementLoop, type SettlementComponents, type SettlementRound } from './settlement.ts'
