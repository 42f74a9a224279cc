/**
 * register: resource and meta nodes, their deposits and statuses.
 *
 * A node is registered by its owner wallet with a deposit and a proof that the node key agrees
 * (node-proofs.ts). Statuses:
 *   active     counts in S (effective deposits); resource nodes earn traffic rewards
 *   pending    a meta node waiting for approval (deposit locked, not in S)
 *   suspended  a slashed resource node (not in S); update_deposit back to tier 1 reactivates it
 *   unbonding  removed; the deposit returns to the owner at the end of block `unbondingHeight`
 *
 * Resource node tier = the highest tier whose minimum the deposit reaches (params.resourceNodeTiersWei);
 * below tier 1 a node cannot register (or be reactivated).
 *
 * Meta node approval (kept simple): genesis lists the first meta nodes; a later create_meta_node
 * is pending until a strict majority of the active meta nodes has voted for it with
 * approve_meta_node (each vote sent by the voting meta node's owner). Votes of meta nodes that
 * are no longer active do not count.
 */
import { StratosError } from '../../errors.ts'
import type {
  MsgApproveMetaNode,
  MsgCreateMetaNode,
  MsgCreateResourceNode,
  MsgRemoveMetaNode,
  MsgRemoveResourceNode,
  MsgUpdateDeposit,
  MsgUpdateResourceNode,
} from '../msgs.ts'
import { verifyNodeOwnership, type NodeKind } from '../node-proofs.ts'
import { MODULE_ACCOUNTS, type ChainParams } from '../params.ts'
import { transfer } from './bank.ts'
import type { ExecContext, TxContext } from './context.ts'
import type { KvStore } from './kv.ts'
import { big, decodeRecord, encodeText, keyNum, num, readRecord, str, writeRecord } from './codec.ts'
import { changeEffectiveDeposits } from './sds.ts'

const NODE = 'reg/node/'
const BY_OWNER = 'reg/owner/'
const META_INDEX = 'reg/meta/'
const UNBONDING_QUEUE = 'reg/unbq/'
const VOTE = 'reg/vote/'
const ONE = encodeText('1')

export type NodeStatus = 'active' | 'pending' | 'suspended' | 'unbonding'

export interface NodeRecord {
  node: string
  kind: NodeKind
  owner: string
  publicKey: string
  deposit: bigint
  status: NodeStatus
  moniker: string
  createdHeight: number
  /** A meta node's public URL, when its registration gave one (resource nodes and clients discover it here). */
  url?: string
  /** Set while unbonding: the height whose end pays the deposit back. */
  unbondingHeight?: number
}

function parseNode(r: Record<string, unknown>): NodeRecord {
  const rec: NodeRecord = {
    node: str(r, 'node'),
    kind: str(r, 'kind') as NodeKind,
    owner: str(r, 'owner'),
    publicKey: str(r, 'publicKey'),
    deposit: big(r, 'deposit'),
    status: str(r, 'status') as NodeStatus,
    moniker: str(r, 'moniker'),
    createdHeight: num(r, 'createdHeight'),
  }
  if (r.url !== undefined) rec.url = str(r, 'url')
  if (r.unbondingHeight !== undefined) rec.unbondingHeight = num(r, 'unbondingHeight')
  return rec
}

export function getNode(store: KvStore, node: string): NodeRecord | undefined {
  return readRecord(store, NODE + node, parseNode)
}

/** All nodes of a kind (or every node), ascending by node address. */
export function listNodes(store: KvStore, kind?: NodeKind): NodeRecord[] {
  if (kind === 'meta') return [...store.iterate(META_INDEX)].map(([k]) => getNode(store, k.slice(META_INDEX.length))!)
  const all = [...store.iterate(NODE)].map(([, v]) => decodeRecord(v, parseNode))
  return kind ? all.filter((n) => n.kind === kind) : all
}

export function nodesOf(store: KvStore, owner: string): NodeRecord[] {
  const prefix = `${BY_OWNER}${owner}/`
  return [...store.iterate(prefix)].map(([k]) => getNode(store, k.slice(prefix.length))!)
}

export function activeMetaNodes(store: KvStore): NodeRecord[] {
  return listNodes(store, 'meta').filter((n) => n.status === 'active')
}

/** Tier of a resource node deposit: 1-based, 0 when below tier 1. */
export function resourceTier(params: ChainParams, deposit: bigint): number {
  let tier = 0
  params.resourceNodeTiersWei.forEach((min, i) => {
    if (deposit >= min) tier = i + 1
  })
  return tier
}

export interface NewNode {
  node: string
  kind: NodeKind
  owner: string
  publicKey: string
  deposit: bigint
  moniker: string
  /** Kept for meta nodes only. */
  url?: string
}

/** Registers a node and locks its deposit (messages and genesis). An active node's deposit joins S. */
export function registerNode(
  store: KvStore,
  params: ChainParams,
  n: NewNode,
  status: 'active' | 'pending',
  height: number,
): NodeRecord {
  if (getNode(store, n.node)) throw new StratosError('CONFLICT', `node ${n.node} is already registered`)
  if (n.kind === 'resource' && resourceTier(params, n.deposit) === 0) {
    throw new StratosError(
      'BAD_REQUEST',
      `a resource node deposit must reach tier 1 (${params.resourceNodeTiersWei[0]} wei)`,
      { min: String(params.resourceNodeTiersWei[0]) },
    )
  }
  if (n.kind === 'meta' && n.deposit < params.minMetaNodeDepositWei) {
    throw new StratosError('BAD_REQUEST', `a meta node deposit must be at least ${params.minMetaNodeDepositWei} wei`, {
      min: params.minMetaNodeDepositWei.toString(),
    })
  }
  transfer(store, n.owner, MODULE_ACCOUNTS.nodeDeposits, n.deposit)
  const { url, ...fields } = n
  const rec: NodeRecord = { ...fields, status, createdHeight: height }
  if (n.kind === 'meta' && url !== undefined) rec.url = url
  writeRecord(store, NODE + n.node, rec)
  store.set(`${BY_OWNER}${n.owner}/${n.node}`, ONE)
  if (n.kind === 'meta') store.set(META_INDEX + n.node, ONE)
  if (status === 'active') changeEffectiveDeposits(store, n.deposit)
  return rec
}

function register(ctx: TxContext, msg: MsgCreateResourceNode | MsgCreateMetaNode, kind: NodeKind): NodeRecord {
  const owner = ctx.sender
  if (!verifyNodeOwnership({ chainId: ctx.chainId, kind, node: msg.node, owner }, msg.publicKey, msg.proof)) {
    throw new StratosError(
      'INVALID_SIGNATURE',
      'the node key did not sign this registration (public key or proof does not match)',
    )
  }
  return registerNode(
    ctx.store,
    ctx.params,
    {
      node: msg.node,
      kind,
      owner,
      publicKey: msg.publicKey,
      deposit: msg.deposit,
      moniker: msg.moniker,
      ...('url' in msg && msg.url !== undefined ? { url: msg.url } : {}),
    },
    kind === 'meta' ? 'pending' : 'active',
    ctx.block.height,
  )
}

export function handleCreateResourceNode(ctx: TxContext, msg: MsgCreateResourceNode): void {
  const rec = register(ctx, msg, 'resource')
  ctx.emit('create_resource_node', {
    node: rec.node,
    owner: rec.owner,
    deposit: rec.deposit,
    tier: resourceTier(ctx.params, rec.deposit),
  })
}

export function handleCreateMetaNode(ctx: TxContext, msg: MsgCreateMetaNode): void {
  const rec = register(ctx, msg, 'meta')
  ctx.emit('create_meta_node', { node: rec.node, owner: rec.owner, deposit: rec.deposit, status: rec.status })
}

/** The node, which must exist, be of `kind` (when given) and belong to the sender. */
export function ownedNode(ctx: TxContext, node: string, kind?: NodeKind): NodeRecord {
  const rec = getNode(ctx.store, node)
  if (!rec || (kind && rec.kind !== kind))
    throw new StratosError('NODE_NOT_REGISTERED', `no ${kind ?? ''} node ${node}`.replace('  ', ' '))
  if (rec.owner !== ctx.sender) throw new StratosError('NOT_OWNER', `${ctx.sender} does not own node ${node}`)
  return rec
}

export function handleUpdateResourceNode(ctx: TxContext, msg: MsgUpdateResourceNode): void {
  const rec = ownedNode(ctx, msg.node, 'resource')
  writeRecord(ctx.store, NODE + rec.node, { ...rec, moniker: msg.moniker })
  ctx.emit('update_resource_node', { node: rec.node, moniker: msg.moniker })
}

export function handleUpdateDeposit(ctx: TxContext, msg: MsgUpdateDeposit): void {
  const rec = ownedNode(ctx, msg.node)
  if (rec.status === 'unbonding') throw new StratosError('CONFLICT', `node ${rec.node} is unbonding`)
  transfer(ctx.store, ctx.sender, MODULE_ACCOUNTS.nodeDeposits, msg.amount)
  const deposit = rec.deposit + msg.amount
  let status = rec.status
  if (status === 'active') changeEffectiveDeposits(ctx.store, msg.amount)
  else if (status === 'suspended' && resourceTier(ctx.params, deposit) > 0) {
    status = 'active'
    changeEffectiveDeposits(ctx.store, deposit)
  }
  writeRecord(ctx.store, NODE + rec.node, { ...rec, deposit, status })
  ctx.emit('update_deposit', { node: rec.node, amount: msg.amount, deposit, status })
}

function remove(ctx: TxContext, rec: NodeRecord): void {
  if (rec.status === 'unbonding') throw new StratosError('CONFLICT', `node ${rec.node} is already unbonding`)
  if (rec.status === 'active') changeEffectiveDeposits(ctx.store, -rec.deposit)
  const unbondingHeight = ctx.block.height + ctx.params.unbondingBlocks
  writeRecord(ctx.store, NODE + rec.node, { ...rec, status: 'unbonding', unbondingHeight })
  ctx.store.set(`${UNBONDING_QUEUE}${keyNum(unbondingHeight)}/${rec.node}`, ONE)
  ctx.emit('remove_node', { node: rec.node, kind: rec.kind, deposit: rec.deposit, unbondingHeight })
}

export function handleRemoveResourceNode(ctx: TxContext, msg: MsgRemoveResourceNode): void {
  remove(ctx, ownedNode(ctx, msg.node, 'resource'))
}

export function handleRemoveMetaNode(ctx: TxContext, msg: MsgRemoveMetaNode): void {
  remove(ctx, ownedNode(ctx, msg.node, 'meta'))
}

export function handleApproveMetaNode(ctx: TxContext, msg: MsgApproveMetaNode): void {
  const voter = ownedNode(ctx, msg.voter, 'meta')
  if (voter.status !== 'active') throw new StratosError('CONFLICT', `voter ${voter.node} is not an active meta node`)
  const candidate = getNode(ctx.store, msg.candidate)
  if (candidate?.kind !== 'meta') throw new StratosError('NODE_NOT_REGISTERED', `no meta node ${msg.candidate}`)
  if (candidate.status !== 'pending')
    throw new StratosError('CONFLICT', `meta node ${candidate.node} is not pending approval`)
  const voteKey = `${VOTE}${candidate.node}/${voter.node}`
  if (ctx.store.get(voteKey)) throw new StratosError('CONFLICT', `${voter.node} already voted for ${candidate.node}`)
  ctx.store.set(voteKey, ONE)
  const active = activeMetaNodes(ctx.store)
  const activeSet = new Set(active.map((n) => n.node))
  const prefix = `${VOTE}${candidate.node}/`
  const votes = [...ctx.store.iterate(prefix)].filter(([k]) => activeSet.has(k.slice(prefix.length))).length
  ctx.emit('approve_meta_node', { voter: voter.node, candidate: candidate.node, votes, active: active.length })
  if (votes * 2 > active.length) {
    writeRecord(ctx.store, NODE + candidate.node, { ...candidate, status: 'active' })
    changeEffectiveDeposits(ctx.store, candidate.deposit)
    for (const [k] of ctx.store.iterate(prefix)) ctx.store.delete(k)
    ctx.emit('meta_node_activated', { node: candidate.node })
  }
}

/** Suspends a node (slashing): it leaves S. Returns the updated record. */
export function suspendNode(store: KvStore, rec: NodeRecord): NodeRecord {
  if (rec.status === 'active') changeEffectiveDeposits(store, -rec.deposit)
  const next: NodeRecord = { ...rec, status: rec.status === 'unbonding' ? 'unbonding' : 'suspended' }
  writeRecord(store, NODE + rec.node, next)
  return next
}

/** Lowers a node's recorded deposit (slashing moves the wei); the node must not be active (S is unaffected). */
export function reduceDeposit(store: KvStore, rec: NodeRecord, amount: bigint): NodeRecord {
  if (rec.status === 'active') throw new StratosError('INTERNAL', 'suspend a node before reducing its deposit')
  if (amount > rec.deposit) throw new StratosError('INTERNAL', 'cannot reduce a deposit below zero')
  const next = { ...rec, deposit: rec.deposit - amount }
  writeRecord(store, NODE + rec.node, next)
  return next
}

/** End of block: deposits whose unbonding ends at this height go back to their owners; the node is forgotten. */
export function completeNodeUnbondings(ctx: ExecContext): void {
  const prefix = `${UNBONDING_QUEUE}${keyNum(ctx.block.height)}/`
  for (const [k] of ctx.store.iterate(prefix)) {
    ctx.store.delete(k)
    const rec = getNode(ctx.store, k.slice(prefix.length))
    if (!rec) continue
    transfer(ctx.store, MODULE_ACCOUNTS.nodeDeposits, rec.owner, rec.deposit)
    ctx.store.delete(NODE + rec.node)
    ctx.store.delete(`${BY_OWNER}${rec.owner}/${rec.node}`)
    ctx.store.delete(META_INDEX + rec.node)
    for (const [vk] of ctx.store.iterate(`${VOTE}${rec.node}/`)) ctx.store.delete(vk)
    ctx.emit('node_unbonded', { node: rec.node, owner: rec.owner, amount: rec.deposit })
  }
}
