/**
 * Read-only views of the committed state for the REST API and the wallet CLI. Every method reads
 * the store as it is (the last committed block); nothing here writes.
 */
import { miningRewardForEpoch, ozonePrice, ozonePriceScaled, type OzoneMarket, type Rational } from './economics.ts'
import { MINING_POOL_WEI, MODULE_ACCOUNTS, TOTAL_SUPPLY_WEI } from './params.ts'
import { accountNonce } from './state/auth.ts'
import { allBalances, balanceOf } from './state/bank.ts'
import type { KvStore } from './state/kv.ts'
import {
  currentEpoch,
  epochSummary,
  rewardsOf,
  totalMined,
  volumeReports,
  type EpochSummary,
  type ReportSummary,
  type RewardEntry,
} from './state/pot.ts'
import { getNode, listNodes, nodesOf, resourceTier, type NodeRecord } from './state/register.ts'
import { ozoneBalance, readMarket } from './state/sds.ts'
import { slashRecords, type SlashRecord } from './state/slashing.ts'
import {
  delegationsOf,
  delegationsTo,
  getValidator,
  listValidators,
  unbondingsOf,
  type Delegation,
  type Unbonding,
  type Validator,
} from './state/staking.ts'
import type { ChainParams } from './params.ts'

export interface AccountView {
  address: string
  balance: bigint
  nonce: bigint
  ozone: bigint
}

export interface OzoneMarketView extends OzoneMarket {
  /** (S + P) / L wei per ozone unit (byte), exact. */
  price: Rational
  /** ⌊price · 2^30⌋: wei per GiB of traffic; null when no ozone is left. */
  weiPerGiB: bigint | null
}

export interface MiningView {
  currentEpoch: number
  totalMined: bigint
  miningPool: bigint
  /** Mining reward the next epoch boundary releases (if it has recipients), and its stage (0 = pool exhausted). */
  nextEpochReward: bigint
  stage: number
  totalSupply: bigint
  /** Total supply minus the unmined pool: every wei that exists outside the mining pool. */
  circulatingSupply: bigint
}

export interface RewardView extends RewardEntry {
  matured: boolean
}

export type NodeView = NodeRecord & { tier: number }

export class ChainQueries {
  constructor(
    private readonly store: KvStore,
    private readonly params: ChainParams,
  ) {}

  balance(address: string): bigint {
    return balanceOf(this.store, address)
  }

  nonce(address: string): bigint {
    return accountNonce(this.store, address)
  }

  account(address: string): AccountView {
    return { address, balance: this.balance(address), nonce: this.nonce(address), ozone: this.ozone(address) }
  }

  ozone(address: string): bigint {
    return ozoneBalance(this.store, address)
  }

  ozoneMarket(): OzoneMarketView {
    const m = readMarket(this.store)
    return { ...m, price: ozonePrice(m), weiPerGiB: ozonePriceScaled(m, 1n << 30n) }
  }

  validators(): Validator[] {
    return listValidators(this.store)
  }

  validator(operator: string): Validator | undefined {
    return getValidator(this.store, operator)
  }

  delegationsOf(delegator: string): Delegation[] {
    return delegationsOf(this.store, delegator)
  }

  delegationsTo(validator: string): Delegation[] {
    return delegationsTo(this.store, validator)
  }

  unbondings(delegator: string): Unbonding[] {
    return unbondingsOf(this.store, delegator)
  }

  node(address: string): NodeView | undefined {
    const n = getNode(this.store, address)
    return n && this.#nodeView(n)
  }

  resourceNodes(): NodeView[] {
    return listNodes(this.store, 'resource').map((n) => this.#nodeView(n))
  }

  metaNodes(): NodeView[] {
    return listNodes(this.store, 'meta').map((n) => this.#nodeView(n))
  }

  nodesOf(owner: string): NodeView[] {
    return nodesOf(this.store, owner).map((n) => this.#nodeView(n))
  }

  slashes(node: string): SlashRecord[] {
    return slashRecords(this.store, node)
  }

  /** A wallet's unwithdrawn rewards (optionally only the one credited at `epoch`). */
  rewards(wallet: string, epoch?: number): RewardView[] {
    const now = currentEpoch(this.store)
    return rewardsOf(this.store, wallet)
      .filter((r) => epoch === undefined || r.epoch === epoch)
      .map((r) => ({ ...r, matured: r.maturesAt <= now }))
  }

  volumeReports(epoch?: number): ReportSummary[] {
    return volumeReports(this.store, epoch)
  }

  epochSummary(epoch: number): EpochSummary | undefined {
    return epochSummary(this.store, epoch)
  }

  currentEpoch(): number {
    return currentEpoch(this.store)
  }

  mining(): MiningView {
    const mined = totalMined(this.store)
    const next = miningRewardForEpoch(mined)
    const pool = balanceOf(this.store, MODULE_ACCOUNTS.miningPool)
    return {
      currentEpoch: currentEpoch(this.store),
      totalMined: mined,
      miningPool: pool,
      nextEpochReward: next.reward,
      stage: next.stage?.stage ?? 0,
      totalSupply: TOTAL_SUPPLY_WEI,
      circulatingSupply: TOTAL_SUPPLY_WEI - pool,
    }
  }

  /** Balances of the module accounts. */
  moduleAccounts(): Record<keyof typeof MODULE_ACCOUNTS, bigint> {
    const out = {} as Record<keyof typeof MODULE_ACCOUNTS, bigint>
    for (const [name, account] of Object.entries(MODULE_ACCOUNTS) as Array<[keyof typeof MODULE_ACCOUNTS, string]>)
      out[name] = balanceOf(this.store, account)
    return out
  }

  /**
   * Audits the supply (O(accounts)): Σ all balances, which must equal TOTAL_SUPPLY_WEI, and the
   * mined total, which must equal MINING_POOL_WEI − the mining pool's balance.
   */
  supplyAudit(): { sumOfBalances: bigint; ok: boolean } {
    let sum = 0n
    for (const [, a] of allBalances(this.store)) sum += a
    const pool = balanceOf(this.store, MODULE_ACCOUNTS.miningPool)
    return { sumOfBalances: sum, ok: sum === TOTAL_SUPPLY_WEI && totalMined(this.store) === MINING_POOL_WEI - pool }
  }

  #nodeView(n: NodeRecord): NodeView {
    return { ...n, tier: n.kind === 'resource' ? resourceTier(this.params, n.deposit) : 0 }
  }
}
