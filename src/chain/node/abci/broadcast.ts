/**
 * The REST API's transaction intake when CometBFT runs consensus: POST /txs and /txs/batch hand the signed tx to
 * the local CometBFT's mempool (`broadcast_tx_sync`: CheckTx on this node's app, then gossip to every validator)
 * instead of the embedded engine's mempool. A batch goes out as up to COMET_BROADCAST_LANES JSON-RPC batch requests
 * at once, every sender's txs in one of them in their order: CometBFT runs a JSON-RPC batch in order, so a sender's
 * consecutive nonces keep their order, while the lanes run in parallel — each broadcast_tx_sync waits for its
 * CheckTx answer, which CometBFT's ABCI client sends only at its next flush (limits.ts), so one sequential batch
 * would leave the app idle most of the time. A non-zero CheckTx code comes back as the StratosError of that code
 * (codes.ts); CometBFT's own refusals: a tx it already holds → CONFLICT, a full mempool → MEMPOOL_FULL.
 */
import { Agent } from 'undici'
import { StratosError, toStratosError } from '../../../errors.ts'
import { COMET_BROADCAST_LANES } from '../../../limits.ts'
import { jsonRequest } from '../../../net/json-request.ts'
import { errorCodeOfAbci } from '../../abci/codes.ts'
import { txEnvelope, txHash, type SignedTx } from '../../tx.ts'
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
  readonly #lanes: number
  /** Keep-alive connections to the local CometBFT, one per lane (a shared pool could hold lanes back). */
  readonly #agent: Agent

  readonly #onEncoded: ((bytes: Uint8Array, tx: SignedTx) => void) | undefined

  /**
   * `onEncoded` sees every tx with the bytes sent to CometBFT before it is sent (the app of this process remembers
   * the decoded tx under them, so its CheckTx does not decode it again).
   */
  constructor(rpcUrl: string, o: { lanes?: number; onEncoded?: (bytes: Uint8Array, tx: SignedTx) => void } = {}) {
    this.#rpcUrl = rpcUrl.replace(/\/+$/, '')
    this.#onEncoded = o.onEncoded
    this.#lanes = o.lanes ?? COMET_BROADCAST_LANES
    // CometBFT's RPC server closes a connection idle for 10 s (its read timeout): reuse one only well before that.
    this.#agent = new Agent({ connections: this.#lanes, keepAliveTimeout: 4_000, pipelining: 1 })
  }

  async close(): Promise<void> {
    await this.#agent.close()
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
    if (txs.length === 0) return []
    // Lanes: each sender's txs (in order) in one lane, senders spread round-robin by first appearance.
    const laneOfSender = new Map<string, number>()
    const lanes: number[][] = []
    txs.forEach((tx, i) => {
      let lane = laneOfSender.get(tx.tx.sender)
      if (lane === undefined) {
        lane = laneOfSender.size % this.#lanes
        laneOfSender.set(tx.tx.sender, lane)
      }
      ;(lanes[lane] ??= []).push(i)
    })
    const out: Array<{ hash: string } | StratosError> = new Array(txs.length)
    await Promise.all(
      lanes.map(async (at) => {
        // A lane that fails as a whole (CometBFT unreachable, timeout) fails its own txs; the other lanes' stand.
        const results = await this.#broadcast(at.map((i) => txs[i]!)).catch((e: unknown) =>
          at.map(() => toStratosError(e)),
        )
        results.forEach((r, j) => {
          out[at[j]!] = r
        })
      }),
    )
    return out
  }

  async #broadcast(txs: readonly SignedTx[]): Promise<Array<{ hash: string } | StratosError>> {
    const body = txs.map((tx, id) => {
      // The envelope (canonical JSON, hash, signing bytes) is computed once here and kept with the tx, so this
      // node's CheckTx of it (rememberDecoded) does not build the canonical JSON again.
      const bytes = Buffer.from(txEnvelope(tx).json)
      this.#onEncoded?.(bytes, tx)
      return { jsonrpc: '2.0', id, method: 'broadcast_tx_sync', params: { tx: bytes.toString('base64') } }
    })
    const answers = await jsonRequest<RpcAnswer[] | RpcAnswer>(this.#rpcUrl, {
      method: 'POST',
      body: body.length === 1 ? body[0] : body,
      timeoutMs: BROADCAST_TIMEOUT_MS,
      dispatcher: this.#agent,
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
