/**
 * A meta process for postgres.test.ts's shared ozone test: opens the shared index, and grants read limits of BYTES
 * to one payer whose chain balance is OZONE, CONCURRENCY grants in flight at once, as files.ts does (OzoneGuard.grant:
 * the payer's row reserved in a grant transaction, batched per payer) until one is refused; prints the bytes granted
 * as JSON. Prints `ready` once the index is open and starts on a line on stdin (both processes start together).
 * Usage: URL PREFIX OZONE BYTES CONCURRENCY [single]. `single`: each grant in its own transaction, unbatched (the
 * bench's comparison).
 */
import { systemClock, silentLogger } from '../../../../src/util/components.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { TICKET_TTL_MS } from '../../../../src/limits.ts'

const [url, prefix, ozone, bytes, concurrency, mode] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string?,
]
const payer = 'st1sharedpayer'
const store = await MetaStore.open(url, { tablePrefix: prefix })
const guard = new OzoneGuard({
  chain: { ozone: async () => BigInt(ozone) },
  store,
  clock: systemClock,
  logger: silentLogger,
})
process.stdout.write('ready\n')
await new Promise((resolve) => process.stdin.once('data', resolve))
process.stdin.pause()
let granted = 0
let refused = 0
const other: string[] = []
const worker = async (): Promise<void> => {
  for (;;) {
    const balance = await guard.balance(payer)
    const now = Date.now()
    try {
      if (mode === 'single')
        await store.write(
          () => {
            store.prefetch(guard.reads([payer]))
            guard.reserve(payer, balance, Number(bytes), now + TICKET_TTL_MS)
          },
          { durable: false },
        )
      else await guard.grant(payer, balance, Number(bytes), now + TICKET_TTL_MS)
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
