/**
 * Both ChainLink implementations (src/sds/meta/chain-link.ts) against the compliance suite (./chain-link-suite.ts):
 * HttpChainLink on a real validator in this process (REST on loopback, 50 ms blocks, 5 blocks per epoch, one
 * resource node registered at genesis), and the test double MemoryChainLink (./chain-link-double.ts).
 */
import { after, before } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../../src/chain-client/client.ts'
import { devnetGenesis } from '../../../src/chain/genesis.ts'
import { startValidator, type Validator } from '../../../src/chain/node/index.ts'
import { DEVNET_PARAMS } from '../../../src/chain/params.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { HttpChainLink } from '../../../src/sds/meta/chain-link.ts'
import { seededRandom, silentLogger } from '../../../src/util/components.ts'
import { MemoryChain, MemoryChainLink } from './chain-link-double.ts'
import { chainLinkSuite, type ChainLinkWorld } from './chain-link-suite.ts'

const owner = WalletKey.fromPrivateKeyHex('51'.repeat(32))
const payer = WalletKey.fromPrivateKeyHex('52'.repeat(32))
const resourceNode = NodeKey.generate(seededRandom(5150))

async function nextEpochOf(read: () => Promise<number>, epoch: number): Promise<number> {
  for (;;) {
    const now = await read()
    if (now > epoch) return now
    await sleep(20)
  }
}

// ---- HttpChainLink on a real validator ---------------------------------------------------------------

let dir = ''
let validator: Validator
let chain: ChainClient
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratos-chain-link-'))
  const genesis = devnetGenesis({
    chainId: 'chain-link-test-1',
    wallets: [owner.address, payer.address],
    genesisTime: Date.now(),
    params: { epochBlocks: 5 },
    resourceNodes: [
      {
        node: resourceNode.address,
        publicKey: toHex(resourceNode.publicKey),
        owner: owner.address,
        deposit: DEVNET_PARAMS.resourceNodeTiersWei[0]!,
        moniker: 'r',
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
  chain = new ChainClient({ url: validator.url })
})
after(async () => {
  await validator?.stop()
  rmSync(dir, { recursive: true, force: true })
})

chainLinkSuite('HttpChainLink', async (_t, o) => {
  const link = new HttpChainLink({
    chainUrl: validator.url,
    owner,
    syncIntervalMs: o.syncIntervalMs,
    ozoneCacheMs: o.ozoneCacheMs,
    clock: o.clock,
    logger: silentLogger,
  })
  const { balance } = await chain.account(owner.address)
  const world: ChainLinkWorld = {
    owner: owner.address,
    nodes: [{ node: resourceNode.address, status: 'active' }],
    payer: payer.address,
    rejected: { msg: { type: 'prepay', amount: balance + 1n }, code: 'INSUFFICIENT_FUNDS' },
    status: async () => {
      const s = await chain.status()
      return { height: s.height, epoch: s.epoch }
    },
    prepay: async (amount) => {
      await chain.submitAndWait(payer, [{ type: 'prepay', amount }], { fee: DEFAULT_TX_FEE_WEI, wait: true })
    },
    nextEpoch: (epoch) => nextEpochOf(async () => (await chain.status()).epoch, epoch),
  }
  return { link, world }
})

// ---- the test double -----------------------------------------------------------------------------------

chainLinkSuite('MemoryChainLink (test double)', async (t, o) => {
  const memory = new MemoryChain()
  memory.account(owner.address).balance = 10n ** 24n
  memory.account(payer.address).balance = 10n ** 24n
  memory.addNode(resourceNode.address, 'active', owner.address)
  memory.addNode('stsds1suspendednode', 'suspended', owner.address)
  const link = new MemoryChainLink(memory, {
    owner: owner.address,
    syncIntervalMs: o.syncIntervalMs,
    ozoneCacheMs: o.ozoneCacheMs,
    clock: o.clock,
  })
  // The chain moves on by itself, as a real one does, while a test runs.
  const blocks = setInterval(() => {
    memory.height++
  }, 20)
  t.after(() => clearInterval(blocks))
  const world: ChainLinkWorld = {
    owner: owner.address,
    nodes: [
      { node: resourceNode.address, status: 'active' },
      { node: 'stsds1suspendednode', status: 'suspended' },
    ],
    payer: payer.address,
    rejected: { msg: { type: 'prepay', amount: 10n ** 30n }, code: 'INSUFFICIENT_FUNDS' },
    status: async () => ({ height: memory.height, epoch: memory.epoch }),
    prepay: async (amount) => {
      memory.deliver(payer.address, memory.account(payer.address).nonce, 1n, [{ type: 'prepay', amount }])
    },
    nextEpoch: async () => memory.advanceEpoch(),
  }
  return { link, world }
})
