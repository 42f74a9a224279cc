/**
 * The components most parts of the meta node share (js-libp2p style: each part takes the narrow set it needs,
 * and this is the common core of those sets): the LMDB index, the node registry, the decoded-record cache, the
 * meta node's signing key and chain id, and the injected clock, randomness and logger.
 */
import type { NodeKey } from '../../crypto/node-key.ts'
import type { Clock, Logger, RandomBytes } from '../../util/components.ts'
import type { RecordCache } from './record-cache.ts'
import type { Registry } from './registry.ts'
import type { MetaStore } from './store.ts'

export interface MetaCoreComponents {
  store: MetaStore
  registry: Registry
  records: RecordCache
  /** Signs tickets (order limits), heartbeat replies and audit challenges. */
  key: NodeKey
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
}
