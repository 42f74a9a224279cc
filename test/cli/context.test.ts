import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CliContext } from '../../src/cli/context.ts'
import { networkFilePath, writeNetworkFile, type NetworkFile } from '../../src/devnet/network.ts'
import { loadOrCreateDevWallets } from '../../src/devnet/wallets.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../src/errors.ts'

function fixture(): { dir: string; network: NetworkFile } {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-cli-ctx-'))
  const wallets = loadOrCreateDevWallets(dir)
  const network: NetworkFile = {
    chainId: 'test-chain', dir, portBase: null, k: 4, m: 2, segmentSize: 1024,
    meta: { url: 'http://127.0.0.1:9', address: 'stsds1x' }, gatewayUrl: 'http://127.0.0.1:10',
    processes: [], wallets,
  }
  writeNetworkFile(dir, network)
  return { dir, network }
}

const code = (c: string) => (e: unknown) => isStratosError(e) && e.code === c

test('network discovery: --network dir or file, STRATOS_HOME, default ~/.stratos/devnet', () => {
  assert.equal(networkFilePath('/x/net', {}), '/x/net/devnet.json')
  assert.equal(networkFilePath('/x/net/devnet.json', {}), '/x/net/devnet.json')
  assert.equal(networkFilePath(undefined, { STRATOS_HOME: '/h' }), '/h/devnet.json')
  assert.equal(networkFilePath(undefined, {}), join(homedir(), '.stratos', 'devnet', 'devnet.json'))
})

test('dev wallets are generated once and reused', () => {
  const { dir, network } = fixture()
  try {
    assert.deepEqual(loadOrCreateDevWallets(dir), network.wallets)
    assert.deepEqual(network.wallets.map((w) => w.name), ['alice', 'bob', 'carol', 'gateway'])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('wallet resolution: --key, then --wallet, then STRATOS_MNEMONIC, then the first dev wallet', () => {
  const { dir, network } = fixture()
  try {
    const [alice, bob, carol] = network.wallets
    const key = WalletKey.fromMnemonic(carol.mnemonic)
    const hex = Buffer.from(key.privateKey).toString('hex')
    assert.equal(new CliContext({ network: dir }, {}).wallet('required')?.address, alice.address)
    assert.equal(new CliContext({ network: dir, wallet: 'bob' }, {}).wallet('required')?.address, bob.address)
    assert.equal(new CliContext({ network: dir }, { STRATOS_MNEMONIC: carol.mnemonic }).wallet('required')?.address, carol.address)
    assert.equal(new CliContext({ network: dir, wallet: 'bob' }, { STRATOS_MNEMONIC: carol.mnemonic }).wallet('required')?.address, bob.address)
    assert.equal(new CliContext({ network: dir, key: hex, wallet: 'bob' }, {}).wallet('required')?.address, carol.address)
    assert.equal(new CliContext({ network: dir }, {}).wallet('none'), undefined)
    assert.throws(() => new CliContext({ network: dir, wallet: 'mallory' }, {}).wallet('required'), code('BAD_REQUEST'))
    assert.throws(() => new CliContext({ network: dir, key: 'zz' }, {}).wallet('required'), code('BAD_REQUEST'))
    assert.equal(new CliContext({ network: dir }, {}).metaUrl(), 'http://127.0.0.1:9')
    assert.equal(new CliContext({ network: dir, metaUrl: 'http://h:1/' }, {}).metaUrl(), 'http://h:1')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a missing network is NETWORK_CONFIG; --meta-url alone needs no network file', () => {
  const missing = join(tmpdir(), 'stratos-no-such-network')
  assert.throws(() => new CliContext({ network: missing }, {}).metaUrl(), code('NETWORK_CONFIG'))
  assert.throws(() => new CliContext({}, { STRATOS_HOME: missing }).wallet('required'), code('NETWORK_CONFIG'))
  const ctx = new CliContext({ metaUrl: 'http://127.0.0.1:1' }, { HOME: missing })
  assert.equal(ctx.metaUrl(), 'http://127.0.0.1:1')
})
