/** `stratos status`: the network as the meta node sees it — nodes, their capacity and load, totals. */
import type { Command } from 'commander'
import type { NetworkStatus } from '../../sds/protocol/api.ts'
import { contextOf } from '../context.ts'
import { formatStosAmount } from '../../chain/client.ts'
import { MetaClient } from '../../sds/protocol/meta-client.ts'
import { fetchPotExtras, type PotExtras } from './traffic.ts'
import { formatBytes, printJson, table } from '../output.ts'
import { interruptOnSignals } from '../signals.ts'

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the network: nodes with state, capacity, free/used space, shards and load; totals')
    .option('--json', 'print the meta node\'s NetworkStatus document')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const client = await ctx.client('none')
      const interrupt = interruptOnSignals()
      try {
        const status = await client.status({ signal: interrupt.signal })
        if (flags.json) {
          printJson(status)
          return
        }
        // Proof of Traffic columns: settled traffic (meta node), chain state and owners' rewards (chain); best effort.
        const extras = await fetchPotExtras(cmd, ctx, new MetaClient(ctx.metaUrl())).catch(() => ({}))
        // Name nodes after the devnet's processes when we know them (resource-1…).
        const names = new Map<string, string>()
        try {
          for (const p of ctx.network()?.processes ?? []) if (p.address) names.set(p.address, p.name)
        } catch {
          // --meta-url without a network file: addresses only.
        }
        process.stdout.write(renderStatus(status, names, Date.now(), extras) + '\n')
      } finally {
        interrupt.dispose()
        await client.close()
      }
    })
}

export function renderStatus(s: NetworkStatus, names: ReadonlyMap<string, string>, now: number, pot: PotExtras = {}): string {
  const nodes = [...s.nodes].sort((a, b) => (names.get(a.address) ?? a.url).localeCompare(names.get(b.address) ?? b.url, undefined, { numeric: true }))
  // Audits (meta/audit): STATE says suspended/maintenance when the meta node says so; scores in the last column.
  const scores = nodes.some((n) => n.reputation !== undefined)
  const rows = nodes.map((n) => [
    names.get(n.address) ?? '',
    n.address,
    n.url,
    n.reputation?.state === 'suspended' || n.reputation?.state === 'maintenance' ? n.reputation.state : n.state,
    formatBytes(n.capacityBytes),
    formatBytes(n.usedBytes),
    formatBytes(n.freeBytes),
    String(n.shardCount),
    String(n.load),
    `${Math.max(0, Math.round((now - n.lastSeen) / 1000))}s ago`,
    ...(pot.traffic || pot.chainNodes ? potColumns(n.address, pot) : []),
    ...(scores ? [n.reputation ? `${n.reputation.auditScore.toFixed(2)}/${n.reputation.onlineScore.toFixed(2)}` : '-'] : []),
  ])
  const t = s.totals
  return [
    `chain ${s.chainId} · meta node ${s.meta.address} (v${s.meta.version})`,
    '',
    nodes.length
      ? table(['NAME', 'ADDRESS', 'URL', 'STATE', 'CAPACITY', 'USED', 'FREE', 'SHARDS', 'LOAD', 'LAST SEEN', ...(pot.traffic || pot.chainNodes ? ['CHAIN', 'TRAFFIC (EPOCH)', 'TRAFFIC (ALL)', 'OWNER REWARDS'] : []), ...(scores ? ['AUDIT/ONLINE'] : [])], rows, new Set([4, 5, 6, 7, 8, 11, 12, 13]))
      : 'no resource nodes have registered yet',
    '',
    `nodes:    ${t.nodesOnline} online, ${t.nodesOffline} offline`,
    `storage:  ${formatBytes(t.usedBytes)} used, ${formatBytes(t.freeBytes)} free of ${formatBytes(t.capacityBytes)}`,
    `files:    ${t.files} (${formatBytes(t.fileBytes)})${t.openUploads ? `, ${t.openUploads} upload${t.openUploads > 1 ? 's' : ''} in progress` : ''}`,
    ...(pot.traffic ? [`traffic:  epoch ${pot.traffic.epoch}: ${formatBytes(pot.traffic.nodes.reduce((a, n) => a + n.bytes, 0))} settled so far`] : []),
  ].join('\n')
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
    rewards === undefined ? '-' : `${formatStosAmount(rewards)} STOS`,
  ]
}
