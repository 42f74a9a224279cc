/**
 * `stratos devnet`: start a local network (meta node, N resource nodes, gateway) as separate
 * processes, write DIR/devnet.json, print one line containing `ready`, and run until
 * SIGINT/SIGTERM. Settings not given again on a restart are taken from the previous devnet.json.
 */
import type { Command } from 'commander'
import {
  Devnet,
  defaultResources,
  defaultSettings,
  previousSettings,
  type DevnetSettings,
} from '../../devnet/devnet.ts'
import { defaultDevnetDir } from '../../devnet/network.ts'
import { StratosError } from '../../errors.ts'
import {
  collectNodeCapacity,
  parseBytes,
  parseNonNegativeInt,
  parsePort,
  parsePositiveInt,
  parseSyncMode,
} from '../options.ts'
import type { SyncMode } from '../../sds/resource/flusher.ts'
import { exitOnSecondSignal, shutdownRequested } from '../signals.ts'
import { formatBytes } from '../output.ts'

interface DevnetFlags {
  dir: string
  portBase?: number
  resources?: number
  validators?: number
  metas?: number
  k?: number
  m?: number
  segmentSize?: number
  chainId?: string
  sessionTtlMs?: number
  s3MultipartTtlMs?: number
  s3SweepIntervalMs?: number
  sweepIntervalMs?: number
  offlineAfterMs?: number
  heartbeatIntervalMs?: number
  repairGraceMs?: number
  sync?: SyncMode
  repairCheckIntervalMs?: number
  auditIntervalMs?: number
  auditNodeIntervalMs?: number
  orderSettleIntervalMs?: number
  capacity?: number
  nodeCapacity?: Map<number, number>
}

export function registerDevnet(program: Command): void {
  program
    .command('devnet')
    .description('run a local network: meta node, resource nodes and gateway as separate processes (Ctrl-C stops all)')
    .option('--dir <dir>', 'devnet directory (data, logs, wallets, devnet.json)', defaultDevnetDir())
    .option(
      '--port-base <port>',
      'move every port: meta P+100, gateway P+80, resource nodes P+201… (default: 7100, 8080, 7201…)',
      parsePort,
    )
    .option(
      '--resources <n>',
      'number of resource nodes (default k + m + 2: 8 at the default k and m, so uploads go on while nodes are down)',
      parsePositiveInt,
    )
    .option(
      '--metas <n>',
      'number of meta nodes (default 1): meta-2… are registered on chain and approved by the others; every resource node serves all of them',
      parsePositiveInt,
    )
    .option('--k <n>', 'data shards per segment (default 4)', parsePositiveInt)
    .option('--m <n>', 'parity shards per segment (default 2)', parseNonNegativeInt)
    .option('--segment-size <bytes>', 'segment size, e.g. 1MiB (default 32MiB)', parseBytes)
    .option('--chain-id <id>', 'chain id (default stratos-devnet-1)')
    .option('--session-ttl-ms <ms>', 'meta node: abandon idle upload sessions after this long', parsePositiveInt)
    .option('--s3-multipart-ttl-ms <ms>', 'S3 gateway: abort multipart uploads idle this long', parsePositiveInt)
    .option('--s3-sweep-interval-ms <ms>', 'S3 gateway: how often expired uploads are swept', parsePositiveInt)
    .option('--sweep-interval-ms <ms>', 'meta node: how often to sweep expired upload sessions', parsePositiveInt)
    .option('--offline-after-ms <ms>', 'meta node: a node silent this long is offline', parsePositiveInt)
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period of the resource nodes', parsePositiveInt)
    .option(
      '--sync <mode>',
      'resource nodes: durability of acknowledged shards (always | batch | none; default batch)',
      parseSyncMode,
    )
    .option(
      '--repair-grace-ms <ms>',
      'meta node: rebuild the shards of a node offline this long past --offline-after-ms',
      parseNonNegativeInt,
    )
    .option('--repair-check-interval-ms <ms>', 'meta node: how often repair checks node states', parsePositiveInt)
    .option('--audit-interval-ms <ms>', 'meta node: how often an audit round runs', parsePositiveInt)
    .option(
      '--audit-node-interval-ms <ms>',
      'meta node: a node is audited at most once per this period',
      parseNonNegativeInt,
    )
    .option(
      '--order-settle-interval-ms <ms>',
      'resource nodes: how often traffic orders are settled with the meta node',
      parsePositiveInt,
    )
    .option(
      '--validators <n>',
      'validators: 1 runs the embedded engine; more run CometBFT, each with its app, ports and home (docs/validators.md)',
      parsePositiveInt,
    )
    .option('--capacity <bytes>', 'capacity of every resource node (default: free disk minus reserve)', parseBytes)
    .option('--node-capacity <n=bytes>', 'capacity of resource-n only, e.g. 1=64KiB (repeatable)', collectNodeCapacity)
    .action(async (f: DevnetFlags, cmd: Command) => {
      // Explicit flags win, then what this directory ran with last time, then the defaults.
      const given = (name: keyof DevnetFlags) => cmd.getOptionValueSource(name) === 'cli'
      const prev = previousSettings(f.dir)
      const defaults = defaultSettings()
      const pick = <K extends keyof DevnetSettings>(key: K, flag: DevnetSettings[K] | undefined): DevnetSettings[K] =>
        given(key as keyof DevnetFlags) && flag !== undefined ? flag : (prev[key] ?? defaults[key])
      const k = pick('k', f.k)
      const m = pick('m', f.m)
      const settings: DevnetSettings = {
        chainId: pick('chainId', f.chainId),
        portBase: pick('portBase', f.portBase ?? null),
        // k + m plus spares (so uploads go on while a node is down), unless given now or last time.
        resources:
          given('resources') && f.resources !== undefined ? f.resources : (prev.resources ?? defaultResources(k, m)),
        k,
        m,
        segmentSize: pick('segmentSize', f.segmentSize),
        validators: pick('validators', f.validators),
        metas: given('metas') && f.metas !== undefined ? f.metas : (prev.metas ?? 1),
      }
      const log = (line: string) => process.stderr.write(line + '\n')
      const devnet = new Devnet({
        ...settings,
        dir: f.dir,
        sessionTtlMs: f.sessionTtlMs,
        s3MultipartTtlMs: f.s3MultipartTtlMs,
        s3SweepIntervalMs: f.s3SweepIntervalMs,
        sweepIntervalMs: f.sweepIntervalMs,
        offlineAfterMs: f.offlineAfterMs,
        heartbeatIntervalMs: f.heartbeatIntervalMs,
        repairGraceMs: f.repairGraceMs,
        repairCheckIntervalMs: f.repairCheckIntervalMs,
        auditIntervalMs: f.auditIntervalMs,
        auditNodeIntervalMs: f.auditNodeIntervalMs,
        orderSettleIntervalMs: f.orderSettleIntervalMs,
        capacityBytes: f.capacity,
        nodeCapacity: f.nodeCapacity,
        sync: f.sync,
        log,
      })
      // A Ctrl-C while starting aborts the start (and stops what already runs).
      const starting = new AbortController()
      const stopRequested = shutdownRequested().then((reason) => {
        starting.abort()
        return reason
      })
      try {
        await devnet.start(starting.signal)
      } catch (e) {
        if (starting.signal.aborted) {
          log('devnet: start interrupted; stopped')
          process.exit(0)
        }
        throw e
      }
      const n = devnet.network
      const metas = n.processes.filter((p) => p.role === 'meta')
      const wallets = n.wallets.map((w) => `${w.name} ${w.address}`).join(', ')
      log(
        `devnet: chain ${n.chainId}, k=${n.k} m=${n.m}, segments of ${formatBytes(n.segmentSize)}; dev wallets: ${wallets}`,
      )
      log(
        `devnet: logs in ${devnet.dir}/logs; try \`stratos status --network ${devnet.dir}\` in another terminal (\`npm link\` once puts stratos on PATH); Ctrl-C stops everything`,
      )
      process.stdout.write(
        `stratos devnet ready: ${settings.resources} resource nodes, meta ${n.meta.url}${
          metas.length > 1
            ? ` (+${metas.length - 1} more: ${metas
                .slice(1)
                .map((p) => p.url)
                .join(', ')})`
            : ''
        }, gateway ${n.gatewayUrl}, wallet ${n.gatewayUrl}/wallet/, IPFS API ${n.ipfsApiUrl}/api/v0${n.s3 ? `, S3 ${n.s3}` : ''}, chain ${n.chainUrl}, network ${devnet.networkFile}\n`,
      )
      const reason = await stopRequested
      log(`devnet: ${reason}: stopping all processes`)
      exitOnSecondSignal(1)
      try {
        await devnet.stop()
      } catch (e) {
        throw new StratosError('INTERNAL', `devnet did not stop cleanly: ${(e as Error).message}`)
      }
      log('devnet: stopped')
      process.exit(0)
    })
}
