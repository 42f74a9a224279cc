/** Encrypted keystores: round trips, wrong passwords, tampering, names, file modes, KDF bounds. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  KeystoreDir,
  decryptKeystore,
  encryptKeystore,
  parseKeystore,
  validateKeystoreName,
  KEYSTORE_SCRYPT_DEFAULT,
  type KeystoreFile,
} from '../../src/crypto/keystore.ts'
import { WalletKey, WALLET_HD_PATH } from '../../src/crypto/wallet-key.ts'
import { isStratosError, type ErrorCode } from '../../src/errors.ts'

const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const FAST = { N: 2 ** 10, r: 8, p: 1 }

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (e: unknown) => isStratosError(e, code),
  )
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratos-keys-'))
    try {
      await fn(dir)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

test('a mnemonic keystore round-trips with the default KDF parameters', async () => {
  const f = await encryptKeystore(
    'main',
    { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH },
    'correct horse',
  )
  assert.deepEqual({ N: f.kdf.N, r: f.kdf.r, p: f.kdf.p }, KEYSTORE_SCRYPT_DEFAULT)
  assert.equal(f.address, 'st18yesadx3t8x3jjsygpqeqzh0j7xh2vh66945zx')
  assert.equal(f.publicKey, '03258d3a4003527ec82d93553d419c66b976681d09dba38b02a84bb80e45071f27')
  assert.ok(!JSON.stringify(f).includes('abandon'))
  const { secret, key } = await decryptKeystore(f, 'correct horse')
  assert.equal(key.address, f.address)
  assert.deepEqual(secret, { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH })
})

test('a private-key keystore round-trips', async () => {
  const pk = WalletKey.fromPrivateKeyHex('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')
  const f = await encryptKeystore('raw', { kind: 'private-key', privateKey: pk.privateKey }, 'pw', { kdf: FAST })
  const { secret, key } = await decryptKeystore(f, 'pw')
  assert.equal(key.address, 'st1936ndcmqtkwpdfar67ccnrjjjwt2vhprets4cw')
  assert.equal(secret.kind, 'private-key')
})

test('a wrong password is BAD_PASSWORD', async () => {
  const f = await encryptKeystore('a', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, 'right', {
    kdf: FAST,
  })
  await rejectsWith(decryptKeystore(f, 'wrong'), 'BAD_PASSWORD')
  await rejectsWith(decryptKeystore(f, ''), 'BAD_PASSWORD')
})

test('tampering with the ciphertext, tag, iv, salt, address or KDF parameters is detected', async () => {
  const f = await encryptKeystore('a', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, 'pw', {
    kdf: FAST,
  })
  const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1)
  const other = WalletKey.fromPrivateKeyHex('11'.repeat(32)).address
  const tampered: KeystoreFile[] = [
    { ...f, cipher: { ...f.cipher, ciphertext: flip(f.cipher.ciphertext) } },
    { ...f, cipher: { ...f.cipher, tag: flip(f.cipher.tag) } },
    { ...f, cipher: { ...f.cipher, iv: flip(f.cipher.iv) } },
    { ...f, kdf: { ...f.kdf, salt: flip(f.kdf.salt) } },
    { ...f, kdf: { ...f.kdf, N: 2 ** 11 } },
    { ...f, address: other },
    { ...f, publicKey: (f.publicKey.startsWith('02') ? '03' : '02') + f.publicKey.slice(2) },
    { ...f, name: 'b' },
    { ...f, path: "m/44'/606'/0'/0/1" },
  ]
  for (const t of tampered) await rejectsWith(decryptKeystore(t, 'pw'), 'BAD_PASSWORD')
  // Structural damage is caught before any decryption.
  await rejectsWith(decryptKeystore({ ...f, cipher: { ...f.cipher, tag: f.cipher.tag.slice(2) } }, 'pw'), 'BAD_REQUEST')
  await rejectsWith(decryptKeystore({ ...f, kdf: { ...f.kdf, N: 3000 } }, 'pw'), 'BAD_REQUEST')
  await rejectsWith(decryptKeystore({ ...f, kdf: { ...f.kdf, N: 2 ** 19 } }, 'pw'), 'BAD_REQUEST') // above the memory cap
  await rejectsWith(decryptKeystore({ ...f, kdf: { ...f.kdf, r: 16 } }, 'pw'), 'BAD_REQUEST')
  await rejectsWith(decryptKeystore({ ...f, version: 2 } as unknown as KeystoreFile, 'pw'), 'BAD_REQUEST')
  assert.throws(
    () => parseKeystore({ ...f, extra: 1 }),
    (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
  )
})

test('names that could escape the keys directory or are otherwise odd are rejected', async () => {
  for (const bad of [
    '',
    '.',
    '..',
    '../x',
    'a/b',
    'a\\b',
    '.hidden',
    'a..b',
    '-x',
    'x'.repeat(65),
    'a b',
    'é',
    'a\0b',
    '/etc/passwd',
  ]) {
    assert.throws(
      () => validateKeystoreName(bad),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
      JSON.stringify(bad),
    )
  }
  for (const good of ['a', 'alice', 'My-Wallet_2', 'w.1', 'x'.repeat(64)])
    assert.equal(validateKeystoreName(good), good)
  await rejectsWith(
    encryptKeystore('../evil', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, 'pw', { kdf: FAST }),
    'BAD_REQUEST',
  )
  await rejectsWith(
    encryptKeystore('ok', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, '', { kdf: FAST }),
    'BAD_REQUEST',
  )
  await rejectsWith(
    encryptKeystore('ok', { kind: 'mnemonic', mnemonic: 'abandon abandon', path: WALLET_HD_PATH }, 'pw', { kdf: FAST }),
    'BAD_REQUEST',
  )
})

test(
  'a keys directory saves 0600 files in a 0700 directory, lists, loads, refuses duplicates',
  withDir(async (root) => {
    const dir = join(root, 'keys')
    const keys = new KeystoreDir(dir, { kdf: FAST })
    assert.deepEqual(keys.list(), [])
    const a = await keys.save('alice', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, 'pw-a')
    const bKey = WalletKey.fromPrivateKeyHex('22'.repeat(32))
    await keys.save('bob', { kind: 'private-key', privateKey: bKey.privateKey }, 'pw-b')
    assert.equal(statSync(keys.pathOf('alice')).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.deepEqual(
      keys.list().map((e) => [e.name, e.address, e.kind]),
      [
        ['alice', a.address, 'mnemonic'],
        ['bob', bKey.address, 'private-key'],
      ],
    )
    assert.equal((await keys.load('bob', 'pw-b')).key.address, bKey.address)
    await rejectsWith(keys.load('alice', 'pw-b'), 'BAD_PASSWORD')
    await rejectsWith(keys.load('carol', 'pw'), 'NOT_FOUND')
    await rejectsWith(keys.load('../alice', 'pw-a'), 'BAD_REQUEST')
    assert.equal(keys.has('alice'), true)
    assert.equal(keys.has('../keys/alice'), false)
    assert.throws(
      () => keys.pathOf('../keys/alice'),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
    )
    await rejectsWith(keys.save('alice', { kind: 'private-key', privateKey: bKey.privateKey }, 'x'), 'CONFLICT')
    assert.equal((await keys.load('alice', 'pw-a')).key.address, a.address, 'a refused save leaves the old keystore')
    await keys.save('alice', { kind: 'private-key', privateKey: bKey.privateKey }, 'x', { overwrite: true })
    assert.equal((await keys.load('alice', 'x')).key.address, bKey.address)
  }),
)

test(
  'corrupt or renamed files are skipped by list and rejected by load',
  withDir(async (dir) => {
    const keys = new KeystoreDir(dir, { kdf: FAST })
    await keys.save('good', { kind: 'mnemonic', mnemonic: MNEMONIC, path: WALLET_HD_PATH }, 'pw')
    writeFileSync(join(dir, 'junk.json'), '{not json')
    writeFileSync(join(dir, 'renamed.json'), readFileSync(keys.pathOf('good')))
    writeFileSync(join(dir, 'notes.txt'), 'hello')
    assert.deepEqual(
      keys.list().map((e) => e.name),
      ['good'],
    )
    await rejectsWith(keys.load('junk', 'pw'), 'BAD_REQUEST')
    await rejectsWith(keys.load('renamed', 'pw'), 'BAD_REQUEST')
  }),
)
