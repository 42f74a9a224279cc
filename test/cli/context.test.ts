import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CliContext } from '../../src/cli/context.ts'
import { networkFilePath, writeNetworkFile, type NetworkFile } from '../../src/devnet/network.ts'
import { loadOrCreateDevWallets } from '../../src/devnet/wallets.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { KeystoreDir } from '../../src/crypto/keystore.ts'
import { isStratosError } from '../../src/errors.ts'

function fixture(): { dir: string; network: NetworkFile } {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-cli-ctx-'))
  const wallets = loadOrCreateDevWallets(dir)
  const network: NetworkFile = {
    chainId: 'test-chain',
    dir,
    portBase: null,
    k: 4,
    m: 2,
    segmentSize: 1024,
    meta: { url: 'http://127.0.0.1:9', address: 'stsds1x' },
    gatewayUrl: 'http://127.0.0.1:10',
    processes: [],
    wallets,
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
    assert.deepEqual(
      network.wallets.map((w) => w.name),
      ['alice', 'bob', 'carol', 'gateway'],
    )
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
    assert.equal(
      new CliContext({ network: dir }, { STRATOS_MNEMONIC: carol.mnemonic }).wallet('required')?.address,
      carol.address,
    )
    assert.equal(
      new CliContext({ network: dir, wallet: 'bob' }, { STRATOS_MNEMONIC: carol.mnemonic }).wallet('required')?.address,
      bob.address,
    )
    assert.equal(
      new CliContext({ network: dir, key: hex, wallet: 'bob' }, {}).wallet('required')?.address,
      carol.address,
    )
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

test('address arguments: an st1… address, else a keystore name, else a dev wallet name; BAD_REQUEST otherwise', async () => {
  const { dir, network } = fixture()
  try {
    const [alice, bob] = network.wallets
    const keysDir = join(dir, 'keys')
    const saved = WalletKey.fromPrivateKeyHex('55'.repeat(32))
    // (cheapest scrypt the keystore accepts: the test needs the file, not its strength)
    await new KeystoreDir(keysDir, { kdf: { N: 2 ** 10, r: 8, p: 1 } }).save(
      'savings',
      { kind: 'private-key', privateKey: saved.privateKey },
      'pw',
    )
    // A keystore named like a dev wallet wins, as it does for --wallet.
    await new KeystoreDir(keysDir, { kdf: { N: 2 ** 10, r: 8, p: 1 } }).save(
      'bob',
      { kind: 'private-key', privateKey: saved.privateKey },
      'pw',
    )
    const ctx = new CliContext({ network: dir }, { STRATOS_KEYS_DIR: keysDir })
    assert.equal(ctx.resolveAddress(alice.address), alice.address)
    assert.equal(ctx.resolveAddress('alice'), alice.address)
    assert.equal(ctx.resolveAddress('savings'), saved.address, 'a keystore needs no password for its address')
    assert.equal(ctx.resolveAddress('bob'), saved.address)
    assert.notEqual(saved.address, bob.address)
    assert.throws(
      () => ctx.resolveAddress('mallory', 'recipient'),
      (e: unknown) =>
        code('BAD_REQUEST')(e) &&
        (e as { details?: { names?: string[] } }).details?.names?.includes('savings') === true,
    )
    const typo = alice.address.slice(0, -1) + (alice.address.endsWith('q') ? 'p' : 'q')
    assert.throws(() => ctx.resolveAddress(typo), code('BAD_REQUEST'))
    assert.equal(ctx.resolveAddress(alice.address.toUpperCase()), alice.address, "bech32's uppercase form")
    assert.throws(() => ctx.resolveAddress('St1' + alice.address.slice(3)), code('BAD_REQUEST'))
    // Without a network file, keystore names and addresses still work.
    const bare = new CliContext({ network: join(dir, 'nowhere') }, { STRATOS_KEYS_DIR: keysDir })
    assert.equal(bare.resolveAddress('savings'), saved.address)
    assert.throws(() => bare.resolveAddress('alice'), code('BAD_REQUEST'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("status's meta client: the chain id of the first answer must be the network's (no info round trip), unless --meta-url", async () => {
  const { dir } = fixture()
  try {
    const { meta, checkChain } = await new CliContext({ network: dir }, {}).metaClient()
    assert.deepEqual(meta.urls, ['http://127.0.0.1:9'])
    checkChain('test-chain')
    assert.throws(
      () => checkChain('other-chain'),
      (e: unknown) =>
        code('WRONG_CHAIN')(e) &&
        (e as Error).message === 'meta node at http://127.0.0.1:9 serves chain other-chain, not test-chain',
    )
    // --meta-url names a meta node outside any network file: no chain to compare with.
    const direct = await new CliContext({ network: dir, metaUrl: 'http://127.0.0.1:11' }, {}).metaClient()
    direct.checkChain('other-chain')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("client(): a meta node the network file lists gets the file's coding settings and its chain checked beside the first call", async () => {
  const { dir, network } = fixture()
  const seen: string[] = []
  const { createServer } = await import('node:http')
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    res.setHeader('content-type', 'application/json')
    if (req.url === '/v1/info') {
      res.end(
        JSON.stringify({
          address: 'stsds1x',
          key: 'k',
          chainId: 'other-chain',
          version: '0',
          defaults: { k: 2, m: 1, segmentSize: 4096 },
        }),
      )
      return
    }
    res.statusCode = 404
    res.end(JSON.stringify({ error: { code: 'FILE_NOT_FOUND', message: 'no such file' } }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  try {
    writeNetworkFile(dir, { ...network, meta: { url, address: 'stsds1x' } })
    const client = await new CliContext({ network: dir }, {}).client('none')
    try {
      assert.deepEqual([client.chainId, client.k, client.m, client.segmentSize], ['test-chain', 4, 2, 1024])
      // The meta node serves another chain: the first answer (a 404 here) is not taken, the check's refusal is.
      await assert.rejects(client.stat('QmRX9E8vFzfKjcXZ8ATwbSrMVAgCw4gdqGgp7NMX2Lono5'), code('WRONG_CHAIN'))
      assert.ok(seen.includes('GET /v1/info'))
    } finally {
      await client.close()
    }
    // --meta-url: a meta node outside the network file; its own defaults, learned before the client is returned.
    const direct = await new CliContext({ network: dir, metaUrl: url }, {}).client('none')
    try {
      assert.deepEqual([direct.chainId, direct.k, direct.m, direct.segmentSize], ['other-chain', 2, 1, 4096])
      await assert.rejects(direct.stat('QmRX9E8vFzfKjcXZ8ATwbSrMVAgCw4gdqGgp7NMX2Lono5'), code('FILE_NOT_FOUND'))
    } finally {
      await direct.close()
    }
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
