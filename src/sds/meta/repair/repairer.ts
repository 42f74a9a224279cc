/**
 * Repairs one segment: every shard whose location is unhealthy (health.ts) gets a new home.
 *
 * 1. Read the record fresh; decide which positions are unhealthy. None → nothing to do.
 * 2. Place the targets on healthy online nodes that hold no shard of this segment (placement.ts, weighted by free
 *    space, so new and emptier nodes receive most of it) and take a ref on each new location at once, journalled in
 *    `repairing` in the same transaction: a node is never told to delete a copy in flight, and a process killed
 *    mid-repair releases those refs at its next start (the node is then told to delete the orphan).
 * 3. Get each target's bytes: copied straight from its old node when that node still serves (unbonding, suspended:
 *    a verified read costs one shard, a rebuild k), or from a replica; otherwise rebuilt with Reed-Solomon from
 *    any k readable shards of the segment. Rebuilt shards are checked against their ids before they leave.
 * 4. PUT each to its new node (ticket + order), check the receipt.
 * 5. One transaction: the record's locations move to the new nodes (if the record still names the old ones), the
 *    old locations are released (their nodes are told to delete at their next heartbeat; a bad location just goes),
 *    the record cache is invalidated. A target that failed gives its new ref back and is tried again later.
 *
 * Memory: a segment needing a rebuild holds (k+m)·shardSize bytes (48 MiB for a 32 MiB segment at k=4, m=2);
 * copies hold one shard each. Callers bound how many segments run at once (REPAIR_CONCURRENCY).
 */
import { StratosError, toStratosError } from '../../../errors.ts'
import { randomHex, type Clock, type Logger, type RandomBytes } from '../../../util/components.ts'
import type { CreditedPut } from '../pot/pot-store.ts'
import { ErasureCode } from '../../client/erasure.ts'
import type { SegmentRecord } from '../../protocol/api.ts'
import { computeShardId } from '../../protocol/shard.ts'
import { placeShards } from '../placement.ts'
import type { RecordCache } from '../record-cache.ts'
import type { Registry } from '../registry.ts'
import type { FileRecord, MetaStore } from '../store.ts'
import type { LocationHealth, NodeCondition } from './health.ts'
import type { RepairTransfers } from './transfer.ts'

export interface SegmentRepairerOptions {
  store: MetaStore
  registry: Registry
  records: RecordCache
  health: LocationHealth
  transfers: RepairTransfers
  clock: Clock
  random: RandomBytes
  logger: Logger
  /** Healthy extra copies of a data shard (replicas.ts), usable as copy sources. */
  replicaHolders?: (cid: string, segment: number, shardIndex: number) => readonly string[]
}

export type RepairOutcome =
  | { outcome: 'gone' | 'healthy' | 'waiting' }
  | { outcome: 'repaired'; moved: number; rebuilt: number; copied: number; failed: number }

interface Target {
  index: number
  id: string
  oldNode: string
  cond: NodeCondition
  newNode: string
  data?: Uint8Array
}

export class SegmentRepairer {
  readonly #o: SegmentRepairerOptions

  constructor(options: SegmentRepairerOptions) {
    this.#o = options
  }

  /** The positions of `seg` that need a new home now. */
  unhealthy(seg: SegmentRecord, now: number): { index: number; cond: NodeCondition }[] {
    const out: { index: number; cond: NodeCondition }[] = []
    seg.shards.forEach((s, index) => {
      const cond = this.#o.health.location(s.node, s.id, now)
      if (cond.state === 'unhealthy') out.push({ index, cond })
    })
    return out
  }

  async repair(cid: string, segment: number, signal: AbortSignal): Promise<RepairOutcome> {
    const { store, registry, clock, logger } = this.#o
    const now = clock.now()
    // The record and its locations' bad marks in one async read (on PostgreSQL a read outside a transaction blocks).
    const { record, seg, bad } = await store.read(() => {
      const record = store.files.get(cid)
      const seg = record?.segments[segment]
      if (!record || !seg) return { record, seg, bad: [] }
      store.prefetch(store.locations.reads(seg.shards.map((s) => [s.node, s.id])))
      return { record, seg, bad: this.unhealthy(seg, now) }
    })
    if (!record || !seg) return { outcome: 'gone' }
    if (bad.length === 0) return { outcome: 'healthy' }

    const targets = await this.#place(record, seg, bad, now)
    // One context per run: the tickets' context, and the key of this run's PUT credit (pot/put-credits.ts).
    const context = `repair:${randomHex(this.#o.random, 8)}:${cid}`
    let rebuilt = 0
    let copied = 0
    try {
      // Copies first: an old node that still serves, or a replica.
      for (const t of targets) {
        for (const node of this.#copySources(cid, segment, t)) {
          const url = registry.location(node).url
          if (!url) continue
          try {
            t.data = await this.#o.transfers.get({ node, url, shard: t.id, size: seg.shardSize, context, signal })
            copied++
            break
          } catch (e) {
            if (signal.aborted) throw e
            logger.debug(
              { cid, segment, shard: t.index, node, code: toStratosError(e).code },
              'repair copy failed, will rebuild',
            )
          }
        }
      }
      const missing = targets.filter((t) => !t.data)
      if (missing.length > 0) {
        await this.#rebuild(record, seg, missing, targets, context, signal)
        rebuilt = missing.length
      }
      // PUT every target to its new node.
      const stored = await Promise.all(
        targets.map(async (t) => {
          const url = registry.location(t.newNode).url
          try {
            await this.#o.transfers.put({ node: t.newNode, url, shard: t.id, data: t.data!, context, signal })
            return true
          } catch (e) {
            if (signal.aborted) throw e
            logger.warn(
              { cid, segment, shard: t.index, node: t.newNode, code: toStratosError(e).code },
              'repair PUT failed',
            )
            return false
          }
        }),
      )
      const ok = targets.filter((_, i) => stored[i])
      const failed = targets.filter((_, i) => !stored[i])
      const moved = await this.#commit(cid, segment, ok, failed, context)
      for (const t of targets) t.data = undefined
      logger.info(
        {
          cid,
          segment,
          moved,
          copied,
          rebuilt,
          failed: failed.length,
          reasons: targets.map((t) => (t.cond.state === 'unhealthy' ? t.cond.reason : t.cond.state)),
        },
        'segment repaired',
      )
      return { outcome: 'repaired', moved, rebuilt, copied, failed: failed.length }
    } catch (e) {
      // Nothing moved: the new locations give their refs back (and are told to delete whatever arrived).
      await this.#commit(cid, segment, [], targets).catch((e2: unknown) =>
        logger.error({ err: e2 }, 'releasing repair refs failed'),
      )
      throw e
    }
  }

  /** Picks new nodes and takes their refs (journalled). NOT_ENOUGH_NODES when the segment cannot be spread. */
  async #place(
    record: FileRecord,
    seg: SegmentRecord,
    bad: { index: number; cond: NodeCondition }[],
    now: number,
  ): Promise<Target[]> {
    const { store, registry, health, random } = this.#o
    return store.write(() => {
      const candidates = registry.candidates(now).filter((c) => health.placeable(c.address, now))
      const exclude = new Set(seg.shards.map((s) => s.node))
      const shards = bad.map(({ index }) => {
        const id = seg.shards[index].id
        const blocked = new Set<string>()
        for (const c of candidates) {
          if (
            store.locations.locationBlocked(c.address, id) ||
            store.repair.copyInFlight(c.address, id) ||
            store.repair.replica({ cid: record.cid, segment: seg.index, shardIndex: index, node: c.address }) !==
              undefined
          )
            blocked.add(c.address)
        }
        return { exclude: blocked }
      })
      const nodes = placeShards({ candidates, shardSize: seg.shardSize, shards, exclude, random })
      return bad.map(({ index, cond }, i) => {
        const id = seg.shards[index].id
        store.locations.addRef(nodes[i], id)
        store.repair.startCopy(nodes[i], id, { cid: record.cid, segment: seg.index, startedAt: now })
        registry.reserve(nodes[i], seg.shardSize)
        return { index, id, oldNode: seg.shards[index].node, cond, newNode: nodes[i] }
      })
    })
  }

  /** Where a target's bytes can be copied from without a rebuild: its old node if it still serves, then replicas. */
  #copySources(cid: string, segment: number, t: Target): string[] {
    const { registry, health, replicaHolders } = this.#o
    const out: string[] = []
    if (
      t.cond.state === 'unhealthy' &&
      t.cond.online &&
      t.cond.reason !== 'corrupt' &&
      registry.state(t.oldNode) === 'online'
    )
      out.push(t.oldNode)
    for (const node of replicaHolders?.(cid, segment, t.index) ?? []) {
      if (node !== t.oldNode && health.placeable(node, this.#o.clock.now())) out.push(node)
    }
    return out
  }

  /** Rebuilds `missing` from k readable shards of the segment into their `data`. */
  async #rebuild(
    record: FileRecord,
    seg: SegmentRecord,
    missing: Target[],
    targets: Target[],
    context: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { registry, health, clock, store } = this.#o
    const { k, m } = record
    const S = seg.shardSize
    const n = k + m
    const code = ErasureCode.for(k, m)
    const buf = new Uint8Array(n * S)
    const region = (i: number): Uint8Array => buf.subarray(i * S, (i + 1) * S)
    const missingIdx = new Set(missing.map((t) => t.index))
    const present: number[] = []
    // Bytes already in hand (copied targets) count as sources.
    for (const t of targets) {
      if (t.data && present.length < k) {
        region(t.index).set(t.data)
        present.push(t.index)
      }
    }
    // Then readable locations: healthy nodes first, then unhealthy ones that still serve (not corrupt).
    const now = clock.now()
    const sources: { index: number; node: string }[] = []
    const later: { index: number; node: string }[] = []
    // The locations' bad marks in one async read.
    const conds = await store.read(() => {
      store.prefetch(store.locations.reads(seg.shards.map((s) => [s.node, s.id])))
      return seg.shards.map((s) => health.location(s.node, s.id, now))
    })
    seg.shards.forEach((s, i) => {
      if (missingIdx.has(i) || present.includes(i)) return
      const cond = conds[i]!
      if (cond.state === 'healthy') sources.push({ index: i, node: s.node })
      else if (registry.state(s.node) === 'online' && !(cond.state === 'unhealthy' && cond.reason === 'corrupt'))
        later.push({ index: i, node: s.node })
    })
    const queue = [...sources, ...later]
    const errors: string[] = []
    await new Promise<void>((resolve, reject) => {
      let running = 0
      let settled = false
      const pump = (): void => {
        if (settled) return
        if (present.length >= k) {
          settled = true
          resolve()
          return
        }
        if (queue.length === 0 && running === 0) {
          settled = true
          reject(
            new StratosError(
              'DATA_UNAVAILABLE',
              `segment ${seg.index} of ${record.cid}: only ${present.length} of the ${k} shards needed are readable`,
              {
                cid: record.cid,
                segment: seg.index,
                have: present.length,
                need: k,
                errors,
              },
            ),
          )
          return
        }
        while (running < k - present.length && queue.length > 0) {
          const src = queue.shift()!
          running++
          const url = registry.location(src.node).url
          this.#o.transfers
            .get({
              node: src.node,
              url,
              shard: seg.shards[src.index].id,
              size: S,
              context,
              into: region(src.index),
              signal,
            })
            .then(
              () => {
                running--
                present.push(src.index)
                pump()
              },
              (e: unknown) => {
                running--
                errors.push(`${src.index}@${src.node}:${toStratosError(e).code}`)
                if (signal.aborted) {
                  settled = true
                  reject(toStratosError(e))
                } else pump()
              },
            )
        }
      }
      pump()
    })
    if (m === 0)
      throw new StratosError('DATA_UNAVAILABLE', `segment ${seg.index} of ${record.cid} has no parity to rebuild from`)
    await code.reconstruct(buf, S, present.slice(0, k), [...missingIdx])
    for (const t of missing) {
      const bytes = region(t.index)
      if (computeShardId(bytes).id !== t.id)
        throw new StratosError('INTERNAL', `rebuilt shard ${t.index} of segment ${seg.index} does not match its id`, {
          cid: record.cid,
          segment: seg.index,
        })
      // A copy of its own: the segment buffer goes as soon as this returns.
      t.data = Uint8Array.prototype.slice.call(bytes)
    }
  }

  /**
   * The record takes the stored targets' new locations (where it still names the old ones) and releases the old
   * ones; the failed targets (and stored ones the record no longer needs) give their new refs back. Returns moved.
   */
  async #commit(cid: string, segment: number, stored: Target[], failed: Target[], context?: string): Promise<number> {
    const { store, records, clock } = this.#o
    const now = clock.now()
    const moved = await store.write(() => {
      records.invalidate(cid)
      const r = store.files.get(cid)
      const seg = r?.segments[segment]
      let moved = 0
      const puts: CreditedPut[] = []
      const shards = seg ? seg.shards.slice() : []
      for (const t of stored) {
        store.repair.endCopy(t.newNode, t.id)
        const cur = shards[t.index]
        if (cur && cur.id === t.id && cur.node === t.oldNode) {
          shards[t.index] = { id: t.id, node: t.newNode }
          store.locations.releaseRef(t.oldNode, t.id, now)
          // Proof of Traffic: this commit is the new node's PUT credit (pot/put-credits.ts), paid by the repair payer.
          if (context) puts.push([t.newNode, seg?.shardSize ?? 0, 0, 0])
          moved++
        } else {
          store.locations.releaseRef(t.newNode, t.id, now)
        }
      }
      if (context && puts.length > 0) store.pot.addPutCredit(context, { payer: this.#o.transfers.payer(), cid, puts })
      for (const t of failed) {
        store.repair.endCopy(t.newNode, t.id)
        store.locations.releaseRef(t.newNode, t.id, now)
      }
      if (r && seg && moved > 0) {
        const segments = r.segments.slice()
        segments[segment] = { ...seg, shards }
        store.files.setSegments(cid, segments)
      }
      return moved
    })
    records.invalidate(cid)
    return moved
  }
}
