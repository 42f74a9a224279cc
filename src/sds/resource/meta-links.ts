/**
 * MetaLinks: the meta nodes one resource node serves, and one heartbeat loop and one settlement loop per meta node.
 *
 * The primary meta node is the configured `--meta-url` (its address configured or pinned on first use, see
 * meta-trust.ts). With a chain URL, every active meta node the chain lists with a URL (GET /nodes/meta) is served
 * too: the chain is the registry of meta nodes (a meta node there posted a deposit and was approved by the active
 * ones), so its address is trusted as listed. A listing is polled every `discoveryIntervalMs`; a meta node that
 * leaves it (removed, or no longer active) is no longer served and its tickets are refused from then on.
 *
 * Per meta node: heartbeats carry the shards and bytes that meta node placed here (ShardOwners) and the free space
 * all of them share; a delete releases only that meta node's claim; corrupt shards are reported to the meta nodes
 * holding them; each settles the orders whose limits it signed, so traffic served for every meta node is paid by it
 * (and reported by it on chain). Without a chain URL this is the single-meta node it always was.
 */
import type { Dispatcher } from 'undici'
import { StratosError, toStratosError } from '../../errors.ts'
import { META_DISCOVERY_INTERVAL_MS } from '../../limits.ts'
import type { NodeKey } from '../../crypto/node-key.ts'
import { ChainClient } from '../../chain-client/client.ts'
import { reachableMetaNodes } from '../../chain-client/meta-nodes.ts'
import { MetaClient, metaUrls } from '../../net/meta-client.ts'
import type { Clock, Logger, Startable } from '../../util/components.ts'
import { HeartbeatLoop, type HeartbeatScope, type HeartbeatTrust } from './heartbeat.ts'
import type { MetaTrust } from './meta-trust.ts'
import type { OrderBook } from './orders.ts'
import { SettlementLoop } from './settlement.ts'
import type { ShardOwners } from './shard-owners.ts'
import type { ShardStore } from './store.ts'

export interface MetaLinksComponents {
  store: ShardStore
  owners: ShardOwners
  orders: OrderBook
  key: NodeKey
  chainId: string
  clock: Clock
  logger: Logger
  /** Connection pool of the control traffic to every meta node. */
  dispatcher: Dispatcher
  /** URL advertised in heartbeats. */
  url: () => string
  /** Transfers in progress. */
  load: () => number
}

export interface MetaLinksOptions {
  primaryUrl: string
  primaryTrust: MetaTrust
  /** Whether the primary's addresses are configured (else learned on first use). */
  primaryConfigured: boolean
  /** The chain REST API; without it only the primary meta node is served. */
  chainUrl?: string
  heartbeatIntervalMs: number
  orderSettleIntervalMs: number
  /** Default META_DISCOVERY_INTERVAL_MS. */
  discoveryIntervalMs?: number
}

/** One served meta node. */
export interface MetaLink {
  /** Its address (the primary's: undefined until learned). */
  readonly address: string | undefined
  readonly url: string
  readonly primary: boolean
  readonly heartbeat: HeartbeatLoop
  readonly settlement: SettlementLoop
}

/** Trust in one meta node the chain lists: its address is known; /v1/info at its URL must answer with it. */
class ListedMetaTrust implements HeartbeatTrust {
  readonly issuers: ReadonlySet<string>
  readonly #address: string
  readonly #chainId: string
  readonly #logger: Logger
  #warned = false

  constructor(address: string, chainId: string, logger: Logger) {
    this.#address = address
    this.#chainId = chainId
    this.#logger = logger
    this.issuers = new Set([address])
  }

  get known(): boolean {
    return true
  }

  async resolve(meta: MetaClient, signal?: AbortSignal): Promise<void> {
    const info = await meta.info({ signal })
    if ((info.address !== this.#address || info.chainId !== this.#chainId) && !this.#warned) {
      this.#warned = true
      this.#logger.error(
        { metaUrl: meta.url, listed: this.#address, answers: info.address, chainId: info.chainId },
        'the URL the chain lists for this meta node answers as another node: its replies are refused',
      )
    }
  }
}

export class MetaLinks implements Startable {
  readonly #c: MetaLinksComponents
  readonly #o: MetaLinksOptions
  readonly #primary: MetaLink
  /** Meta nodes discovered on chain, by address (never the primary). */
  readonly #listed = new Map<string, MetaLink>()
  #issuers: ReadonlySet<string> = new Set()
  #issuersOf: { primary: ReadonlySet<string>; listed: number } | undefined
  #abort: AbortController | undefined
  #timer: NodeJS.Timeout | undefined
  #discovering: Promise<void> | undefined
  #discoveryProblem: string | undefined
  /** Counts of links no longer served, so the summed views below never go backwards. */
  readonly #retired = { acknowledged: 0, accepted: 0, rejected: 0, acceptedBytes: 0 }

  constructor(components: MetaLinksComponents, options: MetaLinksOptions) {
    this.#c = components
    this.#o = options
    const trust = options.primaryTrust
    const meta = new MetaClient(options.primaryUrl, { dispatcher: components.dispatcher })
    this.#primary = {
      get address() {
        return [...trust.issuers][0]
      },
      url: options.primaryUrl,
      primary: true,
      heartbeat: this.#heartbeat(meta, trust, options.primaryConfigured, this.#primaryScope(), components.logger),
      settlement: this.#settlement(
        meta,
        // The primary settles every serial no listed meta node settles (also those of meta nodes no longer served:
        // the meta node answers them, so they leave the book).
        (a) => !this.#listed.has(a),
        components.logger,
      ),
    }
  }

  /** Every meta node address whose tickets, audits and replies are accepted now. */
  get issuers(): ReadonlySet<string> {
    const primary = this.#o.primaryTrust.issuers
    if (this.#issuersOf?.primary !== primary || this.#issuersOf.listed !== this.#listed.size) {
      this.#issuers = new Set([...primary, ...this.#listed.keys()])
      this.#issuersOf = { primary, listed: this.#listed.size }
    }
    return this.#issuers
  }

  get primary(): MetaLink {
    return this.#primary
  }

  /**
   * Every meta node's heartbeats as one (metrics.ts): acknowledged heartbeats and pending delete reports summed; the
   * latest acknowledgement of any meta node (a node that one meta node still hears is ready).
   */
  get heartbeatView(): Pick<HeartbeatLoop, 'acknowledged' | 'pendingDeleted' | 'lastAcknowledgedAt' | 'intervalMs'> {
    const links = () => this.links
    const retired = this.#retired
    return {
      get acknowledged() {
        return links().reduce((s, l) => s + l.heartbeat.acknowledged, retired.acknowledged)
      },
      pendingDeleted: () => links().flatMap((l) => l.heartbeat.pendingDeleted()),
      get lastAcknowledgedAt() {
        const at = links()
          .map((l) => l.heartbeat.lastAcknowledgedAt)
          .filter((a) => a !== undefined)
        return at.length ? Math.max(...at) : undefined
      },
      get intervalMs() {
        return Math.max(...links().map((l) => l.heartbeat.intervalMs))
      },
    }
  }

  /** Every meta node's settlement as one (metrics.ts): counts summed. */
  get settlementView(): Pick<SettlementLoop, 'totals'> {
    const links = () => this.links
    const retired = this.#retired
    return {
      get totals() {
        const t = { accepted: retired.accepted, rejected: retired.rejected, acceptedBytes: retired.acceptedBytes }
        for (const l of links()) {
          t.accepted += l.settlement.totals.accepted
          t.rejected += l.settlement.totals.rejected
          t.acceptedBytes += l.settlement.totals.acceptedBytes
        }
        return t
      },
    }
  }

  /** The primary first, then the meta nodes listed on chain. */
  get links(): MetaLink[] {
    return [this.#primary, ...this.#listed.values()]
  }

  async start(): Promise<void> {
    if (this.#abort) return
    this.#abort = new AbortController()
    await this.#primary.heartbeat.start()
    await this.#primary.settlement.start()
    if (this.#o.chainUrl) this.#scheduleDiscovery(0)
  }

  /** Stops discovery and every heartbeat loop (first step of a stop: no new deletes, no new meta nodes). */
  async stopHeartbeats(): Promise<void> {
    this.#abort?.abort(new StratosError('ABORTED', 'meta links stopped'))
    clearTimeout(this.#timer)
    await this.#discovering
    await Promise.all(this.links.map((l) => l.heartbeat.stop()))
  }

  /** Settles every pending serial with its meta node once more and stops the settlement loops (after the server closed). */
  async stopSettlement(): Promise<void> {
    await Promise.all(this.links.map((l) => l.settlement.stop()))
  }

  async stop(): Promise<void> {
    await this.stopHeartbeats()
    await this.stopSettlement()
  }

  /** One look at the chain's meta nodes: links new ones, unlinks those gone. Network errors propagate. */
  async discover(signal?: AbortSignal): Promise<void> {
    const chainUrl = this.#o.chainUrl
    if (!chainUrl) return
    const listed = await reachableMetaNodes(new ChainClient({ url: chainUrl, signal }))
    if (signal?.aborted) return
    const primary = this.#o.primaryTrust
    const wanted = listed.filter(
      (m) => !primary.issuers.has(m.node) && !(primary.issuers.size === 0 && sameUrl(m.url, this.#o.primaryUrl)),
    )
    const keep = new Set(wanted.map((m) => m.node))
    for (const [address, link] of this.#listed) {
      if (keep.has(address)) continue
      this.#c.logger.warn({ meta: address, metaUrl: link.url }, 'meta node left the chain listing: no longer served')
      await link.heartbeat.stop()
      await link.settlement.stop()
      this.#retired.acknowledged += link.heartbeat.acknowledged
      this.#retired.accepted += link.settlement.totals.accepted
      this.#retired.rejected += link.settlement.totals.rejected
      this.#retired.acceptedBytes += link.settlement.totals.acceptedBytes
      // Its tickets are refused from here on (the issuer set no longer holds it).
      this.#listed.delete(address)
    }
    for (const m of wanted) {
      if (this.#listed.has(m.node) || this.#abort?.signal.aborted) continue
      const logger = this.#c.logger.child({ meta: m.node })
      const client = new MetaClient(m.url, { dispatcher: this.#c.dispatcher })
      const address = m.node
      const owners = this.#c.owners
      const link: MetaLink = {
        address,
        url: m.url,
        primary: false,
        heartbeat: this.#heartbeat(
          client,
          new ListedMetaTrust(address, this.#c.chainId, logger),
          false,
          {
            totals: () => owners.totals(address),
            reportsCorrupt: (id) => owners.ownersOf(id).includes(address),
            release: (id) => owners.release(id, address),
          },
          logger,
        ),
        settlement: this.#settlement(client, (a) => a === address, logger),
      }
      this.#listed.set(address, link)
      await link.heartbeat.start()
      await link.settlement.start()
      this.#c.logger.info({ meta: address, metaUrl: m.url }, 'serving a meta node listed on chain')
    }
  }

  #scheduleDiscovery(delayMs: number): void {
    const signal = this.#abort?.signal
    if (!signal || signal.aborted) return
    this.#timer = setTimeout(() => {
      this.#discovering = this.discover(signal)
        .then(() => {
          if (this.#discoveryProblem !== undefined) this.#c.logger.info('meta node discovery works again')
          this.#discoveryProblem = undefined
        })
        .catch((e: unknown) => {
          if (signal.aborted) return
          const err = toStratosError(e)
          const fields = { code: err.code, err: err.message, chainUrl: this.#o.chainUrl }
          if (this.#discoveryProblem === err.code) this.#c.logger.debug(fields, 'meta node discovery failed')
          else this.#c.logger.warn(fields, 'meta node discovery failed; retrying')
          this.#discoveryProblem = err.code
        })
        .finally(() => {
          this.#discovering = undefined
          this.#scheduleDiscovery(this.#o.discoveryIntervalMs ?? META_DISCOVERY_INTERVAL_MS)
        })
    }, delayMs)
    this.#timer.unref()
  }

  /**
   * The primary's share of the node: with no listed meta node, everything (the single-meta node as before); else its
   * own claims plus the number of shards nobody claimed (stored before claims were recorded, when it was the only
   * one; their bytes are not counted).
   */
  #primaryScope(): HeartbeatScope {
    const trust = this.#o.primaryTrust
    const owners = this.#c.owners
    const store = this.#c.store
    return {
      totals: () => {
        if (this.#listed.size === 0) return undefined
        const sum = { shardCount: 0, usedBytes: 0 }
        for (const a of trust.issuers) {
          const t = owners.totals(a)
          sum.shardCount += t.shardCount
          sum.usedBytes += t.usedBytes
        }
        const claimed = owners.claimed()
        sum.shardCount += Math.max(0, store.shardCount - claimed.shardCount)
        return sum
      },
      reportsCorrupt: (id) => {
        const held = owners.ownersOf(id)
        return held.length === 0 || held.some((a) => trust.issuers.has(a))
      },
      release: (id) => {
        let free = owners.ownersOf(id).length === 0
        for (const a of trust.issuers) free = owners.release(id, a) || free
        return free
      },
    }
  }

  #heartbeat(
    meta: MetaClient,
    trust: HeartbeatTrust,
    trustConfigured: boolean,
    scope: HeartbeatScope,
    logger: Logger,
  ): HeartbeatLoop {
    const c = this.#c
    return new HeartbeatLoop({
      store: c.store,
      key: c.key,
      chainId: c.chainId,
      meta,
      trust,
      trustConfigured,
      scope,
      clock: c.clock,
      logger,
      url: c.url,
      load: c.load,
      intervalMs: this.#o.heartbeatIntervalMs,
    })
  }

  #settlement(meta: MetaClient, issuer: (address: string) => boolean, logger: Logger): SettlementLoop {
    const c = this.#c
    return new SettlementLoop({
      book: c.orders,
      key: c.key,
      chainId: c.chainId,
      meta,
      clock: c.clock,
      logger,
      intervalMs: this.#o.orderSettleIntervalMs,
      issuer,
    })
  }
}

/** Whether `url` is one of `urls` (a meta node's URL list, comma-separated). */
function sameUrl(url: string, urls: string): boolean {
  return metaUrls(urls).includes(url.replace(/\/+$/, ''))
}
