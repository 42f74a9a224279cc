/**
 * A meta process for postgres.test.ts's shared ozone test: opens the shared index, and grants read limits of BYTES
 * to one payer whose chain balance is OZONE, CONCURRENCY grants in flight at once, as files.ts does (OzoneGuard.grant:
 * from this process's lease of the payer's ozone, or in a grant transaction batched per payer) until one is refused;
 * then writes its lease back (OzoneGuard.close) and prints the bytes granted and its write transactions as JSON.
 * Prints `ready` once the index is open and starts on a line `go T0` on stdin (both processes start together).
 * Usage: URL PREFIX OZONE BYTES CONCURRENCY [MODE] [RATE]. MODE `single`: each grant in a transaction of its own,
 * unbatched and without leases (the bench's comparison); `grant` (default): OzoneGuard.grant. RATE: grants per second
 * this process asks for at most, counted from T0 (a process that fell behind catches up at once), 0: no limit.
 */
import { systemClock, silentLogger } from '../../../../src/util/components.ts'
import { OzoneGuard } from '../../../../src/sds/meta/pot/ozone-guard.ts'
import { MetaStore } from '../../../../src/sds/meta/store.ts'
import { TICKET_TTL_MS } from '../../../../src/limits.ts'

const [url, prefix, ozone, bytes, concurrency, mode = 'grant', rate = '0'] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string?,
  string?,
]
const payer = 'st1sharedpayer'
const store = await MetaStore.open(url, { tablePrefix: prefix })
let writes = 0
const counted = {
  ozone: store.ozone,
  prefetch: store.prefetch.bind(store),
  write: <T>(fn: () => T, o?: { durable?: boolean }) => {
    writes++
    return store.write(fn, o)
  },
}
const guard = new OzoneGuard({
  chain: { ozone: async () => BigInt(ozone) },
  store: counted,
  clock: systemClock,
  logger: silentLogger,
})
process.stdout.write('ready\n')
const line = await new Promise<string>((resolve) => process.stdin.once('data', (d) => resolve(String(d))))
process.stdin.pause()
const t0 = Number(line.trim().split(' ')[1] ?? Date.now())
const perMs = Number(rate) / 1000
let asked = 0
/** Resolves once this process may ask for one more grant (RATE). */
const turn = async (): Promise<void> => {
  if (perMs <= 0) return
  for (;;) {
    const allowed = Math.floor((Date.now() - t0) * perMs) + 1
    if (asked < allowed) {
      asked++
      return
    }
    await new Promise((r) => setTimeout(r, Math.max(1, (asked + 1 - allowed) / perMs)))
  }
}
let granted = 0
let refused = 0
const other: string[] = []
const worker = async (): Promise<void> => {
  for (;;) {
    await turn()
    const balance = await guard.balance(payer)
    const now = Date.now()
    try {
      if (mode === 'single')
        await counted.write(
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
await guard.close()
await store.close()
process.stdout.write(`${JSON.stringify({ granted, refused, other, writes })}\n`)
