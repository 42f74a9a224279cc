/**
 * Transfer progress on stderr (cli-progress), shown only when stderr is a terminal so that
 * scripts, pipes and CI logs stay clean.
 */
import { createRequire } from 'node:module'
import type { ProgressEvent } from '../sds/client/index.ts'
import { formatBytes } from './output.ts'

export interface Progress {
  onProgress: ((e: ProgressEvent) => void) | undefined
  stop(): void
}

const NO_PROGRESS: Progress = { onProgress: undefined, stop: () => {} }

export function transferProgress(label: string, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return NO_PROGRESS
  // Loaded only for a terminal: scripts and pipes do not pay for it at start-up.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress')
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} [{bar}] {percentage}% | {done} / {size}',
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  let total = 0
  const update = (bytes: number, size: number | null) => {
    total = size ?? Math.max(total, bytes)
    const payload = { label, done: formatBytes(bytes), size: size === null ? '?' : formatBytes(size) }
    if (!started) {
      bar.start(Math.max(1, total), bytes, payload)
      started = true
    } else {
      bar.setTotal(Math.max(1, total))
      bar.update(bytes, payload)
    }
  }
  return {
    onProgress: (e) => {
      switch (e.type) {
        case 'upload:start':
          update(0, e.total)
          break
        case 'upload:progress':
          update(e.bytes, e.total)
          break
        case 'download:progress':
          update(e.bytes, e.total)
          break
        default:
          break
      }
    },
    stop: () => {
      if (started) bar.stop()
    },
  }
}
