/**
 * A devnet's extra meta nodes (`stratos devnet --metas N`): meta-2…meta-N join the chain the way a meta node joins a
 * real network. The first meta node is registered and active at genesis (owner bob); each extra one has its own
 * owner wallet (DIR/meta-<n>/owner.mnemonic, generated once, funded by alice with the deposit and fees), which sends
 * create_meta_node with the node's URL; then the owners of the active meta nodes vote approve_meta_node one after
 * another until a strict majority activates it. Each owner is a separate wallet, so the meta nodes' own transactions
 * (volume reports) never race each other's nonces.
 *
 * Idempotent: a restarted devnet finds its meta nodes active and sends nothing.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { approveMetaNode, listMetaNodes, registerMetaNode, type MetaNodeJson } from '../chain-client/meta-nodes.ts'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../chain-client/client.ts'
import { DEVNET_PARAMS, WEI_PER_STOS } from '../chain/params.ts'
import { NodeKey } from '../crypto/node-key.ts'
import { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import { writeFileAtomic } from '../util/fs.ts'

/** The owner wallet's mnemonic inside a meta node's data dir (the meta node reads it with --mnemonic-file). */
export const META_OWNER_FILE = 'owner.mnemonic'
/** STOS an extra meta node's owner gets beyond the deposit: its transaction fees (volume reports, slashing). */
const OWNER_FEE_FUND_STOS = 100n

/** The owner wallet of an extra meta node: its owner.mnemonic, generated on first use (mode 0600). */
export function metaOwnerFile(dataDir: string, generate: () => string = WalletKey.generateMnemonic): string {
  const path = join(dataDir, META_OWNER_FILE)
  if (!existsSync(path)) writeFileAtomic(path, generate() + '\n', { mode: 0o600 })
  return path
}

function ownerOf(dataDir: string): WalletKey {
  return WalletKey.fromMnemonic(readFileSync(join(dataDir, META_OWNER_FILE), 'utf8').trim())
}

export interface ExtraMetaNode {
  dataDir: string
  url: string
}

export interface RegisterMetaNodesParameters {
  chainUrl: string
  /** Pays the extra owners' deposits and fees (alice). */
  funder: WalletKey
  /** The genesis meta node and its owner (bob): the first voter. */
  first: { address: string; owner: WalletKey }
  extras: readonly ExtraMetaNode[]
  log: (line: string) => void
  signal?: AbortSignal
}

/** Registers and activates every extra meta node not active yet, in order (each new one votes for the next). */
export async function registerExtraMetaNodes(p: RegisterMetaNodesParameters): Promise<void> {
  if (p.extras.length === 0) return
  const chain = new ChainClient({ url: p.chainUrl, signal: p.signal })
  const owners = new Map<string, WalletKey>([[p.first.address, p.first.owner]])
  const deposit = DEVNET_PARAMS.minMetaNodeDepositWei
  const tx = { fee: DEFAULT_TX_FEE_WEI }
  for (const extra of p.extras) {
    const key = NodeKey.loadOrCreate(extra.dataDir)
    const owner = ownerOf(extra.dataDir)
    owners.set(key.address, owner)
    let listed = await metaNode(chain, key.address)
    if (listed?.status === 'active') continue
    if (!listed) {
      const need = deposit + OWNER_FEE_FUND_STOS * WEI_PER_STOS
      const { balance } = await chain.account(owner.address)
      if (balance < need)
        await chain.submitAndWait(p.funder, [{ type: 'send', to: owner.address, amount: need - balance }], {
          ...tx,
          wait: true,
        })
      await registerMetaNode(chain, owner, { key, moniker: basename(extra.dataDir), url: extra.url }, deposit, tx)
      listed = await metaNode(chain, key.address)
    }
    // Every active meta node whose owner this devnet holds votes until the candidate is active.
    for (const voter of await listMetaNodes(chain)) {
      if (listed?.status !== 'pending') break
      const voterOwner = owners.get(voter.node)
      if (voter.status !== 'active' || !voterOwner) continue
      try {
        await approveMetaNode(chain, voterOwner, voter.node, key.address, tx)
      } catch (e) {
        // Already voted (a devnet stopped half-way through): the next voter's vote counts.
        if (!(e instanceof StratosError && e.code === 'CONFLICT')) throw e
      }
      listed = await metaNode(chain, key.address)
    }
    if (listed?.status !== 'active')
      throw new StratosError(
        'NETWORK_CONFIG',
        `meta node ${basename(extra.dataDir)} (${key.address}) is ${listed?.status ?? 'unregistered'} on chain: its approval did not reach a majority`,
      )
    p.log(
      `devnet: registered meta node ${basename(extra.dataDir)} (${key.address}, ${extra.url}) on chain, approved by the active meta nodes`,
    )
  }
}

async function metaNode(chain: ChainClient, address: string): Promise<MetaNodeJson | undefined> {
  return (await listMetaNodes(chain)).find((m) => m.node === address)
}
