/**
 * `stratos status`: the network as the meta node sees it — nodes, their space and load, Proof of
 * Traffic per node, totals.
 *
 * Human output stays within STATUS_MAX_COLUMNS (an 100-column terminal): nodes are named after
 * the devnet's processes with short addresses, and the traffic columns form a second table;
 * `--wide` adds full addresses and URLs. Space is what each node *offers* (its configured
 * capacity, or its disk's free space at start plus what it stores): nodes that share a disk each
 * offer the same free space, and nothing a node reports tells them apart from nodes on separate
 * disks, so the total is labelled as a sum of offers and identical reports are pointed out.
 * `--json` prints the meta node's document unchanged (exact numbers).
 */
import type { Command } from 'commander'
import type { NetworkStatus, NodeView } from '../../sds/protocol/api.ts'
import { closeDefaultDispatcher } from '../../net/json-request.ts'
import { contextOf } from '../context.ts'
import { fetchPotExtras, type PotExtras } from './traffic.ts'
import { formatAge, formatBytes, printJson, shorten, table, formatStos } from '../output.ts'
import { interruptOnSignals } from '../signals.ts'

/** The width the default human output fits in (the issue's "tables that fit 100 columns"). */
export const STATUS_MAX_COLUMNS = 100
/** Free-space reports this close (bytes, or share of the smaller one) look like one disk seen by several nodes. */
const SAME_DISK_TOLERANCE_BYTES = 64 * 1024 ** 2
const SAME_DISK_TOLERANCE_SHARE = 0.001
/** Node names and addresses are cut to this many characters in the default tables. */
const NODE_LABEL_CHARS = 16

export interface RenderStatusOptions {
  /** Full addresses and URLs in the node table (wider than STATUS_MAX_COLUMNS). */
  wide?: boolean
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'show the network: nodes with state, offered/used/free space, shards and load; traffic and rewards; totals',
    )
    .option('--wide', 'also show full node addresses and URLs (wider than 100 columns)')
    .option('--json', "print the meta node's NetworkStatus document")
    .action(async (flags: { json?: boolean; wide?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      // The meta node's client only: status loads no client SDK (erasure code, UnixFS), only what it prints.
      const { meta, checkChain } = await ctx.metaClient()
      const interrupt = interruptOnSignals()
      try {
        // Proof of Traffic columns: settled traffic (meta node), chain state and owners' rewards (chain); best effort,
        // and asked for beside the status (one round trip less), not for --json.
        const extras = flags.json ? undefined : fetchPotExtras(cmd, ctx, meta).catch((): PotExtras => ({}))
        const status = await meta.status({ signal: interrupt.signal })
        checkChain(status.chainId)
        if (!extras) {
          printJson(status)
          return
        }
        // Name nodes after the devnet's processes when we know them (resource-1…).
        const names = new Map<string, string>()
        try {
          for (const p of ctx.network()?.processes ?? []) if (p.address) names.set(p.address, p.name)
        } catch {
          // --meta-url without a network file: addresses only.
        }
        process.stdout.write(renderStatus(status, names, Date.now(), await extras, { wide: flags.wide }) + '\n')
      } finally {
        interrupt.dispose()
        // The requests above share the process's keep-alive pool: close it, or its sockets hold the process open.
        await closeDefaultDispatcher()
      }
    })
}

export function renderStatus(
  s: NetworkStatus,
  names: ReadonlyMap<string, string>,
  now: number,
  pot: PotExtras = {},
  o: RenderStatusOptions = {},
): string {
  const nodes = [...s.nodes].sort((a, b) =>
    naturalCompare(names.get(a.address) ?? a.url, names.get(b.address) ?? b.url),
  )
  const named = nodes.some((n) => names.has(n.address))
  // One label per node for both tables: its name when known, else its (short) address.
  const label = (n: NodeView) => shorten(names.get(n.address) ?? n.address, o.wide ? Infinity : NODE_LABEL_CHARS)
  // Audits (meta/audit): STATE says suspended/maintenance when the meta node says so.
  const state = (n: NodeView) =>
    n.reputation?.state === 'suspended' || n.reputation?.state === 'maintenance' ? n.reputation.state : n.state
  const idColumns = (n: NodeView) => [
    ...(named ? [label(n)] : []),
    o.wide ? n.address : shorten(n.address, NODE_LABEL_CHARS),
    ...(o.wide ? [n.url] : []),
  ]
  const idHeader = [...(named ? ['NAME'] : []), 'ADDRESS', ...(o.wide ? ['URL'] : [])]
  const space = table(
    [...idHeader, 'STATE', 'OFFERED', 'USED', 'FREE', 'SHARDS', 'LOAD', 'SEEN'],
    nodes.map((n) => [
      ...idColumns(n),
      state(n),
      formatBytes(n.capacityBytes),
      formatBytes(n.usedBytes),
      formatBytes(n.freeBytes),
      String(n.shardCount),
      String(n.load),
      formatAge(now, n.lastSeen),
    ]),
    rightFrom(idHeader.length + 1, 6),
  )
  const potShown = Boolean(pot.traffic || pot.chainNodes)
  const scores = nodes.some((n) => n.reputation !== undefined)
  const traffic =
    potShown || scores
      ? table(
          [
            named ? 'NAME' : 'ADDRESS',
            ...(potShown ? ['CHAIN', 'TRAFFIC (EPOCH)', 'TRAFFIC (ALL)', 'OWNER REWARDS'] : []),
            ...(scores ? ['AUDIT/ONLINE'] : []),
          ],
          nodes.map((n) => [
            label(n),
            ...(potShown ? potColumns(n.address, pot) : []),
            ...(scores
              ? [n.reputation ? `${n.reputation.auditScore.toFixed(2)}/${n.reputation.onlineScore.toFixed(2)}` : '-']
              : []),
          ]),
          rightFrom(potShown ? 2 : 1, (potShown ? 3 : 0) + (scores ? 1 : 0)),
        )
      : undefined
  const t = s.totals
  return [
    `chain ${s.chainId} · meta node ${s.meta.address} (v${s.meta.version})`,
    '',
    ...(nodes.length ? [space, ...(traffic ? ['', traffic] : [])] : ['no resource nodes have registered yet']),
    '',
    `nodes:    ${t.nodesOnline} online, ${t.nodesOffline} offline`,
    `storage:  ${formatBytes(t.usedBytes)} used, ${formatBytes(t.freeBytes)} free of ${formatBytes(t.capacityBytes)} offered (the sum of every node's offer)`,
    ...sharedDiskHint(s.nodes),
    `files:    ${t.files} (${formatBytes(t.fileBytes)})${t.openUploads ? `, ${t.openUploads} upload${t.openUploads > 1 ? 's' : ''} in progress` : ''}`,
    ...(pot.traffic
      ? [
          `traffic:  epoch ${pot.traffic.epoch}: ${formatBytes(pot.traffic.nodes.reduce((a, n) => a + n.bytes, 0))} settled so far`,
        ]
      : []),
  ].join('\n')
}

/**
 * Orders "resource-2" before "resource-10": runs of digits compare as numbers, the rest by code unit. Not
 * localeCompare(…, { numeric: true }): its first use builds an ICU collator, ~20–30 ms of this command's CPU.
 */
export function naturalCompare(a: string, b: string): number {
  const x = a.match(/\d+|\D+/g) ?? []
  const y = b.match(/\d+|\D+/g) ?? []
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!
    const q = y[i]!
    if (p === q) continue
    if (/^\d/.test(p) && /^\d/.test(q)) {
      const u = p.replace(/^0+(?=\d)/, '')
      const v = q.replace(/^0+(?=\d)/, '')
      if (u.length !== v.length) return u.length - v.length
      if (u !== v) return u < v ? -1 : 1
      continue
    }
    return p < q ? -1 : 1
  }
  return x.length - y.length || (a < b ? -1 : a > b ? 1 : 0)
}

/** Column indexes [from, from + count) (the right-aligned numeric columns of a table). */
function rightFrom(from: number, count: number): Set<number> {
  return new Set(Array.from({ length: count }, (_, i) => from + i))
}

/**
 * Nodes whose free space is (nearly) the same most likely share one file system — the devnet's
 * nodes all live on one disk — and then the totals count that disk once per node. A heartbeat
 * carries no file-system id and nodes report at different moments (a write in between moves the
 * figure a little), so this is a likelihood: said as one, with the free space the network has if
 * each such group is one disk.
 */
function sharedDiskHint(nodes: readonly NodeView[]): string[] {
  const free = nodes
    .filter((n) => n.state === 'online' && n.freeBytes > 0)
    .map((n) => n.freeBytes)
    .sort((a, b) => a - b)
  const groups: number[][] = []
  for (const f of free) {
    const last = groups.at(-1)
    if (last && f - last[0]! <= Math.max(SAME_DISK_TOLERANCE_BYTES, last[0]! * SAME_DISK_TOLERANCE_SHARE)) last.push(f)
    else groups.push([f])
  }
  const sharing = groups.filter((g) => g.length > 1)
  if (sharing.length === 0) return []
  const nodesSharing = sharing.reduce((a, g) => a + g.length, 0)
  // One disk per group: its largest report (the latest before the others' writes) counts once.
  const ifShared = groups.reduce((a, g) => a + (g.length > 1 ? g.at(-1)! : g[0]!), 0)
  return [
    `          ${nodesSharing} nodes report about the same free space, as nodes on one disk do; if they`,
    `          share one, it is counted once per node and the network has ${formatBytes(ifShared)} free`,
  ]
}

/** CHAIN, TRAFFIC (EPOCH), TRAFFIC (ALL), OWNER REWARDS of one node ('-' where unknown). */
function potColumns(address: string, pot: PotExtras): string[] {
  const t = pot.traffic?.nodes.find((n) => n.node === address)
  const c = pot.chainNodes?.get(address)
  const rewards = c ? pot.rewards?.get(c.owner) : undefined
  return [
    c?.status ?? t?.chainState ?? 'unregistered',
    t ? formatBytes(t.bytes) : '-',
    t ? formatBytes(t.totalBytes) : '-',
    rewards === undefined ? '-' : `${formatStos(rewards)} STOS`,
  ]
}
