/**
 * sds: the ozone market (prepaid traffic) and wallets' ozone balances.
 *
 * State: S (effective deposits, maintained here on behalf of register so S and L always move
 * together), L (remaining ozone limit), and P, which is simply the balance of the prepay pool
 * module account. Ozone is counted in bytes of traffic.
 *
 *  - prepay X: the sender pays X wei into the prepay pool and the beneficiary gets
 *    ⌊L·X/(S+P+X)⌋ ozone (economics.prepay). Buying 0 ozone is refused (the amount is too small
 *    for the price), and so is buying while S + P = 0 (no price: the formula would sell the
 *    whole limit for any amount).
 *  - volume reports (pot) charge ozone and take the traffic reward out of the prepay pool.
 *  - deposit changes (register, slashing) move L with S so the price does not jump.
 */
import { StratosError } from '../../errors.ts'
import { applyDepositChange, prepay, trafficReward, type OzoneMarket } from '../economics.ts'
import type { MsgPrepay } from '../msgs.ts'
import { MODULE_ACCOUNTS } from '../params.ts'
import { balanceOf, transfer } from './bank.ts'
import type { TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import { readAmount, writeAmount } from './codec.ts'

const LIMIT = 'sds/ozone_limit'
const DEPOSITS = 'sds/effective_deposits'
const OZONE = 'sds/ozone/'

export function readMarket(store: KvStore): OzoneMarket {
  return {
    S: readAmount(store, DEPOSITS),
    P: balanceOf(store, MODULE_ACCOUNTS.prepayPool),
    L: readAmount(store, LIMIT),
  }
}

/** Genesis: S0 and L0 (P0 is a genesis balance of the prepay pool). */
export function setGenesisMarket(store: KvStore, S: bigint, L: bigint): void {
  writeAmount(store, DEPOSITS, S)
  writeAmount(store, LIMIT, L)
}

/** S += delta and L moves in proportion (economics.applyDepositChange). */
export function changeEffectiveDeposits(store: KvStore, delta: bigint): void {
  if (delta === 0n) return
  const next = applyDepositChange(readMarket(store), delta)
  writeAmount(store, DEPOSITS, next.S)
  writeAmount(store, LIMIT, next.L)
}

export function ozoneBalance(store: KvStore, wallet: string): bigint {
  return readAmount(store, OZONE + wallet)
}

/** Takes up to `bytes` ozone from a wallet; returns what was taken (less when the wallet runs short). */
export function chargeOzone(store: KvStore, wallet: string, bytes: bigint): bigint {
  const have = ozoneBalance(store, wallet)
  const charged = have < bytes ? have : bytes
  if (charged > 0n) writeAmount(store, OZONE + wallet, have - charged)
  return charged
}

/**
 * Traffic reward for Y charged bytes: R (economics.trafficReward, capped at P) moves from the
 * prepay pool to the epoch's traffic-reward account, and L += Y. Returns R.
 */
export function takeTrafficReward(store: KvStore, Y: bigint): bigint {
  const r = trafficReward(readMarket(store), Y)
  transfer(store, MODULE_ACCOUNTS.prepayPool, MODULE_ACCOUNTS.trafficRewards, r.reward)
  writeAmount(store, LIMIT, r.market.L)
  return r.reward
}

export function handlePrepay(ctx: TxContext, msg: MsgPrepay): void {
  const market = readMarket(ctx.store)
  if (market.S + market.P === 0n)
    throw new StratosError('CONFLICT', 'the ozone market has no price (no deposits and an empty prepay pool)')
  const { ozone, market: next } = prepay(market, msg.amount)
  if (ozone === 0n)
    throw new StratosError('BAD_REQUEST', `prepaying ${msg.amount} wei buys no ozone at the current price`, {
      amount: msg.amount.toString(),
    })
  const beneficiary = msg.beneficiary ?? ctx.sender
  transfer(ctx.store, ctx.sender, MODULE_ACCOUNTS.prepayPool, msg.amount)
  writeAmount(ctx.store, LIMIT, next.L)
  writeAmount(ctx.store, OZONE + beneficiary, ozoneBalance(ctx.store, beneficiary) + ozone)
  ctx.emit('prepay', { sender: ctx.sender, beneficiary, amount: msg.amount, ozone })
}
