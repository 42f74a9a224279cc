/**
 * Sustained signed transfers per second through the validator's REST API (POST /txs → mempool
 * admission with signature recovery → 1 s blocks → LMDB commit), client and validator in one
 * process. Txs are signed before the clock starts.
 *
 *   node --import tsx bench/chain/measure-rest.ts [txs=4000] [senders=40] [concurrency=32]
 * With NATIVE_RECOVERY=<module path exporting createRecoverSigner> the validator recovers with it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { startValidator } from '../../src/chain/node/index.ts'
import { encodeSignedTx, type TxSignerRecovery } from '../../src/chain/tx.ts'
import { nodeGenesis, transfer, wallet } from '../../test/chain/node/fixtures.ts'

const [total = 4000, senders = 40, concurrency = 32] = process.argv.slice(2).map(Number)
const perSender = Math.ceil(total / senders)
const wallets = Array.from({ length: senders }, (_, i) => wallet(i + 1))
const to = wallet(senders + 1).address
// Signing is slow in pure JS: the signed bodies are cached between runs (same keys, same txs).
const cache = join(tmpdir(), `stratos-measure-rest-${perSender}x${senders}.json`)
let bodies: string[]
if (existsSync(cache)) bodies = JSON.parse(readFileSync(cache, 'utf8')) as string[]
else {
  bodies = []
  for (let n = 0; n < perSender; n++)
    for (const w of wallets) bodies.push(encodeSignedTx(transfer(w, to, 1n, BigInt(n))))
  writeFileSync(cache, JSON.stringify(bodies))
}

const dataDir = mkdtempSync(join(tmpdir(), 'stratos-measure-'))
const nativeModule = process.env.NATIVE_RECOVERY
const recoverSigner = nativeModule
  ? ((await import(nativeModule)) as { createRecoverSigner(): TxSignerRecovery }).createRecoverSigner()
  : undefined
const v = await startValidator({
  dataDir,
  port: 0,
  genesis: nodeGenesis(senders + 2),
  blockIntervalMs: 1000,
  ...(recoverSigner ? { recoverSigner } : {}),
})
const agent = new Agent({ connections: concurrency })
const start = performance.now()
let next = 0
let rejected = 0
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!
      const r = await request(`${v.url}/txs`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        dispatcher: agent,
      })
      const text = await r.body.text()
      if (r.statusCode !== 202 && ++rejected <= 3) console.error(r.statusCode, text)
    }
  }),
)
const admitted = performance.now() - start
const startHeight = v.height
while (v.chain.mempool.size > 0) await new Promise((r) => setTimeout(r, 20))
const done = performance.now() - start
const included = bodies.length - rejected
console.log(
  JSON.stringify({
    txs: bodies.length,
    rejected,
    admitMs: Math.round(admitted),
    admittedPerSec: Math.round(included / (admitted / 1000)),
    includedMs: Math.round(done),
    includedPerSec: Math.round(included / (done / 1000)),
    blocks: v.height - startHeight + 1,
  }),
)
await v.stop()
await agent.close()
rmSync(dataDir, { recursive: true, force: true })
