/**
 * The economic formulas of the STOS chain, as pure functions over bigint.
 *
 * No floats anywhere: every division is an explicit floor of non-negative integers, and
 * every function that moves value returns the exact amounts so the caller can move the
 * same wei between accounts (nothing is created or lost in rounding).
 *
 * Ozone market (ARCHITECTURE.md "Economics"), with
 *   S = total effective node deposits (active resource and meta nodes),
 *   P = unissued prepay pool (STOS paid for ozone, not yet paid out as traffic rewards),
 *   L = remaining ozone limit (ozone that can still be sold; 1 ozone = 1 byte of traffic):
 *   price            = (S + P) / L                         wei per ozone
 *   prepay X wei     → ozone = ⌊L·X / (S + P + X)⌋,  L −= ozone,  P += X
 *   traffic volume Y → R = ⌊(S + P)·Y / (L + Y)⌋,     L += Y,      P −= R
 */
import { BPS_DENOMINATOR, MINING_POOL_WEI, MINING_STAGES, type MiningStage } from './params.ts'

export interface OzoneMarket {
  /** Total effective node deposits, wei. */
  readonly S: bigint
  /** Unissued prepay pool, wei. */
  readonly P: bigint
  /** Remaining ozone limit, ozone units (bytes). */
  readonly L: bigint
}

/** An exact non-negative rational number. */
export interface Rational {
  readonly num: bigint
  readonly den: bigint
}

/**
 * Ozone price (S + P) / L in wei per ozone unit, exactly. When L = 0 no ozone is left to sell:
 * the denominator is 0 and callers must treat the price as unbounded.
 */
export function ozonePrice(m: OzoneMarket): Rational {
  return { num: m.S + m.P, den: m.L }
}

/** ⌊price · scale⌋: the price scaled by `scale` (e.g. 10^18 for 18 decimals); null when L = 0. */
export function ozonePriceScaled(m: OzoneMarket, scale: bigint = 10n ** 18n): bigint | null {
  if (m.L === 0n) return null
  return ((m.S + m.P) * scale) / m.L
}

export interface PrepayResult {
  /** Ozone bought: ⌊L·X / (S + P + X)⌋. */
  readonly ozone: bigint
  readonly market: OzoneMarket
}

/**
 * Prepaying X wei buys ⌊L·X / (S+P+X)⌋ ozone; then L −= ozone and P += X.
 * The bought ozone is always < L (for S+P > 0), so L stays positive; when S + P = 0 the
 * formula would sell the whole limit, which the sds module refuses (see sds.ts).
 */
export function prepay(m: OzoneMarket, X: bigint): PrepayResult {
  assertNonNegative({ S: m.S, P: m.P, L: m.L, X })
  const denominator = m.S + m.P + X
  const ozone = denominator === 0n ? 0n : (m.L * X) / denominator
  return { ozone, market: { S: m.S, P: m.P + X, L: m.L - ozone } }
}

export interface TrafficRewardResult {
  /** Traffic reward paid out of the prepay pool: min(⌊(S+P)·Y / (L+Y)⌋, P). */
  readonly reward: bigint
  /** The uncapped formula value ⌊(S+P)·Y / (L+Y)⌋ (equals `reward` unless the pool ran short). */
  readonly formulaReward: bigint
  readonly market: OzoneMarket
}

/**
 * Traffic reward for a reported volume Y: R = ⌊(S+P)·Y / (L+Y)⌋; then L += Y.
 *
 * Where the reward comes from (our choice, documented): R is paid out of the prepay pool P,
 * so P −= R. The STOS users paid for ozone is what pays the nodes that served the traffic;
 * the deposits S only weigh in the price and are never spent. Because S is in the formula,
 * R may exceed P when deposits dwarf the pool, so R is capped at P (the pool cannot go
 * negative and no wei is created). For S = 0, R = P·Y/(L+Y) < P and the cap never applies.
 */
export function trafficReward(m: OzoneMarket, Y: bigint): TrafficRewardResult {
  assertNonNegative({ S: m.S, P: m.P, L: m.L, Y })
  const denominator = m.L + Y
  const formulaReward = denominator === 0n ? 0n : ((m.S + m.P) * Y) / denominator
  const reward = formulaReward < m.P ? formulaReward : m.P
  return { reward, formulaReward, market: { S: m.S, P: m.P - reward, L: m.L + Y } }
}

/**
 * A change ΔS of the effective deposits moves the ozone limit in proportion so the price
 * (S+P)/L does not jump when a node joins, leaves or is suspended (as Stratos does):
 * ΔL = ΔS·L / (S+P), rounded toward zero. For ΔS < 0, |ΔS| ≤ S ≤ S+P, so L stays ≥ 0.
 * When S + P = 0 there is no price to keep and L is left as it is.
 */
export function applyDepositChange(m: OzoneMarket, deltaS: bigint): OzoneMarket {
  assertNonNegative({ S: m.S, P: m.P, L: m.L })
  const S = m.S + deltaS
  if (S < 0n) throw new RangeError('effective deposits cannot become negative')
  const base = m.S + m.P
  if (base === 0n) return { S, P: m.P, L: m.L }
  const magnitude = ((deltaS < 0n ? -deltaS : deltaS) * m.L) / base
  return { S, P: m.P, L: deltaS < 0n ? m.L - magnitude : m.L + magnitude }
}

/** Converts an ozone debt to wei at the current price: ⌊debt·(S+P) / L⌋ (0 when L = 0). */
export function ozoneToWei(m: OzoneMarket, ozone: bigint): bigint {
  assertNonNegative({ ozone })
  return m.L === 0n ? 0n : (ozone * (m.S + m.P)) / m.L
}

// ---- Mining schedule ------------------------------------------------------------------------

export interface EpochMiningReward {
  /** Wei released this epoch: the stage's reward, or what is left of the pool if less. */
  readonly reward: bigint
  /** The stage the epoch falls in, by the cumulative mined amount before it; null once the pool is empty. */
  readonly stage: MiningStage | null
  /** `reward` split resource / meta / validator by the stage's basis points (remainder to resource). */
  readonly resource: bigint
  readonly meta: bigint
  readonly validator: bigint
}

/**
 * The mining reward of the next epoch, given the cumulative mined amount before it.
 *
 * The stage is chosen by where `totalMinedWei` stands (mined < stage end → that stage), and the
 * epoch pays that stage's full reward: if the mined total sits just below a stage end (possible
 * when an epoch's share was left in the pool for want of recipients), the epoch still pays the
 * lower stage's reward and crosses into the next stage. Only the pool's end is a hard cap: an
 * epoch that would cross 40,000,000 STOS pays what remains; after that, 0.
 */
export function miningRewardForEpoch(totalMinedWei: bigint): EpochMiningReward {
  assertNonNegative({ totalMinedWei })
  const remaining = MINING_POOL_WEI - totalMinedWei
  const stage = remaining > 0n ? (MINING_STAGES.find((s) => totalMinedWei < s.untilMinedWei) ?? null) : null
  if (!stage) return { reward: 0n, stage: null, resource: 0n, meta: 0n, validator: 0n }
  const reward = stage.rewardPerEpochWei < remaining ? stage.rewardPerEpochWei : remaining
  const [resource, meta, validator] = splitByBps(reward, [stage.resourceBps, stage.metaBps, stage.validatorBps])
  return { reward, stage, resource: resource!, meta: meta!, validator: validator! }
}

// ---- Splitting --------------------------------------------------------------------------------

/**
 * Splits `amount` by basis points that add up to 10,000: part i = ⌊amount·bps_i / 10,000⌋ and
 * the rounding remainder (< number of parts wei) goes to part 0, so Σ parts = amount exactly.
 */
export function splitByBps(amount: bigint, bps: readonly bigint[]): bigint[] {
  assertNonNegative({ amount })
  let total = 0n
  for (const b of bps) {
    if (b < 0n) throw new RangeError('basis points must be non-negative')
    total += b
  }
  if (total !== BPS_DENOMINATOR || bps.length === 0)
    throw new RangeError(`basis points must add up to ${BPS_DENOMINATOR}`)
  const parts = bps.map((b) => (amount * b) / BPS_DENOMINATOR)
  const distributed = parts.reduce((a, b) => a + b, 0n)
  parts[0] = parts[0]! + (amount - distributed)
  return parts
}

/**
 * Splits `amount` among recipients in proportion to their weights: share = ⌊amount·w / W⌋.
 * Recipients are taken in ascending key order (callers pass them sorted; this function sorts
 * a copy to be safe), and the rounding remainder (< number of recipients wei) goes to the
 * first recipient with a positive weight in that order, so Σ shares = amount exactly and the result is deterministic.
 * Zero-weight recipients get 0 (and are kept, so callers see every recipient).
 * Returns null when there is no positive weight: the caller decides where the amount goes.
 */
export function splitByWeights<K extends string>(
  amount: bigint,
  weights: ReadonlyArray<readonly [K, bigint]>,
): Array<[K, bigint]> | null {
  assertNonNegative({ amount })
  const sorted = [...weights].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  let total = 0n
  for (let i = 0; i < sorted.length; i++) {
    const w = sorted[i]![1]
    if (w < 0n) throw new RangeError('weights must be non-negative')
    if (i > 0 && sorted[i - 1]![0] === sorted[i]![0]) throw new RangeError(`duplicate recipient ${sorted[i]![0]}`)
    total += w
  }
  if (total === 0n) return null
  const shares: Array<[K, bigint]> = sorted.map(([k, w]) => [k, (amount * w) / total])
  const distributed = shares.reduce((a, s) => a + s[1], 0n)
  const first = sorted.findIndex(([, w]) => w > 0n)
  shares[first]![1] += amount - distributed
  return shares
}

function assertNonNegative(values: Record<string, bigint>): void {
  for (const [name, v] of Object.entries(values))
    if (v < 0n) throw new RangeError(`${name} must be non-negative, got ${v}`)
}
