/**
 * The wallet/chain commands against a real validator (started in this process on an ephemeral
 * port, funding one test wallet), run as the real CLI in child processes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startValidator } from '../../src/chain/node/index.ts'
import { devnetGenesis } from '../../src/chain/genesis.ts'
import { DEVNET_PARAMS } from '../../src/chain/params.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { NodeKey } from '../../src/crypto/node-key.ts'
import { ERROR_CODES } from '../../src/errors.ts'
import { ChainClient, type DelegationsJson, type RewardJson } from '../../src/chain-client/client.ts'
import { formatStos, formatStosAmount, parseAmount } from '../../src/cli/output.ts'
import { KeystoreDir } from '../../src/crypto/keystore.ts'
import { cliArgs } from '../../src/devnet/devnet.ts'

const FUNDED_HEX = '11'.repeat(32)
const EMPTY_HEX = '22'.repeat(32)

interface Run {
  code: number
  stdout: string
  stderr: string
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

function json<T>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface AccountOut {
  address: string
  balance: string
  nonce: string
  ozone: string
}
interface TxOut {
  hash: string
  sender: string
  nonce: string
  fee: string
  height: number
  code: string
}

test('amounts parse to exact wei and print trimmed', () => {
  assert.equal(parseAmount('12.5stos'), 12_500_000_000_000_000_000n)
  assert.equal(parseAmount('1000wei'), 1000n)
  assert.equal(parseAmount('3'), 3n * 10n ** 18n)
  assert.equal(parseAmount('0.000000000000000001'), 1n)
  for (const bad of ['-1', '1.0000000000000000001', '1.5wei', 'abc', '', '1e18', '0x10']) {
    assert.throws(
      () => parseAmount(bad),
      (e: { code?: string }) => e.code === 'BAD_REQUEST',
      bad,
    )
  }
  assert.equal(formatStosAmount(12_500_000_000_000_000_000n), '12.5')
  assert.equal(formatStosAmount(1n), '0.000000000000000001')
  assert.equal(formatStosAmount(80n * 10n ** 18n), '80')
})

test('balance, send, prepay/ozone and chain status/block/tx through the real CLI', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-chain-cli-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const funded = WalletKey.fromPrivateKeyHex(FUNDED_HEX)
  const recipient = WalletKey.fromPrivateKeyHex(EMPTY_HEX)
  const v = await startValidator({
    dataDir: join(dir, 'chain'),
    port: 0,
    wallets: [funded.address],
    blockIntervalMs: 100,
  })
  t.after(() => v.stop())
  const env = { ...process.env, STRATOS_HOME: join(dir, 'no-network'), STRATOS_KEYS_DIR: join(dir, 'keys') }
  const as = (hex: string) => ['--chain-url', v.url, '--key', hex]

  // balance of the selected wallet and of an explicit address
  const [before, recipientBefore] = await Promise.all([
    cli(['balance', '--json', ...as(FUNDED_HEX)], env).then((r) => json<AccountOut>(r)),
    cli(['balance', recipient.address, '--json', ...as(FUNDED_HEX)], env).then((r) => json<AccountOut>(r)),
  ])
  assert.equal(before.address, funded.address)
  assert.ok(BigInt(before.balance) > 0n)
  assert.equal(recipientBefore.balance, '0')

  // send: exactly the amount arrives; the sender pays amount + fee
  const sent = json<TxOut>(
    await cli(
      ['send', recipient.address, '12.5stos', '--fee', '1000000000000000wei', '--json', ...as(FUNDED_HEX)],
      env,
    ),
  )
  assert.equal(sent.code, 'OK')
  assert.equal(sent.fee, '1000000000000000')
  const [after, recipientAfter] = await Promise.all([
    cli(['balance', '--json', ...as(FUNDED_HEX)], env).then((r) => json<AccountOut>(r)),
    cli(['balance', recipient.address, '--json', ...as(FUNDED_HEX)], env).then((r) => json<AccountOut>(r)),
  ])
  const amount = 12_500_000_000_000_000_000n
  assert.equal(BigInt(recipientAfter.balance), amount)
  assert.equal(BigInt(before.balance) - BigInt(after.balance), amount + 1_000_000_000_000_000n)
  assert.equal(BigInt(after.nonce), BigInt(before.nonce) + 1n)

  // failures: more than the balance (INSUFFICIENT_FUNDS), a bad amount (BAD_REQUEST, exit 2)
  const [broke, badAmount, negative] = await Promise.all([
    cli(['send', funded.address, '13stos', ...as(EMPTY_HEX)], env),
    cli(['send', recipient.address, '1.0000000000000000001', ...as(FUNDED_HEX)], env),
    cli(['send', recipient.address, '-1', ...as(FUNDED_HEX)], env),
  ])
  assert.match(broke.stderr, /\(INSUFFICIENT_FUNDS\)/)
  assert.equal(broke.code, ERROR_CODES.INSUFFICIENT_FUNDS.exit)
  // the shortfall in STOS (what is left after the fee of the included tx; amount + default fee 0.00001), never in wei
  assert.match(broke.stderr, /\b12\.49999 STOS\b.*\b13\.00001 STOS\b/)
  assert.doesNotMatch(broke.stderr, /wei/)
  assert.match(badAmount.stderr, /\(BAD_REQUEST\)/)
  assert.equal(badAmount.code, 2)
  assert.equal(negative.code, 2)

  // a recipient by keystore name (no password needed for its address); the summary names both
  const savings = WalletKey.fromPrivateKeyHex('55'.repeat(32))
  await new KeystoreDir(env.STRATOS_KEYS_DIR, { kdf: { N: 2 ** 10, r: 8, p: 1 } }).save(
    'savings',
    { kind: 'private-key', privateKey: savings.privateKey },
    'pw',
  )
  const named = await cli(['send', 'savings', '2.5', ...as(FUNDED_HEX)], env)
  assert.equal(named.code, 0, named.stderr)
  assert.match(named.stdout, new RegExp(`^sent 2\\.5 STOS to savings \\(${savings.address}\\)$`, 'm'))
  assert.match(named.stdout, /^fee 0\.00001 STOS$/m)
  assert.equal((await new ChainClient({ url: v.url }).account(savings.address)).balance, 2_500_000_000_000_000_000n)
  const unknown = await cli(['send', 'nobody', '1', ...as(FUNDED_HEX)], env)
  assert.equal(unknown.code, ERROR_CODES.BAD_REQUEST.exit)
  assert.match(unknown.stderr, /"nobody".*savings.*\(BAD_REQUEST\)/)

  // prepay, then the wallet holds ozone
  const prepaid = json<TxOut>(await cli(['prepay', '1', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(prepaid.code, 'OK')
  const oz = json<{ address: string; ozone: string; market: { weiPerGiB: string | null } }>(
    await cli(['ozone', '--json', ...as(FUNDED_HEX)], env),
  )
  assert.equal(oz.address, funded.address)
  assert.ok(BigInt(oz.ozone) > 0n)
  assert.ok(oz.market.weiPerGiB !== null && BigInt(oz.market.weiPerGiB) > 0n)
  // people read ozone in binary units with the exact count beside, the price with at most 6 decimals
  const [ozHuman, balHuman] = await Promise.all([
    cli(['ozone', ...as(FUNDED_HEX)], env),
    cli(['balance', ...as(FUNDED_HEX)], env),
  ])
  const groupedOzone = BigInt(oz.ozone).toLocaleString('en-US')
  assert.match(
    ozHuman.stdout,
    new RegExp(`^ozone +\\d+(\\.\\d)? (B|KiB|MiB|GiB|TiB|PiB) \\(${groupedOzone} bytes\\) of traffic$`, 'm'),
  )
  assert.match(
    ozHuman.stdout,
    new RegExp(`^price +${formatStos(BigInt(oz.market.weiPerGiB)).replace('.', '\\.')} STOS per GiB$`, 'm'),
  )
  assert.match(ozHuman.stdout, /^price +~?[\d,]+(\.\d{1,6})? STOS per GiB$/m)
  assert.match(balHuman.stdout, /^balance +~?[\d,]+(\.\d{1,6})? STOS$/m)
  assert.match(balHuman.stdout, new RegExp(`\\(${groupedOzone} bytes\\) of traffic$`, 'm'))

  // chain status / block / tx
  const [status, block, tx, txHuman, missing] = await Promise.all([
    cli(['chain', 'status', '--json', '--chain-url', v.url], env).then((r) =>
      json<{ chainId: string; height: number }>(r),
    ),
    cli(['chain', 'block', String(sent.height), '--json', '--chain-url', v.url], env).then((r) =>
      json<{ header: { height: number }; results: Array<{ hash: string; code: string }> }>(r),
    ),
    cli(['chain', 'tx', sent.hash, '--json', '--chain-url', v.url], env).then((r) =>
      json<{ hash: string; height: number; result: { code: string } }>(r),
    ),
    cli(['chain', 'tx', sent.hash, '--chain-url', v.url], env),
    cli(['chain', 'tx', 'ab'.repeat(32), '--chain-url', v.url], env),
  ])
  assert.equal(status.chainId, v.chainId)
  assert.ok(status.height >= sent.height)
  assert.equal(block.header.height, sent.height)
  assert.ok(block.results.some((r) => r.hash === sent.hash && r.code === 'OK'))
  assert.deepEqual([tx.hash, tx.height, tx.result.code], [sent.hash, sent.height, 'OK'])
  assert.equal(txHuman.code, 0)
  assert.match(txHuman.stdout, new RegExp(`height +${sent.height}`))
  assert.equal(missing.code, ERROR_CODES.NOT_FOUND.exit)
})

const VALIDATOR_HEX = '33'.repeat(32)
const IDLE_HEX = '44'.repeat(32)
const STOS = 10n ** 18n

/** Polls `check` every 100 ms until it returns a value (not undefined), or fails after `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

test('delegate → rewards → withdraw → undelegate (unbonding period) through the real CLI; failures and fees', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-chain-cli-staking-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const [delegator, operator, idle] = [FUNDED_HEX, VALIDATOR_HEX, IDLE_HEX].map((h) => WalletKey.fromPrivateKeyHex(h))
  // Fast epochs (5 blocks of 100 ms), rewards withdrawable right after their epoch, 5 s unbonding.
  const params = { epochBlocks: 5, maturityEpochs: 0, unbondingBlocks: 50 }
  const genesis = devnetGenesis({
    chainId: 'stratos-cli-staking',
    wallets: [delegator.address, operator.address, idle.address],
    params,
    validators: [
      {
        operator: operator.address,
        consensusKey: 'ab'.repeat(32),
        commissionBps: 1000,
        selfDelegation: 1_000n * STOS,
        moniker: 'v',
      },
    ],
  })
  const v = await startValidator({ dataDir: join(dir, 'chain'), port: 0, genesis, blockIntervalMs: 100 })
  t.after(() => v.stop())
  const env = { ...process.env, STRATOS_HOME: join(dir, 'no-network'), STRATOS_KEYS_DIR: join(dir, 'keys') }
  const as = (hex: string) => ['--chain-url', v.url, '--key', hex]
  const client = new ChainClient({ url: v.url })
  const fee = DEVNET_PARAMS.minFeeWei

  // GET /params through the client: what this chain was started with
  const p = await client.params()
  assert.equal(p.chainId, 'stratos-cli-staking')
  assert.deepEqual(
    [p.params.epochBlocks, p.params.maturityEpochs, p.params.unbondingBlocks, p.params.minFeeWei],
    [5, 0, params.unbondingBlocks, fee.toString()],
  )

  // delegate 100 STOS: the balance pays amount + fee, the delegation shows in `rewards`
  const b0 = (await client.account(delegator.address)).balance
  const delegated = json<TxOut>(await cli(['delegate', operator.address, '100', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(delegated.code, 'OK')
  assert.equal((await client.account(delegator.address)).balance, b0 - 100n * STOS - fee)
  const r1 = json<{ address: string; rewards: RewardJson[] } & DelegationsJson>(
    await cli(['rewards', '--json', ...as(FUNDED_HEX)], env),
  )
  assert.equal(r1.address, delegator.address)
  assert.deepEqual(
    r1.delegations.map((d) => [d.validator, d.amount]),
    [[operator.address, (100n * STOS).toString()]],
  )

  // an epoch ends: the delegator earns a share of the validators' bucket, matured at once (maturityEpochs 0)
  const matured = await until('a matured reward', async () => {
    const rs = await client.rewards(delegator.address)
    return rs.some((r) => r.matured) ? rs : undefined
  })
  assert.ok(matured.every((r) => BigInt(r.amount) > 0n && r.wallet === delegator.address))
  const shown = json<{ rewards: RewardJson[] }>(
    await cli(['rewards', delegator.address, '--json', ...as(IDLE_HEX)], env),
  )
  assert.ok(shown.rewards.some((r) => r.matured))

  // withdraw: exactly the withdrawn amount (from the tx's event) arrives, minus the fee
  const b1 = (await client.account(delegator.address)).balance
  const withdrawn = json<TxOut & { withdrawn: string }>(await cli(['withdraw', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(withdrawn.code, 'OK')
  const wtx = await client.tx(withdrawn.hash)
  const event = wtx.result.events.find((e) => (e as { type: string }).type === 'withdraw_rewards') as {
    attributes: { amount: string; wallet: string }
  }
  assert.equal(event.attributes.wallet, delegator.address)
  const amount = BigInt(event.attributes.amount)
  assert.ok(amount >= matured.filter((r) => r.matured).reduce((s, r) => s + BigInt(r.amount), 0n))
  assert.equal((await client.account(delegator.address)).balance, b1 + amount - fee)
  assert.equal(withdrawn.withdrawn, amount.toString(), '--json says exactly what was paid out')

  // undelegate 40: the delegation drops at once, the tokens come back only after the unbonding period
  const b2 = (await client.account(delegator.address)).balance
  const undelegated = json<TxOut>(await cli(['undelegate', operator.address, '40', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(undelegated.code, 'OK')
  // (read over REST at once: a CLI process can take seconds to start on a loaded machine)
  const [d2, a2] = await Promise.all([client.delegations(delegator.address), client.account(delegator.address)])
  assert.deepEqual(
    d2.delegations.map((d) => d.amount),
    [(60n * STOS).toString()],
  )
  assert.deepEqual(
    d2.unbondings.map((u) => [u.amount, u.completionHeight]),
    [[(40n * STOS).toString(), undelegated.height + params.unbondingBlocks]],
  )
  const completion = d2.unbondings[0]!.completionHeight
  if ((await client.status()).height < completion)
    assert.equal(a2.balance, b2 - fee, 'nothing paid back before the unbonding period ends')
  const r2 = json<{ rewards: RewardJson[] } & DelegationsJson>(await cli(['rewards', '--json', ...as(FUNDED_HEX)], env))
  assert.deepEqual(
    r2.delegations.map((d) => d.amount),
    [(60n * STOS).toString()],
  )
  assert.ok(r2.unbondings.every((u) => u.amount === (40n * STOS).toString() && u.completionHeight === completion))
  await until('the unbonding to complete', async () =>
    (await client.status()).height >= completion ? true : undefined,
  )
  assert.equal((await client.account(delegator.address)).balance, b2 - fee + 40n * STOS)
  assert.deepEqual((await client.delegations(delegator.address)).unbondings, [])

  // a withdraw in human form says how much it paid out (the tx's event), in STOS
  await until('another matured reward', async () =>
    (await client.rewards(delegator.address)).some((r) => r.matured) ? true : undefined,
  )
  const human = await cli(['withdraw', ...as(FUNDED_HEX)], env)
  assert.equal(human.code, 0, human.stderr)
  const hash = /^tx ([0-9a-f]{64}) included/m.exec(human.stdout)?.[1]
  assert.ok(hash, human.stdout)
  const paid = (await client.tx(hash)).result.events.find(
    (e) => (e as { type: string }).type === 'withdraw_rewards',
  ) as { attributes: { amount: string } }
  assert.match(
    human.stdout,
    new RegExp(
      `^withdrew ${formatStos(BigInt(paid.attributes.amount)).replace('.', '\\.')} STOS of matured rewards$`,
      'm',
    ),
  )

  // failures: state-dependent ones are included and pay the fee; a parameter bound is refused at submission without one
  const i0 = await client.account(idle.address)
  // (idle's two txs one after the other: each reads the account nonce)
  const [[tooMuch, nothing], noValidator] = await Promise.all([
    (async () => [
      await cli(['undelegate', operator.address, '1', ...as(IDLE_HEX)], env),
      await cli(['withdraw', ...as(IDLE_HEX)], env),
    ])(), // no delegation, no rewards
    cli(['delegate', idle.address, '1', ...as(FUNDED_HEX)], env), // not a validator
  ])
  assert.equal(tooMuch.code, ERROR_CODES.INSUFFICIENT_FUNDS.exit, tooMuch.stderr)
  assert.match(tooMuch.stderr, /\(INSUFFICIENT_FUNDS\)/)
  // restated in STOS: what is delegated (nothing) and what was asked; the included tx paid its fee
  assert.match(tooMuch.stderr, /\b0 STOS delegated to st1\w+: cannot undelegate 1 STOS; .*fee was charged/)
  assert.doesNotMatch(tooMuch.stderr, /wei/)
  assert.match(noValidator.stderr, /\(NOT_FOUND\)/)
  assert.equal(noValidator.code, ERROR_CODES.NOT_FOUND.exit)
  assert.equal(nothing.code, ERROR_CODES.NOT_FOUND.exit, nothing.stderr)
  const i1 = await client.account(idle.address)
  assert.equal(
    i1.balance,
    i0.balance - 2n * fee,
    'the failed undelegate and withdraw were included and paid their fees',
  )
  assert.equal(i1.nonce, i0.nonce + 2n)
  const low = await cli(
    [
      'node',
      'register',
      '--data-dir',
      join(dir, 'low-node'),
      '--deposit',
      `${DEVNET_PARAMS.resourceNodeTiersWei[0]! - 1n}wei`,
      ...as(IDLE_HEX),
    ],
    env,
  )
  assert.equal(low.code, ERROR_CODES.BAD_REQUEST.exit, low.stderr)
  assert.match(low.stderr, /\(BAD_REQUEST\)/)
  assert.deepEqual(await client.account(idle.address), i1, 'a below-minimum registration costs nothing')
  const lowNode = NodeKey.loadOrCreate(join(dir, 'low-node')).address
  const nodes = await fetch(`${v.url}/nodes/resource`).then((r) => r.json() as Promise<Array<{ node: string }>>)
  assert.ok(!nodes.some((n) => n.node === lowNode))
})
