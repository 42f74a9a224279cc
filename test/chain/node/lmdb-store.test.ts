/**
 * LmdbKvStore / LmdbChainStore (src/chain/node/lmdb-store.ts): the BatchKvStore compliance suite
 * (test/chain/state/kv-suite.ts), then what LMDB adds: values are copies, batches persist across a reopen, and block
 * records land in the state's transaction.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LmdbChainStore } from '../../../src/chain/node/lmdb-store.ts'
import { kvSuite } from '../state/kv-suite.ts'
import { tempDir } from './fixtures.ts'

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const t = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : new TextDecoder().decode(v))

kvSuite(
  'LmdbKvStore',
  (t) => {
    const store = LmdbChainStore.open(tempDir(t))
    t.after(() => store.close())
    return store.state
  },
  {
    // A key longer than LMDB's key limit fails in the middle of a batch.
    rejectedWrite: ['x'.repeat(5000), new TextEncoder().encode('too long')],
    // Every single write is an fsynced transaction.
    propertyRuns: 25,
  },
)

test('values are copies: a later read does not overwrite an earlier one', async (ctx) => {
  const store = LmdbChainStore.open(tempDir(ctx))
  ctx.after(() => store.close())
  const kv = store.state
  kv.writeBatch([
    ['bank/bal/b', b('2')],
    ['bank/bal/a', b('1')],
  ])
  const first = kv.get('bank/bal/a')
  kv.get('bank/bal/b')
  assert.equal(t(first), '1')
  const [[, v1]] = [...kv.iterate('bank/bal/a')]
  for (const _ of kv.iterate('bank/bal/b')) {
    /* a second read transaction */
  }
  assert.equal(t(v1), '1')
})

test('writeBatch is all or nothing, and persists across reopen', async (ctx) => {
  const dir = tempDir(ctx)
  let store = LmdbChainStore.open(dir)
  store.state.writeBatch([
    ['a', b('1')],
    ['b', b('2')],
  ])
  // A key longer than LMDB's key limit fails in the middle of the batch: nothing of it may land.
  assert.throws(() =>
    store.state.writeBatch([
      ['a', null],
      ['c', b('3')],
      ['x'.repeat(5000), b('too long')],
      ['d', b('4')],
    ]),
  )
  assert.equal(t(store.state.get('a')), '1')
  assert.equal(store.state.get('c'), undefined)
  assert.equal(store.state.get('d'), undefined)
  store.state.writeBatch([
    ['a', null],
    ['c', b('3')],
  ])
  await store.close()
  store = LmdbChainStore.open(dir)
  ctx.after(() => store.close())
  assert.deepEqual(
    [...store.state.iterate('')].map(([k, v]) => [k, t(v)]),
    [
      ['b', '2'],
      ['c', '3'],
    ],
  )
})

test('a staged block record lands in the same transaction as the state batch, or not at all', async (ctx) => {
  const store = LmdbChainStore.open(tempDir(ctx))
  ctx.after(() => store.close())
  const record = { height: 1, blockJson: '{"block":1}', txs: [['aa'.repeat(32), '{"height":1}'] as const] }
  store.state.withBlock(record, () => store.state.writeBatch([['app/height', b('1')]]))
  assert.equal(store.blockJson(1), '{"block":1}')
  assert.equal(store.txJson('aa'.repeat(32)), '{"height":1}')
  assert.equal(store.lastBlockHeight(), 1)
  // a failing batch writes neither the state nor the block
  assert.throws(() =>
    store.state.withBlock({ ...record, height: 2, blockJson: '{"block":2}' }, () =>
      store.state.writeBatch([
        ['app/height', b('2')],
        ['y'.repeat(5000), b('')],
      ]),
    ),
  )
  assert.equal(store.blockJson(2), undefined)
  assert.equal(t(store.state.get('app/height')), '1')
  // a commit that never writes is an error, and the staged record does not leak into the next batch
  assert.throws(() => store.state.withBlock({ ...record, height: 3 }, () => {}))
  store.state.writeBatch([['k', b('v')]])
  assert.equal(store.blockJson(3), undefined)
  assert.equal(store.lastBlockHeight(), 1)
})
