/**
 * MetaNode joined to a real (in-process) chain: only nodes active on chain receive shards, a payer without ozone is
 * refused before any limit is signed, plans and reads reserve ozone, and credited traffic (an upload's PUTs, from its
 * commit) ends up in a volume report that the chain charges.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../../../src/chain-client/client.ts'
import { devnetGenesis } from '../../../../src/chain/genesis.ts'
import { startValidator } from '../../../../src/chain/node/index.ts'
import { DEVNET_PARAMS, stos } from '../../../../src/chain/params.ts'
import { toHex } from '../../../../src/crypto/hash.ts'
import { NodeKey } from '../../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { seededRandom } from '../../../../src/util/components.ts'
import { signOrder } from '../../../../src/sds/protocol/orders.ts'
import { DOMAIN, signAsNode } from '../../../../src/sds/protocol/signing.ts'
import { chainId, expectCode, signCreate, startHarness, tempDir, TestNode, uploadFile, ORDER_KEY } from '../helpers.ts'

const owner = WalletKey.fromPrivateKeyHex('41'.repeat(32))
const rich = WalletKey.fromPrivateKeyHex('42'.repeat(32))
const poor = WalletKey.fromPrivateKeyHex('43'.repeat(32))
const orderKey = NodeKey.generate(seededRandom(4242))

test('with a chain: active nodes only, ozone checked before limits, committed PUTs reported and charged', async (t) => {
  const dir = tempDir()
  const metaKey = NodeKey.loadOrCreate(join(dir, 'meta'))
  // TestNode(i) keys: nodes 1–3 registered on chain, node 4 not.
  const entry = (k: NodeKey, deposit: bigint) => ({
    node: k.address,
    publicKey: toHex(k.publicKey),
    owner: owner.address,
    deposit,
    moniker: 'n',
  })
  const registered = [1, 2, 3].map((i) => new TestNode(i).key)
  const genesis = devnetGenesis({
    chainId,
    wallets: [owner.address, rich.address, poor.address],
    genesisTime: Date.now(),
    params: { epochBlocks: 5 },
    metaNodes: [entry(metaKey, DEVNET_PARAMS.minMetaNodeDepositWei)],
    resourceNodes: registered.map((k) => entry(k, DEVNET_PARAMS.resourceNodeTiersWei[0]!)),
  })
  const v = await startValidator({ dataDir: join(dir, 'chain'), port: 0, genesis, blockIntervalMs: 100 })
  t.after(() => v.stop())
  const chain = new ChainClient({ url: v.url })
  await chain.submitAndWait(rich, [{ type: 'prepay', amount: stos(1) }], { fee: DEFAULT_TX_FEE_WEI, wait: true })
  const ozone0 = (await chain.account(rich.address)).ozone

  const h = await startHarness({
    dir: join(dir, 'meta'),
    nodes: 4,
    chain: { url: v.url, owner, syncIntervalMs: 50, reportRetryMs: 200 },
  })
  t.after(() => h.close())
  assert.ok(h.meta.chain?.synced)

  // No ozone: refused at create, before any limit exists.
  await expectCode(h.client.createUpload(signCreate(h, poor, { size: 1000, k: 2, m: 1 })), 'INSUFFICIENT_OZONE')

  // Prepaid: the upload goes through, its shards only on nodes active on chain.
  const { file, up } = await uploadFile(h, rich, { size: 3000, k: 2, m: 1, segmentSize: 1024 })
  const unregistered = new TestNode(4).address
  assert.ok(up.placements.flat().every((p) => p.node !== unregistered))
  const putBytes = file.segments.reduce((a, s) => a + s.shardSize * s.shards.length, 0)

  // The commit is the PUTs' proof of traffic: the sweep credits every placement once (to the current epoch).
  assert.equal(await h.meta.putCredits.sweep(), up.placements.flat().length)
  assert.equal(await h.meta.putCredits.sweep(), 0)
  // A PUT order (an older node's) is not settled: it would pay the PUT twice.
  for (const p of up.placements.flat().slice(0, 1)) {
    const n = h.nodes.get(p.node)!
    const order = signOrder(orderKey, {
      v: 1,
      chainId,
      serial: p.ticket.payload.serial,
      bytes: p.ticket.payload.size,
      signedAt: h.clock.now(),
    })
    const r = await h.client.settleOrders(
      signAsNode(DOMAIN.settleOrders, n.key, {
        v: 1,
        chainId,
        node: n.address,
        items: [{ ticket: p.ticket, order }],
        expiresAt: h.clock.now() + 60_000,
      }),
    )
    assert.deepEqual(
      r.results.map((x) => x.code),
      ['ORDER_NOT_NEEDED'],
    )
  }
  // A read reserves k shards per segment; the owner can afford it.
  const read = await h.as(rich).read(file.cid, { orderKey: ORDER_KEY })
  assert.equal(read.tickets.length, file.segments.length)

  // The epoch ends; the report is included and the chain charged exactly the upload's bytes.
  // (Settlement may have straddled an epoch boundary: then two reports charge it.)
  const end = Date.now() + 15_000
  while ((await chain.account(rich.address)).ozone !== ozone0 - BigInt(putBytes)) {
    if (Date.now() > end) assert.fail(`volume reports did not charge ${putBytes} bytes in time`)
    await sleep(100)
  }
  const ft = await h.as(rich).fileTraffic(file.cid)
  assert.deepEqual(ft.totals, { put: putBytes, get: 0 })
  // The meta node marks a report included right after the chain did (its submit waits for the block).
  const views = async () =>
    Promise.all([...new Set(ft.traffic.map((x) => x.epoch))].map((e) => h.client.trafficNodes({ epoch: e })))
  while (!(await views()).every((v) => v.nodes.every((n) => n.report === 'included' || n.bytes === 0))) {
    if (Date.now() > end) assert.fail('reports not marked included in time')
    await sleep(50)
  }
  assert.equal(
    (await views()).reduce((a, v) => a + v.nodes.reduce((b, n) => b + n.bytes, 0), 0),
    putBytes,
  )
  const traffic = await h.client.trafficNodes({})
  assert.equal(traffic.nodes.find((n) => n.node === unregistered)?.chainState, 'unregistered')
})
