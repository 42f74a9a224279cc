/**
 * pot (Proof of Traffic): volume reports, the epoch clock, the mining schedule and rewards.
 *
 * Epochs are numbered from 1; the end of every block whose height is a multiple of
 * params.epochBlocks closes the current epoch:
 *   1. the epoch's reward pool = the mining reward (economics.miningRewardForEpoch, taken from the
 *      mining pool) + the traffic rewards of the volume reports accepted during the epoch;
 *   2. each part is split by the stage's basis points into resource / meta / validator buckets
 *      (after the pool is exhausted, traffic rewards use the last stage's split);
 *   3. resource bucket → resource node owners by the traffic the epoch's reports credited them;
 *      meta bucket → owners of the active meta nodes, equally;
 *      validator bucket → validators by tokens, then commission + delegators by amount (staking);
 *   4. a bucket with no recipient is not paid: its mining part stays in the mining pool (not
 *      mined) and its traffic part goes back to the prepay pool P;
 *   5. rewards are credited per (wallet, epoch) and become withdrawable from epoch
 *      e + 1 + maturityEpochs (withdraw_rewards moves every matured entry to the wallet).
 *
 * Report and epoch summaries older than params.historyEpochs are pruned at each epoch end.
 *
 * A volume report (one per meta node and epoch, for an epoch that has ended, at most
 * reportWindowEpochs late) is signed by the meta node's key and sent by its owner. Applying it
 * charges each wallet's ozone (at most what the wallet has: Y = the ozone actually charged, so
 * nodes are paid only for paid traffic), takes the traffic reward R(Y) out of the prepay pool
 * and credits the nodes' traffic for the current epoch's split. The per-wallet volumes stay in
 * the transaction (block store); the state keeps a summary and the per-node traffic.
 */
import { StratosError } from '../../errors.ts'
import { miningRewardForEpoch, splitByBps, splitByWeights } from '../economics.ts'
import type { MsgVolumeReport, MsgWithdrawRewards } from '../msgs.ts'
import { verifyVolumeReport } from '../node-proofs.ts'
import { MINING_STAGES, MODULE_ACCOUNTS } from '../params.ts'
import { balanceOf, transfer } from './bank.ts'
import type { ExecContext, TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import {
  big,
  decodeAmount,
  decodeRecord,
  keyNum,
  num,
  readAmount,
  readRecord,
  str,
  writeAmount,
  writeRecord,
} from './codec.ts'
import { activeMetaNodes, getNode } from './register.ts'
import { chargeOzone, takeTrafficReward } from './sds.ts'
import { validatorRewardShares } from './staking.ts'

const EPOCH = 'pot/epoch'
const MINED = 'pot/mined'
const EPOCH_TRAFFIC = 'pot/cur_traffic/'
const REPORT = 'pot/report/'
const REWARD = 'pot/reward/'
const EPOCH_SUMMARY = 'pot/epoch_summary/'

export interface ReportSummary {
  epoch: number
  metaNode: string
  /** Height and epoch in which the report was applied (its traffic reward joined that epoch's split). */
  height: number
  creditedEpoch: number
  wallets: number
  reportedBytes: bigint
  chargedBytes: bigint
  trafficReward: bigint
  nodes: Array<{ node: string; bytes: bigint }>
}

export interface RewardEntry {
  wallet: string
  /** Epoch whose end credited the reward. */
  epoch: number
  amount: bigint
  /** First epoch in which the reward can be withdrawn. */
  maturesAt: number
}

export interface EpochSummary {
  epoch: number
  height: number
  stage: number
  miningReward: bigint
  trafficReward: bigint
  /** Paid to wallets this epoch (mining + traffic). */
  distributed: bigint
  /** Mining part left in the pool for want of recipients. */
  unminedReturned: bigint
  /** Traffic part returned to the prepay pool for want of recipients. */
  trafficReturned: bigint
  resource: bigint
  meta: bigint
  validator: bigint
  totalMinedAfter: bigint
}

export function currentEpoch(store: KvStore): number {
  return Number(readAmount(store, EPOCH))
}

export function totalMined(store: KvStore): bigint {
  return readAmount(store, MINED)
}

export function initGenesisPot(store: KvStore): void {
  writeAmount(store, EPOCH, 1n)
}

function parseSummary(r: Record<string, unknown>): ReportSummary {
  const nodes = (r.nodes as Array<Record<string, unknown>>).map((n) => ({
    node: str(n, 'node'),
    bytes: big(n, 'bytes'),
  }))
  return {
    epoch: num(r, 'epoch'),
    metaNode: str(r, 'metaNode'),
    height: num(r, 'height'),
    creditedEpoch: num(r, 'creditedEpoch'),
    wallets: num(r, 'wallets'),
    reportedBytes: big(r, 'reportedBytes'),
    chargedBytes: big(r, 'chargedBytes'),
    trafficReward: big(r, 'trafficReward'),
    nodes,
  }
}

/** Volume reports for one epoch (ascending by meta node), or all of them (ascending by epoch). */
export function volumeReports(store: KvStore, epoch?: number): ReportSummary[] {
  const prefix = epoch === undefined ? REPORT : `${REPORT}${keyNum(epoch)}/`
  return [...store.iterate(prefix)].map(([, v]) => decodeRecord(v, parseSummary))
}

export function handleVolumeReport(ctx: TxContext, msg: MsgVolumeReport): void {
  const { store } = ctx
  const r = msg.report
  if (r.chainId !== ctx.chainId)
    throw new StratosError('WRONG_CHAIN', `report is for chain ${r.chainId}`, { expected: ctx.chainId, got: r.chainId })
  const meta = getNode(store, r.metaNode)
  if (meta?.kind !== 'meta') throw new StratosError('NODE_NOT_REGISTERED', `no meta node ${r.metaNode}`)
  if (meta.owner !== ctx.sender)
    throw new StratosError('NOT_OWNER', `${ctx.sender} does not own meta node ${r.metaNode}`)
  if (meta.status !== 'active') throw new StratosError('CONFLICT', `meta node ${r.metaNode} is not active`)
  const epoch = ctx.block.epoch
  if (r.epoch < 1 || r.epoch >= epoch || epoch - r.epoch > ctx.params.reportWindowEpochs) {
    throw new StratosError(
      'BAD_REQUEST',
      `epoch ${r.epoch} cannot be reported in epoch ${epoch} (window ${ctx.params.reportWindowEpochs})`,
      { epoch: r.epoch, current: epoch },
    )
  }
  const reportKey = `${REPORT}${keyNum(r.epoch)}/${r.metaNode}`
  if (store.get(reportKey))
    throw new StratosError('CONFLICT', `meta node ${r.metaNode} already reported epoch ${r.epoch}`)
  let walletTotal = 0n
  for (const w of r.wallets) walletTotal += w.bytes
  let nodeTotal = 0n
  for (const n of r.nodes) {
    nodeTotal += n.bytes
    const rec = getNode(store, n.node)
    if (rec?.kind !== 'resource')
      throw new StratosError('NODE_NOT_REGISTERED', `report credits unknown resource node ${n.node}`, { node: n.node })
  }
  if (walletTotal !== nodeTotal) {
    throw new StratosError(
      'BAD_REQUEST',
      `wallet volumes (${walletTotal}) and node traffic (${nodeTotal}) must add up to the same bytes`,
    )
  }
  if (!verifyVolumeReport(r, msg.publicKey, msg.signature))
    throw new StratosError('INVALID_SIGNATURE', 'volume report is not signed by its meta node')

  let charged = 0n
  for (const w of r.wallets) charged += chargeOzone(store, w.wallet, w.bytes)
  const reward = takeTrafficReward(store, charged)
  for (const n of r.nodes) {
    const key = EPOCH_TRAFFIC + n.node
    writeAmount(store, key, readAmount(store, key) + n.bytes)
  }
  const summary: ReportSummary = {
    epoch: r.epoch,
    metaNode: r.metaNode,
    height: ctx.block.height,
    creditedEpoch: epoch,
    wallets: r.wallets.length,
    reportedBytes: walletTotal,
    chargedBytes: charged,
    trafficReward: reward,
    nodes: r.nodes.map((n) => ({ node: n.node, bytes: n.bytes })),
  }
  writeRecord(store, reportKey, summary)
  ctx.emit('volume_report', {
    epoch: r.epoch,
    metaNode: r.metaNode,
    wallets: r.wallets.length,
    nodes: r.nodes.length,
    reportedBytes: walletTotal,
    chargedBytes: charged,
    trafficReward: reward,
  })
}

/** Closes the current epoch: distributes its rewards and starts the next (see the module doc). */
export function endEpoch(ctx: ExecContext): EpochSummary {
  const { store } = ctx
  const epoch = currentEpoch(store)
  const minedBefore = totalMined(store)
  const mining = miningRewardForEpoch(minedBefore)
  const stage = mining.stage ?? MINING_STAGES[MINING_STAGES.length - 1]!
  const traffic = balanceOf(store, MODULE_ACCOUNTS.trafficRewards)
  const [trafficResource, trafficMeta, trafficValidator] = splitByBps(traffic, [
    stage.resourceBps,
    stage.metaBps,
    stage.validatorBps,
  ])

  const rewards = new Map<string, bigint>()
  const credit = (shares: Iterable<readonly [string, bigint]>): void => {
    for (const [wallet, a] of shares) if (a > 0n) rewards.set(wallet, (rewards.get(wallet) ?? 0n) + a)
  }
  let mined = 0n
  let trafficReturned = 0n
  const bucket = (
    miningPart: bigint,
    trafficPart: bigint,
    shares: (amount: bigint) => Iterable<readonly [string, bigint]> | null,
  ): bigint => {
    const amount = miningPart + trafficPart
    const s = amount > 0n ? shares(amount) : null
    if (!s) {
      trafficReturned += trafficPart
      return 0n
    }
    mined += miningPart
    credit(s)
    return amount
  }

  // Resource nodes by the traffic credited this epoch (nodes that have since been forgotten drop out).
  const resourceWeights = new Map<string, bigint>()
  const ownerOf = new Map<string, string>()
  for (const [k, v] of store.iterate(EPOCH_TRAFFIC)) {
    const node = k.slice(EPOCH_TRAFFIC.length)
    store.delete(k)
    const rec = getNode(store, node)
    if (!rec) continue
    resourceWeights.set(node, decodeAmount(v, k))
    ownerOf.set(node, rec.owner)
  }
  const resourcePaid = bucket(mining.resource, trafficResource, (amount) => {
    const s = splitByWeights(amount, [...resourceWeights])
    return s === null ? null : s.map(([node, a]) => [ownerOf.get(node)!, a] as const)
  })
  const metas = activeMetaNodes(store)
  const metaPaid = bucket(mining.meta, trafficMeta, (amount) => {
    const s = splitByWeights(
      amount,
      metas.map((m) => [m.node, 1n] as const),
    )
    const owners = new Map(metas.map((m) => [m.node, m.owner]))
    return s === null ? null : s.map(([node, a]) => [owners.get(node)!, a] as const)
  })
  const validatorPaid = bucket(mining.validator, trafficValidator, (amount) => validatorRewardShares(store, amount))

  transfer(store, MODULE_ACCOUNTS.miningPool, MODULE_ACCOUNTS.rewards, mined)
  transfer(store, MODULE_ACCOUNTS.trafficRewards, MODULE_ACCOUNTS.rewards, traffic - trafficReturned)
  transfer(store, MODULE_ACCOUNTS.trafficRewards, MODULE_ACCOUNTS.prepayPool, trafficReturned)
  writeAmount(store, MINED, minedBefore + mined)

  const maturesAt = epoch + 1 + ctx.params.maturityEpochs
  for (const wallet of [...rewards.keys()].sort()) {
    const key = `${REWARD}${wallet}/${keyNum(epoch)}`
    writeRecord(store, key, { amount: rewards.get(wallet)!, maturesAt })
  }
  const summary: EpochSummary = {
    epoch,
    height: ctx.block.height,
    stage: mining.stage?.stage ?? 0,
    miningReward: mining.reward,
    trafficReward: traffic,
    distributed: resourcePaid + metaPaid + validatorPaid,
    unminedReturned: mining.reward - mined,
    trafficReturned,
    resource: resourcePaid,
    meta: metaPaid,
    validator: validatorPaid,
    totalMinedAfter: minedBefore + mined,
  }
  writeRecord(store, EPOCH_SUMMARY + keyNum(epoch), summary)
  writeAmount(store, EPOCH, BigInt(epoch + 1))
  // History retention: forget the summaries of the epoch that just left the window.
  const expired = epoch - ctx.params.historyEpochs
  if (expired >= 1) {
    store.delete(EPOCH_SUMMARY + keyNum(expired))
    for (const [k] of store.iterate(`${REPORT}${keyNum(expired)}/`)) store.delete(k)
  }
  ctx.emit('epoch_end', { ...summary })
  return summary
}

function parseEpochSummary(r: Record<string, unknown>): EpochSummary {
  return {
    epoch: num(r, 'epoch'),
    height: num(r, 'height'),
    stage: num(r, 'stage'),
    miningReward: big(r, 'miningReward'),
    trafficReward: big(r, 'trafficReward'),
    distributed: big(r, 'distributed'),
    unminedReturned: big(r, 'unminedReturned'),
    trafficReturned: big(r, 'trafficReturned'),
    resource: big(r, 'resource'),
    meta: big(r, 'meta'),
    validator: big(r, 'validator'),
    totalMinedAfter: big(r, 'totalMinedAfter'),
  }
}

export function epochSummary(store: KvStore, epoch: number): EpochSummary | undefined {
  return readRecord(store, EPOCH_SUMMARY + keyNum(epoch), parseEpochSummary)
}

/** A wallet's reward entries not yet withdrawn, ascending by epoch. */
export function rewardsOf(store: KvStore, wallet: string): RewardEntry[] {
  const prefix = `${REWARD}${wallet}/`
  return [...store.iterate(prefix)].map(([k, v]) =>
    decodeRecord(v, (r) => ({
      wallet,
      epoch: Number(k.slice(prefix.length)),
      amount: big(r, 'amount'),
      maturesAt: num(r, 'maturesAt'),
    })),
  )
}

export function handleWithdrawRewards(ctx: TxContext, _msg: MsgWithdrawRewards): void {
  const epoch = ctx.block.epoch
  let amount = 0n
  let entries = 0
  for (const e of rewardsOf(ctx.store, ctx.sender)) {
    if (e.maturesAt > epoch) continue
    amount += e.amount
    entries++
    ctx.store.delete(`${REWARD}${ctx.sender}/${keyNum(e.epoch)}`)
  }
  if (entries === 0) throw new StratosError('NOT_FOUND', `${ctx.sender} has no matured rewards`)
  transfer(ctx.store, MODULE_ACCOUNTS.rewards, ctx.sender, amount)
  ctx.emit('withdraw_rewards', { wallet: ctx.sender, amount, entries })
}
