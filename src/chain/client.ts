/**
 * A small typed client for the validator's REST API (src/chain/node/rest.ts) plus the STOS
 * amount grammar of the wallet commands. Amounts travel as decimal strings (canonical JSON);
 * this client turns the ones it reads into bigint wei.
 *
 * `submitAndWait` is the one "build, sign, submit, wait" path every transaction command uses:
 * it reads the sender's nonce from GET /accounts, signs, POSTs /txs, then long-polls
 * GET /txs/:hash/wait until the tx is in a block. A tx the block rejected, or whose message
 * failed, becomes a StratosError with the result's code (so the CLI exits with that code's exit).
 */
import { encodeSignedTx, signTx, type Tx } from './tx.ts'
import type { Msg } from './msgs.ts'
import { DEVNET_PARAMS, WEI_PER_STOS } from './params.ts'
import { DEFAULT_PORTS, TX_INCLUSION_TIMEOUT_MS, TX_WAIT_POLL_MS } from '../limits.ts'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { ERROR_CODES, StratosError, type ErrorCode } from '../errors.ts'
import { jsonRequest } from '../sds/protocol/http.ts'

/** Used when neither --chain-url nor the network file's chainUrl is given. */
export const DEFAULT_CHAIN_URL = `http://127.0.0.1:${DEFAULT_PORTS.chainRest}`
/** Fee a tx command pays unless --fee is given: the chain's default minimum fee (params.ts). */
export const DEFAULT_TX_FEE_WEI = DEVNET_PARAMS.minFeeWei

// ---- amounts -----------------------------------------------------------------------------------

/**
 * Parses `12.5stos`, `1000wei` or a plain number (STOS) into wei, exactly. Negative numbers,
 * fractions of a wei, more than 18 decimals and anything else are BAD_REQUEST.
 */
export function parseAmount(text: string, what = 'amount'): bigint {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*(stos|wei)?\s*$/i.exec(text)
  if (!m) throw new StratosError('BAD_REQUEST', `${what} "${text}" is not an amount: use e.g. 12.5stos, 1000wei or 3 (STOS)`)
  const whole = m[1]!
  const frac = m[2] ?? ''
  const unit = (m[3] ?? 'stos').toLowerCase()
  if (unit === 'wei') {
    if (frac !== '') throw new StratosError('BAD_REQUEST', `${what} "${text}": wei amounts are whole numbers`)
    return BigInt(whole)
  }
  if (frac.length > 18) throw new StratosError('BAD_REQUEST', `${what} "${text}" has more than 18 decimals (1 wei = 10^-18 STOS)`)
  return BigInt(whole) * WEI_PER_STOS + BigInt(frac.padEnd(18, '0') || '0')
}

/** Wei as STOS with up to 18 decimals, trailing zeros trimmed: "12.5", "0.000000000000001", "80". */
export function formatStosAmount(wei: bigint): string {
  const sign = wei < 0n ? '-' : ''
  const a = wei < 0n ? -wei : wei
  const frac = (a % WEI_PER_STOS).toString().padStart(18, '0').replace(/0+$/, '')
  return `${sign}${a / WEI_PER_STOS}${frac ? '.' + frac : ''}`
}

/** Decimals `formatStos` shows by default: a millionth of a STOS is far below any fee or reward people compare. */
export const HUMAN_STOS_DECIMALS = 6

/**
 * Wei as STOS for people: thousands grouped, at most `maxDecimals` decimals, trailing zeros
 * trimmed: "12.5", "100,000,000". An amount that needs more decimals is cut toward zero and
 * marked "~" ("~1.035605"), so a balance never reads as more than it is; a non-zero amount below
 * the last decimal reads "<0.000001" rather than a misleading "0". Exact amounts (--json, and
 * wherever a value is echoed back to be typed again) use formatStosAmount.
 */
export function formatStos(wei: bigint, maxDecimals = HUMAN_STOS_DECIMALS): string {
  if (!Number.isInteger(maxDecimals) || maxDecimals < 0 || maxDecimals > 18) throw new RangeError(`maxDecimals ${maxDecimals} is not 0…18`)
  const negative = wei < 0n
  const a = negative ? -wei : wei
  const step = 10n ** BigInt(18 - maxDecimals) // wei per last shown decimal
  const steps = a / step
  const smallest = maxDecimals === 0 ? '1' : `0.${'0'.repeat(maxDecimals - 1)}1`
  if (steps === 0n && a !== 0n) return negative ? `>-${smallest}` : `<${smallest}`
  const scale = 10n ** BigInt(maxDecimals)
  const whole = (steps / scale).toLocaleString('en-US')
  const frac = maxDecimals === 0 ? '' : (steps % scale).toString().padStart(maxDecimals, '0').replace(/0+$/, '')
  return `${steps * step === a ? '' : '~'}${negative ? '-' : ''}${whole}${frac ? '.' + frac : ''}`
}

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

export interface AccountJson { address: string; balance: string; nonce: string; ozone: string }
export interface Account { address: string; balance: bigint; nonce: bigint; ozone: bigint }

export interface OzoneMarketJson { S: string; P: string; L: string; price: unknown; weiPerGiB: string | null }

export interface TxResultJson {
  hash: string
  code: 'OK' | ErrorCode
  message?: string
  included: boolean
  fee: string
  events: unknown[]
}

export interface TxRecordJson { hash: string; height: number; index: number; result: TxResultJson }

export interface BlockJson {
  hash: string
  header: { chainId: string; height: number; time: number; parentHash: string; proposer?: string; txRoot: string; txCount: number; stateHash: string }
  txs: unknown[]
  results: TxResultJson[]
  events: unknown[]
}

export interface RewardJson { wallet: string; epoch: number; amount: string; maturesAt: number; matured: boolean }
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
  }
}

/** One entry of POST /txs/batch's answer: the tx's hash when admitted, else its error (and hash when it decoded). */
export interface BatchResultJson { hash?: string; error?: { code: ErrorCode; message: string; details?: unknown } }

export interface ChainClientOptions {
  url: string
  signal?: AbortSignal
}

export class ChainClient {
  readonly url: string
  readonly #signal: AbortSignal | undefined

  constructor(o: ChainClientOptions) {
    this.url = o.url.replace(/\/+$/, '')
    this.#signal = o.signal
  }

  #get<T>(path: string, timeoutMs?: number): Promise<T> {
    return jsonRequest<T>(this.url + path, { method: 'GET', signal: this.#signal, timeoutMs })
  }

  status(): Promise<ChainStatus> {
    return this.#get('/status')
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
    const r = await jsonRequest<{ results: BatchResultJson[] }>(this.url + '/txs/batch', { method: 'POST', body: { txs: signedJson.map((s) => JSON.parse(s) as unknown) }, signal: this.#signal })
    return r.results
  }

  /** POST /txs: the signed tx's canonical JSON; answers its hash once the mempool admitted it. */
  async submit(signedJson: string): Promise<string> {
    const r = await jsonRequest<{ hash: string }>(this.url + '/txs', { method: 'POST', body: JSON.parse(signedJson) as unknown, signal: this.#signal })
    return r.hash
  }

  /**
   * Builds a tx from `msgs` with the sender's current nonce, signs it with `key`, submits it and,
   * unless `wait` is false, waits for inclusion. Throws the result's code when the block rejected
   * the tx or its message failed.
   */
  async submitAndWait(key: WalletKey, msgs: Msg[], o: { fee: bigint; memo?: string; wait: boolean }): Promise<SubmittedTx> {
    const { chainId } = await this.status()
    const { nonce } = await this.account(key.address)
    const tx: Tx = { chainId, sender: key.address, nonce, fee: o.fee, msgs, ...(o.memo !== undefined ? { memo: o.memo } : {}) }
    const hash = await this.submit(encodeSignedTx(signTx(key, tx)))
    if (!o.wait) return { hash, nonce, fee: o.fee }
    const deadline = Date.now() + TX_INCLUSION_TIMEOUT_MS
    let record: TxRecordJson | undefined
    while (!record) {
      const left = deadline - Date.now()
      if (left <= 0) throw new StratosError('TIMEOUT', `transaction ${hash} was not included within ${TX_INCLUSION_TIMEOUT_MS} ms`, { hash })
      try {
        record = await this.waitTx(hash, Math.min(left, TX_WAIT_POLL_MS))
      } catch (e) {
        if (!(e instanceof StratosError && e.code === 'TIMEOUT')) throw e
      }
    }
    const r = record.result
    if (r.code !== 'OK') {
      const code: ErrorCode = Object.hasOwn(ERROR_CODES, r.code) ? r.code : 'UPSTREAM_ERROR'
      throw new StratosError(code, `transaction ${hash} failed at height ${record.height}: ${r.message ?? r.code}`, { hash, height: record.height, included: r.included })
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
