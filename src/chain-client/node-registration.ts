/**
 * Registering resource nodes on chain: the one path `stratos node register` and the devnet's
 * first start both use. The node key (ed25519, the node's node-key.json) signs the ownership
 * proof binding its address to the owner wallet; the owner wallet signs and pays for the
 * create_resource_node transaction, which ChainClient.submitAndWait builds, submits and waits for.
 *
 * Several nodes go into one transaction (up to MAX_MSGS_PER_TX messages each), so registering
 * a devnet's nodes costs one block, not one block per node.
 *
 * Outside src/chain (the ledger imports nothing of networking): it speaks to the chain REST API and to resource nodes.
 */
import type { ChainClient, SubmittedTx } from './client.ts'
import type { NodeKey } from '../crypto/node-key.ts'
import type { WalletKey } from '../crypto/wallet-key.ts'
import { jsonRequest } from '../net/json-request.ts'
import type { MsgCreateResourceNode } from '../chain/msgs.ts'
import { signNodeOwnership } from '../chain/node-proofs.ts'
import { MAX_MSGS_PER_TX } from '../chain/params.ts'

/** One entry of GET /nodes/resource (amounts as decimal strings, as served). */
export interface ResourceNodeJson {
  node: string
  kind: 'resource' | 'meta'
  owner: string
  publicKey: string
  deposit: string
  status: string
  moniker: string
  createdHeight: number
  unbondingHeight?: number
  tier: number
}

/** GET /nodes/resource: every resource node the chain knows (any status). */
export function listResourceNodes(chain: ChainClient, signal?: AbortSignal): Promise<ResourceNodeJson[]> {
  return jsonRequest<ResourceNodeJson[]>(`${chain.url}/nodes/resource`, { method: 'GET', signal })
}

/** The create_resource_node message for `key`, owned by `owner` on chain `chainId`. */
export function createResourceNodeMsg(
  key: NodeKey,
  chainId: string,
  owner: string,
  deposit: bigint,
  moniker: string,
): MsgCreateResourceNode {
  const { node, publicKey, proof } = signNodeOwnership(key, chainId, 'resource', owner)
  return { type: 'create_resource_node', node, publicKey, proof, deposit, moniker }
}

export interface NodeToRegister {
  key: NodeKey
  moniker: string
}

export interface RegisterOptions {
  fee: bigint
  memo?: string
  /** false: return once the validator admitted the (single) tx. */
  wait: boolean
}

/**
 * Registers `nodes` as resource nodes owned by `owner`, each with `deposit`, in as few
 * transactions as MAX_MSGS_PER_TX allows (the batches go one after another: each needs the
 * sender's next nonce). Throws the chain's error code when a transaction fails.
 */
export async function registerResourceNodes(
  chain: ChainClient,
  owner: WalletKey,
  nodes: readonly NodeToRegister[],
  deposit: bigint,
  o: RegisterOptions,
): Promise<SubmittedTx[]> {
  if (nodes.length === 0) return []
  const { chainId } = await chain.status()
  const msgs = nodes.map((n) => createResourceNodeMsg(n.key, chainId, owner.address, deposit, n.moniker))
  const results: SubmittedTx[] = []
  for (let i = 0; i < msgs.length; i += MAX_MSGS_PER_TX) {
    const batch = msgs.slice(i, i + MAX_MSGS_PER_TX)
    // Without waiting, a second batch would read the same nonce as the first.
    const wait = o.wait || i + MAX_MSGS_PER_TX < msgs.length
    results.push(await chain.submitAndWait(owner, batch, { fee: o.fee, memo: o.memo, wait }))
  }
  return results
}
