/**
 * Genesis: the chain's first state.
 *
 * The whole supply exists from the start: TOTAL_SUPPLY_WEI = Σ account balances + the prepay
 * pool P0 + the 40,000,000 STOS mining pool (held by the `mining_pool` module account). Genesis
 * validators and nodes are bonded out of their owners' listed balances. The ozone market starts
 * at S0 = Σ genesis node deposits, P0 and L0 as given; `devnetGenesis` derives L0 from a target
 * price (default 1 STOS per GiB: L0 = (S0 + P0) · 2^30 / 10^18).
 *
 * A genesis is data (JSON with amounts as decimal strings, decoded with `decodeGenesis`), so
 * the chain node and the devnet can write it to a file and every validator starts identically.
 */
import { z } from 'zod'
import { canonicalJson, type CanonicalValue } from '../crypto/canonical.ts'
import { StratosError } from '../errors.ts'
import {
  DEFAULT_GENESIS_OZONE_PRICE,
  DEFAULT_GENESIS_PREPAY_POOL_WEI,
  DEVNET_PARAMS,
  MAINNET_PARAMS,
  MAX_CHAIN_ID_CHARS,
  MINING_POOL_WEI,
  MODULE_ACCOUNTS,
  TOTAL_SUPPLY_WEI,
  type ChainParams,
} from './params.ts'
import {
  parseOrThrow,
  zAmount,
  zBps,
  zEd25519PublicKey,
  zMoniker,
  zNodeUrl,
  zNodeAddress,
  zPositiveAmount,
  zWalletAddress,
} from './schema.ts'
import { setGenesisBalance } from './state/bank.ts'
import { big, num, readRecord, str, writeRecord } from './state/codec.ts'
import type { KvStore } from './state/kv.ts'
import { initGenesisPot } from './state/pot.ts'
import { registerNode } from './state/register.ts'
import { readMarket, setGenesisMarket } from './state/sds.ts'
import { createValidator, syncConsensusSet } from './state/staking.ts'

const zParams = z
  .strictObject({
    epochBlocks: z.number().int().min(1).max(1_000_000_000),
    maturityEpochs: z.number().int().min(0).max(1_000_000_000),
    unbondingBlocks: z.number().int().min(1).max(1_000_000_000),
    reportWindowEpochs: z.number().int().min(1).max(1_000_000),
    historyEpochs: z.number().int().min(1).max(1_000_000_000),
    minFeeWei: zAmount,
    minSelfDelegationWei: zAmount,
    resourceNodeTiersWei: z
      .array(zPositiveAmount)
      .min(1)
      .max(16)
      .refine((t) => t.every((v, i) => i === 0 || v > t[i - 1]!), 'tiers must be strictly ascending'),
    minMetaNodeDepositWei: zPositiveAmount,
    // Validator slashing (absent in genesis files written before it existed: the mainnet values).
    signedBlocksWindow: z.number().int().min(1).max(1_000_000).default(MAINNET_PARAMS.signedBlocksWindow),
    minSignedPerWindowBps: zBps.default(MAINNET_PARAMS.minSignedPerWindowBps),
    downtimeJailBlocks: z.number().int().min(0).max(1_000_000_000).default(MAINNET_PARAMS.downtimeJailBlocks),
    slashFractionDowntimeBps: zBps.default(MAINNET_PARAMS.slashFractionDowntimeBps),
    slashFractionDoubleSignBps: zBps.default(MAINNET_PARAMS.slashFractionDoubleSignBps),
  })
  .refine((p) => p.historyEpochs > p.reportWindowEpochs, {
    message:
      'historyEpochs must exceed reportWindowEpochs (a report summary is what refuses a second report for the same epoch)',
    path: ['historyEpochs'],
  })

const zGenesisNode = z.strictObject({
  node: zNodeAddress,
  publicKey: zEd25519PublicKey,
  owner: zWalletAddress,
  deposit: zPositiveAmount,
  moniker: zMoniker,
  /** A meta node's public URL (see create_meta_node); ignored for resource nodes. */
  url: zNodeUrl.optional(),
})

export const zGenesis = z.strictObject({
  chainId: z.string().min(1).max(MAX_CHAIN_ID_CHARS),
  genesisTime: z.number().int().nonnegative(),
  params: zParams,
  accounts: z.array(z.strictObject({ address: zWalletAddress, balance: zAmount })),
  prepayPoolWei: zAmount,
  ozoneLimit: zPositiveAmount,
  validators: z.array(
    z.strictObject({
      operator: zWalletAddress,
      consensusKey: zEd25519PublicKey,
      commissionBps: zBps,
      selfDelegation: zPositiveAmount,
      moniker: zMoniker,
    }),
  ),
  resourceNodes: z.array(zGenesisNode),
  metaNodes: z.array(zGenesisNode),
})

export type GenesisConfig = z.output<typeof zGenesis>
export type GenesisNode = GenesisConfig['resourceNodes'][number]
export type GenesisValidator = GenesisConfig['validators'][number]

/** Decodes a genesis document (parsed JSON); BAD_REQUEST with the path of each problem. */
export function decodeGenesis(value: unknown): GenesisConfig {
  return parseOrThrow(zGenesis, value, 'genesis')
}

const CHAIN_CONFIG_KEY = 'params/chain'

export interface StoredChainConfig {
  chainId: string
  genesisTime: number
  params: ChainParams
}

/** Reads the chain id and parameters written by genesis. */
export function readChainConfig(store: KvStore): StoredChainConfig | undefined {
  return readRecord(store, CHAIN_CONFIG_KEY, (r) => {
    const p = r.params as Record<string, unknown>
    return {
      chainId: str(r, 'chainId'),
      genesisTime: num(r, 'genesisTime'),
      params: {
        epochBlocks: num(p, 'epochBlocks'),
        maturityEpochs: num(p, 'maturityEpochs'),
        unbondingBlocks: num(p, 'unbondingBlocks'),
        reportWindowEpochs: num(p, 'reportWindowEpochs'),
        historyEpochs: num(p, 'historyEpochs'),
        minFeeWei: big(p, 'minFeeWei'),
        minSelfDelegationWei: big(p, 'minSelfDelegationWei'),
        resourceNodeTiersWei: (p.resourceNodeTiersWei as unknown[]).map((v) => big({ v }, 'v')),
        minMetaNodeDepositWei: big(p, 'minMetaNodeDepositWei'),
        signedBlocksWindow: numOr(p, 'signedBlocksWindow', MAINNET_PARAMS.signedBlocksWindow),
        minSignedPerWindowBps: numOr(p, 'minSignedPerWindowBps', MAINNET_PARAMS.minSignedPerWindowBps),
        downtimeJailBlocks: numOr(p, 'downtimeJailBlocks', MAINNET_PARAMS.downtimeJailBlocks),
        slashFractionDowntimeBps: numOr(p, 'slashFractionDowntimeBps', MAINNET_PARAMS.slashFractionDowntimeBps),
        slashFractionDoubleSignBps: numOr(p, 'slashFractionDoubleSignBps', MAINNET_PARAMS.slashFractionDoubleSignBps),
      },
    }
  })
}

/** A parameter stored before it existed reads as its default (a chain started by an older version). */
function numOr(p: Record<string, unknown>, field: string, fallback: number): number {
  return p[field] === undefined ? fallback : num(p, field)
}

/**
 * Writes the genesis state into `store` (normally an empty overlay). Throws BAD_REQUEST when the
 * supply does not add up or an address repeats, INSUFFICIENT_FUNDS when an owner cannot cover
 * its stake or deposit.
 */
export function writeGenesis(store: KvStore, input: GenesisConfig): void {
  // A genesis built in code gets the same validation as one read from a file.
  const config = decodeGenesis(JSON.parse(canonicalJson(input as unknown as CanonicalValue)))
  const params: ChainParams = config.params
  const seen = new Set<string>()
  let accounts = 0n
  for (const a of config.accounts) {
    if (seen.has(a.address)) throw new StratosError('BAD_REQUEST', `genesis lists account ${a.address} twice`)
    seen.add(a.address)
    accounts += a.balance
  }
  const total = accounts + config.prepayPoolWei + MINING_POOL_WEI
  if (total !== TOTAL_SUPPLY_WEI) {
    throw new StratosError(
      'BAD_REQUEST',
      `genesis allocates ${total} wei; accounts + prepay pool + mining pool must be exactly ${TOTAL_SUPPLY_WEI}`,
      { total: total.toString() },
    )
  }
  if (config.ozoneLimit <= 0n) throw new StratosError('BAD_REQUEST', 'the genesis ozone limit must be positive')

  writeRecord(store, CHAIN_CONFIG_KEY, { chainId: config.chainId, genesisTime: config.genesisTime, params })
  for (const a of config.accounts) setGenesisBalance(store, a.address, a.balance)
  setGenesisBalance(store, MODULE_ACCOUNTS.miningPool, MINING_POOL_WEI)
  setGenesisBalance(store, MODULE_ACCOUNTS.prepayPool, config.prepayPoolWei)
  initGenesisPot(store)
  for (const v of config.validators) createValidator(store, v, 0, params.minSelfDelegationWei)
  syncConsensusSet(store)
  for (const n of config.resourceNodes) registerNode(store, params, { ...n, kind: 'resource' }, 'active', 0)
  for (const n of config.metaNodes) registerNode(store, params, { ...n, kind: 'meta' }, 'active', 0)
  const { S, P } = readMarket(store)
  if (S + P === 0n)
    throw new StratosError('BAD_REQUEST', 'genesis needs node deposits or a prepay pool to give ozone a price')
  setGenesisMarket(store, S, config.ozoneLimit)
}

export interface DevnetGenesisOptions {
  chainId: string
  /** Dev wallets; the non-mining supply (minus the prepay pool) is split equally among them. */
  wallets: readonly string[]
  genesisTime?: number
  params?: Partial<ChainParams>
  prepayPoolWei?: bigint
  /** Target ozone price at genesis (wei per `bytes`); L0 is derived from it. */
  ozonePrice?: { wei: bigint; bytes: bigint }
  validators?: GenesisValidator[]
  resourceNodes?: GenesisNode[]
  metaNodes?: GenesisNode[]
}

/** A valid genesis for a local network: funded dev wallets, short epochs, optional validators and nodes. */
export function devnetGenesis(o: DevnetGenesisOptions): GenesisConfig {
  if (o.wallets.length === 0) throw new StratosError('BAD_REQUEST', 'a devnet needs at least one wallet')
  const prepayPoolWei = o.prepayPoolWei ?? DEFAULT_GENESIS_PREPAY_POOL_WEI
  const spendable = TOTAL_SUPPLY_WEI - MINING_POOL_WEI - prepayPoolWei
  const each = spendable / BigInt(o.wallets.length)
  const accounts = o.wallets.map((address, i) => ({
    address,
    balance: each + (i === 0 ? spendable - each * BigInt(o.wallets.length) : 0n),
  }))
  const resourceNodes = o.resourceNodes ?? []
  const metaNodes = o.metaNodes ?? []
  const S0 = [...resourceNodes, ...metaNodes].reduce((a, n) => a + n.deposit, 0n)
  const price = o.ozonePrice ?? DEFAULT_GENESIS_OZONE_PRICE
  const ozoneLimit = ((S0 + prepayPoolWei) * price.bytes) / price.wei
  const params = { ...DEVNET_PARAMS, ...o.params }
  return {
    chainId: o.chainId,
    genesisTime: o.genesisTime ?? 0,
    params: { ...params, resourceNodeTiersWei: [...params.resourceNodeTiersWei] },
    accounts,
    prepayPoolWei,
    ozoneLimit,
    validators: o.validators ?? [],
    resourceNodes,
    metaNodes,
  }
}
