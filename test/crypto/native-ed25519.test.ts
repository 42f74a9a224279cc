/**
 * libsodium as the node-signature accelerator: byte-equal signatures, the same answers on good and bad signatures as
 * node:crypto, and a process without it keeps working (the accelerator can be removed).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { NodeKey, setNodeCryptoAccelerator, verifyNodeSignature } from '../../src/crypto/node-key.ts'
import { installNativeNodeCrypto, nativeEd25519LoadError } from '../../src/crypto/native-ed25519.ts'

test('libsodium signs the bytes node:crypto signs, and both verify alike', (t) => {
  t.after(() => setNodeCryptoAccelerator(undefined))
  const keys = Array.from({ length: 8 }, (_, i) => new NodeKey(new Uint8Array(32).fill(i + 1)))
  const messages = [new Uint8Array(0), new Uint8Array([1, 2, 3]), randomBytes(300), randomBytes(4096)]
  const plain = keys.map((k) => messages.map((m) => k.sign(m)))
  assert.equal(installNativeNodeCrypto(), true, `libsodium loads here (${nativeEd25519LoadError()})`)
  for (const [i, k] of keys.entries()) {
    for (const [j, m] of messages.entries()) {
      const fast = k.sign(m)
      assert.deepEqual(Buffer.from(fast), Buffer.from(plain[i]![j]!), 'deterministic: the same signature')
      assert.equal(verifyNodeSignature(k.publicKey, m, fast), true)
      const changed = Uint8Array.from(fast)
      changed[j * 7]! ^= 0x40
      assert.equal(verifyNodeSignature(k.publicKey, m, changed), false, 'a changed signature is refused')
      assert.equal(verifyNodeSignature(keys[(i + 1) % keys.length]!.publicKey, m, fast), false, 'another key')
      // s ≥ L (not canonical): node:crypto refuses it too.
      const highS = Uint8Array.from(fast)
      highS.fill(0xff, 32)
      assert.equal(verifyNodeSignature(k.publicKey, m, highS), false)
    }
  }
  // Views into larger buffers (as messages arrive from sockets) are read in place, not from their buffer's start.
  const backing = randomBytes(1000)
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 300)
  const sig = keys[0]!.sign(view)
  assert.equal(verifyNodeSignature(keys[0]!.publicKey, Uint8Array.from(view), sig), true)
  // Malformed input answers false, never throws.
  assert.equal(verifyNodeSignature(new Uint8Array(32), messages[2]!, sig), false)
  setNodeCryptoAccelerator(undefined)
  assert.equal(verifyNodeSignature(keys[0]!.publicKey, Uint8Array.from(view), sig), true, 'node:crypto agrees')
})
