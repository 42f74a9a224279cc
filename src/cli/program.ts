/**
 * The `stratos` command line: one commander program, one file per command group, one error
 * format. Every failure prints exactly one line `error: <message> (<CODE>)` on stderr and exits
 * with ERROR_CODES[code].exit; stack traces only with STRATOS_DEBUG=1.
 */
import { setFlagsFromString } from 'node:v8'
import { Command, CommanderError } from 'commander'
import { StratosError } from '../errors.ts'
import { SOFTWARE_VERSION } from '../limits.ts'
import { errorLine } from './output.ts'
import { LONG_RUNNING_COMMANDS } from './argv.ts'

/**
 * Every command group: the module that registers it (loaded only when needed) and the top-level commands it
 * adds, in the order `stratos --help` lists them. test/cli/program.test.ts checks the names against what each
 * module registers.
 */
export const COMMAND_GROUPS: readonly { readonly names: readonly string[]; load(): Promise<(p: Command) => void> }[] = [
  { names: ['put'], load: async () => (await import('./commands/put.ts')).registerPut },
  { names: ['get', 'cat'], load: async () => (await import('./commands/read.ts')).registerRead },
  { names: ['ls', 'stat', 'rm'], load: async () => (await import('./commands/files.ts')).registerFiles },
  { names: ['share'], load: async () => (await import('./commands/share.ts')).registerShare },
  { names: ['status'], load: async () => (await import('./commands/status.ts')).registerStatus },
  { names: ['node'], load: async () => (await import('./commands/node.ts')).registerNode },
  { names: ['devnet'], load: async () => (await import('./commands/devnet.ts')).registerDevnet },
  { names: ['wallet'], load: async () => (await import('./commands/wallet.ts')).registerWallet },
  {
    names: ['balance', 'send', 'prepay', 'ozone', 'delegate', 'undelegate', 'rewards', 'withdraw', 'chain'],
    load: async () => (await import('./commands/chain.ts')).registerChain,
  },
  { names: ['traffic'], load: async () => (await import('./commands/traffic.ts')).registerTraffic },
  {
    names: ['publish', 'unpublish', 'grant', 'budget'],
    load: async () => (await import('./commands/access.ts')).registerAccess,
  },
  { names: ['s3'], load: async () => (await import('./commands/s3.ts')).registerS3 },
  { names: ['meta'], load: async () => (await import('./commands/meta.ts')).registerMeta },
]

/**
 * The program with the command groups `argv` needs: only the named command's group when argv names one
 * (so `stratos status` loads neither the client SDK nor the ledger, and `--version` no command module at all),
 * else every group (help, suggestions for a mistyped command). Without argv: every group.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = globalProgram()
  const groups = argv === undefined ? COMMAND_GROUPS : groupsFor(program, argv.slice(2))
  for (const register of await Promise.all(groups.map((g) => g.load()))) register(program)
  return program
}

/** The program with its global options and no command. */
function globalProgram(): Command {
  const program = new Command('stratos')
  program
    .description('Stratos: decentralized storage for hot data (IPFS-compatible CIDs, erasure-coded shards)')
    .version(SOFTWARE_VERSION, '-V, --version')
    .option(
      '--network <dir|file>',
      'network to use: a devnet directory or its devnet.json (default: $STRATOS_HOME or ~/.stratos/devnet)',
    )
    .option('--meta-url <url>', "talk to this meta node directly (instead of the network file's)")
    .option(
      '--meta <name|address|url>',
      "which of the network's meta nodes to use: a name or address from the network file (meta, meta-2, …), a stsds1… address the chain lists, or a URL (default: the network's first; `stratos meta ls` lists them)",
    )
    .option('--key <hex>', 'wallet private key (secp256k1, 32 bytes hex)')
    .option(
      '--chain-url <url>',
      "validator REST API (default: the network file's chainUrl, else http://127.0.0.1:1317)",
    )
    .option('--grant <id>', 'read under a read grant someone gave you (`stratos grant create`), paid by its owner')
    .option(
      '--wallet <name>',
      'keystore wallet (see `stratos wallet`), else a dev wallet of the network file (alice, bob, carol; default: the first)',
    )
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
  return program
}

/**
 * The groups a command line needs: none for a bare `--version`/`-V`, the named command's group, or all of them
 * (no command, `help`, an unknown name: commander's help and suggestions list every command). Global options
 * come before the command name; those that take a value (`--network DIR`) skip it.
 */
function groupsFor(program: Command, args: readonly string[]): readonly (typeof COMMAND_GROUPS)[number][] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') break
    if (!a.startsWith('-')) {
      const group = COMMAND_GROUPS.find((g) => g.names.includes(a))
      return group ? [group] : COMMAND_GROUPS
    }
    if (a === '-V' || a === '--version') return []
    if (a === '-h' || a === '--help') break
    const option = program.options.find((o) => o.long === a.split('=')[0] || o.short === a)
    if (!option) break
    if ((option.required || option.optional) && !a.includes('=')) i++
  }
  return COMMAND_GROUPS
}

/**
 * A commander error message as one line: commander puts its suggestion ("(Did you mean status?)",
 * from showSuggestionAfterError, on by default for commands, subcommands and options) on a second
 * line, which the one-line error format would drop.
 */
export function usageMessage(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean (.+)\?\)\s*$/, (_, names: string) => `; did you mean ${names}?`)
    .replace(/\s*\n\s*/g, ' ')
}

/** Runs the CLI and returns its exit code (the caller exits with it). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv)
    // undici's HTTP parser is WebAssembly: V8 compiles it at once for its baseline tier (Liftoff) and again, in
    // the background, for its optimizing tier, and a process does not exit before that second compile is done.
    // A command that makes a few requests and exits would wait for it (on this 2-core machine longer than for
    // its requests); the baseline tier alone keeps a whole-file download as fast. Roles keep the optimizing tier.
    if (!program.commands.some((c) => LONG_RUNNING_COMMANDS.has(c.name()))) setFlagsFromString('--liftoff-only')
    await program.parseAsync(argv)
    return 0
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.help' ||
        e.code === 'commander.version' ||
        e.exitCode === 0
      )
        return 0
      // commander.executeSubCommandAsync etc. never happen here; all others are usage errors.
      const usage = new StratosError('BAD_REQUEST', usageMessage(e.message), { commanderCode: e.code })
      process.stderr.write(errorLine(usage).line + '\n')
      return errorLine(usage).exit
    }
    const { line, exit, error } = errorLine(e)
    process.stderr.write(line + '\n')
    if (process.env.STRATOS_DEBUG === '1')
      process.stderr.write(String((error.cause as Error | undefined)?.stack ?? error.stack) + '\n')
    return exit
  }
}
