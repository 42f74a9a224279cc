/**
 * The network's meta nodes, as the chain lists them (GET /nodes/meta), and the two transactions that add one:
 * create_meta_node (the owner registers the node with its deposit, its ownership proof and its public URL; the
 * node is `pending`) and approve_meta_node (an active meta node's owner votes; a strict majority of the active
 * meta nodes activates it, see src/chain/state/register.ts).
 *
 * Resource nodes discover the meta nodes they serve here, the CLI and SDK list them and resolve `--meta ADDRESS`
 * to a URL, and the devnet registers its extra meta nodes with these calls.
 */
import type { ChainClient, SubmittedTx } from './client.ts'
import type { NodeKey } from '../crypto/node-key.ts'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import type { MsgApproveMetaNode, MsgCreateMetaNode } from '../chain/msgs.ts'
import { signNodeOwnership } from '../chain/node-proofs.ts'
import { isNodeAddress } from '../crypto/node-key.ts'

/** One entry of GET /nodes/meta (amounts as decimal strings, as served). */
export interface MetaNodeJson {
  node: string
  kind: 'meta'
  owner: string
  publicKey: string
  deposit: string
  status: string
  moniker: string
  createdHeight: number
  /** The public URL its registration gave (absent for meta nodes registered without one). */
  url?: string
  unbondingHeight?: number
}

/** GET /nodes/meta: every meta node the chain knows (any status), ascending by address. */
export function listMetaNodes(chain: Pick<ChainClient, 'metaNodes'>): Promise<MetaNodeJson[]> {
  return chain.metaNodes()
}

/** The active meta nodes that registered a URL: the ones resource nodes serve and clients can talk to. */
export async function reachableMetaNodes(
  chain: Pick<ChainClient, 'metaNodes'>,
): Promise<Array<MetaNodeJson & { url: string }>> {
  return (await listMetaNodes(chain)).filter(
    (m): m is MetaNodeJson & { url: string } => m.status === 'active' && typeof m.url === 'string',
  )
}

/**
 * `--meta ADDRESS|URL`: a URL is used as given; a stsds1… address is looked up on chain and must be an active meta
 * node with a registered URL (NODE_NOT_REGISTERED otherwise).
 */
export async function resolveMetaUrl(chain: Pick<ChainClient, 'metaNodes'> | undefined, meta: string): Promise<string> {
  if (!isNodeAddress(meta)) return meta
  if (!chain)
    throw new StratosError('NETWORK_CONFIG', `--meta ${meta} is a node address: the network's chain URL is needed`)
  const found = (await listMetaNodes(chain)).find((m) => m.node === meta)
  if (found?.status !== 'active' || !found.url)
    throw new StratosError(
      'NODE_NOT_REGISTERED',
      `${meta} is not an active meta node with a URL on chain${found ? ` (status ${found.status})` : ''}`,
      { meta },
    )
  return found.url
}

/** The create_meta_node message for `key`, owned by `owner` on chain `chainId`. */
export function createMetaNodeMsg(
  key: NodeKey,
  chainId: string,
  owner: string,
  deposit: bigint,
  moniker: string,
  url: string,
): MsgCreateMetaNode {
  const { node, publicKey, proof } = signNodeOwnership(key, chainId, 'meta', owner)
  return { type: 'create_meta_node', node, publicKey, proof, deposit, moniker, url }
}

export interface MetaTxOptions {
  fee: bigint
  memo?: string
}

/** Registers `key` as a meta node owned by `owner` (status pending until approved). Throws the chain's error code. */
export async function registerMetaNode(
  chain: ChainClient,
  owner: WalletKey,
  node: { key: NodeKey; moniker: string; url: string },
  deposit: bigint,
  o: MetaTxOptions,
): Promise<SubmittedTx> {
  const { chainId } = await chain.status()
  const msg = createMetaNodeMsg(node.key, chainId, owner.address, deposit, node.moniker, node.url)
  return chain.submitAndWait(owner, [msg], { fee: o.fee, memo: o.memo, wait: true })
}

/** The owner of active meta node `voter` votes for pending meta node `candidate`. */
export function approveMetaNode(
  chain: ChainClient,
  voterOwner: WalletKey,
  voter: string,
  candidate: string,
  o: MetaTxOptions,
): Promise<SubmittedTx> {
  const msg: MsgApproveMetaNode = { type: 'approve_meta_node', voter, candidate }
  return chain.submitAndWait(voterOwner, [msg], { fee: o.fee, memo: o.memo, wait: true })
}
