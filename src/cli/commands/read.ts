/** `stratos get CID [-o PATH]` and `stratos cat CID [--offset N --length N]`. */
import { once } from 'node:events'
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { dirname, resolve, sep } from 'node:path'
import type { Command } from 'commander'
import { StratosError, isStratosError } from '../../errors.ts'
import { localFileError } from '../../sds/client/source.ts'
import { checkCid } from '../cid.ts'
import { contextOf } from '../context.ts'
import { parseNonNegativeInt } from '../options.ts'
import { formatBytes, printJson } from '../output.ts'
import { transferProgress } from '../progress.ts'
import { interruptOnSignals } from '../signals.ts'

export function registerRead(program: Command): void {
  program
    .command('get')
    .description('download a file or directory to a path (written atomically)')
    .argument('<cid>', 'content id')
    .option('-o, --output <path>', 'where to write it (default: ./<cid>)')
    .option('--json', 'print { cid, path, kind, bytes }')
    .action(async (cidArg: string, flags: { output?: string; json?: boolean }, cmd: Command) => {
      const cid = checkCid(cidArg)
      const out = resolve(flags.output ?? cid)
      await checkOutputDir(out)
      const client = await contextOf(cmd).client('optional')
      const interrupt = interruptOnSignals()
      const progress = transferProgress(cid.slice(0, 12) + '…')
      try {
        // One segment in flight: this fresh process faults in every shard buffer it fetches into (ReadOptions).
        const r = await client
          .get(cid, out, { signal: interrupt.signal, onProgress: progress.onProgress, segmentsInFlight: 1 })
          .catch((e: unknown) => {
            throw withUserPath(e, out)
          })
        progress.stop()
        if (flags.json) printJson({ cid, path: out, kind: r.kind, bytes: r.bytes })
        else process.stdout.write(`saved ${cid} to ${out} (${r.kind}, ${formatBytes(r.bytes)})\n`)
      } finally {
        progress.stop()
        interrupt.dispose()
        await client.close()
      }
    })

  program
    .command('cat')
    .description("write a file's bytes (or a byte range of them) to stdout")
    .argument('<cid>', 'content id')
    .option('--offset <n>', 'first byte to write', parseNonNegativeInt)
    .option('--length <n>', 'number of bytes to write', parseNonNegativeInt)
    .action(async (cidArg: string, flags: { offset?: number; length?: number }, cmd: Command) => {
      const cid = checkCid(cidArg)
      const client = await contextOf(cmd).client('optional')
      const interrupt = interruptOnSignals()
      const reader = new AbortController()
      const signal = AbortSignal.any([interrupt.signal, reader.signal])
      // A closed stdout (e.g. `stratos cat … | head -c 10`) ends the read quietly, like any Unix tool.
      let stdoutClosed = false
      const onStdoutError = (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
          stdoutClosed = true
          reader.abort()
        }
      }
      process.stdout.on('error', onStdoutError)
      try {
        await writeAll(client.cat(cid, { offset: flags.offset, length: flags.length, signal }), process.stdout, signal)
      } catch (e) {
        if (!stdoutClosed) throw e
      } finally {
        process.stdout.off('error', onStdoutError)
        interrupt.dispose()
        await client.close()
      }
    })
}

/**
 * The folder `get` writes into must exist and be writable. Checked before anything is downloaded,
 * so the error names the user's path (the SDK writes to a temp file beside it first) and no
 * traffic is paid for bytes that cannot be saved.
 */
export async function checkOutputDir(out: string): Promise<void> {
  const dir = dirname(out)
  const cannot = (e: StratosError) =>
    new StratosError(e.code, `cannot save to ${out}: ${e.message}`, { ...e.details, output: out }, { cause: e })
  const st = await stat(dir).catch((e: unknown) => {
    throw cannot(localFileError(e, dir))
  })
  if (!st.isDirectory()) throw cannot(new StratosError('NOT_FOUND', `${dir} is not a directory`, { path: dir }))
  await access(dir, constants.W_OK).catch((e: unknown) => {
    throw cannot(localFileError(e, dir))
  })
}

/**
 * The SDK writes `DIR/.NAME.<12 hex>.tmp` and renames it to DIR/NAME (a directory download keeps
 * inner temp files inside that temp folder). A failure it reports on such a path — a disk that
 * filled up, a folder removed mid-download — is restated with the path the user asked for.
 */
export function withUserPath(e: unknown, out: string): unknown {
  if (!isStratosError(e)) return e
  const path = e.details?.path
  const under = dirname(out) === sep ? sep : dirname(out) + sep
  if (typeof path !== 'string' || !path.startsWith(under)) return e
  const userPath = (p: string) => p.replace(/(^|\/)\.([^/]+)\.[0-9a-f]{12}\.tmp(?=\/|$)/g, '$1$2')
  const mapped = userPath(path)
  if (mapped === path) return e
  return new StratosError(e.code, e.message.split(path).join(mapped), { ...e.details, path: mapped }, { cause: e })
}

/** Copies chunks to a writable, waiting for 'drain' whenever its buffer is full (backpressure). */
export async function writeAll(
  source: AsyncIterable<Uint8Array>,
  out: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  for await (const chunk of source) {
    if (!out.write(chunk)) {
      await once(out, 'drain', { signal }).catch((e: unknown) => {
        throw signal.aborted ? new StratosError('ABORTED', 'operation aborted', undefined, { cause: e }) : e
      })
    }
  }
}
