/** Tokens and staking: overview with history, send, validators and delegations, ozone (prepaid traffic). */
import { useState } from 'preact/hooks'
import { prepay as prepayFormula } from '../../../../src/chain/economics.ts'
import type { Msg } from '../../../../src/chain/msgs.ts'
import { isWalletAddress, type WalletKey } from '../../../../src/crypto/wallet-key.ts'
import { chain, sendTx, type TxOutcome } from '../lib/chain.ts'
import { AppError } from '../lib/errors.ts'
import { formatBytes, formatDate, formatStos, parseStos, shortAddress } from '../lib/format.ts'
import { CopyButton, ErrorBox, Modal, Spinner, useAction, useLoad } from './common.tsx'

const REFRESH_MS = 4000

function TxResult({ r }: { r: TxOutcome }) {
  return (
    <div class="ok" role="status" data-testid="tx-result">
      Done: in block <strong data-testid="tx-height">{r.height}</strong>, transaction{' '}
      <code data-testid="tx-hash">{r.hash}</code> <CopyButton text={r.hash} label="Copy transaction hash" />
    </div>
  )
}

/** Review → confirm → result, for every transaction the portal sends. */
function ConfirmTx({
  title,
  lines,
  wallet,
  msgs,
  onDone,
  onClose,
}: {
  title: string
  lines: Array<[string, string]>
  wallet: WalletKey
  msgs: Msg[]
  onDone?: () => void
  onClose: () => void
}) {
  const fee = useLoad(() => chain.params().then((p) => p.minFeeWei), [])
  const send = useAction(() => sendTx(wallet, msgs, fee.data!))
  const [result, setResult] = useState<TxOutcome | null>(null)
  return (
    <Modal title={title} onClose={onClose}>
      <dl class="review">
        {lines.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
        <div>
          <dt>Network fee</dt>
          <dd>{fee.data === undefined ? '…' : formatStos(fee.data, 6)}</dd>
        </div>
      </dl>
      <ErrorBox error={send.error ?? fee.error} />
      {result ? (
        <>
          <TxResult r={result} />
          <button type="button" class="primary" onClick={onClose}>
            Close
          </button>
        </>
      ) : (
        <div class="row">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            class="primary"
            disabled={send.busy || fee.data === undefined}
            onClick={async () => {
              const r = await send.run()
              if (r) {
                setResult(r)
                onDone?.()
              }
            }}
          >
            {send.busy ? 'Signing and waiting for a block…' : 'Confirm and send'}
          </button>
        </div>
      )}
    </Modal>
  )
}

export function Overview({ wallet }: { wallet: WalletKey }) {
  const account = useLoad(() => chain.account(wallet.address), [wallet.address], REFRESH_MS)
  const history = useLoad(() => chain.history(wallet.address), [wallet.address], REFRESH_MS)
  return (
    <section aria-labelledby="overview-h">
      <h1 id="overview-h">Overview</h1>
      <div class="cards">
        <div class="card">
          <h2>Balance</h2>
          <p class="big" data-testid="balance" aria-live="polite">
            {account.data ? formatStos(account.data.balance) : <Spinner />}
          </p>
        </div>
        <div class="card">
          <h2>Ozone (prepaid traffic)</h2>
          <p class="big" data-testid="ozone">
            {account.data ? formatBytes(account.data.ozone) : <Spinner />}
          </p>
          <a href="#/ozone">Prepay more</a>
        </div>
        <div class="card">
          <h2>Receive</h2>
          <p>
            Your address: <code data-testid="address">{wallet.address}</code>
          </p>
          <CopyButton text={wallet.address} label="Copy your address" />
        </div>
      </div>
      <ErrorBox error={account.error} />
      <h2>History</h2>
      <ErrorBox error={history.error} />
      {history.data === undefined ? (
        <Spinner />
      ) : history.data.length === 0 ? (
        <p class="muted">No transactions yet. Send STOS to your address to start.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Block</th>
                <th>What</th>
                <th>Result</th>
                <th>Hash</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((h) => (
                <tr key={h.hash} data-testid="history-row" data-hash={h.hash}>
                  <td>{h.height}</td>
                  <td>{describe(h.tx?.tx, wallet.address)}</td>
                  <td>{h.result?.code === 'OK' ? 'OK' : (h.result?.code ?? '?')}</td>
                  <td>
                    <code title={h.hash}>{h.hash.slice(0, 10)}…</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

function describe(tx: { sender: string; msgs: Array<Record<string, unknown>> } | undefined, me: string): string {
  if (!tx) return '?'
  return tx.msgs
    .map((m) => {
      const amount = typeof m.amount === 'string' ? formatStos(BigInt(m.amount)) : ''
      switch (m.type) {
        case 'send':
          return tx.sender === me
            ? `Sent ${amount} to ${shortAddress(m.to as string)}`
            : `Received ${amount} from ${shortAddress(tx.sender)}`
        case 'prepay':
          return `Prepaid ${amount} for ozone`
        case 'delegate':
          return `Delegated ${amount} to ${shortAddress(m.validator as string)}`
        case 'undelegate':
          return `Undelegated ${amount} from ${shortAddress(m.validator as string)}`
        case 'withdraw_rewards':
          return 'Withdrew rewards'
        default:
          return String(m.type).replace(/_/g, ' ')
      }
    })
    .join('; ')
}

export function Send({ wallet }: { wallet: WalletKey }) {
  const account = useLoad(() => chain.account(wallet.address), [wallet.address], REFRESH_MS)
  const [to, setTo] = useState('')
  const [amount, setAmount] = useState('')
  const [err, setErr] = useState<unknown>(null)
  const [review, setReview] = useState<{ to: string; wei: bigint } | null>(null)
  return (
    <section aria-labelledby="send-h">
      <h1 id="send-h">Send STOS</h1>
      <p>Available: {account.data ? formatStos(account.data.balance) : '…'}</p>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault()
          const wei = parseStos(amount)
          if (!isWalletAddress(to.trim()))
            return setErr(new AppError('BAD_ADDRESS', 'That is not a Stratos address (st1…).'))
          if (wei === null) return setErr(new AppError('BAD_AMOUNT', 'Enter a positive amount, e.g. 1.5.'))
          if (account.data && wei > account.data.balance)
            return setErr(new AppError('INSUFFICIENT_FUNDS', 'Your balance is too low.'))
          setErr(null)
          setReview({ to: to.trim(), wei })
        }}
      >
        <label>
          Recipient address
          <input value={to} placeholder="st1…" autocomplete="off" onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label>
          Amount (STOS)
          <input inputMode="decimal" value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        </label>
        <ErrorBox error={err} />
        <button type="submit" class="primary">
          Review
        </button>
      </form>
      {review && (
        <ConfirmTx
          title="Confirm transfer"
          wallet={wallet}
          lines={[
            ['To', review.to],
            ['Amount', formatStos(review.wei, 18)],
          ]}
          msgs={[{ type: 'send', to: review.to, amount: review.wei }]}
          onDone={account.reload}
          onClose={() => setReview(null)}
        />
      )}
    </section>
  )
}

export function Staking({ wallet, height }: { wallet: WalletKey; height: number | undefined }) {
  const validators = useLoad(() => chain.validators(), [])
  const mine = useLoad(() => chain.delegations(wallet.address), [wallet.address], REFRESH_MS)
  const rewards = useLoad(() => chain.rewards(wallet.address), [wallet.address], REFRESH_MS)
  const [amounts, setAmounts] = useState<Record<string, string>>({})
  const [err, setErr] = useState<unknown>(null)
  const [pending, setPending] = useState<{ title: string; lines: Array<[string, string]>; msgs: Msg[] } | null>(null)
  const matured = (rewards.data ?? []).filter((r) => r.matured).reduce((a, r) => a + r.amount, 0n)
  const waiting = (rewards.data ?? []).filter((r) => !r.matured).reduce((a, r) => a + r.amount, 0n)
  const act = (kind: 'delegate' | 'undelegate', validator: string) => {
    const wei = parseStos(amounts[`${kind}:${validator}`] ?? '')
    if (wei === null) return setErr(new AppError('BAD_AMOUNT', 'Enter a positive amount, e.g. 10.'))
    setErr(null)
    setPending({
      title: kind === 'delegate' ? 'Confirm delegation' : 'Confirm undelegation',
      lines: [
        ['Validator', validator],
        ['Amount', formatStos(wei, 18)],
      ],
      msgs: [{ type: kind, validator, amount: wei }],
    })
  }
  return (
    <section aria-labelledby="staking-h">
      <h1 id="staking-h">Staking</h1>
      <div class="card">
        <h2>Rewards</h2>
        <p>
          Withdrawable: <strong data-testid="rewards">{formatStos(matured)}</strong>
          {waiting > 0n && <span class="muted"> (maturing: {formatStos(waiting)})</span>}
        </p>
        <button
          type="button"
          disabled={matured === 0n}
          onClick={() =>
            setPending({
              title: 'Withdraw rewards',
              lines: [['Amount', formatStos(matured, 18)]],
              msgs: [{ type: 'withdraw_rewards' }],
            })
          }
        >
          Withdraw rewards
        </button>
      </div>
      <ErrorBox error={err ?? validators.error ?? mine.error} />
      <h2>Validators</h2>
      {validators.data === undefined ? (
        <Spinner />
      ) : (
        <div class="table-wrap">
          <table class="cards-narrow">
            <thead>
              <tr>
                <th>Validator</th>
                <th>Stake</th>
                <th>Commission</th>
                <th>Yours</th>
                <th>Delegate</th>
              </tr>
            </thead>
            <tbody>
              {validators.data.map((v) => {
                const my = mine.data?.delegations.find((d) => d.validator === v.operator)
                return (
                  <tr key={v.operator} data-validator={v.operator}>
                    <td data-label="Validator">
                      <strong>{v.moniker || 'validator'}</strong>
                      <br />
                      <code>{shortAddress(v.operator)}</code>
                    </td>
                    <td data-label="Stake">{formatStos(v.tokens, 0)}</td>
                    <td data-label="Commission">{(v.commissionBps / 100).toFixed(2)}%</td>
                    <td data-label="Yours" data-testid="my-delegation">
                      {my ? formatStos(my.amount) : '—'}
                    </td>
                    <td data-label="Delegate">
                      <div class="inline">
                        <input
                          aria-label={`Amount to delegate to ${v.moniker || v.operator}`}
                          inputMode="decimal"
                          size={6}
                          value={amounts[`delegate:${v.operator}`] ?? ''}
                          onInput={(e) => setAmounts({ ...amounts, [`delegate:${v.operator}`]: e.currentTarget.value })}
                        />
                        <button type="button" onClick={() => act('delegate', v.operator)}>
                          Delegate
                        </button>
                      </div>
                      {my && (
                        <div class="inline">
                          <input
                            aria-label={`Amount to undelegate from ${v.moniker || v.operator}`}
                            inputMode="decimal"
                            size={6}
                            value={amounts[`undelegate:${v.operator}`] ?? ''}
                            onInput={(e) =>
                              setAmounts({ ...amounts, [`undelegate:${v.operator}`]: e.currentTarget.value })
                            }
                          />
                          <button type="button" onClick={() => act('undelegate', v.operator)}>
                            Undelegate
                          </button>
                        </div>
                      )}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
      <h2>Unbonding</h2>
      {(mine.data?.unbondings ?? []).length === 0 ? (
        <p class="muted">Nothing unbonding.</p>
      ) : (
        <ul>
          {mine.data!.unbondings.map((u, i) => (
            <li key={i} data-testid="unbonding">
              {formatStos(u.amount)} returns at block {u.completionHeight}
              {height !== undefined && ` (in ${Math.max(0, u.completionHeight - height)} blocks)`}
            </li>
          ))}
        </ul>
      )}
      {pending && (
        <ConfirmTx
          {...pending}
          wallet={wallet}
          onDone={() => {
            mine.reload()
            rewards.reload()
            validators.reload()
          }}
          onClose={() => setPending(null)}
        />
      )}
    </section>
  )
}

export function Ozone({ wallet }: { wallet: WalletKey }) {
  const market = useLoad(() => chain.ozoneMarket(), [], REFRESH_MS)
  const account = useLoad(() => chain.account(wallet.address), [wallet.address], REFRESH_MS)
  const [amount, setAmount] = useState('')
  const [review, setReview] = useState<bigint | null>(null)
  const [err, setErr] = useState<unknown>(null)
  const wei = parseStos(amount)
  const preview = wei !== null && market.data ? prepayFormula(market.data, wei).ozone : null
  return (
    <section aria-labelledby="ozone-h">
      <h1 id="ozone-h">Ozone: prepaid traffic</h1>
      <p>
        Every byte your files move (uploads with their redundancy, downloads, plays) is paid from ozone. Ozone is bought
        with STOS at the chain's current price.
      </p>
      <div class="cards">
        <div class="card">
          <h2>Your ozone</h2>
          <p class="big" data-testid="ozone-left">
            {account.data ? formatBytes(account.data.ozone) : <Spinner />}
          </p>
        </div>
        <div class="card">
          <h2>Price</h2>
          <p class="big">{market.data?.weiPerGiB == null ? '…' : `${formatStos(market.data.weiPerGiB, 6)} per GiB`}</p>
        </div>
      </div>
      <ErrorBox error={market.error ?? account.error} />
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault()
          if (wei === null) return setErr(new AppError('BAD_AMOUNT', 'Enter a positive amount, e.g. 10.'))
          if (account.data && wei > account.data.balance)
            return setErr(new AppError('INSUFFICIENT_FUNDS', 'Your balance is too low.'))
          setErr(null)
          setReview(wei)
        }}
      >
        <label>
          Prepay (STOS)
          <input inputMode="decimal" value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        </label>
        <p aria-live="polite" data-testid="prepay-preview">
          {preview !== null ? `Buys about ${formatBytes(preview)} of traffic.` : 'Enter an amount to see what it buys.'}
        </p>
        <ErrorBox error={err} />
        <button type="submit" class="primary">
          Review prepay
        </button>
      </form>
      {review !== null && (
        <ConfirmTx
          title="Confirm prepay"
          wallet={wallet}
          lines={[
            ['Amount', formatStos(review, 18)],
            ['Buys about', preview === null ? '…' : formatBytes(preview)],
          ]}
          msgs={[{ type: 'prepay', amount: review }]}
          onDone={account.reload}
          onClose={() => setReview(null)}
        />
      )}
      <p class="muted">Updated {formatDate(Date.now())}</p>
    </section>
  )
}
