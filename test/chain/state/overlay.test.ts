/**
 * OverlayKv (src/chain/state/overlay.ts): a KvStore by the compliance suite (./kv-suite.ts), and stacked overlays against
 * a model (a plain Map): reads go through, commits land in order, discards leave nothing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MemoryKvStore } from '../../../src/chain/state/kv.ts'
import { OverlayKv } from '../../../src/chain/state/overlay.ts'
import { effectiveWrites } from '../../../src/chain/state/state-hash.ts'
import { applyOp, kvStoreSuite, modelScan, scan } from './kv-suite.ts'

kvStoreSuite('OverlayKv over an empty MemoryKvStore', () => new OverlayKv(new MemoryKvStore()))

const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/'), minLength: 1, maxLength: 4 })
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
  fc.record({ kind: fc.constant('del' as const), key: keyArb }),
  fc.record({
    kind: fc.constant('scan' as const),
    prefix: fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }),
  }),
)

test('stacked overlays read through, commit in order and discard cleanly', () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 30 }),
      fc.array(opArb, { maxLength: 30 }),
      fc.array(opArb, { maxLength: 30 }),
      fc.boolean(),
      (baseOps, blockOps, txOps, keepTx) => {
        const base = new MemoryKvStore()
        const baseModel = new Map<string, string>()
        for (const op of baseOps) applyOp(base, baseModel, op)
        const block = new OverlayKv(base)
        const blockModel = new Map(baseModel)
        for (const op of blockOps) applyOp(block, blockModel, op)
        const tx = new OverlayKv(block)
        const txModel = new Map(blockModel)
        for (const op of txOps) applyOp(tx, txModel, op)
        // the layers below are untouched until commit
        assert.deepEqual(scan(block, ''), modelScan(blockModel, ''))
        assert.deepEqual(scan(base, ''), modelScan(baseModel, ''))
        if (keepTx) tx.commit()
        else tx.discard()
        const expected = keepTx ? txModel : blockModel
        assert.deepEqual(scan(block, ''), modelScan(expected, ''))
        const writes = effectiveWrites(base, block.writes())
        base.writeBatch(writes)
        assert.deepEqual(scan(base, ''), modelScan(expected, ''))
      },
    ),
  )
})
