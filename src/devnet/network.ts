/**
 * The network description file `devnet.json`: what `stratos devnet` writes once every process
 * answers, and what the CLI (and tests) read to find the meta node, the gateway, node pids and
 * dev wallets. Located by `--network DIR|DIR/devnet.json`, then `STRATOS_HOME`, then
 * `~/.stratos/devnet`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { StratosError } from '../errors.ts'
import { writeFileAtomic } from '../util/fs.ts'

export const NETWORK_FILE = 'devnet.json'

export type ProcessRole = 'validator' | 'meta' | 'resource' | 'gateway' | 's3'

const zProcess = z.object({
  name: z.string(),
  role: z.enum(['validator', 'meta', 'resource', 'gateway', 's3']),
  pid: z.number().int(),
  url: z.string(),
  dataDir: z.string(),
  address: z.string().nullable(),
  log: z.string(),
  /** Arguments after `process.execPath` that started this process (restart it by hand with the same line). */
  args: z.array(z.string()),
  /** A validator on CometBFT: its CometBFT RPC URL (`url` is its REST API). */
  cometRpc: z.string().optional(),
  /** A validator on CometBFT: its p2p address `nodeId@host:port`. */
  p2pAddress: z.string().optional(),
  /** Command that process was started through, before `process.execPath` (a test host's `ip netns exec NS`). */
  launcher: z.array(z.string()).optional(),
})
export type NetworkProcess = z.infer<typeof zProcess>

const zWallet = z.object({
  name: z.string(),
  address: z.string(),
  mnemonic: z.string(),
  /** A ready S3 credential of this wallet at the devnet's S3 gateway (`s3`); absent in older network files. */
  s3AccessKeyId: z.string().optional(),
  s3SecretAccessKey: z.string().optional(),
})
export type DevWallet = z.infer<typeof zWallet>

export const zNetwork = z.object({
  chainId: z.string(),
  dir: z.string(),
  portBase: z.number().int().nullable(),
  k: z.number().int(),
  m: z.number().int(),
  segmentSize: z.number().int(),
  meta: z.object({ url: z.string(), address: z.string() }),
  gatewayUrl: z.string(),
  /** The Kubo-compatible IPFS RPC API (served by the gateway process; base path /api/v0); absent in older network files. */
  ipfsApiUrl: z.string().optional(),
  /**
   * The validator's REST API (chain status, accounts, transactions); with several validators all of theirs,
   * comma-separated (clients fail over: chain-client/client.ts). Absent in networks written before it existed.
   */
  chainUrl: z.string().optional(),
  /** The S3-compatible gateway (`stratos node s3`); absent in networks written before it existed. */
  s3: z.string().optional(),
  processes: z.array(zProcess),
  wallets: z.array(zWallet),
  /** Pid of the `stratos devnet` process that wrote this file. */
  devnetPid: z.number().int().optional(),
  startedAt: z.number().int().optional(),
})
export type NetworkFile = z.infer<typeof zNetwork>

export function defaultDevnetDir(): string {
  return join(homedir(), '.stratos', 'devnet')
}

/** Where the network file is: an explicit `--network`, else STRATOS_HOME, else the default devnet dir. */
export function networkFilePath(network: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const given = network ?? env.STRATOS_HOME ?? defaultDevnetDir()
  const abs = resolve(given)
  if (abs.endsWith('.json')) return abs
  if (existsSync(abs) && statSync(abs).isFile()) return abs
  return join(abs, NETWORK_FILE)
}

export function readNetworkFile(path: string): NetworkFile {
  if (!existsSync(path)) {
    throw new StratosError(
      'NETWORK_CONFIG',
      `no network at ${path}: start one with \`stratos devnet\`, or pass --network DIR / --meta-url URL`,
      { path },
    )
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw new StratosError('NETWORK_CONFIG', `${path} is not valid JSON`, { path })
  }
  const parsed = zNetwork.safeParse(raw)
  if (!parsed.success) throw new StratosError('NETWORK_CONFIG', `${path} is not a valid network file`, { path })
  return parsed.data
}

/** Reads the network file when it exists, else undefined (for commands that can run without one). */
export function tryReadNetworkFile(path: string): NetworkFile | undefined {
  return existsSync(path) ? readNetworkFile(path) : undefined
}

export function writeNetworkFile(dir: string, network: NetworkFile): string {
  const path = join(dir, NETWORK_FILE)
  writeFileAtomic(path, JSON.stringify(network, null, 2) + '\n')
  return path
}
