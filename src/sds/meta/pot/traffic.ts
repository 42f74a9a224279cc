/**
 * Traffic views (read-only, from the settlement credits in LMDB): per resource node and epoch — GET /v1/traffic/nodes
 * — and per file — GET /v1/files/:cid/traffic. `score` on a node row comes from an optional provider (the auditor's
 * reputation, when the meta node runs one).
 */
import type { MetaStore } from '../store.ts'
import type { FileTraffic, NodeTraffic, NodeTrafficList } from '../../protocol/api.ts'
import type { ChainLink } from '../chain-link.ts'
import { canonicalCid } from '../cid.ts'
import type { Credit } from './pot-store.ts'

export interface TrafficViewsOptions {
  store: MetaStore
  chain?: Pick<ChainLink, 'epoch' | 'nodeStatus'>
  /** Addresses of the nodes the registry knows (listed even without traffic). */
  knownNodes: () => Iterable<string>
  /** A node's reputation score, when kept. */
  score?: (node: string) => number | undefined
}

export class TrafficViews {
  readonly #o: TrafficViewsOptions

  constructor(options: TrafficViewsOptions) {
    this.#o = options
  }

  /**
   * Per node: one async read (MetaStore.read; on PostgreSQL a read outside a transaction blocks the event loop): the
   * epoch's credits, then every node's total and the epoch's report together.
   */
  async nodes(q: { epoch?: number }): Promise<NodeTrafficList> {
    const { store, chain } = this.#o
    const current = chain?.epoch ?? 0
    const epoch = q.epoch ?? current
    const known = [...this.#o.knownNodes()]
    const { perNode, all, record, totals } = await store.read(() => {
      const perNode = new Map<string, Credit>()
      for (const { node, credit: c } of store.pot.epochCredits(epoch)) {
        const prev = perNode.get(node)
        perNode.set(node, { bytes: (prev?.bytes ?? 0) + c.bytes, orders: (prev?.orders ?? 0) + c.orders })
      }
      const all = [...new Set<string>([...known, ...perNode.keys()])].sort()
      store.prefetch(store.pot.nodeTotalReads(all, epoch))
      return { perNode, all, record: store.pot.report(epoch), totals: all.map((node) => store.pot.nodeTotal(node)) }
    })
    const report = record?.state ?? (epoch >= current ? 'open' : perNode.size ? 'pending' : 'none')
    const nodes: NodeTraffic[] = all.map((node, i) => {
      const c = perNode.get(node)
      const total = totals[i]
      const score = this.#o.score?.(node)
      return {
        node,
        epoch,
        bytes: c?.bytes ?? 0,
        orders: c?.orders ?? 0,
        totalBytes: total?.bytes ?? 0,
        totalOrders: total?.orders ?? 0,
        chainState: chain ? chain.nodeStatus(node) : null,
        report,
        ...(score !== undefined ? { score } : {}),
      }
    })
    return { currentEpoch: current, epoch, nodes }
  }

  /** One async read (MetaStore.read). */
  async file(cidText: string): Promise<FileTraffic> {
    const cid = canonicalCid(cidText)
    const traffic: FileTraffic['traffic'] = []
    const totals = { put: 0, get: 0 }
    const { store } = this.#o
    for (const { epoch, op, credit: c } of await store.read(() => store.pot.fileTraffic(cid))) {
      traffic.push({ epoch, op, bytes: c.bytes, orders: c.orders })
      totals[op] += c.bytes
    }
    return { cid, traffic, totals }
  }
}
