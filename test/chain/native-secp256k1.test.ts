/**
 * The native (libsecp256k1) signer recovery must agree with `recoverTxSigner` (pure JS) on every
 * input: the same accept/reject decision and the same address.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import {
  createRecoverSigner,
  installNativeWalletCrypto,
  loadNativeSecp256k1,
  recoverSigner,
  recoverTxSignerWith,
} from '../../src/chain/native-secp256k1.ts'
import { recoverTxSigner, signTx, txEnvelope, type SignedTx, type Tx } from '../../src/chain/tx.ts'
import { WalletKey, recoverWalletAddress, setWalletCryptoAccelerator } from '../../src/crypto/wallet-key.ts'
import { seededRandom } from '../../src/util/components.ts'

const N = secp256k1.Point.CURVE().n
const P = secp256k1.Point.CURVE().p
const native = loadNativeSecp256k1()
const hex32 = (x: bigint) => x.toString(16).padStart(64, '0')

function tx(sender: string, to: string, nonce: bigint): Tx {
  return {
    chainId: 'stratos-test',
    sender,
    nonce,
    fee: 1000n + nonce,
    msgs: [{ type: 'send', to, amount: 1n + nonce * 7n }],
  }
}

/** Asserts both backends give the same answer; returns it. */
function agree(signed: SignedTx, label: string): string | null {
  assert.ok(native, 'the native binding loads on this machine')
  const env = txEnvelope(signed)
  const js = recoverTxSigner(env)
  assert.equal(recoverTxSignerWith(native, env), js, label)
  return js
}

test('the native binding loads and the default recoverSigner uses it', () => {
  assert.ok(native)
  assert.equal(createRecoverSigner().native, true)
})

test('native and pure-JS recovery agree on 600 random signed transactions', () => {
  const random = seededRandom(606)
  const keys = Array.from({ length: 40 }, () => new WalletKey(random(32)))
  for (let i = 0; i < 600; i++) {
    const from = keys[i % keys.length]
    const to = keys[(i * 7 + 3) % keys.length]
    const signed = signTx(from, tx(from.address, to.address, BigInt(i)))
    assert.equal(agree(signed, `tx ${i}`), from.address)
    assert.equal(recoverSigner(txEnvelope(signed)), from.address)
  }
})

test('native and pure-JS recovery agree on 600 random (r, s, recovery) signatures', () => {
  const random = seededRandom(7)
  const k = new WalletKey(random(32))
  const base = tx(k.address, k.address, 1n)
  let accepted = 0
  for (let i = 0; i < 600; i++) {
    const bytes = random(65)
    bytes[0] = bytes[0] & 1
    if (i % 2 === 0) bytes[33] &= 0x7f // mostly low s, so most reach the curve arithmetic
    const r = agree({ tx: base, signature: Buffer.from(bytes).toString('hex') }, `random sig ${i}`)
    if (r !== null) accepted++
  }
  assert.ok(accepted > 100, `some random signatures recover (got ${accepted})`)
})

test('edge cases: high s, recovery bytes, lengths, zero and out-of-range r or s, r not on the curve', () => {
  const k = new WalletKey(new Uint8Array(32).fill(9))
  const t = tx(k.address, k.address, 5n)
  const good = signTx(k, t).signature
  const rec = good.slice(0, 2)
  const r = BigInt('0x' + good.slice(2, 66))
  const s = BigInt('0x' + good.slice(66))
  const flipped = rec === '00' ? '01' : '00'
  // An x with no point on the curve (x^3 + 7 not a square mod p).
  let notX = 5n
  const isSquare = (v: bigint) => {
    let b = v % P,
      e = (P - 1n) / 2n,
      acc = 1n
    while (e > 0n) {
      if (e & 1n) acc = (acc * b) % P
      b = (b * b) % P
      e >>= 1n
    }
    return acc === 1n
  }
  while (isSquare((notX ** 3n + 7n) % P)) notX++
  const cases: Array<[string, string, boolean]> = [
    ['the good signature', good, true],
    ['high s (N - s, other recovery byte)', flipped + hex32(r) + hex32(N - s), false],
    ['s = N/2 + 1', rec + hex32(r) + hex32((N >> 1n) + 1n), false],
    ['s = N/2 (the largest low s)', rec + hex32(r) + hex32(N >> 1n), true],
    ['recovery byte flipped (another key)', flipped + good.slice(2), true],
    ['recovery byte 2', '02' + good.slice(2), false],
    ['recovery byte 3', '03' + good.slice(2), false],
    ['recovery byte 27 (Ethereum v)', '1b' + good.slice(2), false],
    ['uppercase hex', good.toUpperCase(), false],
    ['64 bytes', good.slice(2), false],
    ['66 bytes', good + '00', false],
    ['empty', '', false],
    ['not hex', 'zz' + good.slice(2), false],
    ['r = 0', rec + hex32(0n) + hex32(s), false],
    ['s = 0', rec + hex32(r) + hex32(0n), false],
    ['r = N', rec + hex32(N) + hex32(s), false],
    ['r = N + 1', rec + hex32(N + 1n) + hex32(s), false],
    ['r = 2^256 - 1', rec + 'f'.repeat(64) + hex32(s), false],
    ['r not an x coordinate', rec + hex32(notX) + hex32(s), false],
    ['r = 1, s = 1', rec + hex32(1n) + hex32(1n), true],
  ]
  for (const [label, signature, recovers] of cases) {
    const got = agree({ tx: t, signature }, label)
    assert.equal(got !== null, recovers, label)
  }
  assert.equal(agree({ tx: t, signature: good }, 'good'), k.address)
  assert.notEqual(agree({ tx: { ...t, nonce: 6n }, signature: good }, 'other message'), k.address)
})

test('without the binding, recovery falls back to pure JS and warns exactly once', () => {
  const warnings: unknown[] = []
  const fallback = createRecoverSigner({
    native: null,
    logger: {
      warn: (details, message) => {
        warnings.push([details, message])
      },
    },
  })
  assert.equal(fallback.native, false)
  const k = new WalletKey(new Uint8Array(32).fill(3))
  for (let i = 0; i < 3; i++)
    assert.equal(fallback(txEnvelope(signTx(k, tx(k.address, k.address, BigInt(i))))), k.address)
  assert.equal(warnings.length, 1)
})

test('wallet requests through libsecp256k1: the same signatures, and the same recovered address or refusal as @noble/curves', () => {
  assert.ok(native, 'the native binding loads on this machine')
  const random = seededRandom(77)
  const keys = Array.from({ length: 20 }, () => new WalletKey(random(32)))
  const messages = Array.from({ length: 20 }, (_, i) => random(1 + i * 13))
  const jsSigs = keys.map((k, i) => k.sign(messages[i]!))
  // Forged and odd signatures too: high s (a valid signature, recovered by noble only), recovery bytes 2 and 3,
  // random bytes.
  const odd: Uint8Array[] = []
  for (const sig of jsSigs.slice(0, 5)) {
    const s = BigInt('0x' + Buffer.from(sig.subarray(33)).toString('hex'))
    const high = new Uint8Array(sig)
    high[0] = sig[0]! ^ 1
    high.set(Buffer.from(hex32(N - s), 'hex'), 33)
    odd.push(high)
    for (const r of [2, 3]) {
      const x = new Uint8Array(sig)
      x[0] = r
      odd.push(x)
    }
    odd.push(random(65))
  }
  const jsRecovered = [...jsSigs, ...odd].map((sig, i) => recoverWalletAddress(messages[i % 20]!, sig))
  assert.ok(installNativeWalletCrypto())
  try {
    for (const [i, k] of keys.entries()) assert.deepEqual(k.sign(messages[i]!), jsSigs[i], `signature ${i}`)
    for (const [i, sig] of [...jsSigs, ...odd].entries())
      assert.equal(recoverWalletAddress(messages[i % 20]!, sig), jsRecovered[i], `recovery ${i}`)
    assert.deepEqual(
      jsRecovered.slice(0, 20),
      keys.map((k) => k.address),
    )
  } finally {
    setWalletCryptoAccelerator(null)
  }
})
