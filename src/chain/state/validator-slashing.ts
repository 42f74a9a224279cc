/**
 * Validator slashing from consensus, as Cosmos x/slashing does it (resource node slashing is slashing.ts).
 *
 * Consensus (CometBFT) tells the app, with every block, who signed the previous block (the commit's votes) and
 * which validators were caught double signing (the block's evidence). Both are part of the decided block, so every
 * validator applies the same thing. At the start of the block, before its transactions:
 *
 *   double signing  each reported validator that is not tombstoned yet loses slashFractionDoubleSignBps of its
 *                   bonded tokens (every delegation to it, and every unbonding that left it at or after the
 *                   evidence's height), is jailed and tombstoned: it never signs again.
 *   downtime        per validator, a ring of the last signedBlocksWindow votes (a key per missed slot) and its
 *                   count; once a full window has been seen, a validator that missed more than
 *                   window − window·minSignedPerWindowBps/10000 of them loses slashFractionDowntimeBps (with the
 *                   unbondings of the last DOWNTIME_INFRACTION_LAG blocks, as Cosmos takes the infraction to be
 *                   at height − ValidatorUpdateDelay − 1), is jailed for downtimeJailBlocks and its window starts
 *                   over.
 *
 * A jailed validator leaves the consensus set at the end of the block (staking.ts syncConsensusSet) and earns no
 * validator rewards. `unjail` (sent by its operator) puts it back once jailedUntil is reached, unless it is
 * tombstoned or its self-delegation fell below minSelfDelegationWei. Votes and evidence naming an address no
 * validator has (a key not in staking) are ignored. The embedded single-proposer engine reports no votes, so
 * nothing here runs there.
 */
import { StratosError } from '../../errors.ts'
import { BPS_DENOMINATOR } from '../params.ts'
import type { ExecContext, TxContext } from './context.ts'
import { keyNum, num, readRecord, writeRecord } from './codec.ts'
import type { KvStore } from './kv.ts'
import {
  getDelegation,
  getValidator,
  operatorOfConsensusAddress,
  putValidator,
  slashValidatorTokens,
} from './staking.ts'

/** Blocks before the current one that a downtime infraction is dated to (Cosmos: ValidatorUpdateDelay 1, + 1). */
const DOWNTIME_INFRACTION_LAG = 2
const SIGNING_INFO = 'vslash/info/'
const MISSED = 'vslash/missed/'
const ONE = new Uint8Array([0x31])

/** One validator's vote on the previous block, as consensus reports it. */
export interface ConsensusVote {
  /** CometBFT validator address: hex of sha256(consensus key)[:20]. */
  readonly address: string
  /** False when its vote is absent from the commit (x/slashing counts only "absent" as missed). */
  readonly signed: boolean
}

/** Evidence of a validator signing two different votes at one height. */
export interface DoubleSignEvidence {
  readonly address: string
  readonly height: number
}

/** What consensus says about the previous block; the embedded engine gives none. */
export interface ConsensusInfo {
  readonly votes: readonly ConsensusVote[]
  readonly misbehavior: readonly DoubleSignEvidence[]
}

export interface SigningInfo {
  /** Votes counted in the current window (the ring slot of the next vote is indexOffset % window). */
  indexOffset: number
  /** Missed votes in the ring. */
  missed: number
}

function readSigningInfo(store: KvStore, operator: string): SigningInfo {
  return (
    readRecord(store, SIGNING_INFO + operator, (r) => ({
      indexOffset: num(r, 'indexOffset'),
      missed: num(r, 'missed'),
    })) ?? {
      indexOffset: 0,
      missed: 0,
    }
  )
}

export function signingInfo(store: KvStore, operator: string): SigningInfo {
  return readSigningInfo(store, operator)
}

/** Forgets a validator's window (jailed now, or unjailed: it starts over). */
function resetWindow(store: KvStore, operator: string): void {
  for (const [k] of store.iterate(`${MISSED}${operator}/`)) store.delete(k)
  store.delete(SIGNING_INFO + operator)
}

/** Begin block: evidence first (a tombstoned validator's votes no longer count), then the votes. */
export function handleConsensusInfo(ctx: ExecContext, info: ConsensusInfo): void {
  for (const e of info.misbehavior) handleDoubleSign(ctx, e)
  for (const v of info.votes) handleVote(ctx, v)
}

function handleDoubleSign(ctx: ExecContext, e: DoubleSignEvidence): void {
  const operator = operatorOfConsensusAddress(ctx.store, e.address)
  const v = operator === undefined ? undefined : getValidator(ctx.store, operator)
  if (!operator || !v || v.tombstoned) return
  const slash = slashValidatorTokens(ctx.store, operator, ctx.params.slashFractionDoubleSignBps, e.height)
  putValidator(ctx.store, {
    ...getValidator(ctx.store, operator)!,
    jailed: true,
    tombstoned: true,
    jailedUntil: Number.MAX_SAFE_INTEGER,
  })
  resetWindow(ctx.store, operator)
  ctx.emit('validator_double_sign', {
    operator,
    address: e.address,
    infractionHeight: e.height,
    slashed: slash.bonded + slash.unbonding,
    slashedUnbonding: slash.unbonding,
  })
}

function handleVote(ctx: ExecContext, vote: ConsensusVote): void {
  const { store, params } = ctx
  const operator = operatorOfConsensusAddress(store, vote.address)
  const v = operator === undefined ? undefined : getValidator(store, operator)
  if (!operator || !v || v.jailed) return
  const window = params.signedBlocksWindow
  const info = readSigningInfo(store, operator)
  const slot = `${MISSED}${operator}/${keyNum(info.indexOffset % window)}`
  const wasMissed = store.get(slot) !== undefined
  if (!vote.signed && !wasMissed) {
    store.set(slot, ONE)
    info.missed++
  } else if (vote.signed && wasMissed) {
    store.delete(slot)
    info.missed--
  }
  info.indexOffset++
  const minSigned = (BigInt(window) * BigInt(params.minSignedPerWindowBps)) / BPS_DENOMINATOR
  const maxMissed = window - Number(minSigned)
  if (info.indexOffset >= window && info.missed > maxMissed) {
    const infractionHeight = ctx.block.height - DOWNTIME_INFRACTION_LAG
    const slash = slashValidatorTokens(store, operator, params.slashFractionDowntimeBps, infractionHeight)
    const jailedUntil = ctx.block.height + params.downtimeJailBlocks
    putValidator(store, { ...getValidator(store, operator)!, jailed: true, jailedUntil })
    resetWindow(store, operator)
    ctx.emit('validator_jailed', {
      operator,
      address: vote.address,
      missed: info.missed,
      window,
      slashed: slash.bonded + slash.unbonding,
      slashedUnbonding: slash.unbonding,
      jailedUntil,
    })
    return
  }
  writeRecord(store, SIGNING_INFO + operator, info)
}

/** `unjail`: the sender's validator back into the consensus set (see the header for when it is refused). */
export function handleUnjail(ctx: TxContext): void {
  const { store } = ctx
  const v = getValidator(store, ctx.sender)
  if (!v) throw new StratosError('NOT_FOUND', `${ctx.sender} is not a validator`)
  if (!v.jailed) throw new StratosError('CONFLICT', `validator ${ctx.sender} is not jailed`)
  if (v.tombstoned)
    throw new StratosError('CONFLICT', `validator ${ctx.sender} double signed and is tombstoned: it cannot unjail`)
  if (ctx.block.height < v.jailedUntil)
    throw new StratosError('CONFLICT', `validator ${ctx.sender} is jailed until height ${v.jailedUntil}`, {
      jailedUntil: v.jailedUntil,
    })
  const self = getDelegation(store, ctx.sender, ctx.sender)
  if (self < ctx.params.minSelfDelegationWei)
    throw new StratosError(
      'INSUFFICIENT_FUNDS',
      `self-delegation ${self} wei is below the minimum ${ctx.params.minSelfDelegationWei}: delegate more first`,
      { selfDelegation: self.toString(), min: ctx.params.minSelfDelegationWei.toString() },
    )
  putValidator(store, { ...v, jailed: false, jailedUntil: 0 })
  resetWindow(store, ctx.sender)
  ctx.emit('unjail', { operator: ctx.sender })
}
