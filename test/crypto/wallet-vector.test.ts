/**
 * Known-answer vectors for wallet addresses. The expected values were NOT produced by our code:
 * they come from test/crypto/wallet-vector.py, a pure-Python-stdlib derivation (PBKDF2-HMAC-SHA512
 * BIP-39 seed, BIP-32 CKDpriv with textbook secp256k1 arithmetic, a hand-written keccak-f[1600]
 * checked against hashlib.sha3_256 and keccak256(""), bech32 from BIP-173):
 *
 *   python3 test/crypto/wallet-vector.py 4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318
 *
 * The raw-key vectors are cross-checked against well-known Ethereum addresses (same keccak-256
 * rule): key 1 → 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf, key 4c08…2318 →
 * 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23. If any of these fail, our derivation changed.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bech32 } from '@scure/base'
import { WalletKey, isWalletAddress, walletAddressFromPublicKey, WALLET_HD_PATH } from '../../src/crypto/wallet-key.ts'

const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'

test("the \"abandon … about\" mnemonic at m/44'/606'/0'/0/0 gives the independently computed address", () => {
  assert.equal(WALLET_HD_PATH, "m/44'/606'/0'/0/0")
  const key = WalletKey.fromMnemonic(MNEMONIC)
  assert.equal(
    Buffer.from(key.privateKey).toString('hex'),
    'e3df8df9b971c35167691356293a15e511df59520f8ff64a74afbf4293aebadd',
  )
  assert.equal(key.address, 'st18yesadx3t8x3jjsygpqeqzh0j7xh2vh66945zx')
  assert.equal(
    walletAddressFromPublicKey(
      Buffer.from('03258d3a4003527ec82d93553d419c66b976681d09dba38b02a84bb80e45071f27', 'hex'),
    ),
    key.address,
  )
  assert.ok(isWalletAddress(key.address))
})

test('raw private keys give the independently computed addresses', () => {
  assert.equal(
    WalletKey.fromPrivateKeyHex('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318').address,
    'st1936ndcmqtkwpdfar67ccnrjjjwt2vhprets4cw',
  )
  assert.equal(WalletKey.fromPrivateKeyHex('00'.repeat(31) + '01').address, 'st10e0525sfrf53yh2aljmm3sn9jq5njk7lcdc5pv')
})

test('the address payload is the Ethereum address of the same key', () => {
  const payload = (addr: string) =>
    Buffer.from(bech32.fromWords(bech32.decode(addr as `${string}1${string}`).words)).toString('hex')
  assert.equal(payload('st1936ndcmqtkwpdfar67ccnrjjjwt2vhprets4cw'), '2c7536e3605d9c16a7a3d7b1898e529396a65c23')
  assert.equal(payload('st10e0525sfrf53yh2aljmm3sn9jq5njk7lcdc5pv'), '7e5f4552091a69125d5dfcb7b8c2659029395bdf')
})
