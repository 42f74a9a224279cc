/**
 * A cluster of real CometBFT validators for tests: each `stratos node validator --engine cometbft` from the built CLI
 * (its app process + its CometBFT process), all in one genesis (equal self-delegations, operators wallet(100+i)),
 * every node a persistent peer of every other, ports from the OS. Nodes can be killed (-9, both processes) and
 * started again on the same directory; an extra node can start with a copy of another's validator key (double
 * signing). Everything is killed and removed by `stop()`.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { devnetGenesis, type GenesisNode } from '../../../src/chain/genesis.ts'
import { GENESIS_FILE } from '../../../src/chain/node/index.ts'
import { prepareCometHome } from '../../../src/chain/node/abci/cometbft.ts'
import type { ChainParams } from '../../../src/chain/params.ts'
import { canonicalJson, type CanonicalValue } from '../../../src/crypto/canonical.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { cliArgs } from '../../../src/devnet/devnet.ts'
import { freePort } from '../../support/ports.ts'

export const CLUSTER_CHAIN_ID = 'stratos-comet-cluster'
export const STOS = 10n ** 18n

export function clusterWallet(i: number): WalletKey {
  return WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))
}

export interface ClusterNode {
  readonly index: number
  readonly dir: string
  readonly restPort: number
  readonly rpcPort: number
  readonly p2pPort: number
  readonly nodeId: string
  /** hex, lower case: CometBFT's validator address. */
  readonly consensusAddress: string
  readonly operator: WalletKey
  child?: ChildProcess
  cometPid?: number
  readonly restUrl: string
  readonly rpcUrl: string
}

export async function rpc<T>(base: string, path: string, timeoutMs = 5_000): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  const body = (await res.json()) as { result?: T; error?: unknown }
  if (body.error || !body.result) throw new Error(`${path}: ${JSON.stringify(body.error)}`)
  return body.result
}

export async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function cometHeight(node: ClusterNode): Promise<number> {
  const s = await rpc<{ sync_info: { latest_block_height: string } }>(node.rpcUrl, '/status', 2_000)
  return Number(s.sync_info.latest_block_height)
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()))

export class Cluster {
  readonly dir: string
  readonly nodes: ClusterNode[] = []
  readonly #blockIntervalMs: number

  private constructor(dir: string, blockIntervalMs: number) {
    this.dir = dir
    this.#blockIntervalMs = blockIntervalMs
  }

  /** `count` validators in one genesis that also funds `users`; started and answering. */
  static async start(o: {
    count: number
    users: readonly WalletKey[]
    params?: Partial<ChainParams>
    blockIntervalMs?: number
    /** Genesis meta nodes (active), e.g. to send volume reports. */
    metaNodes?: GenesisNode[]
  }): Promise<Cluster> {
    const c = new Cluster(mkdtempSync(join(tmpdir(), 'stratos-cluster-')), o.blockIntervalMs ?? 500)
    try {
      for (let i = 0; i < o.count; i++) await c.#addNode(join(c.dir, `v${i}`), clusterWallet(100 + i))
      const genesis = devnetGenesis({
        chainId: CLUSTER_CHAIN_ID,
        wallets: [...c.nodes.map((n) => n.operator.address), ...o.users.map((u) => u.address)],
        genesisTime: Date.now(),
        params: o.params ?? {},
        ...(o.metaNodes ? { metaNodes: o.metaNodes } : {}),
        validators: c.nodes.map((n) => ({
          operator: n.operator.address,
          consensusKey: prepareCometHome(n.dir).consensusKey,
          commissionBps: 1000,
          selfDelegation: 10_000n * STOS,
          moniker: `v${n.index}`,
        })),
      })
      const text = canonicalJson(genesis as unknown as CanonicalValue) + '\n'
      for (const n of c.nodes) writeFileSync(join(n.dir, GENESIS_FILE), text)
      await Promise.all(c.nodes.map((n) => c.startNode(n)))
      return c
    } catch (e) {
      await c.stop()
      throw e
    }
  }

  async #addNode(dir: string, operator: WalletKey): Promise<ClusterNode> {
    mkdirSync(dir, { recursive: true })
    const { nodeId, consensusAddress } = prepareCometHome(dir)
    const [restPort, rpcPort, p2pPort] = [await freePort(), await freePort(), await freePort()]
    const node: ClusterNode = {
      index: this.nodes.length,
      dir,
      restPort,
      rpcPort,
      p2pPort,
      nodeId,
      consensusAddress: consensusAddress.toLowerCase(),
      operator,
      restUrl: `http://127.0.0.1:${restPort}`,
      rpcUrl: `http://127.0.0.1:${rpcPort}`,
    }
    this.nodes.push(node)
    return node
  }

  /**
   * A new node whose validator key (node-key.json, hence CometBFT's priv_validator_key.json) is a copy of
   * `of`'s: a second signer for one validator. Same genesis; its own p2p key, ports and signing state.
   */
  async addDoubleSigner(of: ClusterNode): Promise<ClusterNode> {
    const dir = join(this.dir, `double-${of.index}`)
    mkdirSync(dir, { recursive: true })
    copyFileSync(join(of.dir, 'node-key.json'), join(dir, 'node-key.json'))
    copyFileSync(join(of.dir, GENESIS_FILE), join(dir, GENESIS_FILE))
    const node = await this.#addNode(dir, of.operator)
    await this.startNode(node)
    return node
  }

  /** REST URLs of all nodes, comma-separated (ChainClient fails over). */
  get chainUrl(): string {
    return this.nodes.map((n) => n.restUrl).join(',')
  }

  async startNode(n: ClusterNode): Promise<void> {
    const peers = this.nodes.filter((p) => p !== n).map((p) => `${p.nodeId}@127.0.0.1:${p.p2pPort}`)
    const child = spawn(
      process.execPath,
      cliArgs(
        'node',
        'validator',
        '--engine',
        'cometbft',
        '--data-dir',
        n.dir,
        '--port',
        String(n.restPort),
        '--chain-id',
        CLUSTER_CHAIN_ID,
        '--block-interval-ms',
        String(this.#blockIntervalMs),
        '--comet-rpc-port',
        String(n.rpcPort),
        '--comet-p2p-port',
        String(n.p2pPort),
        '--comet-peers',
        peers.join(','),
      ),
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRATOS_LOG_LEVEL: 'warn' } },
    )
    let stderr = ''
    child.stderr!.on('data', (d) => {
      stderr = (stderr + d).slice(-4000)
    })
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`validator ${n.index} exited ${code}: ${stderr}`)))
    })
    const m = /CometBFT RPC \S+ \(pid (\d+)\)/.exec(line)
    assert.ok(m, line)
    n.child = child
    n.cometPid = Number(m[1])
  }

  /** kill -9 of the node's app process and its CometBFT. */
  async kill(n: ClusterNode): Promise<void> {
    const { child, cometPid } = n
    if (child) {
      child.kill('SIGKILL')
      await exited(child)
    }
    if (cometPid) {
      try {
        process.kill(cometPid, 'SIGKILL')
      } catch {
        // gone already
      }
      await until(`CometBFT ${cometPid} gone`, async () => {
        try {
          process.kill(cometPid, 0)
          return undefined
        } catch {
          return true
        }
      })
    }
    n.child = undefined
    n.cometPid = undefined
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await this.kill(n).catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}
