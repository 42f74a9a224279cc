/**
 * The one in-process test network: one real MetaNode and N real ResourceNodes on ephemeral loopback
 * ports with temp data dirs, plus helpers to stop nodes, find shard files, make test bytes and wait
 * for conditions. Used by the client SDK, meta repair, gateway, IPFS and CLI tests; each picks its
 * chain id, heartbeat pace, liveness window and extra meta options (repair, chain link) here.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { startMetaNode, type MetaNode, type MetaNodeOptions } from '../../src/sds/meta/index.ts'
import { startResourceNode, type ResourceNode } from '../../src/sds/resource/index.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { silentLogger } from '../../src/util/components.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { shardPathOf } from '../../src/sds/resource/store.ts'

export const CHAIN_ID = 'client-test-1'
export const MiB = 1 << 20
export const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)

export interface TestNetwork {
  dir: string
  meta: MetaNode
  nodes: ResourceNode[]
  /** dataDir of each node, by address. */
  dataDirs: Map<string, string>
  stopNode(address: string): Promise<void>
  /** With `proxied`: every GET to this node waits this long. */
  setReadDelay(address: string, ms: number): void
  close(): Promise<void>
}

export interface TestNetworkOptions {
  /** @default CHAIN_ID */
  chainId?: string
  nodes?: number
  k?: number
  m?: number
  segmentSize?: number
  /** Per-node capacity override (index → bytes); placement weighs nodes by free bytes. */
  capacity?: (i: number) => number | undefined
  /** @default 60_000 */
  offlineAfterMs?: number
  /** Meta node and resource node heartbeat interval. @default 100 */
  heartbeatIntervalMs?: number
  /** More meta node options (repair, chainLink, …), applied last. */
  meta?: Partial<MetaNodeOptions>
  /** Put every node behind a proxy whose GET delay can be set (setReadDelay): slow nodes on demand. */
  proxied?: boolean
}

interface DelayingProxy {
  url: string
  delayMs: number
  close: () => Promise<void>
}

/** An HTTP proxy in front of one node that delays each GET by `delayMs` (a node slow to serve reads, as clients see it). */
async function delayingProxy(target: () => string): Promise<DelayingProxy> {
  const server = http.createServer((req, res) => {
    const timer = setTimeout(
      () => {
        const up = http.request(target() + req.url, { method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers)
          r.pipe(res)
        })
        up.on('error', () => res.destroy())
        req.pipe(up)
      },
      req.method === 'GET' ? proxy.delayMs : 0,
    )
    res.on('close', () => clearTimeout(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const proxy: DelayingProxy = {
    url: `http://127.0.0.1:${port}`,
    delayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return proxy
}

export async function startNetwork(o: TestNetworkOptions = {}): Promise<TestNetwork> {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-net-'))
  const chainId = o.chainId ?? CHAIN_ID
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 100
  let meta: MetaNode
  try {
    meta = await startMetaNode({
      dataDir: join(dir, 'meta'),
      port: 0,
      chainId,
      logger: silentLogger,
      defaults: { k: o.k ?? 4, m: o.m ?? 2, segmentSize: o.segmentSize ?? MiB },
      heartbeatIntervalMs,
      offlineAfterMs: o.offlineAfterMs ?? 60_000,
      ...o.meta,
    })
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  const nodes: ResourceNode[] = []
  const dataDirs = new Map<string, string>()
  const stopped = new Set<string>()
  const proxies = new Map<string, DelayingProxy>()
  try {
    for (let i = 0; i < (o.nodes ?? 6); i++) {
      const dataDir = join(dir, `node-${i}`)
      let target = ''
      const proxy = o.proxied ? await delayingProxy(() => target) : undefined
      const node = await startResourceNode({
        dataDir,
        port: 0,
        metaUrl: meta.url,
        chainId,
        metaAddresses: [meta.address],
        heartbeatIntervalMs,
        fsync: false,
        capacityBytes: o.capacity?.(i) ?? 4 * 1024 * MiB,
        logger: silentLogger,
        ...(proxy ? { publicUrl: proxy.url } : {}),
      })
      target = node.url
      if (proxy) proxies.set(node.address, proxy)
      nodes.push(node)
      dataDirs.set(node.address, dataDir)
    }
    const client = new MetaClient(meta.url)
    await until(
      async () => (await client.status()).totals.nodesOnline === nodes.length,
      `all ${nodes.length} nodes online`,
    )
  } catch (e) {
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await Promise.allSettled([...proxies.values()].map((p) => p.close()))
    await meta.stop()
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  return {
    dir,
    meta,
    nodes,
    dataDirs,
    setReadDelay(address, ms) {
      const p = proxies.get(address)
      if (!p) throw new Error(`node ${address} is not behind a proxy`)
      p.delayMs = ms
    },
    async stopNode(address) {
      const n = nodes.find((x) => x.address === address)
      if (!n) throw new Error(`no node ${address}`)
      stopped.add(address)
      await n.stop()
    },
    async close() {
      await Promise.allSettled(nodes.filter((n) => !stopped.has(n.address)).map((n) => n.stop()))
      await Promise.allSettled([...proxies.values()].map((p) => p.close()))
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

/** Path of a stored shard file on a node (layout of the resource store: shards/<id[0:2]>/<id[2:4]>/<id>). */
export function shardPath(net: { dataDirs: ReadonlyMap<string, string> }, node: string, shardId: string): string {
  const dataDir = net.dataDirs.get(node)
  if (!dataDir) throw new Error(`unknown node ${node}`)
  return shardPathOf(join(dataDir, 'shards'), shardId)
}

/** Deterministic pseudo-random bytes (fast: xorshift32 words). */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  const words = new Uint32Array(out.buffer, 0, n >>> 2)
  let s = seed >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    words[i] = s
  }
  for (let i = words.length * 4; i < n; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return Buffer.concat(parts)
}
