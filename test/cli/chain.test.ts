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
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { ERROR_CODES } from '../../src/errors.ts'
import { formatStosAmount, parseAmount } from '../../src/chain/client.ts'

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts')
const FUNDED_HEX = '11'.repeat(32)
const EMPTY_HEX = '22'.repeat(32)

interface Run { code: number; stdout: string; stderr: string }

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

function json<T>(r: Run): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface AccountOut { address: string; balance: string; nonce: string; ozone: string }
interface TxOut { hash: string; sender: string; nonce: string; fee: string; height: number; code: string }

test('amounts parse to exact wei and print trimmed', () => {
  assert.equal(parseAmount('12.5stos'), 12_500_000_000_000_000_000n)
  assert.equal(parseAmount('1000wei'), 1000n)
  assert.equal(parseAmount('3'), 3n * 10n ** 18n)
  assert.equal(parseAmount('0.000000000000000001'), 1n)
  for (const bad of ['-1', '1.0000000000000000001', '1.5wei', 'abc', '', '1e18', '0x10']) {
    assert.throws(() => parseAmount(bad), (e: { code?: string }) => e.code === 'BAD_REQUEST', bad)
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
  const v = await startValidator({ dataDir: join(dir, 'chain'), port: 0, wallets: [funded.address], blockIntervalMs: 100 })
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
  const sent = json<TxOut>(await cli(['send', recipient.address, '12.5stos', '--fee', '1000000000000000wei', '--json', ...as(FUNDED_HEX)], env))
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
  assert.match(badAmount.stderr, /\(BAD_REQUEST\)/)
  assert.equal(badAmount.code, 2)
  assert.equal(negative.code, 2)

  // prepay, then the wallet holds ozone
  const prepaid = json<TxOut>(await cli(['prepay', '1', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(prepaid.code, 'OK')
  const oz = json<{ address: string; ozone: string; market: { weiPerGiB: string | null } }>(await cli(['ozone', '--json', ...as(FUNDED_HEX)], env))
  assert.equal(oz.address, funded.address)
  assert.ok(BigInt(oz.ozone) > 0n)
  assert.ok(oz.market.weiPerGiB !== null && BigInt(oz.market.weiPerGiB) > 0n)

  // chain status / block / tx
  const [status, block, tx, txHuman, missing] = await Promise.all([
    cli(['chain', 'status', '--json', '--chain-url', v.url], env).then((r) => json<{ chainId: string; height: number }>(r)),
    cli(['chain', 'block', String(sent.height), '--json', '--chain-url', v.url], env).then((r) => json<{ header: { height: number }; results: Array<{ hash: string; code: string }> }>(r)),
    cli(['chain', 'tx', sent.hash, '--json', '--chain-url', v.url], env).then((r) => json<{ hash: string; height: number; result: { code: string } }>(r)),
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
