/**
 * Determinism under load on real processes (issue 14 must-hold): 4 CometBFT validators; 8 wallets send a random
 * mix of transfers, delegations (to all four validators), resource node registrations, prepays and volume reports
 * (by the genesis meta node's owner) for LOAD_MS, each wallet to its own validator (wallet i → validator i mod 4,
 * so every validator's REST API and mempool takes load; a sender's consecutive nonces go to one mempool). Then,
 * once every mempool is empty: every node's app reports the same state hash at every height, and the same
 * balances. LOAD_MS is 60 s under CI=true (the figure) and 15 s otherwise (a local run).
 * Without the binary the test skips in one line, except under CI=true.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { ChainClient } from '../../../src/chain-client/client.ts'
import type { Msg } from '../../../src/chain/msgs.ts'
import { signNodeOwnership, signVolumeReport } from '../../../src/chain/node-proofs.ts'
import { cometbftBinary } from '../../../src/chain/node/abci/cometbft.ts'
import { DEVNET_PARAMS } from '../../../src/chain/params.ts'
import { encodeSignedTx, signTx } from '../../../src/chain/tx.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { Cluster, CLUSTER_CHAIN_ID, cometHeight, rpc, STOS, until } from './cluster.ts'

const skip =
  !existsSync(cometbftBinary()) && !process.env.CI ? 'CometBFT is not built: `npm run setup:cometbft` builds it' : false
const LOAD_MS = process.env.CI === 'true' ? 60_000 : 15_000
const FEE = DEVNET_PARAMS.minFeeWei

test(`4 CometBFT validators under ${LOAD_MS / 1000} s of random load end with identical state`, {
  skip,
  timeout: LOAD_MS + 300_000,
}, async (t) => {
  const users = Array.from({ length: 8 }, (_, i) =>
    WalletKey.fromPrivateKeyHex((0x500 + i).toString(16).padStart(64, '0')),
  )
  const meta = NodeKey.generate(seededRandom(9))
  const metaOwner = users[0]!
  const cluster = await Cluster.start({
    count: 4,
    users,
    blockIntervalMs: 500,
    params: { epochBlocks: 10 },
    metaNodes: [
      {
        node: meta.address,
        publicKey: toHex(meta.publicKey),
        owner: metaOwner.address,
        deposit: DEVNET_PARAMS.minMetaNodeDepositWei,
        moniker: 'meta',
      },
    ],
  })
  t.after(() => cluster.stop())
  const nodes = cluster.nodes
  await until('block 2', async () => ((await cometHeight(nodes[0]!)) >= 2 ? true : undefined))
  const random = seededRandom(42)
  const pick = (n: number) => random(1)[0]! % n
  const registered: string[] = []
  const counts = { sent: 0, refused: 0 }
  const msgFor = async (i: number, chain: ChainClient): Promise<Msg> => {
    const user = users[i]!
    switch (pick(6)) {
      case 0:
        return { type: 'delegate', validator: nodes[pick(4)]!.operator.address, amount: BigInt(1 + pick(50)) * STOS }
      case 1: {
        const key = NodeKey.generate(seededRandom(1000 + counts.sent))
        registered.push(key.address)
        return {
          type: 'create_resource_node',
          ...signNodeOwnership(key, CLUSTER_CHAIN_ID, 'resource', user.address),
          deposit: DEVNET_PARAMS.resourceNodeTiersWei[0]!,
          moniker: 'r',
        }
      }
      case 2:
        return { type: 'prepay', amount: BigInt(1 + pick(20)) * STOS }
      case 3: {
        if (i !== 0 || registered.length === 0) break
        const status = await chain.status()
        const wallets = [...new Set(users.slice(1, 4).map((u) => u.address))].sort()
        const node = registered[pick(registered.length)]!
        return signVolumeReport(meta, {
          chainId: CLUSTER_CHAIN_ID,
          epoch: Math.max(1, status.epoch - 1),
          metaNode: meta.address,
          wallets: wallets.map((wallet) => ({ wallet, bytes: 1000n })),
          nodes: [{ node, bytes: BigInt(1000 * wallets.length) }],
        })
      }
    }
    return { type: 'send', to: users[pick(users.length)]!.address, amount: BigInt(1 + pick(1000)) * 10n ** 15n }
  }
  const deadline = Date.now() + LOAD_MS
  await Promise.all(
    users.map(async (user, i) => {
      const node = nodes[i % nodes.length]!
      const chain = new ChainClient({ url: node.restUrl })
      let nonce = (await chain.account(user.address)).nonce
      while (Date.now() < deadline) {
        const msg = await msgFor(i, chain)
        const signed = signTx(user, { chainId: CLUSTER_CHAIN_ID, sender: user.address, nonce, fee: FEE, msgs: [msg] })
        try {
          await chain.submit(encodeSignedTx(signed))
          nonce++
          counts.sent++
        } catch {
          // Refused by CheckTx (e.g. a full mempool): take the nonce the chain expects again.
          counts.refused++
          await new Promise((r) => setTimeout(r, 100))
          nonce = (await chain.account(user.address)).nonce
        }
      }
    }),
  )
  // Everything admitted is committed: every mempool empty, every node at one height.
  await until(
    'mempools empty',
    async () => {
      const pending = await Promise.all(
        nodes.map((n) => rpc<{ n_txs: string }>(n.rpcUrl, '/num_unconfirmed_txs').then((r) => Number(r.n_txs))),
      )
      return pending.every((p) => p === 0) ? true : undefined
    },
    120_000,
  )
  const top = (await cometHeight(nodes[0]!)) + 1
  await until('all at the same height', async () =>
    (await Promise.all(nodes.map(cometHeight))).every((h) => h >= top) ? true : undefined,
  )
  let txs = 0
  for (let h = 1; h <= top; h++) {
    const blocks = await Promise.all(
      nodes.map(async (n) => {
        const res = await fetch(`${n.restUrl}/blocks/${h}`)
        return (await res.json()) as { header: { stateHash: string; txCount: number } }
      }),
    )
    assert.equal(new Set(blocks.map((b) => b.header.stateHash)).size, 1, `state hashes differ at height ${h}`)
    txs += blocks[0]!.header.txCount
  }
  const balances = await Promise.all(
    nodes.map(async (n) => {
      const chain = new ChainClient({ url: n.restUrl })
      return (await Promise.all(users.map((u) => chain.account(u.address)))).map((a) => `${a.balance}/${a.ozone}`)
    }),
  )
  for (const b of balances) assert.deepEqual(b, balances[0])
  assert.ok(txs > 0 && counts.sent > 0, `${txs} txs in blocks, ${counts.sent} admitted`)
  t.diagnostic(
    `${counts.sent} txs admitted (${counts.refused} refused) in ${LOAD_MS / 1000} s, ${txs} in blocks 1…${top}, ${registered.length} registrations tried: same state hash on 4 nodes at every height`,
  )
})
