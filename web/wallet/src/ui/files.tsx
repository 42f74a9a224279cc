/**
 * Files: upload (drag and drop or pickers, files and folders) with per-file progress, speed and cancel; the list with
 * search, traffic, copy CID / gateway URL, download, play or preview, share links, delete.
 */
import { useMemo, useRef, useState } from 'preact/hooks'
import type { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import type { FileSummary, ShareView } from '../../../../src/sds/protocol/api.ts'
import { AppError, friendly } from '../lib/errors.ts'
import { formatBytes, formatDate } from '../lib/format.ts'
import { contentUrl, gatewayUrl, meta } from '../lib/meta.ts'
import { commitFolder, uploadFile, type UploadProgress } from '../lib/upload.ts'
import { CopyButton, ErrorBox, Modal, Spinner, useAction, useLoad } from './common.tsx'

interface Task {
  id: number
  name: string
  size: number
  progress: UploadProgress
  startedAt: number
  speed: number
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled'
  error?: unknown
  cid?: string
  controller: AbortController
}

const VIDEO = /\.(mp4|m4v|webm|mov|ogv)$/i
const AUDIO = /\.(mp3|m4a|aac|wav|ogg|oga|flac|opus)$/i
const IMAGE = /\.(png|jpe?g|gif|webp|avif|svg|bmp)$/i

export function mediaKind(name: string | undefined): 'video' | 'audio' | 'image' | null {
  if (!name) return null
  return VIDEO.test(name) ? 'video' : AUDIO.test(name) ? 'audio' : IMAGE.test(name) ? 'image' : null
}

let nextTaskId = 1

export function Files({ wallet }: { wallet: WalletKey }) {
  const list = useLoad(() => meta.listFiles(wallet), [wallet.address])
  const shares = useLoad(() => meta.listShares(wallet), [wallet.address])
  const [tasks, setTasks] = useState<Task[]>([])
  const [query, setQuery] = useState('')
  const [drag, setDrag] = useState(false)
  const [playing, setPlaying] = useState<FileSummary | null>(null)
  const [sharing, setSharing] = useState<FileSummary | null>(null)
  const [deleting, setDeleting] = useState<FileSummary | null>(null)
  const fileInput = useRef<HTMLInputElement>(null)
  const folderInput = useRef<HTMLInputElement>(null)

  const update = (id: number, patch: Partial<Task>) =>
    setTasks((ts) => ts.map((t) => (t.id === id ? { ...t, ...patch } : t)))

  /** Uploads files one after another (each streams; the gateway codes them); a folder then gets its directory. */
  const enqueue = async (files: Array<{ file: File; path: string }>, folder?: string) => {
    const fresh: Task[] = files.map(({ file, path }) => ({
      id: nextTaskId++,
      name: path,
      size: file.size,
      progress: { sent: 0, total: file.size, phase: 'sending' },
      startedAt: 0,
      speed: 0,
      state: 'queued',
      controller: new AbortController(),
    }))
    setTasks((ts) => [...fresh, ...ts])
    const done: Array<{ path: string; cid: string; dagSize: number; size: number }> = []
    for (let i = 0; i < files.length; i++) {
      const t = fresh[i]!
      if (t.controller.signal.aborted) continue
      const started = performance.now()
      update(t.id, { state: 'running', startedAt: started })
      try {
        const r = await uploadFile(
          wallet,
          files[i]!.file,
          files[i]!.path.split('/').pop()!,
          (progress) => {
            const secs = (performance.now() - started) / 1000
            update(t.id, { progress, speed: secs > 0 ? progress.sent / secs : 0 })
          },
          t.controller.signal,
        )
        update(t.id, { state: 'done', cid: r.cid })
        done.push({
          path: folder ? files[i]!.path.split('/').slice(1).join('/') : files[i]!.path,
          cid: r.cid,
          dagSize: r.dagSize,
          size: r.size,
        })
      } catch (e) {
        const cancelled = t.controller.signal.aborted
        update(t.id, { state: cancelled ? 'cancelled' : 'failed', error: cancelled ? undefined : e })
      }
      list.reload()
    }
    if (folder && done.length > 0) {
      try {
        await commitFolder(wallet, folder, done)
      } catch (e) {
        setTasks((ts) => [
          {
            id: nextTaskId++,
            name: `${folder}/`,
            size: 0,
            progress: { sent: 0, total: 0, phase: 'done' },
            startedAt: 0,
            speed: 0,
            state: 'failed',
            error: e,
            controller: new AbortController(),
          },
          ...ts,
        ])
      }
      list.reload()
    }
  }

  const fromFileList = (fl: FileList | null) => {
    const files = Array.from(fl ?? [])
    if (files.length === 0) return
    const rel = files[0]!.webkitRelativePath
    if (rel)
      void enqueue(
        files.map((f) => ({ file: f, path: f.webkitRelativePath })),
        rel.split('/')[0],
      )
    else void enqueue(files.map((f) => ({ file: f, path: f.name })))
  }

  const onDrop = async (e: DragEvent) => {
    e.preventDefault()
    setDrag(false)
    const items = Array.from(e.dataTransfer?.items ?? [])
    const entries = items.map((i) => i.webkitGetAsEntry?.()).filter((x): x is FileSystemEntry => !!x)
    if (entries.length === 1 && entries[0]!.isDirectory) {
      const files = await readTree(entries[0] as FileSystemDirectoryEntry, entries[0]!.name)
      void enqueue(files, entries[0]!.name)
      return
    }
    fromFileList(e.dataTransfer?.files ?? null)
  }

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase()
    return (list.data?.files ?? []).filter(
      (f) => q === '' || (f.name ?? '').toLowerCase().includes(q) || f.cid.toLowerCase().includes(q),
    )
  }, [list.data, query])

  return (
    <section aria-labelledby="files-h">
      <h1 id="files-h">Files</h1>
      <section
        class={`dropzone${drag ? ' drag' : ''}`}
        data-testid="dropzone"
        aria-label="Upload area: drop files or a folder here"
        onDragEnter={(e) => {
          e.preventDefault()
          setDrag(true)
        }}
        onDragOver={(e) => {
          e.preventDefault()
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'
        }}
        onDragLeave={() => setDrag(false)}
        onDrop={onDrop}
      >
        <p>Drop files or a folder here, or</p>
        <div class="row">
          <button type="button" class="primary" onClick={() => fileInput.current?.click()}>
            Choose files
          </button>
          <button type="button" onClick={() => folderInput.current?.click()}>
            Choose a folder
          </button>
        </div>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            fromFileList(e.currentTarget.files)
            e.currentTarget.value = ''
          }}
        />
        <input
          ref={folderInput}
          type="file"
          hidden
          // @ts-expect-error: non-standard attribute every current browser supports. A boolean: Preact sets the
          // DOM property, and "" would turn it off (the picker then chose files, not a folder).
          webkitdirectory={true}
          onChange={(e) => {
            fromFileList(e.currentTarget.files)
            e.currentTarget.value = ''
          }}
        />
        <p class="muted">
          Private by default: only you (and links you share) can read them. Traffic is paid from your ozone.
        </p>
      </section>
      {tasks.length > 0 && (
        <ul class="tasks" aria-label="Uploads">
          {tasks.map((t) => (
            <li key={t.id} data-testid="upload-task" data-state={t.state}>
              <div class="task-head">
                <strong>{t.name}</strong> <span class="muted">{formatBytes(t.size)}</span>
                {(t.state === 'running' || t.state === 'queued') && (
                  <button
                    type="button"
                    class="small"
                    aria-label={`Cancel upload of ${t.name}`}
                    onClick={() => {
                      t.controller.abort()
                      update(t.id, { state: 'cancelled' })
                    }}
                  >
                    Cancel
                  </button>
                )}
              </div>
              <progress max={Math.max(1, t.size)} value={t.progress.sent} aria-label={`Upload progress of ${t.name}`} />
              <span class="muted" aria-live="polite">
                {t.state === 'running' &&
                  `${phaseText(t.progress.phase)} · ${Math.floor((100 * t.progress.sent) / Math.max(1, t.size))}% · ${formatBytes(Math.round(t.speed))}/s`}
                {t.state === 'queued' && 'Waiting'}
                {t.state === 'done' && `Stored as ${t.cid}`}
                {t.state === 'cancelled' && 'Cancelled'}
              </span>
              {t.state === 'failed' && (
                <ErrorBox
                  error={t.error}
                  action={
                    friendly(t.error).code === 'INSUFFICIENT_OZONE' ? <a href="#/ozone">Prepay ozone</a> : undefined
                  }
                />
              )}
            </li>
          ))}
        </ul>
      )}
      <div class="row">
        <label class="grow">
          Search
          <input
            type="search"
            placeholder="name or CID"
            value={query}
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
        </label>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={list.error} />
      {list.data === undefined && !list.error ? (
        <Spinner />
      ) : shown.length === 0 ? (
        <p class="muted">{query ? 'No file matches.' : 'No files yet.'}</p>
      ) : (
        <div class="table-wrap">
          <table class="files cards-narrow">
            <thead>
              <tr>
                <th>Name</th>
                <th>Size</th>
                <th>CID</th>
                <th>Added</th>
                <th>Traffic</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((f) => (
                <FileRow
                  key={f.cid}
                  wallet={wallet}
                  f={f}
                  onPlay={() => setPlaying(f)}
                  onShare={() => setSharing(f)}
                  onDelete={() => setDeleting(f)}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Shares wallet={wallet} shares={shares.data} error={shares.error} reload={shares.reload} />
      {playing && <Player f={playing} onClose={() => setPlaying(null)} />}
      {sharing && (
        <ShareDialog
          wallet={wallet}
          f={sharing}
          onClose={() => {
            setSharing(null)
            shares.reload()
          }}
        />
      )}
      {deleting && (
        <DeleteDialog
          wallet={wallet}
          f={deleting}
          onClose={() => setDeleting(null)}
          onDone={() => {
            setDeleting(null)
            list.reload()
          }}
        />
      )}
    </section>
  )
}

function phaseText(p: UploadProgress['phase']): string {
  return { hashing: 'Hashing', sending: 'Sending', placing: 'Placing shards', committing: 'Committing', done: 'Done' }[
    p
  ]
}

async function readTree(dir: FileSystemDirectoryEntry, prefix: string): Promise<Array<{ file: File; path: string }>> {
  const out: Array<{ file: File; path: string }> = []
  const reader = dir.createReader()
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej))
    if (batch.length === 0) break
    for (const e of batch) {
      if (e.isFile) {
        const file = await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej))
        out.push({ file, path: `${prefix}/${e.name}` })
      } else if (e.isDirectory) out.push(...(await readTree(e as FileSystemDirectoryEntry, `${prefix}/${e.name}`)))
    }
  }
  return out
}

function FileRow({
  wallet,
  f,
  onPlay,
  onShare,
  onDelete,
}: {
  wallet: WalletKey
  f: FileSummary
  onPlay: () => void
  onShare: () => void
  onDelete: () => void
}) {
  const traffic = useLoad(() => meta.traffic(wallet, f.cid), [f.cid])
  const kind = mediaKind(f.name)
  const label = f.name ?? f.cid
  return (
    <tr data-testid="file-row" data-cid={f.cid} data-name={f.name ?? ''} data-kind={f.kind}>
      <td data-label="Name">
        {f.kind === 'directory' ? '📁 ' : ''}
        {f.name ?? <span class="muted">(no name)</span>}
      </td>
      <td data-label="Size">{formatBytes(f.size)}</td>
      <td data-label="CID">
        <code class="cid" data-testid="file-cid" title={f.cid}>
          {f.cid}
        </code>
        <CopyButton text={f.cid} label={`Copy the CID of ${label}`} caption="Copy CID" />
        <CopyButton text={gatewayUrl(f.cid)} label={`Copy the gateway URL of ${label}`} caption="Copy URL" />
      </td>
      <td data-label="Added">{formatDate(f.createdAt)}</td>
      <td data-label="Traffic">
        {traffic.data
          ? `↑ ${formatBytes(traffic.data.totals.put)} ↓ ${formatBytes(traffic.data.totals.get)}`
          : traffic.error
            ? '—'
            : '…'}
      </td>
      <td data-label="Actions" class="actions">
        {kind && (
          <button type="button" class="small" aria-label={`Play or view ${label}`} onClick={onPlay}>
            {kind === 'image' ? 'View' : 'Play'}
          </button>
        )}
        {f.kind === 'file' && (
          <a
            class="button small"
            href={contentUrl(f.cid, f.name, true)}
            download={f.name ?? f.cid}
            aria-label={`Download ${label}`}
          >
            Download
          </a>
        )}
        <button type="button" class="small" aria-label={`Share ${label}`} onClick={onShare}>
          Share
        </button>
        <button type="button" class="small danger" aria-label={`Delete ${label}`} onClick={onDelete}>
          Delete
        </button>
      </td>
    </tr>
  )
}

function Player({ f, onClose }: { f: FileSummary; onClose: () => void }) {
  const kind = mediaKind(f.name)
  const src = contentUrl(f.cid, f.name)
  return (
    <Modal title={f.name ?? f.cid} onClose={onClose}>
      {kind === 'video' && (
        // biome-ignore lint/a11y/useMediaCaption: user files come without caption tracks
        <video
          data-testid="player"
          controls
          preload="metadata"
          src={src}
          class="media"
          aria-label={`Video ${f.name}`}
        />
      )}
      {kind === 'audio' && (
        // biome-ignore lint/a11y/useMediaCaption: user files come without caption tracks
        <audio data-testid="player" controls preload="metadata" src={src} aria-label={`Audio ${f.name}`} />
      )}
      {kind === 'image' && <img data-testid="player" src={src} alt={f.name ?? f.cid} class="media" />}
      <p>
        <a href={contentUrl(f.cid, f.name, true)} download={f.name ?? f.cid}>
          Download
        </a>
      </p>
    </Modal>
  )
}

const EXPIRY: Array<[string, number | null]> = [
  ['1 hour', 3600_000],
  ['1 day', 86_400_000],
  ['7 days', 7 * 86_400_000],
  ['30 days', 30 * 86_400_000],
  ['Never', null],
]

export function shareLink(id: string): string {
  return `${location.origin}/wallet/share/${id}`
}

function ShareDialog({ wallet, f, onClose }: { wallet: WalletKey; f: FileSummary; onClose: () => void }) {
  const [expiry, setExpiry] = useState(1)
  const [password, setPassword] = useState('')
  const create = useAction(() =>
    meta.createShare(wallet, f.cid, {
      linkExpiresAt: EXPIRY[expiry]![1] === null ? null : Date.now() + EXPIRY[expiry]![1]!,
      password: password === '' ? null : password,
    }),
  )
  const [made, setMade] = useState<ShareView | null>(null)
  return (
    <Modal title={`Share ${f.name ?? f.cid}`} onClose={onClose}>
      {made ? (
        <div role="status">
          <p>Anyone with this link{made.hasPassword ? ' and the password' : ''} can open the file:</p>
          <p>
            <code data-testid="share-link">{shareLink(made.id)}</code>{' '}
            <CopyButton text={shareLink(made.id)} label="Copy the share link" />
          </p>
          <button type="button" class="primary" onClick={onClose}>
            Done
          </button>
        </div>
      ) : (
        <form
          onSubmit={async (e) => {
            e.preventDefault()
            const s = await create.run()
            if (s) setMade(s)
          }}
        >
          <label>
            Link expires after
            <select value={expiry} onChange={(e) => setExpiry(Number(e.currentTarget.value))}>
              {EXPIRY.map(([label], i) => (
                <option key={label} value={i}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Password (optional)
            <input
              type="password"
              autocomplete="new-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </label>
          <p class="muted">Reads through the link are paid from your ozone. Revoke it any time.</p>
          <ErrorBox error={create.error} />
          <button type="submit" class="primary" disabled={create.busy}>
            {create.busy ? 'Creating…' : 'Create link'}
          </button>
        </form>
      )}
    </Modal>
  )
}

function DeleteDialog({
  wallet,
  f,
  onClose,
  onDone,
}: {
  wallet: WalletKey
  f: FileSummary
  onClose: () => void
  onDone: () => void
}) {
  const del = useAction(() => meta.deleteFile(wallet, f.cid))
  return (
    <Modal title="Delete file" onClose={onClose}>
      <p>
        Delete <strong>{f.name ?? f.cid}</strong> ({formatBytes(f.size)})? Its share links stop working. This cannot be
        undone.
      </p>
      <ErrorBox error={del.error} />
      <div class="row">
        <button type="button" onClick={onClose}>
          Keep it
        </button>
        <button
          type="button"
          class="danger"
          disabled={del.busy}
          onClick={async () => {
            await del.run()
            if (!del.error) onDone()
          }}
        >
          {del.busy ? 'Deleting…' : 'Delete'}
        </button>
      </div>
    </Modal>
  )
}

function Shares({
  wallet,
  shares,
  error,
  reload,
}: {
  wallet: WalletKey
  shares: ShareView[] | undefined
  error: unknown
  reload: () => void
}) {
  const revoke = useAction((id: string) => meta.revokeShare(wallet, id))
  const live = (shares ?? []).filter((s) => s.state === 'active')
  return (
    <>
      <h2>Share links</h2>
      <ErrorBox error={error ?? revoke.error} />
      {shares === undefined && !error ? (
        <Spinner />
      ) : live.length === 0 ? (
        <p class="muted">No active links.</p>
      ) : (
        <ul class="shares">
          {live.map((s) => (
            <li key={s.id} data-testid="share-row">
              <span>
                {s.name ?? s.cid} · {s.hasPassword ? 'password' : 'no password'} ·{' '}
                {s.expiresAt === null ? 'never expires' : `expires ${formatDate(s.expiresAt)}`}
              </span>
              <CopyButton text={shareLink(s.id)} label={`Copy the link to ${s.name ?? s.cid}`} />
              <button
                type="button"
                class="small danger"
                onClick={async () => {
                  await revoke.run(s.id)
                  reload()
                }}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  )
}

export { AppError }
