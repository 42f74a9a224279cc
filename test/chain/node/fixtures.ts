/**
 * Shared fixtures of the chain node tests: a devnet genesis with one validator (wallets[0]) and
 * funded wallets, temp data directories and small HTTP helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { devnetGenesis, type GenesisConfig } from '../../../src/chain/genesis.ts'
import { stos } from '../../../src/chain/params.ts'
import { signTx, type SignedTx } from '../../../src/chain/tx.ts'
import { encodeSignedTx } from '../../../src/chain/tx.ts'
import { toHex } from '../../../src/crypto/hash.ts'
import type { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { CHAIN_ID, FEE, nodeKey, wallet } from '../helpers.ts'

export { CHAIN_ID, FEE, wallet }

export const GENESIS_TIME = 1_700_000_000_000

export function nodeGenesis(wallets = 6): GenesisConfig {
  const ws = Array.from({ length: wallets }, (_, i) => wallet(i))
  return devnetGenesis({
    chainId: CHAIN_ID,
    wallets: ws.map((w) => w.address),
    genesisTime: GENESIS_TIME,
    params: { epochBlocks: 5 },
    validators: [
      {
        operator: ws[0]!.address,
        consensusKey: toHex(nodeKey(200).publicKey),
        commissionBps: 1000,
        selfDelegation: stos(10_000),
        moniker: 'val-0',
      },
    ],
  })
}

export function tempDir(t: { after(fn: () => void): void }, name = 'chain-node'): string {
  const dir = mkdtempSync(join(tmpdir(), `stratos-${name}-`))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function transfer(
  from: WalletKey,
  to: string,
  amount: bigint,
  nonce: bigint,
  over: { chainId?: string; fee?: bigint } = {},
): SignedTx {
  return signTx(from, {
    chainId: over.chainId ?? CHAIN_ID,
    sender: from.address,
    nonce,
    fee: over.fee ?? FEE,
    msgs: [{ type: 'send', to, amount }],
  })
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.json() }
}

export async function postTx(base: string, tx: SignedTx | string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/txs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof tx === 'string' ? tx : encodeSignedTx(tx),
  })
  return { status: res.status, body: await res.json() }
}
