/**
 * The STOS chain, through the gateway's relay of its REST API (src/chain/node/rest.ts). Transactions are built and
 * signed here with the CLI's own code (src/chain/tx.ts: canonical JSON, keccak-256, recoverable secp256k1), then
 * submitted and waited for until they are in a block.
 */
import type { Msg } from '../../../../src/chain/msgs.ts'
import { signTx, type Tx } from '../../../../src/chain/tx.ts'
import type { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { AppError } from './errors.ts'
import { http } from './http.ts'

const C = '/api/v1/chain'

export interface ChainStatus {
  chainId: string
  height: number
  latestBlockTime: number
  epoch: number
}
export interface AccountView {
  address: string
  balance: bigint
  nonce: bigint
  ozone: bigint
}
export interface OzoneMarket {
  S: bigint
  P: bigint
  L: bigint
  weiPerGiB: bigint | null
}
export interface Validator {
  operator: string
  moniker: string
  tokens: bigint
  commissionBps: number
}
export interface Delegation {
  validator: string
  amount: bigint
}
export interface Unbonding {
  amount: bigint
  completionHeight: number
}
export interface Reward {
  epoch: number
  amount: bigint
  maturesAt: number
  matured: boolean
}
export interface ChainNode {
  node: string
  kind: string
  owner: string
  deposit: bigint
  status: string
  moniker: string
  tier: number
}
export interface HistoryEntry {
  hash: string
  height: number
  index: number
  tx: { tx: Tx & { msgs: Array<Record<string, unknown>> } } | null
  result: { code: string; message?: string; fee: string } | null
}

const big = (v: unknown): bigint => BigInt(v as string)

export const chain = {
  status: () => http<ChainStatus>(`${C}/status`),
  params: async () => {
    const p = await http<{ chainId: string; params: { minFeeWei: string; epochBlocks?: number } }>(`${C}/params`)
    return { chainId: p.chainId, minFeeWei: big(p.params.minFeeWei), params: p.params as Record<string, unknown> }
  },
  account: async (address: string): Promise<AccountView> => {
    const a = await http<Record<string, string>>(`${C}/accounts/${address}`)
    return { address, balance: big(a.balance), nonce: big(a.nonce), ozone: big(a.ozone) }
  },
  history: async (address: string, before?: number): Promise<HistoryEntry[]> =>
    (await http<{ txs: HistoryEntry[] }>(`${C}/accounts/${address}/txs?limit=25${before ? `&before=${before}` : ''}`))
      .txs,
  ozoneMarket: async (): Promise<OzoneMarket> => {
    const m = await http<Record<string, string | null>>(`${C}/ozone`)
    return { S: big(m.S), P: big(m.P), L: big(m.L), weiPerGiB: m.weiPerGiB === null ? null : big(m.weiPerGiB) }
  },
  validators: async (): Promise<Validator[]> =>
    (await http<Array<Record<string, unknown>>>(`${C}/validators`)).map((v) => ({
      operator: v.operator as string,
      moniker: v.moniker as string,
      tokens: big(v.tokens),
      commissionBps: v.commissionBps as number,
    })),
  delegations: async (address: string): Promise<{ delegations: Delegation[]; unbondings: Unbonding[] }> => {
    const d = await http<{ delegations: Array<Record<string, unknown>>; unbondings: Array<Record<string, unknown>> }>(
      `${C}/delegations/${address}`,
    )
    return {
      delegations: d.delegations.map((x) => ({ validator: x.validator as string, amount: big(x.amount) })),
      unbondings: d.unbondings.map((x) => ({ amount: big(x.amount), completionHeight: x.completionHeight as number })),
    }
  },
  rewards: async (address: string): Promise<Reward[]> =>
    (await http<Array<Record<string, unknown>>>(`${C}/rewards/${address}`)).map((r) => ({
      epoch: r.epoch as number,
      amount: big(r.amount),
      maturesAt: r.maturesAt as number,
      matured: r.matured as boolean,
    })),
  resourceNodes: async (): Promise<ChainNode[]> =>
    (await http<Array<Record<string, unknown>>>(`${C}/nodes/resource`)).map((n) => ({
      node: n.node as string,
      kind: n.kind as string,
      owner: n.owner as string,
      deposit: big(n.deposit),
      status: n.status as string,
      moniker: n.moniker as string,
      tier: n.tier as number,
    })),
}

export interface TxOutcome {
  hash: string
  height: number
  fee: bigint
}

/**
 * Signs `msgs` as one transaction of `key` (nonce from the chain), submits it and waits until it is in a block.
 * A message that failed in the block is an AppError with the chain's code (INSUFFICIENT_FUNDS…).
 */
export async function sendTx(key: WalletKey, msgs: Msg[], fee: bigint, memo?: string): Promise<TxOutcome> {
  const [{ chainId }, account] = await Promise.all([chain.status(), chain.account(key.address)])
  const tx: Tx = {
    chainId,
    sender: key.address,
    nonce: account.nonce,
    fee,
    msgs,
    ...(memo ? { memo } : {}),
  }
  const signed = signTx(key, tx)
  const body = JSON.stringify({
    signature: signed.signature,
    tx: { ...tx, nonce: tx.nonce.toString(), fee: tx.fee.toString(), msgs: msgs.map(stringifyAmounts) },
  })
  const { hash } = await http<{ hash: string }>(`${C}/txs`, { body })
  const done = await http<{ height: number; result: { code: string; message?: string } }>(
    `${C}/txs/${hash}/wait?timeoutMs=30000`,
  )
  if (done.result.code !== 'OK')
    throw new AppError(done.result.code, done.result.message ?? `transaction failed: ${done.result.code}`)
  return { hash, height: done.height, fee }
}

function stringifyAmounts(m: Msg): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
}
