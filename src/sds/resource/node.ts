/**
 * ResourceNode: wires the shard store, the HTTP server and the heartbeat loop of one resource
 * node process (contract: /work/notes/roles.md). Starting never waits for the meta node: the
 * heartbeat loop (and, without configured meta addresses, the trust-on-first-use lookup) keeps
 * retrying in the background.
 */
import { installNativeNodeCrypto, nativeEd25519LoadError } from '../../crypto/native-ed25519.ts'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Agent } from 'undici'
import { StratosError } from '../../errors.ts'
import { HEARTBEAT_INTERVAL_MS, ORDER_SETTLE_AFTER_MS, ORDER_SETTLE_INTERVAL_MS } from '../../limits.ts'
import { NodeKey } from '../../crypto/node-key.ts'
import { metaUrls } from '../../net/meta-client.ts'
import { createLogger, systemClock, type Clock, type Logger, type Startable } from '../../util/components.ts'
import { ShardStore } from './store.ts'
import { isSyncMode, type SyncMode } from './flusher.ts'
import { ResourceServer } from './server.ts'
import type { HeartbeatLoop } from './heartbeat.ts'
import { MetaTrust } from './meta-trust.ts'
import { MetaLinks, type MetaLink } from './meta-links.ts'
import { OrderStore } from './order-store.ts'
import { OrderBook } from './orders.ts'
import type { SettlementLoop } from './settlement.ts'
import { createOps, type Ops } from '../../net/ops.ts'
import { registerResourceMetrics } from './metrics.ts'
import { ShardOwners } from './shard-owners.ts'

export interface ResourceNodeOptions {
  /**
   * Holds node-key.json (NodeKey.loadOrCreate), shards/, tmp/, corrupt/, meta.json, orders/ (LMDB: unsettled
   * orders), owners/ (LMDB: which meta node each shard belongs to).
   */
  dataDir: string
  /** Default '127.0.0.1'. */
  host?: string
  /** 0 = ephemeral. */
  port: number
  /** Meta node base URL, e.g. http://127.0.0.1:7100 (the primary one: see meta-links.ts). */
  metaUrl: string
  chainId: string
  /**
   * The chain's REST API: when given, the node also serves every active meta node the chain lists with a URL
   * (heartbeats, orders, audits and settlement per meta node). Without it, only `metaUrl`.
   */
  chainUrl?: string
  /** How often the chain's meta node list is read; default META_DISCOVERY_INTERVAL_MS. */
  metaDiscoveryIntervalMs?: number
  /** Meta node addresses (stsds1…) whose tickets are accepted. If omitted: fetched from `${metaUrl}/v1/info` at start
   *  and pinned in dataDir/meta.json (trust on first use; later starts require the same address). */
  metaAddresses?: string[]
  /** Default: free disk space at start minus NODE_RESERVED_BYTES. */
  capacityBytes?: number
  /** Default HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number
  /** URL advertised in heartbeats; default the listening URL. */
  publicUrl?: string
  /** How often orders are settled with the meta node; default ORDER_SETTLE_INTERVAL_MS (devnet, tests: shorter). */
  orderSettleIntervalMs?: number
  /** A serial is settled (and closed) once it is this old; default ORDER_SETTLE_AFTER_MS. */
  orderSettleAfterMs?: number
  /** Durability of acknowledged shards: 'always' | 'batch' | 'none' (see flusher.ts); default 'batch'. */
  sync?: SyncMode
  /** Older boolean form of `sync`, used only when `sync` is not given: true = 'always', false = 'none'. */
  fsync?: boolean
  clock?: Clock
  logger?: Logger
  /** /metrics, /healthz, /readyz of this node (default its own, role `resource`). */
  ops?: Ops
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

export class ResourceNode implements Startable {
  readonly address: string
  readonly #options: ResourceNodeOptions
  readonly #key: NodeKey
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #store: ShardStore
  readonly #trust: MetaTrust
  readonly #agent: Agent
  readonly #server: ResourceServer
  readonly #links: MetaLinks
  readonly #orderStore: OrderStore
  readonly #owners: ShardOwners
  readonly #orders: OrderBook
  readonly #ops: Ops
  #state: State = 'new'
  #startPromise: Promise<void> | undefined
  #stopPromise: Promise<void> | undefined
  #url: string | undefined

  constructor(options: ResourceNodeOptions) {
    validateOptions(options)
    this.#options = options
    mkdirSync(options.dataDir, { recursive: true })
    this.#key = NodeKey.loadOrCreate(options.dataDir)
    this.address = this.#key.address
    this.#clock = options.clock ?? systemClock
    this.#logger = options.logger ?? createLogger('resource')
    this.#store = new ShardStore({
      dataDir: options.dataDir,
      capacityBytes: options.capacityBytes,
      sync: options.sync,
      fsync: options.fsync,
      clock: this.#clock,
      logger: this.#logger,
    })
    this.#trust = new MetaTrust({
      dataDir: options.dataDir,
      chainId: options.chainId,
      metaUrl: options.metaUrl,
      addresses: options.metaAddresses,
      clock: this.#clock,
      logger: this.#logger,
    })
    this.#orderStore = OrderStore.open(join(options.dataDir, 'orders'))
    this.#owners = ShardOwners.open(join(options.dataDir, 'owners'))
    this.#orders = new OrderBook({
      store: this.#orderStore,
      chainId: options.chainId,
      settleAfterMs: options.orderSettleAfterMs ?? ORDER_SETTLE_AFTER_MS,
    })
    this.#ops = options.ops ?? createOps('resource')
    // Own connection pool for control traffic to the meta nodes, closed on stop.
    this.#agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 })
    this.#links = new MetaLinks(
      {
        store: this.#store,
        owners: this.#owners,
        orders: this.#orders,
        key: this.#key,
        chainId: options.chainId,
        clock: this.#clock,
        logger: this.#logger,
        dispatcher: this.#agent,
        url: () => this.#options.publicUrl ?? this.url,
        load: () => this.#server.load,
      },
      {
        primaryUrl: options.metaUrl,
        primaryTrust: this.#trust,
        primaryConfigured: options.metaAddresses !== undefined,
        chainUrl: options.chainUrl,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
        orderSettleIntervalMs: options.orderSettleIntervalMs ?? ORDER_SETTLE_INTERVAL_MS,
        discoveryIntervalMs: options.metaDiscoveryIntervalMs,
      },
    )
    this.#server = new ResourceServer({
      ops: this.#ops,
      store: this.#store,
      key: this.#key,
      chainId: options.chainId,
      // Tickets, audits: every meta node served (the primary's pinned or configured address, those listed on chain).
      trust: this.#links,
      orders: this.#orders,
      owners: this.#owners,
      clock: this.#clock,
      logger: this.#logger,
    })
    registerResourceMetrics(this.#ops, {
      store: this.#store,
      heartbeat: this.#links.heartbeatView,
      settlement: this.#links.settlementView,
      clock: this.#clock,
      load: () => this.#server.load,
    })
  }

  /** Metrics and readiness of this node (served at /metrics, /healthz, /readyz). */
  get ops(): Ops {
    return this.#ops
  }

  /** Listening URL (valid after start). */
  get url(): string {
    if (!this.#url) throw new StratosError('INTERNAL', 'resource node is not started')
    return this.#url
  }

  /** The node's shard store (for operators' tools and tests). */
  get store(): ShardStore {
    return this.#store
  }

  /** The node's unsettled orders (for operators' tools and tests). */
  get orders(): OrderBook {
    return this.#orders
  }

  /** The settlement loop of the primary meta node (for operators' tools and tests). */
  get settlement(): SettlementLoop {
    return this.#links.primary.settlement
  }

  /** The heartbeat loop of the primary meta node (for operators' tools and tests). */
  get heartbeat(): HeartbeatLoop {
    return this.#links.primary.heartbeat
  }

  /** Every meta node this node serves, the primary first. */
  get metaLinks(): MetaLink[] {
    return this.#links.links
  }

  /** Which meta nodes each stored shard belongs to. */
  get owners(): ShardOwners {
    return this.#owners
  }

  start(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped')
      return Promise.reject(new StratosError('INTERNAL', 'a stopped resource node cannot start again'))
    this.#startPromise ??= this.#start()
    return this.#startPromise
  }

  async #start(): Promise<void> {
    this.#state = 'starting'
    // Every shard PUT and GET verifies a ticket, every PUT signs a receipt: libsodium when it loads.
    if (!installNativeNodeCrypto())
      this.#logger.warn({ error: nativeEd25519LoadError() }, 'libsodium did not load: node signatures through OpenSSL')
    try {
      this.#trust.load()
      this.#orders.load()
      await this.#store.start()
      this.#url = await this.#server.listen(this.#options.host ?? '127.0.0.1', this.#options.port)
      await this.#links.start()
      this.#state = 'running'
      this.#logger.info(
        {
          address: this.address,
          url: this.#url,
          metaUrl: this.#options.metaUrl,
          metaAddresses: [...this.#trust.issuers],
          chainUrl: this.#options.chainUrl,
        },
        'resource node started',
      )
    } catch (e) {
      await this.#shutdown()
      this.#state = 'stopped'
      throw e
    }
  }

  /** Stops the heartbeat loop, then closes the server (transfers in progress get a short grace period). Idempotent. */
  stop(): Promise<void> {
    this.#stopPromise ??= (async () => {
      await this.#startPromise?.catch(() => {})
      this.#state = 'stopping'
      await this.#shutdown()
      this.#state = 'stopped'
      this.#logger.info({ address: this.address }, 'resource node stopped')
    })()
    return this.#stopPromise
  }

  async #shutdown(): Promise<void> {
    await this.#links.stopHeartbeats()
    await this.#server.close()
    // After the server: no order arrives any more, so the last round settles the final ones.
    await this.#links.stopSettlement()
    await this.#orderStore.close()
    await this.#owners.close()
    await this.#store.stop()
    await this.#agent.close().catch(() => {})
  }
}

export async function startResourceNode(options: ResourceNodeOptions): Promise<ResourceNode> {
  const node = new ResourceNode(options)
  await node.start()
  return node
}

/** Refuses option values that would only fail later, far from their cause. */
function validateOptions(o: ResourceNodeOptions): void {
  const bad = (what: string): never => {
    throw new StratosError('NETWORK_CONFIG', `resource node: ${what}`)
  }
  if (!o.dataDir) bad('dataDir is required')
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535) bad(`port ${o.port} is not a TCP port`)
  const metas = metaUrls(o.metaUrl)
  if (metas.length === 0 || !metas.every(isHttpUrl)) bad(`metaUrl ${o.metaUrl} is not a list of http(s) URLs`)
  if (o.chainUrl !== undefined && !o.chainUrl.split(',').every((u) => isHttpUrl(u.trim())))
    bad(`chainUrl ${o.chainUrl} is not a list of http(s) URLs`)
  if (o.publicUrl !== undefined && !isHttpUrl(o.publicUrl)) bad(`publicUrl ${o.publicUrl} is not an http(s) URL`)
  // Bound to every address, the listening URL (http://0.0.0.0:…) names no host another machine can reach.
  if (o.publicUrl === undefined && (o.host === '0.0.0.0' || o.host === '::' || o.host === '[::]'))
    bad(`listening on ${o.host} needs --public-url (the URL clients and the meta node reach this node at)`)
  if (o.capacityBytes !== undefined && !(Number.isSafeInteger(o.capacityBytes) && o.capacityBytes >= 0))
    bad(`capacityBytes ${o.capacityBytes} is not a byte count`)
  for (const [name, v] of [
    ['orderSettleIntervalMs', o.orderSettleIntervalMs],
    ['orderSettleAfterMs', o.orderSettleAfterMs],
    ['metaDiscoveryIntervalMs', o.metaDiscoveryIntervalMs],
  ] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) bad(`${name} ${v} must be a positive integer`)
  }
  if (
    o.heartbeatIntervalMs !== undefined &&
    !(Number.isSafeInteger(o.heartbeatIntervalMs) && o.heartbeatIntervalMs > 0)
  )
    bad(`heartbeatIntervalMs ${o.heartbeatIntervalMs} must be a positive integer`)
  if (!o.chainId) bad('chainId is required')
  if (o.sync !== undefined && !isSyncMode(o.sync)) bad(`sync ${String(o.sync)} is not always, batch or none`)
}

function isHttpUrl(u: string): boolean {
  try {
    const p = new URL(u).protocol
    return p === 'http:' || p === 'https:'
  } catch {
    return false
  }
}
