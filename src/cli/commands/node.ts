/**
 * `stratos node resource|meta|validator|gateway|s3`: run one role in the foreground until SIGINT/SIGTERM
 * (graceful stop, exit 0). Logs are JSON lines on stderr (pino; STRATOS_LOG_LEVEL); one line on
 * stdout says where the role listens.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { WalletKey } from '../../crypto/wallet-key.ts'
import { StratosError } from '../../errors.ts'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_PORTS,
  DEFAULT_SEGMENT_BYTES,
  DEVNET_CHAIN_ID,
  NODE_STOP_TIMEOUT_MS,
} from '../../limits.ts'
import { createLogger, type Startable } from '../../util/components.ts'
import { collect, parseBytes, parseNonNegativeInt, parsePort, parsePositiveInt, parseSyncMode } from '../options.ts'
import type { SyncMode } from '../../sds/resource/flusher.ts'
import { exitOnSecondSignal, shutdownRequested } from '../signals.ts'
import { registerNodeOperator } from './node-operator.ts'
import { registerNodeRewards } from './traffic.ts'
import { registerNodeMaintenance } from './node-maintenance.ts'
import type { Ops } from '../../net/ops.ts'

const defaultMetaUrl = `http://127.0.0.1:${DEFAULT_PORTS.meta}`

interface CommonFlags {
  dataDir: string
  host: string
  port: number
  chainId: string
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('run one role of the network in the foreground')

  roleCommand(
    node,
    'resource',
    'run a resource node: stores shards, serves them, heartbeats to the meta node (with --chain-url: to every meta node the chain lists)',
    'node key, shards',
    DEFAULT_PORTS.resourceBase,
  )
    .option('--meta-url <url>', `meta node URL (default: ${defaultMetaUrl})`)
    .option(
      '--meta-address <stsds1…>',
      'meta node address whose tickets to accept (repeatable; default: pinned from the meta node on first start)',
      collect,
    )
    .option('--capacity <bytes>', 'bytes to offer, e.g. 10GiB (default: free disk space minus a reserve)', parseBytes)
    .option('--public-url <url>', 'URL to advertise to the meta node (default: the listening URL)')
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period', parsePositiveInt)
    .option(
      '--order-settle-interval-ms <ms>',
      'how often traffic orders are settled with the meta node (default: ORDER_SETTLE_INTERVAL_MS)',
      parsePositiveInt,
    )
    .option(
      '--order-settle-after-ms <ms>',
      'settle (and close) an order limit this long after its first use (default: ORDER_SETTLE_AFTER_MS)',
      parsePositiveInt,
    )
    .option(
      '--sync <mode>',
      'durability of acknowledged shards: always (fdatasync before the receipt), batch (synced within STORE_SYNC_INTERVAL_MS; crash self-check at start), none',
      parseSyncMode,
    )
    .option('--no-fsync', 'alias of --sync none')
    .action(
      async (
        f: CommonFlags & {
          metaAddress?: string[]
          capacity?: number
          publicUrl?: string
          heartbeatIntervalMs?: number
          orderSettleIntervalMs?: number
          orderSettleAfterMs?: number
          sync?: SyncMode
          fsync: boolean
        },
        cmd: Command,
      ) => {
        const metaUrl = metaUrlOf(cmd)
        const { chainUrl } = cmd.optsWithGlobals() as { chainUrl?: string }
        if (f.sync !== undefined && f.sync !== 'none' && !f.fsync)
          throw new StratosError('BAD_REQUEST', `--no-fsync contradicts --sync ${f.sync}`)
        const sync: SyncMode | undefined = f.sync ?? (f.fsync ? undefined : 'none')
        const { startResourceNode } = await import('../../sds/resource/index.ts')
        await runRole('resource node', async (logger) => {
          const n = await startResourceNode({
            dataDir: resolve(f.dataDir),
            host: f.host,
            port: f.port,
            metaUrl,
            chainId: f.chainId,
            chainUrl: chainUrl?.replace(/\/+$/, ''),
            metaAddresses: f.metaAddress,
            capacityBytes: f.capacity,
            heartbeatIntervalMs: f.heartbeatIntervalMs,
            publicUrl: f.publicUrl,
            sync,
            orderSettleIntervalMs: f.orderSettleIntervalMs,
            orderSettleAfterMs: f.orderSettleAfterMs,
            logger,
            ops: await processOps('resource'),
          })
          return { role: n, line: `resource node ${n.address} listening on ${n.url}` }
        })
      },
    )

  roleCommand(
    node,
    'meta',
    'run a meta node: node registry, placement, tickets, file index',
    'node key, index',
    DEFAULT_PORTS.meta,
  )
    .option('--k <n>', 'default data shards per segment', parsePositiveInt)
    .option('--m <n>', 'default parity shards per segment', parseNonNegativeInt)
    .option('--segment-size <bytes>', 'default segment size, e.g. 32MiB', parseBytes)
    .option(
      '--index <url>',
      'keep the index in PostgreSQL (postgres://user:pass@host:port/db), shared by several processes of this meta node; default LMDB in --data-dir',
    )
    .option('--session-ttl-ms <ms>', 'abandon an upload session idle this long', parsePositiveInt)
    .option('--sweep-interval-ms <ms>', 'how often expired upload sessions are swept', parsePositiveInt)
    .option(
      '--put-credit-interval-ms <ms>',
      "how often committed uploads' PUT traffic is credited (default PUT_CREDIT_INTERVAL_MS)",
      parsePositiveInt,
    )
    .option('--offline-after-ms <ms>', 'a node silent this long is offline', parsePositiveInt)
    .option('--heartbeat-interval-ms <ms>', 'heartbeat period told to nodes', parsePositiveInt)
    .option(
      '--repair-grace-ms <ms>',
      'repair: rebuild the shards of a node offline this long past --offline-after-ms (default REPAIR_GRACE_MS)',
      parseNonNegativeInt,
    )
    .option(
      '--repair-check-interval-ms <ms>',
      'repair: how often node states and bad shards are checked (default REPAIR_CHECK_INTERVAL_MS)',
      parsePositiveInt,
    )
    .option(
      '--audit-interval-ms <ms>',
      'audits: how often an audit round runs (default AUDIT_INTERVAL_MS)',
      parsePositiveInt,
    )
    .option(
      '--audit-node-interval-ms <ms>',
      'audits: a node is challenged at most once per this period (default AUDIT_NODE_MIN_INTERVAL_MS)',
      parseNonNegativeInt,
    )
    .option(
      '--chain-url <url>',
      'join the STOS chain at this validator (Proof of Traffic: ozone checks, order settlement, volume reports); the owner wallet comes from STRATOS_MNEMONIC, --mnemonic-file, --key or --wallet',
    )
    .option(
      '--mnemonic-file <path>',
      "read the owner wallet's mnemonic from this file (like STRATOS_MNEMONIC; keep it mode 0600)",
    )
    .option(
      '--trusted-proxy <address>',
      'share links: a caller (e.g. a gateway host) whose client address in resolve requests is believed (repeatable; default loopback)',
      collect,
    )
    .action(
      async (
        f: CommonFlags & {
          mnemonicFile?: string
          trustedProxy?: string[]
          index?: string
          k?: number
          m?: number
          segmentSize?: number
          sessionTtlMs?: number
          sweepIntervalMs?: number
          putCreditIntervalMs?: number
          offlineAfterMs?: number
          heartbeatIntervalMs?: number
          repairGraceMs?: number
          repairCheckIntervalMs?: number
          auditIntervalMs?: number
          auditNodeIntervalMs?: number
        },
        cmd: Command,
      ) => {
        const { startMetaNode } = await import('../../sds/meta/index.ts')
        useMnemonicFile(f.mnemonicFile)
        const chain = await metaChainOf(cmd)
        const custom = f.k !== undefined || f.m !== undefined || f.segmentSize !== undefined
        await runRole('meta node', async (logger) => {
          const n = await startMetaNode({
            dataDir: resolve(f.dataDir),
            ...(f.index !== undefined ? { index: f.index } : {}),
            host: f.host,
            port: f.port,
            chainId: f.chainId,
            defaults: custom
              ? {
                  k: f.k ?? DEFAULT_DATA_SHARDS,
                  m: f.m ?? DEFAULT_PARITY_SHARDS,
                  segmentSize: f.segmentSize ?? DEFAULT_SEGMENT_BYTES,
                }
              : undefined,
            sessionTtlMs: f.sessionTtlMs,
            sweepIntervalMs: f.sweepIntervalMs,
            ...(f.putCreditIntervalMs !== undefined ? { putCreditIntervalMs: f.putCreditIntervalMs } : {}),
            offlineAfterMs: f.offlineAfterMs,
            heartbeatIntervalMs: f.heartbeatIntervalMs,
            ...(chain ? { chain } : {}),
            repair: { graceMs: f.repairGraceMs, checkIntervalMs: f.repairCheckIntervalMs },
            audit: {
              ...(f.auditIntervalMs !== undefined ? { intervalMs: f.auditIntervalMs } : {}),
              ...(f.auditNodeIntervalMs !== undefined ? { nodeMinIntervalMs: f.auditNodeIntervalMs } : {}),
            },
            ...(f.trustedProxy ? { shareTrustedProxies: f.trustedProxy } : {}),
            logger,
            ops: await processOps('meta'),
          })
          return {
            role: n,
            line: `meta node ${n.address} listening on ${n.url}${chain ? ` (chain ${chain.url}, owner ${chain.owner.address})` : ' (storage only: no chain)'}`,
          }
        })
      },
    )

  roleCommand(
    node,
    'validator',
    'run a validator: the STOS chain (block production, state, REST API and block stream)',
    'genesis.json, chain store',
    DEFAULT_PORTS.chainRest,
    'REST API port (0: any free port)',
  )
    .option('--block-interval-ms <ms>', 'block time', parsePositiveInt)
    .option('--fund <st1…>', 'dev wallet funded at genesis (repeatable; first start only)', collect)
    .option('--engine <engine>', 'consensus: embedded (single proposer) or cometbft (docs/validators.md)', 'embedded')
    .option('--comet-rpc-port <port>', 'cometbft engine: CometBFT RPC port (default 26657)', parsePort)
    .option('--comet-p2p-port <port>', 'cometbft engine: CometBFT p2p port (default 26656)', parsePort)
    .option(
      '--comet-peers <list>',
      'cometbft engine: persistent peers, comma-separated nodeId@host:port (other validators)',
    )
    .option('--comet-external-address <host:port>', 'cometbft engine: p2p address other validators dial')
    .action(
      async (
        f: CommonFlags & {
          blockIntervalMs?: number
          fund?: string[]
          engine: string
          cometRpcPort?: number
          cometP2pPort?: number
          cometPeers?: string
          cometExternalAddress?: string
        },
      ) => {
        const { createRecoverSigner } = await import('../../chain/native-secp256k1.ts')
        if (f.engine === 'cometbft') {
          const { startCometValidator } = await import('../../chain/node/abci/cometbft.ts')
          await runRole('validator', async (logger) => {
            const v = await startCometValidator({
              dataDir: resolve(f.dataDir),
              host: f.host,
              port: f.port,
              chainId: f.chainId,
              ...(f.cometPeers ? { persistentPeers: f.cometPeers.split(',').filter(Boolean) } : {}),
              ...(f.cometExternalAddress ? { externalAddress: f.cometExternalAddress } : {}),
              ...(f.fund ? { wallets: f.fund } : {}),
              ...(f.blockIntervalMs !== undefined ? { blockIntervalMs: f.blockIntervalMs } : {}),
              ...(f.cometRpcPort !== undefined ? { rpcPort: f.cometRpcPort } : {}),
              ...(f.cometP2pPort !== undefined ? { p2pPort: f.cometP2pPort } : {}),
              recoverSigner: createRecoverSigner({ logger }),
              logger,
              ops: await processOps('validator'),
              // Without CometBFT this process is no validator: exit, so a supervisor starts both again.
              onCometExit: () => process.exit(1),
            })
            return {
              role: v,
              line: `validator (cometbft) for chain ${v.chainId} at height ${v.height} listening on ${v.url}: CometBFT RPC ${v.rpcUrl} (pid ${v.cometbftPid}), p2p ${v.p2pAddress}, ABCI ${v.abciAddress}`,
            }
          })
          return
        }
        if (f.engine !== 'embedded')
          throw new StratosError('BAD_REQUEST', `--engine must be embedded or cometbft, not ${f.engine}`)
        const { startValidator } = await import('../../chain/node/index.ts')
        await runRole('validator', async (logger) => {
          // Native libsecp256k1 signer recovery (~20× noble); falls back to noble with one warning.
          const recoverSigner = createRecoverSigner({ logger })
          const v = await startValidator({
            dataDir: resolve(f.dataDir),
            host: f.host,
            port: f.port,
            chainId: f.chainId,
            blockIntervalMs: f.blockIntervalMs,
            wallets: f.fund,
            recoverSigner,
            logger,
            ops: await processOps('validator'),
          })
          return {
            role: v,
            line: `validator for chain ${v.chainId} at height ${v.height} listening on ${v.url}${recoverSigner.native ? '' : ' (pure-JS signature recovery)'}`,
          }
        })
      },
    )

  roleCommand(
    node,
    'gateway',
    'run the gateway: client-facing HTTP API (GET /ipfs/CID, POST /api/v1/add) with a wallet from STRATOS_MNEMONIC',
    'hot-range cache under cache/',
    DEFAULT_PORTS.gateway,
  )
    .option('--meta-url <url>', `meta node URL (default: ${defaultMetaUrl})`)
    .option(
      '--api-port <port>',
      'port of the Kubo-compatible IPFS RPC API, /api/v0 (0: any free port)',
      parsePort,
      DEFAULT_PORTS.ipfsApi,
    )
    .option(
      '--mnemonic-file <path>',
      "read the gateway wallet's mnemonic from this file (like STRATOS_MNEMONIC; keep it mode 0600)",
    )
    .option(
      '--rate <n>',
      'gateway: requests per second per client address (default GATEWAY_RATE_PER_SECOND)',
      parsePositiveInt,
    )
    .option(
      '--burst <n>',
      'gateway: requests one client address may make at once (default GATEWAY_RATE_BURST)',
      parsePositiveInt,
    )
    .option(
      '--api-rate <n>',
      'IPFS RPC API: requests per second per client address (default RPC_RATE_PER_SECOND)',
      parsePositiveInt,
    )
    .option(
      '--api-burst <n>',
      'IPFS RPC API: requests one client address may make at once (default RPC_RATE_BURST)',
      parsePositiveInt,
    )
    .option(
      '--gc-grace-ms <ms>',
      'IPFS RPC API: unpinned content it stored is deleted this long after its last pin went (default RPC_GC_GRACE_MS)',
      parseNonNegativeInt,
    )
    .option(
      '--gc-interval-ms <ms>',
      'IPFS RPC API: how often garbage collection runs (0: only on repo/gc; default RPC_GC_INTERVAL_MS)',
      parseNonNegativeInt,
    )
    .action(
      async (
        f: CommonFlags & {
          apiPort: number
          mnemonicFile?: string
          rate?: number
          burst?: number
          apiRate?: number
          apiBurst?: number
          gcGraceMs?: number
          gcIntervalMs?: number
        },
        cmd: Command,
      ) => {
        const metaUrl = metaUrlOf(cmd)
        useMnemonicFile(f.mnemonicFile)
        const { startGateway } = await import('../../gateway/index.ts')
        const { startIpfsRpcApi } = await import('../../ipfs/rpc/index.ts')
        const mnemonic = process.env.STRATOS_MNEMONIC?.trim()
        const wallet = mnemonic ? WalletKey.fromMnemonic(mnemonic) : undefined
        await runRole('gateway', async (logger) => {
          // One registry for both servers of the process: /metrics on either port shows all of it.
          const ops = await processOps('gateway')
          // The RPC API first: once the gateway answers /v1/info, both are up.
          const api = await startIpfsRpcApi({
            ops,
            host: f.host,
            port: f.apiPort,
            metaUrl,
            chainId: f.chainId,
            wallet,
            dataDir: join(resolve(f.dataDir), 'ipfs-api'),
            logger,
            rateLimit: { ratePerSecond: f.apiRate, burst: f.apiBurst },
            gc: { graceMs: f.gcGraceMs, intervalMs: f.gcIntervalMs },
          })
          let g: Awaited<ReturnType<typeof startGateway>>
          try {
            g = await startGateway({
              ops,
              host: f.host,
              port: f.port,
              metaUrl,
              // Relayed for the wallet portal (/api/v1/chain/): the program-wide --chain-url, when given.
              chainUrl: (cmd.optsWithGlobals() as { chainUrl?: string }).chainUrl,
              chainId: f.chainId,
              wallet,
              dataDir: resolve(f.dataDir),
              logger,
              rateLimit: { ratePerSecond: f.rate, burst: f.burst },
            })
          } catch (e) {
            await api.stop()
            throw e
          }
          const role = {
            stop: async () => {
              await Promise.all([g.stop(), api.stop()])
            },
          }
          return {
            role,
            line: `gateway listening on ${g.url} (wallet ${g.url}/wallet/), IPFS RPC API on ${api.url}/api/v0${wallet ? ` (wallet ${wallet.address})` : ' (read-only: no STRATOS_MNEMONIC)'}`,
          }
        })
      },
    )

  roleCommand(
    node,
    's3',
    'run the S3-compatible gateway: S3 API (SigV4) over the network; credentials act for their wallets (docs/s3.md)',
    'node key (the delegate key), sealed credential secrets, index, staged multipart parts',
    DEFAULT_PORTS.s3,
  )
    .option('--meta-url <url>', `meta node URL (default: ${defaultMetaUrl})`)
    .option('--region <region>', 'the region it answers (default S3_DEFAULT_REGION)')
    .option('--domain <domain>', 'also accept virtual-hosted-style requests: {bucket}.{domain}')
    .option(
      '--multipart-ttl-ms <ms>',
      'abort multipart uploads idle this long and free their parts (default S3_MULTIPART_TTL_MS)',
      parsePositiveInt,
    )
    .option(
      '--sweep-interval-ms <ms>',
      'how often expired uploads are swept (default S3_SWEEP_INTERVAL_MS)',
      parsePositiveInt,
    )
    .action(
      async (
        f: CommonFlags & { region?: string; domain?: string; multipartTtlMs?: number; sweepIntervalMs?: number },
        cmd: Command,
      ) => {
        const metaUrl = metaUrlOf(cmd)
        const { startS3Node } = await import('../../s3/index.ts')
        await runRole('s3', async (logger) => {
          const s3 = await startS3Node({
            dataDir: resolve(f.dataDir),
            host: f.host,
            port: f.port,
            metaUrl,
            chainId: f.chainId,
            logger,
            ops: await processOps('s3'),
            ...(f.region !== undefined ? { region: f.region } : {}),
            ...(f.domain !== undefined ? { domain: f.domain } : {}),
            ...(f.multipartTtlMs !== undefined ? { multipartTtlMs: f.multipartTtlMs } : {}),
            ...(f.sweepIntervalMs !== undefined ? { sweepIntervalMs: f.sweepIntervalMs } : {}),
          })
          return { role: s3, line: `s3 gateway listening on ${s3.url} (delegate ${s3.address})` }
        })
      },
    )

  registerNodeOperator(node)
  registerNodeRewards(node)
  registerNodeMaintenance(node)
}

/** The Ops of a role running as its own process: its metrics include the Node.js process metrics. */
async function processOps(role: string): Promise<Ops> {
  // Loaded with the role (prom-client), not by every CLI command.
  const { createOps } = await import('../../net/ops.ts')
  const ops = createOps(role)
  ops.metrics.collectProcessMetrics()
  return ops
}

/**
 * `--mnemonic-file PATH` stands for STRATOS_MNEMONIC, so a process's recorded command line (devnet.json `args`)
 * restarts it with the same wallet and no secret on the command line.
 */
function useMnemonicFile(path: string | undefined): void {
  if (path === undefined) return
  let text: string
  try {
    text = readFileSync(resolve(path), 'utf8').trim()
  } catch (e) {
    throw new StratosError(
      'NETWORK_CONFIG',
      `cannot read --mnemonic-file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { path },
    )
  }
  if (text === '') throw new StratosError('NETWORK_CONFIG', `--mnemonic-file ${path} is empty`, { path })
  process.env.STRATOS_MNEMONIC = text
}

/**
 * The meta node's chain: `--chain-url` (its own or the program-wide flag) plus the owner wallet that signs its
 * volume reports — `--key`, `--wallet` or STRATOS_MNEMONIC (never a network file's dev wallet: an operator names it).
 */
async function metaChainOf(cmd: Command): Promise<{ url: string; owner: WalletKey } | undefined> {
  const g = cmd.optsWithGlobals() as { chainUrl?: string; key?: string; wallet?: string }
  if (!g.chainUrl) return undefined
  const mnemonic = process.env.STRATOS_MNEMONIC?.trim()
  if (g.key === undefined && g.wallet === undefined && !mnemonic) {
    throw new StratosError(
      'NETWORK_CONFIG',
      "--chain-url needs the meta node's owner wallet: set STRATOS_MNEMONIC, or pass --key HEX or --wallet NAME",
    )
  }
  const { contextOf } = await import('../context.ts')
  const owner = await contextOf(cmd).resolveWallet('required')
  if (!owner) throw new StratosError('NETWORK_CONFIG', "--chain-url needs the meta node's owner wallet")
  return { url: g.chainUrl.replace(/\/+$/, ''), owner }
}

/** A role command with the options every role has: --data-dir (~/.stratos/NAME), --host, --port, --chain-id. */
function roleCommand(
  node: Command,
  name: string,
  description: string,
  dataDirHolds: string,
  defaultPort: number,
  portHelp = 'port to listen on (0: any free port)',
): Command {
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
async function runRole(
  name: string,
  start: (logger: ReturnType<typeof createLogger>) => Promise<{ role: Pick<Startable, 'stop'>; line: string }>,
): Promise<void> {
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
