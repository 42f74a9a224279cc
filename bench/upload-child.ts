/**
 * One upload in a process of its own, so the peak resident memory we report is the uploader's
 * alone (VmHWM of this process), not the harness's.
 *
 *   node --import tsx bench/upload-child.ts --impl stratos --file F --meta URL   (mnemonic in STRATOS_BENCH_MNEMONIC)
 *   node --import tsx bench/upload-child.ts --impl helia --file F --blockstore DIR
 *
 * Prints one JSON line: UploadChildResult. Each side's modules are imported dynamically so a
 * Stratos child never loads Helia (and its polyfills) and vice versa.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export interface UploadChildResult {
  impl: 'stratos' | 'helia'
  cid: string
  bytes: number
  ms: number
  /** RSS after modules are loaded and the client/node is ready, before the upload starts. */
  baselineRssBytes: number
  /** Peak RSS of this process over its whole life (VmHWM). */
  peakRssBytes: number
}

export const MNEMONIC_ENV = 'STRATOS_BENCH_MNEMONIC'

/**
 * Peak RSS of this process: VmHWM, the high-water mark of this process's own address space.
 * Not `process.resourceUsage().maxRSS`: Linux carries the parent's peak across fork + exec into the
 * child's maxrss (signal->maxrss), so a child of a 356 MB harness reported 356 MB whatever it did.
 */
export function peakRssBytes(status: string = readFileSync('/proc/self/status', 'utf8')): number {
  const m = /^VmHWM:\s*(\d+)\s*kB$/m.exec(status)
  if (!m) throw new Error('no VmHWM line in /proc/self/status')
  return Number(m[1]) * 1024
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      impl: { type: 'string' },
      file: { type: 'string' },
      meta: { type: 'string' },
      blockstore: { type: 'string' },
    },
  })
  const file = values.file
  if (!file) throw new Error('--file is required')
  const bytes = (await stat(file)).size
  let result: UploadChildResult
  if (values.impl === 'stratos') {
    const mnemonic = process.env[MNEMONIC_ENV]
    if (!values.meta || !mnemonic) throw new Error(`--meta and ${MNEMONIC_ENV} are required for --impl stratos`)
    const { connectStratos, timedStratosPut } = await import('./stratos.ts')
    const client = await connectStratos({ metaUrl: values.meta, mnemonic })
    const baselineRssBytes = process.memoryUsage().rss
    try {
      const r = await timedStratosPut(client, file)
      result = { impl: 'stratos', cid: r.cid, bytes, ms: r.ms, baselineRssBytes, peakRssBytes: peakRssBytes() }
    } finally {
      await client.close()
    }
  } else if (values.impl === 'helia') {
    if (!values.blockstore) throw new Error('--blockstore is required for --impl helia')
    const { HeliaPeer } = await import('./helia.ts')
    const peer = await HeliaPeer.open(values.blockstore)
    const baselineRssBytes = process.memoryUsage().rss
    try {
      const t0 = performance.now()
      const cid = await peer.addPath(file)
      result = {
        impl: 'helia',
        cid: cid.toString(),
        bytes,
        ms: performance.now() - t0,
        baselineRssBytes,
        peakRssBytes: peakRssBytes(),
      }
    } finally {
      await peer.stop()
    }
  } else {
    throw new Error('--impl must be stratos or helia')
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

/** Harness side: runs one upload in a child process and returns what it printed. */
export async function runUploadChild(
  args:
    | { impl: 'stratos'; file: string; metaUrl: string; mnemonic: string }
    | { impl: 'helia'; file: string; blockstore: string },
): Promise<UploadChildResult> {
  const argv = ['--impl', args.impl, '--file', args.file]
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (args.impl === 'stratos') {
    argv.push('--meta', args.metaUrl)
    env[MNEMONIC_ENV] = args.mnemonic
  } else argv.push('--blockstore', args.blockstore)
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${args.impl} upload child failed (exit ${code}): ${err.trim().slice(-2000)}`)
  return JSON.parse(out.trim().split('\n').pop() ?? '') as UploadChildResult
}

// Run main() only when executed as a script, not when the harness imports runUploadChild.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`upload-child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
      process.exit(1)
    },
  )
}
