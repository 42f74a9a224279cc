/**
 * MetaNode's lifecycle (src/sds/meta/node.ts): a start that fails after the API is already listening undoes all of
 * it — the port is free again, the index closed — so the same node starts cleanly on the same port right after.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { StratosError } from '../../../src/errors.ts'
import { ManualClock, seededRandom } from '../../../src/util/components.ts'
import { MetaNode } from '../../../src/sds/meta/index.ts'
import { RepairService } from '../../../src/sds/meta/repair/index.ts'
import { chainId, expectCode, tempDir } from './helpers.ts'
import { freePort } from '../../support/ports.ts'

test('a start that fails after listening frees the port and the index; the next start succeeds', async () => {
  const dir = tempDir()
  const port = await freePort()
  const options = { dataDir: dir, port, chainId, clock: new ManualClock(), random: seededRandom(1) }
  const start = RepairService.prototype.start
  try {
    // The last part started (after the API listens) fails once.
    RepairService.prototype.start = async () => {
      throw new StratosError('INTERNAL', 'injected repair start failure')
    }
    await expectCode(new MetaNode(options).start(), 'INTERNAL')
    RepairService.prototype.start = start
    const again = new MetaNode(options)
    await again.start()
    try {
      const r = await fetch(`${again.url}/v1/info`)
      assert.equal(r.status, 200)
    } finally {
      await again.stop()
    }
  } finally {
    RepairService.prototype.start = start
    rmSync(dir, { recursive: true, force: true })
  }
})
