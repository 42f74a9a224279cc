/**
 * The reporter against a real validator (in-process, 2-block epochs of 100 ms blocks): a report for an ended epoch
 * is built from the LMDB credits, signed, submitted by the owner wallet and included — the payer's ozone drops by
 * exactly the reported bytes; a restart neither loses nor re-submits it; a report too late for the chain's window
 * is dropped; a report signed by a key that is not a registered meta node is refused by the chain.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../../../src/chain-client/client.ts'
import { devnetGenesis } from '../../../../src/chain/genesis.ts'
import { signVolumeReport } from '../../../../src/chain/node-proofs.ts'
import { startValidator } from '../../../../src/chain/node/index.ts'
import { DEVNET_PARAMS, stos } from '../../../../src/chain/params.ts'
import { toHex } from '../../../../src/crypto/hash.ts'
import { NodeKey } from '../../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../../../src/errors.ts'
import { silentLogger, systemClock, seededRandom } from '../../../../src/util/components.ts'
import { HttpChainLink } from '../../../../src/sds/meta/chain-link.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'
import { Reporter, reportChainOf, toVolumeReport } from '../../../../src/sds/meta/pot/reports.ts'

const CHAIN = 'pot-report-test'
const owner = WalletKey.fromPrivateKeyHex('31'.repeat(32))
const payer = WalletKey.fromPrivateKeyHex('32'.repeat(32))
const metaKey = NodeKey.generate(seededRandom(501))
const nodes = [NodeKey.generate(seededRandom(502)), NodeKey.generate(seededRandom(503))]

async function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) assert.fail('condition not met in time')
    await sleep(20)
  }
}

test('volume reports: included once with exact charges, survive restarts, late ones dropped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-pot-report-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const entry = (k: NodeKey, deposit: bigint) => ({
    node: k.address,
    publicKey: toHex(k.publicKey),
    owner: owner.address,
    deposit,
    moniker: 'n',
  })
  const genesis = devnetGenesis({
    chainId: CHAIN,
    wallets: [owner.address, payer.address],
    genesisTime: Date.now(),
    params: { epochBlocks: 2 },
    metaNodes: [entry(metaKey, DEVNET_PARAMS.minMetaNodeDepositWei)],
    resourceNodes: nodes.map((n) => entry(n, DEVNET_PARAMS.resourceNodeTiersWei[0]!)),
  })
  const v = await startValidator({ dataDir: join(dir, 'chain'), port: 0, genesis, blockIntervalMs: 100 })
  t.after(() => v.stop())
  const chain = new ChainClient({ url: v.url })
  await chain.submitAndWait(payer, [{ type: 'prepay', amount: stos(1) }], { fee: DEFAULT_TX_FEE_WEI, wait: true })
  const ozone0 = (await chain.account(payer.address)).ozone
  assert.ok(ozone0 > 1_000_000n)

  const store = await MetaStore.open(join(dir, 'meta'))
  t.after(() => store.close())
  const link = new HttpChainLink({ chainUrl: v.url, owner, syncIntervalMs: 50, logger: silentLogger })
  await link.start()
  t.after(() => link.stop())
  const guard = new OzoneGuard({ chain: link, store, clock: systemClock, logger: silentLogger })
  const reporter = (): Reporter =>
    new Reporter({
      store,
      key: metaKey,
      chainId: CHAIN,
      chain: reportChainOf(link),
      guard,
      clock: systemClock,
      logger: silentLogger,
      retryMs: 60_000,
    })

  // Late: credits for epoch 1 appear only once the chain is past its report window.
  await until(() => link.epoch > 1 + DEVNET_PARAMS.reportWindowEpochs)
  await store.write(() =>
    store.pot.creditTraffic({
      epoch: 1,
      node: nodes[0].address,
      payer: payer.address,
      cid: 'bafytest',
      op: 'get',
      bytes: 999,
    }),
  )
  const r1 = reporter()
  await r1.run()
  assert.equal(store.pot.report(1)?.state, 'dropped', store.pot.report(1)?.error)

  // On time: credits in the current epoch, reported once it ended.
  const e = link.epoch
  await store.write(() => {
    store.pot.creditTraffic({
      epoch: e,
      node: nodes[0].address,
      payer: payer.address,
      cid: 'bafytest',
      op: 'get',
      bytes: 1_000,
    })
    store.pot.creditTraffic({
      epoch: e,
      node: nodes[1].address,
      payer: payer.address,
      cid: 'bafytest',
      op: 'get',
      bytes: 234,
    })
    store.pot.creditTraffic({
      epoch: e,
      node: nodes[1].address,
      payer: owner.address,
      cid: 'bafytest',
      op: 'get',
      bytes: 66,
    })
  })
  await store.write(() => store.ozone.addAccepted(payer.address, 1_234, Date.now()))
  await until(() => link.epoch > e)
  await r1.run()
  const rec = store.pot.report(e)!
  assert.equal(rec.state, 'included', rec.error)
  assert.deepEqual(
    rec.report.nodes.map((n) => n.bytes),
    [nodes[0], nodes[1]].sort((a, b) => (a.address < b.address ? -1 : 1)).map((n) => (n === nodes[0] ? '1000' : '300')),
  )
  assert.equal((await chain.account(payer.address)).ozone, ozone0 - 1_234n)
  assert.equal(guard.outstanding(payer.address).accepted, 0)
  assert.equal(guard.outstanding(payer.address).held, 1_234, 'charged bytes stay counted while balances may be cached')
  const onChain = (await (await fetch(`${v.url}/reports?epoch=${e}`)).json()) as {
    metaNode: string
    reportedBytes: string
    chargedBytes: string
  }[]
  assert.equal(onChain.length, 1)
  assert.equal(onChain[0].metaNode, metaKey.address)
  assert.equal(onChain[0].reportedBytes, '1300')
  // The owner wallet prepaid nothing: the chain charges only what a wallet has (and pays nodes only for that).
  assert.equal(onChain[0].chargedBytes, '1234')

  // A crash between "submitted" and "included": the restarted reporter finds it on chain and does not resend.
  await store.write(() => store.pot.putReport({ ...rec, state: 'submitted' }))
  await reporter().run()
  assert.equal(store.pot.report(e)?.state, 'included')
  assert.equal((await chain.account(payer.address)).ozone, ozone0 - 1_234n)

  // A report signed by a key that is no registered meta node pays nothing.
  const rogue = NodeKey.generate(seededRandom(777))
  const forged = signVolumeReport(
    rogue,
    toVolumeReport({ ...rec.report, metaNode: rogue.address, epoch: link.epoch - 1 }),
  )
  await assert.rejects(
    chain.submitAndWait(owner, [forged], { fee: DEFAULT_TX_FEE_WEI, wait: true }),
    (err) => isStratosError(err) && err.code === 'NODE_NOT_REGISTERED',
  )
  assert.equal((await chain.account(payer.address)).ozone, ozone0 - 1_234n)
})
