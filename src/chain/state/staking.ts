/**
 * staking: validators, delegations and unbonding.
 *
 * A validator is identified by its operator wallet (the sender of create_validator); its voting
 * power is `tokens`, the sum of all delegations to it (the operator's self-delegation included).
 * A delegation is a plain amount (no shares): slashing a validator (validator-slashing.ts) cuts every
 * delegation to it by the same fraction.
 * Bonded tokens sit in the `bonded` module account; an undelegation moves them to `unbonding`
 * and pays them back to the delegator at the end of block `height + unbondingBlocks`. Until then
 * the entry still answers for the validator it left (as Cosmos x/staking): a slash for an
 * infraction at or before the undelegation's height cuts it too (`slashValidatorTokens`), so
 * undelegating after double signing does not escape the slash.
 *
 * Validator rewards (pot, at each epoch boundary) are split by tokens between the validators that are
 * not jailed; of a validator's part the operator keeps its commission and the rest is split by
 * delegated amount.
 *
 * The consensus set (what CometBFT signs blocks with): every validator that is not jailed, with a
 * power of its tokens / POWER_REDUCTION_WEI (whole STOS; "bonded" = power ≥ 1), keyed by its ed25519
 * consensus key. `syncConsensusSet` runs at genesis and at the end of every block: it compares that
 * set with the one last handed to consensus (kept in state under staking/power/) and returns the
 * changes as validator updates (power 0 = removed), which FinalizeBlock passes to CometBFT. A change
 * that would leave the set empty is not made (CometBFT cannot run without validators): the last set
 * stays until a validator is bonded again.
 */
import { fromHex, sha256, toHex } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import { splitByWeights } from '../economics.ts'
import type { MsgCreateValidator, MsgDelegate, MsgUndelegate } from '../msgs.ts'
import { BPS_DENOMINATOR, MODULE_ACCOUNTS, POWER_REDUCTION_WEI } from '../params.ts'
import { transfer } from './bank.ts'
import type { ExecContext, TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import {
  big,
  decodeAmount,
  decodeRecord,
  encodeText,
  keyNum,
  num,
  readAmount,
  readRecord,
  str,
  writeAmount,
  writeRecord,
} from './codec.ts'

const VALIDATOR = 'staking/val/'
const CONSENSUS_KEY = 'staking/cons/'
/** Consensus address (hex of sha256(consensus key)[:20], CometBFT's validator address) → operator. */
const CONSENSUS_ADDRESS = 'staking/consaddr/'
/** Consensus key → power last handed to consensus. */
const POWER = 'staking/power/'
const DELEGATION = 'staking/del/'
const BY_DELEGATOR = 'staking/delby/'
const UNBONDING_QUEUE = 'staking/unbq/'
const UNBONDING_BY_DELEGATOR = 'staking/unbby/'
/** validator/creationHeight/completionHeight/delegator → the part of an unbonding that left that validator (slashing). */
const UNBONDING_BY_VALIDATOR = 'staking/unbval/'
/** completionHeight/(an UNBONDING_BY_VALIDATOR key without its prefix) → 1: which of those entries end at a height. */
const UNBONDING_BY_VALIDATOR_QUEUE = 'staking/unbvq/'
const ONE = encodeText('1')

export interface Validator {
  operator: string
  consensusKey: string
  commissionBps: number
  tokens: bigint
  moniker: string
  createdHeight: number
  /** Out of the consensus set (downtime or double signing) until it unjails. */
  jailed: boolean
  /** First height an unjail is accepted. */
  jailedUntil: number
  /** Double signed: jailed for good. */
  tombstoned: boolean
}

/** A change of the consensus set: the validator's ed25519 key (hex) and its new power (0: removed). */
export interface ValidatorUpdate {
  consensusKey: string
  power: bigint
}

export interface Delegation {
  delegator: string
  validator: string
  amount: bigint
}

export interface Unbonding {
  delegator: string
  amount: bigint
  completionHeight: number
}

function parseValidator(r: Record<string, unknown>): Validator {
  return {
    operator: str(r, 'operator'),
    consensusKey: str(r, 'consensusKey'),
    commissionBps: num(r, 'commissionBps'),
    tokens: big(r, 'tokens'),
    moniker: str(r, 'moniker'),
    createdHeight: num(r, 'createdHeight'),
    jailed: r.jailed === true,
    jailedUntil: r.jailedUntil === undefined ? 0 : num(r, 'jailedUntil'),
    tombstoned: r.tombstoned === true,
  }
}

/** CometBFT's validator address of an ed25519 consensus key: lowercase hex of sha256(key)[:20]. */
export function consensusAddress(consensusKey: string): string {
  return toHex(sha256(fromHex(consensusKey)).subarray(0, 20))
}

/** The operator of the validator with this consensus address (hex, any case), if any. */
export function operatorOfConsensusAddress(store: KvStore, address: string): string | undefined {
  const v = store.get(CONSENSUS_ADDRESS + address.toLowerCase())
  return v === undefined ? undefined : new TextDecoder().decode(v)
}

/** Power a validator has in consensus: whole STOS of its tokens, 0 while jailed. */
export function consensusPower(v: Validator): bigint {
  return v.jailed ? 0n : v.tokens / POWER_REDUCTION_WEI
}

/** The consensus set as last handed to consensus, ascending by consensus key. */
export function consensusSet(store: KvStore): ValidatorUpdate[] {
  return [...store.iterate(POWER)].map(([k, v]) => ({ consensusKey: k.slice(POWER.length), power: decodeAmount(v, k) }))
}

/** Brings the stored consensus set up to date with staking; returns the changes (see the header). */
export function syncConsensusSet(store: KvStore): ValidatorUpdate[] {
  const wanted = new Map<string, bigint>()
  for (const v of listValidators(store)) {
    const power = consensusPower(v)
    if (power > 0n) wanted.set(v.consensusKey, power)
  }
  if (wanted.size === 0) return []
  const updates: ValidatorUpdate[] = []
  for (const { consensusKey, power } of consensusSet(store)) {
    const next = wanted.get(consensusKey) ?? 0n
    wanted.delete(consensusKey)
    if (next !== power) updates.push({ consensusKey, power: next })
  }
  for (const [consensusKey, power] of wanted) updates.push({ consensusKey, power })
  updates.sort((a, b) => (a.consensusKey < b.consensusKey ? -1 : 1))
  for (const u of updates) writeAmount(store, POWER + u.consensusKey, u.power)
  return updates
}

/** Writes a validator record (after a change of tokens or jail state). */
export function putValidator(store: KvStore, v: Validator): void {
  writeRecord(store, VALIDATOR + v.operator, v)
}

export function getValidator(store: KvStore, operator: string): Validator | undefined {
  return readRecord(store, VALIDATOR + operator, parseValidator)
}

/** All validators, ascending by operator address. */
export function listValidators(store: KvStore): Validator[] {
  return [...store.iterate(VALIDATOR)].map(([, v]) => decodeRecord(v, parseValidator))
}

export function getDelegation(store: KvStore, validator: string, delegator: string): bigint {
  return readAmount(store, `${DELEGATION}${validator}/${delegator}`)
}

export function delegationsTo(store: KvStore, validator: string): Delegation[] {
  const prefix = `${DELEGATION}${validator}/`
  return [...store.iterate(prefix)].map(([k, v]) => ({
    validator,
    delegator: k.slice(prefix.length),
    amount: decodeAmount(v, k),
  }))
}

export function delegationsOf(store: KvStore, delegator: string): Delegation[] {
  const prefix = `${BY_DELEGATOR}${delegator}/`
  return [...store.iterate(prefix)].map(([k]) => {
    const validator = k.slice(prefix.length)
    return { delegator, validator, amount: getDelegation(store, validator, delegator) }
  })
}

export function unbondingsOf(store: KvStore, delegator: string): Unbonding[] {
  const prefix = `${UNBONDING_BY_DELEGATOR}${delegator}/`
  return [...store.iterate(prefix)].map(([k, v]) => ({
    delegator,
    completionHeight: Number(k.slice(prefix.length)),
    amount: decodeAmount(v, k),
  }))
}

interface NewValidator {
  operator: string
  consensusKey: string
  commissionBps: number
  selfDelegation: bigint
  moniker: string
}

/** Creates a validator with its self-delegation (create_validator and genesis). */
export function createValidator(store: KvStore, v: NewValidator, height: number, minSelfDelegation: bigint): Validator {
  if (getValidator(store, v.operator)) throw new StratosError('CONFLICT', `${v.operator} is already a validator`)
  if (store.get(CONSENSUS_KEY + v.consensusKey))
    throw new StratosError('CONFLICT', 'consensus key is already used by another validator')
  if (v.selfDelegation < minSelfDelegation) {
    throw new StratosError('BAD_REQUEST', `self-delegation must be at least ${minSelfDelegation} wei`, {
      min: minSelfDelegation.toString(),
    })
  }
  if (!Number.isInteger(v.commissionBps) || v.commissionBps < 0 || v.commissionBps > Number(BPS_DENOMINATOR))
    throw new StratosError('BAD_REQUEST', 'commission must be 0…10000 bps')
  const validator: Validator = {
    operator: v.operator,
    consensusKey: v.consensusKey,
    commissionBps: v.commissionBps,
    tokens: 0n,
    moniker: v.moniker,
    createdHeight: height,
    jailed: false,
    jailedUntil: 0,
    tombstoned: false,
  }
  writeRecord(store, VALIDATOR + v.operator, validator)
  store.set(CONSENSUS_KEY + v.consensusKey, encodeText(v.operator))
  store.set(CONSENSUS_ADDRESS + consensusAddress(v.consensusKey), encodeText(v.operator))
  bond(store, v.operator, v.operator, v.selfDelegation)
  return validator
}

/** Moves `amount` from the delegator into the bonded pool and onto the validator. */
function bond(store: KvStore, validatorOperator: string, delegator: string, amount: bigint): void {
  const validator = getValidator(store, validatorOperator)
  if (!validator) throw new StratosError('NOT_FOUND', `no validator ${validatorOperator}`)
  transfer(store, delegator, MODULE_ACCOUNTS.bonded, amount)
  const key = `${DELEGATION}${validatorOperator}/${delegator}`
  writeAmount(store, key, readAmount(store, key) + amount)
  store.set(`${BY_DELEGATOR}${delegator}/${validatorOperator}`, ONE)
  writeRecord(store, VALIDATOR + validatorOperator, { ...validator, tokens: validator.tokens + amount })
}

export function handleCreateValidator(ctx: TxContext, msg: MsgCreateValidator): void {
  createValidator(
    ctx.store,
    {
      operator: ctx.sender,
      consensusKey: msg.consensusKey,
      commissionBps: msg.commissionBps,
      selfDelegation: msg.selfDelegation,
      moniker: msg.moniker,
    },
    ctx.block.height,
    ctx.params.minSelfDelegationWei,
  )
  ctx.emit('create_validator', {
    operator: ctx.sender,
    selfDelegation: msg.selfDelegation,
    commissionBps: msg.commissionBps,
  })
}

export function handleDelegate(ctx: TxContext, msg: MsgDelegate): void {
  bond(ctx.store, msg.validator, ctx.sender, msg.amount)
  ctx.emit('delegate', { delegator: ctx.sender, validator: msg.validator, amount: msg.amount })
}

export function handleUndelegate(ctx: TxContext, msg: MsgUndelegate): void {
  const { store } = ctx
  const validator = getValidator(store, msg.validator)
  if (!validator) throw new StratosError('NOT_FOUND', `no validator ${msg.validator}`)
  const key = `${DELEGATION}${msg.validator}/${ctx.sender}`
  const delegated = readAmount(store, key)
  if (delegated < msg.amount) {
    throw new StratosError('INSUFFICIENT_FUNDS', `delegation is ${delegated} wei, cannot undelegate ${msg.amount}`, {
      delegated: delegated.toString(),
    })
  }
  writeAmount(store, key, delegated - msg.amount)
  if (delegated === msg.amount) store.delete(`${BY_DELEGATOR}${ctx.sender}/${msg.validator}`)
  writeRecord(store, VALIDATOR + msg.validator, { ...validator, tokens: validator.tokens - msg.amount })
  transfer(store, MODULE_ACCOUNTS.bonded, MODULE_ACCOUNTS.unbonding, msg.amount)
  const completionHeight = ctx.block.height + ctx.params.unbondingBlocks
  const queueKey = `${UNBONDING_QUEUE}${keyNum(completionHeight)}/${ctx.sender}`
  writeAmount(store, queueKey, readAmount(store, queueKey) + msg.amount)
  const byKey = `${UNBONDING_BY_DELEGATOR}${ctx.sender}/${keyNum(completionHeight)}`
  writeAmount(store, byKey, readAmount(store, byKey) + msg.amount)
  const entry = `${keyNum(ctx.block.height)}/${keyNum(completionHeight)}/${ctx.sender}`
  const byValidator = `${UNBONDING_BY_VALIDATOR}${msg.validator}/${entry}`
  writeAmount(store, byValidator, readAmount(store, byValidator) + msg.amount)
  store.set(`${UNBONDING_BY_VALIDATOR_QUEUE}${keyNum(completionHeight)}/${msg.validator}/${entry}`, ONE)
  ctx.emit('undelegate', { delegator: ctx.sender, validator: msg.validator, amount: msg.amount, completionHeight })
}

/** End of block: pays back the undelegations whose period ends at this height. */
export function completeUnbondings(ctx: ExecContext): void {
  const prefix = `${UNBONDING_QUEUE}${keyNum(ctx.block.height)}/`
  for (const [k, v] of ctx.store.iterate(prefix)) {
    const delegator = k.slice(prefix.length)
    const amount = decodeAmount(v, k)
    transfer(ctx.store, MODULE_ACCOUNTS.unbonding, delegator, amount)
    ctx.store.delete(k)
    ctx.store.delete(`${UNBONDING_BY_DELEGATOR}${delegator}/${keyNum(ctx.block.height)}`)
    ctx.emit('unbonding_complete', { delegator, amount })
  }
  const byValidator = `${UNBONDING_BY_VALIDATOR_QUEUE}${keyNum(ctx.block.height)}/`
  for (const [k] of ctx.store.iterate(byValidator)) {
    ctx.store.delete(k)
    ctx.store.delete(UNBONDING_BY_VALIDATOR + k.slice(byValidator.length))
  }
}

/**
 * Splits a validator reward among validators (by tokens) and, inside each validator, between
 * the operator's commission and the delegators (by amount). Returns wallet → amount with
 * Σ = amount, or null when no validator has tokens.
 */
export function validatorRewardShares(store: KvStore, amount: bigint): Map<string, bigint> | null {
  const validators = listValidators(store).filter((v) => v.tokens > 0n && !v.jailed)
  const perValidator = splitByWeights(
    amount,
    validators.map((v) => [v.operator, v.tokens] as const),
  )
  if (!perValidator) return null
  const out = new Map<string, bigint>()
  const add = (wallet: string, a: bigint): void => {
    if (a > 0n) out.set(wallet, (out.get(wallet) ?? 0n) + a)
  }
  const byOperator = new Map(validators.map((v) => [v.operator, v]))
  for (const [operator, part] of perValidator) {
    const v = byOperator.get(operator)!
    const commission = (part * BigInt(v.commissionBps)) / BPS_DENOMINATOR
    const shares = splitByWeights(
      part - commission,
      delegationsTo(store, operator).map((d) => [d.delegator, d.amount] as const),
    )
    if (!shares) {
      add(operator, part) // tokens > 0 implies a delegation; kept for safety: the operator takes it all
      continue
    }
    add(operator, commission)
    for (const [delegator, a] of shares) add(delegator, a)
  }
  return out
}

/** What a validator slash took: from its delegations (bonded) and from unbondings that left it after the infraction. */
export interface ValidatorSlash {
  bonded: bigint
  unbonding: bigint
}

/**
 * Cuts every delegation to `operator` by `fractionBps` (rounded down per delegation), and every unbonding entry
 * that left `operator` at or after `infractionHeight` and has not completed yet (as Cosmos x/staking
 * slashUnbondingDelegation: those tokens were bonded to it when it misbehaved), and moves the total from the bonded
 * and unbonding pools to the prepay pool (it funds future traffic rewards: no wei leaves the supply, as with
 * resource node slashing).
 */
export function slashValidatorTokens(
  store: KvStore,
  operator: string,
  fractionBps: number,
  infractionHeight: number,
): ValidatorSlash {
  const validator = getValidator(store, operator)
  if (!validator) return { bonded: 0n, unbonding: 0n }
  const unbonding = slashUnbondings(store, operator, fractionBps, infractionHeight)
  let total = 0n
  for (const d of delegationsTo(store, operator)) {
    const cut = (d.amount * BigInt(fractionBps)) / BPS_DENOMINATOR
    if (cut === 0n) continue
    writeAmount(store, `${DELEGATION}${operator}/${d.delegator}`, d.amount - cut)
    if (d.amount === cut) store.delete(`${BY_DELEGATOR}${d.delegator}/${operator}`)
    total += cut
  }
  writeRecord(store, VALIDATOR + operator, { ...validator, tokens: validator.tokens - total })
  if (total > 0n) transfer(store, MODULE_ACCOUNTS.bonded, MODULE_ACCOUNTS.prepayPool, total)
  return { bonded: total, unbonding }
}

/** The unbonding part of a slash: each entry that left `operator` at or after `infractionHeight`, cut by the fraction. */
function slashUnbondings(store: KvStore, operator: string, fractionBps: number, infractionHeight: number): bigint {
  const prefix = `${UNBONDING_BY_VALIDATOR}${operator}/`
  let total = 0n
  for (const [k, v] of store.iterate(prefix)) {
    const [creation, completion, delegator] = k.slice(prefix.length).split('/') as [string, string, string]
    if (Number(creation) < infractionHeight) continue
    const amount = decodeAmount(v, k)
    const cut = (amount * BigInt(fractionBps)) / BPS_DENOMINATOR
    if (cut === 0n) continue
    writeAmount(store, k, amount - cut)
    for (const key of [
      `${UNBONDING_QUEUE}${completion}/${delegator}`,
      `${UNBONDING_BY_DELEGATOR}${delegator}/${completion}`,
    ]) {
      const left = readAmount(store, key) - cut
      if (left > 0n) writeAmount(store, key, left)
      else store.delete(key)
    }
    total += cut
  }
  if (total > 0n) transfer(store, MODULE_ACCOUNTS.unbonding, MODULE_ACCOUNTS.prepayPool, total)
  return total
}
