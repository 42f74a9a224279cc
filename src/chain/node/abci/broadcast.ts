/**
 * The REST API's transaction intake when CometBFT runs consensus: POST /txs and /txs/batch hand the signed tx to
 * the local CometBFT's mempool (`broadcast_tx_sync`: CheckTx on this node's app, then gossip to every validator)
 * instead of the embedded engine's mempool. A batch is one JSON-RPC batch request, which CometBFT runs in order,
 * so a sender's consecutive nonces keep their order. A non-zero CheckTx code comes back as the StratosError of that
 * code (codes.ts); CometBFT's own refusals: a tx it already holds → CONFLICT, a full mempool → MEMPOOL_FULL.
 */
import { StratosError } from '../../../errors.ts'
import { jsonRequest } from '../../../net/json-request.ts'
import { errorCodeOfAbci } from '../../abci/codes.ts'
import { encodeSignedTx, txHash, type SignedTx } from '../../tx.ts'
import type { TxIntake } from '../rest.ts'

/** Longest a broadcast waits for CometBFT (CheckTx is synchronous in the app, so this is generous). */
const BROADCAST_TIMEOUT_MS = 30_000

interface RpcAnswer {
  id?: number
  result?: { code: number; log?: string; codespace?: string; hash?: string }
  error?: { code: number; message: string; data?: string }
}

export class CometTxIntake implements TxIntake {
  readonly #rpcUrl: string

  constructor(rpcUrl: string) {
    this.#rpcUrl = rpcUrl.replace(/\/+$/, '')
  }

  /** CometBFT's mempool size is not mirrored here (GET /status reports 0; CometBFT's num_unconfirmed_txs has it). */
  get size(): number {
    return 0
  }

  get bytes(): number {
    return 0
  }

  has(_hash: string): boolean {
    return false
  }

  async admit(signed: SignedTx): Promise<{ hash: string }> {
    const [r] = await this.#broadcast([signed])
    if (r instanceof StratosError) throw r
    return r!
  }

  async addBatch(txs: readonly SignedTx[]): Promise<Array<{ hash: string } | StratosError>> {
    return txs.length === 0 ? [] : this.#broadcast(txs)
  }

  async #broadcast(txs: readonly SignedTx[]): Promise<Array<{ hash: string } | StratosError>> {
    const body = txs.map((tx, id) => ({
      jsonrpc: '2.0',
      id,
      method: 'broadcast_tx_sync',
      params: { tx: Buffer.from(encodeSignedTx(tx)).toString('base64') },
    }))
    const answers = await jsonRequest<RpcAnswer[] | RpcAnswer>(this.#rpcUrl, {
      method: 'POST',
      body: body.length === 1 ? body[0] : body,
      timeoutMs: BROADCAST_TIMEOUT_MS,
    })
    const list = Array.isArray(answers) ? answers : [answers]
    const byId = new Map(list.map((a) => [a.id, a]))
    return txs.map((tx, id) => {
      const a = byId.get(id)
      const hash = txHash(tx)
      if (!a) return new StratosError('UPSTREAM_ERROR', 'CometBFT gave no answer for this transaction', { hash })
      if (a.error) {
        const text = `${a.error.message}${a.error.data ? `: ${a.error.data}` : ''}`
        const code = /already exists in cache/.test(text)
          ? 'CONFLICT'
          : /mempool is full/.test(text)
            ? 'MEMPOOL_FULL'
            : 'UPSTREAM_ERROR'
        return new StratosError(code, `CometBFT refused the transaction: ${text}`, { hash })
      }
      const r = a.result
      if (!r) return new StratosError('UPSTREAM_ERROR', 'CometBFT answered without a result', { hash })
      if (r.code !== 0) return new StratosError(errorCodeOfAbci(r.code), r.log || `CheckTx code ${r.code}`, { hash })
      return { hash }
    })
  }
}
