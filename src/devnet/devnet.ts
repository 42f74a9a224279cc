/**
 * `stratos devnet`: a whole local network as separate OS processes — one validator (the STOS
 * chain, dev wallets funded at genesis), one meta node, N resource nodes and the gateway — each started through the CLI (`stratos node <role> …`) exactly as an
 * operator would start it on its own host. The devnet waits until every process answers and
 * every resource node is online at the meta node, then writes DIR/devnet.json atomically.
 *
 * From then on a supervisor (supervisor.ts) starts a child that dies unasked again, with backoff, and rewrites
 * devnet.json with its new pid; a child the devnet stops, or one that exits cleanly, stays stopped.
 * The gateway holds its own dev wallet (`gateway`), never the first one the CLI uses by default: the RPC API
 * must not act as the CLI user. A devnet created before that wallet existed funds it from alice at start.
 *
 * Layout of DIR: validator/, meta/, resource-1…N/, gateway/ (data dirs), logs/<name>.log, wallets.json,
 * devnet.json, devnet.lock. Everything is kept across restarts, so a restarted devnet has the
 * same node keys, shards, index and wallets.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { listResourceNodes, registerResourceNodes } from '../chain-client/node-registration.ts'
import { DEVNET_PARAMS, WEI_PER_STOS } from '../chain/params.ts'
import { devnetGenesis } from '../chain/genesis.ts'
import { GENESIS_FILE } from '../chain/node/index.ts'
import { canonicalJson, type CanonicalValue } from '../crypto/canonical.ts'
import { toHex } from '../crypto/hash.ts'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../chain-client/client.ts'
import { formatStosAmount } from '../cli/output.ts'
import { NodeKey } from '../crypto/node-key.ts'
import type { SyncMode } from '../sds/resource/flusher.ts'
import { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_DEVNET_RESOURCES,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_PORTS,
  DEFAULT_SEGMENT_BYTES,
  DEVNET_CHAIN_ID,
  DEVNET_GATEWAY_FUND_STOS,
  DEVNET_MAX_METAS,
  DEVNET_MIN_OZONE_BYTES,
  DEVNET_POLL_INTERVAL_MS,
  DEVNET_PREPAY_STOS,
  DEVNET_VALIDATOR_STOS,
  DEVNET_READY_TIMEOUT_MS,
  DEVNET_SPARE_RESOURCES,
  DEVNET_STOP_GRACE_MS,
  DEVNET_S3_CREDENTIAL_TTL_MS,
  portsFromBase,
} from '../limits.ts'
import { MetaClient } from '../net/meta-client.ts'
import type { MetaInfo, ResourceNodeInfo } from '../sds/protocol/api.ts'
import type { Startable } from '../util/components.ts'
import { writeFileAtomic } from '../util/fs.ts'
import { DevnetChild, isPortFree, logTail, type ChildExit, type ChildSpec } from './child.ts'
import {
  readNetworkFile,
  writeNetworkFile,
  NETWORK_FILE,
  type DevWallet,
  type NetworkFile,
  type NetworkProcess,
  type ProcessRole,
} from './network.ts'
import type { S3Info } from '../s3/server.ts'

/** Path of the S3 gateway's info (the devnet waits for it). */
const S3_INFO_PATH = '/_stratos/info'
import { GATEWAY_WALLET, loadOrCreateDevWallets } from './wallets.ts'
import { META_OWNER_FILE, metaOwnerFile, registerExtraMetaNodes } from './meta-nodes.ts'
import {
  checkValidatorCount,
  cometValidatorArgs,
  planValidators,
  validatorWalletNames,
  type DevnetValidatorPlan,
} from './validators.ts'
import { Supervisor, systemTimers, type RestartPolicy, type SupervisorTimers } from './supervisor.ts'

export interface DevnetSettings {
  chainId: string
  /** null: the default ports (DEFAULT_PORTS). */
  portBase: number | null
  resources: number
  k: number
  m: number
  segmentSize: number
  /** Validators: 1 = the embedded engine; more run CometBFT (validators.ts). Default 1. */
  validators?: number
  /**
   * Meta nodes (default 1): `meta` is registered at genesis, meta-2…meta-N join through create_meta_node and the
   * active meta nodes' votes (meta-nodes.ts); every resource node serves all of them.
   */
  metas?: number
}

/** Where one devnet process runs: the address it listens on and is reached at, and what starts it. */
export interface DevnetPlacement {
  /** Address the process listens on and every other process reaches it at. */
  host: string
  /** Command the process is started through, before `node` (e.g. `ip netns exec NS`: its own network namespace). */
  launcher?: readonly string[]
}

export interface DevnetOptions extends DevnetSettings {
  dir: string
  host?: string
  /**
   * Each process on its own address (test hosts: one network namespace per role, test/hosts/). When given, `host`
   * is ignored and ports are not checked from here (each placement has its own address space).
   */
  placement?: (name: string, role: ProcessRole) => DevnetPlacement
  sessionTtlMs?: number
  sweepIntervalMs?: number
  offlineAfterMs?: number
  heartbeatIntervalMs?: number
  /** Meta node repair: grace period and check interval (tests shorten them). */
  repairGraceMs?: number
  /** Durability mode of the resource nodes (their default, batch, when absent). */
  sync?: SyncMode
  repairCheckIntervalMs?: number
  /** Meta node audits: round interval and per-node minimum interval (tests shorten them). */
  auditIntervalMs?: number
  auditNodeIntervalMs?: number
  /** The S3 gateway's multipart TTL and sweep interval (tests shorten them). */
  s3MultipartTtlMs?: number
  s3SweepIntervalMs?: number
  /** Capacity of every resource node (default: the node's free disk space minus its reserve). */
  capacityBytes?: number
  /**
   * How often resource nodes settle their traffic orders with the meta node, and meta processes credit committed
   * PUTs (default ORDER_SETTLE_INTERVAL_MS, PUT_CREDIT_INTERVAL_MS).
   */
  orderSettleIntervalMs?: number
  /** Per-node capacity overrides, keyed by the node's number (1-based: resource-1 is 1). */
  nodeCapacity?: ReadonlyMap<number, number>
  readyTimeoutMs?: number
  /**
   * Start a child that dies unasked again (supervisor.ts). Default: on, unless the environment sets
   * STRATOS_DEVNET_RESTART=off (tests that kill nodes to simulate long outages).
   */
  restart?: boolean
  /** Backoff of those restarts (default DEFAULT_RESTART_POLICY, from src/limits.ts). */
  restartPolicy?: Readonly<RestartPolicy>
  /** Clock and timers of the supervisor (tests). */
  timers?: SupervisorTimers
  /** Progress and child-exit lines (the CLI prints them on stderr). */
  log?: (line: string) => void
}

/** `STRATOS_DEVNET_RESTART=off` turns the supervisor off when DevnetOptions.restart is not given. */
export const DEVNET_RESTART_ENV = 'STRATOS_DEVNET_RESTART'

/** Resource nodes a devnet starts for k data and m parity shards when not told: k + m + DEVNET_SPARE_RESOURCES. */
export function defaultResources(k: number, m: number): number {
  return k + m + DEVNET_SPARE_RESOURCES
}

/** Settings a restarted devnet reuses when the caller does not give them again. */
export function previousSettings(dir: string): Partial<DevnetSettings> {
  const path = join(dir, NETWORK_FILE)
  if (!existsSync(path)) return {}
  try {
    const n = readNetworkFile(path)
    return {
      chainId: n.chainId,
      portBase: n.portBase,
      k: n.k,
      m: n.m,
      segmentSize: n.segmentSize,
      resources: n.processes.filter((p) => p.role === 'resource').length || undefined,
      validators: n.processes.filter((p) => p.role === 'validator').length || undefined,
      metas: n.processes.filter((p) => p.role === 'meta').length || undefined,
    }
  } catch {
    return {}
  }
}

export function defaultSettings(): DevnetSettings {
  return {
    chainId: DEVNET_CHAIN_ID,
    portBase: null,
    resources: DEFAULT_DEVNET_RESOURCES,
    k: DEFAULT_DATA_SHARDS,
    m: DEFAULT_PARITY_SHARDS,
    segmentSize: DEFAULT_SEGMENT_BYTES,
    validators: 1,
  }
}

/**
 * The built CLI every devnet child runs: dist/cli/main.js (`npm run build`, which `npm install` and `npm ci`
 * run through `prepare`); from dist/devnet/devnet.js that is ../cli/main.js. When this module itself runs
 * from source (tests and benchmarks import src/ through tsx), the children still run the built code, what
 * users run, so it must be current: a missing or older build output is an error naming `npm run build`.
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const CLI_MAIN = fileURLToPath(new URL(FROM_SOURCE ? '../../dist/cli/main.js' : '../cli/main.js', import.meta.url))
let buildChecked = false

/** From source: every src/ file has its dist/ output, written after it (tsc rewrites every output). */
function checkBuild(): void {
  if (!FROM_SOURCE || buildChecked) return
  const src = fileURLToPath(new URL('..', import.meta.url))
  const dist = fileURLToPath(new URL('../../dist', import.meta.url))
  for (const e of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts')) continue
    const file = join(e.parentPath, e.name)
    const out = join(dist, relative(src, file)).replace(/\.ts$/, '.js')
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs)
      throw new StratosError(
        'INTERNAL',
        `the built CLI is ${existsSync(out) ? 'older than' : 'missing for'} ${relative(join(src, '..'), file)}: run \`npm run build\``,
      )
  }
  buildChecked = true
}

/**
 * Extra Node flags for every devnet child, space-separated (profiling: `--cpu-prof --cpu-prof-dir=/tmp/p`;
 * Node refuses those in NODE_OPTIONS). A profile is written when the child exits on the devnet's Ctrl-C.
 */
export const DEVNET_NODE_ARGS_ENV = 'STRATOS_DEVNET_NODE_ARGS'

/** `process.execPath` arguments that run `stratos …` from the built JavaScript (absolute paths: any cwd works). */
export function cliArgs(...args: string[]): string[] {
  checkBuild()
  const extra = (process.env[DEVNET_NODE_ARGS_ENV] ?? '').split(' ').filter(Boolean)
  return [...extra, CLI_MAIN, ...args]
}

export class Devnet implements Startable {
  readonly options: DevnetOptions
  readonly dir: string
  readonly #children: DevnetChild[] = []
  readonly #supervisors: Supervisor<DevnetChild>[] = []
  #network: NetworkFile | undefined
  #stopping = false
  #lockPath: string
  #log: (line: string) => void

  constructor(options: DevnetOptions) {
    this.options = options
    this.dir = resolve(options.dir)
    this.#lockPath = join(this.dir, 'devnet.lock')
    this.#log = options.log ?? (() => {})
  }

  get network(): NetworkFile {
    if (!this.#network) throw new StratosError('NETWORK_CONFIG', 'devnet is not running')
    return this.#network
  }

  get networkFile(): string {
    return join(this.dir, NETWORK_FILE)
  }

  get children(): readonly DevnetChild[] {
    return this.#children
  }

  async start(signal?: AbortSignal): Promise<void> {
    const o = this.options
    validateSettings(o)
    const place = (name: string, role: ProcessRole): DevnetPlacement =>
      o.placement?.(name, role) ?? { host: o.host ?? '127.0.0.1' }
    const host = o.host ?? '127.0.0.1'
    mkdirSync(join(this.dir, 'logs'), { recursive: true })
    this.#acquireLock()
    try {
      const validatorCount = o.validators ?? 1
      const wallets = loadOrCreateDevWallets(this.dir, undefined, validatorWalletNames(validatorCount))
      const ports = o.portBase === null ? DEFAULT_PORTS : portsFromBase(o.portBase)
      const resourcePorts = Array.from({ length: o.resources }, (_, i) => ports.resourceBase + i)
      const validatorPlans = planValidators(this.dir, validatorCount, o.portBase)
      const validatorPorts = validatorPlans.flatMap((v) =>
        v.comet ? [v.restPort, v.comet.rpcPort, v.comet.p2pPort] : [v.restPort],
      )
      // meta-2…meta-N listen right after the first meta node's port.
      const extraMetaPorts = Array.from({ length: (o.metas ?? 1) - 1 }, (_, i) => ports.meta + 1 + i)
      if (!o.placement)
        await this.#checkPorts(host, [
          ...validatorPorts,
          ports.meta,
          ...extraMetaPorts,
          ports.gateway,
          ports.ipfsApi,
          ports.s3,
          ...resourcePorts,
        ])
      const deadline = Date.now() + (o.readyTimeoutMs ?? DEVNET_READY_TIMEOUT_MS)
      const placements = {
        validator: place('validator', 'validator'),
        meta: place('meta', 'meta'),
        gateway: place('gateway', 'gateway'),
        s3: place('s3', 's3'),
        resources: resourcePorts.map((_, i) => place(`resource-${i + 1}`, 'resource')),
        extraMetas: extraMetaPorts.map((_, i) => place(`meta-${i + 2}`, 'meta')),
      }
      const urlAt = (p: DevnetPlacement, port: number) =>
        `http://${p.host.includes(':') ? `[${p.host}]` : p.host}:${port}`

      // The meta node's address is the one issuer resource nodes trust. Creating its key here (the meta
      // node loads the same node-key.json) lets every process start at once instead of one after another.
      const metaDir = join(this.dir, 'meta')
      mkdirSync(metaDir, { recursive: true })
      const metaAddress = NodeKey.loadOrCreate(metaDir).address
      const metaUrl = urlAt(placements.meta, ports.meta)
      const chainUrls = validatorPlans.map((v) => urlAt(placements.validator, v.restPort))
      // Every process that talks to the chain gets all validators (comma-separated: clients fail over).
      const chainUrl = chainUrls.join(',')

      // The validator runs the STOS chain; the dev wallets are funded in its genesis (first start only), where the
      // validator (operator carol), the meta node (owner bob) and the resource nodes (owner alice) are registered too,
      // so Proof of Traffic works from block 1 and each kind of reward lands in its own wallet.
      const walletAddress = (name: string) => wallets.find((w) => w.name === name)!.address
      writeDevnetGenesis(
        validatorPlans[0]!.dataDir,
        o.chainId,
        wallets,
        metaDir,
        resourcePorts.map((_, i) => join(this.dir, `resource-${i + 1}`)),
        validatorPlans.slice(1).map((v) => ({ dir: v.dataDir, operator: walletAddress(v.operatorWallet) })),
        metaUrl,
      )
      const validators = validatorPlans.map((v, i) =>
        this.#spawn({
          name: v.name,
          role: 'validator',
          url: chainUrls[i]!,
          dataDir: v.dataDir,
          launcher: placements.validator.launcher,
          args: [
            'node',
            'validator',
            '--data-dir',
            v.dataDir,
            '--host',
            placements.validator.host,
            '--port',
            String(v.restPort),
            '--chain-id',
            o.chainId,
            ...wallets.flatMap((w) => ['--fund', w.address]),
            ...cometValidatorArgs(v, validatorPlans, placements.validator.host),
          ],
        }),
      )
      const validator = validators[0]!
      const spawnMeta = (name: string, dataDir: string, placement: DevnetPlacement, port: number, owner: string) =>
        this.#spawn({
          name,
          role: 'meta',
          url: urlAt(placement, port),
          dataDir,
          launcher: placement.launcher,
          args: [
            'node',
            'meta',
            '--data-dir',
            dataDir,
            '--host',
            placement.host,
            '--port',
            String(port),
            '--chain-id',
            o.chainId,
            '--k',
            String(o.k),
            '--m',
            String(o.m),
            '--segment-size',
            String(o.segmentSize),
            ...optional('--session-ttl-ms', o.sessionTtlMs),
            ...optional('--sweep-interval-ms', o.sweepIntervalMs),
            // The meta node credits committed PUTs as often as the nodes settle their GET orders.
            ...optional('--put-credit-interval-ms', o.orderSettleIntervalMs),
            ...optional('--offline-after-ms', o.offlineAfterMs),
            ...optional('--heartbeat-interval-ms', o.heartbeatIntervalMs),
            ...optional('--repair-grace-ms', o.repairGraceMs),
            ...optional('--repair-check-interval-ms', o.repairCheckIntervalMs),
            ...optional('--audit-interval-ms', o.auditIntervalMs),
            ...optional('--audit-node-interval-ms', o.auditNodeIntervalMs),
            // Proof of Traffic: the meta node follows the chain and its owner submits the volume reports.
            '--chain-url',
            chainUrl,
            '--mnemonic-file',
            owner,
          ],
        })
      // The first meta node is owned by bob; each extra one by its own wallet (meta-nodes.ts).
      const meta = spawnMeta(
        'meta',
        metaDir,
        placements.meta,
        ports.meta,
        writeSecret(join(metaDir, META_OWNER_FILE), wallets[1].mnemonic),
      )
      const extraMetas = extraMetaPorts.map((port, i) => {
        const dataDir = join(this.dir, `meta-${i + 2}`)
        mkdirSync(dataDir, { recursive: true })
        return spawnMeta(`meta-${i + 2}`, dataDir, placements.extraMetas[i]!, port, metaOwnerFile(dataDir))
      })
      // Resource nodes keep retrying their heartbeats until the meta node answers.
      const resources = resourcePorts.map((port, i) => {
        const n = i + 1
        const capacity = o.nodeCapacity?.get(n) ?? o.capacityBytes
        const dataDir = join(this.dir, `resource-${n}`)
        return this.#spawn({
          name: `resource-${n}`,
          role: 'resource',
          url: urlAt(placements.resources[i], port),
          dataDir,
          launcher: placements.resources[i].launcher,
          args: [
            'node',
            'resource',
            '--data-dir',
            dataDir,
            '--host',
            placements.resources[i].host,
            '--port',
            String(port),
            '--meta-url',
            metaUrl,
            '--chain-id',
            o.chainId,
            '--meta-address',
            metaAddress,
            // Every other meta node the chain lists is served too (meta-links.ts).
            '--chain-url',
            chainUrl,
            ...optional('--capacity', capacity),
            ...optional('--heartbeat-interval-ms', o.heartbeatIntervalMs),
            ...optional('--order-settle-interval-ms', o.orderSettleIntervalMs),
            ...optional('--sync', o.sync),
          ],
        })
      })
      // The gateway: a client holding its own dev wallet, not alice's (the CLI's default): whoever reaches the RPC API
      // must not act as the CLI user. It connects to the meta node on first use.
      const gatewayWallet = wallets.find((w) => w.name === GATEWAY_WALLET)
      if (!gatewayWallet) throw new StratosError('INTERNAL', `no ${GATEWAY_WALLET} dev wallet`)
      const gateway = this.#spawn({
        name: 'gateway',
        role: 'gateway',
        url: urlAt(placements.gateway, ports.gateway),
        dataDir: join(this.dir, 'gateway'),
        launcher: placements.gateway.launcher,
        args: [
          'node',
          'gateway',
          '--data-dir',
          join(this.dir, 'gateway'),
          '--host',
          placements.gateway.host,
          '--port',
          String(ports.gateway),
          '--api-port',
          String(ports.ipfsApi),
          '--meta-url',
          metaUrl,
          '--chain-url',
          chainUrl,
          '--chain-id',
          o.chainId,
          '--mnemonic-file',
          writeSecret(join(this.dir, 'gateway', 'wallet.mnemonic'), gatewayWallet.mnemonic),
        ],
      })
      // The S3 gateway: no wallet of its own; each dev wallet gets a credential (a delegation to its key) once ready.
      const s3Dir = join(this.dir, 's3')
      const s3 = this.#spawn({
        name: 's3',
        role: 's3',
        url: urlAt(placements.s3, ports.s3),
        dataDir: s3Dir,
        launcher: placements.s3.launcher,
        args: [
          'node',
          's3',
          '--data-dir',
          s3Dir,
          '--host',
          placements.s3.host,
          '--port',
          String(ports.s3),
          '--meta-url',
          metaUrl,
          '--chain-id',
          o.chainId,
          ...optional('--multipart-ttl-ms', o.s3MultipartTtlMs),
          ...optional('--sweep-interval-ms', o.s3SweepIntervalMs),
        ],
      })
      this.#log(
        `devnet: starting ${validators.length > 1 ? `${validators.length} validators (CometBFT) on ${chainUrls.join(', ')}` : `validator on ${validator.spec.url}`}, meta node on ${metaUrl}${extraMetas.length ? ` (and ${extraMetas.map((m) => m.spec.url).join(', ')})` : ''}, ${resources.length} resource nodes on ports ${resourcePorts[0]}–${resourcePorts.at(-1)}, gateway on ${gateway.spec.url} (IPFS RPC API on ${urlAt(placements.gateway, ports.ipfsApi)})`,
      )

      await Promise.all(validators.slice(1).map((v) => v.waitForInfo<unknown>(deadline, signal, '/status')))
      const [, metaInfo, gatewayInfo, s3Info, ...resourceInfos] = (await Promise.all([
        validator.waitForInfo<unknown>(deadline, signal, '/status'),
        meta.waitForInfo<MetaInfo>(deadline, signal),
        gateway.waitForInfo<{ wallet?: string | null }>(deadline, signal),
        s3.waitForInfo<S3Info>(deadline, signal, S3_INFO_PATH),
        ...resources.map((r) => r.waitForInfo<ResourceNodeInfo>(deadline, signal)),
      ])) as [unknown, MetaInfo, { wallet?: string | null }, S3Info, ...ResourceNodeInfo[]]
      const extraMetaInfos = await Promise.all(extraMetas.map((m) => m.waitForInfo<MetaInfo>(deadline, signal)))
      extraMetaInfos.forEach((info, i) => {
        const expected = NodeKey.loadOrCreate(extraMetas[i]!.spec.dataDir).address
        if (info.address !== expected)
          throw new StratosError(
            'NETWORK_CONFIG',
            `${extraMetas[i]!.spec.name} answers as ${info.address}, expected ${expected} (another process on ${extraMetas[i]!.spec.url}?)`,
          )
      })
      if (metaInfo.address !== metaAddress) {
        throw new StratosError(
          'NETWORK_CONFIG',
          `meta node answers as ${metaInfo.address}, expected ${metaAddress} (another process on ${metaUrl}?)`,
        )
      }

      // Ready only when the meta node sees every resource node online (uploads can place shards).
      await this.#waitNodesOnline(
        meta.spec.url,
        resourceInfos.map((r) => r.address),
        deadline,
        signal,
      )
      await this.#registerNodesOnChain(
        chainUrl,
        wallets[0].mnemonic,
        resources.map((r) => r.spec.dataDir),
        signal,
      )
      await registerExtraMetaNodes({
        chainUrl,
        funder: WalletKey.fromMnemonic(wallets[0].mnemonic),
        first: { address: metaInfo.address, owner: WalletKey.fromMnemonic(wallets[1].mnemonic) },
        extras: extraMetas.map((m) => ({ dataDir: m.spec.dataDir, url: m.spec.url })),
        log: this.#log,
        signal,
      })
      await this.#fundGatewayWallet(chainUrl, wallets[0], gatewayWallet, signal)
      await this.#prepayDevWallets(chainUrl, wallets, signal)
      // New shards only go to nodes the meta node sees active on chain: wait for its next chain sync.
      for (const m of [meta, ...extraMetas])
        await this.#waitNodesOnline(
          m.spec.url,
          resourceInfos.map((r) => r.address),
          deadline,
          signal,
          true,
        )

      const s3Wallets = await s3Credentials(s3.spec.url, wallets, previousWallets(this.dir), signal)
      const address = (c: DevnetChild): string | null =>
        validators.includes(c)
          ? null
          : c === s3
            ? s3Info.address
            : c === meta
              ? metaInfo.address
              : extraMetas.includes(c)
                ? extraMetaInfos[extraMetas.indexOf(c)]!.address
                : c === gateway
                  ? (gatewayInfo.wallet ?? null)
                  : resourceInfos[resources.indexOf(c)].address
      const cometFields = cometFieldsOf(validatorPlans, placements.validator.host)
      this.#network = {
        chainId: o.chainId,
        dir: this.dir,
        portBase: o.portBase,
        k: o.k,
        m: o.m,
        segmentSize: o.segmentSize,
        meta: { url: meta.spec.url, address: metaInfo.address },
        gatewayUrl: gateway.spec.url,
        ipfsApiUrl: urlAt(placements.gateway, ports.ipfsApi),
        chainUrl,
        s3: s3.spec.url,
        processes: this.#children.map(
          (c): NetworkProcess => ({
            ...cometFields(c),
            name: c.spec.name,
            role: c.spec.role,
            pid: c.pid,
            url: c.spec.url,
            dataDir: c.spec.dataDir,
            address: address(c),
            log: c.spec.log,
            args: c.spec.args,
            ...(c.spec.launcher ? { launcher: [...c.spec.launcher] } : {}),
          }),
        ),
        wallets: s3Wallets,
        devnetPid: process.pid,
        startedAt: Date.now(),
      }
      writeNetworkFile(this.dir, this.#network)
      this.#supervise()
    } catch (e) {
      // Show why a process would not start (its last log lines) before stopping the others.
      const failed = this.#children.find((c) => c.exitInfo && !this.#stopping)
      if (failed) this.#log(`devnet: last lines of ${failed.spec.log}:\n${logTail(failed.spec.log)}`)
      await this.stop()
      throw e
    }
  }

  /** Stops every child (SIGTERM, SIGKILL after the grace period) and releases the lock. */
  async stop(): Promise<void> {
    const wasStopping = this.#stopping
    this.#stopping = true
    // First: no restart may race the stop (a pending one is cancelled, later exits are ours).
    for (const s of this.#supervisors) s.stop()
    const alreadyDead = new Set(this.#children.filter((c) => c.exitInfo))
    const exits = await Promise.all(this.#children.map((c) => c.stop(DEVNET_STOP_GRACE_MS)))
    if (!wasStopping) {
      this.#children.forEach((c, i) => {
        const e = exits[i]
        if (!e || alreadyDead.has(c)) return
        this.#log(`devnet: ${c.spec.name} stopped (${e.signal ? `signal ${e.signal}` : `exit code ${e.code}`})`)
      })
    }
    rmSync(this.#lockPath, { force: true })
  }

  #spawn(spec: Omit<ChildSpec, 'log' | 'args'> & { args: string[] }): DevnetChild {
    mkdirSync(spec.dataDir, { recursive: true })
    const child = new DevnetChild({
      ...spec,
      args: cliArgs(...spec.args),
      log: join(this.dir, 'logs', `${spec.name}.log`),
    })
    child.start()
    this.#children.push(child)
    return child
  }

  /** Once ready: every child under a supervisor (or, with restarts off, its exit logged). */
  #supervise(): void {
    const restart = this.options.restart ?? process.env[DEVNET_RESTART_ENV] !== 'off'
    if (!restart) {
      for (const c of this.#children) void c.exited.then((exit) => this.#onChildExit(c, exit))
      return
    }
    const components = { timers: this.options.timers ?? systemTimers, log: this.#log }
    for (const first of this.#children) {
      this.#supervisors.push(
        new Supervisor(
          components,
          {
            name: first.spec.name,
            logFile: first.spec.log,
            policy: this.options.restartPolicy,
            // The same command line, log appended: exactly what an operator would run again.
            spawn: () => {
              const next = new DevnetChild(first.spec)
              next.start()
              return next
            },
            onRestart: (next, previous) => this.#replaced(previous, next),
          },
          first,
        ),
      )
    }
  }

  /** A restarted child takes its predecessor's place, and devnet.json names its pid (rewritten atomically). */
  #replaced(previous: DevnetChild, next: DevnetChild): void {
    const i = this.#children.indexOf(previous)
    if (i >= 0) this.#children[i] = next
    else this.#children.push(next)
    if (this.#stopping || !this.#network) return
    this.#network = {
      ...this.#network,
      processes: this.#network.processes.map((p) => (p.name === next.spec.name ? { ...p, pid: next.pid } : p)),
    }
    try {
      writeNetworkFile(this.dir, this.#network)
    } catch (e) {
      this.#log(
        `devnet: could not rewrite ${this.networkFile} with ${next.spec.name}'s new pid ${next.pid}: ${(e as Error).message}`,
      )
    }
  }

  #onChildExit(child: DevnetChild, exit: ChildExit): void {
    if (this.#stopping) return
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`
    this.#log(
      `devnet: ${child.spec.name} (pid ${child.pid}) exited with ${how}; not restarting it (${DEVNET_RESTART_ENV}=off; log: ${child.spec.log})`,
    )
  }

  /**
   * The gateway's wallet, added after a devnet's genesis was written (older devnet dirs), holds nothing: alice sends
   * it DEVNET_GATEWAY_FUND_STOS so it can prepay ozone like the others. Runs whenever that wallet could not prepay
   * (no ozone left and no STOS to buy more), so a fresh devnet (funded at genesis) sends nothing.
   */
  async #fundGatewayWallet(
    chainUrl: string,
    from: { name: string; mnemonic: string },
    to: { name: string; address: string },
    signal?: AbortSignal,
  ): Promise<void> {
    const chain = new ChainClient({ url: chainUrl, signal })
    const prepay = BigInt(DEVNET_PREPAY_STOS) * WEI_PER_STOS
    const amount = BigInt(DEVNET_GATEWAY_FUND_STOS) * WEI_PER_STOS
    try {
      const account = await chain.account(to.address)
      if (account.ozone >= BigInt(DEVNET_MIN_OZONE_BYTES) || account.balance >= prepay + DEFAULT_TX_FEE_WEI) return
      await chain.submitAndWait(WalletKey.fromMnemonic(from.mnemonic), [{ type: 'send', to: to.address, amount }], {
        fee: DEFAULT_TX_FEE_WEI,
        wait: true,
      })
      this.#log(
        `devnet: sent ${DEVNET_GATEWAY_FUND_STOS} STOS from ${from.name} to the ${to.name} wallet (${to.address}), which this devnet's genesis did not fund`,
      )
    } catch (e) {
      if (signal?.aborted) throw e
      const code = e instanceof StratosError ? ` (${e.code})` : ''
      this.#log(
        `devnet: could not fund the ${to.name} wallet from ${from.name}${code}: ${(e as Error).message}; the IPFS RPC API cannot store files until it holds ozone`,
      )
    }
  }

  /**
   * Registers every resource node on chain from alice's wallet with the minimum deposit (tier 1),
   * skipping nodes already registered (so only the first start registers). One transaction
   * for all nodes, the same path as `stratos node register`. The storage network does not
   * depend on it yet, so a failure is logged and the devnet starts anyway.
   */
  async #registerNodesOnChain(
    chainUrl: string,
    ownerMnemonic: string,
    dataDirs: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      const chain = new ChainClient({ url: chainUrl, signal })
      const registered = new Set((await listResourceNodes(chain, signal)).map((n) => n.node))
      const todo = dataDirs
        .map((dir) => ({ key: NodeKey.loadOrCreate(dir), moniker: basename(dir) }))
        .filter((n) => !registered.has(n.key.address))
      if (todo.length === 0) return
      const deposit = DEVNET_PARAMS.resourceNodeTiersWei[0]!
      await registerResourceNodes(chain, WalletKey.fromMnemonic(ownerMnemonic), todo, deposit, {
        fee: DEFAULT_TX_FEE_WEI,
        wait: true,
      })
      this.#log(
        `devnet: registered ${todo.length} resource node${todo.length > 1 ? 's' : ''} on chain (owner alice, deposit ${formatStosAmount(deposit)} STOS each)`,
      )
    } catch (e) {
      if (signal?.aborted) throw e
      const code = e instanceof StratosError ? ` (${e.code})` : ''
      this.#log(
        `devnet: could not register the resource nodes on chain${code}: ${(e as Error).message}; continuing without on-chain registration`,
      )
    }
  }

  async #checkPorts(host: string, ports: number[]): Promise<void> {
    const busy: number[] = []
    for (const p of ports) if (!(await isPortFree(p, host))) busy.push(p)
    if (busy.length) {
      throw new StratosError(
        'NETWORK_CONFIG',
        `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on ${host} already in use (another devnet? try --port-base)`,
        { busy },
      )
    }
  }

  /**
   * Every dev wallet gets ozone (prepaid traffic) so `stratos put` works out of the box: a wallet below
   * DEVNET_MIN_OZONE_BYTES prepays DEVNET_PREPAY_STOS (one transaction per wallet, all in the same block).
   */
  async #prepayDevWallets(
    chainUrl: string,
    wallets: readonly { name: string; mnemonic: string }[],
    signal?: AbortSignal,
  ): Promise<void> {
    const chain = new ChainClient({ url: chainUrl, signal })
    const amount = BigInt(DEVNET_PREPAY_STOS) * WEI_PER_STOS
    const done = await Promise.all(
      wallets.map(async (w) => {
        const key = WalletKey.fromMnemonic(w.mnemonic)
        try {
          if ((await chain.account(key.address)).ozone >= BigInt(DEVNET_MIN_OZONE_BYTES)) return undefined
          await chain.submitAndWait(key, [{ type: 'prepay', amount }], { fee: DEFAULT_TX_FEE_WEI, wait: true })
          return w.name
        } catch (e) {
          if (signal?.aborted) throw e
          this.#log(`devnet: could not prepay ozone for ${w.name}: ${(e as Error).message}`)
          return undefined
        }
      }),
    )
    const names = done.filter((n) => n !== undefined)
    if (names.length) this.#log(`devnet: prepaid ${DEVNET_PREPAY_STOS} STOS of ozone for ${names.join(', ')}`)
  }

  async #waitNodesOnline(
    metaUrl: string,
    addresses: string[],
    deadline: number,
    signal?: AbortSignal,
    chainActive = false,
  ): Promise<void> {
    const meta = new MetaClient(metaUrl)
    for (;;) {
      if (signal?.aborted) throw new StratosError('ABORTED', 'devnet start aborted')
      const dead = this.#children.find((c) => c.exitInfo)
      if (dead)
        throw new StratosError('NETWORK_CONFIG', `${dead.spec.name} exited during startup; see ${dead.spec.log}`, {
          name: dead.spec.name,
          log: dead.spec.log,
        })
      try {
        const online = new Set(
          (await meta.nodes({ timeoutMs: 2_000 }))
            .filter(
              (n) => n.state === 'online' && (!chainActive || n.chainState === undefined || n.chainState === 'active'),
            )
            .map((n) => n.address),
        )
        if (addresses.every((a) => online.has(a))) return
      } catch {
        // The meta node answered /v1/info already; a failed poll is retried until the deadline.
      }
      if (Date.now() > deadline)
        throw new StratosError('TIMEOUT', 'resource nodes did not come online at the meta node in time; see logs/')
      await sleep(DEVNET_POLL_INTERVAL_MS)
    }
  }

  /** One devnet per directory: a second one would fight over ports and data dirs. */
  #acquireLock(): void {
    if (existsSync(this.#lockPath)) {
      const pid = Number(readFileSync(this.#lockPath, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new StratosError('CONFLICT', `a devnet (pid ${pid}) is already running in ${this.dir}`, { pid })
      }
    }
    writeFileAtomic(this.#lockPath, `${process.pid}\n`)
  }
}

/**
 * First start only (no validator/genesis.json yet): the devnet genesis with the dev wallets funded, one validator
 * (operator carol, consensus key in validator/node-key.json, self-delegation DEVNET_VALIDATOR_STOS), the meta node
 * registered and active (owner bob, the minimum meta deposit) and every resource node registered (owner alice, tier-1
 * deposit). The validator reads this file instead of building its default genesis.
 */
export function writeDevnetGenesis(
  validatorDir: string,
  chainId: string,
  wallets: readonly { address: string }[],
  metaDir: string,
  resourceDirs: readonly string[],
  /** Validators 2…N (their node-key.json is their consensus key); they get a copy of the same genesis. */
  moreValidators: ReadonlyArray<{ dir: string; operator: string }> = [],
  /** The meta node's public URL, registered with it (resource nodes and clients find meta nodes on chain). */
  metaUrl?: string,
): void {
  const file = join(validatorDir, GENESIS_FILE)
  if (existsSync(file)) {
    for (const v of moreValidators)
      if (!existsSync(join(v.dir, GENESIS_FILE))) copyFileSync(file, join(v.dir, GENESIS_FILE))
    return
  }
  mkdirSync(validatorDir, { recursive: true })
  const [alice, bob, carol] = [wallets[0]!.address, wallets[1]!.address, wallets[2]!.address]
  const node = (dir: string, owner: string, deposit: bigint, moniker: string) => {
    const key = NodeKey.loadOrCreate(dir)
    return { node: key.address, publicKey: toHex(key.publicKey), owner, deposit, moniker }
  }
  const genesis = devnetGenesis({
    chainId,
    wallets: wallets.map((w) => w.address),
    genesisTime: Date.now(),
    validators: [
      {
        operator: carol,
        consensusKey: toHex(NodeKey.loadOrCreate(validatorDir).publicKey),
        commissionBps: 1000,
        selfDelegation: BigInt(DEVNET_VALIDATOR_STOS) * WEI_PER_STOS,
        moniker: moreValidators.length ? 'validator-1' : 'validator',
      },
      ...moreValidators.map((v) => ({
        operator: v.operator,
        consensusKey: toHex(NodeKey.loadOrCreate(v.dir).publicKey),
        commissionBps: 1000,
        selfDelegation: BigInt(DEVNET_VALIDATOR_STOS) * WEI_PER_STOS,
        moniker: basename(v.dir),
      })),
    ],
    metaNodes: [
      {
        ...node(metaDir, bob, DEVNET_PARAMS.minMetaNodeDepositWei, 'meta'),
        ...(metaUrl !== undefined ? { url: metaUrl } : {}),
      },
    ],
    resourceNodes: resourceDirs.map((dir) => node(dir, alice, DEVNET_PARAMS.resourceNodeTiersWei[0]!, basename(dir))),
  })
  const text = canonicalJson(genesis as unknown as CanonicalValue) + '\n'
  writeFileAtomic(file, text)
  for (const v of moreValidators) {
    mkdirSync(v.dir, { recursive: true })
    writeFileAtomic(join(v.dir, GENESIS_FILE), text)
  }
}

/** devnet.json's CometBFT fields of a validator child (cometRpc, p2pAddress), from its plan. */
function cometFieldsOf(plans: readonly DevnetValidatorPlan[], host: string) {
  return (c: DevnetChild): { cometRpc?: string; p2pAddress?: string } => {
    const plan = plans.find((v) => v.dataDir === c.spec.dataDir)
    if (!plan?.comet) return {}
    return {
      cometRpc: `http://${host}:${plan.comet.rpcPort}`,
      p2pAddress: `${plan.comet.nodeId}@${host}:${plan.comet.p2pPort}`,
    }
  }
}

function optional(flag: string, value: number | string | undefined): string[] {
  return value === undefined ? [] : [flag, String(value)]
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function validateSettings(o: DevnetOptions): void {
  const bad = (msg: string) => new StratosError('BAD_REQUEST', msg)
  if (!Number.isInteger(o.resources) || o.resources < 1) throw bad('--resources must be at least 1')
  checkValidatorCount(o.validators ?? 1)
  if (o.metas !== undefined && !(Number.isInteger(o.metas) && o.metas >= 1 && o.metas <= DEVNET_MAX_METAS))
    throw bad(`--metas must be 1–${DEVNET_MAX_METAS}`)
  if (o.k + o.m > o.resources)
    throw bad(`k + m = ${o.k + o.m} shards per segment need at least that many resource nodes (have ${o.resources})`)
  if (o.portBase !== null && (o.portBase < 1 || o.portBase + 201 + o.resources > 65_535))
    throw bad(`--port-base ${o.portBase} puts ports outside 1–65535`)
  for (const n of o.nodeCapacity?.keys() ?? [])
    if (n < 1 || n > o.resources) throw bad(`--node-capacity names resource-${n}, but there are ${o.resources} nodes`)
}

/**
 * Writes a dev wallet's mnemonic for a child process (`--mnemonic-file`), readable by the owner only, so the
 * command line recorded in devnet.json restarts the process with its wallet and holds no secret itself.
 */
function writeSecret(path: string, text: string): string {
  writeFileAtomic(path, text + '\n', { mode: 0o600 })
  return path
}

/** The previous devnet.json's wallets (their S3 credentials), if any. */
function previousWallets(dir: string): DevWallet[] {
  const path = join(dir, NETWORK_FILE)
  if (!existsSync(path)) return []
  try {
    return readNetworkFile(path).wallets
  } catch {
    return []
  }
}

/**
 * Every dev wallet with a ready S3 credential: the one it had (still active at the gateway) or a new one, which the
 * wallet signs as `stratos s3 credentials create` would.
 */
async function s3Credentials(
  s3Url: string,
  wallets: readonly DevWallet[],
  previous: readonly DevWallet[],
  signal?: AbortSignal,
): Promise<DevWallet[]> {
  const { S3AdminClient } = await import('../s3/admin-client.ts')
  const admin = new S3AdminClient(s3Url)
  const out: DevWallet[] = []
  for (const w of wallets) {
    const key = WalletKey.fromMnemonic(w.mnemonic)
    const before = previous.find((p) => p.address === w.address)
    if (before?.s3AccessKeyId && before.s3SecretAccessKey) {
      const live = await admin.list(key, signal ? { signal } : {})
      if (live.some((c) => c.accessKeyId === before.s3AccessKeyId && c.state === 'active')) {
        out.push({ ...w, s3AccessKeyId: before.s3AccessKeyId, s3SecretAccessKey: before.s3SecretAccessKey })
        continue
      }
    }
    const c = await admin.create(
      key,
      { expiresAt: Date.now() + DEVNET_S3_CREDENTIAL_TTL_MS, label: `devnet ${w.name}` },
      signal ? { signal } : {},
    )
    out.push({ ...w, s3AccessKeyId: c.accessKeyId, s3SecretAccessKey: c.secretAccessKey })
  }
  return out
}
