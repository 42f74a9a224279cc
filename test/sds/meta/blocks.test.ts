/** The meta node's block index (src/sds/meta/blocks.ts, kept by the FileStore): filled from inner blocks, emptied on removal, backfilled for old indexes. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { MetaStore, type FileRecord } from '../../../src/sds/meta/store.ts'
import { blockHolders } from '../../../src/sds/meta/blocks.ts'
import { LmdbEngine } from '../../../src/sds/meta/engine/lmdb.ts'
import type { Table } from '../../../src/sds/meta/engine/table.ts'
import { fileCid } from '../../../src/sds/client/unixfs.ts'
import { isStratosError } from '../../../src/errors.ts'
import { patternBytes } from '../network.ts'

function record(cid: string, size: number, blockCount: number): FileRecord {
  return {
    cid,
    kind: 'file',
    size,
    owners: ['st1owner'],
    createdAt: 1,
    k: 4,
    m: 2,
    segmentSize: 1 << 20,
    segments: [],
    blockCount,
  }
}

test('block index: inner blocks and their leaves find their record; removal and backfill', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-blockindex-'))
  try {
    const dag = await fileCid(patternBytes(3 * 262144 + 5, 1))
    const cid = dag.cid.toString()
    const blocks = dag.blocks.map((b) => b.bytes)
    const leaves = dagPb.decode(blocks[blocks.length - 1]).Links.map((l) => l.Hash)
    let store = await MetaStore.open(dir)
    const r = record(cid, dag.size, blocks.length)
    await store.write(() => store.files.create(r, 'st1owner', { createdAt: 1, kind: 'file', size: dag.size }, blocks))
    assert.deepEqual(blockHolders(store, cid), [cid], 'the root is its own record')
    assert.deepEqual(blockHolders(store, leaves[2].toString()), [cid])
    // A CIDv1 spelling of the same dag-pb leaf finds it too (keyed by digest).
    assert.deepEqual(blockHolders(store, CID.createV1(0x70, leaves[0].multihash).toString()), [cid])
    assert.deepEqual(blockHolders(store, 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), [])
    assert.throws(
      () => blockHolders(store, 'nope'),
      (e: unknown) => isStratosError(e, 'INVALID_CID'),
    )
    // An index written before the block index existed (its tables edited below the stores, as older software left
    // them): the next open backfills it.
    await store.close()
    const engine = LmdbEngine.open(dir)
    const t = engine.openTables<{ meta: Table<unknown, string>; blockIndex: Table<true, [string, string]> }>([
      'meta',
      'blockIndex',
    ])
    await engine.write(() => {
      t.meta.removeSync('blockIndexReady')
      for (const key of [...t.blockIndex.getKeys()]) t.blockIndex.removeSync(key)
    })
    await engine.close()
    store = await MetaStore.open(dir)
    assert.deepEqual(blockHolders(store, leaves[1].toString()), [cid], 'backfilled')
    // The last owner's delete takes the record's blocks out of the index.
    await store.write(() => store.files.removeOwner(store.files.get(cid)!, 'st1owner'))
    assert.deepEqual(blockHolders(store, leaves[2].toString()), [])
    await store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
