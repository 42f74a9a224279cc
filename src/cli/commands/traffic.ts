/**
 * Proof of Traffic views for people:
 *   stratos traffic CID                 a file's settled traffic by epoch and op (its owner pays for it)
 *   stratos node rewards [--node ADDR]  an operator's view: the node's traffic, chain state and its owner's rewards
 * and the pieces `stratos status` adds to its table (traffic, chain state, rewards per owner).
 * Traffic comes from the meta node (GET /v1/traffic/nodes, /v1/files/:cid/traffic); state and rewards from the chain
 * REST API (/nodes/resource, /rewards/:owner).
 */
import type { Command } from 'commander'
import { ChainClient } from '../../chain-client/client.ts'
import { listResourceNodes, type ResourceNodeJson } from '../../chain-client/node-registration.ts'
import { StratosError } from '../../errors.ts'
import type { NodeTrafficList } from '../../sds/protocol/api.ts'
import { MetaClient } from '../../net/meta-client.ts'
import { checkCid } from '../cid.ts'
import { contextOf, type CliContext } from '../context.ts'
import { formatBytes, formatBytesExact, groupDigits, printJson, shorten, table, formatStos } from '../output.ts'
import { chainUrlOf } from './chain.ts'

/** What `stratos status` shows besides the meta node's NetworkStatus; each part absent when its source is down. */
export interface PotExtras {
  traffic?: NodeTrafficList
  /** Chain registry entries by node address. */
  chainNodes?: Map<string, ResourceNodeJson>
  /** Unwithdrawn rewards (wei) by owner wallet. */
  rewards?: Map<string, bigint>
}

/** Reads the traffic view and the chain's node registry and owner rewards; failures leave parts out. */
export async function fetchPotExtras(cmd: Command, ctx: CliContext, meta: MetaClient): Promise<PotExtras> {
  const out: PotExtras = {}
  const chain = new ChainClient({ url: chainUrlOf(cmd, ctx) })
  const [traffic, nodes] = await Promise.all([
    meta.trafficNodes({}, { timeoutMs: 5_000 }).catch(() => undefined),
    listResourceNodes(chain).catch(() => undefined),
  ])
  if (traffic) out.traffic = traffic
  if (nodes) {
    out.chainNodes = new Map(nodes.map((n) => [n.node, n]))
    const owners = [...new Set(nodes.map((n) => n.owner))]
    const rewards = await Promise.all(
      owners.map((o) =>
        chain
          .rewards(o)
          .then((r) => [o, r.reduce((a, e) => a + BigInt(e.amount), 0n)] as const)
          .catch(() => undefined),
      ),
    )
    out.rewards = new Map(rewards.filter((r) => r !== undefined))
  }
  return out
}

export function registerTraffic(program: Command): void {
  program
    .command('traffic')
    .description(
      "a file's traffic as settled by the meta node: bytes uploaded (all k+m shards) and downloaded, by chain epoch",
    )
    .argument('<cid>', 'content id')
    .option('--json', 'print { cid, traffic: [{ epoch, op, bytes, orders }], totals: { put, get } }')
    .action(async (cidArg: string, flags: { json?: boolean }, cmd: Command) => {
      const cid = checkCid(cidArg)
      const ctx = contextOf(cmd)
      // A file's traffic is shown to its owners only: the wallet's client sends its session.
      const client = await ctx.client('required')
      const t = await client.meta.fileTraffic(cid).finally(() => client.close())
      if (flags.json) return printJson(t)
      const lines = [
        `cid:      ${t.cid}`,
        `uploaded: ${formatBytesExact(t.totals.put)}`,
        `served:   ${formatBytesExact(t.totals.get)}`,
      ]
      if (t.traffic.length) {
        lines.push(
          '',
          table(
            ['EPOCH', 'OP', 'BYTES', 'ORDERS'],
            t.traffic.map((e) => [String(e.epoch), e.op, formatBytes(e.bytes), groupDigits(e.orders)]),
            new Set([0, 2, 3]),
          ),
        )
      } else {
        lines.push('', 'no settled traffic yet (resource nodes settle their orders every few seconds)')
      }
      process.stdout.write(lines.join('\n') + '\n')
    })
}

/** `stratos node rewards`: added to the `node` command group. */
export function registerNodeRewards(node: Command): void {
  node
    .command('rewards')
    .description("an operator's view of a resource node: its settled traffic, chain state, and its owner's rewards")
    .option('--node <stsds1…>', 'the node (default: every node owned by the selected wallet)')
    .option('--epoch <n>', 'traffic of this epoch (default: the current one)')
    .option('--wide', 'full node addresses (wider than 100 columns)')
    .option('--json', 'print { owner, rewards, nodes: [{ node, chainState, epochBytes, totalBytes, … }] }')
    .action(async (f: { node?: string; epoch?: string; wide?: boolean; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const chain = new ChainClient({ url: chainUrlOf(cmd, ctx) })
      const registry = await listResourceNodes(chain)
      let nodes: ResourceNodeJson[]
      if (f.node) {
        const n = registry.find((x) => x.node === f.node)
        if (!n)
          throw new StratosError(
            'NODE_NOT_REGISTERED',
            `resource node ${f.node} is not registered on chain ${chain.url}`,
            { node: f.node },
          )
        nodes = [n]
      } else {
        const wallet = await ctx.resolveWallet('required')
        nodes = registry.filter((n) => n.owner === wallet!.address)
        if (nodes.length === 0)
          throw new StratosError(
            'NODE_NOT_REGISTERED',
            `${wallet!.address} owns no resource node on chain ${chain.url}; pass --node ADDRESS`,
          )
      }
      const epoch = f.epoch === undefined ? undefined : Number(f.epoch)
      if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0))
        throw new StratosError('BAD_REQUEST', `--epoch ${f.epoch} is not an epoch number`)
      const traffic = await new MetaClient(await ctx.resolveMetaUrl()).trafficNodes(
        epoch === undefined ? {} : { epoch },
      )
      const owners = [...new Set(nodes.map((n) => n.owner))]
      const rewards = await Promise.all(owners.map(async (owner) => ({ owner, entries: await chain.rewards(owner) })))
      const rows = nodes.map((n) => {
        const t = traffic.nodes.find((x) => x.node === n.node)
        return {
          node: n.node,
          owner: n.owner,
          moniker: n.moniker,
          chainState: n.status,
          deposit: n.deposit,
          epoch: traffic.epoch,
          epochBytes: t?.bytes ?? 0,
          epochOrders: t?.orders ?? 0,
          totalBytes: t?.totalBytes ?? 0,
          report: t?.report ?? 'none',
          ...(t?.score !== undefined ? { score: t.score } : {}),
        }
      })
      if (f.json) {
        printJson({
          currentEpoch: traffic.currentEpoch,
          nodes: rows,
          rewards: rewards.map((r) => ({ owner: r.owner, entries: r.entries })),
        })
        return
      }
      const out = [
        `epoch ${traffic.epoch}${traffic.epoch === traffic.currentEpoch ? ' (current)' : ''}`,
        '',
        // Short addresses keep the table within 100 columns (as `stratos status`); --wide or --json give them whole.
        table(
          ['MONIKER', 'NODE', 'CHAIN', 'EPOCH TRAFFIC', 'ORDERS', 'TOTAL TRAFFIC', 'REPORT'],
          rows.map((r) => [
            shorten(r.moniker, 16),
            f.wide ? r.node : shorten(r.node, 16),
            r.chainState,
            formatBytes(r.epochBytes),
            groupDigits(r.epochOrders),
            formatBytes(r.totalBytes),
            r.report,
          ]),
          new Set([3, 4, 5]),
        ),
      ]
      for (const r of rewards) {
        const total = r.entries.reduce((a, e) => a + BigInt(e.amount), 0n)
        const matured = r.entries.filter((e) => e.matured).reduce((a, e) => a + BigInt(e.amount), 0n)
        out.push(
          '',
          `owner   ${r.owner}`,
          `rewards ${formatStos(total)} STOS, ${formatStos(matured)} STOS withdrawable with \`stratos withdraw\``,
        )
        if (r.entries.length) {
          out.push(
            table(
              ['EPOCH', 'AMOUNT (STOS)', 'MATURES AT', 'MATURED'],
              r.entries
                .slice(-10)
                .map((e) => [String(e.epoch), formatStos(BigInt(e.amount)), String(e.maturesAt), String(e.matured)]),
              new Set([0, 1, 2]),
            ),
          )
        }
      }
      process.stdout.write(out.join('\n') + '\n')
    })
}
