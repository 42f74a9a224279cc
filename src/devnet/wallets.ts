/**
 * Dev wallets of a local devnet: generated once (BIP-39, 24 words) and kept in DIR/wallets.json,
 * so a restarted devnet has the same owners and the files they uploaded stay theirs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { WalletKey } from '../crypto/wallet-key.ts'
import { StratosError } from '../errors.ts'
import { writeFileAtomic } from '../util/fs.ts'
import type { DevWallet } from './network.ts'

/**
 * alice is the CLI's default wallet and owns the resource nodes, bob owns the meta node, carol runs the validator;
 * `gateway` is the gateway's own (its IPFS RPC API signs uploads with it), so the API never acts as the CLI user.
 * Order matters: the CLI defaults to the first, and new names go last so older devnets keep theirs in place.
 */
export const DEV_WALLET_NAMES = ['alice', 'bob', 'carol', 'gateway'] as const
/** The dev wallet the devnet's gateway holds. */
export const GATEWAY_WALLET = 'gateway' satisfies (typeof DEV_WALLET_NAMES)[number]
export const WALLETS_FILE = 'wallets.json'

const zWalletsFile = z.object({ wallets: z.array(z.object({ name: z.string(), mnemonic: z.string() })) })

export function loadOrCreateDevWallets(
  dir: string,
  generate: () => string = WalletKey.generateMnemonic,
  /** More names after DEV_WALLET_NAMES (the operators of a multi-validator devnet). */
  extra: readonly string[] = [],
): DevWallet[] {
  const path = join(dir, WALLETS_FILE)
  let stored: { name: string; mnemonic: string }[] = []
  if (existsSync(path)) {
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'))
    } catch {
      throw new StratosError('NETWORK_CONFIG', `${path} is not valid JSON`, { path })
    }
    const parsed = zWalletsFile.safeParse(raw)
    if (!parsed.success) throw new StratosError('NETWORK_CONFIG', `${path} is not a valid wallets file`, { path })
    stored = parsed.data.wallets
  }
  // Add any missing names (first start, or a file from an older version with fewer wallets).
  let changed = false
  for (const name of [...DEV_WALLET_NAMES, ...extra]) {
    if (!stored.some((w) => w.name === name)) {
      stored.push({ name, mnemonic: generate() })
      changed = true
    }
  }
  if (changed) writeFileAtomic(path, JSON.stringify({ wallets: stored }, null, 2) + '\n', { mode: 0o600 })
  return stored.map((w) => ({
    name: w.name,
    address: WalletKey.fromMnemonic(w.mnemonic).address,
    mnemonic: w.mnemonic,
  }))
}
