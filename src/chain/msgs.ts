/**
 * Transaction messages: their TypeScript types and the zod schemas that decode them from
 * untrusted JSON. Each message is an object with a `type`; the transaction's sender is the
 * actor (the one who pays, delegates, owns the node, …).
 *
 * Modules and their messages:
 *   bank      send
 *   staking   create_validator · delegate · undelegate · withdraw_rewards (rewards are pot's) · unjail
 *   register  create_resource_node · update_resource_node · update_deposit · remove_resource_node
 *             create_meta_node · approve_meta_node · remove_meta_node
 *   sds       prepay
 *   pot       volume_report
 *   slashing  slash_resource_node
 *
 * Node registration carries a proof that the node key agrees: the node's ed25519 signature over
 * {chainId, kind, node, owner} (see node-proofs.ts), so nobody can register someone else's node.
 */
import { z } from 'zod'
import { StratosError } from '../errors.ts'
import { MAX_REPORT_NODES, MAX_REPORT_WALLETS } from './params.ts'
import {
  zAmount,
  zBps,
  zCounter,
  zEd25519PublicKey,
  zEd25519Signature,
  zMoniker,
  zNodeAddress,
  zNodeUrl,
  zPositiveAmount,
  zWalletAddress,
} from './schema.ts'

// ---- bank --------------------------------------------------------------------------------------
export const zSend = z.strictObject({ type: z.literal('send'), to: zWalletAddress, amount: zPositiveAmount })

// ---- staking -------------------------------------------------------------------------------------
export const zCreateValidator = z.strictObject({
  type: z.literal('create_validator'),
  /** The validator's ed25519 consensus public key (used by the consensus layer, not by the state machine). */
  consensusKey: zEd25519PublicKey,
  /** Share of the validator's rewards the operator keeps before its delegators are paid. */
  commissionBps: zBps,
  selfDelegation: zPositiveAmount,
  moniker: zMoniker,
})
export const zDelegate = z.strictObject({
  type: z.literal('delegate'),
  validator: zWalletAddress,
  amount: zPositiveAmount,
})
export const zUndelegate = z.strictObject({
  type: z.literal('undelegate'),
  validator: zWalletAddress,
  amount: zPositiveAmount,
})
export const zWithdrawRewards = z.strictObject({ type: z.literal('withdraw_rewards') })
/** The sender's validator, jailed for downtime, back into the consensus set (state/validator-slashing.ts). */
export const zUnjail = z.strictObject({ type: z.literal('unjail') })

// ---- register ------------------------------------------------------------------------------------
const nodeRegistration = {
  node: zNodeAddress,
  /** The node's ed25519 public key; its address must be `node`. */
  publicKey: zEd25519PublicKey,
  /** The node key's signature over the ownership proof (node-proofs.ts). */
  proof: zEd25519Signature,
  deposit: zPositiveAmount,
  moniker: zMoniker,
}
export const zCreateResourceNode = z.strictObject({ type: z.literal('create_resource_node'), ...nodeRegistration })
export const zUpdateResourceNode = z.strictObject({
  type: z.literal('update_resource_node'),
  node: zNodeAddress,
  moniker: zMoniker,
})
/** Adds to a node's deposit (resource or meta); a suspended node whose deposit reaches tier 1 again is reactivated. */
export const zUpdateDeposit = z.strictObject({
  type: z.literal('update_deposit'),
  node: zNodeAddress,
  amount: zPositiveAmount,
})
export const zRemoveResourceNode = z.strictObject({ type: z.literal('remove_resource_node'), node: zNodeAddress })
export const zCreateMetaNode = z.strictObject({
  type: z.literal('create_meta_node'),
  ...nodeRegistration,
  /** Where resource nodes and clients reach the meta node (they discover meta nodes from the chain). */
  url: zNodeUrl.optional(),
})
/** A vote of an active meta node (`voter`, owned by the sender) for a pending meta node. */
export const zApproveMetaNode = z.strictObject({
  type: z.literal('approve_meta_node'),
  voter: zNodeAddress,
  candidate: zNodeAddress,
})
export const zRemoveMetaNode = z.strictObject({ type: z.literal('remove_meta_node'), node: zNodeAddress })

// ---- sds -------------------------------------------------------------------------------------------
export const zPrepay = z.strictObject({
  type: z.literal('prepay'),
  amount: zPositiveAmount,
  /** Wallet credited with the ozone; the sender when absent. */
  beneficiary: zWalletAddress.optional(),
})

// ---- pot -------------------------------------------------------------------------------------------
function strictlyAscending<T>(key: (t: T) => string, what: string) {
  return (items: readonly T[], ctx: z.RefinementCtx) => {
    for (let i = 1; i < items.length; i++) {
      if (!(key(items[i - 1]!) < key(items[i]!))) {
        ctx.addIssue({ code: 'custom', message: `${what} must be sorted ascending without duplicates`, path: [i] })
        return
      }
    }
  }
}

export const zWalletVolume = z.strictObject({ wallet: zWalletAddress, bytes: zPositiveAmount })
export const zNodeTraffic = z.strictObject({ node: zNodeAddress, bytes: zPositiveAmount })

/**
 * The meta node's per-epoch report: bytes charged per payer wallet and bytes served per resource
 * node, both sorted by address; the two totals are equal (every verified order counts once on
 * each side). Signed by the meta node's ed25519 key (node-proofs.ts).
 */
export const zVolumeReport = z.strictObject({
  chainId: z.string().min(1).max(64),
  epoch: zCounter,
  metaNode: zNodeAddress,
  wallets: z
    .array(zWalletVolume)
    .max(MAX_REPORT_WALLETS)
    .superRefine(strictlyAscending((w: { wallet: string }) => w.wallet, 'wallets')),
  nodes: z
    .array(zNodeTraffic)
    .min(1)
    .max(MAX_REPORT_NODES)
    .superRefine(strictlyAscending((n: { node: string }) => n.node, 'nodes')),
})
export const zVolumeReportMsg = z.strictObject({
  type: z.literal('volume_report'),
  report: zVolumeReport,
  /** The meta node's ed25519 public key; its address must be report.metaNode. */
  publicKey: zEd25519PublicKey,
  signature: zEd25519Signature,
})

// ---- slashing --------------------------------------------------------------------------------------
/**
 * Sent by the owner of an active meta node (`metaNode`): the resource node owes `debtOzone`
 * (traffic it was paid for and did not serve, failed audits); the debt is converted to STOS at
 * the current ozone price, taken from its deposit, and the node is suspended.
 */
export const zSlashResourceNode = z.strictObject({
  type: z.literal('slash_resource_node'),
  metaNode: zNodeAddress,
  node: zNodeAddress,
  debtOzone: zAmount,
})

export const MSG_SCHEMAS = {
  send: zSend,
  create_validator: zCreateValidator,
  delegate: zDelegate,
  undelegate: zUndelegate,
  withdraw_rewards: zWithdrawRewards,
  create_resource_node: zCreateResourceNode,
  update_resource_node: zUpdateResourceNode,
  update_deposit: zUpdateDeposit,
  remove_resource_node: zRemoveResourceNode,
  create_meta_node: zCreateMetaNode,
  approve_meta_node: zApproveMetaNode,
  remove_meta_node: zRemoveMetaNode,
  prepay: zPrepay,
  volume_report: zVolumeReportMsg,
  slash_resource_node: zSlashResourceNode,
  unjail: zUnjail,
} as const

export type MsgType = keyof typeof MSG_SCHEMAS
export const MSG_TYPES = Object.keys(MSG_SCHEMAS) as MsgType[]

export type MsgSend = z.output<typeof zSend>
export type MsgCreateValidator = z.output<typeof zCreateValidator>
export type MsgDelegate = z.output<typeof zDelegate>
export type MsgUndelegate = z.output<typeof zUndelegate>
export type MsgWithdrawRewards = z.output<typeof zWithdrawRewards>
export type MsgCreateResourceNode = z.output<typeof zCreateResourceNode>
export type MsgUpdateResourceNode = z.output<typeof zUpdateResourceNode>
export type MsgUpdateDeposit = z.output<typeof zUpdateDeposit>
export type MsgRemoveResourceNode = z.output<typeof zRemoveResourceNode>
export type MsgCreateMetaNode = z.output<typeof zCreateMetaNode>
export type MsgApproveMetaNode = z.output<typeof zApproveMetaNode>
export type MsgRemoveMetaNode = z.output<typeof zRemoveMetaNode>
export type MsgPrepay = z.output<typeof zPrepay>
export type VolumeReport = z.output<typeof zVolumeReport>
export type MsgVolumeReport = z.output<typeof zVolumeReportMsg>
export type MsgSlashResourceNode = z.output<typeof zSlashResourceNode>
export type MsgUnjail = z.output<typeof zUnjail>

export type Msg = { [K in MsgType]: z.output<(typeof MSG_SCHEMAS)[K]> }[MsgType]
export type MsgOf<K extends MsgType> = Extract<Msg, { type: K }>

export function isMsgType(t: unknown): t is MsgType {
  return typeof t === 'string' && Object.hasOwn(MSG_SCHEMAS, t)
}

/**
 * The zod schema of one message (a union discriminated by `type`). Decoders check the type
 * first with `isMsgType` so an unknown type is reported as UNKNOWN_MESSAGE (see tx.ts).
 */
export const zMsg = z.discriminatedUnion('type', [
  zSend,
  zCreateValidator,
  zDelegate,
  zUndelegate,
  zWithdrawRewards,
  zCreateResourceNode,
  zUpdateResourceNode,
  zUpdateDeposit,
  zRemoveResourceNode,
  zCreateMetaNode,
  zApproveMetaNode,
  zRemoveMetaNode,
  zPrepay,
  zVolumeReportMsg,
  zSlashResourceNode,
  zUnjail,
])

/** Thrown by tx decoding when a message type is not known (see tx.ts). */
export function unknownMessageError(type: unknown): StratosError {
  return new StratosError('UNKNOWN_MESSAGE', `unknown message type ${JSON.stringify(type)?.slice(0, 64)}`, {
    known: MSG_TYPES,
  })
}
