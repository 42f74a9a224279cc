/**
 * A meta process for postgres.test.ts's shared ozone test: opens the shared index, and grants read limits of BYTES
 * to one payer whose chain balance is OZONE, CONCURRENCY grants in flight at once, as files.ts does (the payer's row
 * prefetched and reserved in the granting transaction) until one is refused; prints the bytes granted as JSON.
 * Usage: URL PREFIX OZONE BYTES CONCURRENCY.
 */
import { systemClock, silentLogger } from '../../../../src/util/components.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { TICKET_TTL_MS } from '../../../../src/limits.ts'

const [url, prefix, ozone, bytes, concurrency] = process.argv.slice(2) as [string, string, string, string, string]
const payer = 'st1sharedpayer'
const store = await MetaStore.open(url, { tablePrefix: prefix })
const guard = new OzoneGuard({
  chain: { ozone: async () => BigInt(ozone) },
  store,
  clock: systemClock,
  logger: silentLogger,
})
let granted = 0
let refused = 0
const other: string[] = []
const worker = async (): Promise<void> => {
  for (;;) {
    const balance = await guard.balance(payer)
    const now = Date.now()
    try {
      await store.write(
        () => {
          store.prefetch(guard.reads([payer]))
          guard.reserve(payer, balance, Number(bytes), now + TICKET_TTL_MS)
        },
        { durable: false },
      )
      granted += Number(bytes)
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === 'INSUFFICIENT_OZONE') refused++
      else other.push(String(code ?? e))
      return
    }
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker))
await store.close()
process.stdout.write(`${JSON.stringify({ granted, refused, other })}\n`)
