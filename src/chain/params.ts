/**
 * Chain parameters: the token's fixed numbers, the mining schedule and the per-chain
 * parameters a genesis file sets (epoch length, maturity, unbonding, fees, deposits).
 *
 * Everything here is consensus-critical: two validators with different values compute
 * different states. Per-chain values live in `ChainParams`, are written into the genesis
 * state (so they are covered by the state hash) and read back from it; the fixed numbers
 * below (supply, schedule, decoding bounds) are the same on every chain.
 *
 * Amounts are bigint wei (1 STOS = 10^18 wei). Ozone (prepaid traffic) is counted in
 * bytes of traffic: one ozone unit pays for one byte moved.
 */

export const WEI_PER_STOS = 10n ** 18n

/** `n` STOS in wei; `n` may be a decimal string with up to 18 fraction digits ("2.5"). */
export function stos(n: number | bigint | string): bigint {
  if (typeof n === 'bigint') return n * WEI_PER_STOS
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n)) throw new RangeError('stos(number) takes whole STOS; pass a string for fractions')
    return BigInt(n) * WEI_PER_STOS
  }
  const m = /^(\d+)(?:\.(\d{1,18}))?$/.exec(n)
  if (!m) throw new RangeError(`not a STOS amount: ${n}`)
  return BigInt(m[1]!) * WEI_PER_STOS + BigInt((m[2] ?? '').padEnd(18, '0') || '0')
}

/** Formats wei as STOS with the fraction trimmed ("2.5", "80"). For display only. */
export function formatStos(wei: bigint): string {
  const sign = wei < 0n ? '-' : ''
  const a = wei < 0n ? -wei : wei
  const whole = a / WEI_PER_STOS
  const frac = (a % WEI_PER_STOS).toString().padStart(18, '0').replace(/0+$/, '')
  return sign + whole.toString() + (frac ? '.' + frac : '')
}

// ---- Fixed token numbers -----------------------------------------------------------------
/** The whole supply, minted at genesis; no transition creates or destroys a wei. */
export const TOTAL_SUPPLY_WEI = stos(100_000_000)
/** 40% of the supply is the mining pool, released epoch by epoch by the schedule below. */
export const MINING_POOL_WEI = stos(40_000_000)
/** Basis points: 10,000 = 100%. */
export const BPS_DENOMINATOR = 10_000n

/**
 * One stage of the mining schedule: while the cumulative mined amount is below `untilMinedWei`
 * each epoch releases `rewardPerEpochWei`, split in basis points between resource nodes,
 * meta nodes and validators/delegators.
 */
export interface MiningStage {
  readonly stage: number
  /** Upper end (exclusive) of this stage, in cumulative mined wei. */
  readonly untilMinedWei: bigint
  readonly rewardPerEpochWei: bigint
  readonly resourceBps: bigint
  readonly metaBps: bigint
  readonly validatorBps: bigint
}

/**
 * The Stratos schedule (ARCHITECTURE.md "Economics"). Each of the first five stages lasts
 * exactly 210,240 full epochs (16,819,200 / 80 = 8,409,600 / 40 = … = 210,240) and the last
 * 2,965,120 (7,412,800 / 2.5); after 40,000,000 STOS the pool is empty and epochs mine 0.
 */
export const MINING_STAGES: readonly MiningStage[] = [
  {
    stage: 1,
    untilMinedWei: stos(16_819_200),
    rewardPerEpochWei: stos(80),
    resourceBps: 6000n,
    metaBps: 2000n,
    validatorBps: 2000n,
  },
  {
    stage: 2,
    untilMinedWei: stos(25_228_800),
    rewardPerEpochWei: stos(40),
    resourceBps: 6200n,
    metaBps: 1800n,
    validatorBps: 2000n,
  },
  {
    stage: 3,
    untilMinedWei: stos(29_433_600),
    rewardPerEpochWei: stos(20),
    resourceBps: 6400n,
    metaBps: 1600n,
    validatorBps: 2000n,
  },
  {
    stage: 4,
    untilMinedWei: stos(31_536_000),
    rewardPerEpochWei: stos(10),
    resourceBps: 6600n,
    metaBps: 1400n,
    validatorBps: 2000n,
  },
  {
    stage: 5,
    untilMinedWei: stos(32_587_200),
    rewardPerEpochWei: stos(5),
    resourceBps: 6800n,
    metaBps: 1200n,
    validatorBps: 2000n,
  },
  {
    stage: 6,
    untilMinedWei: MINING_POOL_WEI,
    rewardPerEpochWei: stos('2.5'),
    resourceBps: 7000n,
    metaBps: 1000n,
    validatorBps: 2000n,
  },
]

// ---- Module accounts -------------------------------------------------------------------------
/**
 * Balances held by the state machine itself. Their names contain ':' so they can never
 * collide with a bech32 address. Σ(all wallet balances) + Σ(module balances) = TOTAL_SUPPLY_WEI.
 */
export const MODULE_ACCOUNTS = {
  /** Unmined part of the 40M pool (pot). */
  miningPool: 'module:mining_pool',
  /** P: STOS paid for ozone and not yet paid out as traffic rewards (sds). */
  prepayPool: 'module:prepay_pool',
  /** Traffic rewards of the current epoch's volume reports, waiting for the epoch boundary (pot). */
  trafficRewards: 'module:traffic_rewards',
  /** Distributed rewards not yet withdrawn, immature and matured (pot). */
  rewards: 'module:rewards',
  /** Tokens delegated to validators (staking). */
  bonded: 'module:bonded',
  /** Tokens undelegated and waiting for the unbonding period (staking). */
  unbonding: 'module:unbonding',
  /** Deposits of resource and meta nodes, including ones being unbonded (register). */
  nodeDeposits: 'module:node_deposits',
  /** Transaction fees waiting for a block proposer that is a validator. */
  feeCollector: 'module:fee_collector',
} as const
export type ModuleAccount = (typeof MODULE_ACCOUNTS)[keyof typeof MODULE_ACCOUNTS]

// ---- Decoding bounds (stateless; same on every chain) -------------------------------------------
/** Largest signed transaction accepted, as JSON text (a 100,000-wallet volume report is ~7.3 MB). */
export const MAX_TX_BYTES = 8 * 1024 * 1024
/** Most messages one transaction may carry. */
export const MAX_MSGS_PER_TX = 32
/** Longest memo, in UTF-16 code units. */
export const MAX_MEMO_CHARS = 256
/** Longest moniker of a validator or node. */
export const MAX_MONIKER_CHARS = 64
/** Longest node URL a registration may carry (a meta node's public base URL). */
export const MAX_NODE_URL_CHARS = 200
/** Longest chain id. */
export const MAX_CHAIN_ID_CHARS = 64
/** Most wallets one volume report may charge (the benchmark target is 10,000). */
export const MAX_REPORT_WALLETS = 100_000
/** Most resource nodes one volume report may credit. */
export const MAX_REPORT_NODES = 10_000
/** Amounts are at most 2^256 − 1 (far above the supply; bounds bigint work on untrusted input). */
export const MAX_UINT256 = (1n << 256n) - 1n

// ---- Per-chain parameters -------------------------------------------------------------------
export interface ChainParams {
  /** Blocks per epoch. Mainnet: 600 one-second blocks = 10 minutes. */
  readonly epochBlocks: number
  /** Rewards credited at the end of epoch e are withdrawable from epoch e + 1 + maturityEpochs. */
  readonly maturityEpochs: number
  /** Blocks an undelegation or a node's deposit waits before it is paid back. */
  readonly unbondingBlocks: number
  /** A volume report for epoch e is accepted while the current epoch is ≤ e + reportWindowEpochs. */
  readonly reportWindowEpochs: number
  /**
   * Volume report summaries and epoch summaries are kept this many epochs, then pruned (the
   * reports themselves stay in the block store). Bounds state growth: a 100-node report is ~10 KB.
   */
  readonly historyEpochs: number
  /** Flat fee every transaction pays at least, to the block proposer. */
  readonly minFeeWei: bigint
  /** A validator is created with at least this self-delegation. */
  readonly minSelfDelegationWei: bigint
  /** Resource node tiers: tier i + 1 needs a deposit of at least resourceNodeTiersWei[i] (ascending). */
  readonly resourceNodeTiersWei: readonly bigint[]
  /** A meta node's deposit is at least this. */
  readonly minMetaNodeDepositWei: bigint
  // ---- Validator slashing from consensus (state/validator-slashing.ts; x/slashing's parameters) ----
  /** Blocks over which a validator's missed votes are counted (x/slashing's signed_blocks_window). */
  readonly signedBlocksWindow: number
  /** Share of the window a validator must sign, bps; missing more jails it (min_signed_per_window). */
  readonly minSignedPerWindowBps: number
  /** A validator jailed for downtime can unjail this many blocks later (downtime_jail_duration, in blocks). */
  readonly downtimeJailBlocks: number
  /** Share of a validator's bonded tokens (all its delegations) taken for downtime, bps. */
  readonly slashFractionDowntimeBps: number
  /** Share taken for double signing, bps; the validator is also tombstoned (jailed for good). */
  readonly slashFractionDoubleSignBps: number
}

/** Voting power sent to consensus (CometBFT) per bonded wei: 1 power per whole STOS (Cosmos' power reduction). */
export const POWER_REDUCTION_WEI = 10n ** 18n

/** Stratos-like mainnet values: 10-minute epochs, 2016-epoch (two-week) maturity, 21-day unbonding. */
export const MAINNET_PARAMS: ChainParams = {
  epochBlocks: 600,
  maturityEpochs: 2016,
  unbondingBlocks: 21 * 24 * 3600,
  reportWindowEpochs: 6,
  historyEpochs: 4032,
  minFeeWei: 10n ** 13n,
  minSelfDelegationWei: stos(1),
  resourceNodeTiersWei: [stos(1_000), stos(10_000), stos(100_000)],
  minMetaNodeDepositWei: stos(10_000),
  signedBlocksWindow: 10_000,
  minSignedPerWindowBps: 500,
  downtimeJailBlocks: 600,
  slashFractionDowntimeBps: 1,
  slashFractionDoubleSignBps: 500,
}

/** Devnet values: with 1-second blocks an epoch is 10 s and rewards are withdrawable 20 s after. */
export const DEVNET_PARAMS: ChainParams = {
  ...MAINNET_PARAMS,
  epochBlocks: 10,
  maturityEpochs: 1,
  unbondingBlocks: 20,
  reportWindowEpochs: 6,
  historyEpochs: 1000,
  signedBlocksWindow: 20,
  minSignedPerWindowBps: 5000,
  downtimeJailBlocks: 10,
  slashFractionDowntimeBps: 100,
  slashFractionDoubleSignBps: 500,
}

/**
 * Default ozone price at genesis: 1 STOS per GiB of traffic. The genesis helper derives the
 * initial ozone limit from it: L0 = (S0 + P0) / price, so price = (S0 + P0) / L0.
 */
export const DEFAULT_GENESIS_OZONE_PRICE = { wei: stos(1), bytes: 1n << 30n } as const
/** Default initial prepay pool P0 (taken from the non-mining supply): it anchors the price before any node deposits. */
export const DEFAULT_GENESIS_PREPAY_POOL_WEI = stos(1_000)

// ---- Chain node (src/chain/node): block production, mempool, REST API ------------------------
/** Devnet block interval: one block per second (epochs of DEVNET_PARAMS.epochBlocks blocks). */
export const DEVNET_BLOCK_INTERVAL_MS = 1_000
/** Most transactions the mempool holds. */
export const MEMPOOL_MAX_TXS = 20_000
/** Most bytes (canonical JSON of the signed txs) the mempool holds. */
export const MEMPOOL_MAX_BYTES = 64 * 1024 * 1024
/** Most pending transactions of one sender (one wallet cannot fill the pool). */
export const MEMPOOL_MAX_TXS_PER_SENDER = 1_000
/** Most transactions in one block. */
export const MAX_BLOCK_TXS = 10_000
/** Most bytes of transactions in one block (≥ MAX_TX_BYTES, so any admitted tx fits a block). */
export const MAX_BLOCK_BYTES = 32 * 1024 * 1024
/** Most concurrent Server-Sent-Events subscribers of GET /events/blocks. */
export const MAX_SSE_SUBSCRIBERS = 64
/** SSE comment sent this often so proxies and clients keep an idle stream open. */
export const SSE_KEEPALIVE_MS = 15_000
/** Most entries of one GET /accounts/:address/txs page (each reads its block). */
export const MAX_ACCOUNT_TXS_PAGE = 50
/** Most concurrent GET /txs/:hash/wait long-polls. */
export const MAX_TX_WAITERS = 4_096
/** Default and largest timeout of GET /txs/:hash/wait. */
export const DEFAULT_TX_WAIT_MS = 10_000
export const MAX_TX_WAIT_MS = 60_000
/** A tx may be admitted with a nonce at most this far above the sender's account nonce (held until the gap fills). */
export const MEMPOOL_MAX_NONCE_GAP = 256
/** A tx still in the mempool this many blocks after admission (its nonce gap never filled, or the pool is congested) is dropped. */
export const MEMPOOL_FUTURE_TTL_BLOCKS = 60
/** Most signed transactions in one POST /txs/batch (each is admitted or rejected on its own). */
export const MAX_TX_BATCH_TXS = 1_000
/** Largest POST /txs/batch body, bytes (a batch of ordinary transfers is ~0.4 MB per 1,000 txs). */
export const MAX_TX_BATCH_BYTES = 16 * 1024 * 1024
/**
 * Signer-recovery worker threads of a validator that uses createRecoverSigner() (0 = recover on
 * the main thread). One: on a 2-core machine the main thread (decode, checks, blocks, HTTP) keeps
 * the other core busy.
 */
export const RECOVERY_WORKERS = 1
/**
 * Most signatures waiting for the recovery workers; admission beyond it answers BUSY (503, retry)
 * instead of queueing without bound (many concurrent batches would otherwise pile up work).
 */
export const RECOVERY_QUEUE_MAX_TXS = 20_000
/** Most signatures in one message to a recovery worker. */
export const RECOVERY_BATCH_MAX_TXS = 512
