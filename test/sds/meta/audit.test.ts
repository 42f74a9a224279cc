/**
 * Audits end to end in one process: a real meta node (manual clock, seeded randomness), six real resource nodes on
 * loopback, files uploaded with the real client; bytes flipped in shard files on disk. The second test adds a real
 * validator (in-process, REST on loopback) so the slash report is a real transaction.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../../src/errors.ts'
import { MAINTENANCE_MAX_MS, SHARD_CHUNK_BYTES } from '../../../src/limits.ts'
import { ManualClock, randomHex, seededRandom, silentLogger } from '../../../src/util/components.ts'
import { StratosClient } from '../../../src/sds/client/index.ts'
import { MetaNode } from '../../../src/sds/meta/index.ts'
import { HttpChainLink } from '../../../src/sds/meta/chain-link.ts'
import { startResourceNode, type ResourceNode } from '../../../src/sds/resource/index.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { jsonRequest } from '../../../src/net/json-request.ts'
import { META_ROUTES, type NodeView } from '../../../src/sds/protocol/api.ts'
import { signMaintenance, type SignedMaintenance } from '../../../src/sds/protocol/audit.ts'
import { SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { devnetGenesis } from '../../../src/chain/genesis.ts'
import { stos } from '../../../src/chain/params.ts'
import { startValidator, type Validator } from '../../../src/chain/node/index.ts'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../../src/chain-client/client.ts'
import { listResourceNodes } from '../../../src/chain-client/node-registration.ts'
import { shardPathOf } from '../../../src/sds/resource/store.ts'

const CHAIN_ID = 'audit-test-1'
const MiB = 1 << 20
const SEGMENT = 2 * MiB // shards of 512 KiB: two chunks each
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const chainWallet = (i: number): WalletKey => WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))

interface Net {
  dir: string
  clock: ManualClock
  meta: MetaNode
  metaClient: MetaClient
  nodes: ResourceNode[]
  dataDirs: Map<string, string>
  keys: Map<string, NodeKey>
  client: StratosClient
  validator?: Validator
  chain?: HttpChainLink
  close(): Promise<void>
}

async function startNet(o: { chain?: boolean } = {}): Promise<Net> {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-audit-'))
  const clock = new ManualClock(Date.now())
  // Node keys first: the chain's genesis registers them.
  const keys = new Map<string, NodeKey>()
  const dataDirs = new Map<string, string>()
  for (let i = 0; i < 6; i++) {
    const dataDir = join(dir, `node-${i}`)
    mkdirSync(dataDir, { recursive: true })
    const key = NodeKey.generate(seededRandom(500 + i))
    writeFileSync(join(dataDir, 'node-key.json'), JSON.stringify({ type: 'ed25519', seed: toHex(key.seed) }))
    keys.set(key.address, key)
    dataDirs.set(key.address, dataDir)
  }
  const metaDir = join(dir, 'meta')
  mkdirSync(metaDir, { recursive: true })
  const metaKey = NodeKey.generate(seededRandom(499))
  writeFileSync(join(metaDir, 'node-key.json'), JSON.stringify({ type: 'ed25519', seed: toHex(metaKey.seed) }))

  let validator: Validator | undefined
  let chain: HttpChainLink | undefined
  if (o.chain) {
    const owner = (i: number) => chainWallet(i).address
    const genesis = devnetGenesis({
      chainId: 'audit-chain-1',
      wallets: [...[0, 1, 2].map(owner), wallet.address],
      genesisTime: Date.now(),
      params: { epochBlocks: 50 },
      validators: [
        {
          operator: owner(0),
          consensusKey: toHex(NodeKey.generate(seededRandom(9)).publicKey),
          commissionBps: 1000,
          selfDelegation: stos(10_000),
          moniker: 'val',
        },
      ],
      resourceNodes: [...keys.values()].map((k, i) => ({
        node: k.address,
        publicKey: toHex(k.publicKey),
        owner: owner(2),
        deposit: stos(1_000),
        moniker: `r${i}`,
      })),
      metaNodes: [
        {
          node: metaKey.address,
          publicKey: toHex(metaKey.publicKey),
          owner: owner(1),
          deposit: stos(10_000),
          moniker: 'meta',
        },
      ],
    })
    validator = await startValidator({
      dataDir: join(dir, 'chain'),
      port: 0,
      genesis,
      blockIntervalMs: 50,
      logger: silentLogger,
    })
    // The uploader prepays traffic (ozone), or the meta node refuses its uploads.
    await new ChainClient({ url: validator.url }).submitAndWait(wallet, [{ type: 'prepay', amount: stos(1_000) }], {
      fee: DEFAULT_TX_FEE_WEI,
      wait: true,
    })
    chain = new HttpChainLink({ chainUrl: validator.url, owner: chainWallet(1), syncIntervalMs: 100 })
    await chain.start()
  }

  const meta = new MetaNode({
    dataDir: metaDir,
    port: 0,
    chainId: CHAIN_ID,
    clock,
    random: seededRandom(42),
    logger: silentLogger,
    defaults: { k: 4, m: 2, segmentSize: SEGMENT },
    heartbeatIntervalMs: 100,
    offlineAfterMs: 60_000,
    // Rounds only when the test runs them; every node is due every round; one online sample per hour.
    audit: { intervalMs: 3_600_000, nodeMinIntervalMs: 0, onlineSampleIntervalMs: 3_600_000 },
    ...(chain ? { chainLink: chain } : {}),
  })
  await meta.start()
  const nodes: ResourceNode[] = []
  for (const dataDir of dataDirs.values()) {
    nodes.push(
      await startResourceNode({
        dataDir,
        port: 0,
        metaUrl: meta.url,
        chainId: CHAIN_ID,
        metaAddresses: [meta.address],
        heartbeatIntervalMs: 100,
        fsync: false,
        capacityBytes: 1024 * MiB,
        logger: silentLogger,
      }),
    )
  }
  const metaClient = new MetaClient(meta.url)
  for (let i = 0; (await metaClient.status()).totals.nodesOnline < nodes.length; i++) {
    if (i > 400) throw new Error('nodes did not come online')
    await sleep(25)
  }
  const client = await StratosClient.connect({ metaUrl: meta.url, wallet })
  return {
    dir,
    clock,
    meta,
    metaClient,
    nodes,
    dataDirs,
    keys,
    client,
    ...(validator ? { validator } : {}),
    ...(chain ? { chain } : {}),
    async close() {
      await client.close()
      await Promise.allSettled(nodes.map((n) => n.stop()))
      await meta.stop()
      await chain?.stop()
      await validator?.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Uploads `files` one-segment files; returns the shards each node holds. */
async function upload(net: Net, files: number, seed: number): Promise<Map<string, { id: string; size: number }[]>> {
  const held = new Map<string, { id: string; size: number }[]>()
  for (let i = 0; i < files; i++) {
    const data = seededRandom(seed + i)(SEGMENT - 100 - i)
    const { cid } = await net.client.put(data)
    const record = await net.client.stat(cid) // the owner's view (the file is private)
    for (const seg of record.segments) {
      for (const s of seg.shards) {
        if (!held.has(s.node)) held.set(s.node, [])
        held.get(s.node)!.push({ id: s.id, size: seg.shardSize })
      }
    }
  }
  return held
}

/** Flips one byte in every chunk of a stored shard, behind the node's back. */
function corrupt(net: Net, node: string, shard: { id: string; size: number }): void {
  const path = shardPathOf(join(net.dataDirs.get(node)!, 'shards'), shard.id)
  const fd = openSync(path, 'r+')
  try {
    for (let off = 0; off < shard.size; off += SHARD_CHUNK_BYTES) {
      const pos = SHARD_DATA_OFFSET + off + 10
      const b = Buffer.alloc(1)
      readSync(fd, b, 0, 1, pos)
      b[0] ^= 0xff
      writeSync(fd, b, 0, 1, pos)
    }
  } finally {
    closeSync(fd)
  }
}

async function view(net: Net, node: string): Promise<NodeView> {
  const v = (await net.metaClient.nodes()).find((n) => n.address === node)
  assert.ok(v, `node ${node} in /v1/nodes`)
  return v
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStratosError(e), String(e))
    assert.equal(e.code, code, e.message)
    return true
  })
}

function url(net: Net, node: string): string {
  return net.nodes.find((n) => n.address === node)!.url
}

/**
 * Corrupts 5 of the 8 shards of one node, lets random audit rounds catch the first, then audits the other four:
 * returns the node.
 */
async function failNode(net: Net, held: Map<string, { id: string; size: number }[]>) {
  const [target, shards] = [...held.entries()][0]
  assert.equal(shards.length, 8)
  const bad = shards.slice(0, 5)
  for (const s of bad) corrupt(net, target, s)

  // Random rounds: every online node audited once per round, on a random shard; sooner or later a corrupt one.
  let failed: string | undefined
  for (let round = 0; round < 40 && failed === undefined; round++) {
    const r = await net.meta.auditor.runRound()
    assert.equal(r.audits.length, 6)
    for (const a of r.audits) {
      if (a.node !== target) assert.equal(a.outcome, 'passed', `node ${a.node}`)
      else if (a.outcome === 'failed') failed = a.shard
      else assert.equal(a.outcome, 'passed')
    }
    net.clock.advance(1_000)
  }
  assert.ok(failed, 'a random audit round caught the corrupt shard')
  assert.ok(bad.some((s) => s.id === failed))
  assert.equal(
    net.meta.auditor.locationState(target, failed),
    'bad',
    'the failed location is marked bad (repair rebuilds it)',
  )
  let v = await view(net, target)
  assert.equal(v.reputation?.failedAudits, 1)
  assert.ok(
    v.reputation!.auditScore < 1 && v.reputation!.auditScore > 0.85,
    `score dropped: ${v.reputation?.auditScore}`,
  )
  assert.equal(v.reputation?.state, 'active')
  for (let i = 0; i < 20; i++)
    assert.notEqual(net.meta.auditor.pickShard(target), failed, 'a bad location is not audited again')

  // The other corrupt shards, audited directly: five failures in a row suspend.
  for (const s of bad.filter((x) => x.id !== failed)) {
    assert.equal(await net.meta.auditor.audit(target, url(net, target), s.id), 'failed')
    assert.equal(net.meta.auditor.locationState(target, s.id), 'bad')
  }
  v = await view(net, target)
  assert.equal(v.reputation?.failedAudits, 5)
  assert.equal(v.reputation?.state, 'suspended')
  assert.equal(v.reputation?.suspendedFor, 'audit')
  assert.equal(v.reputation?.slashIncidents, 1)
  assert.ok(v.reputation!.auditScore < 0.6)
  assert.ok(net.meta.health.isNodeHealthy(target) === false)
  return { target, good: shards.slice(5) }
}

/** Passing audits of its intact shards earn a suspended node its way back. */
async function reinstate(net: Net, target: string, good: { id: string }[]): Promise<number> {
  let passes = 0
  for (let i = 0; i < 30 && (await view(net, target)).reputation?.state === 'suspended'; i++) {
    assert.equal(await net.meta.auditor.audit(target, url(net, target), good[i % good.length].id), 'passed')
    passes++
  }
  const v = await view(net, target)
  assert.equal(v.reputation?.state, 'active')
  assert.ok(v.reputation!.auditScore >= 0.8)
  assert.ok(net.meta.health.isNodeHealthy(target))
  return passes
}

test('audits catch flipped bytes, drop the score, mark the location bad, suspend, and a recovered node is reinstated', async () => {
  const net = await startNet()
  try {
    const held = await upload(net, 8, 1000)
    const { target, good } = await failNode(net, held)

    // Suspended: no new data (all six nodes are needed for k + m = 6, so uploads cannot be placed now).
    await rejectsWith(net.client.put(seededRandom(77)(1000)), 'NOT_ENOUGH_NODES')
    // Without a chain the incident is settled locally (skipped) by the next round; the node is still audited.
    await net.meta.auditor.runRound()

    const passes = await reinstate(net, target, good)
    assert.ok(passes >= 5 && passes <= 10, `reinstated after ${passes} passed audits`)
    await net.client.put(seededRandom(78)(1000))
  } finally {
    await net.close()
  }
})

test('maintenance: signed by the node, bounded, no placements, not audited, offline time not counted', async () => {
  const net = await startNet()
  try {
    await upload(net, 1, 3000)
    const target = net.nodes[1].address
    const key = net.keys.get(target)!
    const send = (m: SignedMaintenance) =>
      jsonRequest<NodeView>(net.meta.url + META_ROUTES.maintenance, { method: 'POST', body: m })
    const req = (on: boolean, until: number | null, k = key) =>
      signMaintenance(k, {
        chainId: CHAIN_ID,
        on,
        until,
        nonce: randomHex(seededRandom(Math.floor(Math.random() * 1e9)), 16),
        expiresAt: net.clock.now() + 30_000,
      })
    const now = net.clock.now()

    await rejectsWith(send(req(true, now + MAINTENANCE_MAX_MS + 1)), 'BAD_REQUEST')
    const other = net.keys.get(net.nodes[2].address)!
    const forged = { ...req(true, now + 60_000, other), signer: target }
    await rejectsWith(send(forged), 'INVALID_SIGNATURE')
    const stranger = NodeKey.generate(seededRandom(31337))
    await rejectsWith(send(req(true, now + 60_000, stranger)), 'NODE_NOT_REGISTERED')

    const on = req(true, now + 600_000)
    const v = await send(on)
    assert.equal(v.reputation?.state, 'maintenance')
    assert.equal(v.reputation?.maintenanceUntil, now + 600_000)
    await rejectsWith(send(on), 'REPLAYED_NONCE')
    assert.equal(net.meta.health.maintenanceUntil(target), now + 600_000)
    assert.equal(net.meta.health.acceptsNewData(target), false)
    await rejectsWith(net.client.put(seededRandom(79)(1000)), 'NOT_ENOUGH_NODES')

    // The node goes down for its maintenance: not audited, and its downtime costs no online score.
    await net.nodes[1].stop()
    net.clock.advance(120_000)
    const r = await net.meta.auditor.runRound()
    assert.ok(!r.audits.some((a) => a.node === target))
    assert.equal((await view(net, target)).reputation?.onlineScore, 1)

    // The window ends: the node is back to normal (here: offline, since it stopped).
    net.clock.advance(600_000)
    const after = await view(net, target)
    assert.equal(after.reputation?.state, 'offline')
    assert.equal(net.meta.health.maintenanceUntil(target), undefined)
  } finally {
    await net.close()
  }
})

test('repeated audit failure is reported to a real chain once: the node is suspended and slashed on chain', async () => {
  const net = await startNet({ chain: true })
  try {
    const held = await upload(net, 8, 2000)
    const { target, good } = await failNode(net, held)
    const before = (await listResourceNodes(new ChainClient({ url: net.validator!.url }))).find(
      (n) => n.node === target,
    )
    assert.equal(before?.status, 'active')

    // The next round reports the incident (slash_resource_node by the meta node's owner) and waits for inclusion.
    await net.meta.auditor.runRound()
    const chainClient = new ChainClient({ url: net.validator!.url })
    const after = (await listResourceNodes(chainClient)).find((n) => n.node === target)
    assert.equal(after?.status, 'suspended')
    assert.ok(
      BigInt(after!.deposit) < BigInt(before!.deposit),
      `deposit slashed: ${before?.deposit} → ${after?.deposit}`,
    )

    // Once per incident: more rounds (and more failures of the same incident) send nothing more.
    await net.chain!.sync()
    await net.meta.auditor.runRound()
    await net.meta.auditor.runRound()
    const again = (await listResourceNodes(chainClient)).find((n) => n.node === target)
    assert.equal(again?.deposit, after?.deposit)
    assert.equal((await view(net, target)).reputation?.slashIncidents, 1)

    // Locally the node earns its way back (on chain its owner must top its deposit up to tier 1: update_deposit).
    await reinstate(net, target, good)
  } finally {
    await net.close()
  }
})
