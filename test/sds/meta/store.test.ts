/**
 * Durability of the meta store (src/sds/meta/store.ts): state written before a reply survives kill -9 of a meta process
 * (fixtures/meta-process.ts), then a restart on its dataDir.
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ManualClock, seededRandom } from '../../../src/util/components.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import type { MetaNode } from '../../../src/sds/meta/index.ts'
import {
  TestNode,
  chainId,
  heartbeatAll,
  planUpload,
  signDelete,
  startHarness,
  tempDir,
  uploadFile,
  walletA,
  type Harness,
  sc,
} from './helpers.ts'

const fixture = fileURLToPath(new URL('./fixtures/meta-process.ts', import.meta.url))

test('state written before a reply survives kill -9 of the meta process', async () => {
  const dir = tempDir()
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, chainId], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
    const { url, address } = JSON.parse(line) as { url: string; address: string }
    // A harness around the child process (same clock instant as the child's ManualClock).
    const remote = {
      meta: { address } as MetaNode,
      client: new MetaClient(url),
      clock: new ManualClock(),
      dir,
      nodes: new Map(),
      random: seededRandom(9),
    } as unknown as Harness
    for (let i = 1; i <= 6; i++) {
      const n = new TestNode(i)
      remote.nodes.set(n.address, n)
    }
    await heartbeatAll(remote)
    const kept = await uploadFile(remote, walletA, { size: 3000, seed: 1 })
    const gone = await uploadFile(remote, walletA, { size: 500, seed: 2 })
    await remote.client.deleteFile(gone.file.cid, signDelete(remote, walletA, gone.file.cid))
    const open = await planUpload(remote, walletA, { size: 1024 })

    child.kill('SIGKILL')
    await once(child, 'exit')

    const h = await startHarness({ dir, clock: remote.clock })
    try {
      h.nodes = remote.nodes
      assert.equal(h.meta.address, address)
      assert.deepEqual(await h.client.file(kept.file.cid), kept.file)
      const status = await h.client.status()
      assert.deepEqual(
        [status.totals.files, status.totals.fileBytes, status.totals.openUploads, status.totals.nodesOnline],
        [1, 3000, 1, 6],
      )
      const deletes = [...(await heartbeatAll(h)).entries()]
        .flatMap(([node, ids]) => ids.map((id) => `${node}/${id}`))
        .sort()
      assert.deepEqual(deletes, gone.file.segments.flatMap((s) => s.shards.map((x) => `${x.node}/${x.id}`)).sort())
      await h.client.abort(open.uploadId, sc(h, open.uploadId, 'upload.abort', {}))
    } finally {
      await h.close()
    }
  } finally {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})
