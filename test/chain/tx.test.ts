/**
 * Transaction encoding, signing and decoding of untrusted input: every bad input gets a typed
 * error code (BAD_REQUEST, UNKNOWN_MESSAGE), never a crash.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bech32 } from '@scure/base'
import { canonicalJson } from '../../src/crypto/canonical.ts'
import { sha256Hex } from '../../src/crypto/hash.ts'
import {
  decodeSignedTx,
  encodeSignedTx,
  ensureValidTx,
  parseSignedTx,
  recoverTxSigner,
  signTx,
  txEnvelope,
  txHash,
  type Tx,
} from '../../src/chain/tx.ts'
import { MAX_MSGS_PER_TX, MAX_TX_BYTES } from '../../src/chain/params.ts'
import { assertCode, CHAIN_ID, nodeKey, wallet } from './helpers.ts'

const alice = wallet(0)
const bob = wallet(1)

function baseTx(over: Partial<Tx> = {}): Tx {
  return {
    chainId: CHAIN_ID,
    sender: alice.address,
    nonce: 7n,
    fee: 10n ** 13n,
    msgs: [{ type: 'send', to: bob.address, amount: 5n * 10n ** 18n }],
    ...over,
  }
}

/** The JSON a wallet would POST (amounts as strings). */
function json(over: Partial<Tx> = {}): Record<string, any> {
  return JSON.parse(encodeSignedTx(signTx(alice, baseTx(over))))
}

test('a signed tx round-trips through JSON with the same hash, and recovers its sender', () => {
  const s = signTx(alice, baseTx({ memo: 'hi' }))
  const text = encodeSignedTx(s)
  assert.match(text, /"nonce":"7"/)
  const back = parseSignedTx(text)
  assert.deepEqual(back, s)
  assert.equal(txHash(back), txHash(s))
  assert.equal(txHash(s), sha256Hex(canonicalJson(s as any)))
  assert.equal(recoverTxSigner(txEnvelope(back)), alice.address)
  assert.equal(ensureValidTx(back), back)
  assert.deepEqual(ensureValidTx(s), s)
})

test('malformed JSON, unknown messages, bad amounts and bad addresses are refused with codes', () => {
  assertCode(() => parseSignedTx('{"tx": '), 'BAD_REQUEST')
  assertCode(() => parseSignedTx(' '.repeat(MAX_TX_BYTES + 1)), 'PAYLOAD_TOO_LARGE')
  assertCode(() => parseSignedTx('[]'), 'BAD_REQUEST')
  assertCode(() => decodeSignedTx(null), 'BAD_REQUEST')
  const withMsg = (m: unknown) => {
    const j = json()
    j.tx.msgs = [m]
    return j
  }
  assertCode(() => decodeSignedTx(withMsg({ type: 'mint', amount: '1' })), 'UNKNOWN_MESSAGE')
  assertCode(() => decodeSignedTx(withMsg({ type: '__proto__' })), 'UNKNOWN_MESSAGE')
  assertCode(() => decodeSignedTx(withMsg({ amount: '1' })), 'UNKNOWN_MESSAGE')
  for (const amount of ['-1', '1.5', '1e18', '01', '', ' 1', '0x10', '1'.repeat(79)]) {
    assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: bob.address, amount })), 'BAD_REQUEST')
  }
  assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: bob.address, amount: 5 })), 'BAD_REQUEST') // a number, not a string
  assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: bob.address, amount: '0' })), 'BAD_REQUEST') // not positive
  assertCode(
    () => decodeSignedTx(withMsg({ type: 'send', to: bob.address, amount: (1n << 256n).toString() })),
    'BAD_REQUEST',
  )
  // a one-character change breaks the bech32 checksum
  const last = bob.address.at(-1) === 'q' ? 'p' : 'q'
  assertCode(
    () => decodeSignedTx(withMsg({ type: 'send', to: bob.address.slice(0, -1) + last, amount: '1' })),
    'BAD_REQUEST',
  )
  assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: bob.address.toUpperCase(), amount: '1' })), 'BAD_REQUEST')
  // a node address where a wallet is expected (valid checksum, wrong prefix)
  assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: nodeKey(1).address, amount: '1' })), 'BAD_REQUEST')
  const words = bech32.toWords(new Uint8Array(19))
  assertCode(
    () => decodeSignedTx(withMsg({ type: 'send', to: bech32.encode('st', words), amount: '1' })),
    'BAD_REQUEST',
  ) // 19 bytes
  assertCode(() => decodeSignedTx(withMsg({ type: 'send', to: bob.address, amount: '1', extra: 1 })), 'BAD_REQUEST')
  const j = json()
  j.tx.nonce = 7
  assertCode(() => decodeSignedTx(j), 'BAD_REQUEST')
  const j2 = json()
  j2.tx.msgs = []
  assertCode(() => decodeSignedTx(j2), 'BAD_REQUEST')
  const j3 = json()
  j3.tx.msgs = Array.from({ length: MAX_MSGS_PER_TX + 1 }, () => j3.tx.msgs[0])
  assertCode(() => decodeSignedTx(j3), 'BAD_REQUEST')
  const j4 = json()
  j4.tx.memo = 'x'.repeat(257)
  assertCode(() => decodeSignedTx(j4), 'BAD_REQUEST')
  const j5 = json()
  j5.signature = j5.signature.slice(2)
  assertCode(() => decodeSignedTx(j5), 'BAD_REQUEST')
  const j6 = json()
  j6.extra = true
  assertCode(() => decodeSignedTx(j6), 'BAD_REQUEST')
})

test('volume reports must be sorted, unique and bounded', () => {
  const meta = nodeKey(100)
  const a = wallet(2).address,
    b = wallet(3).address
  const [w1, w2] = a < b ? [a, b] : [b, a]
  const report = (wallets: unknown[]) => {
    const j = json()
    j.tx.msgs = [
      {
        type: 'volume_report',
        publicKey: '00'.repeat(32),
        signature: '00'.repeat(64),
        report: {
          chainId: CHAIN_ID,
          epoch: 1,
          metaNode: meta.address,
          wallets,
          nodes: [{ node: nodeKey(1).address, bytes: '10' }],
        },
      },
    ]
    return j
  }
  decodeSignedTx(
    report([
      { wallet: w1, bytes: '5' },
      { wallet: w2, bytes: '5' },
    ]),
  )
  assertCode(
    () =>
      decodeSignedTx(
        report([
          { wallet: w2, bytes: '5' },
          { wallet: w1, bytes: '5' },
        ]),
      ),
    'BAD_REQUEST',
  )
  assertCode(
    () =>
      decodeSignedTx(
        report([
          { wallet: w1, bytes: '5' },
          { wallet: w1, bytes: '5' },
        ]),
      ),
    'BAD_REQUEST',
  )
  assertCode(() => decodeSignedTx(report([{ wallet: w1, bytes: '-5' }])), 'BAD_REQUEST')
})

test('the signature covers chain id, nonce, fee and messages', () => {
  const s = signTx(alice, baseTx())
  const recovered = (tx: Tx) => recoverTxSigner(txEnvelope({ tx, signature: s.signature }))
  assert.equal(recovered(s.tx), alice.address)
  assert.notEqual(recovered({ ...s.tx, chainId: 'other' }), alice.address)
  assert.notEqual(recovered({ ...s.tx, nonce: 8n }), alice.address)
  assert.notEqual(recovered({ ...s.tx, fee: 1n }), alice.address)
  assert.notEqual(
    recovered({ ...s.tx, msgs: [{ type: 'send', to: bob.address, amount: 6n * 10n ** 18n }] }),
    alice.address,
  )
  assert.throws(() => signTx(bob, baseTx()))
})

test('the fast canonical encoders equal the generic canonical JSON', async () => {
  const { canonicalTxJson } = await import('../../src/chain/tx.ts')
  const { canonicalVolumeReportJson, signVolumeReport } = await import('../../src/chain/node-proofs.ts')
  const fc = (await import('fast-check')).default
  const meta = nodeKey(100)
  const addrs = [wallet(0).address, wallet(1).address, wallet(2).address].sort()
  fc.assert(
    fc.property(
      fc.string({ maxLength: 10 }),
      fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      fc.bigInt({ min: 0n, max: 1n << 70n }),
      fc.nat(),
      fc.array(fc.bigInt({ min: 1n, max: 1n << 64n }), { maxLength: 3 }),
      (chainId, memo, n, epoch, volumes) => {
        const report = {
          chainId,
          epoch,
          metaNode: meta.address,
          wallets: volumes.map((bytes, i) => ({ wallet: addrs[i]!, bytes })),
          nodes: [{ node: nodeKey(1).address, bytes: n + 1n }],
        }
        assert.equal(canonicalVolumeReportJson(report), canonicalJson(report as any))
        const tx: Tx = {
          chainId,
          sender: alice.address,
          nonce: n,
          fee: n,
          msgs: [{ type: 'send', to: bob.address, amount: n + 1n }, signVolumeReport(meta, report)],
          ...(memo === undefined ? {} : { memo }),
        }
        assert.equal(canonicalTxJson(tx), canonicalJson(tx as any))
      },
    ),
    { numRuns: 50 },
  )
})

test('the transfer fast path decodes exactly what the schema decodes, and refuses (with its code) what it refuses', async () => {
  const { zSignedTx } = await import('../../src/chain/tx.ts')
  const { parseOrThrow } = await import('../../src/chain/schema.ts')
  const fc = (await import('fast-check')).default
  /** Structure with key order and bigint types (deepEqual ignores neither, but say it). */
  const shape = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x))
  const valid = json({
    msgs: [
      { type: 'send', to: bob.address, amount: 1n },
      { type: 'send', to: alice.address, amount: 2n },
    ],
  })
  const upper = bob.address.toUpperCase()
  const corrupt = bob.address.slice(0, -1) + (bob.address.endsWith('q') ? 'p' : 'q')
  const variants: Array<(v: Record<string, any>) => void> = [
    () => {},
    (v) => {
      v.extra = 1
    },
    (v) => {
      delete v.signature
    },
    (v) => {
      v.signature = v.signature.toUpperCase()
    },
    (v) => {
      v.signature = `${v.signature}0`
    },
    (v) => {
      v.tx.extra = 1
    },
    (v) => {
      delete v.tx.fee
    },
    (v) => {
      v.tx.fee = 5
    },
    (v) => {
      v.tx.fee = '05'
    },
    (v) => {
      v.tx.fee = (1n << 256n).toString()
    },
    (v) => {
      v.tx.nonce = ((1n << 256n) - 1n).toString()
    },
    (v) => {
      v.tx.nonce = '-1'
    },
    (v) => {
      v.tx.chainId = ''
    },
    (v) => {
      v.tx.chainId = 'x'.repeat(200)
    },
    (v) => {
      v.tx.chainId = 7
    },
    (v) => {
      v.tx.sender = upper
    },
    (v) => {
      v.tx.sender = corrupt
    },
    (v) => {
      v.tx.memo = 'hi'
    },
    (v) => {
      v.tx.memo = undefined
    },
    (v) => {
      v.tx.msgs = []
    },
    (v) => {
      v.tx.msgs = Array.from({ length: MAX_MSGS_PER_TX + 1 }, () => v.tx.msgs[0])
    },
    (v) => {
      v.tx.msgs = Array.from({ length: MAX_MSGS_PER_TX }, () => v.tx.msgs[0])
    },
    (v) => {
      v.tx.msgs[1].amount = '0'
    },
    (v) => {
      v.tx.msgs[1].to = corrupt
    },
    (v) => {
      v.tx.msgs[1].to = upper
    },
    (v) => {
      v.tx.msgs[1].extra = 1
    },
    (v) => {
      delete v.tx.msgs[1].to
    },
    (v) => {
      v.tx.msgs[1] = null
    },
    (v) => {
      v.tx.msgs[1].type = 'prepay'
    },
    (v) => {
      v.tx.msgs = { 0: v.tx.msgs[0] }
    },
    (v) => {
      v.tx = Object.assign(Object.create({ x: 1 }), v.tx)
    },
  ]
  const check = (v: Record<string, any>) => {
    let want: unknown
    try {
      want = parseOrThrow(zSignedTx, v, 'transaction')
    } catch (e) {
      want = e
    }
    if (want instanceof Error) {
      // The schema's refusal, or the unknown-message check before it: never accepted by the fast path.
      assert.throws(
        () => decodeSignedTx(v),
        (e: any) => e.code === 'BAD_REQUEST' || e.code === 'UNKNOWN_MESSAGE',
      )
    } else {
      const got = decodeSignedTx(v)
      assert.equal(shape(got), shape(want))
      assert.deepEqual(got, want)
      assert.equal(encodeSignedTx(got), canonicalJson(want as any))
    }
  }
  for (const change of variants) {
    const v = structuredClone(valid)
    change(v)
    check(v)
  }
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 1n << 80n }),
      fc.bigInt({ min: 0n, max: 1n << 80n }),
      fc.string({ maxLength: 8 }),
      (n, a, chainId) => {
        const v = structuredClone(valid)
        v.tx.nonce = n.toString()
        v.tx.msgs[0].amount = a.toString()
        v.tx.chainId = chainId
        check(v)
      },
    ),
    { numRuns: 100 },
  )
})

test('decoded transactions are frozen (their cached hash and signer stay valid)', () => {
  const d = decodeSignedTx(json())
  assert.ok(Object.isFrozen(d) && Object.isFrozen(d.tx) && Object.isFrozen(d.tx.msgs[0]))
  assert.throws(() => {
    ;(d.tx as any).fee = 0n
  })
})

test('only canonical signatures recover: a malleated (high-s) twin of a valid signature is refused', () => {
  const s = signTx(alice, baseTx())
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const sBig = BigInt('0x' + s.signature.slice(66))
  const twin =
    (s.signature.slice(0, 2) === '00' ? '01' : '00') +
    s.signature.slice(2, 66) +
    (N - sBig).toString(16).padStart(64, '0')
  assert.equal(recoverTxSigner(txEnvelope(s)), alice.address)
  assert.equal(recoverTxSigner(txEnvelope({ tx: s.tx, signature: twin })), null)
  assert.equal(recoverTxSigner(txEnvelope({ tx: s.tx, signature: '02' + s.signature.slice(2) })), null)
})
