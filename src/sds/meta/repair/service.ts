/**
 * RepairService: the meta node's repair, drain and replication loop (Startable).
 *
 * Checker (every `checkIntervalMs`):
 *   - every registered node's condition (health.ts); for a node that is unhealthy (offline past the grace period,
 *     suspended, unbonding → drain, unregistered) its shards are walked through the refs index ([node, *]) and the
 *     shard → file index (the FileStore's, stores/files.ts) to the segments naming them — only that node's shards, never every file.
 *     A node still holding refs is walked again every `retryMs` until it holds none;
 *   - every location reported bad (store `bad`, from heartbeats' corrupt lists and audits);
 *   - a slow full sweep every `sweepIntervalMs`, `REPAIR_SWEEP_BATCH` files per pass, which also indexes records
 *     written before the shard index existed;
 *   - replication: newly hot segments get replicas, cooled ones lose them (replicas.ts).
 * Work goes into a bounded queue (REPAIR_QUEUE_MAX; overflow is found again on the next pass) of segments, each
 * queued or in flight at most once, run by `concurrency` workers (SegmentRepairer). A failed segment waits
 * `retryMs` before it is queued again. stop() aborts transfers in flight and waits for the workers.
 */
import { toStratosError } from '../../../errors.ts'
import {
  HOT_COOLDOWN_MS,
  HOT_SEGMENT_READS_PER_MIN,
  HOT_TRACKED_SEGMENTS,
  HOT_WINDOW_MS,
  REPAIR_CHECK_INTERVAL_MS,
  REPAIR_CONCURRENCY,
  REPAIR_FAILED_SEGMENTS_KEPT,
  REPAIR_GRACE_MS,
  REPAIR_QUEUE_MAX,
  REPAIR_RETRY_MS,
  REPAIR_SWEEP_BATCH,
  REPAIR_SWEEP_INTERVAL_MS,
  REPLICATION_EXTRA_NODES,
  REPLICATION_MAX_BYTES,
} from '../../../limits.ts'
import type { Startable } from '../../../util/components.ts'
import { Lru } from '../../../util/lru.ts'
import type { ChainLink } from '../chain-link.ts'
import type { MetaCoreComponents } from '../components.ts'
import { LocationHealth, type NodeHealth } from './health.ts'
import { HotTracker, parseSegmentKey, segmentKey } from './hot.ts'
import { Replicas } from './replicas.ts'
import { SegmentRepairer, type RepairOutcome } from './repairer.ts'
import { RepairTransfers, repairPayer } from './transfer.ts'

/** Tunables (MetaNodeOptions.repair); every one defaults to its named limit. */
export interface RepairOptions {
  /** false: no repair loop at all (replica routing still answers). Default true. */
  enabled?: boolean
  graceMs?: number
  checkIntervalMs?: number
  sweepIntervalMs?: number
  concurrency?: number
  retryMs?: number
  hotReadsPerWindow?: number
  hotWindowMs?: number
  hotCooldownMs?: number
  replicationExtraNodes?: number
  replicationMaxBytes?: number
}

export interface RepairServiceComponents extends MetaCoreComponents {
  offlineAfterMs: number
  /** Optional: on-chain node status (drain of unbonding nodes) and the payer of repair traffic. */
  chain?: ChainLink
  /** Optional: audit suspensions and maintenance windows (audit/). */
  health?: NodeHealth
  /** False while another process of this meta node holds the background duties (leases.ts): the check is skipped. */
  onDuty?: () => boolean
}

export interface RepairStats {
  queued: number
  inFlight: number
  repairedSegments: number
  movedShards: number
  /** Shards copied from their old node (drain) or a replica, and shards rebuilt from k others. */
  copiedShards: number
  rebuiltShards: number
  failedSegments: number
  replicaBytes: number
  replicatedSegments: number
}

export class RepairService implements Startable {
  readonly health: LocationHealth
  readonly replicas: Replicas
  readonly tracker: HotTracker
  readonly #c: RepairServiceComponents
  readonly #o: Required<RepairOptions>
  readonly #transfers: RepairTransfers
  readonly #repairer: SegmentRepairer
  readonly #queue = new Map<string, 'repair' | 'replicate'>()
  readonly #inFlight = new Map<string, Promise<void>>()
  /** Segment → when its repair last failed; FIFO (a new failure keeps the first one's place), oldest out. */
  readonly #failedAt = new Lru<string, number>({ maxEntries: REPAIR_FAILED_SEGMENTS_KEPT, order: 'fifo' })
  readonly #walkedAt = new Map<string, number>()
  /** Hot segments waiting for a replication job (the queue was full or the segment busy when they turned hot). */
  readonly #wantReplicas = new Set<string>()
  #sweepCursor: string | undefined
  #lastSweep = 0
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  #ac = new AbortController()
  #running = false
  #idleWaiters: (() => void)[] = []
  readonly #stats = { repairedSegments: 0, movedShards: 0, copiedShards: 0, rebuiltShards: 0, failedSegments: 0 }

  constructor(components: RepairServiceComponents, options: RepairOptions = {}) {
    this.#c = components
    this.#o = {
      enabled: options.enabled ?? true,
      graceMs: options.graceMs ?? REPAIR_GRACE_MS,
      checkIntervalMs: options.checkIntervalMs ?? REPAIR_CHECK_INTERVAL_MS,
      sweepIntervalMs: options.sweepIntervalMs ?? REPAIR_SWEEP_INTERVAL_MS,
      concurrency: options.concurrency ?? REPAIR_CONCURRENCY,
      retryMs: options.retryMs ?? REPAIR_RETRY_MS,
      hotReadsPerWindow: options.hotReadsPerWindow ?? HOT_SEGMENT_READS_PER_MIN,
      hotWindowMs: options.hotWindowMs ?? HOT_WINDOW_MS,
      hotCooldownMs: options.hotCooldownMs ?? HOT_COOLDOWN_MS,
      replicationExtraNodes: options.replicationExtraNodes ?? REPLICATION_EXTRA_NODES,
      replicationMaxBytes: options.replicationMaxBytes ?? REPLICATION_MAX_BYTES,
    }
    const c = components
    this.health = new LocationHealth({
      store: c.store,
      registry: c.registry,
      offlineAfterMs: c.offlineAfterMs,
      graceMs: this.#o.graceMs,
      health: c.health,
      chain: c.chain,
    })
    this.#transfers = new RepairTransfers({
      key: c.key,
      chainId: c.chainId,
      clock: c.clock,
      random: c.random,
      payer: () => repairPayer(c.key, c.chain?.owner),
    })
    this.tracker = new HotTracker({
      readsPerWindow: this.#o.hotReadsPerWindow,
      windowMs: this.#o.hotWindowMs,
      maxTracked: HOT_TRACKED_SEGMENTS,
    })
    this.replicas = new Replicas({
      store: c.store,
      registry: c.registry,
      health: this.health,
      transfers: this.#transfers,
      tracker: this.tracker,
      clock: c.clock,
      random: c.random,
      logger: c.logger,
      extraNodes: this.#o.replicationExtraNodes,
      maxBytes: this.#o.replicationMaxBytes,
      cooldownMs: this.#o.hotCooldownMs,
    })
    // A node being drained (unbonding) or suspended on chain gets no new data from uploads either.
    const chain = c.chain
    if (chain) {
      c.registry.addPlacementFilter((node) => {
        if (!chain.synced) return true
        const s = chain.nodeStatus(node)
        return s !== 'unbonding' && s !== 'suspended'
      })
    }
    this.#repairer = new SegmentRepairer({
      store: c.store,
      registry: c.registry,
      records: c.records,
      health: this.health,
      transfers: this.#transfers,
      clock: c.clock,
      random: c.random,
      logger: c.logger,
      replicaHolders: (cid, segment, j) => this.replicas.holders(cid, segment, j),
    })
  }

  async start(): Promise<void> {
    if (this.#running || !this.#o.enabled) return
    this.#running = true
    this.#ac = new AbortController()
    await this.#releaseAbandoned()
    this.#lastSweep = this.#c.clock.now()
    this.#sweepCursor = '' // a first full pass after start: indexes older records and finds what happened while down
    this.#schedule()
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#ac.abort()
    this.#queue.clear()
    await this.#checking
    await Promise.allSettled([...this.#inFlight.values()])
    await this.#transfers.close()
    for (const w of this.#idleWaiters.splice(0)) w()
  }

  stats(): RepairStats {
    return {
      queued: this.#queue.size,
      inFlight: this.#inFlight.size,
      ...this.#stats,
      replicaBytes: this.replicas.bytes,
      replicatedSegments: this.replicas.replicatedSegments().length,
    }
  }

  /** Runs one checker pass now (tests and operators; the loop runs it every checkIntervalMs). */
  async checkNow(): Promise<void> {
    if (!this.#running) return
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined
    })
    await this.#checking
  }

  /** Resolves when no segment is queued or in flight. */
  idle(): Promise<void> {
    if (this.#queue.size === 0 && this.#inFlight.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #schedule(): void {
    if (!this.#running) return
    this.#timer = setTimeout(() => {
      if (this.#c.onDuty && !this.#c.onDuty()) {
        this.#schedule()
        return
      }
      this.checkNow()
        .catch((e: unknown) => this.#c.logger.error({ err: e }, 'repair check failed'))
        .finally(() => this.#schedule())
    }, this.#o.checkIntervalMs)
    this.#timer.unref()
  }

  /** A process killed mid-copy left refs on locations no record names: give them back (their nodes delete them). */
  async #releaseAbandoned(): Promise<void> {
    const { store, clock, logger } = this.#c
    let n = 0
    for (;;) {
      const released = await store.write(() => {
        const copies = store.repair.copiesInFlight(REPAIR_SWEEP_BATCH)
        for (const { node, shard } of copies) {
          store.repair.endCopy(node, shard)
          store.locations.releaseRef(node, shard, clock.now())
        }
        return copies.length
      })
      n += released
      if (released < REPAIR_SWEEP_BATCH) break
    }
    if (n > 0) logger.info({ released: n }, 'released copies left in flight by the previous run')
  }

  async #check(): Promise<void> {
    const { store, registry, clock } = this.#c
    const now = clock.now()
    // 1. Unhealthy nodes: walk their shards.
    for (const view of registry.views(now)) {
      if (this.#full()) break
      const cond = this.health.node(view.address, now)
      if (cond.state !== 'unhealthy') {
        this.#walkedAt.delete(view.address)
        continue
      }
      const walked = this.#walkedAt.get(view.address)
      if (walked !== undefined && now - walked < this.#o.retryMs) continue
      if (await this.#walkNode(view.address, now)) this.#walkedAt.set(view.address, now)
    }
    // 2. Locations reported bad.
    let after: [string, string] | undefined
    while (!this.#full()) {
      const from = after
      const { page, segments } = await store.read(() => {
        const page = store.locations.badLocations(from, REPAIR_SWEEP_BATCH)
        return { page, segments: this.#segmentsOf(page) }
      })
      for (let i = 0; i < page.length; i++) {
        if (this.#full()) break
        for (const key of segments[i]!) this.#enqueue(key, 'repair', now)
      }
      if (page.length < REPAIR_SWEEP_BATCH) break
      after = page[page.length - 1]
    }
    // 3. The slow full sweep, a batch per pass.
    if (this.#sweepCursor === undefined && now - this.#lastSweep >= this.#o.sweepIntervalMs) this.#sweepCursor = ''
    if (this.#sweepCursor !== undefined && !this.#full()) await this.#sweepBatch(now)
    // 4. Replication: newly hot segments get replicas; cooled ones lose them.
    for (const key of this.tracker.takeNewlyHot()) this.#wantReplicas.add(key)
    for (const key of this.#wantReplicas) {
      if (!this.tracker.isHot(key, now)) this.#wantReplicas.delete(key)
      else if (this.#enqueue(key, 'replicate', now)) this.#wantReplicas.delete(key)
    }
    await this.replicas.sweep(now, (key) => this.#inFlight.has(key) || this.#queue.has(key))
    this.#pump()
  }

  #full(): boolean {
    return this.#queue.size >= REPAIR_QUEUE_MAX
  }

  /** Queues the segments that use `node`'s shards; false when the queue filled up before the walk finished. */
  async #walkNode(node: string, now: number): Promise<boolean> {
    const { store } = this.#c
    let after = ''
    for (;;) {
      const from = after
      // A page of the node's shards and the segments using them, in one async read (on PostgreSQL a read outside a
      // transaction blocks the event loop: a node with many shards made as many round trips).
      const { page, segments } = await store.read(() => {
        const page = store.locations.referencedShards(node, from, REPAIR_SWEEP_BATCH)
        return { page, segments: this.#segmentsOf(page.map((shard): [string, string] => [node, shard])) }
      })
      for (let i = 0; i < page.length; i++) {
        if (this.#full()) return false
        for (const key of segments[i]!) this.#enqueue(key, 'repair', now)
      }
      if (page.length < REPAIR_SWEEP_BATCH) return true
      after = page[page.length - 1]!
    }
  }

  /**
   * Inside MetaStore.read: per location, the keys of the segments that place a shard there (the shard index, then the
   * records, each level prefetched).
   */
  #segmentsOf(locations: readonly (readonly [string, string])[]): string[][] {
    const { store } = this.#c
    store.prefetch(store.files.filesWithShardReads(locations.map(([, shard]) => shard)))
    const cids = locations.map(([, shard]) => store.files.filesWithShard(shard))
    store.prefetch(store.files.reads([...new Set(cids.flat())]).slice(0, 1))
    return locations.map(([node, shard], i) => {
      const keys: string[] = []
      for (const cid of cids[i]!) {
        const r = store.files.get(cid)
        if (!r) continue
        for (const seg of r.segments) {
          if (seg.shards.some((s) => s.id === shard && s.node === node)) keys.push(segmentKey(cid, seg.index))
        }
      }
      return keys
    })
  }

  async #sweepBatch(now: number): Promise<void> {
    const { store } = this.#c
    const start = this.#sweepCursor ?? ''
    // Decided on one view of the index, in three round trips on PostgreSQL (the page, then every location and shard
    // index entry it names at once) without blocking the event loop; queued after.
    const page = await store.read(() => {
      const records = store.files.scan(start, REPAIR_SWEEP_BATCH)
      const pairs: [string, string][] = []
      for (const { record } of records)
        for (const seg of record.segments) for (const s of seg.shards) pairs.push([s.node, s.id])
      store.prefetch([...store.files.shardIndexReads(records.map((r) => r.record)), ...store.locations.reads(pairs)])
      return records.map(({ cid, record }) => ({
        cid,
        indexed: store.files.shardsIndexed(record),
        unhealthy: record.segments.filter((seg) => this.#repairer.unhealthy(seg, now).length > 0).map((s) => s.index),
      }))
    })
    const toIndex: string[] = []
    let last: string | undefined
    for (const { cid: key, indexed, unhealthy } of page) {
      if (this.#full()) break
      last = key
      if (!indexed) toIndex.push(key)
      for (const index of unhealthy) this.#enqueue(segmentKey(key, index), 'repair', now)
    }
    if (toIndex.length > 0) {
      await store.write(() => {
        for (const cid of toIndex) {
          const r = store.files.get(cid)
          if (r) store.files.indexShards(r)
        }
      })
    }
    if (last === undefined) {
      this.#sweepCursor = undefined
      this.#lastSweep = now
    } else {
      this.#sweepCursor = last
    }
  }

  /** Queues a job for one segment unless it is queued or running already; false when not queued. */
  #enqueue(key: string, kind: 'repair' | 'replicate', now: number): boolean {
    if (this.#queue.has(key) || this.#inFlight.has(key) || this.#full()) return false
    const failed = this.#failedAt.get(key)
    if (failed !== undefined && now - failed < this.#o.retryMs) return false
    this.#queue.set(key, kind)
    return true
  }

  #pump(): void {
    while (this.#running && this.#inFlight.size < this.#o.concurrency && this.#queue.size > 0) {
      const [key, kind] = this.#queue.entries().next().value as [string, 'repair' | 'replicate']
      this.#queue.delete(key)
      const job = this.#run(key, kind).finally(() => {
        this.#inFlight.delete(key)
        this.#pump()
        if (this.#queue.size === 0 && this.#inFlight.size === 0) for (const w of this.#idleWaiters.splice(0)) w()
      })
      this.#inFlight.set(key, job)
    }
    if (this.#queue.size === 0 && this.#inFlight.size === 0) for (const w of this.#idleWaiters.splice(0)) w()
  }

  async #run(key: string, kind: 'repair' | 'replicate'): Promise<void> {
    const { cid, segment } = parseSegmentKey(key)
    const { logger, clock } = this.#c
    const signal = this.#ac.signal
    try {
      if (kind === 'replicate') {
        await this.replicas.replicate(cid, segment, signal)
        return
      }
      const r: RepairOutcome = await this.#repairer.repair(cid, segment, signal)
      if (r.outcome === 'repaired') {
        this.#stats.repairedSegments++
        this.#stats.movedShards += r.moved
        this.#stats.copiedShards += r.copied
        this.#stats.rebuiltShards += r.rebuilt
        if (r.failed > 0) this.#markFailed(key, clock.now())
        else this.#failedAt.delete(key)
      }
    } catch (e) {
      if (signal.aborted) return
      this.#stats.failedSegments++
      this.#markFailed(key, clock.now())
      const err = toStratosError(e)
      logger.warn({ cid, segment, kind, code: err.code, err: err.message }, 'segment repair failed; will retry')
    }
  }

  #markFailed(key: string, now: number): void {
    this.#failedAt.set(key, now)
  }
}
