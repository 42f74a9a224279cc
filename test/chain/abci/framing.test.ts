/**
 * The ABCI socket framing (src/chain/abci/framing.ts) and the message codec it carries: unsigned-varint length
 * prefixes as Go's binary.PutUvarint writes them, frames split across and merged within chunks, the size bound,
 * and a round trip of v0.38 Request/Response messages through cosmjs-types' encoders (field numbers of ABCI 2.0:
 * finalize_block is field 20 of Request, 21 of Response).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Request, Response } from 'cosmjs-types/tendermint/abci/types'
import { encodeFrame, encodeUvarint, FrameDecoder } from '../../../src/chain/abci/framing.ts'
import { ABCI_CODES } from '../../../src/chain/abci/codes.ts'
import { isStratosError } from '../../../src/errors.ts'

test('uvarint: the bytes Go writes (binary.PutUvarint)', () => {
  assert.deepEqual([...encodeUvarint(0)], [0])
  assert.deepEqual([...encodeUvarint(1)], [1])
  assert.deepEqual([...encodeUvarint(127)], [0x7f])
  assert.deepEqual([...encodeUvarint(128)], [0x80, 0x01])
  assert.deepEqual([...encodeUvarint(300)], [0xac, 0x02])
  assert.deepEqual([...encodeUvarint(2 ** 21)], [0x80, 0x80, 0x80, 0x01])
  assert.throws(() => encodeUvarint(-1))
})

test('FrameDecoder: frames split byte by byte, merged in one chunk, and empty frames', () => {
  const msgs = [new Uint8Array(0), Uint8Array.from([1, 2, 3]), new Uint8Array(300).fill(7), new Uint8Array(20_000)]
  const stream = Buffer.concat(msgs.map(encodeFrame))
  const one = new FrameDecoder()
  assert.deepEqual(one.push(stream), msgs)
  assert.equal(one.buffered, 0)
  const bytewise = new FrameDecoder()
  const out: Uint8Array[] = []
  for (const b of stream) out.push(...bytewise.push(Uint8Array.of(b)))
  assert.deepEqual(out, msgs)
  assert.equal(bytewise.buffered, 0)
})

test('FrameDecoder: a length over the bound throws before the body arrives; an endless prefix throws', () => {
  const d = new FrameDecoder(1000)
  assert.throws(
    () => d.push(encodeUvarint(1001)),
    (e) => isStratosError(e, 'PAYLOAD_TOO_LARGE'),
  )
  assert.deepEqual(new FrameDecoder(1000).push(encodeFrame(new Uint8Array(1000))).length, 1)
  assert.throws(
    () => new FrameDecoder().push(new Uint8Array(9).fill(0xff)),
    (e) => isStratosError(e, 'BAD_REQUEST'),
  )
})

test('codec: v0.38 requests and responses round-trip through framing and cosmjs-types', () => {
  const req = Request.fromPartial({
    finalizeBlock: {
      txs: [new TextEncoder().encode('{"tx":1}')],
      height: 42n,
      time: { seconds: 1_700_000_000n, nanos: 5_000_000 },
      proposerAddress: new Uint8Array(20).fill(9),
    },
  })
  const bytes = Request.encode(req).finish()
  // Field 20, wire type 2 (length-delimited): tag varint 0xa2 0x01, as in CometBFT's types.pb.go.
  assert.deepEqual([...bytes.subarray(0, 2)], [0xa2, 0x01])
  const [frame] = new FrameDecoder().push(encodeFrame(bytes))
  const back = Request.decode(frame!)
  assert.equal(back.finalizeBlock?.height, 42n)
  assert.equal(back.finalizeBlock?.time.nanos, 5_000_000)
  assert.deepEqual(back.finalizeBlock?.txs, req.finalizeBlock?.txs)
  const res = Response.fromPartial({
    finalizeBlock: { txResults: [{ code: ABCI_CODES.BAD_NONCE, log: 'x' }], appHash: new Uint8Array(32).fill(1) },
  })
  const rbytes = Response.encode(res).finish()
  assert.deepEqual([...rbytes.subarray(0, 2)], [0xaa, 0x01])
  assert.deepEqual(Response.decode(rbytes), res)
})

test('ABCI codes: distinct, non-zero', () => {
  const numbers = Object.values(ABCI_CODES)
  assert.equal(new Set(numbers).size, numbers.length)
  assert.ok(numbers.every((n) => Number.isInteger(n) && n > 0))
})
