/**
 * What a state transition sees: the store (an overlay, so a failure can be dropped), the chain's
 * parameters, the block being applied and, for a transaction, its sender; plus an event sink.
 * Handlers are plain functions `(ctx, msg) => void` that throw a StratosError to fail.
 */
import type { ChainParams } from '../params.ts'
import type { KvStore } from './kv.ts'

/** An event of a transaction or of the block's begin/end hooks (for the REST API and wallets). */
export interface ChainEvent {
  readonly type: string
  readonly attributes: Readonly<Record<string, string>>
}

export type EventAttributes = Record<string, string | number | bigint | boolean>

export interface BlockInfo {
  readonly height: number
  /** Block time, unix milliseconds, from the block header (never the local clock). */
  readonly time: number
  /** The proposer's validator operator address; fees of the block go to it. */
  readonly proposer: string
  /** The epoch this block belongs to (pot module's current epoch at the block's start). */
  readonly epoch: number
}

export interface ExecContext {
  readonly store: KvStore
  readonly params: ChainParams
  readonly chainId: string
  readonly block: BlockInfo
  emit(type: string, attributes: EventAttributes): void
}

export interface TxContext extends ExecContext {
  readonly sender: string
  readonly txHash: string
}

/** Collects events; stringifies attribute values (bigints as decimal strings). */
export class EventLog {
  readonly events: ChainEvent[] = []

  emit(type: string, attributes: EventAttributes): void {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(attributes)) out[k] = String(v)
    this.events.push({ type, attributes: out })
  }
}
