/**
 * Encrypted wallet keystores: one JSON file per named wallet, in a keys directory
 * (default `~/.stratos/keys`, or `$STRATOS_KEYS_DIR`).
 *
 *   { version: 1, name, address, publicKey, kind: "mnemonic" | "private-key", path?,
 *     kdf:    { name: "scrypt", N, r, p, salt },            salt hex, N a power of two
 *     cipher: { name: "aes-256-gcm", iv, ciphertext, tag }, hex
 *     createdAt }
 *
 * The key is scrypt(password, salt) and AES-256-GCM encrypts the secret (the mnemonic text, or
 * the private key as hex). `publicKey` is the compressed secp256k1 key, hex, so `wallet show` needs
 * no password. The header (version, name, address, publicKey, kind, path, kdf) is the GCM
 * additional data, so changing the recorded address or weakening the KDF parameters makes
 * decryption fail just as a wrong password does — GCM cannot tell the two apart, so both are
 * BAD_PASSWORD. After decryption the secret's address is checked against the header.
 *
 * Files are written atomically with mode 0600 in a 0700 directory. KDF parameters read from a
 * file are bounded (a crafted file must not make us allocate gigabytes).
 */
import { createCipheriv, createDecipheriv, scrypt as scryptCallback, type ScryptOptions } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { z } from 'zod'
import { canonicalJson } from './canonical.ts'
import { WalletKey, WALLET_HD_PATH, isWalletAddress } from './wallet-key.ts'
import { StratosError } from '../errors.ts'
import { systemClock, systemRandom, type Clock, type RandomBytes } from '../util/components.ts'
import { writeFileAtomic } from '../util/fs.ts'

export const KEYSTORE_VERSION = 1

export interface ScryptParams {
  /** CPU/memory cost, a power of two. Memory used ≈ 128 · N · r bytes. */
  N: number
  r: number
  p: number
}

/** Default KDF cost for new keystores: 2^17 · 8 · 128 B = 128 MiB and a few hundred ms per unlock. */
export const KEYSTORE_SCRYPT_DEFAULT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 }
/** Bounds on KDF parameters accepted from a file (N and r cap scrypt's memory at 256 MiB). */
export const KEYSTORE_SCRYPT_MIN_N = 2 ** 10
export const KEYSTORE_SCRYPT_MAX_N = 2 ** 18
export const KEYSTORE_SCRYPT_MAX_R = 8
export const KEYSTORE_SCRYPT_MAX_P = 4
export const KEYSTORE_SALT_BYTES = 32
export const KEYSTORE_IV_BYTES = 12
export const KEYSTORE_TAG_BYTES = 16
/** Largest secret a keystore holds (a 24-word mnemonic is < 250 bytes). */
export const KEYSTORE_MAX_SECRET_BYTES = 1024
/** Largest keystore file read, bytes. */
export const KEYSTORE_MAX_FILE_BYTES = 16 * 1024
/** Keystore names: a letter or digit, then letters, digits, `.`, `_` or `-`; at most 64 characters. */
export const KEYSTORE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export type KeystoreSecret =
  | { kind: 'mnemonic'; mnemonic: string; path: string }
  | { kind: 'private-key'; privateKey: Uint8Array }

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes of lowercase hex`)

const zKeystoreFile = z.strictObject({
  version: z.literal(KEYSTORE_VERSION),
  name: z.string().regex(KEYSTORE_NAME_PATTERN),
  address: z.string().refine(isWalletAddress, 'not an st1 wallet address'),
  publicKey: z.string().regex(/^0[23][0-9a-f]{64}$/, 'must be a compressed secp256k1 public key, hex'),
  kind: z.enum(['mnemonic', 'private-key']),
  path: z.string().max(64).optional(),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    N: z
      .number()
      .int()
      .min(KEYSTORE_SCRYPT_MIN_N)
      .max(KEYSTORE_SCRYPT_MAX_N)
      .refine((n) => (n & (n - 1)) === 0, 'N must be a power of two'),
    r: z.number().int().min(1).max(KEYSTORE_SCRYPT_MAX_R),
    p: z.number().int().min(1).max(KEYSTORE_SCRYPT_MAX_P),
    salt: hex(KEYSTORE_SALT_BYTES),
  }),
  cipher: z.strictObject({
    name: z.literal('aes-256-gcm'),
    iv: hex(KEYSTORE_IV_BYTES),
    ciphertext: z
      .string()
      .regex(/^([0-9a-f]{2})+$/)
      .max(KEYSTORE_MAX_SECRET_BYTES * 2),
    tag: hex(KEYSTORE_TAG_BYTES),
  }),
  createdAt: z.string().max(64),
})

export type KeystoreFile = z.infer<typeof zKeystoreFile>

/** Throws BAD_REQUEST unless `name` is a valid keystore name (so it can never escape the keys directory). */
export function validateKeystoreName(name: string): string {
  if (!KEYSTORE_NAME_PATTERN.test(name) || name.includes('..')) {
    throw new StratosError(
      'BAD_REQUEST',
      `"${name.slice(0, 80)}" is not a wallet name: use letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit)`,
    )
  }
  return name
}

/** Validates parsed JSON as a keystore file; BAD_REQUEST listing the problem otherwise. */
export function parseKeystore(value: unknown, where = 'keystore'): KeystoreFile {
  const r = zKeystoreFile.safeParse(value)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new StratosError(
      'BAD_REQUEST',
      `${where} is not a valid keystore: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    )
  }
  return r.data
}

function scrypt(password: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  // Node refuses scrypt above `maxmem` (32 MiB by default); allow exactly what these parameters need, with headroom.
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 2 * 128 * params.N * params.r * params.p + 1024 * 1024,
  }
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFKC'), salt, 32, options, (err, key) =>
      err
        ? reject(new StratosError('INTERNAL', `scrypt failed: ${err.message}`, undefined, { cause: err }))
        : resolve(key),
    )
  })
}

/** The GCM additional data: everything in the file except the cipher fields and the timestamp. */
function additionalData(
  f: Pick<KeystoreFile, 'version' | 'name' | 'address' | 'publicKey' | 'kind' | 'path' | 'kdf'>,
): Buffer {
  return Buffer.from(
    canonicalJson({
      version: f.version,
      name: f.name,
      address: f.address,
      publicKey: f.publicKey,
      kind: f.kind,
      path: f.path,
      kdf: { ...f.kdf },
    }),
  )
}

/** The compressed (33-byte) public key of a wallet, hex. */
export function compressedPublicKeyHex(key: WalletKey): string {
  return Buffer.from(secp256k1.Point.fromBytes(key.publicKey).toBytes(true)).toString('hex')
}

function walletOf(secret: KeystoreSecret): WalletKey {
  return secret.kind === 'mnemonic'
    ? WalletKey.fromMnemonic(secret.mnemonic, secret.path)
    : new WalletKey(secret.privateKey)
}

export interface EncryptOptions {
  kdf?: ScryptParams
  random?: RandomBytes
  clock?: Clock
}

/** Encrypts a wallet secret under `password`; the result is what `KeystoreDir.save` writes. */
export async function encryptKeystore(
  name: string,
  secret: KeystoreSecret,
  password: string,
  options: EncryptOptions = {},
): Promise<KeystoreFile> {
  validateKeystoreName(name)
  if (password.length === 0) throw new StratosError('BAD_REQUEST', 'the keystore password must not be empty')
  const key = walletOf(secret)
  const random = options.random ?? systemRandom
  const kdf = {
    name: 'scrypt' as const,
    ...(options.kdf ?? KEYSTORE_SCRYPT_DEFAULT),
    salt: Buffer.from(random(KEYSTORE_SALT_BYTES)).toString('hex'),
  }
  const header = {
    version: KEYSTORE_VERSION,
    name,
    address: key.address,
    publicKey: compressedPublicKeyHex(key),
    kind: secret.kind,
    ...(secret.kind === 'mnemonic' ? { path: secret.path } : {}),
    kdf,
  } as const
  const plaintext = Buffer.from(
    secret.kind === 'mnemonic'
      ? secret.mnemonic.trim().split(/\s+/).join(' ')
      : Buffer.from(secret.privateKey).toString('hex'),
  )
  if (plaintext.length > KEYSTORE_MAX_SECRET_BYTES)
    throw new StratosError('BAD_REQUEST', 'secret too large for a keystore')
  const iv = random(KEYSTORE_IV_BYTES)
  const aesKey = await scrypt(password, Buffer.from(kdf.salt, 'hex'), kdf)
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv)
  cipher.setAAD(additionalData(header))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const file: KeystoreFile = {
    ...header,
    cipher: {
      name: 'aes-256-gcm',
      iv: Buffer.from(iv).toString('hex'),
      ciphertext: ciphertext.toString('hex'),
      tag: cipher.getAuthTag().toString('hex'),
    },
    createdAt: new Date((options.clock ?? systemClock).now()).toISOString(),
  }
  return parseKeystore(file)
}

export interface UnlockedWallet {
  secret: KeystoreSecret
  key: WalletKey
}

/** Decrypts a keystore; BAD_PASSWORD when the password is wrong or the file was altered. */
export async function decryptKeystore(file: KeystoreFile, password: string): Promise<UnlockedWallet> {
  const f = parseKeystore(file)
  const aesKey = await scrypt(password, Buffer.from(f.kdf.salt, 'hex'), f.kdf)
  let plaintext: string
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(f.cipher.iv, 'hex'), {
      authTagLength: KEYSTORE_TAG_BYTES,
    })
    decipher.setAAD(additionalData(f))
    decipher.setAuthTag(Buffer.from(f.cipher.tag, 'hex'))
    plaintext = Buffer.concat([decipher.update(Buffer.from(f.cipher.ciphertext, 'hex')), decipher.final()]).toString(
      'utf8',
    )
  } catch {
    throw new StratosError('BAD_PASSWORD', `wrong password for wallet "${f.name}" (or its keystore file was altered)`)
  }
  const secret: KeystoreSecret =
    f.kind === 'mnemonic'
      ? { kind: 'mnemonic', mnemonic: plaintext, path: f.path ?? WALLET_HD_PATH }
      : { kind: 'private-key', privateKey: new Uint8Array(Buffer.from(plaintext, 'hex')) }
  const key = walletOf(secret)
  // Authenticated, so this only fails if whoever held the password wrote an inconsistent file.
  if (key.address !== f.address || compressedPublicKeyHex(key) !== f.publicKey)
    throw new StratosError(
      'BAD_REQUEST',
      `keystore "${f.name}" holds ${key.address}, not the recorded ${f.address} / ${f.publicKey}`,
    )
  return { secret, key }
}

/** `$STRATOS_KEYS_DIR`, else `~/.stratos/keys`. */
export function defaultKeysDir(env: NodeJS.ProcessEnv = process.env): string {
  const d = env.STRATOS_KEYS_DIR
  return d !== undefined && d !== '' ? d : join(homedir(), '.stratos', 'keys')
}

export interface KeystoreEntry {
  name: string
  address: string
  publicKey: string
  kind: KeystoreFile['kind']
  createdAt: string
}

/** A directory of keystore files, `<name>.json` each. */
export class KeystoreDir {
  readonly dir: string
  readonly #options: EncryptOptions

  constructor(dir: string, options: EncryptOptions = {}) {
    this.dir = dir
    this.#options = options
  }

  pathOf(name: string): string {
    return join(this.dir, `${validateKeystoreName(name)}.json`)
  }

  /** Whether a keystore file `name` exists (false for names that are not valid keystore names). */
  has(name: string): boolean {
    return KEYSTORE_NAME_PATTERN.test(name) && !name.includes('..') && existsSync(this.pathOf(name))
  }

  /** Names and addresses of every valid keystore (no password needed); unreadable files are skipped. */
  list(): KeystoreEntry[] {
    let files: string[]
    try {
      files = readdirSync(this.dir)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw e
    }
    const entries: KeystoreEntry[] = []
    for (const file of files.sort()) {
      const name = file.endsWith('.json') ? file.slice(0, -'.json'.length) : ''
      if (!KEYSTORE_NAME_PATTERN.test(name)) continue
      try {
        const f = this.read(name)
        entries.push({ name: f.name, address: f.address, publicKey: f.publicKey, kind: f.kind, createdAt: f.createdAt })
      } catch {
        // A half-edited or foreign file must not hide the others.
      }
    }
    return entries
  }

  /** The keystore file of `name` (public parts readable without the password); NOT_FOUND if there is none. */
  read(name: string): KeystoreFile {
    const path = this.pathOf(name)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new StratosError('NOT_FOUND', `no wallet named "${name}" in ${this.dir}`)
      throw e
    }
    if (text.length > KEYSTORE_MAX_FILE_BYTES)
      throw new StratosError('BAD_REQUEST', `${path} is too large to be a keystore`)
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new StratosError('BAD_REQUEST', `${path} is not JSON`)
    }
    const f = parseKeystore(json, path)
    if (f.name !== name) throw new StratosError('BAD_REQUEST', `${path} is the keystore of "${f.name}", not "${name}"`)
    return f
  }

  /** Encrypts and writes a new keystore; CONFLICT if the name is taken (unless `overwrite`). */
  async save(
    name: string,
    secret: KeystoreSecret,
    password: string,
    opts: { overwrite?: boolean } = {},
  ): Promise<KeystoreFile> {
    const path = this.pathOf(name)
    if (!opts.overwrite && existsSync(path))
      throw new StratosError('CONFLICT', `a wallet named "${name}" already exists in ${this.dir}`)
    const file = await encryptKeystore(name, secret, password, this.#options)
    this.#ensureDir()
    if (!opts.overwrite && existsSync(path))
      throw new StratosError('CONFLICT', `a wallet named "${name}" already exists in ${this.dir}`)
    writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 })
    return file
  }

  /** Decrypts the wallet `name`; NOT_FOUND, BAD_PASSWORD or BAD_REQUEST (corrupt file). */
  async load(name: string, password: string): Promise<UnlockedWallet> {
    return await decryptKeystore(this.read(name), password)
  }

  #ensureDir(): void {
    if (!existsSync(this.dir)) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      chmodSync(this.dir, 0o700)
    }
  }
}
