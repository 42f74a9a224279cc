/**
 * A second process for postgres.test.ts: writes key 'a' to table `kv` through the given URL (a proxy the test cuts)
 * and prints the error code its write fails with. An uncaught exception ends it with a non-zero exit code instead.
 * Its own process because the engine's synchronous path (opening the tables) blocks the thread the proxy would run
 * on. Usage: URL PREFIX; prints "writing" once the write is sent.
 */
import { PostgresEngine } from '../../../../src/sds/meta/engine/postgres.ts'
import type { Table } from '../../../../src/sds/meta/engine/table.ts'

const [url, prefix] = process.argv.slice(2) as [string, string]
const engine = new PostgresEngine(url, { tablePrefix: prefix, timeoutMs: 10_000 })
const { kv } = engine.openTables<{ kv: Table<string, string> }>(['kv'])
const write = engine.write(() => kv.putSync('a', 'x'))
process.stdout.write('writing\n')
try {
  await write
  process.stdout.write('committed\n')
} catch (e) {
  process.stdout.write(`${(e as { code?: string }).code ?? (e as Error).message}\n`)
}
// Time for a late 'error' event on the reset connection to crash the process, if nothing listens for it.
await new Promise((r) => setTimeout(r, 200))
await engine.close()
