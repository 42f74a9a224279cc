/**
 * The meta node's view of the STOS chain, and its one way to write to it.
 *
 * Reads are cached and refreshed in the background every `syncIntervalMs`: the current height
 * and epoch, and the on-chain registry of resource nodes (status: active, suspended, unbonding,
 * pending). Ozone balances are read on demand and cached for `ozoneCacheMs` (the ozone guard
 * adds its own in-flight promises on top, so a short-lived stale balance cannot over-promise by
 * more than what was charged since — see pot/ozone-guard.ts).
 *
 * Writes (volume reports, slashing) go through `submit`, which serialises transactions of the
 * meta node's owner wallet so two of them never race for the same account nonce.
 *
 * Without a chain (`chainUrl` not configured) the meta node runs the storage network alone: no
 * ozone checks, no reports, every heartbeating node may receive data. Tests of the storage core
 * use that mode; the devnet always runs with a chain.
 */
import { ChainClient, DEFAULT_TX_FEE_WEI, type SubmittedTx } from '../../chain-client/client.ts'
import type { Msg } from '../../chain/msgs.ts'
import { listResourceNodes, type ResourceNodeJson } from '../../chain-client/node-registration.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import { CHAIN_SYNC_INTERVAL_MS, META_OZONE_CACHE_WALLETS, OZONE_CACHE_MS } from '../../limits.ts'
import { silentLogger, systemClock, type Clock, type Logger, type Startable } from '../../util/components.ts'
import { Lru } from '../../util/lru.ts'

/** A resource node's status on chain; `unregistered` when the chain does not know it. */
export type ChainNodeStatus = 'active' | 'pending' | 'suspended' | 'unbonding' | 'unregistered'

export interface ChainLink extends Startable {
  /** The meta node's owner wallet (sends its transactions). */
  readonly owner: string
  /** Latest synced height and epoch (0 before the first sync). */
  readonly height: number
  readonly epoch: number
  /** True once the first sync succeeded. */
  readonly synced: boolean
  /** The node's on-chain status from the last sync. */
  nodeStatus(node: string): ChainNodeStatus
  /** The last synced registry entries (any status). */
  resourceNodes(): readonly ResourceNodeJson[]
  /** The wallet's ozone (bytes of prepaid traffic), at most `ozoneCacheMs` old. */
  ozone(wallet: string, options?: { fresh?: boolean; signal?: AbortSignal }): Promise<bigint>
  /** Signs `msgs` with the owner wallet, submits and waits for inclusion; one at a time. */
  submit(msgs: Msg[], options?: { fee?: bigint; memo?: string }): Promise<SubmittedTx>
  /** Calls `listener` after each sync that saw a new epoch (epoch just ended = epoch - 1). */
  onEpoch(listener: (epoch: number) => void): () => void
}

export interface HttpChainLinkOptions {
  chainUrl: string
  owner: WalletKey
  syncIntervalMs?: number
  ozoneCacheMs?: number
  clock?: Clock
  logger?: Logger
}

export class HttpChainLink implements ChainLink {
  readonly #chain: ChainClient
  readonly #owner: WalletKey
  readonly #o: Required<Pick<HttpChainLinkOptions, 'syncIntervalMs' | 'ozoneCacheMs'>> & {
    clock: Clock
    logger: Logger
  }
  /** Ozone balance per wallet, read at `at`; FIFO (a re-read keeps the wallet's place), oldest out. */
  readonly #ozone = new Lru<string, { value: bigint; at: number }>({
    maxEntries: META_OZONE_CACHE_WALLETS,
    order: 'fifo',
  })
  readonly #epochListeners = new Set<(epoch: number) => void>()
  #nodes: ResourceNodeJson[] = []
  #status = new Map<string, ChainNodeStatus>()
  #height = 0
  #epoch = 0
  #synced = false
  #timer: NodeJS.Timeout | undefined
  #queue: Promise<unknown> = Promise.resolve()
  #stopped = false

  constructor(options: HttpChainLinkOptions) {
    this.#chain = new ChainClient({ url: options.chainUrl })
    this.#owner = options.owner
    this.#o = {
      syncIntervalMs: options.syncIntervalMs ?? CHAIN_SYNC_INTERVAL_MS,
      ozoneCacheMs: options.ozoneCacheMs ?? OZONE_CACHE_MS,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
    }
  }

  get owner(): string {
    return this.#owner.address
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
  get client(): ChainClient {
    return this.#chain
  }

  async start(): Promise<void> {
    this.#stopped = false
    await this.sync().catch((e: unknown) =>
      this.#o.logger.warn({ err: (e as Error).message }, 'chain not reachable yet; retrying in the background'),
    )
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#queue.catch(() => {})
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.sync()
        .catch((e: unknown) => this.#o.logger.warn({ err: (e as Error).message }, 'chain sync failed'))
        .finally(() => this.#schedule())
    }, this.#o.syncIntervalMs)
    this.#timer.unref()
  }

  /** Reads status and the resource node registry once (the background loop calls it). */
  async sync(): Promise<void> {
    const [status, nodes] = await Promise.all([this.#chain.status(), listResourceNodes(this.#chain)])
    const before = this.#epoch
    this.#height = status.height
    this.#epoch = status.epoch
    this.#nodes = nodes
    this.#status = new Map(nodes.map((n) => [n.node, n.status as ChainNodeStatus]))
    this.#synced = true
    if (before !== 0 && status.epoch > before) {
      for (const l of this.#epochListeners) {
        try {
          l(status.epoch)
        } catch (e) {
          this.#o.logger.error({ err: (e as Error).message }, 'epoch listener failed')
        }
      }
    }
  }

  nodeStatus(node: string): ChainNodeStatus {
    return this.#status.get(node) ?? 'unregistered'
  }

  resourceNodes(): readonly ResourceNodeJson[] {
    return this.#nodes
  }

  async ozone(wallet: string, options: { fresh?: boolean } = {}): Promise<bigint> {
    const now = this.#o.clock.now()
    const hit = this.#ozone.get(wallet)
    if (!options.fresh && hit && now - hit.at < this.#o.ozoneCacheMs) return hit.value
    const { ozone } = await this.#chain.account(wallet)
    this.#ozone.set(wallet, { value: ozone, at: now })
    return ozone
  }

  submit(msgs: Msg[], options: { fee?: bigint; memo?: string } = {}): Promise<SubmittedTx> {
    const run = () =>
      this.#chain.submitAndWait(this.#owner, msgs, {
        fee: options.fee ?? DEFAULT_TX_FEE_WEI,
        wait: true,
        ...(options.memo !== undefined ? { memo: options.memo } : {}),
      })
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => {})
    return next
  }

  onEpoch(listener: (epoch: number) => void): () => void {
    this.#epochListeners.add(listener)
    return () => this.#epochListeners.delete(listener)
  }
}
