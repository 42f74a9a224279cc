/**
 * `stratos share create CID`, `stratos share ls`, `stratos share rm ID`: share links to files and directories you own,
 * served by the gateway at {gatewayUrl}/share/{id}. A link may expire (`--expires 1h` or an ISO time) and may need a
 * password, which never goes on the command line: `--password` asks for it without echo (twice), `--password-stdin`
 * reads it from stdin. Only its scrypt hash leaves this process.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { StratosError } from '../../errors.ts'
import { shareUrl, type ShareView } from '../../sds/protocol/api.ts'
import { checkCid } from '../cid.ts'
import { contextOf, type CliContext } from '../context.ts'
import { formatTime, printJson, table } from '../output.ts'
import { promptHidden, readSecretFromStdin } from '../password.ts'

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** `90s`, `15m`, `1h`, `7d`, `2w` (from now) or an ISO 8601 time → unix ms. */
export function parseExpiry(text: string, now = Date.now()): number {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/i.exec(text)
  if (m) {
    const ms = Number(m[1]) * UNIT_MS[m[2].toLowerCase()]
    if (!Number.isSafeInteger(ms) || ms === 0) throw new InvalidArgumentError(`"${text}" is not a positive duration`)
    return now + ms
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? Date.parse(text.trim()) : NaN
  if (!Number.isFinite(t))
    throw new InvalidArgumentError(
      `"${text}" is neither a duration (30m, 1h, 7d, 2w) nor an ISO time (2030-01-31T12:00:00Z)`,
    )
  if (t <= now) throw new InvalidArgumentError(`"${text}" is in the past`)
  return t
}

interface CreateFlags {
  expires?: number
  password?: boolean
  passwordStdin?: boolean
  gateway?: string
  json?: boolean
}

function gatewayUrlOf(ctx: CliContext, flag: string | undefined): string | undefined {
  if (flag !== undefined) return flag
  try {
    return ctx.network()?.gatewayUrl
  } catch {
    return undefined // --meta-url without a network file: links are printed without a URL
  }
}

async function readPassword(flags: CreateFlags): Promise<string | undefined> {
  if (flags.password && flags.passwordStdin)
    throw new StratosError('BAD_REQUEST', 'give either --password or --password-stdin')
  if (flags.passwordStdin) return readSecretFromStdin('share password')
  if (!flags.password) return undefined
  const password = await promptHidden('share password: ')
  if (password === '') throw new StratosError('BAD_REQUEST', 'the password must not be empty')
  if ((await promptHidden('repeat the password: ')) !== password)
    throw new StratosError('BAD_REQUEST', 'the passwords do not match')
  return password
}

function describe(s: ShareView): string {
  const bits = [
    s.state,
    s.expiresAt === null ? 'no expiry' : `expires ${formatTime(s.expiresAt)}`,
    s.hasPassword ? 'password' : 'no password',
  ]
  return bits.join(', ')
}

export function registerShare(program: Command): void {
  const share = program
    .command('share')
    .description('share links to your files and directories, served by the gateway at /share/ID')

  share
    .command('create')
    .description('create a link to a file or directory you own; prints its gateway URL')
    .argument('<cid>', 'content id')
    .option(
      '--expires <when>',
      'the link stops working after a duration (30m, 1h, 7d, 2w) or at an ISO time',
      (v: string) => parseExpiry(v),
    )
    .option('--password', 'protect the link with a password, asked without echo')
    .option('--password-stdin', 'protect the link with a password read from stdin')
    .option('--gateway <url>', "gateway base URL for the printed link (default: the network file's gatewayUrl)")
    .option('--json', 'print the link: { id, url?, cid, kind, owner, createdAt, expiresAt, hasPassword, state }')
    .action(async (cidArg: string, flags: CreateFlags, cmd: Command) => {
      const cid = checkCid(cidArg)
      const ctx = contextOf(cmd)
      const password = await readPassword(flags)
      const gatewayUrl = gatewayUrlOf(ctx, flags.gateway)
      const s = await ctx.withClient('required', (client, signal) =>
        client.createShare(cid, { expiresAt: flags.expires, password, gatewayUrl, signal }),
      )
      if (flags.json) {
        printJson(s)
        return
      }
      process.stdout.write(`shared ${s.cid} as ${s.id} (${describe(s)})\n`)
      if (s.url !== undefined) process.stdout.write(`${s.url}\n`)
    })

  share
    .command('ls')
    .description('list your share links (active and expired; revoked ones are gone)')
    .option('--gateway <url>', "gateway base URL for the links (default: the network file's gatewayUrl)")
    .option(
      '--json',
      'print { owner, shares: [{ id, url?, cid, kind, name?, createdAt, expiresAt, hasPassword, state }] }',
    )
    .action(async (flags: { gateway?: string; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const gatewayUrl = gatewayUrlOf(ctx, flags.gateway)
      const { owner, listed } = await ctx.withClient('required', async (client, signal) => ({
        owner: client.wallet?.address ?? null,
        listed: await client.listShares({ signal }),
      }))
      const shares = listed.map((s) => (gatewayUrl === undefined ? s : { ...s, url: shareUrl(gatewayUrl, s.id) }))
      if (flags.json) {
        printJson({ owner, shares })
        return
      }
      if (shares.length === 0) {
        process.stdout.write('no share links\n')
        return
      }
      const rows = shares.map((s) => [
        s.id,
        s.cid,
        s.state,
        s.expiresAt === null ? '-' : formatTime(s.expiresAt),
        s.hasPassword ? 'yes' : 'no',
        formatTime(s.createdAt),
        s.name ?? '',
      ])
      process.stdout.write(table(['ID', 'CID', 'STATE', 'EXPIRES', 'PASSWORD', 'CREATED', 'NAME'], rows) + '\n')
    })

  share
    .command('rm')
    .description('revoke a share link (the gateway answers 410 SHARE_REVOKED for it from then on)')
    .argument('<id>', 'share link id (from `stratos share create` or `stratos share ls`)')
    .option('--json', 'print the revoked link')
    .action(async (idArg: string, flags: { json?: boolean }, cmd: Command) => {
      const id = idArg
        .trim()
        .replace(/^.*\/share\//, '')
        .replace(/[/?#].*$/, '') // an id or a whole link URL
      if (!/^[A-Za-z0-9_-]{22}$/.test(id))
        throw new StratosError('BAD_REQUEST', `"${idArg}" is not a share link id (22 base64url characters)`)
      const s = await contextOf(cmd).withClient('required', (client, signal) => client.revokeShare(id, { signal }))
      if (flags.json) printJson(s)
      else process.stdout.write(`revoked ${s.id}\n`)
    })
}
