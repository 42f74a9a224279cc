/**
 * `stratos node register|deposit|unbond|status` against a real validator (in this process, ephemeral
 * port, 100 ms blocks, one funded wallet), run as the real CLI in child processes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startValidator } from '../../src/chain/node/index.ts'
import { devnetGenesis } from '../../src/chain/genesis.ts'
import { DEVNET_CHAIN_ID } from '../../src/limits.ts'
import { DEVNET_PARAMS } from '../../src/chain/params.ts'
import { NodeKey } from '../../src/crypto/node-key.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { ERROR_CODES } from '../../src/errors.ts'
import { cliArgs } from '../../src/devnet/devnet.ts'

const OWNER_HEX = '33'.repeat(32)

interface Run {
  code: number
  stdout: string
  stderr: string
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

function json<T>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface NodeOut {
  node: string
  owner: string
  deposit: string
  status: string
  tier: number
  unbondingHeight?: number
}
interface TxOut {
  hash: string
  sender: string
  node: string
  code: string
}

test('register → status → deposit → unbond through the real CLI; below-minimum deposit is BAD_REQUEST', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-node-operator-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const owner = WalletKey.fromPrivateKeyHex(OWNER_HEX)
  // Fast blocks keep the test short; a long unbonding period keeps an unbonding node visible while
  // the next CLI process starts (the devnet's 20 blocks would be only 2 s here).
  const genesis = devnetGenesis({
    chainId: DEVNET_CHAIN_ID,
    wallets: [owner.address],
    params: { unbondingBlocks: 100_000 },
  })
  const v = await startValidator({ dataDir: join(dir, 'chain'), port: 0, genesis, blockIntervalMs: 100 })
  t.after(() => v.stop())
  const env = { ...process.env, STRATOS_HOME: join(dir, 'no-network'), STRATOS_KEYS_DIR: join(dir, 'keys') }
  const as = ['--chain-url', v.url, '--key', OWNER_HEX]
  const nodeDir = join(dir, 'resource-1')
  const lowDir = join(dir, 'resource-2')
  const node = NodeKey.loadOrCreate(nodeDir).address
  const low = NodeKey.loadOrCreate(lowDir).address
  const min = DEVNET_PARAMS.resourceNodeTiersWei[0]!

  // not registered yet
  const before = await cli(['node', 'status', node, ...as], env)
  assert.equal(before.code, ERROR_CODES.NODE_NOT_REGISTERED.exit)
  assert.match(before.stderr, /\(NODE_NOT_REGISTERED\)/)

  // register with the minimum deposit, then one below the minimum (one after the other: same sender nonce)
  const reg = await cli(
    ['node', 'register', '--data-dir', nodeDir, '--deposit', `${min}wei`, '--moniker', 'one', '--json', ...as],
    env,
  )
  const tooLow = await cli(
    ['node', 'register', '--data-dir', lowDir, '--deposit', `${min - 1n}wei`, '--json', ...as],
    env,
  )
  const regOut = json<TxOut>(reg)
  assert.equal(regOut.code, 'OK')
  assert.equal(regOut.node, node)
  assert.match(tooLow.stderr, /\(BAD_REQUEST\)/)
  assert.equal(tooLow.code, ERROR_CODES.BAD_REQUEST.exit)
  const lowStatus = await cli(['node', 'status', low, ...as], env)
  assert.equal(lowStatus.code, ERROR_CODES.NODE_NOT_REGISTERED.exit)

  const s1 = json<NodeOut>(await cli(['node', 'status', '--data-dir', nodeDir, '--json', ...as], env))
  assert.equal(s1.node, node)
  assert.equal(s1.owner, owner.address)
  assert.equal(s1.status, 'active')
  assert.equal(BigInt(s1.deposit), min)
  assert.equal(s1.tier, 1)

  // registering the same node again is a CONFLICT
  const again = await cli(['node', 'register', '--data-dir', nodeDir, '--deposit', `${min}wei`, ...as], env)
  assert.equal(again.code, ERROR_CODES.CONFLICT.exit)

  // deposit: reaches tier 2
  const more = DEVNET_PARAMS.resourceNodeTiersWei[1]! - min
  assert.equal(
    json<TxOut>(await cli(['node', 'deposit', '--data-dir', nodeDir, `${more}wei`, '--json', ...as], env)).code,
    'OK',
  )
  const s2 = json<NodeOut>(await cli(['node', 'status', node, '--json', ...as], env))
  assert.equal(BigInt(s2.deposit), min + more)
  assert.equal(s2.tier, 2)

  // text status names state, deposit and owner
  const text = await cli(['node', 'status', node, ...as], env)
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, /state\s+active/)
  assert.match(text.stdout, new RegExp(`owner\\s+${owner.address}`))

  // unbond: the node is unbonding; a second unbond is a CONFLICT
  assert.equal(json<TxOut>(await cli(['node', 'unbond', '--data-dir', nodeDir, '--json', ...as], env)).code, 'OK')
  const s3 = json<NodeOut>(await cli(['node', 'status', node, '--json', ...as], env))
  assert.equal(s3.status, 'unbonding')
  assert.ok(typeof s3.unbondingHeight === 'number')

  // a data dir without a node key, and both ADDRESS and --data-dir, are refused
  const [noKey, both] = await Promise.all([
    cli(['node', 'deposit', '--data-dir', join(dir, 'empty'), '1', ...as], env),
    cli(['node', 'status', node, '--data-dir', nodeDir, ...as], env),
  ])
  assert.equal(noKey.code, ERROR_CODES.NETWORK_CONFIG.exit)
  assert.equal(both.code, ERROR_CODES.BAD_REQUEST.exit)
})
