/**
 * Auto-scaling replication of hot segments (free to the owner: the traffic is the meta node's, see transfer.ts).
 *
 * A segment read more than the hot threshold (hot.ts) gets `extraNodes` extra copies of each of its k data shards,
 * each on a healthy online node that holds no copy of that shard yet (preferably none of the segment), while the
 * total replica bytes stay within `maxBytes`. Parity shards get none: a healthy read never touches them.
 * Replicas live in `replicas` [cid, segment, shardIndex, node] and each holds a ref on its (node, shard), so
 * nothing deletes a replica in use, and dropping one is an ordinary release: its node is told to delete it at its
 * next heartbeat. A segment cool for `cooldownMs` (no hot read) loses its replicas; so do replicas whose node
 * stops being healthy, and those of deleted files.
 *
 * Reads: `route()` is the read route's hook. For every shard position with replicas it picks one holder per
 * request (round-robin over the primary and the online replicas), issues the GET ticket for that node and shows
 * that node in the response's view of the segment, so an unchanged client simply reads from where it is told.
 * Files without replicas (almost all) pay one Map lookup.
 */
import { toStratosError } from '../../../errors.ts'
import { REPLICA_TURN_SEGMENTS } from '../../../limits.ts'
import { randomHex, type Clock, type Logger, type RandomBytes } from '../../../util/components.ts'
import { Lru } from '../../../util/lru.ts'
import type { SegmentRecord } from '../../protocol/api.ts'
import { placeShards } from '../placement.ts'
import type { Registry } from '../registry.ts'
import type { FileRecord, MetaStore } from '../store.ts'
import type { LocationHealth } from './health.ts'
import { segmentKey, type HotTracker } from './hot.ts'
import type { RepairTransfers } from './transfer.ts'

/** What the read route (files.ts) asks of replication: count the read, and maybe route it to replicas. */
export interface ReadRouter {
  /** A read request for segments [from, to) of `cid`. Must be cheap: it runs on every read. */
  onRead(cid: string, from: number, to: number, now: number): void
  /**
   * Segments of [from, to) whose shards this read should fetch from replicas, as segment records naming the chosen
   * node per shard; undefined when the file has no replicas (the common case).
   */
  route(r: FileRecord, from: number, to: number, now: number): Map<number, SegmentRecord> | undefined
}

export interface ReplicasOptions {
  store: MetaStore
  registry: Registry
  health: LocationHealth
  transfers: RepairTransfers
  tracker: HotTracker
  clock: Clock
  random: RandomBytes
  logger: Logger
  extraNodes: number
  maxBytes: number
  cooldownMs: number
}

/** cid → segment → shardIndex → replica nodes. */
type ReplicaMap = Map<string, Map<number, Map<number, string[]>>>

export class Replicas implements ReadRouter {
  readonly #o: ReplicasOptions
  readonly #map: ReplicaMap = new Map()
  /** Per replicated segment, the next replica to serve a read; FIFO (a turn's update keeps its place), oldest out. */
  readonly #turn = new Lru<string, number>({ maxEntries: REPLICA_TURN_SEGMENTS, order: 'fifo' })
  /** Segment key → when its last replica was added: the cooldown runs from max(last hot read, this). */
  readonly #addedAt = new Map<string, number>()
  #bytes = 0
  /** Replicas found at start-up count as hot from then (read counts are not persisted). */
  readonly #since: number

  constructor(options: ReplicasOptions) {
    this.#o = options
    this.#since = options.clock.now()
    for (const { at, record } of options.store.repair.allReplicas()) {
      this.#add(at.cid, at.segment, at.shardIndex, at.node)
      this.#bytes += record.size
    }
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Replica nodes of one data shard. */
  holders(cid: string, segment: number, shardIndex: number): readonly string[] {
    return this.#map.get(cid)?.get(segment)?.get(shardIndex) ?? []
  }

  /** Segments that have replicas, as segment keys. */
  replicatedSegments(): { cid: string; segment: number }[] {
    const out: { cid: string; segment: number }[] = []
    for (const [cid, segs] of this.#map) for (const segment of segs.keys()) out.push({ cid, segment })
    return out
  }

  onRead(cid: string, from: number, to: number, now: number): void {
    this.#o.tracker.onRead(cid, from, to, now)
  }

  route(r: FileRecord, from: number, to: number, now: number): Map<number, SegmentRecord> | undefined {
    const segs = this.#map.get(r.cid)
    if (!segs) return undefined
    let out: Map<number, SegmentRecord> | undefined
    for (let i = from; i < to; i++) {
      const reps = segs.get(i)
      const seg = r.segments[i]
      if (!reps || !seg) continue
      const key = segmentKey(r.cid, i)
      const turn = this.#turn.get(key) ?? 0
      this.#turn.set(key, turn + 1)
      let shards: SegmentRecord['shards'] | undefined
      for (const [j, nodes] of reps) {
        const primary = seg.shards[j]
        if (!primary) continue
        const online = nodes.filter((n) => this.#o.registry.state(n, now) === 'online')
        const holders = this.#o.registry.state(primary.node, now) === 'online' ? [primary.node, ...online] : online
        if (holders.length === 0) continue
        const pick = holders[(turn + j) % holders.length]
        if (pick === primary.node) continue
        shards ??= seg.shards.slice()
        shards[j] = { id: primary.id, node: pick }
      }
      if (shards) (out ??= new Map()).set(i, { ...seg, shards })
    }
    return out
  }

  /** Adds replicas to a hot segment until each data shard has `extraNodes` of them (or the budget/nodes run out). */
  async replicate(cid: string, segment: number, signal: AbortSignal): Promise<number> {
    const { store, registry, health, transfers, clock, logger, extraNodes, maxBytes, random } = this.#o
    const r = await store.read(() => store.files.get(cid))
    const seg = r?.segments[segment]
    if (!r || !seg) return 0
    let added = 0
    for (let j = 0; j < r.k && j < seg.shards.length; j++) {
      const primary = seg.shards[j]
      while (this.holders(cid, segment, j).length < extraNodes) {
        if (signal.aborted) return added
        if (this.#bytes + seg.shardSize > maxBytes) {
          logger.info({ cid, segment, bytes: this.#bytes, maxBytes }, 'replica budget reached')
          return added
        }
        const now = clock.now()
        const taken = new Set([primary.node, ...this.holders(cid, segment, j)])
        const segmentNodes = new Set(seg.shards.map((s) => s.node))
        for (let x = 0; x < r.k; x++) for (const n of this.holders(cid, segment, x)) segmentNodes.add(n)
        // Take the ref (journalled) before the copy, like a repair: nothing can delete a copy in flight.
        const node = await store.write(() => {
          const candidates = registry
            .candidates(now)
            .filter(
              (c) =>
                health.placeable(c.address, now) &&
                !taken.has(c.address) &&
                !store.locations.locationBlocked(c.address, primary.id) &&
                !store.repair.copyInFlight(c.address, primary.id) &&
                store.locations.refCount(c.address, primary.id) === undefined,
            )
          const pick = (exclude: Set<string>): string | undefined => {
            try {
              return placeShards({ candidates, shardSize: seg.shardSize, shards: [{}], exclude, random })[0]
            } catch {
              return undefined
            }
          }
          const chosen = pick(segmentNodes) ?? pick(taken)
          if (chosen === undefined) return undefined
          store.locations.addRef(chosen, primary.id)
          store.repair.startCopy(chosen, primary.id, { cid, segment, startedAt: now })
          registry.reserve(chosen, seg.shardSize)
          return chosen
        })
        if (node === undefined) {
          logger.debug({ cid, segment, shard: j }, 'no node left for another replica')
          break
        }
        let ok = false
        // One context per copy: the tickets' context, and the key of its PUT credit once the replica is recorded.
        const context = `replica:${randomHex(random, 8)}:${cid}`
        try {
          const sources = [primary.node, ...this.holders(cid, segment, j)].filter((n) => registry.state(n) === 'online')
          let data: Uint8Array | undefined
          for (const src of sources) {
            try {
              data = await transfers.get({
                node: src,
                url: registry.location(src).url,
                shard: primary.id,
                size: seg.shardSize,
                context,
                signal,
              })
              break
            } catch (e) {
              if (signal.aborted) throw e
            }
          }
          if (data) {
            await transfers.put({ node, url: registry.location(node).url, shard: primary.id, data, context, signal })
            ok = true
          }
        } catch (e) {
          logger.warn({ cid, segment, shard: j, node, code: toStratosError(e).code }, 'replica copy failed')
        }
        const kept = await store.write(() => {
          store.repair.endCopy(node, primary.id)
          const still = store.files.get(cid)?.segments[segment]?.shards[j]
          if (!ok || !still || still.id !== primary.id) {
            store.locations.releaseRef(node, primary.id, clock.now())
            return false
          }
          store.repair.putReplica(
            { cid, segment, shardIndex: j, node },
            {
              shard: primary.id,
              size: seg.shardSize,
              addedAt: clock.now(),
            },
          )
          // Proof of Traffic: this commit is the copy's PUT credit (pot/put-credits.ts), paid by the repair payer.
          store.pot.addPutCredit(context, { payer: transfers.payer(), cid, puts: [[node, seg.shardSize, 0, 0]] })
          return true
        })
        if (!kept) break
        this.#add(cid, segment, j, node)
        this.#addedAt.set(segmentKey(cid, segment), clock.now())
        this.#bytes += seg.shardSize
        added++
      }
    }
    if (added > 0) logger.info({ cid, segment, added, replicaBytes: this.#bytes }, 'hot segment replicated')
    return added
  }

  /** Drops replicas: all of a segment's (`node` undefined) or those on one node. Their nodes are told to delete. */
  async drop(cid: string, segment: number, node?: string): Promise<number> {
    const { store, clock } = this.#o
    const segs = this.#map.get(cid)?.get(segment)
    if (!segs) return 0
    const now = clock.now()
    const gone = await store.write(() => {
      const out: { j: number; node: string; size: number }[] = []
      for (const { at, record } of store.repair.segmentReplicas(cid, segment)) {
        if (node !== undefined && at.node !== node) continue
        store.repair.removeReplica(at)
        store.locations.releaseRef(at.node, record.shard, now)
        out.push({ j: at.shardIndex, node: at.node, size: record.size })
      }
      return out
    })
    for (const g of gone) {
      this.#remove(cid, segment, g.j, g.node)
      this.#bytes -= g.size
    }
    if (gone.length > 0)
      this.#o.logger.info(
        { cid, segment, dropped: gone.length, replicaBytes: this.#bytes },
        node ? 'replica on an unhealthy node dropped' : 'cooled segment: replicas dropped',
      )
    return gone.length
  }

  /** Drops what is no longer wanted: cooled segments, deleted files, replicas on nodes that are not healthy. */
  async sweep(now: number, busy: (key: string) => boolean = () => false): Promise<void> {
    const { tracker, cooldownMs, store, health } = this.#o
    for (const { cid, segment } of this.replicatedSegments()) {
      const key = segmentKey(cid, segment)
      if (busy(key)) continue
      const last = Math.max(tracker.lastHot(key) ?? this.#since, this.#addedAt.get(key) ?? this.#since)
      if (now - last > cooldownMs || (await store.read(() => store.files.get(cid))) === undefined) {
        await this.drop(cid, segment)
        continue
      }
      const segs = this.#map.get(cid)?.get(segment)
      for (const nodes of segs?.values() ?? []) {
        for (const n of [...nodes]) if (health.node(n, now).state === 'unhealthy') await this.drop(cid, segment, n)
      }
    }
  }

  #add(cid: string, segment: number, j: number, node: string): void {
    let segs = this.#map.get(cid)
    if (!segs) this.#map.set(cid, (segs = new Map()))
    let shards = segs.get(segment)
    if (!shards) segs.set(segment, (shards = new Map()))
    const nodes = shards.get(j) ?? []
    if (!nodes.includes(node)) shards.set(j, [...nodes, node])
  }

  #remove(cid: string, segment: number, j: number, node: string): void {
    const segs = this.#map.get(cid)
    const shards = segs?.get(segment)
    const nodes = shards?.get(j)
    if (!segs || !shards || !nodes) return
    const rest = nodes.filter((n) => n !== node)
    if (rest.length > 0) shards.set(j, rest)
    else shards.delete(j)
    if (shards.size === 0) {
      segs.delete(segment)
      this.#addedAt.delete(segmentKey(cid, segment))
    }
    if (segs.size === 0) this.#map.delete(cid)
  }
}
