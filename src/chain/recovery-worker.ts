/**
 * Worker thread of the RecoveryPool (recovery-pool.ts): recovers transaction signers in batches
 * with exactly the functions the main thread would use — `recoverTxSignerWith` (libsecp256k1)
 * when `workerData.native` is true, `recoverTxSigner` (@noble/curves) otherwise — so an answer
 * from here is the answer the ChainApp would compute itself.
 *
 * Protocol (structured clone; the byte buffer is transferred, not copied):
 *   → { id, signatures: string[], bytes: Uint8Array, ends: Uint32Array }   signing bytes of tx i = bytes[ends[i-1] .. ends[i])
 *   ← { id, signers: (string | null)[] }
 *   ← { ready: true, native: boolean }   once, after loading (native false when the binding did not load)
 */
import { parentPort, workerData } from 'node:worker_threads'
import { WalletKey } from '../crypto/wallet-key.ts'
import { loadNativeSecp256k1, recoverTxSignerWith } from './native-secp256k1.ts'
import { recoverTxSigner } from './tx.ts'

/** Recoveries run before reporting ready, so the first real batch does not pay for the JIT. */
const WARM_UP_RECOVERIES = 200

export interface RecoveryRequest {
  readonly id: number
  readonly signatures: readonly string[]
  readonly bytes: Uint8Array
  readonly ends: Uint32Array
}

export interface RecoveryResponse {
  readonly id: number
  readonly signers: ReadonlyArray<string | null>
}

const port = parentPort
if (!port) throw new Error('recovery-worker.ts runs as a worker thread')
const wantNative = (workerData as { native?: boolean } | null)?.native === true
const native = wantNative ? loadNativeSecp256k1() : null

port.on('message', (req: RecoveryRequest) => {
  const signers: Array<string | null> = new Array(req.signatures.length)
  let start = 0
  for (let i = 0; i < req.signatures.length; i++) {
    const end = req.ends[i]!
    const env = { signed: { signature: req.signatures[i]! }, signingBytes: req.bytes.subarray(start, end) }
    signers[i] = recover(env)
    start = end
  }
  port.postMessage({ id: req.id, signers } satisfies RecoveryResponse)
})
const recover = (env: { signed: { signature: string }; signingBytes: Uint8Array }): string | null =>
  native ? recoverTxSignerWith(native, env) : recoverTxSigner(env)
{
  const key = new WalletKey(new Uint8Array(32).fill(5))
  const signingBytes = new TextEncoder().encode(`stratos recovery worker warm-up ${'x'.repeat(160)}`)
  const env = { signed: { signature: Buffer.from(key.sign(signingBytes)).toString('hex') }, signingBytes }
  for (let i = 0; i < (native ? WARM_UP_RECOVERIES : 5); i++) {
    if (recover(env) !== key.address) throw new Error('recovery worker warm-up recovered the wrong address')
  }
}
port.postMessage({ ready: true, native: native !== null })
