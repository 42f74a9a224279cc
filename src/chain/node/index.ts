/**
 * The chain node (`stratos node validator`): LMDB store + state machine + mempool + single
 * proposer + REST API, wired together.
 *
 * First start on an empty data directory: the genesis (given, or `dataDir/genesis.json` if a
 * previous start wrote it, or a devnet genesis funding `wallets`) is copied to
 * `dataDir/genesis.json` (atomic write) and written into LMDB. Later starts open LMDB and resume at
 * its height and state hash. `stop()` stops producing (the block being built is always complete:
 * execution and commit are synchronous), closes the API, then the store.
 */
import { createOps, type Ops } from '../../net/ops.ts'
import { registerChainMetrics } from './metrics.ts'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { StratosError } from '../../errors.ts'
import { DEFAULT_PORTS, DEVNET_CHAIN_ID } from '../../limits.ts'
import { silentLogger, systemClock, type Clock, type Logger } from '../../util/components.ts'
import { writeFileAtomic } from '../../util/fs.ts'
import { ChainApp, type ChainAppOptions } from '../app.ts'
import { decodeGenesis, devnetGenesis, type GenesisConfig } from '../genesis.ts'
import { DEVNET_BLOCK_INTERVAL_MS, RECOVERY_WORKERS } from '../params.ts'
import { RecoveryPool } from '../recovery-pool.ts'
import { recoverTxSigner } from '../tx.ts'
import { Blockchain } from './blockchain.ts'
import { LmdbChainStore } from './lmdb-store.ts'
import { Mempool, type MempoolLimits } from './mempool.ts'
import { SingleProposer } from './producer.ts'
import { ChainRestServer } from './rest.ts'

export { blockHash, genesisHeader, txMerkleRoot, type BlockHeader } from './block.ts'
export { Blockchain, type CommittedBlock, type ExecutedBlock, type OrderedBlock, type StoredTx } from './blockchain.ts'
export { LmdbChainStore, LmdbKvStore, type BlockRecordWrite } from './lmdb-store.ts'
export { Mempool, DEFAULT_MEMPOOL_LIMITS, type MempoolLimits } from './mempool.ts'
export { SingleProposer, type Consensus } from './producer.ts'
export { ChainRestServer } from './rest.ts'

export const GENESIS_FILE = 'genesis.json'

export interface ValidatorOptions {
  dataDir: string
  host?: string
  /** Default DEFAULT_PORTS.chainRest (1317); 0 = ephemeral. */
  port?: number
  /** Chain id of the default devnet genesis; on restart, checked against the stored chain. */
  chainId?: string
  genesis?: GenesisConfig
  /** Dev wallets funded by the default devnet genesis (used when no genesis is given or stored). */
  wallets?: readonly string[]
  /** Operator address written as proposer; default: the first validator in the state, else none. */
  proposer?: string
  blockIntervalMs?: number
  clock?: Clock
  logger?: Logger
  /** Signature recovery backend (e.g. native libsecp256k1); see ChainAppOptions. */
  recoverSigner?: ChainAppOptions['recoverSigner']
  /**
   * Worker threads that recover signers for POST /txs and /txs/batch (recovery-pool.ts). Default:
   * RECOVERY_WORKERS when `recoverSigner` comes from createRecoverSigner() (its backend is known),
   * else 0 (recover on the main thread). If the workers cannot start, the node logs it and
   * recovers on the main thread.
   */
  recoveryWorkers?: number
  mempool?: Partial<MempoolLimits>
  /** Default MAX_SSE_SUBSCRIBERS. */
  maxSseSubscribers?: number
  /** /metrics, /healthz, /readyz (default its own, role `validator`). */
  ops?: Ops
}

export interface Validator {
  readonly url: string
  readonly chainId: string
  readonly height: number
  readonly stateHash: string
  readonly chain: Blockchain
  readonly producer: SingleProposer
  /** Metrics and readiness (served at /metrics, /healthz, /readyz on the REST port). */
  readonly ops: Ops
  stop(): Promise<void>
}

export async function startValidator(o: ValidatorOptions): Promise<Validator> {
  const clock = o.clock ?? systemClock
  const logger = o.logger ?? silentLogger
  const store = LmdbChainStore.open(o.dataDir)
  let rest: ChainRestServer | undefined
  let producer: SingleProposer | undefined
  let recovery: RecoveryPool | undefined
  try {
    const app = openChainApp(store, o, clock)
    recovery = await startRecoveryPool(o, logger)
    const mempool = new Mempool(app, o.mempool, recovery)
    const chain = new Blockchain(app, store, mempool)
    const proposer = o.proposer ?? app.query.validators()[0]?.operator ?? ''
    producer = new SingleProposer({
      chain,
      proposer,
      blockIntervalMs: o.blockIntervalMs ?? DEVNET_BLOCK_INTERVAL_MS,
      clock,
      logger,
    })
    const ops = o.ops ?? createOps('validator')
    const unsubscribeMetrics = registerChainMetrics(ops, chain, clock)
    rest = new ChainRestServer({
      chain,
      logger,
      ops,
      ...(o.maxSseSubscribers !== undefined ? { maxSseSubscribers: o.maxSseSubscribers } : {}),
    })
    const url = await rest.listen(o.host ?? '127.0.0.1', o.port ?? DEFAULT_PORTS.chainRest)
    await producer.start()
    logger.info({ url, chainId: app.chainId, height: app.height, stateHash: app.stateHash }, 'validator started')
    const p = producer,
      r = rest,
      pool = recovery
    let stopping: Promise<void> | undefined
    return {
      url,
      chainId: app.chainId,
      get height() {
        return chain.height
      },
      get stateHash() {
        return app.stateHash
      },
      chain,
      producer: p,
      ops,
      stop: () =>
        (stopping ??= (async () => {
          await p.stop()
          unsubscribeMetrics()
          await r.close()
          await pool?.stop()
          await store.close()
          logger.info({ height: chain.height }, 'validator stopped')
        })()),
    }
  } catch (e) {
    await producer?.stop()
    await rest?.close().catch(() => {})
    await recovery?.stop()
    await store.close()
    throw e
  }
}

/** The recovery pool the options ask for (see ValidatorOptions.recoveryWorkers), or undefined. */
async function startRecoveryPool(o: ValidatorOptions, logger: Logger): Promise<RecoveryPool | undefined> {
  const backend = (o.recoverSigner as { native?: unknown } | undefined)?.native
  const native = o.recoverSigner === undefined ? false : typeof backend === 'boolean' ? backend : undefined
  const workers = o.recoveryWorkers ?? (typeof backend === 'boolean' ? RECOVERY_WORKERS : 0)
  if (workers <= 0) return undefined
  if (native === undefined)
    throw new StratosError(
      'NETWORK_CONFIG',
      'recovery workers need a recoverSigner made by createRecoverSigner() (its backend must be known)',
    )
  try {
    return await RecoveryPool.start({ workers, native, fallback: o.recoverSigner ?? recoverTxSigner, logger })
  } catch (e) {
    logger.warn({ err: e }, 'signature recovery workers did not start; recovering on the main thread')
    return undefined
  }
}

/**
 * The ledger over `store`, whichever engine drives it: the state already in the data directory (refusing another
 * chain id), else a new chain from `initialGenesis` — its genesis written first, so a start killed before LMDB's
 * genesis commit comes back to the same chain.
 */
export function openChainApp(store: LmdbChainStore, o: ValidatorOptions, clock: Clock): ChainApp {
  const appOptions: ChainAppOptions = o.recoverSigner ? { recoverSigner: o.recoverSigner } : {}
  if (hasState(store)) {
    const app = ChainApp.open(store.state, appOptions)
    if (o.chainId !== undefined && o.chainId !== app.chainId)
      throw new StratosError('NETWORK_CONFIG', `data directory holds chain ${app.chainId}, not ${o.chainId}`)
    return app
  }
  const genesis = initialGenesis(o, clock)
  writeFileAtomic(join(o.dataDir, GENESIS_FILE), canonicalJson(genesis as unknown as CanonicalValue) + '\n')
  return ChainApp.genesis(genesis, store.state, appOptions)
}

export function hasState(store: LmdbChainStore): boolean {
  for (const _ of store.state.iterate('app/')) return true
  return false
}

export function initialGenesis(o: ValidatorOptions, clock: Clock): GenesisConfig {
  if (o.genesis) return o.genesis
  const file = join(o.dataDir, GENESIS_FILE)
  // A previous start wrote the file but was killed before LMDB's genesis commit: reuse it, so the
  // chain (genesis time included) is the one already handed out.
  if (existsSync(file)) return decodeGenesis(JSON.parse(readFileSync(file, 'utf8')))
  if (!o.wallets?.length)
    throw new StratosError('NETWORK_CONFIG', 'a new chain needs a genesis or at least one funded dev wallet')
  return devnetGenesis({ chainId: o.chainId ?? DEVNET_CHAIN_ID, wallets: o.wallets, genesisTime: clock.now() })
}
