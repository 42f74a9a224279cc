/** `stratos ls`, `stratos stat CID`, `stratos rm CID`: the file index at the meta node. */
import type { Command } from 'commander'
import type { FileRecordView } from '../../sds/protocol/api.ts'
import { checkCid } from '../cid.ts'
import { contextOf } from '../context.ts'
import { formatBytes, formatBytesExact, formatTime, printJson, table } from '../output.ts'
import { interruptOnSignals } from '../signals.ts'

export function registerFiles(program: Command): void {
  program
    .command('ls')
    .description('list files owned by a wallet (default: your own)')
    .option('--owner <address>', 'wallet (st1… address, or a keystore or dev wallet name) whose files to list')
    .option('--json', 'print { owner, files: [...] }')
    .action(async (flags: { owner?: string; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const client = await ctx.client('optional')
      const interrupt = interruptOnSignals()
      try {
        const owner =
          flags.owner !== undefined ? ctx.resolveAddress(flags.owner, 'owner') : ctx.wallet('optional')?.address
        const files = await client.ls({ owner, signal: interrupt.signal })
        if (flags.json) {
          printJson({ owner: owner ?? null, files })
          return
        }
        if (files.length === 0) {
          process.stdout.write(`no files${owner ? ` owned by ${owner}` : ''}\n`)
          return
        }
        const rows = files.map((f) => [f.cid, formatBytes(f.size), f.kind, formatTime(f.createdAt), f.name ?? ''])
        process.stdout.write(table(['CID', 'SIZE', 'KIND', 'CREATED', 'NAME'], rows, new Set([1])) + '\n')
      } finally {
        interrupt.dispose()
        await client.close()
      }
    })

  program
    .command('stat')
    .description("show a file's record: size, owners, erasure coding, where its shards are")
    .argument('<cid>', 'content id')
    .option('--json', 'print the full file record')
    .action(async (cidArg: string, flags: { json?: boolean }, cmd: Command) => {
      const cid = checkCid(cidArg)
      const client = await contextOf(cmd).client('optional')
      const interrupt = interruptOnSignals()
      try {
        const rec = await client.stat(cid, { signal: interrupt.signal })
        if (flags.json) printJson(rec)
        else process.stdout.write(describeRecord(rec) + '\n')
      } finally {
        interrupt.dispose()
        await client.close()
      }
    })

  program
    .command('rm')
    .description('delete a file you own (its shards are removed from the nodes shortly after)')
    .argument('<cid>', 'content id')
    .option('--json', 'print { cid, removed: true }')
    .action(async (cidArg: string, flags: { json?: boolean }, cmd: Command) => {
      const cid = checkCid(cidArg)
      const client = await contextOf(cmd).client('required')
      const interrupt = interruptOnSignals()
      try {
        await client.rm(cid, { signal: interrupt.signal })
        if (flags.json) printJson({ cid, removed: true })
        else process.stdout.write(`removed ${cid}\n`)
      } finally {
        interrupt.dispose()
        await client.close()
      }
    })
}

export function describeRecord(rec: FileRecordView): string {
  const nodes = Object.entries(rec.nodes)
  const online = nodes.filter(([, n]) => n.state === 'online').length
  const shards = rec.segments.reduce((a, s) => a + s.shards.length, 0)
  const lines = [
    `cid:       ${rec.cid}`,
    `kind:      ${rec.kind}`,
    `size:      ${formatBytesExact(rec.size)}`,
    ...(rec.name !== undefined ? [`name:      ${rec.name}`] : []),
    // The meta node shows owners only to an owner (its session access); others get the public facts.
    `owners:    ${rec.owners?.join(', ') ?? '(shown to owners only)'}`,
    `created:   ${formatTime(rec.createdAt)}`,
    `coding:    k=${rec.k} m=${rec.m}, segments of ${formatBytes(rec.segmentSize)}`,
    `segments:  ${rec.segments.length} (${shards} shards)`,
    `nodes:     ${nodes.length} (${online} online)`,
  ]
  if (rec.children?.length) lines.push(`children:  ${rec.children.length}`)
  return lines.join('\n')
}
