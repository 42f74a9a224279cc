/**
 * First visit (create or import a wallet) and the lock screen. A new recovery phrase is shown once, then three of
 * its words are asked back before the wallet is saved, so nobody ends up with a wallet they cannot restore.
 */
import { useMemo, useState } from 'preact/hooks'
import { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { AppError } from '../lib/errors.ts'
import { checkPassword, storedAccounts, Vault } from '../lib/vault.ts'
import { ErrorBox, useAction } from './common.tsx'

function PasswordFields({ onSubmit, busy, cta }: { onSubmit: (pw: string) => void; busy: boolean; cta: string }) {
  const [pw, setPw] = useState('')
  const [again, setAgain] = useState('')
  const [err, setErr] = useState<unknown>(null)
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault()
        try {
          checkPassword(pw)
          if (pw !== again) throw new AppError('PASSWORD_MISMATCH', 'The two passwords differ.')
          setErr(null)
          onSubmit(pw)
        } catch (x) {
          setErr(x)
        }
      }}
    >
      <p class="muted">
        This password encrypts your keys in this browser. It cannot be recovered: your recovery phrase can.
      </p>
      <label>
        Password
        <input type="password" autocomplete="new-password" value={pw} onInput={(e) => setPw(e.currentTarget.value)} />
      </label>
      <label>
        Repeat password
        <input
          type="password"
          autocomplete="new-password"
          value={again}
          onInput={(e) => setAgain(e.currentTarget.value)}
        />
      </label>
      <ErrorBox error={err} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Encrypting…' : cta}
      </button>
    </form>
  )
}

export function Welcome({ onReady }: { onReady: (v: Vault) => void }) {
  const [mode, setMode] = useState<'choose' | 'create' | 'import'>('choose')
  if (mode === 'create') return <CreateWallet onReady={onReady} onBack={() => setMode('choose')} />
  if (mode === 'import') return <ImportWallet onReady={onReady} onBack={() => setMode('choose')} />
  return (
    <main class="center card">
      <h1>Stratos wallet</h1>
      <p>Your tokens, staking, prepaid traffic and files in one place. Keys are made and kept in this browser only.</p>
      <div class="row">
        <button type="button" class="primary" onClick={() => setMode('create')}>
          Create a new wallet
        </button>
        <button type="button" onClick={() => setMode('import')}>
          Import a recovery phrase or key
        </button>
      </div>
    </main>
  )
}

function CreateWallet({ onReady, onBack }: { onReady: (v: Vault) => void; onBack: () => void }) {
  const mnemonic = useMemo(() => WalletKey.generateMnemonic(), [])
  const words = mnemonic.split(' ')
  const asked = useMemo(() => {
    const picks = new Set<number>()
    const r = crypto.getRandomValues(new Uint32Array(8))
    for (const x of r) if (picks.size < 3) picks.add(x % words.length)
    return [...picks].sort((a, b) => a - b)
  }, [words.length])
  const [step, setStep] = useState<'show' | 'confirm' | 'password'>('show')
  const [written, setWritten] = useState(false)
  const [answers, setAnswers] = useState<Record<number, string>>({})
  const [err, setErr] = useState<unknown>(null)
  const create = useAction((pw: string) => Vault.create(pw, mnemonic, 'Account 1'))
  return (
    <main class="center card">
      <h1>New wallet</h1>
      {step === 'show' && (
        <>
          <p>
            Write these {words.length} words down, in order, and keep them offline. They are the only way back into this
            wallet. They are shown once.
          </p>
          <ol class="mnemonic" data-testid="mnemonic" aria-label="Recovery phrase">
            {words.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ol>
          <label class="check">
            <input type="checkbox" checked={written} onChange={(e) => setWritten(e.currentTarget.checked)} />I wrote the
            words down
          </label>
          <div class="row">
            <button type="button" onClick={onBack}>
              Back
            </button>
            <button type="button" class="primary" disabled={!written} onClick={() => setStep('confirm')}>
              Continue
            </button>
          </div>
        </>
      )}
      {step === 'confirm' && (
        <form
          onSubmit={(e) => {
            e.preventDefault()
            const ok = asked.every((i) => (answers[i] ?? '').trim().toLowerCase() === words[i])
            if (!ok) setErr(new AppError('WRONG_WORDS', 'Those words do not match. Check what you wrote down.'))
            else {
              setErr(null)
              setStep('password')
            }
          }}
        >
          <p>Confirm three words of your recovery phrase.</p>
          {asked.map((i) => (
            <label key={i}>
              Word #{i + 1}
              <input
                autocomplete="off"
                autocapitalize="none"
                spellcheck={false}
                data-word={i + 1}
                value={answers[i] ?? ''}
                onInput={(e) => setAnswers({ ...answers, [i]: e.currentTarget.value })}
              />
            </label>
          ))}
          <ErrorBox error={err} />
          <div class="row">
            <button type="button" onClick={() => setStep('show')}>
              Show the words again
            </button>
            <button type="submit" class="primary">
              Confirm
            </button>
          </div>
        </form>
      )}
      {step === 'password' && (
        <>
          <PasswordFields
            busy={create.busy}
            cta="Create wallet"
            onSubmit={async (pw) => {
              const v = await create.run(pw)
              if (v) onReady(v)
            }}
          />
          <ErrorBox error={create.error} />
        </>
      )}
    </main>
  )
}

function ImportWallet({ onReady, onBack }: { onReady: (v: Vault) => void; onBack: () => void }) {
  const [secret, setSecret] = useState('')
  const create = useAction((pw: string) => Vault.create(pw, secret, 'Account 1'))
  return (
    <main class="center card">
      <h1>Import a wallet</h1>
      <label>
        Recovery phrase (12 or 24 words) or private key (64 hex digits)
        <textarea
          rows={3}
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          value={secret}
          onInput={(e) => setSecret(e.currentTarget.value)}
        />
      </label>
      <PasswordFields
        busy={create.busy}
        cta="Import"
        onSubmit={async (pw) => {
          const v = await create.run(pw)
          if (v) onReady(v)
        }}
      />
      <ErrorBox error={create.error} />
      <button type="button" onClick={onBack}>
        Back
      </button>
    </main>
  )
}

export function Unlock({ onReady, onForget }: { onReady: (v: Vault) => void; onForget: () => void }) {
  const [pw, setPw] = useState('')
  const unlock = useAction(() => Vault.unlock(pw))
  const accounts = storedAccounts()
  return (
    <main class="center card">
      <h1>Unlock your wallet</h1>
      <p class="muted">
        {accounts.length} account{accounts.length === 1 ? '' : 's'} in this browser
        {accounts[0] ? `, first ${accounts[0].address}` : ''}.
      </p>
      <form
        onSubmit={async (e) => {
          e.preventDefault()
          const v = await unlock.run()
          if (v) onReady(v)
        }}
      >
        <label>
          Password
          <input
            type="password"
            autocomplete="current-password"
            value={pw}
            onInput={(e) => setPw(e.currentTarget.value)}
          />
        </label>
        <ErrorBox error={unlock.error} />
        <button type="submit" class="primary" disabled={unlock.busy}>
          {unlock.busy ? 'Unlocking…' : 'Unlock'}
        </button>
      </form>
      <details>
        <summary>Forgot the password?</summary>
        <p>Remove the wallet from this browser, then import it again with your recovery phrase.</p>
        <button
          type="button"
          class="danger"
          onClick={() => {
            if (confirm('Remove every account from this browser? Only your recovery phrases can restore them.'))
              onForget()
          }}
        >
          Remove wallet from this browser
        </button>
      </details>
    </main>
  )
}
