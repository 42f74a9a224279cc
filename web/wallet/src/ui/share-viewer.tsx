/**
 * The page a share link opens (/wallet/share/{id}): no wallet needed. It asks for the password when the link has
 * one, checks it against the gateway (HEAD /share/{id} with the password header: 401 BAD_PASSWORD when wrong), has
 * the gateway keep it as an HttpOnly cookie scoped to the link (POST /api/v1/share-session/{id}: a <video> cannot
 * send a header, and a password in the media URL would reach logs and history), then plays, shows or offers the file
 * from /share/{id}.
 */
import { useEffect, useState } from 'preact/hooks'
import { AppError } from '../lib/errors.ts'
import { errorOf } from '../lib/http.ts'
import { ErrorBox, Spinner } from './common.tsx'

type Probe =
  | { state: 'checking' }
  | { state: 'password'; wrong: boolean }
  | { state: 'open'; type: string; name: string }
  | { state: 'error'; error: unknown }

/** X-Requested-With: the gateway then answers 401 without the Basic challenge (no browser login dialog). */
function headersFor(password: string | null): Record<string, string> {
  return {
    'x-requested-with': 'stratos-wallet',
    ...(password === null ? {} : { 'x-stratos-share-password': password }),
  }
}

async function probe(id: string, password: string | null): Promise<Probe> {
  let res: Response
  try {
    res = await fetch(`/share/${id}`, { method: 'HEAD', headers: headersFor(password) })
  } catch {
    return { state: 'error', error: new AppError('NETWORK_UNREACHABLE', 'unreachable') }
  }
  if (res.status === 401) return { state: 'password', wrong: password !== null }
  if (!res.ok) {
    // HEAD has no body: ask again with GET for the error code.
    const r = await fetch(`/share/${id}`, {
      headers: password === null ? {} : { 'x-stratos-share-password': password },
    })
    const json = await r.json().catch(() => undefined)
    return { state: 'error', error: errorOf(r.status, json) }
  }
  const disposition = res.headers.get('content-disposition') ?? ''
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? ''
  return { state: 'open', type: res.headers.get('content-type') ?? '', name }
}

/** Has the gateway keep the checked password as the link's cookie; the error when it refuses. */
async function keepPassword(id: string, password: string): Promise<unknown> {
  try {
    const res = await fetch(`/api/v1/share-session/${id}`, { method: 'POST', headers: headersFor(password) })
    if (res.ok) return undefined
    return errorOf(res.status, await res.json().catch(() => undefined))
  } catch {
    return new AppError('NETWORK_UNREACHABLE', 'unreachable')
  }
}

export function ShareViewer({ id }: { id: string }) {
  const [p, setP] = useState<Probe>({ state: 'checking' })
  const [password, setPassword] = useState('')
  useEffect(() => {
    void probe(id, null).then(setP)
  }, [id])
  // The password (if any) travels in the link's cookie, never in the URL.
  const src = `/share/${id}`
  return (
    <main class="center card">
      <h1>Shared file</h1>
      {p.state === 'checking' && <Spinner label="Opening the link…" />}
      {p.state === 'error' && <ErrorBox error={p.error} />}
      {p.state === 'password' && (
        <form
          onSubmit={async (e) => {
            e.preventDefault()
            setP({ state: 'checking' })
            const r = await probe(id, password)
            if (r.state === 'open') {
              const kept = await keepPassword(id, password)
              if (kept !== undefined) {
                setP({ state: 'error', error: kept })
                return
              }
            }
            setP(r)
          }}
        >
          <label>
            This link needs a password
            <input type="password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          {p.wrong && <ErrorBox error={new AppError('BAD_PASSWORD', 'Wrong password')} />}
          <button type="submit" class="primary">
            Open
          </button>
        </form>
      )}
      {p.state === 'open' && (
        <>
          {p.type.startsWith('video/') ? (
            // biome-ignore lint/a11y/useMediaCaption: shared files come without caption tracks
            <video
              data-testid="share-player"
              controls
              preload="metadata"
              src={src}
              class="media"
              aria-label="Shared video"
            />
          ) : p.type.startsWith('audio/') ? (
            // biome-ignore lint/a11y/useMediaCaption: shared files come without caption tracks
            <audio data-testid="share-player" controls src={src} aria-label="Shared audio" />
          ) : p.type.startsWith('image/') ? (
            <img data-testid="share-player" src={src} alt={p.name || 'shared image'} class="media" />
          ) : null}
          <p>
            <a class="button" href={`${src}?download=true`}>
              Download {p.name}
            </a>
          </p>
        </>
      )}
    </main>
  )
}
