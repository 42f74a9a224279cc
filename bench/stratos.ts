/**
 * Our side of the benchmark: the client SDK against a devnet, used the way an application
 * would (StratosClient.put of a file path, StratosClient.cat streams).
 */
import { StratosClient } from '../src/sds/client/index.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'

export interface StratosTarget {
  metaUrl: string
  /** BIP-39 mnemonic of the uploading dev wallet. */
  mnemonic: string
}

export async function connectStratos(target: StratosTarget): Promise<StratosClient> {
  return StratosClient.connect({ metaUrl: target.metaUrl, wallet: WalletKey.fromMnemonic(target.mnemonic) })
}

/** CID settings of an upload; the default is Kubo's `ipfs add` (CIDv0, dag-pb leaves). */
export interface CidSettings {
  cidVersion: 0 | 1
  rawLeaves: boolean
}

/**
 * Uploads the file at `path`; only put() is timed. (Deliberately independent of helia.ts, so an
 * upload child measuring Stratos memory never loads Helia.)
 */
export async function timedStratosPut(
  client: StratosClient,
  path: string,
  settings: CidSettings = { cidVersion: 0, rawLeaves: false },
): Promise<{ cid: string; ms: number; segments: number }> {
  const t0 = performance.now()
  const r = await client.put(path, { cidVersion: settings.cidVersion, rawLeaves: settings.rawLeaves })
  return { cid: r.cid, ms: performance.now() - t0, segments: r.segments }
}
