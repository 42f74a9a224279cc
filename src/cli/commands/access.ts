/**
 * Who may read your files (docs/security.md):
 *   `stratos publish CID` / `stratos unpublish CID`   make a file public (anyone reads it, you pay) or private again
 *   `stratos grant create [CID…] [--prefix P]…`       a read grant: its id lets the holder read those files (`--grant ID`)
 *   `stratos grant ls` / `stratos grant rm ID`         your grants; revoking stops them at once
 *   `stratos budget set BYTES|none [--cid CID]`        cap what strangers' reads of your public files cost per epoch
 *   `stratos budget ls`
 */
import type { Command } from 'commander'
import { StratosError } from '../../errors.ts'
import type { BudgetView, GrantView } from '../../sds/protocol/api.ts'
import { checkCid } from '../cid.ts'
import { contextOf } from '../context.ts'
import { parseBytes } from '../options.ts'
import { formatBytes, formatTime, printJson, table } from '../output.ts'
import { parseExpiry } from './share.ts'

/** Default life of a read grant without --expires. */
const DEFAULT_GRANT_TTL = '7d'

function grantScopeText(g: GrantView): string {
  return [...(g.scope.cids ?? []), ...(g.scope.prefixes ?? []).map((p) => `${p}*`)].join(' ')
}

function budgetText(b: BudgetView): string {
  const cap = b.bytesPerEpoch === null ? 'no cap' : `${formatBytes(b.bytesPerEpoch)} per epoch`
  return `${b.cid ?? 'all public files'}: ${cap}, ${formatBytes(b.spentBytes)} used in epoch ${b.epoch}`
}

export function registerAccess(program: Command): void {
  for (const [name, isPublic] of [
    ['publish', true],
    ['unpublish', false],
  ] as const) {
    program
      .command(name)
      .description(
        isPublic
          ? 'make a file of yours public: anyone may read it (gateways too), paid by your ozone'
          : 'make a file of yours private again: only you, your share links and grants may read it',
      )
      .argument('<cid>', 'content id')
      .option('--json', 'print the file record')
      .action(async (cidArg: string, flags: { json?: boolean }, cmd: Command) => {
        const cid = checkCid(cidArg)
        const view = await contextOf(cmd).withClient('required', (client, signal) =>
          client.setPublic(cid, isPublic, { signal }),
        )
        if (flags.json) printJson(view)
        else process.stdout.write(`${view.cid} is ${view.public ? 'public' : 'private'}\n`)
      })
  }

  const grant = program
    .command('grant')
    .description('read grants: let someone read some of your files without a share link')
  grant
    .command('create')
    .description(
      'grant read access to files (a directory covers what it holds) and/or name prefixes; prints the grant id',
    )
    .argument('[cids...]', 'files or directories you own')
    .option(
      '--prefix <prefix>',
      'also every file of yours whose name starts with this (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--expires <when>',
      `the grant stops working after a duration (30m, 1h, 7d) or at an ISO time (default ${DEFAULT_GRANT_TTL})`,
      (v: string) => parseExpiry(v),
    )
    .option('--json', 'print the grant')
    .action(async (cidArgs: string[], flags: { prefix?: string[]; expires?: number; json?: boolean }, cmd: Command) => {
      const cids = cidArgs.map(checkCid)
      const prefixes = flags.prefix ?? []
      if (cids.length === 0 && prefixes.length === 0)
        throw new StratosError('BAD_REQUEST', 'name at least one CID or --prefix')
      const expiresAt = flags.expires ?? parseExpiry(DEFAULT_GRANT_TTL)
      const g = await contextOf(cmd).withClient('required', (client, signal) =>
        client.createGrant({ ...(cids.length ? { cids } : {}), ...(prefixes.length ? { prefixes } : {}) }, expiresAt, {
          signal,
        }),
      )
      if (flags.json) {
        printJson(g)
        return
      }
      process.stdout.write(`granted ${g.id} (expires ${formatTime(g.expiresAt)}): ${grantScopeText(g)}\n`)
      process.stdout.write(`the holder reads with: stratos --grant ${g.id} cat CID\n`)
    })
  grant
    .command('ls')
    .description('list your read grants (active and expired; revoked ones are gone)')
    .option('--json', 'print { grants: [...] }')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const grants = await contextOf(cmd).withClient('required', (client, signal) => client.listGrants({ signal }))
      if (flags.json) {
        printJson({ grants })
        return
      }
      if (grants.length === 0) {
        process.stdout.write('no read grants\n')
        return
      }
      process.stdout.write(
        table(
          ['ID', 'STATE', 'EXPIRES', 'SCOPE'],
          grants.map((g) => [g.id, g.state, formatTime(g.expiresAt), grantScopeText(g)]),
        ) + '\n',
      )
    })
  grant
    .command('rm')
    .description('revoke a read grant (reads under it are refused from the next request on)')
    .argument('<id>', 'grant id')
    .option('--json', 'print the revoked grant')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      if (!/^[A-Za-z0-9_-]{22}$/.test(id))
        throw new StratosError('BAD_REQUEST', `"${id}" is not a grant id (22 base64url characters)`)
      const g = await contextOf(cmd).withClient('required', (client, signal) => client.revokeGrant(id, { signal }))
      if (flags.json) printJson(g)
      else process.stdout.write(`revoked ${g.id}\n`)
    })

  const budget = program
    .command('budget')
    .description("cap what strangers' reads of your public files may cost per epoch")
  budget
    .command('set')
    .description(
      'set the cap (bytes of traffic per epoch, e.g. 10GiB) for all your public files or one (--cid); "none" removes it',
    )
    .argument('<bytes>', 'bytes per epoch (e.g. 500MiB) or none')
    .option('--cid <cid>', 'only this file')
    .option('--json', 'print the budget')
    .action(async (bytesArg: string, flags: { cid?: string; json?: boolean }, cmd: Command) => {
      const bytes = bytesArg.trim().toLowerCase() === 'none' ? null : parseBytes(bytesArg)
      const cid = flags.cid === undefined ? undefined : checkCid(flags.cid)
      const b = await contextOf(cmd).withClient('required', (client, signal) =>
        client.setBudget(bytes, { ...(cid !== undefined ? { cid } : {}), signal }),
      )
      if (flags.json) printJson(b)
      else process.stdout.write(`budget ${budgetText(b)}\n`)
    })
  budget
    .command('ls')
    .description('your budgets and what strangers used of them this epoch')
    .option('--json', 'print { budgets: [...] }')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const budgets = await contextOf(cmd).withClient('required', (client, signal) => client.budgets({ signal }))
      if (flags.json) printJson({ budgets })
      else
        process.stdout.write(
          budgets.length === 0
            ? "no budgets: strangers' reads of your public files are not capped\n"
            : budgets.map((b) => `${budgetText(b)}\n`).join(''),
        )
    })
}
