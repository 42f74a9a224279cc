/**
 * In-process network for the repair tests: one real MetaNode (with repair options) and N real ResourceNodes on
 * ephemeral loopback ports, plus helpers to stop nodes, find shard files and wait for conditions.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startMetaNode, type MetaNode, type MetaNodeOptions } from '../../../src/sds/meta/index.ts'
import { startResourceNode, type ResourceNode } from '../../../src/sds/resource/index.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { silentLogger } from '../../../src/util/components.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { StratosClient } from '../../../src/sds/client/index.ts'

export const CHAIN_ID = 'repair-test-1'
export const KiB = 1024
export const wallet = WalletKey.fromMnemonic('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about')

export interface RepairNet {
  dir: string
  meta: MetaNode
  nodes: ResourceNode[]
  dataDirs: Map<string, string>
  client: StratosClient
  stopNode(address: string): Promise<void>
  close(): Promise<void>
}

export interface RepairNetOptions {
  nodes: number
  k: number
  m: number
  segmentSize: number
  meta?: Partial<MetaNodeOptions>
}

export async function startRepairNet(o: RepairNetOptions): Promise<RepairNet> {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-repair-'))
  const meta = await startMetaNode({
    dataDir: join(dir, 'meta'), port: 0, chainId: CHAIN_ID, logger: silentLogger,
    defaults: { k: o.k, m: o.m, segmentSize: o.segmentSize }, heartbeatIntervalMs: 50, offlineAfterMs: 1_000,
    ...o.meta,
  })
  const nodes: ResourceNode[] = []
  const dataDirs = new Map<string, string>()
  const stopped = new Set<string>()
  for (let i = 0; i < o.nodes; i++) {
    const dataDir = join(dir, `node-${i}`)
    const node = await startResourceNode({
      dataDir, port: 0, metaUrl: meta.url, chainId: CHAIN_ID, metaAddresses: [meta.address], heartbeatIntervalMs: 50, fsync: false,
      capacityBytes: 1024 * 1024 * 1024, logger: silentLogger,
    })
    nodes.push(node)
    dataDirs.set(node.address, dataDir)
  }
  const metaClient = new MetaClient(meta.url)
  await until(async () => (await metaClient.status()).totals.nodesOnline === nodes.length, 'all nodes online')
  const client = await StratosClient.connect({ metaUrl: meta.url, wallet })
  return {
    dir, meta, nodes, dataDirs, client,
    async stopNode(address) {
      const n = nodes.find((x) => x.address === address)
      if (!n) throw new Error(`no node ${address}`)
      stopped.add(address)
      await n.stop()
    },
    async close() {
      await client.close()
      await Promise.allSettled(nodes.filter((n) => !stopped.has(n.address)).map((n) => n.stop()))
      await meta.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Polls `cond` every 25 ms until it holds; fails after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await sleep(25)
  }
}

// Shard file paths and test bytes: the same helpers as the client tests' network.
export { patternBytes, shardPath } from '../client/network.ts'

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}
