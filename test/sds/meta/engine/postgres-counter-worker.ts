/**
 * A second process for postgres.test.ts: opens the shared index and credits 3 bytes of traffic to one node `runs`
 * times, each in its own write, so two of these running at once conflict on the same rows (the node's total, the
 * epoch's and the file's credit) all the time. Usage: URL PREFIX RUNS.
 */
import { MetaStore } from '../../../../src/sds/meta/store.ts'

const [url, prefix, runs] = process.argv.slice(2) as [string, string, string]
const store = await MetaStore.open(url, { tablePrefix: prefix })
for (let i = 0; i < Number(runs); i++)
  await store.write(() =>
    store.pot.creditTraffic({ epoch: 1, node: 'stsds1n', payer: 'st1p', cid: 'bafyc', op: 'get', bytes: 3 }),
  )
await store.close()
