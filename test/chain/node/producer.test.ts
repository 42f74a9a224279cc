/** SingleProposer: block time from the injected clock (never backwards), empty blocks advance epochs, blocks chain. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { blockHash, startValidator } from '../../../src/chain/node/index.ts'
import { ManualClock } from '../../../src/util/components.ts'
import { GENESIS_TIME, nodeGenesis, tempDir, wallet } from './fixtures.ts'

test('blocks take the clock time (never before the previous block), chain by hash, and empty blocks end epochs', async (t) => {
  const clock = new ManualClock(GENESIS_TIME + 5_000)
  const v = await startValidator({
    dataDir: tempDir(t),
    port: 0,
    genesis: nodeGenesis(),
    blockIntervalMs: 60_000,
    clock,
  })
  t.after(() => v.stop())
  assert.equal(v.height, 0)
  const b1 = v.producer.produceBlock()
  assert.equal(b1.header.time, GENESIS_TIME + 5_000)
  assert.equal(b1.header.proposer, wallet(0).address)
  assert.equal(b1.header.txCount, 0)
  clock.set(GENESIS_TIME + 1_000) // the clock jumps back: the block keeps the previous time
  const b2 = v.producer.produceBlock()
  assert.equal(b2.header.time, GENESIS_TIME + 5_000)
  assert.equal(b2.header.parentHash, b1.hash)
  assert.equal(b2.hash, blockHash(b2.header))
  assert.equal(v.chain.app.epoch, 1)
  for (let h = 3; h <= 5; h++) v.producer.produceBlock() // epochBlocks = 5
  assert.equal(v.height, 5)
  assert.equal(v.chain.app.epoch, 2)
  // the epoch end paid the validator (mining reward, validator share): the state hash moved
  assert.notEqual(v.chain.latest.header.stateHash, b2.header.stateHash)
})

test('the timer produces blocks on its own and stop() leaves a complete, reopenable chain', async (t) => {
  const dataDir = tempDir(t)
  const v = await startValidator({ dataDir, port: 0, genesis: nodeGenesis(), blockIntervalMs: 15 })
  // Nothing but the timer makes blocks here; on a loaded machine a 15 ms timer may fire late, so wait for 3 of them.
  const deadline = Date.now() + 10_000
  while (v.height < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await v.stop()
  await v.stop() // idempotent
  const height = v.height
  assert.ok(height >= 3, `only ${height} blocks in 10 s`)
  const again = await startValidator({ dataDir, port: 0, blockIntervalMs: 60_000 })
  t.after(() => again.stop())
  assert.equal(again.height, height)
  assert.equal(again.stateHash, v.stateHash)
})
