/**
 * Shard placement: which nodes get the k+m shards of a segment. Pure (state comes in, node addresses go out).
 *
 * Eligible: online, not excluded, and free space (after what this meta node already placed on the node since its
 * last heartbeat) of at least one shard. Each eligible node gets weight freeBytes / (1 + load), and the candidates
 * are ordered by weighted random sampling without replacement (Efraimidis–Spirakis: key = ln(u) / w, highest keys
 * first), so the first pick is proportional to weight and no node is ever picked twice.
 *
 * Shards are then matched to nodes in that order. Per-shard exclusions (a node that already holds this shard id
 * marked corrupt, or is deleting it) make this a bipartite matching; augmenting paths (Kuhn) find a distinct node
 * for every shard whenever one exists, so NOT_ENOUGH_NODES really means there are not enough nodes.
 */
import { StratosError } from '../../errors.ts'
import { randomFloat, type RandomBytes } from '../../util/components.ts'

export interface PlacementCandidate {
  address: string
  online: boolean
  freeBytes: number
  /** Bytes this meta node has placed on the node since its last heartbeat (not yet in its freeBytes). */
  reservedBytes: number
  /** Transfers in progress on the node (from its last heartbeat). */
  load: number
}

export interface PlacementRequest {
  candidates: readonly PlacementCandidate[]
  shardSize: number
  /** One entry per shard to place, with the nodes that shard alone must avoid. */
  shards: readonly { exclude?: ReadonlySet<string> }[]
  /** Nodes no shard of this request may go to (other shards of the segment, nodes the client failed with). */
  exclude?: ReadonlySet<string>
  random: RandomBytes
}

export function placementWeight(c: PlacementCandidate): number {
  return Math.max(0, c.freeBytes - c.reservedBytes) / (1 + c.load)
}

export function isEligible(c: PlacementCandidate, shardSize: number, exclude?: ReadonlySet<string>): boolean {
  return c.online && !exclude?.has(c.address) && c.freeBytes - c.reservedBytes >= shardSize && placementWeight(c) > 0
}

/** Eligible candidates in weighted random order (Efraimidis–Spirakis, without replacement). */
export function weightedOrder(candidates: readonly PlacementCandidate[], random: RandomBytes): PlacementCandidate[] {
  const keyed = candidates.map((c) => {
    // u in (0, 1]: ln(u) ≤ 0, divided by the weight; heavier nodes get keys closer to 0 more often.
    const u = 1 - randomFloat(random)
    return { c, key: Math.log(u) / placementWeight(c) }
  })
  keyed.sort((a, b) => b.key - a.key)
  return keyed.map((k) => k.c)
}

/**
 * Picks one distinct node per shard. Throws NOT_ENOUGH_NODES (503) when no assignment exists.
 * Returns addresses in shard order.
 */
export function placeShards(req: PlacementRequest): string[] {
  const eligible = req.candidates.filter((c) => isEligible(c, req.shardSize, req.exclude))
  if (eligible.length < req.shards.length) {
    throw new StratosError(
      'NOT_ENOUGH_NODES',
      `need ${req.shards.length} nodes with ${req.shardSize} bytes free, ${eligible.length} eligible`,
      {
        needed: req.shards.length,
        eligible: eligible.length,
        shardSize: req.shardSize,
      },
    )
  }
  const order = weightedOrder(eligible, req.random).map((c) => c.address)
  const owner = new Map<string, number>() // node → shard index holding it
  const assigned: (string | undefined)[] = new Array(req.shards.length).fill(undefined)

  const allowed = (shard: number, node: string): boolean => !req.shards[shard].exclude?.has(node)
  const take = (shard: number, node: string): true => {
    owner.set(node, shard)
    assigned[shard] = node
    return true
  }
  // The first free allowed node in weighted order; failing that, Kuhn's augmenting path (move an earlier shard
  // to another node it may use). `seen` guards one search against cycles.
  const augment = (shard: number, seen: Set<string>): boolean => {
    for (const node of order) {
      if (!seen.has(node) && !owner.has(node) && allowed(shard, node)) return take(shard, node)
    }
    for (const node of order) {
      if (seen.has(node) || !allowed(shard, node)) continue
      seen.add(node)
      const holder = owner.get(node)
      if (holder === undefined || augment(holder, seen)) return take(shard, node)
    }
    return false
  }
  for (let s = 0; s < req.shards.length; s++) {
    if (!augment(s, new Set())) {
      throw new StratosError('NOT_ENOUGH_NODES', `no eligible node left for shard ${s}`, {
        needed: req.shards.length,
        eligible: eligible.length,
        shard: s,
        shardSize: req.shardSize,
      })
    }
  }
  return assigned as string[]
}
