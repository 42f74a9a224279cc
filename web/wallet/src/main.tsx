/**
 * The wallet portal (issue 18; docs/wallet.md): one page served by the gateway at /wallet/. Keys are made, kept
 * (encrypted, lib/vault.ts) and used only here; every request that needs authority is signed here with the CLI's own
 * code. Pages: #/ overview · #/send · #/staking · #/ozone · #/files · #/operator · #/network · #/accounts, and
 * /wallet/share/{id} for share links (no wallet needed).
 */
import './polyfills.ts'
import './style.css'
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { chain } from './lib/chain.ts'
import { shortAddress } from './lib/format.ts'
import { endSessions, sessionHeader } from './lib/meta.ts'
import { destroyVault, type UnlockedAccount, type Vault, vaultExists } from './lib/vault.ts'
import { ErrorBox, useAction, useLoad } from './ui/common.tsx'
import { Files } from './ui/files.tsx'
import { Unlock, Welcome } from './ui/onboarding.tsx'
import { Network, Operator } from './ui/operator.tsx'
import { ShareViewer } from './ui/share-viewer.tsx'
import { Overview, Ozone, Send, Staking } from './ui/tokens.tsx'

/** Locks by itself after this long without input. */
const IDLE_LOCK_MS = 15 * 60_000

const PAGES = [
  ['', 'Overview'],
  ['send', 'Send'],
  ['staking', 'Staking'],
  ['ozone', 'Ozone'],
  ['files', 'Files'],
  ['operator', 'My nodes'],
  ['network', 'Network'],
  ['accounts', 'Accounts'],
] as const

function useRoute(): string {
  const read = () => location.hash.replace(/^#\/?/, '')
  const [route, setRoute] = useState(read())
  useEffect(() => {
    const on = () => setRoute(read())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return route
}

function App() {
  const shareId = /^\/wallet\/share\/([A-Za-z0-9_-]{22})\/?$/.exec(location.pathname)?.[1]
  const [exists, setExists] = useState(vaultExists())
  const [vault, setVault] = useState<Vault | null>(null)
  const [current, setCurrent] = useState<UnlockedAccount | null>(null)
  if (shareId) return <ShareViewer id={shareId} />
  const ready = (v: Vault) => {
    setVault(v)
    setCurrent(v.accounts[0] ?? null)
    setExists(true)
  }
  if (!exists) return <Welcome onReady={ready} />
  if (!vault || !current)
    return (
      <Unlock
        onReady={ready}
        onForget={() => {
          destroyVault()
          setExists(false)
        }}
      />
    )
  return (
    <Shell
      vault={vault}
      current={current}
      setCurrent={setCurrent}
      lock={() => {
        void endSessions()
        setVault(null)
        setCurrent(null)
      }}
    />
  )
}

function Shell({
  vault,
  current,
  setCurrent,
  lock,
}: {
  vault: Vault
  current: UnlockedAccount
  setCurrent: (a: UnlockedAccount) => void
  lock: () => void
}) {
  const route = useRoute()
  const [menu, setMenu] = useState(false)
  const status = useLoad(() => chain.status(), [], 5000)
  // The session with the meta node and the gateway's content cookie, for the current account.
  const session = useLoad(() => sessionHeader(current.key), [current.address])
  useEffect(() => {
    let timer = setTimeout(lock, IDLE_LOCK_MS)
    const poke = () => {
      clearTimeout(timer)
      timer = setTimeout(lock, IDLE_LOCK_MS)
    }
    for (const ev of ['keydown', 'pointerdown']) addEventListener(ev, poke)
    return () => {
      clearTimeout(timer)
      for (const ev of ['keydown', 'pointerdown']) removeEventListener(ev, poke)
    }
  }, [lock])
  const page = route.split('/')[0] ?? ''
  const w = current.key
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <button
          type="button"
          class="menu small"
          aria-expanded={menu}
          aria-controls="nav"
          onClick={() => setMenu(!menu)}
        >
          Menu
        </button>
        <strong class="brand">Stratos</strong>
        <label class="account">
          <span class="sr-only">Account</span>
          <select
            value={current.id}
            onChange={(e) => setCurrent(vault.accounts.find((a) => a.id === e.currentTarget.value) ?? current)}
          >
            {vault.accounts.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} · {shortAddress(a.address)}
              </option>
            ))}
          </select>
        </label>
        <span class="muted height" title="Chain height">
          {status.data ? `#${status.data.height}` : status.error ? 'offline' : '…'}
        </span>
        <button type="button" class="small" onClick={lock}>
          Lock
        </button>
      </header>
      <nav id="nav" class={menu ? 'open' : ''} aria-label="Main">
        {PAGES.map(([id, label]) => (
          <a key={id} href={`#/${id}`} aria-current={page === id ? 'page' : undefined} onClick={() => setMenu(false)}>
            {label}
          </a>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        <ErrorBox error={status.error ?? session.error} />
        {page === '' && <Overview wallet={w} />}
        {page === 'send' && <Send wallet={w} />}
        {page === 'staking' && <Staking wallet={w} height={status.data?.height} />}
        {page === 'ozone' && <Ozone wallet={w} />}
        {page === 'files' && <Files key={current.address} wallet={w} />}
        {page === 'operator' && <Operator wallet={w} />}
        {page === 'network' && <Network />}
        {page === 'accounts' && <Accounts vault={vault} current={current} setCurrent={setCurrent} />}
      </main>
    </div>
  )
}

function Accounts({
  vault,
  current,
  setCurrent,
}: {
  vault: Vault
  current: UnlockedAccount
  setCurrent: (a: UnlockedAccount) => void
}) {
  const [secret, setSecret] = useState('')
  const [name, setName] = useState('')
  const [fresh, setFresh] = useState<string | null>(null)
  const add = useAction(async (s: string) => {
    const a = await vault.addAccount(s, name)
    setSecret('')
    setName('')
    setCurrent(a)
    return a
  })
  return (
    <section aria-labelledby="acc-h">
      <h1 id="acc-h">Accounts</h1>
      <ul class="accounts">
        {vault.accounts.map((a) => (
          <li key={a.id}>
            <strong>{a.name}</strong> <code>{a.address}</code> {a.id === current.id && <em>(current)</em>}
          </li>
        ))}
      </ul>
      <div class="card">
        <h2>Add an account</h2>
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Recovery phrase or private key to import (leave empty to create a new one)
          <textarea
            rows={2}
            autocomplete="off"
            spellcheck={false}
            value={secret}
            onInput={(e) => setSecret(e.currentTarget.value)}
          />
        </label>
        <ErrorBox error={add.error} />
        <div class="row">
          <button
            type="button"
            class="primary"
            disabled={add.busy}
            onClick={async () => {
              if (secret.trim()) return void (await add.run(secret))
              const m = WalletKey.generateMnemonic()
              if (await add.run(m)) setFresh(m)
            }}
          >
            {secret.trim() ? 'Import account' : 'Create account'}
          </button>
        </div>
        {fresh && (
          <div class="ok" role="status">
            <p>Write down the recovery phrase of the new account (shown once):</p>
            <p>
              <code>{fresh}</code>
            </p>
            <button type="button" onClick={() => setFresh(null)}>
              I wrote it down
            </button>
          </div>
        )}
      </div>
    </section>
  )
}

render(<App />, document.getElementById('app')!)
