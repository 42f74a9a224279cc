/**
 * `stratos node resource|meta|validator|gateway`: run one role in the foreground until SIGINT/SIGTERM
 * (graceful stop, exit 0). Logs are JSON lines on stderr (pino; STRATOS_LOG_LEVEL); one line on
 * stdout says where the role listens.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { WalletKey } from '../../crypto/wallet-key.ts'
import { StratosError } from '../../errors.ts'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_PORTS, DEFAULT_SEGMENT_BYTES, DEVNET_CHAIN_ID, NODE_STOP_TIMEOUT_MS } from '../../limits.ts'
import { createLogger, type Startable } from '../../util/components.ts'
import { collect, parseBytes, parseNonNegativeInt, parsePort, parsePositiveInt } from '../options.ts'
import { exitOnSecondSignal, shutdownRequested } from '../signals.ts'
import { registerNodeOperator } from './node-operator.ts'

const defaultMetaUrl = `http://127.0.0.1:${DEFAULT_PORTS.meta}`

interface CommonFlags { dataDir: string; host: string; port: number; chainId: string }

export function registerNode(program: Command): void {
  const node = program.command('node').description('run one role of the network in the foreground')

  roleCommand(node, 'resource', 'run a resource node: stores shards, serves them, heartbeats to the meta node', 'node key, shards', DEFAULT_PORTS.resourceBase)
    .option('--meta-url <url>', `meta node URL (default: ${defaultMetaUrl})`)
    .option('--meta-address <stsds1…>', 'meta node address whose tickets to accept (repeatable; default: pinned from the meta node on first start)', collect)
    .option('--capacity <bytes>', 'bytes to offer, e.g. 10GiB (default: free disk space minus a reserve)', parseBytes)
    .option('--public-url <url>', 'URL to advertise to the meta node (default: the listening URL)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period', parsePositiveInt)
    .option('--no-fsync', 'do not fsync shard files (faster, unsafe on power loss)')
    .action(async (f: CommonFlags & { metaAddress?: string[]; capacity?: number; publicUrl?: string; heartbeatIntervalMs?: number; fsync: boolean }, cmd: Command) => {
      const metaUrl = metaUrlOf(cmd)
      const { startResourceNode } = await import('../../sds/resource/index.ts')
      await runRole('resource node', async (logger) => {
        const n = await startResourceNode({
          dataDir: resolve(f.dataDir), host: f.host, port: f.port, metaUrl, chainId: f.chainId,
          metaAddresses: f.metaAddress, capacityBytes: f.capacity, heartbeatIntervalMs: f.heartbeatIntervalMs,
          publicUrl: f.publicUrl, fsync: f.fsync, logger,
        })
        return { role: n, line: `resource node ${n.address} listening on ${n.url}` }
      })
    })

  roleCommand(node, 'meta', 'run a meta node: node registry, placement, tickets, file index', 'node key, index', DEFAULT_PORTS.meta)
    .option('--k <n>', 'default data shards per segment', parsePositiveInt)
    .option('--m <n>', 'default parity shards per segment', parseNonNegativeInt)
    .option('--segment-size <bytes>', 'default segment size, e.g. 32MiB', parseBytes)
    .option('--session-ttl-ms <ms>', 'abandon an upload session idle this long', parsePositiveInt)
    .option('--sweep-interval-ms <ms>', 'how often expired upload sessions are swept', parsePositiveInt)
    .option('--offline-after-ms <ms>', 'a node silent this long is offline', parsePositiveInt)
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period told to nodes', parsePositiveInt)
    .action(async (f: CommonFlags & { k?: number; m?: number; segmentSize?: number; sessionTtlMs?: number; sweepIntervalMs?: number; offlineAfterMs?: number; heartbeatIntervalMs?: number }) => {
      const { startMetaNode } = await import('../../sds/meta/index.ts')
      const custom = f.k !== undefined || f.m !== undefined || f.segmentSize !== undefined
      await runRole('meta node', async (logger) => {
        const n = await startMetaNode({
          dataDir: resolve(f.dataDir), host: f.host, port: f.port, chainId: f.chainId,
          defaults: custom ? { k: f.k ?? DEFAULT_DATA_SHARDS, m: f.m ?? DEFAULT_PARITY_SHARDS, segmentSize: f.segmentSize ?? DEFAULT_SEGMENT_BYTES } : undefined,
          sessionTtlMs: f.sessionTtlMs, sweepIntervalMs: f.sweepIntervalMs, offlineAfterMs: f.offlineAfterMs, heartbeatIntervalMs: f.heartbeatIntervalMs,
          logger,
        })
        return { role: n, line: `meta node ${n.address} listening on ${n.url}` }
      })
    })

  roleCommand(node, 'validator', 'run a validator: the STOS chain (block production, state, REST API and block stream)', 'genesis.json, chain store', DEFAULT_PORTS.chainRest, 'REST API port (0: any free port)')
    .option('--block-interval-ms <ms>', 'block time', parsePositiveInt)
    .option('--fund <st1…>', 'dev wallet funded at genesis (repeatable; first start only)', collect)
    .action(async (f: CommonFlags & { blockIntervalMs?: number; fund?: string[] }) => {
      const { startValidator } = await import('../../chain/node/index.ts')
      const { createRecoverSigner } = await import('../../chain/native-secp256k1.ts')
      await runRole('validator', async (logger) => {
        // Native libsecp256k1 signer recovery (~20× noble); falls back to noble with one warning.
        const recoverSigner = createRecoverSigner({ logger })
        const v = await startValidator({
          dataDir: resolve(f.dataDir), host: f.host, port: f.port, chainId: f.chainId, blockIntervalMs: f.blockIntervalMs,
          wallets: f.fund, recoverSigner, logger,
        })
        return { role: v, line: `validator for chain ${v.chainId} at height ${v.height} listening on ${v.url}${recoverSigner.native ? '' : ' (pure-JS signature recovery)'}` }
      })
    })

  roleCommand(node, 'gateway', 'run the gateway: client-facing HTTP API (GET /ipfs/CID, POST /api/v1/add) with a wallet from STRATOS_MNEMONIC', 'reserved for caches', DEFAULT_PORTS.gateway)
    .option('--meta-url <url>', `meta node URL (default: ${defaultMetaUrl})`)
    .action(async (f: CommonFlags, cmd: Command) => {
      const metaUrl = metaUrlOf(cmd)
      const { startGateway } = await import('../../gateway/index.ts')
      const mnemonic = process.env.STRATOS_MNEMONIC?.trim()
      const wallet = mnemonic ? WalletKey.fromMnemonic(mnemonic) : undefined
      await runRole('gateway', async (logger) => {
        const g = await startGateway({ host: f.host, port: f.port, metaUrl, chainId: f.chainId, wallet, logger })
        return { role: g, line: `gateway listening on ${g.url}${wallet ? ` (wallet ${wallet.address})` : ' (read-only: no STRATOS_MNEMONIC)'}` }
      })
    })

  registerNodeOperator(node)
}

/** A role command with the options every role has: --data-dir (~/.stratos/NAME), --host, --port, --chain-id. */
function roleCommand(node: Command, name: string, description: string, dataDirHolds: string, defaultPort: number, portHelp = 'port to listen on (0: any free port)'): Command {
  return node
    .command(name)
    .description(description)
    .option('--data-dir <dir>', `data directory (${dataDirHolds})`, join(homedir(), '.stratos', name))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', portHelp, parsePort, defaultPort)
    .option('--chain-id <id>', 'chain id', DEVNET_CHAIN_ID)
}

/**
 * `--meta-url` is also a program-wide option (client commands), and commander hands a flag to
 * whichever command declares it first, so read it from the merged options.
 */
function metaUrlOf(cmd: Command): string {
  const v = (cmd.optsWithGlobals() as { metaUrl?: string }).metaUrl
  return (v ?? defaultMetaUrl).replace(/\/+$/, '')
}

/** Starts a role, announces it, waits for a stop request, stops it gracefully and exits 0. */
async function runRole(name: string, start: (logger: ReturnType<typeof createLogger>) => Promise<{ role: Pick<Startable, 'stop'>; line: string }>): Promise<void> {
  const logger = createLogger(name.replace(/ /g, '-'))
  const stopRequested = shutdownRequested()
  const { role, line } = await start(logger)
  process.stdout.write(line + '\n')
  const reason = await stopRequested
  logger.info({ reason }, `${name} stopping`)
  exitOnSecondSignal(1)
  const timeout = setTimeout(() => {
    logger.error(`${name} did not stop within ${NODE_STOP_TIMEOUT_MS} ms; exiting anyway`)
    process.exit(1)
  }, NODE_STOP_TIMEOUT_MS)
  timeout.unref()
  try {
    await role.stop()
  } catch (e) {
    throw new StratosError('INTERNAL', `${name} failed to stop cleanly: ${(e as Error).message}`)
  }
  clearTimeout(timeout)
  logger.info(`${name} stopped`)
  process.exit(0)
}
