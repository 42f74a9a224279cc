/**
 * Slashing reports against a real validator (in-process, REST on loopback): once per incident, including after an
 * interrupted submission, and skipped for nodes the chain does not know.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeKey } from '../../../../src/crypto/node-key.ts'
import { toHex } from '../../../../src/crypto/hash.ts'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { devnetGenesis } from '../../../../src/chain/genesis.ts'
import { stos } from '../../../../src/chain/params.ts'
import { startValidator } from '../../../../src/chain/node/index.ts'
import { ChainClient } from '../../../../src/chain-client/client.ts'
import { listResourceNodes } from '../../../../src/chain-client/node-registration.ts'
import { HttpChainLink } from '../../../../src/sds/meta/chain-link.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { Reputation, Slasher } from '../../../../src/sds/meta/audit/index.ts'
import { ManualClock, seededRandom, silentLogger } from '../../../../src/util/components.ts'

const wallet = (i: number): WalletKey => WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))

test('one slash per incident: sent, resent after an interruption when the chain has none, not resent when it has one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-slasher-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const meta = NodeKey.generate(seededRandom(1))
  const [a, b] = [NodeKey.generate(seededRandom(2)), NodeKey.generate(seededRandom(3))]
  const stranger = NodeKey.generate(seededRandom(4))
  const genesis = devnetGenesis({
    chainId: 'slasher-chain-1',
    wallets: [0, 1, 2].map((i) => wallet(i).address),
    genesisTime: Date.now(),
    validators: [
      {
        operator: wallet(0).address,
        consensusKey: toHex(NodeKey.generate(seededRandom(9)).publicKey),
        commissionBps: 1000,
        selfDelegation: stos(10_000),
        moniker: 'val',
      },
    ],
    resourceNodes: [a, b].map((k, i) => ({
      node: k.address,
      publicKey: toHex(k.publicKey),
      owner: wallet(2).address,
      deposit: stos(1_000),
      moniker: `r${i}`,
    })),
    metaNodes: [
      {
        node: meta.address,
        publicKey: toHex(meta.publicKey),
        owner: wallet(1).address,
        deposit: stos(10_000),
        moniker: 'meta',
      },
    ],
  })
  const v = await startValidator({
    dataDir: join(dir, 'chain'),
    port: 0,
    genesis,
    blockIntervalMs: 50,
    logger: silentLogger,
  })
  t.after(() => v.stop())
  const chain = new HttpChainLink({ chainUrl: v.url, owner: wallet(1), syncIntervalMs: 60_000 })
  await chain.start()
  t.after(() => chain.stop())
  const store = await MetaStore.open(join(dir, 'index'))
  t.after(() => store.close())
  const clock = new ManualClock(Date.now())
  const reputation = new Reputation({ store, clock, logger: silentLogger })
  const slasher = new Slasher({ reputation, chain, metaNode: meta.address, clock, logger: silentLogger })
  const onChain = async (node: string) =>
    (await listResourceNodes(new ChainClient({ url: v.url }))).find((n) => n.node === node)!

  for (const node of [a.address, b.address, stranger.address]) {
    for (let i = 0; i < 5; i++) await reputation.recordAudit(node, false, clock.now())
    assert.equal(reputation.get(node).incident?.status, 'pending')
  }
  // A: the meta node died after marking the incident `submitting`, before its tx reached the chain.
  await reputation.setIncident(a.address, { status: 'submitting' }, clock.now())
  // B: the meta node died after its tx was included (simulated: the same slash, sent by the owner directly).
  await reputation.setIncident(b.address, { status: 'submitting' }, clock.now())
  await chain.submit([
    {
      type: 'slash_resource_node',
      metaNode: meta.address,
      node: b.address,
      debtOzone: BigInt(reputation.get(b.address).incident!.debtOzone),
    },
  ])
  const bSlashed = await onChain(b.address)
  assert.equal(bSlashed.status, 'suspended')
  await chain.sync()

  await slasher.run()
  const aAfter = await onChain(a.address)
  assert.equal(aAfter.status, 'suspended')
  assert.ok(BigInt(aAfter.deposit) < stos(1_000))
  const ia = reputation.get(a.address).incident!
  assert.equal(ia.status, 'submitted')
  assert.match(ia.txHash ?? '', /^[0-9a-f]{64}$/)
  assert.equal(reputation.get(b.address).incident?.status, 'submitted')
  assert.equal((await onChain(b.address)).deposit, bSlashed.deposit, 'B was not slashed a second time')
  assert.equal(reputation.get(stranger.address).incident?.status, 'skipped')

  // Settled incidents are never sent again.
  await chain.sync()
  await slasher.run()
  assert.equal((await onChain(a.address)).deposit, aAfter.deposit)
})
