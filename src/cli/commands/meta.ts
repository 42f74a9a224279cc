/**
 * The network's meta nodes, as the chain registers them:
 *   stratos meta ls [--all] [--json]   active meta nodes (every status with --all): address, URL, owner, deposit;
 *                                      the one this CLI uses (`--meta`, else the network's default) is marked
 * Pick one for any command with the global `--meta NAME|ADDRESS|URL`.
 */
import type { Command } from 'commander'
import { ChainClient } from '../../chain-client/client.ts'
import { listMetaNodes } from '../../chain-client/meta-nodes.ts'
import { contextOf } from '../context.ts'
import { formatStos, printJson, table } from '../output.ts'

export function registerMeta(program: Command): void {
  const meta = program.command('meta').description("the network's meta nodes (registered on chain)")
  meta
    .command('ls')
    .description(
      "list the network's meta nodes from the chain; * marks the one commands use (--meta, else the default)",
    )
    .option('--all', 'also pending, unbonding and other inactive meta nodes')
    .option('--json', 'print [{ node, status, url, owner, deposit, moniker, createdHeight, current }]')
    .action(async (f: { all?: boolean; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const nodes = (await listMetaNodes(new ChainClient({ url: ctx.chainUrl() }))).filter(
        (n) => f.all || n.status === 'active',
      )
      // The meta node commands would use; unknown (no network file, no --meta) is simply not marked.
      let current: string | undefined
      try {
        current = await ctx.resolveMetaUrl()
      } catch {
        current = undefined
      }
      const rows = nodes.map((n) => ({ ...n, current: n.url !== undefined && n.url === current }))
      if (f.json) return printJson(rows)
      if (rows.length === 0) {
        process.stdout.write(f.all ? 'no meta nodes on chain\n' : 'no active meta nodes on chain (try --all)\n')
        return
      }
      process.stdout.write(
        table(
          ['', 'ADDRESS', 'STATUS', 'URL', 'OWNER', 'DEPOSIT (STOS)', 'MONIKER'],
          rows.map((n) => [
            n.current ? '*' : '',
            n.node,
            n.status,
            n.url ?? '-',
            n.owner,
            formatStos(BigInt(n.deposit)),
            n.moniker,
          ]),
          new Set([5]),
        ) + '\n',
      )
    })
}
