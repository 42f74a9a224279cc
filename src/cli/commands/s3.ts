/**
 * `stratos s3 credentials create|ls|revoke`: S3 credentials of your wallet at an S3 gateway (docs/s3.md). The wallet
 * signs each request; the gateway relays the delegation (or its revocation) to the meta node. The secret is printed
 * once, at create. The gateway is `--s3-url URL`, else the network file's `s3`.
 */
import type { Command } from 'commander'
import { StratosError } from '../../errors.ts'
import { contextOf, type CliContext } from '../context.ts'
import { formatTime, printJson, table } from '../output.ts'
import { parseExpiry } from './share.ts'

/** Default life of a credential without --expires. */
const DEFAULT_CREDENTIAL_TTL = '365d'

function s3Url(ctx: CliContext, flag: string | undefined): string {
  if (flag !== undefined) return flag
  const url = ctx.network()?.s3
  if (!url) throw new StratosError('NETWORK_CONFIG', `no S3 gateway in ${ctx.networkPath}: pass --s3-url URL`)
  return url
}

async function admin(ctx: CliContext, flag: string | undefined) {
  const { S3AdminClient } = await import('../../s3/admin-client.ts')
  return new S3AdminClient(s3Url(ctx, flag))
}

export function registerS3(program: Command): void {
  const s3 = program.command('s3').description('the S3-compatible gateway: credentials for S3 tools (docs/s3.md)')
  const creds = s3
    .command('credentials')
    .description('S3 credentials of your wallet: what it stores through them it owns and pays for')
  creds
    .command('create')
    .description('make an S3 credential for your wallet (the wallet signs a delegation); prints the secret once')
    .option('--s3-url <url>', "the S3 gateway (default: the network file's s3)")
    .option(
      '--expires <when>',
      `the credential stops working after a duration (30d, 52w) or at an ISO time (default ${DEFAULT_CREDENTIAL_TTL})`,
      (v: string) => parseExpiry(v),
    )
    .option('--label <text>', 'a name for your own listing')
    .option('--json', 'print the credential as JSON')
    .action(async (flags: { s3Url?: string; expires?: number; label?: string; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const wallet = await ctx.resolveWallet('required')
      if (!wallet) throw new StratosError('NETWORK_CONFIG', 'this command needs a wallet')
      const c = await (await admin(ctx, flags.s3Url)).create(wallet, {
        expiresAt: flags.expires ?? parseExpiry(DEFAULT_CREDENTIAL_TTL),
        ...(flags.label !== undefined ? { label: flags.label } : {}),
      })
      if (flags.json) printJson(c)
      else
        process.stdout.write(
          `access key id:     ${c.accessKeyId}\nsecret access key: ${c.secretAccessKey}\n` +
            `(shown once; wallet ${c.owner}, expires ${formatTime(c.expiresAt)})\n`,
        )
    })
  creds
    .command('ls')
    .description('your S3 credentials (never their secrets)')
    .option('--s3-url <url>', "the S3 gateway (default: the network file's s3)")
    .option('--json', 'print JSON')
    .action(async (flags: { s3Url?: string; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const wallet = await ctx.resolveWallet('required')
      if (!wallet) throw new StratosError('NETWORK_CONFIG', 'this command needs a wallet')
      const list = await (await admin(ctx, flags.s3Url)).list(wallet)
      if (flags.json) return printJson(list)
      if (list.length === 0) return void process.stdout.write('no S3 credentials\n')
      process.stdout.write(
        table(
          ['ACCESS KEY ID', 'STATE', 'CREATED', 'EXPIRES', 'LABEL'],
          list.map((c) => [c.accessKeyId, c.state, formatTime(c.createdAt), formatTime(c.expiresAt), c.label ?? '']),
        ) + '\n',
      )
    })
  creds
    .command('revoke')
    .description('revoke an S3 credential: refused from its next request on')
    .argument('<access-key-id>', 'the credential to revoke')
    .option('--s3-url <url>', "the S3 gateway (default: the network file's s3)")
    .option('--json', 'print JSON')
    .action(async (accessKeyId: string, flags: { s3Url?: string; json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd)
      const wallet = await ctx.resolveWallet('required')
      if (!wallet) throw new StratosError('NETWORK_CONFIG', 'this command needs a wallet')
      const c = await (await admin(ctx, flags.s3Url)).revoke(wallet, accessKeyId)
      if (flags.json) printJson(c)
      else process.stdout.write(`revoked ${c.accessKeyId}\n`)
    })
}
