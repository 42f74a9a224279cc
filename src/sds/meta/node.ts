/**
 * MetaNode: wires the index (LMDB), the registry, uploads, files and the HTTP API into one Startable process role.
 *
 * Layout of dataDir: node-key.json (this meta node's ed25519 identity, which signs tickets and heartbeat replies)
 * and index/ (the LMDB environment, see store.ts). Everything the node knows lives in index/, written in atomic
 * transactions, so a restart — clean or after kill -9 — resumes with files, open uploads and pending deletes intact.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { NodeKey } from '../../crypto/node-key.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_SEGMENT_BYTES,
  HEARTBEAT_INTERVAL_MS,
  META_RECORD_CACHE_BYTES,
  NODE_OFFLINE_AFTER_MS,
  META_SWEEP_BATCH,
  SOFTWARE_VERSION,
  UPLOAD_SESSION_TTL_MS,
  UPLOAD_SWEEP_INTERVAL_MS,
} from '../../limits.ts'
import {
  silentLogger,
  systemClock,
  systemRandom,
  type Clock,
  type Logger,
  type RandomBytes,
  type Startable,
} from '../../util/components.ts'
import { closeServer, listen } from '../../net/http-server.ts'
import type { MetaInfo, NetworkStatus } from '../protocol/api.ts'
import { Files } from './files.ts'
import { Registry } from './registry.ts'
import { createMetaServer, type MetaApi, type MetaServer } from './server.ts'
import { MetaStore } from './store.ts'
import { DutyLease, Leases } from './leases.ts'
import { Uploads } from './uploads.ts'
import { RecordCache } from './record-cache.ts'
import { Shares } from './shares.ts'
import { Access } from './access.ts'
import { Grants } from './grants.ts'
import { Delegations, TableDelegationStore, type DelegationStore } from './delegations.ts'
import { RepairService, type RepairOptions } from './repair/index.ts'
import {
  applyMaintenance,
  createAuditSystem,
  type Auditor,
  type NodeHealth,
  type ReputationParams,
} from './audit/index.ts'
import { HttpChainLink, type ChainLink } from './chain-link.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import { OzoneGuard } from './pot/ozone-guard.ts'
import { Reporter, reportChainOf } from './pot/reports.ts'
import { Settlement } from './pot/settlement.ts'
import { PutCredits } from './pot/put-credits.ts'
import { TrafficViews } from './pot/traffic.ts'
import type { SignedMaintenance } from '../protocol/audit.ts'
import { createOps, type Ops } from '../../net/ops.ts'
import { registerMetaMetrics, type MetaMetricsParts } from './metrics.ts'
import { installNativeWalletCrypto } from '../../chain/native-secp256k1.ts'
import { installNativeNodeCrypto, nativeEd25519LoadError } from '../../crypto/native-ed25519.ts'

export interface MetaNodeOptions {
  /** Holds node-key.json and the LMDB env (index/). */
  dataDir: string
  /**
   * Where the index lives: absent, LMDB in `dataDir/index` (one process). A `postgres://…` URL puts it in
   * PostgreSQL, shared by several processes of this meta node (the same node key): background duties then run in
   * the one process holding their lease (leases.ts), and each process refreshes its views of the shared state.
   */
  index?: string
  host?: string
  /** 0 = ephemeral. */
  port: number
  chainId: string
  /** Told to clients in /v1/info; default DEFAULT_DATA_SHARDS / DEFAULT_PARITY_SHARDS / DEFAULT_SEGMENT_BYTES. */
  defaults?: { k: number; m: number; segmentSize: number }
  /** Default NODE_OFFLINE_AFTER_MS. */
  offlineAfterMs?: number
  /** Told to nodes in heartbeat replies; default HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number
  /** Default UPLOAD_SESSION_TTL_MS. */
  sessionTtlMs?: number
  /** Default UPLOAD_SWEEP_INTERVAL_MS. */
  sweepIntervalMs?: number
  /** How often this process credits committed PUTs (pot/put-credits.ts); default PUT_CREDIT_INTERVAL_MS. */
  putCreditIntervalMs?: number
  clock?: Clock
  random?: RandomBytes
  logger?: Logger
  /** Audits and reputation (audit/): knobs for tests; defaults from limits.ts. */
  audit?: {
    intervalMs?: number
    nodeMinIntervalMs?: number
    onlineSampleIntervalMs?: number
    params?: Partial<ReputationParams>
  }
  /** Callers whose `client` field in a share resolve is believed (shares.ts). @default DEFAULT_SHARE_TRUSTED_PROXIES (loopback) */
  shareTrustedProxies?: readonly string[]
  /** An already-built (and started) chain link: slashing reports go through it. Absent: incidents are only local. */
  chainLink?: ChainLink
  /**
   * Join the STOS chain (Proof of Traffic): the validator's REST URL and the meta node's owner wallet, which signs
   * volume reports and slashing transactions. The node builds an HttpChainLink from it, started and stopped with the
   * node (ignored when `chainLink` is given). Without either, the node runs the storage network alone: no ozone
   * checks, no reports, every heartbeating node may receive data.
   */
  chain?: { url: string; owner: WalletKey; syncIntervalMs?: number; reportRetryMs?: number }
  /** Repair, drain and hot-segment replication (repair/): grace period, intervals, thresholds; defaults from limits.ts. */
  repair?: RepairOptions
  /** /metrics, /healthz, /readyz of this node (default its own, role `meta`). */
  ops?: Ops
}

interface Running {
  store: MetaStore
  duties: DutyLease
  delegationStore: DelegationStore
  delegations: Delegations
  access: Access
  uploads: Uploads
  http: MetaServer
  url: string
  sweeper: NodeJS.Timeout
  /** The sweep in progress, if any (stop() waits for it before closing the index). */
  sweeping: Promise<void> | undefined
  auditor: Auditor
  health: NodeHealth
  repair: RepairService
  /** Volume reports (pot/reports.ts): only with a chain link this node built itself. */
  reporter: Reporter | undefined
  /** The ozone guard (with a chain): its leases are written back before the index closes. */
  guard: OzoneGuard | undefined
  /** Credits committed PUTs (pot/put-credits.ts); swept once more at stop. */
  putCredits: PutCredits
  /** The chain link built from `options.chain` (stopped with the node). */
  ownLink: HttpChainLink | undefined
  /** What metrics.ts reads at scrape time. */
  metrics: MetaMetricsParts
}

export class MetaNode implements Startable {
  readonly address: string
  readonly #o: MetaNodeOptions
  readonly #key: NodeKey
  readonly #clock: Clock
  readonly #logger: Logger
  #running: Running | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #chain: ChainLink | undefined
  readonly #ops: Ops

  constructor(options: MetaNodeOptions) {
    this.#o = options
    this.#ops = options.ops ?? createOps('meta')
    registerMetaMetrics(this.#ops, () => this.#running?.metrics)
    mkdirSync(options.dataDir, { recursive: true })
    this.#key = NodeKey.loadOrCreate(options.dataDir)
    this.address = this.#key.address
    this.#clock = options.clock ?? systemClock
    this.#logger = options.logger ?? silentLogger
  }
  /** Metrics and readiness of this node (served at /metrics, /healthz, /readyz). */
  get ops(): Ops {
    return this.#ops
  }

  /** Audit suspension and maintenance of resource nodes (repair reads it; see audit/index.ts). */
  get health(): NodeHealth {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.health
  }

  /** The audit loop (operators' tools and tests run rounds by hand). */
  get auditor(): Auditor {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.auditor
  }

  /** Repair and replication (tests run checker passes by hand). */
  get repair(): RepairService {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.repair
  }

  /** Credits committed PUTs (pot/put-credits.ts; tests and operators' tools sweep by hand). */
  get putCredits(): PutCredits {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.putCredits
  }

  /** The node's view of the chain (undefined: storage-only mode, or not started). */
  get chain(): ChainLink | undefined {
    return this.#chain
  }

  get url(): string {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.url
  }

  async start(): Promise<void> {
    if (this.#running) return
    // Every wallet request's signature is recovered here (uploads: create and commit): libsecp256k1 when it loads.
    installNativeWalletCrypto()
    // Every shard PUT's ticket is signed here and its receipt verified: libsodium when it loads.
    if (!installNativeNodeCrypto())
      this.#logger.warn({ error: nativeEd25519LoadError() }, 'libsodium did not load: node signatures through OpenSSL')
    if (this.#stopping) await this.#stopping
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  /**
   * Opens the index and (when it builds its own) the chain link, wires the services (wireMetaNode), serves the
   * API, then starts the sweeper and the audit, repair and report loops. A failure undoes whatever started (loops,
   * the listening API, the reporter, the chain link) and closes the index, so the node can start again.
   */
  async #start(): Promise<void> {
    const o = this.#o
    const clock = this.#clock
    const logger = this.#logger
    const defaults = o.defaults ?? {
      k: DEFAULT_DATA_SHARDS,
      m: DEFAULT_PARITY_SHARDS,
      segmentSize: DEFAULT_SEGMENT_BYTES,
    }
    const store = await MetaStore.open(o.index ?? join(o.dataDir, 'index'))
    const duties = new DutyLease(new Leases({ store, clock }), logger)
    const delegationStore: DelegationStore = new TableDelegationStore(store)
    let ownLink: HttpChainLink | undefined
    let parts: MetaParts | undefined
    let http: MetaServer | undefined
    let sweeper: NodeJS.Timeout | undefined
    try {
      if (o.chain && !o.chainLink) {
        ownLink = new HttpChainLink({
          chainUrl: o.chain.url,
          owner: o.chain.owner,
          clock,
          logger,
          ...(o.chain.syncIntervalMs !== undefined ? { syncIntervalMs: o.chain.syncIntervalMs } : {}),
        })
        await ownLink.start()
      }
      const chain: ChainLink | undefined = o.chainLink ?? ownLink
      this.#chain = chain
      parts = await wireMetaNode(
        {
          store,
          delegationStore,
          key: this.#key,
          chainId: o.chainId,
          clock,
          logger,
          random: o.random ?? systemRandom,
          chain,
          ownLink,
          onDuty: () => duties.held,
        },
        o,
      )
      const { api: services, health, auditor, repair, reporter } = parts
      const info: MetaInfo = {
        address: this.address,
        key: toBase64Url(this.#key.publicKey),
        chainId: o.chainId,
        version: SOFTWARE_VERSION,
        defaults,
      }
      const status = (): Promise<NetworkStatus> => networkStatus(o.chainId, this.address, services.registry, store)
      const api = createMetaServer({ ...services, info: () => info, status }, logger, this.#ops)
      http = api
      const url = await listen(api.server, o.host ?? '127.0.0.1', o.port)
      sweeper = setInterval(() => this.#sweep(), o.sweepIntervalMs ?? UPLOAD_SWEEP_INTERVAL_MS)
      sweeper.unref()
      await duties.start(store.shared ? parts.refresh : undefined)
      await auditor.start()
      await repair.start()
      await reporter?.start()
      parts.putCredits.start()
      this.#running = {
        store,
        duties,
        delegationStore,
        delegations: services.delegations,
        access: services.access,
        uploads: services.uploads,
        http: api,
        url,
        sweeper,
        sweeping: undefined,
        auditor,
        health,
        repair,
        reporter,
        guard: parts.guard,
        putCredits: parts.putCredits,
        ownLink,
        metrics: {
          status,
          repair,
          auditor,
          settlement: services.settlement,
          putCredits: parts.putCredits,
          chain,
          indexReady: () => store.ready(),
        },
      }
      logger.info({ address: this.address, url, chainId: o.chainId }, 'meta node started')
    } catch (e) {
      // Undo whatever started, the newest first, so a failed start leaves no port bound and no loop running.
      await duties.stop()
      if (sweeper) clearInterval(sweeper)
      await parts?.repair.stop()
      await parts?.auditor.stop()
      if (http?.server.listening) {
        await closeServer(http.server)
        await http.drain()
      }
      await parts?.reporter?.stop()
      await parts?.putCredits.stop()
      await parts?.guard?.close()
      await ownLink?.stop()
      this.#chain = undefined
      await store.close()
      await delegationStore.close()
      throw e
    }
  }

  #sweep(): void {
    const r = this.#running
    if (!r || r.sweeping || r.store.closed || !r.duties.held) return
    const store = r.store
    const now = this.#clock.now()
    r.sweeping = r.uploads
      .sweep()
      // Settled serials and committed-PUT entries past their settle window (pot-store.ts), chain or not.
      .then(async () => {
        if (await store.read(() => store.pot.hasPrunable(now)))
          await store.write(() => store.pot.prune(now, META_SWEEP_BATCH))
      })
      .then(() => r.access.pruneSpent(now, META_SWEEP_BATCH))
      .then(() => r.delegations.pruneNonces(now, META_SWEEP_BATCH))
      .then(
        () => {},
        (e: unknown) => {
          this.#logger.error({ err: e }, 'upload sweep failed')
        },
      )
      .finally(() => {
        r.sweeping = undefined
      })
  }

  /** Stops accepting requests, lets running ones finish, then closes the index. Idempotent. */
  async stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => {})
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const r = this.#running
    if (!r) return
    this.#running = undefined
    clearInterval(r.sweeper)
    await r.duties.stop()
    await r.auditor.stop()
    await r.repair.stop()
    await closeServer(r.http.server)
    await r.http.drain()
    await r.sweeping
    await r.reporter?.stop()
    // After the API drained (no commit adds a row any more), before the guard's leases go back.
    await r.putCredits.stop()
    await r.guard?.close()
    await r.ownLink?.stop()
    this.#chain = undefined
    await r.store.close()
    await r.delegationStore.close()
    this.#logger.info({ address: this.address }, 'meta node stopped')
  }
}

/** What wireMetaNode builds on: the open index, this node's identity, the injected components and the chain link, if any. */
interface MetaComponents {
  store: MetaStore
  /** The delegations' own store (delegations.ts). */
  delegationStore: DelegationStore
  key: NodeKey
  chainId: string
  clock: Clock
  logger: Logger
  random: RandomBytes
  /** The chain link in use (given, or built from options.chain); undefined: storage-only. */
  chain: ChainLink | undefined
  /** The chain link this node built itself: only then does it send volume reports. */
  ownLink: HttpChainLink | undefined
  /** True while this process runs the background duties (always, on an index only it opens). */
  onDuty: () => boolean
}

/** What wireMetaNode builds: the services the HTTP API serves, and the background loops #start starts. */
interface MetaParts {
  api: Omit<MetaApi, 'info' | 'status'>
  /** Audit suspension and maintenance (the reputation), which repair reads. */
  health: NodeHealth
  auditor: Auditor
  repair: RepairService
  /** Volume reports (pot/reports.ts): only with a chain link this node built itself. */
  reporter: Reporter | undefined
  /** The ozone guard (with a chain): its leases are written back before the index closes. */
  guard: OzoneGuard | undefined
  /** Credits committed PUTs (pot/put-credits.ts): one per process, swept once more before the index closes. */
  putCredits: PutCredits
  /** Reloads what each process keeps in memory of a shared index (DutyLease runs it on a shared index). */
  refresh: () => Promise<void>
}

/**
 * Builds the meta node's services over one open index, each given only the parts it uses. Nothing here
 * listens or starts a loop (#start does, once every part exists), so a failure here leaves only the
 * index and the chain link to close. With a chain, ozone is checked (OzoneGuard) and placement is limited
 * to nodes active on chain; without one every heartbeating node may receive data.
 */
async function wireMetaNode(components: MetaComponents, o: MetaNodeOptions): Promise<MetaParts> {
  const { store, chainId, clock, logger, random, chain, ownLink, onDuty } = components
  const guard = chain ? new OzoneGuard({ chain, store, clock, logger }) : undefined
  const pot = chain ? { chain, guard } : {}
  const common = { store, key: components.key, chainId, clock, logger }
  const registry = new Registry({
    ...common,
    offlineAfterMs: o.offlineAfterMs ?? NODE_OFFLINE_AFTER_MS,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
  })
  if (chain) {
    // With a chain, only nodes registered and active on chain receive new shards.
    registry.addPlacementFilter((node) => chain.nodeStatus(node) === 'active')
    registry.extendViews((view) => ({ ...view, chainState: chain.nodeStatus(view.address) }))
  }
  const { reputation, auditor } = createAuditSystem({
    ...common,
    registry,
    random,
    ...(chain ? { chain } : {}),
    ...(o.audit?.params ? { params: o.audit.params } : {}),
    ...(o.audit?.intervalMs !== undefined ? { intervalMs: o.audit.intervalMs } : {}),
    ...(o.audit?.nodeMinIntervalMs !== undefined ? { nodeMinIntervalMs: o.audit.nodeMinIntervalMs } : {}),
    ...(o.audit?.onlineSampleIntervalMs !== undefined
      ? { onlineSampleIntervalMs: o.audit.onlineSampleIntervalMs }
      : {}),
    onDuty,
  })
  const maintenance = (msg: SignedMaintenance) => applyMaintenance(msg, { store, registry, reputation, chainId, clock })
  const records = new RecordCache(META_RECORD_CACHE_BYTES)
  const delegations = new Delegations({ store: components.delegationStore, chainId, clock, random, logger })
  const access = new Access({ store, chainId, clock, random, delegations, ...(chain ? { chain } : {}) })
  await access.init()
  const grants = new Grants({ store, chainId, clock, random, logger })
  const uploads = new Uploads({
    ...common,
    ...pot,
    registry,
    records,
    random,
    delegations: delegations.check,
    sessionTtlMs: o.sessionTtlMs ?? UPLOAD_SESSION_TTL_MS,
  })
  const repair = new RepairService(
    {
      ...common,
      registry,
      records,
      random,
      offlineAfterMs: o.offlineAfterMs ?? NODE_OFFLINE_AFTER_MS,
      health: reputation,
      onDuty,
      ...(chain ? { chain } : {}),
    },
    o.repair,
  )
  const files = new Files({
    ...common,
    ...pot,
    registry,
    records,
    random,
    reads: repair.replicas,
    access,
    delegations: delegations.check,
  })
  const settlement = new Settlement({ ...common, ...pot })
  const putCredits = new PutCredits({
    store,
    logger,
    ...pot,
    ...(o.putCreditIntervalMs !== undefined ? { intervalMs: o.putCreditIntervalMs } : {}),
  })
  const traffic = new TrafficViews({
    store,
    ...(chain ? { chain } : {}),
    knownNodes: () => registry.views().map((v) => v.address),
    score: (node) => {
      const r = registry.get(node)
      return r ? registry.view(r, clock.now()).reputation?.auditScore : undefined
    },
  })
  const reporter = ownLink
    ? new Reporter({
        ...common,
        chain: reportChainOf(ownLink),
        ...(guard ? { guard } : {}),
        ...(o.chain?.reportRetryMs !== undefined ? { retryMs: o.chain.reportRetryMs } : {}),
        onDuty,
      })
    : undefined
  const shares = new Shares({
    store,
    chainId,
    clock,
    random,
    logger,
    shareToken: (id) => access.shareToken(id),
    ...(o.shareTrustedProxies ? { trustedProxies: o.shareTrustedProxies } : {}),
  })
  return {
    api: { registry, uploads, files, shares, maintenance, settlement, traffic, access, grants, delegations },
    health: reputation,
    auditor,
    repair,
    reporter,
    guard,
    putCredits,
    // A shared index: heartbeats and audits land in whichever process got them, repair may move a file's shards.
    // Read as one async read-only transaction (on PostgreSQL a blocking read would stall the event loop every
    // second for its round trips).
    refresh: async () => {
      const fresh = await store.read(() => {
        store.prefetch([...store.nodes.allReads(), ...store.reputation.allReads()])
        return { nodes: store.nodes.all(), reputation: store.reputation.all() }
      })
      registry.refresh(fresh.nodes)
      reputation.refresh(fresh.reputation)
      records.clear()
    },
  }
}

/** GET /v1/status: every node's view, with totals over the online nodes (what the network can use now) and the index's counters. */
async function networkStatus(
  chainId: string,
  address: string,
  registry: Registry,
  store: MetaStore,
): Promise<NetworkStatus> {
  // The index's counts in one async read (on PostgreSQL, reads outside a transaction block the event loop).
  const { counters, openUploads } = await store.read(() => {
    store.prefetch(store.files.countersReads())
    return { counters: store.files.counters(), openUploads: store.uploads.count() }
  })
  const nodes = registry.views()
  const online = nodes.filter((n) => n.state === 'online')
  return {
    chainId,
    meta: { address, version: SOFTWARE_VERSION },
    nodes,
    totals: {
      nodesOnline: online.length,
      nodesOffline: nodes.length - online.length,
      // Capacity the network can use now: online nodes only.
      capacityBytes: online.reduce((s, n) => s + n.capacityBytes, 0),
      freeBytes: online.reduce((s, n) => s + n.freeBytes, 0),
      usedBytes: online.reduce((s, n) => s + n.usedBytes, 0),
      files: counters.files,
      fileBytes: counters.fileBytes,
      openUploads,
    },
  }
}

export async function startMetaNode(options: MetaNodeOptions): Promise<MetaNode> {
  const node = new MetaNode(options)
  await node.start()
  return node
}
