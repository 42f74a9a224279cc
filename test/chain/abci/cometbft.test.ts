/**
 * The ledger under a real CometBFT (issue 14, one validator): `stratos node validator --engine cometbft` as its own
 * process (which starts `cometbft` from .tools/bin), driven only through CometBFT's RPC on 127.0.0.1:
 *   - blocks are produced;
 *   - a signed transfer sent with broadcast_tx_sync passes CheckTx, is included, and abci_query shows the balances;
 *   - a malformed tx gets a non-zero CheckTx code and blocks keep coming;
 *   - the REST port's /readyz checks CometBFT (reachable, caught up with the app) and /metrics counts its blocks;
 *   - kill -9 of both processes, restart: the chain resumes, the app hash CometBFT recorded before the kill is the
 *     one the next block carries, and the transfer is still there (Info handshake + replay).
 * Without the binary this test skips with one line, except under CI=true, where it must run.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { cometbftBinary, cometHome } from '../../../src/chain/node/abci/cometbft.ts'
import { cliArgs } from '../../../src/devnet/devnet.ts'
import { encodeSignedTx, signTx } from '../../../src/chain/tx.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'

const STOS = 10n ** 18n
const FEE = 10n ** 13n
const CHAIN_ID = 'stratos-comet-test'
const missing = !existsSync(cometbftBinary()) && !process.env.CI
const skip = missing ? 'CometBFT is not built: `npm run setup:cometbft` builds it' : false

interface Started {
  child: ChildProcess
  cometPid: number
  rpc: string
  rest: string
}

async function startNode(dir: string, rpcPort: number, p2pPort: number, fund: string): Promise<Started> {
  const child = spawn(
    process.execPath,
    cliArgs(
      'node',
      'validator',
      '--engine',
      'cometbft',
      '--data-dir',
      dir,
      '--port',
      '0',
      '--chain-id',
      CHAIN_ID,
      '--fund',
      fund,
      '--block-interval-ms',
      '200',
      '--comet-rpc-port',
      String(rpcPort),
      '--comet-p2p-port',
      String(p2pPort),
    ),
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRATOS_LOG_LEVEL: 'warn' } },
  )
  let stderr = ''
  child.stderr!.on('data', (d) => {
    stderr += d
  })
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`validator exited ${code}: ${stderr}`)))
  })
  const m = /listening on (\S+): CometBFT RPC (\S+) \(pid (\d+)\)/.exec(line)
  assert.ok(m, line)
  return { child, rest: m[1]!, rpc: m[2]!, cometPid: Number(m[3]) }
}

async function rpc<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) })
  const body = (await res.json()) as { result?: T; error?: unknown }
  if (body.error || !body.result) throw new Error(`${path}: ${JSON.stringify(body.error)}`)
  return body.result
}

interface Status {
  sync_info: { latest_block_height: string; latest_app_hash: string }
}
const height = async (base: string): Promise<number> =>
  Number((await rpc<Status>(base, '/status')).sync_info.latest_block_height)

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function balance(base: string, address: string): Promise<bigint> {
  const r = await rpc<{ response: { code: number; value: string } }>(
    base,
    `/abci_query?path=${encodeURIComponent(JSON.stringify(`/accounts/${address}`))}`,
  )
  assert.equal(r.response.code, 0)
  const account = JSON.parse(Buffer.from(r.response.value, 'base64').toString()) as { balance: string }
  return BigInt(account.balance)
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()))

test('one validator on CometBFT: blocks, a transfer via broadcast_tx_sync, a malformed tx, kill -9 and replay', {
  skip,
  timeout: 180_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-comet-'))
  const alice = WalletKey.fromMnemonic(WalletKey.generateMnemonic())
  const bob = WalletKey.fromMnemonic(WalletKey.generateMnemonic())
  const rpcPort = 36000 + (process.pid % 1000) * 2
  let node: Started | undefined
  try {
    node = await startNode(dir, rpcPort, rpcPort + 1, alice.address)
    const base = node.rpc
    // The config CometBFT started with: no mempool recheck (the app keeps pending nonces), the RPC write timeout.
    const config = readFileSync(join(cometHome(dir), 'config', 'config.toml'), 'utf8')
    assert.match(config, /^\[mempool\][^[]*^recheck = false$/m)
    assert.match(config, /^timeout_broadcast_tx_commit = "35s"$/m)
    // Blocks are produced.
    const h0 = await until('block 2', async () => ((await height(base)) >= 2 ? height(base) : undefined))
    const t0 = Date.now()
    const h1 = await until('3 more blocks', async () => ((await height(base)) >= h0 + 3 ? height(base) : undefined))
    const blocksPerSecond = (h1 - h0) / ((Date.now() - t0) / 1000)

    // Readiness names CometBFT; metrics count the blocks CometBFT commits through the app.
    const ready = await fetch(`${node.rest}/readyz`)
    const readiness = (await ready.json()) as { ready: boolean; checks: Record<string, string> }
    assert.equal(ready.status, 200, JSON.stringify(readiness))
    assert.deepEqual(readiness.checks, { blocks: 'ok', cometbft: 'ok' })
    const metrics = await (await fetch(`${node.rest}/metrics`)).text()
    const metricHeight = Number(/^stratos_chain_height(?:{[^}]*})? (\d+)/m.exec(metrics)?.[1])
    assert.ok(metricHeight >= h1 - 1, `stratos_chain_height ${metricHeight}, CometBFT at ${h1}`)
    assert.match(metrics, /^stratos_chain_blocks_total(?:{[^}]*})? [1-9]/m)

    // A signed transfer through CometBFT's RPC.
    const startBalance = await balance(base, alice.address)
    const tx = signTx(alice, {
      chainId: CHAIN_ID,
      sender: alice.address,
      nonce: 0n,
      fee: FEE,
      msgs: [{ type: 'send', to: bob.address, amount: STOS }],
    })
    const hex = Buffer.from(encodeSignedTx(tx)).toString('hex')
    const sent = Date.now()
    const r = await rpc<{ code: number; log: string; hash: string }>(base, `/broadcast_tx_sync?tx=0x${hex}`)
    assert.equal(r.code, 0, r.log)
    await until('the transfer in a block', async () => ((await balance(base, bob.address)) === STOS ? true : undefined))
    const includeMs = Date.now() - sent
    // Alice is not a validator: the fee goes to the fee collector, not back to her.
    assert.equal(await balance(base, alice.address), startBalance - STOS - FEE)
    // CometBFT indexes a block's txs right after committing it: /tx may miss it for a moment.
    const included = await until('the tx indexed', () =>
      rpc<{ tx_result: { code: number }; height: string }>(base, `/tx?hash=0x${r.hash}`).catch(() => undefined),
    )
    assert.equal(included.tx_result.code, 0)

    // A malformed tx: non-zero CheckTx code, and the chain goes on.
    const bad = await rpc<{ code: number; log: string }>(
      base,
      `/broadcast_tx_sync?tx=0x${Buffer.from('{"tx":').toString('hex')}`,
    )
    assert.notEqual(bad.code, 0)
    assert.equal(bad.code !== 0 && bad.log.length > 0, true)
    // A second transfer with the already used nonce 0 (other bytes, so CometBFT's cache does not answer): the app
    // refuses it in CheckTx.
    const replayed = signTx(alice, {
      chainId: CHAIN_ID,
      sender: alice.address,
      nonce: 0n,
      fee: FEE,
      msgs: [{ type: 'send', to: bob.address, amount: 2n * STOS }],
    })
    const replay = await rpc<{ code: number; log: string }>(
      base,
      `/broadcast_tx_sync?tx=0x${Buffer.from(encodeSignedTx(replayed)).toString('hex')}`,
    )
    assert.notEqual(replay.code, 0)
    assert.match(replay.log, /nonce/)
    const hBad = await height(base)
    await until('blocks after the malformed tx', async () => ((await height(base)) >= hBad + 2 ? true : undefined))

    // kill -9 of both processes, then restart on the same directories.
    const before = (await rpc<Status>(base, '/status')).sync_info
    const hBefore = Number(before.latest_block_height)
    node.child.kill('SIGKILL')
    process.kill(node.cometPid, 'SIGKILL')
    await exited(node.child)
    await until('cometbft gone', async () => {
      try {
        process.kill(node!.cometPid, 0)
        return undefined
      } catch {
        return true
      }
    })
    const restarted = Date.now()
    node = await startNode(dir, rpcPort, rpcPort + 1, alice.address)
    await until(
      'a block after the restart',
      async () => ((await height(base)) > hBefore + 1 ? true : undefined),
      60_000,
    )
    const restartMs = Date.now() - restarted
    // Block hBefore+1 carries the app hash after block hBefore: the same one CometBFT recorded before the kill,
    // unless the app was killed between FinalizeBlock and Commit of a later block (then it replayed it).
    const next = await rpc<{ block: { header: { app_hash: string } } }>(base, `/block?height=${hBefore + 1}`)
    assert.equal(next.block.header.app_hash, before.latest_app_hash)
    const info = await rpc<{ response: { last_block_height: string } }>(base, '/abci_info')
    assert.ok(Number(info.response.last_block_height) > hBefore)
    assert.equal(await balance(base, bob.address), STOS)
    console.log(
      `cometbft: ${blocksPerSecond.toFixed(1)} blocks/s, tx included in ${includeMs} ms, restart after kill -9 to a new block in ${restartMs} ms (height ${hBefore} → ${await height(base)})`,
    )
  } finally {
    if (node) {
      node.child.kill('SIGTERM')
      await exited(node.child)
      try {
        process.kill(node.cometPid, 'SIGKILL')
      } catch {
        // already stopped with the validator
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
})
