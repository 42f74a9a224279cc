/** Resource node: stores shards in a content-addressed directory, serves them verified, heartbeats to the meta node. */
export { ResourceNode, startResourceNode, type ResourceNodeOptions } from './node.ts'
export { ShardStore, type ShardStoreOptions, type StoreStats, type PutOptions, type PutResult } from './store.ts'
export { ShardReader } from './shard-reader.ts'
export { ResourceServer, type ResourceServerComponents } from './server.ts'
export { HeartbeatLoop, type HeartbeatComponents } from './heartbeat.ts'
export { MetaTrust, META_PIN_FILE } from './meta-trust.ts'
export { parseRange, type ByteRange } from './range.ts'
export { shardFileBytes, shardSizeFromFileBytes } from './shard-file.ts'
