/**
 * The ecosystem's clients against a validator on real CometBFT (issue 14 point 6):
 *   - @cosmjs/tendermint-rpc's Comet38Client: status, block, broadcastTxSync, tx, abciQuery, validators;
 *   - the Cosmos-style read-only REST paths of the app (cosmos-rest.ts): amounts as strings, `wei` denom;
 *   - a garbage or dropped connection to the app's ABCI socket crashes nothing.
 * Without the binary the test skips in one line, except under CI=true.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { Request } from 'cosmjs-types/tendermint/abci/types'
import { encodeFrame } from '../../../src/chain/abci/framing.ts'
import { Comet38Client } from '@cosmjs/tendermint-rpc'
import { cometbftBinary } from '../../../src/chain/node/abci/cometbft.ts'
import { DEVNET_PARAMS } from '../../../src/chain/params.ts'
import { encodeSignedTx, signTx } from '../../../src/chain/tx.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { Cluster, CLUSTER_CHAIN_ID, STOS, until } from './cluster.ts'

const skip =
  !existsSync(cometbftBinary()) && !process.env.CI ? 'CometBFT is not built: `npm run setup:cometbft` builds it' : false

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

test('Comet38Client speaks to the validator; Cosmos-style REST paths answer with string amounts in wei', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const user = WalletKey.fromPrivateKeyHex('55'.repeat(32))
  const to = WalletKey.fromPrivateKeyHex('56'.repeat(32))
  const cluster = await Cluster.start({ count: 1, users: [user], blockIntervalMs: 300 })
  t.after(() => cluster.stop())
  const node = cluster.nodes[0]!
  const client = await Comet38Client.connect(node.rpcUrl)
  t.after(() => client.disconnect())

  const status = await until('block 2', async () => {
    const s = await client.status()
    return s.syncInfo.latestBlockHeight >= 2 ? s : undefined
  })
  assert.equal(status.nodeInfo.network, CLUSTER_CHAIN_ID)
  const block = await client.block(2)
  assert.equal(block.block.header.height, 2)
  assert.equal(block.block.header.chainId, CLUSTER_CHAIN_ID)

  const validators = await client.validators({})
  assert.equal(validators.validators.length, 1)
  assert.equal(validators.validators[0]!.votingPower, 10_000n)
  assert.equal(Buffer.from(validators.validators[0]!.address).toString('hex'), node.consensusAddress)

  const signed = signTx(user, {
    chainId: CLUSTER_CHAIN_ID,
    sender: user.address,
    nonce: 0n,
    fee: DEVNET_PARAMS.minFeeWei,
    msgs: [{ type: 'send', to: to.address, amount: 3n * STOS }],
  })
  const broadcast = await client.broadcastTxSync({ tx: new TextEncoder().encode(encodeSignedTx(signed)) })
  assert.equal(broadcast.code, 0, broadcast.log)
  const included = await until('tx indexed', () => client.tx({ hash: broadcast.hash }).catch(() => undefined))
  assert.equal(included.result.code, 0)
  assert.ok(included.height > 0)

  const query = await client.abciQuery({ path: `/accounts/${to.address}`, data: new Uint8Array() })
  assert.equal(query.code, 0)
  assert.equal((JSON.parse(new TextDecoder().decode(query.value)) as { balance: string }).balance, String(3n * STOS))
  const missing = await client.abciQuery({ path: '/no/such/path', data: new Uint8Array() })
  assert.notEqual(missing.code, 0)

  // Cosmos-style REST on the app's REST port.
  const bank = await getJson(`${node.restUrl}/cosmos/bank/v1beta1/balances/${to.address}`)
  assert.deepEqual(bank.body.balances, [{ denom: 'wei', amount: String(3n * STOS) }])
  const staking = await getJson(`${node.restUrl}/cosmos/staking/v1beta1/validators`)
  const [v] = staking.body.validators as Array<Record<string, unknown>>
  assert.equal(v!.operator_address, node.operator.address)
  assert.equal(v!.tokens, String(10_000n * STOS))
  assert.equal(v!.status, 'BOND_STATUS_BONDED')
  assert.equal(v!.jailed, false)
  const rewards = await getJson(`${node.restUrl}/stratos/pot/v1/rewards/wallet/${user.address}`)
  assert.deepEqual((rewards.body.rewards as { mature_total: unknown }).mature_total, [{ denom: 'wei', amount: '0' }])
  const price = await getJson(`${node.restUrl}/stratos/sds/v1/noz_price`)
  assert.match(price.body.price as string, /^\d+\.\d{18}$/)
  const params = await getJson(`${node.restUrl}/stratos/pot/v1/params`)
  assert.equal((params.body.params as { bond_denom: string }).bond_denom, 'wei')
  const noNode = await getJson(`${node.restUrl}/stratos/register/v1/resource_node/${'stsds1'}`)
  assert.equal(noNode.status, 400)
  assert.equal((noNode.body.error as { code: string }).code, 'BAD_REQUEST')

  // A hostile or dropped ABCI connection crashes nothing: garbage is refused (that connection closed), a
  // connection dropped mid-message is forgotten; CometBFT's own connections and the chain go on.
  const sock = join(node.dir, 'abci.sock')
  const garbage = net.createConnection(sock)
  garbage.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))
  await new Promise<void>((resolve) => garbage.once('close', () => resolve()))
  const dropped = net.createConnection(sock)
  await new Promise<void>((resolve) => dropped.once('connect', () => resolve()))
  dropped.write(
    Buffer.concat([
      encodeFrame(Request.encode(Request.fromPartial({ echo: { message: 'x' } })).finish()).subarray(0, 3),
    ]),
  )
  dropped.destroy()
  const h = (await client.status()).syncInfo.latestBlockHeight
  await until('blocks after the bad ABCI connections', async () =>
    (await client.status()).syncInfo.latestBlockHeight >= h + 2 ? true : undefined,
  )
  assert.equal((await getJson(`${node.restUrl}/status`)).status, 200)
})
