/**
 * The validator's own metrics and readiness (src/net/ops.ts serves them on the REST port): chain height, transactions
 * committed (counted per block as blocks commit), mempool size, and the newest block's age. Ready means a block was
 * committed within VALIDATOR_READY_BLOCK_AGE_MS: a validator that stopped producing is alive but not ready.
 */
import { VALIDATOR_READY_BLOCK_AGE_MS } from '../../limits.ts'
import type { Ops } from '../../net/ops.ts'
import type { Clock } from '../../util/components.ts'
import type { Blockchain } from './blockchain.ts'

/**
 * Registers the chain's metrics and readiness; returns the block-listener's unsubscribe (call on stop). `mempool:
 * false` leaves out the mempool gauge (the CometBFT engine's mempool is CometBFT's: its /num_unconfirmed_txs).
 */
export function registerChainMetrics(
  ops: Ops,
  chain: Blockchain,
  clock: Clock,
  o: { mempool?: boolean } = {},
): () => void {
  const m = ops.metrics
  const txs = m.counter('stratos_chain_transactions_total', 'Transactions committed in blocks since start')
  const blocks = m.counter('stratos_chain_blocks_total', 'Blocks committed since start')
  const unsubscribe = chain.onBlock((b) => {
    blocks.inc()
    txs.inc(b.header.txCount)
  })
  m.gauge('stratos_chain_height', 'Height of the newest committed block', () => chain.height)
  if (o.mempool !== false)
    m.gauge('stratos_chain_mempool_transactions', 'Transactions waiting in the mempool', () => chain.mempool.size)
  m.gauge(
    'stratos_chain_last_block_age_seconds',
    'Seconds since the newest block’s time',
    () => Math.max(0, clock.now() - chain.latest.header.time) / 1000,
  )
  ops.health.addCheck('blocks', () => {
    const age = clock.now() - chain.latest.header.time
    return age <= VALIDATOR_READY_BLOCK_AGE_MS
      ? undefined
      : `newest block is ${age} ms old (limit ${VALIDATOR_READY_BLOCK_AGE_MS} ms)`
  })
  return unsubscribe
}
