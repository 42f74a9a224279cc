import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pumpInto } from '../../../src/sds/resource/pump.ts'
import { PUMP_STAGING_BUFFERS, PUMP_STAGING_BYTES } from '../../../src/limits.ts'
import { StratosError } from '../../../src/errors.ts'
import { shardBytes } from './helpers.ts'

/** A sink that keeps what it gets and finishes each write after `delayMs`, counting writes in flight. */
function slowSink(delayMs: number): { sink: Writable; parts: Buffer[]; maxInFlight: () => number } {
  const parts: Buffer[] = []
  let inFlight = 0
  let max = 0
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      inFlight++
      max = Math.max(max, inFlight)
      parts.push(Buffer.from(chunk)) // a copy: staging buffers are reused once the write is done
      setTimeout(() => {
        inFlight--
        cb()
      }, delayMs)
    },
  })
  return { sink, parts, maxInFlight: () => max }
}

test('every byte reaches the sink in order, in staging-sized writes aligned to the start; inspect sees each first', async () => {
  const data = Buffer.from(shardBytes(3 * PUMP_STAGING_BYTES + 12_345, 3))
  const pieces = function* (): Generator<Buffer> {
    let off = 0
    for (const n of [1, 65_536, 100_003, 7, 65_536 * 3]) {
      yield data.subarray(off, off + n)
      off += n
    }
    while (off < data.length) {
      yield data.subarray(off, off + 65_536)
      off += 65_536
    }
  }
  const { sink, parts, maxInFlight } = slowSink(2)
  const inspected: Buffer[] = []
  await pumpInto(Readable.from(pieces(), { objectMode: false }), sink, (b) => {
    inspected.push(Buffer.from(b))
  })
  assert.ok(Buffer.concat(parts).equals(data))
  assert.ok(Buffer.concat(inspected).equals(data))
  assert.deepEqual(
    parts.map((p) => p.length),
    [PUMP_STAGING_BYTES, PUMP_STAGING_BYTES, PUMP_STAGING_BYTES, 12_345],
  )
  assert.ok(maxInFlight() <= PUMP_STAGING_BUFFERS)
})

test('a throwing inspect stops before those bytes are written; the sink is destroyed', async () => {
  const data = Buffer.from(shardBytes(2 * PUMP_STAGING_BYTES + 5, 4))
  const { sink, parts } = slowSink(0)
  let seen = 0
  await assert.rejects(
    pumpInto(
      Readable.from([data.subarray(0, PUMP_STAGING_BYTES), data.subarray(PUMP_STAGING_BYTES)], { objectMode: false }),
      sink,
      (b) => {
        seen += b.length
        if (seen > PUMP_STAGING_BYTES) throw new StratosError('SIZE_MISMATCH', 'too long')
      },
    ),
    (e: unknown) => e instanceof StratosError && e.code === 'SIZE_MISMATCH',
  )
  assert.equal(Buffer.concat(parts).length, PUMP_STAGING_BYTES, 'only the bytes that passed inspect were written')
  assert.ok(sink.destroyed)
})

test('a body that ends early is ABORTED', async () => {
  const source = new Readable({ read() {} })
  const { sink } = slowSink(0)
  const done = pumpInto(source, sink, () => {})
  source.push(Buffer.alloc(1000))
  source.destroy()
  await assert.rejects(done, (e: unknown) => e instanceof StratosError && e.code === 'ABORTED')
})
