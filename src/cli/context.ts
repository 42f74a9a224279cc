/**
 * What every client command needs: which network (meta node URL, chain id, dev wallets) and
 * which wallet signs. Resolved lazily so reads never ask for a key.
 *
 * Network: `--meta-url URL` wins; else the network file from `--network DIR|FILE`,
 * `STRATOS_HOME`, or `~/.stratos/devnet`. Meta node: `--meta NAME|ADDRESS|URL` picks one of the network's
 * (a name or address from the network file, a stsds1… address the chain lists, or a URL); else the network's
 * default (devnet.json `meta`).
 * Wallet: `--key HEX`, else `--wallet NAME` (an encrypted keystore in the keys directory, else a
 * dev wallet of the network file), else the mnemonic in `STRATOS_MNEMONIC`, else the network's
 * first dev wallet. Keystores need their password (STRATOS_KEYSTORE_PASSWORD or a prompt), so
 * they are unlocked by the async `resolveWallet` (which `client()` uses); `wallet()` then returns
 * the unlocked key.
 */
import { KeystoreDir, defaultKeysDir } from '../crypto/keystore.ts'
import { WalletKey, isWalletAddress, setWalletCryptoAccelerator, signFewTimes } from '../crypto/wallet-key.ts'
import { opensslWalletSigner } from '../crypto/openssl-wallet-sign.ts'
import { isNodeAddress } from '../crypto/node-key.ts'
import { DEFAULT_PORTS } from '../limits.ts'
import { StratosError } from '../errors.ts'
import {
  networkFilePath,
  readNetworkFile,
  tryReadNetworkFile,
  type DevWallet,
  type NetworkFile,
} from '../devnet/network.ts'
import type { StratosClient } from '../sds/client/index.ts'
import type { MetaClient } from '../net/meta-client.ts'
import { readKeystorePassword } from './password.ts'
import { interruptOnSignals } from './signals.ts'

export interface GlobalOptions {
  network?: string
  metaUrl?: string
  /** Which of the network's meta nodes: a name or address of the network file, an address on chain, or a URL. */
  meta?: string
  /** The validator REST API (`--chain-url`), to resolve `--meta ADDRESS` from the chain. */
  chainUrl?: string
  key?: string
  wallet?: string
  /** Read under this read grant's id (docs/security.md) instead of the wallet's own session. */
  grant?: string
}

export type WalletNeed = 'required' | 'optional' | 'none'

export class CliContext {
  readonly globals: GlobalOptions
  readonly #env: NodeJS.ProcessEnv
  #network: NetworkFile | undefined | null = null
  /** The wallet unlocked from a keystore by resolveWallet, by name. */
  #unlocked: { name: string; key: WalletKey } | undefined

  constructor(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    this.globals = globals
    this.#env = env
  }

  get networkPath(): string {
    return networkFilePath(this.globals.network, this.#env)
  }

  /** The network file; undefined only when --meta-url is given and no network was named (then it is optional). */
  network(): NetworkFile | undefined {
    if (this.#network === null) {
      const optional =
        this.globals.metaUrl !== undefined && this.globals.network === undefined && this.#env.STRATOS_HOME === undefined
      this.#network = optional ? tryReadNetworkFile(this.networkPath) : readNetworkFile(this.networkPath)
    }
    return this.#network
  }

  /** The meta node's URL, from the flags and the network file (`--meta ADDRESS` of a meta node only the chain knows: resolveMetaUrl). */
  metaUrl(): string {
    if (this.globals.metaUrl) return this.globals.metaUrl.replace(/\/+$/, '')
    const pick = this.globals.meta
    if (pick !== undefined && /^https?:\/\//.test(pick)) return pick.replace(/\/+$/, '')
    const n = this.network()
    if (!n) throw new StratosError('NETWORK_CONFIG', `no network at ${this.networkPath}`)
    if (pick === undefined) return n.meta.url
    const listed = n.processes.find((p) => p.role === 'meta' && (p.name === pick || p.address === pick))
    if (listed) return listed.url
    if (pick === n.meta.address) return n.meta.url
    const names = n.processes.filter((p) => p.role === 'meta').map((p) => p.name)
    throw new StratosError(
      'NETWORK_CONFIG',
      `--meta ${pick}: no meta node of that name or address in ${this.networkPath} (have: ${names.join(', ') || 'none'}); give its URL, or its stsds1… address to look it up on chain`,
      { meta: pick },
    )
  }

  /** The validator REST API: `--chain-url`, else the network file's, else the default validator port on loopback. */
  chainUrl(): string {
    if (this.globals.chainUrl) return this.globals.chainUrl.replace(/\/+$/, '')
    let fromFile: string | undefined
    try {
      fromFile = tryReadNetworkFile(this.networkPath)?.chainUrl
    } catch {
      fromFile = undefined // a broken network file is not needed when the default validator answers
    }
    return fromFile ?? `http://127.0.0.1:${DEFAULT_PORTS.chainRest}`
  }

  /** metaUrl(), plus `--meta stsds1…` of a meta node the network file does not list: its URL as the chain lists it. */
  async resolveMetaUrl(signal?: AbortSignal): Promise<string> {
    const pick = this.globals.meta
    if (this.globals.metaUrl || pick === undefined || !isNodeAddress(pick)) return this.metaUrl()
    const n = this.globals.network === undefined && this.#env.STRATOS_HOME === undefined ? undefined : this.network()
    const file = n ?? tryReadNetworkFile(this.networkPath)
    const listed = file?.processes.find((p) => p.role === 'meta' && p.address === pick)
    if (listed) return listed.url
    const { resolveMetaUrl } = await import('../chain-client/meta-nodes.ts')
    const { ChainClient } = await import('../chain-client/client.ts')
    return resolveMetaUrl(new ChainClient({ url: this.chainUrl(), signal }), pick)
  }

  /** Resolves the signing wallet; undefined when none is configured and `need` is not 'required'. */
  wallet(need: WalletNeed): WalletKey | undefined {
    if (need === 'none') return undefined
    const g = this.globals
    if (g.key !== undefined) return WalletKey.fromPrivateKeyHex(g.key)
    if (g.wallet !== undefined) {
      if (this.#unlocked?.name === g.wallet) return this.#unlocked.key
      if (this.keystores().has(g.wallet)) {
        throw new StratosError(
          'INTERNAL',
          `wallet "${g.wallet}" is an encrypted keystore: it must be unlocked with resolveWallet() first`,
        )
      }
      const n = this.network()
      const w = n?.wallets.find((x) => x.name === g.wallet)
      if (!w) {
        const names = n?.wallets.map((x) => x.name).join(', ') || 'none'
        throw new StratosError(
          'BAD_REQUEST',
          `no wallet named "${g.wallet}" in ${this.keystores().dir} nor among the dev wallets of ${this.networkPath} (have: ${names})`,
        )
      }
      return WalletKey.fromMnemonic(w.mnemonic)
    }
    const mnemonic = this.#env.STRATOS_MNEMONIC
    if (mnemonic !== undefined && mnemonic.trim() !== '') return WalletKey.fromMnemonic(mnemonic)
    const first = this.network()?.wallets[0]
    if (first) return WalletKey.fromMnemonic(first.mnemonic)
    if (need === 'required')
      throw new StratosError(
        'NETWORK_CONFIG',
        'this command needs a wallet: pass --key HEX or --wallet NAME, or set STRATOS_MNEMONIC',
      )
    return undefined
  }

  /**
   * A wallet address argument (recipient, beneficiary, owner, …): an st1… address, else
   * the name of a keystore wallet or of a dev wallet of the network — the names `--wallet` takes,
   * looked up in the same order. A keystore's address is public: no password is asked. Anything
   * else is BAD_REQUEST saying which names exist.
   */
  resolveAddress(text: string, what = 'address'): string {
    // Bech32 allows an all-uppercase spelling (QR codes use it); the chain takes the lowercase one.
    if (isWalletAddress(text)) return text.toLowerCase()
    const keys = this.keystores()
    if (keys.has(text)) return keys.read(text).address
    let devWallets: readonly DevWallet[] = []
    try {
      devWallets = tryReadNetworkFile(this.networkPath)?.wallets ?? []
    } catch {
      // A broken network file: its names are simply not available (keystore names and addresses still are).
    }
    const dev = devWallets.find((w) => w.name === text)
    if (dev) return dev.address
    const known = [...keys.list().map((e) => e.name), ...devWallets.map((w) => w.name)]
    const looksLikeAddress = /^st1[0-9a-z]{30,}$/i.test(text)
    throw new StratosError(
      'BAD_REQUEST',
      looksLikeAddress
        ? `${what} "${text}" is not a valid st1… wallet address (bad checksum, or mixed case)`
        : `${what} "${text}" is neither an st1… wallet address nor a wallet name (known names: ${known.join(', ') || 'none'})`,
      { [what]: text, names: known },
    )
  }

  /** The keystore directory: `$STRATOS_KEYS_DIR`, else `~/.stratos/keys`. */
  keystores(): KeystoreDir {
    return new KeystoreDir(defaultKeysDir(this.#env))
  }

  /** Like wallet(), but unlocks a keystore wallet named by `--wallet` (asking for its password). */
  async resolveWallet(need: WalletNeed): Promise<WalletKey | undefined> {
    const name = this.globals.wallet
    if (need !== 'none' && this.globals.key === undefined && name !== undefined && this.#unlocked?.name !== name) {
      const keys = this.keystores()
      if (keys.has(name)) {
        const password = await readKeystorePassword({ what: `wallet "${name}"`, env: this.#env })
        this.#unlocked = { name, key: (await keys.load(name, password)).key }
      }
    }
    return this.wallet(need)
  }

  /**
   * A meta node client for commands that need no wallet and no SDK (`stratos status`), and the check of the network's
   * chain id StratosClient.connect makes (by an `info` request). Here the caller checks the chain id its first answer
   * carries instead (`checkChain`), before it shows anything: one round trip less.
   */
  async metaClient(): Promise<{ meta: MetaClient; checkChain(served: string): void }> {
    const metaUrl = await this.resolveMetaUrl()
    const chainId = this.globals.metaUrl ? undefined : this.network()?.chainId
    const { MetaClient } = await import('../net/meta-client.ts')
    const checkChain = (served: string): void => {
      if (chainId !== undefined && served !== chainId)
        throw new StratosError('WRONG_CHAIN', `meta node at ${metaUrl} serves chain ${served}, not ${chainId}`, {
          expected: chainId,
          got: served,
        })
    }
    return { meta: new MetaClient(metaUrl), checkChain }
  }

  async client(need: WalletNeed, extra: { k?: number; m?: number; segmentSize?: number } = {}): Promise<StratosClient> {
    const metaUrl = await this.resolveMetaUrl()
    const wallet = await this.resolveWallet(need)
    // A client command signs its session, create and commit, and exits: k·G by OpenSSL (openssl-wallet-sign.ts), and
    // should that decline, @noble/curves without the table it would build for many signatures.
    if (wallet) {
      signFewTimes()
      setWalletCryptoAccelerator(opensslWalletSigner)
    }
    const network = this.globals.metaUrl ? undefined : this.network()
    const chainId = network?.chainId
    const { StratosClient } = await import('../sds/client/client.ts')
    const tuning = Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined))
    // A meta node the network file lists runs with the file's coding defaults (the devnet starts it with them): the
    // client need not wait for its `info`, whose chain-id check then runs beside the first request (infoBeside).
    const listed =
      network !== undefined &&
      (metaUrl === network.meta.url || network.processes.some((p) => p.role === 'meta' && p.url === metaUrl))
    const described = listed ? { k: network.k, m: network.m, segmentSize: network.segmentSize, infoBeside: true } : {}
    return await StratosClient.connect({
      metaUrl,
      wallet,
      chainId,
      ...described,
      // A command signs a few times (session, create, commit) and exits: with OpenSSL's k·G (above) three signatures
      // cost ~5 ms of CPU in a fresh process, @noble/curves alone ~35 ms, loading libsecp256k1 and its self-test ~40
      // ms (bench/README.md issue 15).
      nativeWalletCrypto: false,
      ...tuning,
      ...(this.globals.grant !== undefined ? { grant: this.globals.grant } : {}),
    })
  }

  /** Runs `fn` with a client (see client()) and Ctrl-C wired to its signal; closes the client afterwards. */
  async withClient<T>(need: WalletNeed, fn: (client: StratosClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    const client = await this.client(need)
    const interrupt = interruptOnSignals()
    try {
      return await fn(client, interrupt.signal)
    } finally {
      interrupt.dispose()
      await client.close()
    }
  }
}

/** The context of a running command: its own options plus the program's global ones. */
export function contextOf(cmd: { optsWithGlobals(): Record<string, unknown> }): CliContext {
  const o = cmd.optsWithGlobals() as GlobalOptions
  return new CliContext({
    network: o.network,
    metaUrl: o.metaUrl,
    ...(o.meta !== undefined ? { meta: o.meta } : {}),
    ...(o.chainUrl !== undefined ? { chainUrl: o.chainUrl } : {}),
    key: o.key,
    wallet: o.wallet,
    ...(o.grant !== undefined ? { grant: o.grant } : {}),
  })
}
