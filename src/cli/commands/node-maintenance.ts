/**
 * `stratos node maintenance on|off --data-dir DIR`: a resource node operator announces (or ends) planned downtime.
 * The request is signed by the node key in DIR (node-key.json) and sent to the meta node (POST
 * /v1/nodes/maintenance; see docs/protocol.md "Audits"): while the window lasts the node gets no new shards, is not
 * audited, its downtime does not count against its online score, and repair waits for it.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { NodeKey } from '../../crypto/node-key.ts'
import { StratosError } from '../../errors.ts'
import { MAINTENANCE_MAX_MS, MAINTENANCE_REQUEST_TTL_MS } from '../../limits.ts'
import { MetaClient } from '../../net/meta-client.ts'
import { signMaintenance } from '../../sds/protocol/audit.ts'
import { randomHex, systemRandom } from '../../util/components.ts'
import { contextOf } from '../context.ts'
import { formatTime, printJson } from '../output.ts'
import { parsePositiveInt } from '../options.ts'

interface MaintenanceFlags {
  dataDir: string
  durationMs?: number
  json?: boolean
}

export function registerNodeMaintenance(node: Command): void {
  node
    .command('maintenance')
    .description(
      'announce (on) or end (off) planned downtime of a resource node: no new data, no audits, offline time not counted',
    )
    .argument('<state>', 'on | off')
    .requiredOption('--data-dir <dir>', "the resource node's data directory (its node-key.json signs the request)")
    .option(
      '--duration-ms <ms>',
      `length of the window (on; default and maximum ${MAINTENANCE_MAX_MS} ms)`,
      parsePositiveInt,
    )
    .option('--json', 'print the node view as JSON')
    .action(async (state: string, f: MaintenanceFlags, cmd: Command) => {
      if (state !== 'on' && state !== 'off')
        throw new StratosError('BAD_REQUEST', `maintenance state must be "on" or "off", not ${JSON.stringify(state)}`)
      const dir = resolve(f.dataDir)
      if (!existsSync(join(dir, 'node-key.json')))
        throw new StratosError(
          'NETWORK_CONFIG',
          `${dir} holds no node-key.json: is it a resource node's data directory?`,
        )
      const key = NodeKey.loadOrCreate(dir)
      const meta = new MetaClient(await contextOf(cmd).resolveMetaUrl())
      const { chainId } = await meta.info()
      const now = Date.now()
      const duration = f.durationMs ?? MAINTENANCE_MAX_MS
      const on = state === 'on'
      const view = await meta.maintenance(
        signMaintenance(key, {
          chainId,
          on,
          until: on ? now + duration : null,
          nonce: randomHex(systemRandom, 16),
          expiresAt: now + MAINTENANCE_REQUEST_TTL_MS,
        }),
      )
      if (f.json) return printJson(view)
      const until = view.reputation?.maintenanceUntil
      process.stdout.write(
        on
          ? `node ${key.address} is in maintenance until ${until !== undefined ? formatTime(until) : '(unknown)'}\n`
          : `node ${key.address} is out of maintenance (state ${view.reputation?.state ?? view.state})\n`,
      )
    })
}
