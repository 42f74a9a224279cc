/**
 * The chain node's committer: takes an ordered block (from whatever consensus produced it),
 * executes it on the state machine, builds its header, persists state + block + tx index in one
 * LMDB transaction, prunes the mempool and then announces the block to listeners.
 *
 * It is the boundary between consensus and execution: consensus (producer.ts) decides which
 * transactions come next and when; this class never decides, it only applies in order.
 *
 * Stored block (canonical JSON text, served as is by GET /blocks/:height):
 *   { events, hash, header, results, txs }   txs: the signed txs (canonical JSON) in block order,
 *                                            results: one TxResult per tx (same order),
 *                                            events: the end-block events (unbondings, fees, epoch)
 */
import { canonicalJson, type CanonicalValue } from '../../crypto/canonical.ts'
import { StratosError } from '../../errors.ts'
import type { ChainApp, TxResult } from '../app.ts'
import type { ChainEvent } from '../state/context.ts'
import type { ValidatorUpdate } from '../state/staking.ts'
import type { ConsensusInfo } from '../state/validator-slashing.ts'
import { encodeSignedTx, txHash, type SignedTx } from '../tx.ts'
import { blockHash, genesisHeader, txMerkleRoot, type BlockHeader } from './block.ts'
import { accountTxKey, type AccountTxRef, type LmdbChainStore } from './lmdb-store.ts'
import type { Mempool } from './mempool.ts'

export interface CommittedBlock {
  readonly header: BlockHeader
  readonly hash: string
  readonly txHashes: readonly string[]
  readonly results: readonly TxResult[]
}

/** What a block needs besides its transactions. */
export interface OrderedBlock {
  readonly height: number
  readonly time: number
  readonly proposer: string
  readonly txs: readonly SignedTx[]
  /** Votes and evidence about the previous block (CometBFT); absent in the embedded engine. */
  readonly consensus?: ConsensusInfo
}

/** A block executed on the committed state, not yet persisted (Blockchain.execute). */
export interface ExecutedBlock {
  readonly block: CommittedBlock
  /** Events of the end-block hooks (unbondings, fees, epoch end). */
  readonly events: readonly ChainEvent[]
  /** Changes of the consensus set this block made (for CometBFT). */
  readonly validatorUpdates: readonly ValidatorUpdate[]
  /** Persists and announces the block; throws BAD_BLOCK if another block was committed since it was executed. */
  persist(): CommittedBlock
}

export type BlockListener = (block: CommittedBlock) => void

export interface StoredTx {
  height: number
  index: number
  result: TxResult
}

export class Blockchain {
  readonly app: ChainApp
  readonly store: LmdbChainStore
  readonly mempool: Mempool
  readonly #listeners = new Set<BlockListener>()
  #latest: { header: BlockHeader; hash: string }

  constructor(app: ChainApp, store: LmdbChainStore, mempool: Mempool) {
    this.app = app
    this.store = store
    this.mempool = mempool
    const last = store.lastBlockHeight()
    if (last === undefined && app.height === 0) {
      // Genesis state is written; its header is written in a second transaction (idempotent:
      // a kill between the two lands here again on restart, still at height 0).
      const header = genesisHeader(app.chainId, app.genesisTime, app.stateHash)
      const hash = blockHash(header)
      store.putBlockRecord({ height: 0, blockJson: storedBlockJson(header, hash, [], [], []), txs: [] })
      this.#latest = { header, hash }
    } else {
      if (last !== app.height)
        throw new StratosError(
          'NETWORK_CONFIG',
          `block store ends at height ${last}, state at ${app.height}: the data directory is inconsistent`,
        )
      const stored = JSON.parse(store.blockJson(last)!) as { header: BlockHeader; hash: string }
      if (stored.header.stateHash !== app.stateHash)
        throw new StratosError(
          'NETWORK_CONFIG',
          `block ${last} records state hash ${stored.header.stateHash}, state has ${app.stateHash}`,
        )
      this.#latest = { header: stored.header, hash: stored.hash }
    }
  }

  get height(): number {
    return this.app.height
  }

  get latest(): { readonly header: BlockHeader; readonly hash: string } {
    return this.#latest
  }

  /** Subscribes to committed blocks; returns the unsubscribe function. */
  onBlock(listener: BlockListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Executes, persists (durably) and announces the next block. */
  commit(block: OrderedBlock): CommittedBlock {
    return this.execute(block).persist()
  }

  /**
   * Executes the next block without persisting it: its header (state hash included) is known at once, the
   * writes wait for `persist()`, which stores state + block + tx index in one LMDB transaction and announces the
   * block. ABCI needs the two steps apart: FinalizeBlock returns the app hash, Commit persists. Nothing changes
   * until `persist()`; a second block executed meanwhile makes the first one's `persist()` throw BAD_BLOCK.
   */
  execute(block: OrderedBlock): ExecutedBlock {
    const pending = this.app.executeBlock(block)
    const { result } = pending
    const txHashes = block.txs.map((tx) => txHash(tx))
    const header: BlockHeader = {
      chainId: this.app.chainId,
      height: block.height,
      time: block.time,
      parentHash: this.#latest.hash,
      proposer: block.proposer,
      txRoot: txMerkleRoot(txHashes),
      txCount: block.txs.length,
      stateHash: result.stateHash,
    }
    const hash = blockHash(header)
    // Each result's canonical JSON is built once, for the tx index and for the stored block.
    const resultJson = result.results.map((r) => canonicalJson(r as unknown as CanonicalValue))
    // A tx ante rejected (included: false) is indexed too, so its submitter learns why; if the
    // same tx is later included, its new record replaces this one. (Keys in canonical order.)
    const txs = resultJson.map(
      (r, index) => [txHashes[index]!, `{"height":${block.height},"index":${index},"result":${r}}`] as const,
    )
    const blockJson = storedBlockJson(header, hash, block.txs, resultJson, result.events)
    const accountTxs = block.txs.flatMap((tx, index) =>
      [...addressesOf(tx)].map((a) => [accountTxKey(a, block.height, index), txHashes[index]!] as const),
    )
    const committed: CommittedBlock = { header, hash, txHashes, results: result.results }
    return {
      block: committed,
      events: result.events,
      validatorUpdates: result.validatorUpdates,
      persist: () => {
        this.store.state.withBlock({ height: block.height, blockJson, txs, accountTxs }, () => pending.commit())
        this.#latest = { header, hash }
        this.mempool.update(block.txs)
        for (const l of this.#listeners) {
          try {
            l(committed)
          } catch {
            // A listener's failure must not undo or block a committed block.
          }
        }
        return committed
      },
    }
  }

  blockJson(height: number): string | undefined {
    return this.store.blockJson(height)
  }

  /**
   * An address's history, newest first: each tx it sent or received with its block height, result and the signed tx
   * itself (read from its block).
   */
  accountHistory(
    address: string,
    limit: number,
    beforeHeight?: number,
  ): Array<AccountTxRef & { tx: unknown; result: unknown }> {
    return this.store.accountTxs(address, limit, beforeHeight).map((ref) => {
      const block = JSON.parse(this.store.blockJson(ref.height) ?? '{"txs":[],"results":[]}') as {
        txs: unknown[]
        results: unknown[]
      }
      return { ...ref, tx: block.txs[ref.index] ?? null, result: block.results[ref.index] ?? null }
    })
  }

  tx(hash: string): StoredTx | undefined {
    const json = this.store.txJson(hash)
    return json === undefined ? undefined : (JSON.parse(json) as StoredTx)
  }
}

/**
 * The wallets whose history a tx belongs to: its sender, a send's recipient, a prepay's beneficiary. (Not the
 * wallets a volume report names: a report touches thousands; their ozone and rewards are queried directly.)
 */
function addressesOf(signed: SignedTx): Set<string> {
  const out = new Set([signed.tx.sender])
  for (const m of signed.tx.msgs) {
    if (m.type === 'send') out.add(m.to)
    else if (m.type === 'prepay' && m.beneficiary !== undefined) out.add(m.beneficiary)
  }
  return out
}

/** `resultJson`: the canonical JSON of each tx result. */
function storedBlockJson(
  header: BlockHeader,
  hash: string,
  txs: readonly SignedTx[],
  resultJson: readonly string[],
  events: readonly ChainEvent[],
): string {
  const c = (v: unknown): string => canonicalJson(v as CanonicalValue)
  return `{"events":${c(events)},"hash":${c(hash)},"header":${c(header)},"results":[${resultJson.join(',')}],"txs":[${txs.map(encodeSignedTx).join(',')}]}`
}
