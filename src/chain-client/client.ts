/**
 * A small typed client for the validator's REST API (src/chain/node/rest.ts). Amounts travel as
 * decimal strings (canonical JSON); this client turns the ones it reads into bigint wei. (The STOS
 * amount grammar people type and read, parseAmount / formatStos, is the CLI's: src/cli/output.ts.)
 * It lives outside src/chain because the ledger imports nothing of networking.
 *
 * Several validators: `url` may list several REST URLs, comma-separated (`http://a:1317,http://b:1317`, what
 * `--chain-url` and the network file's chainUrl hold for a multi-validator devnet). A read goes to the one that
 * answered last; when it cannot be reached (NODE_UNAVAILABLE: refused, reset, DNS) the next one is tried, each
 * once, so a validator that is down costs one failed connection. A sender's transactions (submit, submitBatch,
 * and everything submitAndWait asks) go to that sender's validator: a validator admits a sender's next nonce only
 * after the previous one it admitted itself (its CheckTx counts its own mempool), so consecutive txs must not
 * hop. A sender's validator is picked by its address (senders spread over the validators, and every process
 * picks the same one) and changes only when it cannot be reached: the one that then answers is kept
 * (CHAIN_CLIENT_PINNED_SENDERS senders remembered). Re-sending a transaction to another validator is safe: the
 * same signed tx (same nonce) is included at most once.
 *
 * `submitAndWait` is the one "build, sign, submit, wait" path every transaction command uses:
 * it reads the sender's nonce from GET /accounts, signs, POSTs /txs, then long-polls
 * GET /txs/:hash/wait until the tx is in a block. A tx the block rejected, or whose message
 * failed, becomes a StratosError with the result's code (so the CLI exits with that code's exit).
 */
import type { MetaNodeJson } from './meta-nodes.ts'
import { encodeSignedTx, signTx, type Tx } from '../chain/tx.ts'
import type { Msg } from '../chain/msgs.ts'
import { DEVNET_PARAMS } from '../chain/params.ts'
import { CHAIN_CLIENT_PINNED_SENDERS, DEFAULT_PORTS, TX_INCLUSION_TIMEOUT_MS, TX_WAIT_POLL_MS } from '../limits.ts'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { ERROR_CODES, StratosError, isStratosError, type ErrorCode } from '../errors.ts'
import { jsonRequest, type JsonRequestOptions } from '../net/json-request.ts'

/** Used when neither --chain-url nor the network file's chainUrl is given. */
export const DEFAULT_CHAIN_URL = `http://127.0.0.1:${DEFAULT_PORTS.chainRest}`
/** Fee a tx command pays unless --fee is given: the chain's default minimum fee (params.ts). */
export const DEFAULT_TX_FEE_WEI = DEVNET_PARAMS.minFeeWei

// ---- REST views (amounts as decimal strings, as served) -------------------------------------------

export interface ChainStatus {
  chainId: string
  height: number
  latestBlockHash: string
  latestBlockTime: number
  stateHash: string
  epoch: number
  mempool: { txs: number; bytes: number }
}

export interface AccountJson {
  address: string
  balance: string
  nonce: string
  ozone: string
}
export interface Account {
  address: string
  balance: bigint
  nonce: bigint
  ozone: bigint
}

export interface OzoneMarketJson {
  S: string
  P: string
  L: string
  price: unknown
  weiPerGiB: string | null
}

export interface TxResultJson {
  hash: string
  code: 'OK' | ErrorCode
  message?: string
  included: boolean
  fee: string
  events: unknown[]
}

export interface TxRecordJson {
  hash: string
  height: number
  index: number
  result: TxResultJson
}

export interface BlockJson {
  hash: string
  header: {
    chainId: string
    height: number
    time: number
    parentHash: string
    proposer?: string
    txRoot: string
    txCount: number
    stateHash: string
  }
  txs: unknown[]
  results: TxResultJson[]
  events: unknown[]
}

export interface RewardJson {
  wallet: string
  epoch: number
  amount: string
  maturesAt: number
  matured: boolean
}
export interface DelegationsJson {
  delegations: Array<{ delegator: string; validator: string; amount: string }>
  unbondings: Array<{ delegator: string; amount: string; completionHeight: number }>
}

/** GET /params: the chain's ChainParams (amounts as decimal strings of wei). */
export interface ChainParamsJson {
  chainId: string
  genesisTime: number
  params: {
    epochBlocks: number
    maturityEpochs: number
    unbondingBlocks: number
    reportWindowEpochs: number
    historyEpochs: number
    minFeeWei: string
    minSelfDelegationWei: string
    resourceNodeTiersWei: string[]
    minMetaNodeDepositWei: string
    /** Validator slashing from consensus (blocks, bps). */
    signedBlocksWindow: number
    minSignedPerWindowBps: number
    downtimeJailBlocks: number
    slashFractionDowntimeBps: number
    slashFractionDoubleSignBps: number
  }
}

/** One entry of POST /txs/batch's answer: the tx's hash when admitted, else its error (and hash when it decoded). */
export interface BatchResultJson {
  hash?: string
  error?: { code: ErrorCode; message: string; details?: unknown }
}

export interface ChainClientOptions {
  /** A validator's REST URL, or several comma-separated (failover, see the header). */
  url: string
  signal?: AbortSignal
}

/** The REST URLs in a `--chain-url` value: comma-separated, trailing slashes dropped. */
export function chainUrls(url: string): string[] {
  const urls = url
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter(Boolean)
  if (urls.length === 0) throw new StratosError('BAD_REQUEST', 'no chain URL given')
  return urls
}

export class ChainClient {
  readonly urls: readonly string[]
  readonly #signal: AbortSignal | undefined
  #current = 0
  /** Senders whose validator is not the one their address picks (it could not be reached): index into urls. */
  readonly #moved = new Map<string, number>()

  constructor(o: ChainClientOptions) {
    this.urls = chainUrls(o.url)
    this.#signal = o.signal
  }

  /** The validator reads go to now (the last one that answered). */
  get url(): string {
    return this.urls[this.#current]!
  }

  /** The validator a sender's transactions go to now (see the header). */
  urlFor(sender: string): string {
    return this.urls[this.#senderIndex(sender)]!
  }

  #senderIndex(sender: string): number {
    const moved = this.#moved.get(sender)
    if (moved !== undefined) return moved
    // FNV-1a of the address: stable across processes, spreads senders evenly.
    let h = 0x811c9dc5
    for (let i = 0; i < sender.length; i++) h = Math.imul(h ^ sender.charCodeAt(i), 0x01000193)
    return (h >>> 0) % this.urls.length
  }

  /** `sender`: the request is that sender's (it goes to the sender's validator, see the header). */
  async #request<T>(path: string, opts: Omit<JsonRequestOptions, 'signal'>, sender?: string): Promise<T> {
    const n = this.urls.length
    const start = sender === undefined ? this.#current : this.#senderIndex(sender)
    let failure: unknown
    for (let i = 0; i < n; i++) {
      const at = (start + i) % n
      try {
        const r = await jsonRequest<T>(this.urls[at] + path, { ...opts, signal: this.#signal })
        if (sender === undefined) this.#current = at
        else if (at !== start) this.#moveSender(sender, at)
        return r
      } catch (e) {
        if (n === 1 || !isStratosError(e, 'NODE_UNAVAILABLE')) throw e
        failure = e
      }
    }
    throw failure
  }

  #moveSender(sender: string, at: number): void {
    if (this.#moved.size >= CHAIN_CLIENT_PINNED_SENDERS) this.#moved.clear()
    this.#moved.set(sender, at)
  }

  #get<T>(path: string, timeoutMs?: number, sender?: string): Promise<T> {
    return this.#request<T>(path, { method: 'GET', timeoutMs }, sender)
  }

  status(): Promise<ChainStatus> {
    return this.#get('/status')
  }

  /** GET /nodes/meta: every meta node the chain knows (any status), ascending by address. */
  metaNodes(): Promise<MetaNodeJson[]> {
    return this.#get('/nodes/meta')
  }

  block(height?: number): Promise<BlockJson> {
    return this.#get(`/blocks/${height === undefined ? 'latest' : height}`)
  }

  tx(hash: string): Promise<TxRecordJson> {
    return this.#get(`/txs/${encodeURIComponent(hash)}`)
  }

  /**
   * Long-polls until the tx is in a block (TIMEOUT after `timeoutMs`, at most 60 s server-side); `sender`: ask the
   * validator the tx went to.
   */
  waitTx(hash: string, timeoutMs: number, sender?: string): Promise<TxRecordJson> {
    return this.#get(`/txs/${encodeURIComponent(hash)}/wait?timeoutMs=${timeoutMs}`, timeoutMs + 5_000, sender)
  }

  /** `asSender`: read it from the validator that address's transactions go to (its view of the nonce). */
  async account(address: string, o: { asSender?: boolean } = {}): Promise<Account> {
    const a = await this.#get<AccountJson>(
      `/accounts/${encodeURIComponent(address)}`,
      undefined,
      o.asSender ? address : undefined,
    )
    return { address: a.address, balance: BigInt(a.balance), nonce: BigInt(a.nonce), ozone: BigInt(a.ozone) }
  }

  ozoneMarket(): Promise<OzoneMarketJson> {
    return this.#get('/ozone')
  }

  rewards(address: string): Promise<RewardJson[]> {
    return this.#get(`/rewards/${encodeURIComponent(address)}`)
  }

  delegations(address: string): Promise<DelegationsJson> {
    return this.#get(`/delegations/${encodeURIComponent(address)}`)
  }

  /** GET /params: chain id, genesis time and the chain parameters. */
  params(): Promise<ChainParamsJson> {
    return this.#get('/params')
  }

  /**
   * POST /txs/batch: up to MAX_TX_BATCH_TXS signed txs (canonical JSON each); each is admitted or rejected on its
   * own, results in the same order. The txs go to their senders' validators: one request per validator, all at
   * once, each sender's txs in their order.
   */
  async submitBatch(signedJson: readonly string[]): Promise<BatchResultJson[]> {
    const txs = signedJson.map((s) => JSON.parse(s) as { tx?: { sender?: unknown } })
    const groups = new Map<number, { sender: string; at: number[] }>()
    txs.forEach((tx, i) => {
      const sender = typeof tx?.tx?.sender === 'string' ? tx.tx.sender : ''
      const v = this.#senderIndex(sender)
      let g = groups.get(v)
      if (!g) groups.set(v, (g = { sender, at: [] }))
      g.at.push(i)
    })
    const out: BatchResultJson[] = new Array(txs.length)
    await Promise.all(
      [...groups.values()].map(async (g) => {
        // The group goes where its first sender's txs go; failing over moves that sender (the others follow it
        // next time only if they also fail: each keeps its own validator).
        const r = await this.#request<{ results: BatchResultJson[] }>(
          '/txs/batch',
          { method: 'POST', body: { txs: g.at.map((i) => txs[i]) } },
          g.sender,
        )
        r.results.forEach((res, j) => {
          out[g.at[j]!] = res
        })
      }),
    )
    return out
  }

  /** POST /txs: the signed tx's canonical JSON, to its sender's validator; answers its hash once admitted. */
  async submit(signedJson: string): Promise<string> {
    const body = JSON.parse(signedJson) as { tx?: { sender?: unknown } }
    const sender = typeof body?.tx?.sender === 'string' ? body.tx.sender : undefined
    const r = await this.#request<{ hash: string }>('/txs', { method: 'POST', body }, sender)
    return r.hash
  }

  /**
   * Builds a tx from `msgs` with the sender's current nonce, signs it with `key`, submits it and,
   * unless `wait` is false, waits for inclusion. Throws the result's code when the block rejected
   * the tx or its message failed.
   */
  async submitAndWait(
    key: WalletKey,
    msgs: Msg[],
    o: { fee: bigint; memo?: string; wait: boolean },
  ): Promise<SubmittedTx> {
    const { chainId } = await this.status()
    const { nonce } = await this.account(key.address, { asSender: true })
    const tx: Tx = {
      chainId,
      sender: key.address,
      nonce,
      fee: o.fee,
      msgs,
      ...(o.memo !== undefined ? { memo: o.memo } : {}),
    }
    const hash = await this.submit(encodeSignedTx(signTx(key, tx)))
    if (!o.wait) return { hash, nonce, fee: o.fee }
    const deadline = Date.now() + TX_INCLUSION_TIMEOUT_MS
    let record: TxRecordJson | undefined
    while (!record) {
      const left = deadline - Date.now()
      if (left <= 0)
        throw new StratosError('TIMEOUT', `transaction ${hash} was not included within ${TX_INCLUSION_TIMEOUT_MS} ms`, {
          hash,
        })
      try {
        record = await this.waitTx(hash, Math.min(left, TX_WAIT_POLL_MS), key.address)
      } catch (e) {
        if (!(e instanceof StratosError && e.code === 'TIMEOUT')) throw e
      }
    }
    const r = record.result
    if (r.code !== 'OK') {
      const code: ErrorCode = Object.hasOwn(ERROR_CODES, r.code) ? r.code : 'UPSTREAM_ERROR'
      throw new StratosError(code, `transaction ${hash} failed at height ${record.height}: ${r.message ?? r.code}`, {
        hash,
        height: record.height,
        included: r.included,
      })
    }
    return { hash, nonce, fee: o.fee, height: record.height, code: r.code }
  }
}

export interface SubmittedTx {
  hash: string
  nonce: bigint
  fee: bigint
  /** Absent with --no-wait. */
  height?: number
  code?: 'OK'
}
