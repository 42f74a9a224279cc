/**
 * Message type → handler. Every message type of msgs.ts has exactly one handler (the mapped type
 * makes a missing one a compile error).
 */
import type { MsgOf, MsgType } from '../msgs.ts'
import { handleSend } from './bank.ts'
import type { TxContext } from './context.ts'
import { handleVolumeReport, handleWithdrawRewards } from './pot.ts'
import {
  handleApproveMetaNode,
  handleCreateMetaNode,
  handleCreateResourceNode,
  handleRemoveMetaNode,
  handleRemoveResourceNode,
  handleUpdateDeposit,
  handleUpdateResourceNode,
} from './register.ts'
import { handlePrepay } from './sds.ts'
import { handleSlashResourceNode } from './slashing.ts'
import { handleCreateValidator, handleDelegate, handleUndelegate } from './staking.ts'
import { handleUnjail } from './validator-slashing.ts'

type Handlers = { readonly [K in MsgType]: (ctx: TxContext, msg: MsgOf<K>) => void }

export const HANDLERS: Handlers = {
  send: handleSend,
  create_validator: handleCreateValidator,
  delegate: handleDelegate,
  undelegate: handleUndelegate,
  withdraw_rewards: handleWithdrawRewards,
  create_resource_node: handleCreateResourceNode,
  update_resource_node: handleUpdateResourceNode,
  update_deposit: handleUpdateDeposit,
  remove_resource_node: handleRemoveResourceNode,
  create_meta_node: handleCreateMetaNode,
  approve_meta_node: handleApproveMetaNode,
  remove_meta_node: handleRemoveMetaNode,
  prepay: handlePrepay,
  volume_report: handleVolumeReport,
  slash_resource_node: handleSlashResourceNode,
  unjail: handleUnjail,
}

export function runMsg<K extends MsgType>(ctx: TxContext, msg: MsgOf<K>): void {
  ;(HANDLERS[msg.type as K] as (ctx: TxContext, msg: MsgOf<K>) => void)(ctx, msg)
}
