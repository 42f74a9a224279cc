/** Small building blocks shared by the pages: buttons, fields, errors, dialogs, copy, charts. */
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { friendly } from '../lib/errors.ts'

export function ErrorBox({ error, action }: { error: unknown; action?: ComponentChildren }) {
  if (error === null || error === undefined) return null
  const f = friendly(error)
  return (
    <div class="error" role="alert" data-code={f.code}>
      <span>{f.message}</span>
      {action}
    </div>
  )
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span class="spinner" role="status" aria-live="polite">
      <span class="spin" aria-hidden="true" />
      {label}
    </span>
  )
}

export function CopyButton({ text, label, caption = 'Copy' }: { text: string; label: string; caption?: string }) {
  const [done, setDone] = useState(false)
  return (
    <button
      type="button"
      class="small"
      aria-label={label}
      onClick={async () => {
        await navigator.clipboard?.writeText(text).catch(() => undefined)
        setDone(true)
        setTimeout(() => setDone(false), 1500)
      }}
    >
      {done ? 'Copied' : caption}
    </button>
  )
}

/** A modal dialog: focus moves into it, Escape closes it, the page behind is inert for screen readers. */
export function Modal({
  title,
  onClose,
  children,
}: {
  title: string
  onClose: () => void
  children: ComponentChildren
}) {
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null
    const first = ref.current?.querySelector<HTMLElement>('input, button, select, textarea, video, audio')
    first?.focus()
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose()
    }
    document.addEventListener('keydown', onKey)
    return () => {
      document.removeEventListener('keydown', onKey)
      previous?.focus()
    }
  }, [onClose])
  return (
    <div class="backdrop">
      <div class="modal" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <header>
          <h2>{title}</h2>
          <button type="button" class="small" aria-label="Close dialog" onClick={onClose}>
            ✕
          </button>
        </header>
        {children}
      </div>
    </div>
  )
}

/** Runs an async action with busy and error state. */
export function useAction<A extends unknown[], R>(fn: (...a: A) => Promise<R>) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const run = async (...a: A): Promise<R | undefined> => {
    setBusy(true)
    setError(null)
    try {
      return await fn(...a)
    } catch (e) {
      setError(e)
      return undefined
    } finally {
      setBusy(false)
    }
  }
  return { run, busy, error, setError }
}

/** Loads data, reloading when `deps` change or `reload()` is called; `every` ms keeps it fresh. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], every?: number) {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<unknown>(null)
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    const load = () =>
      fn().then(
        (d) => {
          if (live) {
            setData(d)
            setError(null)
          }
        },
        (e: unknown) => live && setError(e),
      )
    void load()
    const timer = every ? setInterval(load, every) : undefined
    return () => {
      live = false
      if (timer) clearInterval(timer)
    }
  }, [...deps, tick])
  return { data, error, reload: () => setTick((t) => t + 1) }
}

/** A bar chart (SVG) with a text summary for screen readers. */
export function BarChart({
  title,
  bars,
  format,
}: {
  title: string
  bars: Array<{ label: string; value: number }>
  format: (v: number) => string
}) {
  const max = Math.max(1, ...bars.map((b) => b.value))
  const w = 320
  const h = 120
  const bw = bars.length === 0 ? 0 : w / bars.length
  const summary = bars.map((b) => `${b.label}: ${format(b.value)}`).join(', ')
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h + 16}`} role="img" aria-label={`${title}. ${summary || 'no data yet'}`}>
        <title>{title}</title>
        {bars.map((b, i) => {
          const bh = Math.round((b.value / max) * h)
          return (
            <g key={b.label}>
              <rect x={i * bw + 2} y={h - bh} width={Math.max(1, bw - 4)} height={bh} class="bar">
                <title>{`${b.label}: ${format(b.value)}`}</title>
              </rect>
              {bars.length <= 16 && (
                <text x={i * bw + bw / 2} y={h + 12} text-anchor="middle" class="tick">
                  {b.label}
                </text>
              )}
            </g>
          )
        })}
      </svg>
      {bars.length === 0 && <p class="muted">No data yet.</p>}
    </figure>
  )
}
