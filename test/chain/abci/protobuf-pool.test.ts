/**
 * The protobuf writer's shared allocation pool (src/chain/node/abci/protobuf-pool.ts): messages cut from one slab
 * never overlap, whatever their sizes, and encode the same bytes as an exactly sized array would.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BinaryWriter } from 'cosmjs-types/binary'
import { Response } from 'cosmjs-types/tendermint/abci/types'
import '../../../src/chain/node/abci/protobuf-pool.ts'

test('pooled encodings stay intact while later ones are cut from the same slabs', () => {
  const pooled = BinaryWriter.alloc
  const messages = Array.from({ length: 400 }, (_, i) =>
    Response.fromPartial({
      checkTx: { code: i % 7, data: new Uint8Array((i * 37) % 5000).fill(i & 0xff), log: 'x'.repeat(i % 13) },
    }),
  )
  const encoded = messages.map((m) => Response.encode(m).finish())
  // Every message of up to half a slab shared a slab with others (8-byte aligned), so overlaps would show here.
  assert.ok(encoded.some((b, i) => i > 0 && b.buffer === encoded[i - 1]!.buffer))
  try {
    BinaryWriter.alloc = (size: number) => new Uint8Array(size)
    for (const [i, m] of messages.entries()) {
      assert.deepEqual(Response.decode(encoded[i]!), m)
      assert.deepEqual(new Uint8Array(encoded[i]!), Response.encode(m).finish())
    }
  } finally {
    BinaryWriter.alloc = pooled
  }
})
