/**
 * slashing: a meta node's verdict on a resource node that owes traffic (paid orders it did not
 * serve, failed audits).
 *
 * The owner of an active meta node sends slash_resource_node with the debt in ozone. The debt is
 * converted to wei at the current price (economics.ozoneToWei, before the node leaves S), capped
 * at the node's deposit, and moved from the deposits to the prepay pool P (it funds future
 * traffic rewards; no wei leaves the supply). The node is suspended (it leaves S, so the ozone
 * limit moves with it); its owner reactivates it by topping the deposit back up to tier 1. An
 * unbonding node can still be slashed (removing a node does not escape its debts), and stays
 * unbonding. A debt of 0 just suspends.
 */
import { StratosError } from '../../errors.ts'
import { ozoneToWei } from '../economics.ts'
import type { MsgSlashResourceNode } from '../msgs.ts'
import { MODULE_ACCOUNTS } from '../params.ts'
import { transfer } from './bank.ts'
import type { TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import { big, keyNum, num, str, writeRecord, decodeRecord } from './codec.ts'
import { getNode, ownedNode, reduceDeposit, suspendNode } from './register.ts'
import { readMarket } from './sds.ts'

const SLASH_RECORD = 'slash/rec/'

export interface SlashRecord {
  node: string
  metaNode: string
  height: number
  debtOzone: bigint
  slashedWei: bigint
}

export function handleSlashResourceNode(ctx: TxContext, msg: MsgSlashResourceNode): void {
  const { store } = ctx
  const meta = ownedNode(ctx, msg.metaNode, 'meta')
  if (meta.status !== 'active') throw new StratosError('CONFLICT', `meta node ${meta.node} is not active`)
  const target = getNode(store, msg.node)
  if (target?.kind !== 'resource') throw new StratosError('NODE_NOT_REGISTERED', `no resource node ${msg.node}`)
  const key = `${SLASH_RECORD}${target.node}/${keyNum(ctx.block.height)}`
  if (store.get(key)) throw new StratosError('CONFLICT', `node ${target.node} was already slashed in this block`)

  const owed = ozoneToWei(readMarket(store), msg.debtOzone)
  const slashedWei = owed < target.deposit ? owed : target.deposit
  const suspended = suspendNode(store, target)
  reduceDeposit(store, suspended, slashedWei)
  transfer(store, MODULE_ACCOUNTS.nodeDeposits, MODULE_ACCOUNTS.prepayPool, slashedWei)
  const record: SlashRecord = {
    node: target.node,
    metaNode: meta.node,
    height: ctx.block.height,
    debtOzone: msg.debtOzone,
    slashedWei,
  }
  writeRecord(store, key, record)
  ctx.emit('slash_resource_node', {
    node: target.node,
    metaNode: meta.node,
    debtOzone: msg.debtOzone,
    slashedWei,
    status: suspended.status,
  })
}

export function slashRecords(store: KvStore, node: string): SlashRecord[] {
  return [...store.iterate(`${SLASH_RECORD}${node}/`)].map(([, v]) =>
    decodeRecord(v, (r) => ({
      node: str(r, 'node'),
      metaNode: str(r, 'metaNode'),
      height: num(r, 'height'),
      debtOzone: big(r, 'debtOzone'),
      slashedWei: big(r, 'slashedWei'),
    })),
  )
}
