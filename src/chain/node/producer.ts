/**
 * Consensus boundary and the single-validator implementation.
 *
 * `Consensus` is everything that decides the next block: which transactions, in what order, at
 * what time, proposed by whom. It hands ordered blocks to the `Blockchain` (execution + storage),
 * which knows nothing of how they were agreed. Multi-validator BFT replaces this file, not the
 * state machine or the store.
 *
 * `SingleProposer`: one validator, a block every `blockIntervalMs` with whatever the mempool
 * holds (empty blocks too: epochs advance by height). Block time = the clock, but never before
 * the previous block's time. Execution and commit are synchronous, so a block is always complete
 * when `stop()` returns.
 */
import { toStratosError } from '../../errors.ts'
import type { Clock, Logger, Startable } from '../../util/components.ts'
import type { Blockchain, CommittedBlock } from './blockchain.ts'

export interface Consensus extends Startable {
  /** Height of the last block agreed and committed. */
  readonly height: number
}

export interface SingleProposerOptions {
  chain: Blockchain
  /** Operator address of this validator (receives fees when it is a bonded validator). */
  proposer: string
  blockIntervalMs: number
  clock: Clock
  logger: Logger
}

export class SingleProposer implements Consensus {
  readonly #o: SingleProposerOptions
  #timer: NodeJS.Timeout | undefined
  #running = false

  constructor(options: SingleProposerOptions) {
    this.#o = options
  }

  get height(): number {
    return this.#o.chain.height
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Proposes and commits the next block now (the timer calls this; tests may too). */
  produceBlock(): CommittedBlock {
    const { chain, clock, proposer } = this.#o
    const txs = chain.mempool.reap()
    const time = Math.max(clock.now(), chain.app.time)
    return chain.commit({ height: chain.height + 1, time, proposer, txs })
  }

  #schedule(): void {
    if (!this.#running) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#running) return
      const started = performance.now()
      try {
        const b = this.produceBlock()
        this.#o.logger.debug(
          { height: b.header.height, txs: b.header.txCount, ms: Math.round(performance.now() - started) },
          'block committed',
        )
      } catch (e) {
        // A block that fails to execute or persist is not committed; the next tick tries again.
        this.#o.logger.error({ err: toStratosError(e) }, 'block production failed')
      }
      this.#schedule()
    }, this.#o.blockIntervalMs)
  }
}
