/**
 * Four validators on real CometBFT processes (issue 14 must-holds), one chain through the whole test:
 *   - a malformed tx is refused by CheckTx and crashes no node;
 *   - a delegation changes the validator's power in CometBFT's /validators;
 *   - kill -9 of one validator (app + CometBFT): blocks keep coming and a transfer is included;
 *   - kill -9 of a second: no block commits (a halt: every live node stays at one height with one block hash);
 *     restart it: the chain resumes, the restarted node replayed through the handshake;
 *   - the validator still down is jailed for downtime (slashed 1%, gone from CometBFT's /validators); restarted,
 *     its operator's unjail puts it back;
 *   - a second CometBFT signing with a copy of a validator's key gets it slashed and tombstoned;
 *   - every node's app reports the same state hash at every height.
 * Without the binary the test skips in one line, except under CI=true.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { ChainClient } from '../../../src/chain-client/client.ts'
import { cometbftBinary } from '../../../src/chain/node/abci/cometbft.ts'
import { DEVNET_PARAMS } from '../../../src/chain/params.ts'
import { Cluster, cometHeight, rpc, STOS, until, type ClusterNode } from './cluster.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'

const skip =
  !existsSync(cometbftBinary()) && !process.env.CI ? 'CometBFT is not built: `npm run setup:cometbft` builds it' : false
const FEE = DEVNET_PARAMS.minFeeWei

interface ValidatorJson {
  operator: string
  tokens: string
  jailed: boolean
  tombstoned: boolean
}

async function restValidators(url: string): Promise<ValidatorJson[]> {
  const res = await fetch(`${url}/validators`, { signal: AbortSignal.timeout(3_000) })
  return (await res.json()) as ValidatorJson[]
}

async function cometPowers(node: ClusterNode): Promise<Map<string, bigint>> {
  const r = await rpc<{ validators: Array<{ address: string; voting_power: string }> }>(node.rpcUrl, '/validators')
  return new Map(r.validators.map((v) => [v.address.toLowerCase(), BigInt(v.voting_power)]))
}

test('4 CometBFT validators: power from staking, one down keeps going, two down halts, restart resumes, jail/unjail, double sign, same state hashes', {
  skip,
  timeout: 600_000,
}, async (t) => {
  const user = WalletKey.fromPrivateKeyHex('77'.repeat(32))
  const cluster = await Cluster.start({
    count: 4,
    users: [user],
    blockIntervalMs: 400,
    params: { signedBlocksWindow: 10, minSignedPerWindowBps: 5000, downtimeJailBlocks: 5 },
  })
  t.after(() => cluster.stop())
  const [a, b, c, d] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode, ClusterNode]
  const chain = new ChainClient({ url: cluster.chainUrl })
  const send = (to: string, amount: bigint) =>
    chain.submitAndWait(user, [{ type: 'send', to, amount }], { fee: FEE, wait: true })
  const started = Date.now()
  await until('block 3 everywhere', async () =>
    (await Promise.all(cluster.nodes.map(cometHeight))).every((h) => h >= 3) ? true : undefined,
  )
  t.diagnostic(`4 validators at block 3 after ${Date.now() - started} ms`)
  const powers = await cometPowers(a)
  assert.deepEqual(
    cluster.nodes.map((n) => powers.get(n.consensusAddress)),
    [10_000n, 10_000n, 10_000n, 10_000n],
  )

  // A malformed tx: refused by CheckTx, and every node goes on.
  const bad = await rpc<{ code: number }>(a.rpcUrl, `/broadcast_tx_sync?tx=0x${Buffer.from('{"tx":').toString('hex')}`)
  assert.notEqual(bad.code, 0)

  // Delegating to b raises its power in CometBFT's /validators.
  await chain.submitAndWait(user, [{ type: 'delegate', validator: b.operator.address, amount: 1_000n * STOS }], {
    fee: FEE,
    wait: true,
  })
  await until('b with power 11000 in /validators', async () =>
    (await cometPowers(c)).get(b.consensusAddress) === 11_000n ? true : undefined,
  )

  // One validator down: blocks keep coming, a transfer is included.
  await cluster.kill(d)
  const hDown = await cometHeight(a)
  await until('3 blocks with d down', async () => ((await cometHeight(a)) >= hDown + 3 ? true : undefined))
  const sent = await send(clusterWalletAddress(cluster, 0), STOS)
  assert.equal(sent.code, 'OK')

  // A second one down (c): 21,000 of 41,000 power is left, under 2/3: no block commits.
  await cluster.kill(c)
  await new Promise((r) => setTimeout(r, 1_500)) // a block already in its last round may still commit
  const halted = await cometHeight(a)
  await new Promise((r) => setTimeout(r, 5_000))
  assert.equal(await cometHeight(a), halted, 'no block commits with half the power down')
  assert.equal(await cometHeight(b), halted)
  const hashes = await Promise.all(
    [a, b].map((n) => rpc<{ block_id: { hash: string } }>(n.rpcUrl, `/block?height=${halted}`)),
  )
  assert.equal(hashes[0]!.block_id.hash, hashes[1]!.block_id.hash, 'one block at the halted height')

  // c back: the chain resumes (c replays what it lacks through the handshake and catch-up).
  await cluster.startNode(c)
  const resumed = Date.now()
  await until('blocks again', async () => ((await cometHeight(a)) >= halted + 2 ? true : undefined))
  t.diagnostic(`halted at ${halted}; resumed ${Date.now() - resumed} ms after c restarted`)

  // d, still down, misses more than half of a 10-block window: jailed, 1% slashed, out of CometBFT's set.
  const jailed = await until(
    'd jailed',
    async () => (await restValidators(a.restUrl)).find((v) => v.operator === d.operator.address && v.jailed),
    120_000,
  )
  assert.equal(BigInt(jailed.tokens), 9_900n * STOS)
  await until('d out of /validators', async () => ((await cometPowers(a)).has(d.consensusAddress) ? undefined : true))

  // d back and unjailed by its operator: in the set again with its slashed power.
  await cluster.startNode(d)
  await until(
    'd caught up',
    async () => ((await cometHeight(d)) >= (await cometHeight(a)) - 1 ? true : undefined),
    120_000,
  )
  await until(
    'unjail accepted',
    async () => {
      try {
        await chain.submitAndWait(d.operator, [{ type: 'unjail' }], { fee: FEE, wait: true })
        return true
      } catch (e) {
        if ((e as { code?: string }).code === 'CONFLICT') return undefined // still within its jail time
        throw e
      }
    },
    60_000,
  )
  await until('d back in /validators', async () =>
    (await cometPowers(a)).get(d.consensusAddress) === 9_900n ? true : undefined,
  )

  // A second signer with a's key: evidence of double signing → a slashed 5% and tombstoned.
  const doubleSigner = await cluster.addDoubleSigner(a)
  const tomb = await until(
    'a tombstoned',
    async () => (await restValidators(b.restUrl)).find((v) => v.operator === a.operator.address && v.tombstoned),
    180_000,
  )
  assert.equal(tomb.jailed, true)
  assert.equal(BigInt(tomb.tokens), 10_000n * STOS - 500n * STOS)
  await cluster.kill(doubleSigner)
  await until('a out of /validators', async () => ((await cometPowers(b)).has(a.consensusAddress) ? undefined : true))
  const tombUnjail = await chain
    .submitAndWait(a.operator, [{ type: 'unjail' }], { fee: FEE, wait: true })
    .catch((e: { code?: string }) => e.code)
  assert.equal(tombUnjail, 'CONFLICT')

  // Every node's app: the same state hash at every height.
  const top = Math.min(...(await Promise.all([a, b, c, d].map(cometHeight))))
  for (let h = 1; h <= top; h++) {
    const states = await Promise.all(
      [a, b, c, d].map(async (n) => {
        const res = await fetch(`${n.restUrl}/blocks/${h}`)
        return ((await res.json()) as { header: { stateHash: string } }).header.stateHash
      }),
    )
    assert.equal(new Set(states).size, 1, `state hashes differ at height ${h}: ${states.join(' ')}`)
  }
  t.diagnostic(`same state hash on 4 nodes at heights 1…${top}; whole test ${Date.now() - started} ms`)
})

function clusterWalletAddress(cluster: Cluster, i: number): string {
  return cluster.nodes[i]!.operator.address
}
