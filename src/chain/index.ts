/**
 * The STOS ledger's state machine: the API the chain node (block production, store, REST API)
 * and the wallet CLI build on.
 */
export {
  ChainApp,
  type Block,
  type ChainAppOptions,
  type BlockResult,
  type CheckTxOptions,
  type CheckedTx,
  type PendingBlock,
  type StateSnapshot,
  type TxResult,
} from './app.ts'
export {
  decodeGenesis,
  devnetGenesis,
  zGenesis,
  type DevnetGenesisOptions,
  type GenesisConfig,
  type GenesisNode,
  type GenesisValidator,
} from './genesis.ts'
export {
  canonicalTxJson,
  decodeSignedTx,
  encodeSignedTx,
  ensureValidTx,
  parseSignedTx,
  recoverTxSigner,
  signTx,
  txEnvelope,
  txHash,
  txSigningBytes,
  TX_DOMAIN,
  zSignedTx,
  type SignedTx,
  type Tx,
  type TxEnvelope,
  type TxSignerRecovery,
} from './tx.ts'
export { MSG_TYPES, isMsgType, type Msg, type MsgOf, type MsgType, type VolumeReport } from './msgs.ts'
export {
  signNodeOwnership,
  signVolumeReport,
  verifyNodeOwnership,
  verifyVolumeReport,
  NODE_PROOF_DOMAIN,
  type NodeKind,
} from './node-proofs.ts'
export * as economics from './economics.ts'
export * from './params.ts'
export {
  ChainQueries,
  type AccountView,
  type MiningView,
  type NodeView,
  type OzoneMarketView,
  type RewardView,
} from './queries.ts'
export { MemoryKvStore, type BatchKvStore, type KvStore, type KvWrite } from './state/kv.ts'
export { OverlayKv } from './state/overlay.ts'
export { stateDigest, GENESIS_PARENT_HASH } from './state/state-hash.ts'
export type { ChainEvent } from './state/context.ts'
export type { EpochSummary, ReportSummary, RewardEntry } from './state/pot.ts'
export type { NodeRecord, NodeStatus } from './state/register.ts'
export type { Delegation, Unbonding, Validator } from './state/staking.ts'
export type { SlashRecord } from './state/slashing.ts'
