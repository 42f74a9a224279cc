import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { opensslSignRecoverable, opensslWalletSigner } from '../../src/crypto/openssl-wallet-sign.ts'
import { WalletKey, recoverWalletAddress, setWalletCryptoAccelerator } from '../../src/crypto/wallet-key.ts'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const hex32 = (x: bigint) => Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'))

test('the bytes @noble/curves gives (RFC 6979, low s, recovery ‖ r ‖ s), for random and edge keys and digests', () => {
  const keys = [hex32(1n), hex32(N - 1n), hex32(2n ** 255n), ...Array.from({ length: 200 }, () => randomBytes(32))]
  const digests = [new Uint8Array(32), new Uint8Array(32).fill(0xff), hex32(N), hex32(N + 5n)]
  const recoveries = new Set<number>()
  for (const [i, key] of keys.entries()) {
    const digest = digests[i] ?? randomBytes(32)
    const ours = opensslSignRecoverable(digest, key)
    const noble = secp256k1.sign(digest, key, { prehash: false, format: 'recovered' })
    assert.ok(ours, `signed with key #${i}`)
    assert.deepEqual(Buffer.from(ours), Buffer.from(noble), `key #${i}`)
    const pub = secp256k1.recoverPublicKey(ours, digest, { prehash: false })
    assert.deepEqual(Buffer.from(pub), Buffer.from(secp256k1.getPublicKey(key, true)))
    recoveries.add(ours[0]!)
  }
  assert.deepEqual([...recoveries].sort(), [0, 1], 'both parities of the nonce point occur')
})

test('what it does not sign is left to @noble/curves (null): keys outside [1, n), wrong lengths', () => {
  const digest = randomBytes(32)
  assert.equal(opensslSignRecoverable(digest, new Uint8Array(32)), null)
  assert.equal(opensslSignRecoverable(digest, hex32(N)), null)
  assert.equal(opensslSignRecoverable(digest, randomBytes(31)), null)
  assert.equal(opensslSignRecoverable(randomBytes(33), randomBytes(32)), null)
})

test('installed as the accelerator: WalletKey signatures recover to the wallet and equal the pure-JS ones', () => {
  const wallet = WalletKey.fromPrivateKeyHex(randomBytes(32).toString('hex'))
  const message = new TextEncoder().encode('{"action":"upload.create"}')
  const plain = wallet.sign(message)
  setWalletCryptoAccelerator(opensslWalletSigner)
  try {
    const fast = wallet.sign(message)
    assert.deepEqual(Buffer.from(fast), Buffer.from(plain))
    assert.equal(recoverWalletAddress(message, fast), wallet.address)
    assert.deepEqual(
      Buffer.from(fast),
      Buffer.from(secp256k1.sign(keccak_256(message), wallet.privateKey, { prehash: false, format: 'recovered' })),
    )
  } finally {
    setWalletCryptoAccelerator(null)
  }
})
