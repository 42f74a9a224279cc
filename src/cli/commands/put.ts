/** `stratos put FILE|DIR|-…`: upload files (DIR → a UnixFS directory, `-` → stdin). */
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { StratosError } from '../../errors.ts'
import type { PutOptions, PutResult } from '../../sds/client/index.ts'
import { localFileError } from '../../sds/client/source.ts'
import { contextOf } from '../context.ts'
import { parsePositiveInt, parseNonNegativeInt, parseBytes } from '../options.ts'
import { formatBytes, printJson } from '../output.ts'
import { transferProgress } from '../progress.ts'
import { interruptOnSignals } from '../signals.ts'

interface PutFlags {
  json?: boolean
  cidVersion?: '0' | '1'
  rawLeaves?: boolean
  name?: string
  k?: number
  m?: number
  segmentSize?: number
  public?: boolean
}

export function registerPut(program: Command): void {
  program
    .command('put')
    .description('upload files or directories (a directory becomes a UnixFS directory; "-" reads stdin)')
    .argument('<paths...>', 'files, directories, or - for stdin')
    .option('--json', 'print one JSON document (the result, or an array of results for several paths)')
    .option(
      '--public',
      'publish: anyone may read it (gateways too), paid by your ozone (default: private to you, your share links and grants)',
    )
    .addOption(new Option('--cid-version <v>', 'CID version').choices(['0', '1']).default('0'))
    .option('--raw-leaves', 'use raw leaves (default: dag-pb leaves with CIDv0, raw leaves with CIDv1, as Kubo)')
    .option('--no-raw-leaves', 'use dag-pb leaves even with CIDv1')
    .option('--name <name>', "file name to record (default: the path's base name; single path only)")
    .option('--k <n>', "data shards per segment (default: the meta node's)", parsePositiveInt)
    .option('--m <n>', "parity shards per segment (default: the meta node's)", parseNonNegativeInt)
    .option('--segment-size <bytes>', "segment size, e.g. 32MiB (default: the meta node's)", parseBytes)
    .action(async (paths: string[], flags: PutFlags, cmd: Command) => {
      if (flags.name !== undefined && paths.length > 1)
        throw new StratosError('BAD_REQUEST', '--name needs exactly one path')
      if (paths.filter((p) => p === '-').length > 1)
        throw new StratosError('BAD_REQUEST', 'stdin ("-") can be read only once')
      const kinds = await Promise.all(paths.map(localKind))
      const client = await contextOf(cmd).client('required', { k: flags.k, m: flags.m, segmentSize: flags.segmentSize })
      const interrupt = interruptOnSignals()
      const results: PutResult[] = []
      try {
        for (const [i, path] of paths.entries()) {
          const progress = transferProgress(path === '-' ? 'stdin' : basename(path))
          const options: PutOptions = {
            name: flags.name ?? (path === '-' ? undefined : basename(resolve(path))),
            cidVersion: flags.cidVersion === '1' ? 1 : 0,
            public: flags.public === true,
            rawLeaves: flags.rawLeaves, // undefined: the CID version's default (CIDv1 → raw leaves, as Kubo)
            signal: interrupt.signal,
            onProgress: progress.onProgress,
          }
          try {
            const r =
              kinds[i] === 'directory'
                ? await client.putDirectory(path, options)
                : await client.put(path === '-' ? (process.stdin as AsyncIterable<Uint8Array>) : path, options)
            results.push(r)
          } finally {
            progress.stop()
          }
          if (!flags.json) printAdded(path, results[results.length - 1])
        }
      } finally {
        interrupt.dispose()
        await client.close()
      }
      if (flags.json) printJson(results.length === 1 ? results[0] : results)
    })
}

function printAdded(path: string, r: PutResult): void {
  const label = path === '-' ? '-' : path
  for (const e of r.entries ?? []) process.stdout.write(`added ${e.cid} ${e.path} (${formatBytes(e.size)})\n`)
  process.stdout.write(
    `added ${r.cid} ${label} (${formatBytes(r.size)}${r.kind === 'directory' ? ', directory' : ''})\n`,
  )
}

async function localKind(path: string): Promise<'file' | 'directory' | 'stdin'> {
  if (path === '-') return 'stdin'
  try {
    const s = await stat(path)
    if (s.isDirectory()) return 'directory'
    if (s.isFile()) return 'file'
    throw new StratosError('BAD_REQUEST', `${path} is neither a file nor a directory`)
  } catch (e) {
    if (e instanceof StratosError) throw e
    // The SDK's own mapping, so `put ./missing` is NOT_FOUND here as it is from StratosClient.put.
    throw localFileError(e, path)
  }
}
