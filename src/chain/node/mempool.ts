/**
 * The mempool: signed transactions admitted but not yet in a block.
 *
 * Admission (`add`), cheapest checks first:
 *   - the hash is already pending → CONFLICT; the sender's nonce is already pending → CONFLICT
 *     (no replacement by fee: the first tx for a nonce wins);
 *   - the pool is full (MEMPOOL_MAX_TXS / MEMPOOL_MAX_BYTES) or the sender holds
 *     MEMPOOL_MAX_TXS_PER_SENDER → MEMPOOL_FULL (503: retry after the next block);
 *   - `app.checkTx` (chain id, signature, min fee, nonce not below the account nonce →
 *     REPLAYED_NONCE); a nonce more than MEMPOOL_MAX_NONCE_GAP above the account nonce → BAD_NONCE;
 *   - the sender's balance covers the fees of all its pending txs plus this one → else
 *     INSUFFICIENT_FUNDS.
 * Nonces above the next one are held ("future" txs, as Ethereum pools do) so a wallet may send
 * several txs concurrently and they may arrive out of order; a block only takes a sender's
 * consecutive run starting at its account nonce. A tx still pending MEMPOOL_FUTURE_TTL_BLOCKS
 * blocks after admission (its gap never filled, or the pool is congested) is dropped.
 *
 * `reap` walks txs in arrival order and, at a sender's first tx, takes that sender's ready run
 * (in nonce order). After each block (`update`), the block's txs leave the pool and every other
 * pending tx of a sender that had a tx in the block is checked again against the new state (its
 * signature is cached by the app, so this is cheap); a tx that no longer passes, and every later
 * tx of the same sender, is dropped. Only a block's own senders are re-checked: an account's
 * balance and nonce only drop through transactions it signed.
 *
 * The pool lives in memory: a tx admitted but not yet in a block is lost if the node is killed.
 */
import { StratosError, toStratosError } from '../../errors.ts'
import type { ChainApp, CheckedTx } from '../app.ts'
import type { RecoveryPool } from '../recovery-pool.ts'
import {
  MAX_BLOCK_BYTES,
  MAX_BLOCK_TXS,
  MEMPOOL_FUTURE_TTL_BLOCKS,
  MEMPOOL_MAX_BYTES,
  MEMPOOL_MAX_NONCE_GAP,
  MEMPOOL_MAX_TXS,
  MEMPOOL_MAX_TXS_PER_SENDER,
  RECOVERY_QUEUE_MAX_TXS,
} from '../params.ts'
import { txEnvelope, txHash, type SignedTx, type TxEnvelope } from '../tx.ts'

export interface MempoolLimits {
  maxTxs: number
  maxBytes: number
  maxTxsPerSender: number
  maxNonceGap: number
  futureTtlBlocks: number
  /** Signatures that may wait for the recovery pool before admission answers BUSY. */
  maxRecoveryQueueTxs: number
}

export const DEFAULT_MEMPOOL_LIMITS: MempoolLimits = {
  maxTxs: MEMPOOL_MAX_TXS,
  maxBytes: MEMPOOL_MAX_BYTES,
  maxTxsPerSender: MEMPOOL_MAX_TXS_PER_SENDER,
  maxNonceGap: MEMPOOL_MAX_NONCE_GAP,
  futureTtlBlocks: MEMPOOL_FUTURE_TTL_BLOCKS,
  maxRecoveryQueueTxs: RECOVERY_QUEUE_MAX_TXS,
}

interface PendingTx {
  readonly signed: SignedTx
  readonly checked: CheckedTx
  /** Chain height when admitted. */
  readonly admittedAt: number
}

export class Mempool {
  readonly #app: ChainApp
  readonly #limits: MempoolLimits
  /** hash → tx, in arrival order (Map keeps insertion order). */
  readonly #byHash = new Map<string, PendingTx>()
  /** sender → its pending txs, ascending nonces (gaps possible). */
  readonly #bySender = new Map<string, PendingTx[]>()
  #bytes = 0

  readonly #recovery: RecoveryPool | undefined

  /**
   * `recovery`: worker threads that recover signers for `admit` / `addBatch` (they must run the
   * app's own recovery backend, see recovery-pool.ts); without it recovery runs in checkTx.
   */
  constructor(app: ChainApp, limits: Partial<MempoolLimits> = {}, recovery?: RecoveryPool) {
    this.#app = app
    this.#limits = { ...DEFAULT_MEMPOOL_LIMITS, ...limits }
    this.#recovery = recovery
  }

  get size(): number {
    return this.#byHash.size
  }

  get bytes(): number {
    return this.#bytes
  }

  has(hash: string): boolean {
    return this.#byHash.has(hash)
  }

  /** Admits a decoded signed tx (decodeSignedTx output); returns its check result or throws a StratosError. */
  add(signed: SignedTx): CheckedTx {
    const hash = txHash(signed)
    if (this.#byHash.has(hash))
      throw new StratosError('CONFLICT', `transaction ${hash} is already in the mempool`, { hash })
    const claimed = signed.tx.sender
    const nonce = signed.tx.nonce
    const queue = this.#bySender.get(claimed) ?? []
    if (queue.some((p) => p.checked.nonce === nonce)) {
      throw new StratosError('CONFLICT', `a transaction with nonce ${nonce} from ${claimed} is already pending`, {
        nonce: nonce.toString(),
      })
    }
    if (queue.length >= this.#limits.maxTxsPerSender) {
      throw new StratosError('MEMPOOL_FULL', `sender ${claimed} already has ${queue.length} pending transactions`, {
        max: this.#limits.maxTxsPerSender,
      })
    }
    if (this.#byHash.size >= this.#limits.maxTxs)
      throw new StratosError('MEMPOOL_FULL', `the mempool holds its maximum of ${this.#limits.maxTxs} transactions`, {
        max: this.#limits.maxTxs,
      })
    // Any nonce ≥ the account nonce passes ante here (a lower one is REPLAYED_NONCE); the gap is bounded next.
    const checked = this.#app.checkTx(signed, { expectedNonce: nonce })
    const accountNonce = this.#app.query.nonce(checked.sender)
    if (nonce - accountNonce > BigInt(this.#limits.maxNonceGap)) {
      throw new StratosError(
        'BAD_NONCE',
        `nonce ${nonce} is more than ${this.#limits.maxNonceGap} above the account nonce ${accountNonce}`,
        { expected: accountNonce.toString(), got: nonce.toString() },
      )
    }
    if (this.#bytes + checked.size > this.#limits.maxBytes)
      throw new StratosError('MEMPOOL_FULL', `the mempool holds its maximum of ${this.#limits.maxBytes} bytes`, {
        maxBytes: this.#limits.maxBytes,
      })
    this.#checkFunds(checked, queue)
    const entry: PendingTx = { signed, checked, admittedAt: this.#app.height }
    this.#byHash.set(checked.hash, entry)
    let i = queue.length
    while (i > 0 && queue[i - 1]!.checked.nonce > nonce) i--
    queue.splice(i, 0, entry)
    this.#bySender.set(checked.sender, queue)
    this.#bytes += checked.size
    return checked
  }

  /** `add`, with the signature recovered on a worker thread first when the mempool has a recovery pool. */
  async admit(signed: SignedTx): Promise<CheckedTx> {
    await this.#prerecover([signed])
    return this.add(signed)
  }

  /**
   * Admits several txs: their signers are recovered together (on the recovery pool's threads,
   * while this thread goes on with other work), then each is `add`ed in order. Never throws for a
   * tx: each entry is its CheckedTx or the StratosError that rejected it; the whole call throws
   * BUSY when the recovery queue is full (limits.maxRecoveryQueueTxs).
   */
  async addBatch(txs: readonly SignedTx[]): Promise<Array<CheckedTx | StratosError>> {
    await this.#prerecover(txs)
    return txs.map((tx) => {
      try {
        return this.add(tx)
      } catch (e) {
        return toStratosError(e)
      }
    })
  }

  /** Recovers (on the pool) the signers the app does not know yet, skipping txs already pending. */
  async #prerecover(txs: readonly SignedTx[]): Promise<void> {
    if (!this.#recovery) return
    const envs: TxEnvelope[] = []
    for (const tx of txs) {
      let env: TxEnvelope
      try {
        env = txEnvelope(tx)
      } catch {
        continue // malformed: `add` rejects it
      }
      if (!this.#byHash.has(env.hash) && this.#app.needsRecovery(env)) envs.push(env)
    }
    if (envs.length === 0) return
    if (this.#recovery.pending + envs.length > this.#limits.maxRecoveryQueueTxs) {
      throw new StratosError(
        'BUSY',
        `signature recovery is saturated (${this.#recovery.pending} signatures queued); retry shortly`,
        { max: this.#limits.maxRecoveryQueueTxs },
      )
    }
    this.#app.rememberSigners(envs, await this.#recovery.recover(envs))
  }

  #checkFunds(checked: CheckedTx, others: readonly PendingTx[]): void {
    let fees = checked.fee
    for (const p of others) fees += p.checked.fee
    const balance = this.#app.query.balance(checked.sender)
    if (balance < fees) {
      throw new StratosError(
        'INSUFFICIENT_FUNDS',
        `balance ${balance} does not cover the fees ${fees} of the sender's pending transactions`,
        { balance: balance.toString() },
      )
    }
  }

  /** Txs for the next block: each sender's ready run (consecutive from its account nonce), senders in arrival order, within the block bounds. */
  reap(maxTxs = MAX_BLOCK_TXS, maxBytes = MAX_BLOCK_BYTES): SignedTx[] {
    const out: SignedTx[] = []
    let bytes = 0
    const visited = new Set<string>()
    for (const first of this.#byHash.values()) {
      if (out.length >= maxTxs) break
      const sender = first.checked.sender
      if (visited.has(sender)) continue
      visited.add(sender)
      let next = this.#app.query.nonce(sender)
      for (const p of this.#bySender.get(sender) ?? []) {
        if (p.checked.nonce !== next || out.length >= maxTxs || bytes + p.checked.size > maxBytes) break
        out.push(p.signed)
        bytes += p.checked.size
        next++
      }
    }
    return out
  }

  /** Called after a block is committed with its transactions (whether they came from this pool or not). */
  update(blockTxs: readonly SignedTx[]): void {
    const touched = new Set<string>()
    for (const tx of blockTxs) {
      touched.add(tx.tx.sender)
      const p = this.#byHash.get(txHash(tx))
      if (p) this.#drop(p)
    }
    for (const sender of touched) this.#recheck(sender)
    // Arrival order is age order: expire from the oldest until one is young enough.
    const oldest = this.#app.height - this.#limits.futureTtlBlocks
    for (const p of this.#byHash.values()) {
      if (p.admittedAt >= oldest) break
      this.#drop(p)
    }
  }

  #drop(p: PendingTx): void {
    this.#byHash.delete(p.checked.hash)
    this.#bytes -= p.checked.size
    const queue = this.#bySender.get(p.checked.sender)
    if (!queue) return
    const i = queue.indexOf(p)
    if (i >= 0) queue.splice(i, 1)
    if (queue.length === 0) this.#bySender.delete(p.checked.sender)
  }

  #recheck(sender: string): void {
    let queue = this.#bySender.get(sender)
    if (!queue) return
    const kept: PendingTx[] = []
    // Nonces the block used (by these txs or others) are gone; the rest must still pass.
    const accountNonce = this.#app.query.nonce(sender)
    const stale = queue.filter((p) => p.checked.nonce < accountNonce)
    for (const p of stale) {
      this.#byHash.delete(p.checked.hash)
      this.#bytes -= p.checked.size
    }
    queue = queue.filter((p) => p.checked.nonce >= accountNonce)
    let dropFrom = queue.length
    for (let i = 0; i < queue.length; i++) {
      const p = queue[i]!
      try {
        // Fee and funds against the new balance (the signature check hits the app's cache).
        this.#app.checkTx(p.signed, { expectedNonce: p.checked.nonce })
        this.#checkFunds(p.checked, kept)
        kept.push(p)
      } catch {
        dropFrom = i
        break
      }
    }
    for (const p of queue.slice(dropFrom)) {
      this.#byHash.delete(p.checked.hash)
      this.#bytes -= p.checked.size
    }
    if (kept.length) this.#bySender.set(sender, kept)
    else this.#bySender.delete(sender)
  }
}
