/**
 * bank: balances of wallets and module accounts, and the `send` message.
 *
 * Every movement of STOS in the state machine is a `transfer` between two balances, so the sum
 * of all balances (wallets + module accounts) equals the genesis supply after every transition.
 * Balances are never negative: a transfer that would overdraw fails with INSUFFICIENT_FUNDS.
 */
import { StratosError } from '../../errors.ts'
import type { MsgSend } from '../msgs.ts'
import type { TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import { decodeAmount, readAmount, writeAmount } from './codec.ts'

const BALANCE = 'bank/bal/'

export function balanceOf(store: KvStore, account: string): bigint {
  return readAmount(store, BALANCE + account)
}

/** Only genesis sets balances directly; everything else moves them with `transfer`. */
export function setGenesisBalance(store: KvStore, account: string, amount: bigint): void {
  writeAmount(store, BALANCE + account, amount)
}

export function transfer(store: KvStore, from: string, to: string, amount: bigint): void {
  if (amount < 0n) throw new StratosError('INTERNAL', 'negative transfer')
  if (amount === 0n || from === to) {
    if (balanceOf(store, from) < amount) throw insufficient(from, amount, balanceOf(store, from))
    return
  }
  const fromBalance = balanceOf(store, from)
  if (fromBalance < amount) throw insufficient(from, amount, fromBalance)
  writeAmount(store, BALANCE + from, fromBalance - amount)
  writeAmount(store, BALANCE + to, balanceOf(store, to) + amount)
}

/** Every non-zero balance, ascending by account. */
export function* allBalances(store: KvStore): Generator<[account: string, amount: bigint]> {
  for (const [k, v] of store.iterate(BALANCE)) yield [k.slice(BALANCE.length), decodeAmount(v, k)]
}

export function handleSend(ctx: TxContext, msg: MsgSend): void {
  transfer(ctx.store, ctx.sender, msg.to, msg.amount)
  ctx.emit('transfer', { from: ctx.sender, to: msg.to, amount: msg.amount })
}

function insufficient(account: string, needed: bigint, available: bigint): StratosError {
  return new StratosError('INSUFFICIENT_FUNDS', `${account} has ${available} wei, needs ${needed}`, {
    account,
    needed: needed.toString(),
    available: available.toString(),
  })
}
