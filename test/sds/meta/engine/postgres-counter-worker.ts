/**
 * A second process for postgres.test.ts: opens the shared index and adds to the counters `runs` times, each in its
 * own write (so two of these running at once conflict on the same row all the time). Usage: URL PREFIX RUNS.
 */
import { MetaStore } from '../../../../src/sds/meta/store.ts'

const [url, prefix, runs] = process.argv.slice(2) as [string, string, string]
const store = await MetaStore.open(url, { tablePrefix: prefix })
for (let i = 0; i < Number(runs); i++) await store.write(() => store.addCounters(1, 3))
await store.close()
