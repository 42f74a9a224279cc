/**
 * Node registry and liveness.
 *
 * A resource node registers and stays alive by heartbeats it signs itself (any node may join in this version;
 * chain-based registration comes later). A heartbeat carries the node's stats and acknowledges the deletes it
 * carried out and the shards it found corrupt; the signed reply hands it the next batch of deletes.
 * A node is online while its last heartbeat (by this meta node's clock) is at most `offlineAfterMs` old.
 *
 * The registry keeps an in-memory copy of the `nodes` keyspace (written through after every commit) so placement
 * and record views never touch the disk, plus the bytes placed on each node since its last heartbeat (reservations),
 * which the node's own freeBytes does not show yet.
 */
import type { NodeKey } from '../../crypto/node-key.ts'
import { StratosError } from '../../errors.ts'
import { HEARTBEAT_REPLY_TTL_MS, MAX_DELETES_PER_HEARTBEAT } from '../../limits.ts'
import type { Clock, Logger } from '../../util/components.ts'
import type { NodeState, NodeView } from '../protocol/api.ts'
import type { HeartbeatReply } from '../protocol/messages.ts'
import { DOMAIN, signAsNode, verifyNodeSigned } from '../protocol/signing.ts'
import type { SignedHeartbeatReplyT, SignedHeartbeatT } from '../protocol/types.ts'
import type { PlacementCandidate } from './placement.ts'
import type { MetaStore, NodeRecord } from './store.ts'

export interface RegistryOptions {
  store: MetaStore
  key: NodeKey
  chainId: string
  clock: Clock
  logger: Logger
  offlineAfterMs: number
  heartbeatIntervalMs: number
}

export function nodeStateAt(record: Pick<NodeRecord, 'lastSeen'>, now: number, offlineAfterMs: number): NodeState {
  return now - record.lastSeen <= offlineAfterMs ? 'online' : 'offline'
}

export class Registry {
  readonly #o: RegistryOptions
  readonly #nodes = new Map<string, NodeRecord>()
  readonly #reserved = new Map<string, number>()
  /** Extra placement conditions (audit suspension and maintenance, chain status): all must pass. */
  readonly #placementFilters: ((node: string, now: number) => boolean)[] = []
  /** Decorations of node views (reputation fields). */
  readonly #viewExtensions: ((view: NodeView, now: number) => NodeView)[] = []

  constructor(options: RegistryOptions) {
    this.#o = options
    for (const record of options.store.nodes.all()) this.#nodes.set(record.address, record)
  }

  /**
   * Reloads the records from the index: on an index several processes share (store.ts `shared`), heartbeats reach
   * whichever process the node's client picked, and every process must place on the same live nodes.
   */
  refresh(records: readonly NodeRecord[] = this.#o.store.nodes.all()): void {
    for (const record of records) {
      const known = this.#nodes.get(record.address)
      if (known === undefined || record.seq > known.seq) {
        this.#nodes.set(record.address, record)
        this.#reserved.delete(record.address)
      }
    }
  }

  /** Verifies and applies a heartbeat; returns the signed reply with this node's pending deletes. */
  async heartbeat(msg: SignedHeartbeatT): Promise<SignedHeartbeatReplyT> {
    const { store, clock, chainId } = this.#o
    const now = clock.now()
    const hb = verifyNodeSigned(DOMAIN.heartbeat, msg, { chainId, now })
    if (hb.node !== msg.signer)
      throw new StratosError('INVALID_SIGNATURE', 'a heartbeat must be signed by the node it describes', {
        node: hb.node,
        signer: msg.signer,
      })

    const { deletes } = await store.write(
      () => {
        const prev = store.nodes.get(hb.node)
        if (prev && hb.seq <= prev.seq) {
          throw new StratosError('CONFLICT', `heartbeat seq ${hb.seq} is not newer than ${prev.seq}`, {
            seq: hb.seq,
            lastSeq: prev.seq,
          })
        }
        const record: NodeRecord = {
          address: hb.node,
          url: hb.url.replace(/\/+$/, ''),
          version: hb.version,
          registeredAt: prev?.registeredAt ?? now,
          lastSeen: now,
          seq: hb.seq,
          capacityBytes: hb.capacityBytes,
          freeBytes: hb.freeBytes,
          usedBytes: hb.usedBytes,
          shardCount: hb.shardCount,
          load: hb.load,
        }
        store.nodes.put(record)
        // Acks of deletes we handed out. They are at-least-once (a node repeats them until a reply gets through), so one
        // for a location that is referenced again by now is stale news, not a loss: only the pending entry goes.
        store.locations.ackDeletes(hb.node, hb.deleted)
        for (const shard of hb.corrupt) {
          if (store.locations.markBad(hb.node, shard, now))
            this.#o.logger.warn({ node: hb.node, shard }, 'node reported a referenced shard corrupt')
        }
        const deletes = store.locations.handOutDeletes(hb.node, MAX_DELETES_PER_HEARTBEAT, now)
        // The cache follows inside the transaction, so placements queued behind it see the new stats, and its
        // freeBytes now includes what was uploaded since the last heartbeat: the reservation starts over.
        if (!prev) this.#o.logger.info({ node: record.address, url: record.url }, 'resource node registered')
        this.#nodes.set(record.address, record)
        this.#reserved.delete(record.address)
        return { record, deletes }
      },
      { durable: false },
    )

    const reply: HeartbeatReply = {
      v: 1,
      chainId,
      node: hb.node,
      seq: hb.seq,
      deletes,
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
      expiresAt: now + HEARTBEAT_REPLY_TTL_MS,
    }
    return signAsNode(DOMAIN.heartbeatReply, this.#o.key, reply)
  }

  get(address: string): NodeRecord | undefined {
    return this.#nodes.get(address)
  }

  state(address: string, now = this.#o.clock.now()): NodeState {
    const r = this.#nodes.get(address)
    return r ? nodeStateAt(r, now, this.#o.offlineAfterMs) : 'offline'
  }

  /** URL and state for a record view; a node missing from the registry shows as offline with no URL. */
  location(address: string, now = this.#o.clock.now()): { url: string; state: NodeState } {
    const r = this.#nodes.get(address)
    return r ? { url: r.url, state: nodeStateAt(r, now, this.#o.offlineAfterMs) } : { url: '', state: 'offline' }
  }

  /** Adds a condition a node must meet to receive new shards (besides being online with room). */
  addPlacementFilter(filter: (node: string, now: number) => boolean): void {
    this.#placementFilters.push(filter)
  }

  /** Adds fields to every node view (GET /v1/nodes, /v1/status). */
  extendViews(extension: (view: NodeView, now: number) => NodeView): void {
    this.#viewExtensions.push(extension)
  }

  view(r: NodeRecord, now: number): NodeView {
    let v = this.#baseView(r, now)
    for (const extend of this.#viewExtensions) v = extend(v, now)
    return v
  }

  #baseView(r: NodeRecord, now: number): NodeView {
    return {
      address: r.address,
      url: r.url,
      state: nodeStateAt(r, now, this.#o.offlineAfterMs),
      version: r.version,
      capacityBytes: r.capacityBytes,
      freeBytes: r.freeBytes,
      usedBytes: r.usedBytes,
      shardCount: r.shardCount,
      load: r.load,
      lastSeen: r.lastSeen,
      registeredAt: r.registeredAt,
    }
  }

  views(now = this.#o.clock.now()): NodeView[] {
    return [...this.#nodes.values()].sort((a, b) => (a.address < b.address ? -1 : 1)).map((r) => this.view(r, now))
  }

  onlineCount(now = this.#o.clock.now()): number {
    let n = 0
    for (const r of this.#nodes.values()) if (nodeStateAt(r, now, this.#o.offlineAfterMs) === 'online') n++
    return n
  }

  /** Every registered node as a placement candidate, with its reservation. */
  candidates(now = this.#o.clock.now()): PlacementCandidate[] {
    return [...this.#nodes.values()].map((r) => ({
      address: r.address,
      online:
        nodeStateAt(r, now, this.#o.offlineAfterMs) === 'online' &&
        this.#placementFilters.every((accepts) => accepts(r.address, now)),
      freeBytes: r.freeBytes,
      reservedBytes: this.#reserved.get(r.address) ?? 0,
      load: r.load,
    }))
  }

  /** Counts bytes just placed on a node against its free space until its next heartbeat. */
  reserve(address: string, bytes: number): void {
    this.#reserved.set(address, (this.#reserved.get(address) ?? 0) + bytes)
  }
}
