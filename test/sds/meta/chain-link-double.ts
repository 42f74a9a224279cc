/**
 * A ChainLink test double (src/sds/meta/chain-link.ts): `MemoryChain` is a tiny ledger in memory (balances, nonces,
 * ozone, a node registry, height and epoch that the test moves), and `MemoryChainLink` is the meta node's view of it,
 * with the same behaviour as HttpChainLink: background sync, ozone cached for `ozoneCacheMs`, submissions one at a
 * time, epoch listeners. Each call to the chain crosses a macrotask, as a round trip would, so a link that did not
 * serialise its submissions would race for the owner's nonce and be refused, as on the real chain.
 *
 * Held to the same contract as HttpChainLink by ./chain-link-suite.ts (test/sds/meta/chain-link.test.ts).
 */
import { setImmediate as tick } from 'node:timers/promises'
import type { Msg } from '../../../src/chain/msgs.ts'
import type { SubmittedTx } from '../../../src/chain-client/client.ts'
import type { ResourceNodeJson } from '../../../src/chain-client/node-registration.ts'
import { StratosError } from '../../../src/errors.ts'
import type { ChainLink, ChainNodeStatus } from '../../../src/sds/meta/chain-link.ts'
import { systemClock, type Clock } from '../../../src/util/components.ts'

interface MemoryAccount {
  balance: bigint
  nonce: bigint
  ozone: bigint
}

/** Blocks per epoch of the memory chain (the height moves on by this much per epoch). */
export const MEMORY_EPOCH_BLOCKS = 5

/** The ledger behind MemoryChainLink. Prepaying buys one byte of ozone per wei; every other message is refused. */
export class MemoryChain {
  height = 1
  epoch = 1
  readonly accounts = new Map<string, MemoryAccount>()
  readonly nodes: ResourceNodeJson[] = []
  #txs = 0

  account(address: string): MemoryAccount {
    let a = this.accounts.get(address)
    if (!a) this.accounts.set(address, (a = { balance: 0n, nonce: 0n, ozone: 0n }))
    return a
  }

  /** Registers a resource node with `status`. */
  addNode(node: string, status: ChainNodeStatus, owner = 'st1owner'): void {
    this.nodes.push({
      node,
      kind: 'resource',
      owner,
      publicKey: '',
      deposit: '0',
      status,
      moniker: node,
      createdHeight: this.height,
      tier: 0,
    })
  }

  /** The next epoch begins. */
  advanceEpoch(): number {
    this.epoch++
    this.height += MEMORY_EPOCH_BLOCKS
    return this.epoch
  }

  /**
   * Includes a transaction in the next block: a stale nonce is refused outright; otherwise the fee and the nonce are
   * taken, and a failing message rolls back the messages only (as the real chain does).
   */
  deliver(sender: string, nonce: bigint, fee: bigint, msgs: Msg[]): SubmittedTx {
    const a = this.account(sender)
    if (nonce !== a.nonce)
      throw new StratosError('BAD_REQUEST', `nonce ${nonce} of ${sender} is not the account's ${a.nonce}`)
    if (a.balance < fee) throw new StratosError('INSUFFICIENT_FUNDS', `${sender} cannot pay the fee`)
    a.balance -= fee
    a.nonce++
    this.height++
    const hash = (++this.#txs).toString(16).padStart(64, '0')
    const before = new Map([...this.accounts].map(([k, v]) => [k, { ...v }]))
    try {
      for (const m of msgs) {
        if (m.type !== 'prepay') throw new StratosError('BAD_REQUEST', `the memory chain does not handle ${m.type}`)
        if (a.balance < m.amount)
          throw new StratosError('INSUFFICIENT_FUNDS', `${sender} has ${a.balance} wei, needs ${m.amount}`)
        a.balance -= m.amount
        this.account(m.beneficiary ?? sender).ozone += m.amount
      }
    } catch (e) {
      for (const [k, v] of before) this.accounts.set(k, v)
      throw e
    }
    return { hash, nonce, fee, height: this.height, code: 'OK' }
  }
}

export interface MemoryChainLinkOptions {
  owner: string
  syncIntervalMs: number
  ozoneCacheMs: number
  /** Fee every submission pays (default 1 wei). */
  fee?: bigint
  clock?: Clock
}

export class MemoryChainLink implements ChainLink {
  readonly owner: string
  readonly #chain: MemoryChain
  readonly #o: Required<MemoryChainLinkOptions>
  readonly #ozone = new Map<string, { value: bigint; at: number }>()
  readonly #listeners = new Set<(epoch: number) => void>()
  #nodes: ResourceNodeJson[] = []
  #height = 0
  #epoch = 0
  #synced = false
  #timer: NodeJS.Timeout | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #stopped = false

  constructor(chain: MemoryChain, options: MemoryChainLinkOptions) {
    this.#chain = chain
    this.owner = options.owner
    this.#o = { fee: 1n, clock: systemClock, ...options }
  }

  get height(): number {
    return this.#height
  }
  get epoch(): number {
    return this.#epoch
  }
  get synced(): boolean {
    return this.#synced
  }

  async start(): Promise<void> {
    this.#stopped = false
    await this.sync()
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#queue.catch(() => {})
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.sync().finally(() => this.#schedule()), this.#o.syncIntervalMs)
    this.#timer.unref()
  }

  /** Reads height, epoch and the registry once (the background loop calls it). */
  async sync(): Promise<void> {
    await tick()
    const before = this.#epoch
    this.#height = this.#chain.height
    this.#epoch = this.#chain.epoch
    this.#nodes = this.#chain.nodes.map((n) => ({ ...n }))
    this.#synced = true
    if (before !== 0 && this.#epoch > before) {
      for (const l of this.#listeners) {
        try {
          l(this.#epoch)
        } catch {
          /* one listener's failure does not stop the others */
        }
      }
    }
  }

  nodeStatus(node: string): ChainNodeStatus {
    return (this.#nodes.find((n) => n.node === node)?.status as ChainNodeStatus | undefined) ?? 'unregistered'
  }

  resourceNodes(): readonly ResourceNodeJson[] {
    return this.#nodes
  }

  async ozone(wallet: string, options: { fresh?: boolean } = {}): Promise<bigint> {
    const now = this.#o.clock.now()
    const hit = this.#ozone.get(wallet)
    if (!options.fresh && hit && now - hit.at < this.#o.ozoneCacheMs) return hit.value
    await tick()
    const value = this.#chain.account(wallet).ozone
    this.#ozone.set(wallet, { value, at: now })
    return value
  }

  submit(msgs: Msg[], options: { fee?: bigint; memo?: string } = {}): Promise<SubmittedTx> {
    const run = async (): Promise<SubmittedTx> => {
      const { nonce } = this.#chain.account(this.owner)
      await tick() // signing and the POST
      return this.#chain.deliver(this.owner, nonce, options.fee ?? this.#o.fee, msgs)
    }
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => {})
    return next
  }

  onEpoch(listener: (epoch: number) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}
