/**
 * The key vault: accounts (BIP-39 mnemonics or raw private keys) encrypted at rest in localStorage, decrypted only
 * in this page's memory while unlocked.
 *
 * Encryption: one AES-256-GCM key per vault, derived from the password with PBKDF2-HMAC-SHA-256 at
 * VAULT_PBKDF2_ITERATIONS (WebCrypto; the derived key is non-extractable), a random 16-byte salt per vault and a
 * random 12-byte IV per secret. A wrong password fails the GCM tag check of the vault's check value: WRONG_PASSWORD.
 * Keys are derived as the CLI does (src/crypto/wallet-key.ts: m/44'/606'/0'/0/0 → st1…). Nothing here is sent
 * anywhere: the vault never leaves localStorage, secrets never leave this module except as WalletKey objects.
 */
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { toB64, fromB64 } from './bytes.ts'
import { AppError } from './errors.ts'

export const VAULT_STORAGE_KEY = 'stratos-wallet-vault'
/** OWASP's 2023 figure for PBKDF2-HMAC-SHA-256: ~0.3–0.6 s per unlock on a laptop. */
export const VAULT_PBKDF2_ITERATIONS = 600_000
const CHECK_TEXT = 'stratos-wallet-vault-v1'

interface Sealed {
  iv: string
  ct: string
}

export interface StoredAccount {
  id: string
  name: string
  address: string
  kind: 'mnemonic' | 'privateKey'
  secret: Sealed
}

interface StoredVault {
  v: 1
  kdf: { name: 'PBKDF2'; hash: 'SHA-256'; iterations: number; salt: string }
  check: Sealed
  accounts: StoredAccount[]
}

export interface Account {
  id: string
  name: string
  address: string
  kind: 'mnemonic' | 'privateKey'
}

export interface UnlockedAccount extends Account {
  key: WalletKey
}

function load(): StoredVault | null {
  const text = localStorage.getItem(VAULT_STORAGE_KEY)
  if (text === null) return null
  try {
    const v = JSON.parse(text) as StoredVault
    return v.v === 1 ? v : null
  } catch {
    return null
  }
}

function save(v: StoredVault): void {
  localStorage.setItem(VAULT_STORAGE_KEY, JSON.stringify(v))
}

export function vaultExists(): boolean {
  return load() !== null
}

/** The accounts' public facts (names, addresses): shown on the lock screen, no password needed. */
export function storedAccounts(): Account[] {
  return (load()?.accounts ?? []).map(({ id, name, address, kind }) => ({ id, name, address, kind }))
}

async function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(password.normalize('NFKC')),
    'PBKDF2',
    false,
    ['deriveKey'],
  )
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

async function seal(key: CryptoKey, text: string): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(text))
  return { iv: toB64(iv), ct: toB64(new Uint8Array(ct)) }
}

async function open(key: CryptoKey, s: Sealed): Promise<string> {
  const pt = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromB64(s.iv) as BufferSource },
    key,
    fromB64(s.ct) as BufferSource,
  )
  return new TextDecoder().decode(pt)
}

/** A secret as the user typed it → its wallet key (mnemonic or 64 hex digits); BAD_SECRET otherwise. */
export function keyFromSecret(secret: string): { key: WalletKey; kind: Account['kind']; normalized: string } {
  const s = secret.trim()
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(s)) {
    try {
      return { key: WalletKey.fromPrivateKeyHex(s), kind: 'privateKey', normalized: s.replace(/^0x/, '').toLowerCase() }
    } catch {
      throw new AppError('BAD_SECRET', 'That private key is not valid for secp256k1.')
    }
  }
  const words = s.toLowerCase().split(/\s+/).join(' ')
  try {
    return { key: WalletKey.fromMnemonic(words), kind: 'mnemonic', normalized: words }
  } catch {
    throw new AppError('BAD_SECRET', 'That is neither a valid 12/24-word recovery phrase nor a 64-digit private key.')
  }
}

export function checkPassword(password: string): void {
  if (password.length < 8) throw new AppError('WEAK_PASSWORD', 'Use a password of at least 8 characters.')
}

/** The unlocked vault: the derived key (to add accounts) and the decrypted accounts. */
export class Vault {
  readonly #key: CryptoKey
  readonly accounts: UnlockedAccount[]

  private constructor(key: CryptoKey, accounts: UnlockedAccount[]) {
    this.#key = key
    this.accounts = accounts
  }

  /** Creates a new vault holding one account; replaces nothing (VAULT_EXISTS if one is there). */
  static async create(password: string, secret: string, name: string): Promise<Vault> {
    if (vaultExists()) throw new AppError('VAULT_EXISTS', 'A wallet already exists in this browser.')
    checkPassword(password)
    const parsed = keyFromSecret(secret)
    const salt = crypto.getRandomValues(new Uint8Array(16))
    const key = await deriveKey(password, salt, VAULT_PBKDF2_ITERATIONS)
    const stored: StoredVault = {
      v: 1,
      kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: VAULT_PBKDF2_ITERATIONS, salt: toB64(salt) },
      check: await seal(key, CHECK_TEXT),
      accounts: [],
    }
    save(stored)
    const vault = new Vault(key, [])
    await vault.#add(parsed, name)
    return vault
  }

  static async unlock(password: string): Promise<Vault> {
    const stored = load()
    if (!stored) throw new AppError('NO_VAULT', 'There is no wallet in this browser yet.')
    const key = await deriveKey(password, fromB64(stored.kdf.salt), stored.kdf.iterations)
    try {
      if ((await open(key, stored.check)) !== CHECK_TEXT) throw new Error('check')
    } catch {
      throw new AppError('WRONG_PASSWORD', 'Wrong password. Try again.')
    }
    const accounts: UnlockedAccount[] = []
    for (const a of stored.accounts) {
      const { key: wallet } = keyFromSecret(await open(key, a.secret))
      accounts.push({ id: a.id, name: a.name, address: a.address, kind: a.kind, key: wallet })
    }
    return new Vault(key, accounts)
  }

  /** Adds an account (a new or imported secret); DUPLICATE_ACCOUNT when its address is already here. */
  async addAccount(secret: string, name: string): Promise<UnlockedAccount> {
    return this.#add(keyFromSecret(secret), name)
  }

  async #add(parsed: ReturnType<typeof keyFromSecret>, name: string): Promise<UnlockedAccount> {
    const stored = load()
    if (!stored) throw new AppError('NO_VAULT', 'There is no wallet in this browser yet.')
    if (stored.accounts.some((a) => a.address === parsed.key.address))
      throw new AppError('DUPLICATE_ACCOUNT', 'That account is already in this wallet.')
    const id = toB64(crypto.getRandomValues(new Uint8Array(9)))
    const account = { id, name: name.trim() || `Account ${stored.accounts.length + 1}`, address: parsed.key.address }
    stored.accounts.push({ ...account, kind: parsed.kind, secret: await seal(this.#key, parsed.normalized) })
    save(stored)
    const unlocked: UnlockedAccount = { ...account, kind: parsed.kind, key: parsed.key }
    this.accounts.push(unlocked)
    return unlocked
  }

  /** Removes an account from this browser (its secret is gone unless written down). */
  removeAccount(id: string): void {
    const stored = load()
    if (!stored) return
    stored.accounts = stored.accounts.filter((a) => a.id !== id)
    save(stored)
    const i = this.accounts.findIndex((a) => a.id === id)
    if (i !== -1) this.accounts.splice(i, 1)
  }
}

/** Forgets the whole vault in this browser. */
export function destroyVault(): void {
  localStorage.removeItem(VAULT_STORAGE_KEY)
}
