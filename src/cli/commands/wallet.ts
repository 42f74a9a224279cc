/**
 * `stratos wallet new|import|list|show`: encrypted keystore wallets in the keys directory
 * (`--keys-dir`, else `$STRATOS_KEYS_DIR`, else `~/.stratos/keys`), plus the selected network's
 * dev wallets (read-only, marked `dev`).
 *
 * Secrets never travel through argv: passwords come from `$STRATOS_KEYSTORE_PASSWORD` or a hidden
 * prompt, mnemonics and private keys from stdin. A new wallet's mnemonic is printed exactly once;
 * `show` prints a secret only with `--reveal` and the password.
 */
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { generateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import {
  KeystoreDir,
  compressedPublicKeyHex,
  defaultKeysDir,
  validateKeystoreName,
  type KeystoreSecret,
} from '../../crypto/keystore.ts'
import { WALLET_HD_PATH, WalletKey } from '../../crypto/wallet-key.ts'
import { StratosError } from '../../errors.ts'
import { tryReadNetworkFile, type DevWallet } from '../../devnet/network.ts'
import { contextOf } from '../context.ts'
import { printJson, table } from '../output.ts'
import { readKeystorePassword, readSecretFromStdin } from '../password.ts'

const DEFAULT_WALLET_NAME = 'default'

interface KeysDirFlags {
  keysDir?: string
}

function keystoresOf(flags: KeysDirFlags): KeystoreDir {
  return new KeystoreDir(flags.keysDir ?? defaultKeysDir())
}

function parseWordCount(text: string): 12 | 24 {
  if (text === '12') return 12
  if (text === '24') return 24
  throw new InvalidArgumentError('must be 12 or 24')
}

/** The selected network's dev wallets, if a network file exists (wallet commands never require one). */
function devWallets(cmd: Command): { wallets: DevWallet[]; path: string } {
  const ctx = contextOf(cmd)
  try {
    return { wallets: tryReadNetworkFile(ctx.networkPath)?.wallets ?? [], path: ctx.networkPath }
  } catch {
    return { wallets: [], path: ctx.networkPath }
  }
}

export function registerWallet(program: Command): void {
  const wallet = program
    .command('wallet')
    .description("manage wallets: encrypted keystores (new, import, list, show) and the network's dev wallets")

  wallet
    .command('new')
    .description('create a wallet: a new BIP-39 mnemonic, encrypted into the keys directory; prints the mnemonic once')
    .argument('[name]', 'wallet name (letters, digits, ".", "_", "-")', DEFAULT_WALLET_NAME)
    .option('--words <n>', 'mnemonic length: 12 or 24', parseWordCount, 24)
    .option('--keys-dir <dir>', 'keys directory (default: $STRATOS_KEYS_DIR or ~/.stratos/keys)')
    .option('--json', 'print { name, address, publicKey, path, mnemonic, file } as JSON')
    .action(async (name: string, flags: KeysDirFlags & { words: 12 | 24; json?: boolean }) => {
      const keys = keystoresOf(flags)
      validateKeystoreName(name)
      if (keys.has(name)) throw new StratosError('CONFLICT', `a wallet named "${name}" already exists in ${keys.dir}`)
      const mnemonic = generateMnemonic(wordlist, flags.words === 12 ? 128 : 256)
      const password = await readKeystorePassword({ what: `new wallet "${name}"`, confirm: true })
      const file = await keys.save(name, { kind: 'mnemonic', mnemonic, path: WALLET_HD_PATH }, password)
      if (flags.json) {
        printJson({
          name,
          address: file.address,
          publicKey: file.publicKey,
          path: WALLET_HD_PATH,
          mnemonic,
          file: keys.pathOf(name),
        })
        return
      }
      process.stdout.write(
        [
          `created wallet ${name}: ${file.address}`,
          `keystore: ${keys.pathOf(name)}`,
          '',
          'mnemonic (shown only this once; write it down and keep it offline — anyone who has it controls the wallet):',
          '',
          `  ${mnemonic}`,
          '',
        ].join('\n'),
      )
    })

  wallet
    .command('import')
    .description(
      'import a wallet from a mnemonic (default) or a private key read from stdin, into an encrypted keystore',
    )
    .argument('<name>', 'wallet name (letters, digits, ".", "_", "-")')
    .option('--mnemonic-stdin', 'read a BIP-39 mnemonic from stdin (the default)')
    .option('--private-key-stdin', 'read a secp256k1 private key (64 hex digits) from stdin')
    .option('--keys-dir <dir>', 'keys directory (default: $STRATOS_KEYS_DIR or ~/.stratos/keys)')
    .option('--json', 'print { name, address, publicKey, kind, file } as JSON')
    .action(
      async (
        name: string,
        flags: KeysDirFlags & { mnemonicStdin?: boolean; privateKeyStdin?: boolean; json?: boolean },
      ) => {
        if (flags.mnemonicStdin && flags.privateKeyStdin)
          throw new StratosError('BAD_REQUEST', 'give either --mnemonic-stdin or --private-key-stdin')
        const keys = keystoresOf(flags)
        validateKeystoreName(name)
        if (keys.has(name)) throw new StratosError('CONFLICT', `a wallet named "${name}" already exists in ${keys.dir}`)
        let secret: KeystoreSecret
        if (flags.privateKeyStdin) {
          const key = WalletKey.fromPrivateKeyHex(await readSecretFromStdin('private key (hex)'))
          secret = { kind: 'private-key', privateKey: key.privateKey }
        } else {
          const mnemonic = (await readSecretFromStdin('mnemonic')).split(/\s+/).join(' ')
          WalletKey.fromMnemonic(mnemonic) // validates the checksum before asking for a password
          secret = { kind: 'mnemonic', mnemonic, path: WALLET_HD_PATH }
        }
        const password = await readKeystorePassword({ what: `wallet "${name}"`, confirm: true })
        const file = await keys.save(name, secret, password)
        if (flags.json) {
          printJson({
            name,
            address: file.address,
            publicKey: file.publicKey,
            kind: file.kind,
            file: keys.pathOf(name),
          })
          return
        }
        process.stdout.write(`imported wallet ${name}: ${file.address}\nkeystore: ${keys.pathOf(name)}\n`)
      },
    )

  wallet
    .command('list')
    .description("list keystore wallets and the selected network's dev wallets (no password needed)")
    .option('--keys-dir <dir>', 'keys directory (default: $STRATOS_KEYS_DIR or ~/.stratos/keys)')
    .option('--json', 'print { keysDir, wallets: [{ name, address, source, kind? }] }')
    .action((flags: KeysDirFlags & { json?: boolean }, cmd: Command) => {
      const keys = keystoresOf(flags)
      const rows = [
        ...keys.list().map((e) => ({ name: e.name, address: e.address, source: 'keystore' as const, kind: e.kind })),
        ...devWallets(cmd).wallets.map((w) => ({ name: w.name, address: w.address, source: 'dev' as const })),
      ]
      if (flags.json) {
        printJson({ keysDir: keys.dir, wallets: rows })
        return
      }
      if (rows.length === 0) {
        process.stdout.write(`no wallets in ${keys.dir}; create one with \`stratos wallet new NAME\`\n`)
        return
      }
      process.stdout.write(
        table(
          ['NAME', 'ADDRESS', 'SOURCE'],
          rows.map((r) => [r.name, r.address, r.source]),
        ) + '\n',
      )
    })

  wallet
    .command('show')
    .description("show a wallet's address and public key; --reveal also prints its secret (asks for the password)")
    .argument('<name>', 'keystore wallet name, or a dev wallet of the selected network')
    .option('--reveal', 'also print the mnemonic or private key (needs the password)')
    .option('--keys-dir <dir>', 'keys directory (default: $STRATOS_KEYS_DIR or ~/.stratos/keys)')
    .option('--json', 'print { name, address, publicKey, source, kind, path?, mnemonic?, privateKey? }')
    .action(async (name: string, flags: KeysDirFlags & { reveal?: boolean; json?: boolean }, cmd: Command) => {
      const keys = keystoresOf(flags)
      let shown: {
        name: string
        address: string
        publicKey: string
        source: 'keystore' | 'dev'
        kind: string
        path?: string
        mnemonic?: string
        privateKey?: string
      }
      if (keys.has(name)) {
        const f = keys.read(name)
        shown = {
          name,
          address: f.address,
          publicKey: f.publicKey,
          source: 'keystore',
          kind: f.kind,
          ...(f.path ? { path: f.path } : {}),
        }
        if (flags.reveal) {
          const { secret } = await keys.load(name, await readKeystorePassword({ what: `wallet "${name}"` }))
          if (secret.kind === 'mnemonic') shown.mnemonic = secret.mnemonic
          else shown.privateKey = Buffer.from(secret.privateKey).toString('hex')
        }
      } else {
        const dev = devWallets(cmd)
        const w = dev.wallets.find((x) => x.name === name)
        if (!w) {
          validateKeystoreName(name)
          throw new StratosError(
            'NOT_FOUND',
            `no wallet named "${name}" in ${keys.dir} nor among the dev wallets of ${dev.path}`,
          )
        }
        const key = WalletKey.fromMnemonic(w.mnemonic)
        shown = {
          name,
          address: key.address,
          publicKey: compressedPublicKeyHex(key),
          source: 'dev',
          kind: 'mnemonic',
          path: WALLET_HD_PATH,
        }
        if (flags.reveal) shown.mnemonic = w.mnemonic
      }
      if (flags.json) {
        printJson(shown)
        return
      }
      const lines = [
        `name:       ${shown.name} (${shown.source === 'dev' ? 'dev wallet of the network' : 'keystore'})`,
        `address:    ${shown.address}`,
        `public key: ${shown.publicKey}`,
        ...(shown.path ? [`path:       ${shown.path}`] : []),
        ...(shown.mnemonic ? [`mnemonic:   ${shown.mnemonic}`] : []),
        ...(shown.privateKey ? [`private key: ${shown.privateKey}`] : []),
      ]
      process.stdout.write(lines.join('\n') + '\n')
    })
}
