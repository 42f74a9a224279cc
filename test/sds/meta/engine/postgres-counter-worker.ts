/**
 * A second process for postgres.test.ts: opens the shared index and stores `runs` files, each in its own write, so
 * two of these running at once conflict on the file counters' row all the time. Usage: URL PREFIX RUNS.
 */
import { MetaStore } from '../../../../src/sds/meta/store.ts'

const [url, prefix, runs] = process.argv.slice(2) as [string, string, string]
const store = await MetaStore.open(url, { tablePrefix: prefix })
for (let i = 0; i < Number(runs); i++) {
  const cid = `w${process.pid}-${i}`
  await store.write(() =>
    store.files.create(
      {
        cid,
        kind: 'file',
        size: 3,
        owners: ['st1w'],
        createdAt: 1,
        k: 1,
        m: 1,
        segmentSize: 3,
        segments: [],
        blockCount: 0,
      },
      'st1w',
      { createdAt: 1, kind: 'file', size: 3 },
      [],
    ),
  )
}
await store.close()
