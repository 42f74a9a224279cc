/** `stratos status`: the network as the meta node sees it — nodes, their capacity and load, totals. */
import type { Command } from 'commander'
import type { NetworkStatus } from '../../sds/protocol/api.ts'
import { contextOf } from '../context.ts'
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
        // Name nodes after the devnet's processes when we know them (resource-1…).
        const names = new Map<string, string>()
        try {
          for (const p of ctx.network()?.processes ?? []) if (p.address) names.set(p.address, p.name)
        } catch {
          // --meta-url without a network file: addresses only.
        }
        process.stdout.write(renderStatus(status, names, Date.now()) + '\n')
      } finally {
        interrupt.dispose()
        await client.close()
      }
    })
}

export function renderStatus(s: NetworkStatus, names: ReadonlyMap<string, string>, now: number): string {
  const nodes = [...s.nodes].sort((a, b) => (names.get(a.address) ?? a.url).localeCompare(names.get(b.address) ?? b.url, undefined, { numeric: true }))
  const rows = nodes.map((n) => [
    names.get(n.address) ?? '',
    n.address,
    n.url,
    n.state,
    formatBytes(n.capacityBytes),
    formatBytes(n.usedBytes),
    formatBytes(n.freeBytes),
    String(n.shardCount),
    String(n.load),
    `${Math.max(0, Math.round((now - n.lastSeen) / 1000))}s ago`,
  ])
  const t = s.totals
  return [
    `chain ${s.chainId} · meta node ${s.meta.address} (v${s.meta.version})`,
    '',
    nodes.length ? table(['NAME', 'ADDRESS', 'URL', 'STATE', 'CAPACITY', 'USED', 'FREE', 'SHARDS', 'LOAD', 'LAST SEEN'], rows, new Set([4, 5, 6, 7, 8])) : 'no resource nodes have registered yet',
    '',
    `nodes:    ${t.nodesOnline} online, ${t.nodesOffline} offline`,
    `storage:  ${formatBytes(t.usedBytes)} used, ${formatBytes(t.freeBytes)} free of ${formatBytes(t.capacityBytes)}`,
    `files:    ${t.files} (${formatBytes(t.fileBytes)})${t.openUploads ? `, ${t.openUploads} upload${t.openUploads > 1 ? 's' : ''} in progress` : ''}`,
  ].join('\n')
}
