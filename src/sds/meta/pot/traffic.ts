/**
 * Traffic views (read-only, from the settlement credits in LMDB): per resource node and epoch — GET /v1/traffic/nodes
 * — and per file — GET /v1/files/:cid/traffic. `score` on a node row comes from an optional provider (the auditor's
 * reputation, when the meta node runs one).
 */
import { KEY_STRING_MAX, type MetaStore } from '../store.ts'
import type { FileTraffic, NodeTraffic, NodeTrafficList } from '../../protocol/api.ts'
import type { ChainLink } from '../chain-link.ts'
import { canonicalCid } from '../cid.ts'
import { reportRecord, type Credit } from './pot-store.ts'

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

  nodes(q: { epoch?: number }): NodeTrafficList {
    const { store, chain } = this.#o
    const current = chain?.epoch ?? 0
    const epoch = q.epoch ?? current
    const perNode = new Map<string, Credit>()
    for (const { key, value } of store.pot.getRange({
      start: ['t', epoch, '', ''],
      end: ['t', epoch, KEY_STRING_MAX, KEY_STRING_MAX],
    })) {
      const node = key[2] as string
      const c = value as Credit
      const prev = perNode.get(node)
      perNode.set(node, { bytes: (prev?.bytes ?? 0) + c.bytes, orders: (prev?.orders ?? 0) + c.orders })
    }
    const all = new Set<string>([...this.#o.knownNodes(), ...perNode.keys()])
    const record = reportRecord(store, epoch)
    const report = record?.state ?? (epoch >= current ? 'open' : perNode.size ? 'pending' : 'none')
    const nodes: NodeTraffic[] = [...all].sort().map((node) => {
      const c = perNode.get(node)
      const total = store.pot.get(['n', node]) as Credit | undefined
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

  file(cidText: string): FileTraffic {
    const cid = canonicalCid(cidText)
    const traffic: FileTraffic['traffic'] = []
    const totals = { put: 0, get: 0 }
    for (const { key, value } of this.#o.store.pot.getRange({
      start: ['f', cid, 0, ''],
      end: ['f', cid, Number.MAX_SAFE_INTEGER, KEY_STRING_MAX],
    })) {
      const c = value as Credit
      const op = key[3] as 'put' | 'get'
      traffic.push({ epoch: key[2] as number, op, bytes: c.bytes, orders: c.orders })
      totals[op] += c.bytes
    }
    return { cid, traffic, totals }
  }
}
