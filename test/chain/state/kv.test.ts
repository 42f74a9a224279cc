/** MemoryKvStore (src/chain/state/kv.ts) against the BatchKvStore compliance suite (./kv-suite.ts). */
import { MemoryKvStore } from '../../../src/chain/state/kv.ts'
import { kvSuite } from './kv-suite.ts'

kvSuite('MemoryKvStore', () => new MemoryKvStore())
