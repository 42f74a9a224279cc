/** Native BIP-39/BIP-32 derivation (src/crypto/hd-key.ts) against @scure/bip39 + @scure/bip32 on random mnemonics and paths. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HDKey } from '@scure/bip32'
import { generateMnemonic, mnemonicToSeedSync } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { derivePrivateKey, mnemonicToSeed, secp256k1PublicKey } from '../../src/crypto/hd-key.ts'
import { isStratosError } from '../../src/errors.ts'

test('seeds, derived keys and public keys equal the reference libraries', () => {
  const paths = ["m/44'/606'/0'/0/0", "m/44'/60'/0'/0/7", 'm/0/1/2', "m/2147483647'/5", 'm']
  for (let i = 0; i < 8; i++) {
    const words = generateMnemonic(wordlist, i % 2 ? 256 : 128)
    const passphrase = i % 3 === 0 ? 'pässwort' : ''
    const seed = mnemonicToSeed(words, passphrase)
    assert.deepEqual(Buffer.from(seed), Buffer.from(mnemonicToSeedSync(words, passphrase)))
    for (const path of paths) {
      const ours = derivePrivateKey(seed, path)
      const ref = HDKey.fromMasterSeed(seed).derive(path).privateKey
      assert.deepEqual(Buffer.from(ours).toString('hex'), Buffer.from(ref as Uint8Array).toString('hex'), path)
      assert.deepEqual(Buffer.from(secp256k1PublicKey(ours, true)), Buffer.from(secp256k1.getPublicKey(ours, true)))
      assert.deepEqual(Buffer.from(secp256k1PublicKey(ours, false)), Buffer.from(secp256k1.getPublicKey(ours, false)))
    }
  }
})

test('malformed paths are BAD_REQUEST', () => {
  const seed = mnemonicToSeed(generateMnemonic(wordlist))
  for (const bad of ["44'/0", 'm/x', "m/2147483648'", 'm//1', "m/1''"])
    assert.throws(
      () => derivePrivateKey(seed, bad),
      (e: unknown) => isStratosError(e, 'BAD_REQUEST'),
    )
})
