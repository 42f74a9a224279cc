/**
 * A small typed client for the validator's REST API (src/chain/node/rest.ts). Amounts travel as
 * decimal strings (canonical JSON); this client turns the ones it reads into bigint wei. (The STOS
 * amount grammar people type and read, parseAmount / formatStos, is the CLI's: src/cli/output.ts.)
 * It lives outside src/chain because the ledger imports nothing of networking.
 *
 * Several validators: `url` may list several REST URLs, comma-separated (`http://a:1317,http://b:1317`, what
 * `--chain-url` and the network file's chainUrl hold for a multi-validator devnet). Every request goes to the one
 * that answered last; when it cannot be reached (NODE_UNAVAILABLE: refused, reset, DNS) the next one is tried,
 * each once, so a validator that is down costs one failed connection. Re-sending a transaction to another
 * validator is safe: the same signed tx (same nonce) is included at most once.
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
import { DEFAULT_PORTS, TX_INCLUSION_TIMEOUT_MS, TX_WAIT_POLL_MS } from '../limits.ts'
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

  constructor(o: ChainClientOptions) {
    this.urls = chainUrls(o.url)
    this.#signal = o.signal
  }

  /** The validator requests go to now (the last one that answered). */
  get url(): string {
    return this.urls[this.#current]!
  }

  async #request<T>(path: string, opts: Omit<JsonRequestOptions, 'signal'>): Promise<T> {
    const n = this.urls.length
    let failure: unknown
    for (let i = 0; i < n; i++) {
      const at = (this.#current + i) % n
      try {
        const r = await jsonRequest<T>(this.urls[at] + path, { ...opts, signal: this.#signal })
        this.#current = at
        return r
      } catch (e) {
        if (n === 1 || !isStratosError(e, 'NODE_UNAVAILABLE')) throw e
        failure = e
      }
    }
    throw failure
  }

  #get<T>(path: string, timeoutMs?: number): Promise<T> {
    return this.#request<T>(path, { method: 'GET', timeoutMs })
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

  /** Long-polls until the tx is in a block (TIMEOUT after `timeoutMs`, at most 60 s server-side). */
  waitTx(hash: string, timeoutMs: number): Promise<TxRecordJson> {
    return this.#get(`/txs/${encodeURIComponent(hash)}/wait?timeoutMs=${timeoutMs}`, timeoutMs + 5_000)
  }

  async account(address: string): Promise<Account> {
    const a = await this.#get<AccountJson>(`/accounts/${encodeURIComponent(address)}`)
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
   * POST /txs/batch: up to MAX_TX_BATCH_TXS signed txs (canonical JSON each) in one request; each
   * is admitted or rejected on its own, results in the same order.
   */
  async submitBatch(signedJson: readonly string[]): Promise<BatchResultJson[]> {
    const r = await this.#request<{ results: BatchResultJson[] }>('/txs/batch', {
      method: 'POST',
      body: { txs: signedJson.map((s) => JSON.parse(s) as unknown) },
    })
    return r.results
  }

  /** POST /txs: the signed tx's canonical JSON; answers its hash once the mempool admitted it. */
  async submit(signedJson: string): Promise<string> {
    const r = await this.#request<{ hash: string }>('/txs', {
      method: 'POST',
      body: JSON.parse(signedJson) as unknown,
    })
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
    const { nonce } = await this.account(key.address)
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
        record = await this.waitTx(hash, Math.min(left, TX_WAIT_POLL_MS))
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
