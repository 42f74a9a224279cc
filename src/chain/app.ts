/**
 * ChainApp: the deterministic state machine of the STOS ledger.
 *
 * It takes ordered blocks of signed transactions and knows nothing of how they were agreed
 * (consensus), carried (networking) or stored (the block store): the chain node feeds it blocks
 * and persists what it commits through the `BatchKvStore` it was given.
 *
 *   genesis(config)   writes the first state (height 0)
 *   checkTx(tx)       the admission check of a mempool: chain id, signature, nonce, fee, balance
 *   applyBlock(block) runs every transaction, then the end-block hooks, and commits in one batch
 *
 * A block's transactions run in order, each in its own overlay:
 *   - ante (the checkTx checks against the state so far in the block); a failure rejects the
 *     transaction: it is listed with its error code and changes nothing;
 *   - the fee moves to the fee collector and the sender's nonce increments;
 *   - the messages run in a nested overlay; if one fails, all of its messages' writes are dropped
 *     (the fee and nonce stay: the transaction was included and its signature consumed).
 * End of block: undelegations and node deposits whose unbonding ends at this height are paid back;
 * the collected fees go to the proposer if it is a validator (otherwise they wait for one); every
 * `epochBlocks` blocks the epoch ends and its rewards are distributed (state/pot.ts).
 *
 * The state hash after each block is described in state/state-hash.ts.
 */
import { StratosError, toStratosError, type ErrorCode } from '../errors.ts'
import { writeGenesis, readChainConfig, type GenesisConfig } from './genesis.ts'
import { MODULE_ACCOUNTS, type ChainParams } from './params.ts'
import { ChainQueries } from './queries.ts'
import { SignatureCache } from './signature-cache.ts'
import { accountNonce, incrementNonce } from './state/auth.ts'
import { balanceOf, transfer } from './state/bank.ts'
import { EventLog, type BlockInfo, type ChainEvent, type ExecContext, type TxContext } from './state/context.ts'
import { decodeText, encodeText } from './state/codec.ts'
import { MemoryKvStore, type BatchKvStore, type KvStore, type KvWrite } from './state/kv.ts'
import { OverlayKv } from './state/overlay.ts'
import { completeUnbondings, getValidator, syncConsensusSet, type ValidatorUpdate } from './state/staking.ts'
import { handleConsensusInfo, type ConsensusInfo } from './state/validator-slashing.ts'
import { completeNodeUnbondings } from './state/register.ts'
import { currentEpoch, endEpoch } from './state/pot.ts'
import { runMsg } from './state/router.ts'
import { checkMsgsStateless } from './state/stateless.ts'
import { APP_PREFIX, chainStateHash, effectiveWrites, GENESIS_PARENT_HASH, stateDigest } from './state/state-hash.ts'
import {
  ensureValidTx,
  recoverTxSigner,
  txEnvelope,
  type SignedTx,
  type TxEnvelope,
  type TxSignerRecovery,
} from './tx.ts'

export interface Block {
  /** Must be the last committed height + 1. */
  readonly height: number
  /** Unix milliseconds, from the block header; not before the previous block's time. */
  readonly time: number
  /** Operator address of the validator that proposed the block (receives the fees). */
  readonly proposer: string
  readonly txs: readonly SignedTx[]
  /** Votes on the previous block and double-sign evidence, from consensus (CometBFT); none in the embedded engine. */
  readonly consensus?: ConsensusInfo
}

export interface TxResult {
  readonly hash: string
  /** 'OK', or the error code of the rejection (ante) or of the failed message. */
  readonly code: 'OK' | ErrorCode
  readonly message?: string
  /** False when ante rejected the transaction: nothing changed, no fee, no nonce. */
  readonly included: boolean
  readonly fee: bigint
  readonly events: readonly ChainEvent[]
}

export interface BlockResult {
  readonly height: number
  readonly time: number
  /** The epoch the block belongs to (as it started). */
  readonly epoch: number
  readonly stateHash: string
  readonly results: readonly TxResult[]
  /** Events of the begin-block (validator slashing) and end-block hooks (unbondings, fees, epoch end). */
  readonly events: readonly ChainEvent[]
  /** Number of state keys the block changed. */
  readonly writes: number
  /** Changes of the consensus set (staking.ts syncConsensusSet), for CometBFT; empty when none. */
  readonly validatorUpdates: readonly ValidatorUpdate[]
}

/** A block executed but not yet committed (a proposer can put the state hash in the header first). */
export interface PendingBlock {
  readonly result: BlockResult
  /** Persists the block's writes in one batch; throws BAD_BLOCK if another block was committed meanwhile. */
  commit(): void
}

export interface CheckTxOptions {
  /**
   * The nonce a mempool expects next from this sender when it already holds some of the
   * sender's transactions (default: the account nonce; one below the account nonce counts as
   * the account nonce). A nonce below the account nonce is still REPLAYED_NONCE.
   */
  expectedNonce?: bigint
}

export interface CheckedTx {
  readonly hash: string
  readonly sender: string
  readonly nonce: bigint
  readonly fee: bigint
  /** Bytes of the canonical JSON of the signed transaction. */
  readonly size: number
}

/** A serialisable copy of the state (for snapshots and tests). */
export interface StateSnapshot {
  readonly format: 'stratos-chain-state/v1'
  readonly chainId: string
  readonly height: number
  readonly time: number
  readonly stateHash: string
  /** sha256 over the sorted entries (state-hash.ts `stateDigest`). */
  readonly digest: string
  /** [key, value as base64], ascending by key, `app/` excluded. */
  readonly entries: ReadonlyArray<readonly [string, string]>
}

export interface ChainAppOptions {
  /**
   * How transaction signatures are recovered. Default: `recoverTxSigner` (@noble/curves, pure
   * JS, slow: bench/README.md). A faster backend (e.g. native libsecp256k1) must give exactly the
   * same answer for every input, canonical-signature rules included, or nodes will disagree.
   */
  recoverSigner?: TxSignerRecovery
}

const META = { height: `${APP_PREFIX}height`, stateHash: `${APP_PREFIX}state_hash`, time: `${APP_PREFIX}time` } as const

export class ChainApp {
  readonly store: BatchKvStore
  readonly chainId: string
  readonly params: ChainParams
  readonly genesisTime: number
  /** Read-only views of the committed state. */
  readonly query: ChainQueries
  readonly #signatures = new SignatureCache()
  readonly #recoverSigner: TxSignerRecovery
  #height: number
  #time: number
  #stateHash: string

  private constructor(store: BatchKvStore, options: ChainAppOptions) {
    this.#recoverSigner = options.recoverSigner ?? recoverTxSigner
    const config = readChainConfig(store)
    if (!config) throw new StratosError('NETWORK_CONFIG', 'the store holds no chain state (run genesis first)')
    this.store = store
    this.chainId = config.chainId
    this.params = config.params
    this.genesisTime = config.genesisTime
    this.#height = Number(readMeta(store, META.height))
    this.#time = Number(readMeta(store, META.time))
    this.#stateHash = readMeta(store, META.stateHash)
    this.query = new ChainQueries(store, this.params)
  }

  /** Writes the genesis state into an empty store and opens it (height 0). */
  static genesis(
    config: GenesisConfig,
    store: BatchKvStore = new MemoryKvStore(),
    options: ChainAppOptions = {},
  ): ChainApp {
    for (const _ of store.iterate('')) throw new StratosError('CONFLICT', 'genesis needs an empty store')
    const overlay = new OverlayKv(store)
    writeGenesis(overlay, config)
    const writes = effectiveWrites(store, overlay.writes())
    const stateHash = chainStateHash(GENESIS_PARENT_HASH, writes)
    store.writeBatch([...writes, ...metaWrites(0, config.genesisTime, stateHash)])
    return new ChainApp(store, options)
  }

  /** Opens a store that already holds chain state (after a restart). */
  static open(store: BatchKvStore, options: ChainAppOptions = {}): ChainApp {
    return new ChainApp(store, options)
  }

  /** Height of the last committed block (0 = genesis). */
  get height(): number {
    return this.#height
  }

  /** Time of the last committed block (genesis time at height 0). */
  get time(): number {
    return this.#time
  }

  /** State hash after the last committed block. */
  get stateHash(): string {
    return this.#stateHash
  }

  get epoch(): number {
    return currentEpoch(this.store)
  }

  /**
   * Mempool admission: throws WRONG_CHAIN, INVALID_SIGNATURE, REPLAYED_NONCE / BAD_NONCE,
   * INSUFFICIENT_FEE or INSUFFICIENT_FUNDS (fee not covered), BAD_REQUEST for a malformed tx or
   * a message outside the chain's parameter bounds (state/stateless.ts: below-minimum deposits).
   * Messages are not executed (they may still fail in the block, which costs the fee).
   */
  checkTx(signed: SignedTx, options: CheckTxOptions = {}): CheckedTx {
    const env = txEnvelope(ensureValidTx(signed))
    const sender = this.#ante(this.store, env, options.expectedNonce)
    return { hash: env.hash, sender, nonce: env.signed.tx.nonce, fee: env.signed.tx.fee, size: env.size }
  }

  /**
   * Signers recovered outside this app — by a RecoveryPool whose workers run this app's own
   * recovery backend (recovery-pool.ts checks that when it starts) — for the same envelopes:
   * checkTx and block execution then use them instead of recovering again. A signature that did
   * not recover (null) is remembered as '' (matches no sender: INVALID_SIGNATURE without a second
   * recovery).
   * The caller guarantees the backend is the same: a different one could make this node accept
   * what others reject.
   */
  rememberSigners(envelopes: readonly TxEnvelope[], signers: ReadonlyArray<string | null>): void {
    envelopes.forEach((env, i) => {
      const signer = signers[i]
      if (signer !== undefined) this.#signatures.set(env.hash, signer ?? '')
    })
  }

  /** True when checkTx / block execution would recover this tx's signer again (not cached). */
  needsRecovery(envelope: TxEnvelope): boolean {
    return this.#signatures.get(envelope.hash) === undefined
  }

  /**
   * A proposer's trial run of the next block (CometBFT PrepareProposal): `tryTx` runs one tx as block execution
   * would — ante, fee, nonce, messages — on an overlay of the committed state after the txs it accepted before,
   * and answers whether it passes ante (a tx whose messages fail still passes: it is included and pays its fee).
   * The begin- and end-block hooks do not run; nothing is ever persisted. Not consensus-critical: it only decides
   * what a proposer puts in its block.
   */
  proposalTrial(info: Omit<BlockInfo, 'epoch'>): { tryTx(tx: SignedTx): boolean } {
    const blockStore = new OverlayKv(this.store)
    const full: BlockInfo = { ...info, epoch: currentEpoch(blockStore) }
    return { tryTx: (tx) => this.#deliverTx(blockStore, full, tx).included }
  }

  /** Executes and commits a block. */
  applyBlock(block: Block): BlockResult {
    const pending = this.executeBlock(block)
    pending.commit()
    return pending.result
  }

  /** Executes a block on an overlay of the committed state; nothing is persisted until `commit()`. */
  executeBlock(block: Block): PendingBlock {
    if (!Number.isSafeInteger(block.height) || block.height !== this.#height + 1) {
      throw new StratosError('BAD_BLOCK', `expected block ${this.#height + 1}, got ${block.height}`, {
        expected: this.#height + 1,
        got: block.height,
      })
    }
    if (!Number.isSafeInteger(block.time) || block.time < this.#time) {
      throw new StratosError('BAD_BLOCK', `block time ${block.time} is before the previous block's ${this.#time}`)
    }
    const blockStore = new OverlayKv(this.store)
    const info: BlockInfo = {
      height: block.height,
      time: block.time,
      proposer: block.proposer,
      epoch: currentEpoch(blockStore),
    }
    const begin = this.#beginBlock(blockStore, info, block.consensus)
    const results = block.txs.map((tx) => this.#deliverTx(blockStore, info, tx))
    const end = this.#endBlock(blockStore, info)
    const events = [...begin, ...end.events]
    const writes = effectiveWrites(this.store, blockStore.writes())
    const parentHash = this.#stateHash
    const stateHash = chainStateHash(parentHash, writes)
    const result: BlockResult = {
      height: block.height,
      time: block.time,
      epoch: info.epoch,
      stateHash,
      results,
      events,
      writes: writes.length,
      validatorUpdates: end.validatorUpdates,
    }
    return {
      result,
      commit: () => {
        if (this.#height !== block.height - 1 || this.#stateHash !== parentHash)
          throw new StratosError('BAD_BLOCK', `block ${block.height} was executed on a state that has since changed`)
        this.store.writeBatch([...writes, ...metaWrites(block.height, block.time, stateHash)])
        this.#height = block.height
        this.#time = block.time
        this.#stateHash = stateHash
      },
    }
  }

  #deliverTx(blockStore: KvStore, info: BlockInfo, tx: SignedTx): TxResult {
    let env: TxEnvelope
    try {
      env = txEnvelope(ensureValidTx(tx))
    } catch (e) {
      const err = toStratosError(e)
      return { hash: '', code: err.code, message: err.message, included: false, fee: 0n, events: [] }
    }
    const txStore = new OverlayKv(blockStore)
    let sender: string
    try {
      sender = this.#ante(txStore, env)
    } catch (e) {
      const err = toStratosError(e)
      return { hash: env.hash, code: err.code, message: err.message, included: false, fee: 0n, events: [] }
    }
    const { fee, msgs } = env.signed.tx
    transfer(txStore, sender, MODULE_ACCOUNTS.feeCollector, fee)
    incrementNonce(txStore, sender)
    const msgStore = new OverlayKv(txStore)
    const log = new EventLog()
    const ctx: TxContext = {
      store: msgStore,
      params: this.params,
      chainId: this.chainId,
      block: info,
      sender,
      txHash: env.hash,
      emit: (t, a) => log.emit(t, a),
    }
    let result: TxResult
    try {
      for (const msg of msgs) runMsg(ctx, msg)
      msgStore.commit()
      result = { hash: env.hash, code: 'OK', included: true, fee, events: log.events }
    } catch (e) {
      msgStore.discard()
      const err = toStratosError(e)
      result = { hash: env.hash, code: err.code, message: err.message, included: true, fee, events: [] }
    }
    txStore.commit()
    return result
  }

  /** The checks every transaction passes before it can change anything. Returns the sender. */
  #ante(store: KvStore, env: TxEnvelope, expectedNonce?: bigint): string {
    const tx = env.signed.tx
    if (tx.chainId !== this.chainId) {
      throw new StratosError('WRONG_CHAIN', `transaction is for chain ${tx.chainId}, this is ${this.chainId}`, {
        expected: this.chainId,
        got: tx.chainId,
      })
    }
    let signer = this.#signatures.get(env.hash)
    if (signer === undefined) {
      signer = this.#recoverSigner(env) ?? ''
      if (signer) this.#signatures.set(env.hash, signer)
    }
    if (signer !== tx.sender) throw new StratosError('INVALID_SIGNATURE', 'the signature does not match the sender')
    const accountNonceNow = accountNonce(store, tx.sender)
    if (tx.nonce < accountNonceNow) {
      throw new StratosError(
        'REPLAYED_NONCE',
        `nonce ${tx.nonce} was already used; the account nonce is ${accountNonceNow}`,
        { expected: accountNonceNow.toString(), got: tx.nonce.toString() },
      )
    }
    const expected = expectedNonce !== undefined && expectedNonce > accountNonceNow ? expectedNonce : accountNonceNow
    if (tx.nonce !== expected)
      throw new StratosError('BAD_NONCE', `expected nonce ${expected}, got ${tx.nonce}`, {
        expected: expected.toString(),
        got: tx.nonce.toString(),
      })
    if (tx.fee < this.params.minFeeWei) {
      throw new StratosError('INSUFFICIENT_FEE', `fee ${tx.fee} is below the minimum ${this.params.minFeeWei}`, {
        min: this.params.minFeeWei.toString(),
      })
    }
    const balance = balanceOf(store, tx.sender)
    if (balance < tx.fee)
      throw new StratosError('INSUFFICIENT_FUNDS', `balance ${balance} does not cover the fee ${tx.fee}`, {
        balance: balance.toString(),
      })
    // Parameter bounds a wallet can check before signing: rejected without a fee (state/stateless.ts).
    checkMsgsStateless(this.params, tx.msgs)
    return tx.sender
  }

  /** Begin block: what consensus reported about the previous block (validator-slashing.ts). */
  #beginBlock(store: KvStore, info: BlockInfo, consensus: ConsensusInfo | undefined): ChainEvent[] {
    if (!consensus) return []
    const log = new EventLog()
    handleConsensusInfo(this.#execContext(store, info, log), consensus)
    return log.events
  }

  #execContext(store: KvStore, info: BlockInfo, log: EventLog): ExecContext {
    return { store, params: this.params, chainId: this.chainId, block: info, emit: (t, a) => log.emit(t, a) }
  }

  #endBlock(store: KvStore, info: BlockInfo): { events: ChainEvent[]; validatorUpdates: ValidatorUpdate[] } {
    const log = new EventLog()
    const ctx = this.#execContext(store, info, log)
    completeUnbondings(ctx)
    completeNodeUnbondings(ctx)
    const fees = balanceOf(store, MODULE_ACCOUNTS.feeCollector)
    if (fees > 0n && getValidator(store, info.proposer)) {
      transfer(store, MODULE_ACCOUNTS.feeCollector, info.proposer, fees)
      ctx.emit('fees', { proposer: info.proposer, amount: fees })
    }
    if (info.height % this.params.epochBlocks === 0) endEpoch(ctx)
    const validatorUpdates = syncConsensusSet(store)
    return { events: log.events, validatorUpdates }
  }

  /** The whole state as a snapshot (O(state); for export, tests and state sync). */
  exportState(): StateSnapshot {
    const entries: Array<readonly [string, string]> = []
    for (const [k, v] of this.store.iterate(''))
      if (!k.startsWith(APP_PREFIX)) entries.push([k, Buffer.from(v).toString('base64')])
    return {
      format: 'stratos-chain-state/v1',
      chainId: this.chainId,
      height: this.#height,
      time: this.#time,
      stateHash: this.#stateHash,
      digest: stateDigest(this.store),
      entries,
    }
  }

  /**
   * Loads a snapshot into an empty store and opens it. The entries are checked against the
   * snapshot's digest; the state hash is taken from the snapshot (it is history-dependent: trust
   * it as you trust the snapshot's source).
   */
  static importState(
    snapshot: StateSnapshot,
    store: BatchKvStore = new MemoryKvStore(),
    options: ChainAppOptions = {},
  ): ChainApp {
    if (snapshot.format !== 'stratos-chain-state/v1')
      throw new StratosError('BAD_REQUEST', `unknown snapshot format ${String(snapshot.format)}`)
    for (const _ of store.iterate('')) throw new StratosError('CONFLICT', 'importState needs an empty store')
    const staging = new MemoryKvStore()
    for (const [k, v] of snapshot.entries) {
      if (k.startsWith(APP_PREFIX))
        throw new StratosError('BAD_REQUEST', `snapshot entry ${k} is bookkeeping, not state`)
      staging.set(k, new Uint8Array(Buffer.from(v, 'base64')))
    }
    if (stateDigest(staging) !== snapshot.digest)
      throw new StratosError('HASH_MISMATCH', 'snapshot entries do not match its digest')
    const writes: KvWrite[] = [...staging.iterate('')]
    store.writeBatch([...writes, ...metaWrites(snapshot.height, snapshot.time, snapshot.stateHash)])
    const app = new ChainApp(store, options)
    if (app.chainId !== snapshot.chainId)
      throw new StratosError('BAD_REQUEST', 'snapshot chain id does not match its state')
    return app
  }
}

function metaWrites(height: number, time: number, stateHash: string): KvWrite[] {
  return [
    [META.height, encodeText(String(height))],
    [META.stateHash, encodeText(stateHash)],
    [META.time, encodeText(String(time))],
  ]
}

function readMeta(store: KvStore, key: string): string {
  const v = store.get(key)
  if (v === undefined) throw new StratosError('NETWORK_CONFIG', `chain state has no ${key}`)
  return decodeText(v)
}
