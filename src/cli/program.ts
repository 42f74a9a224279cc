/**
 * The `stratos` command line: one commander program, one file per command group, one error
 * format. Every failure prints exactly one line `error: <message> (<CODE>)` on stderr and exits
 * with ERROR_CODES[code].exit; stack traces only with STRATOS_DEBUG=1.
 */
import { Command, CommanderError } from 'commander'
import { StratosError } from '../errors.ts'
import { SOFTWARE_VERSION } from '../limits.ts'
import { registerChain } from './commands/chain.ts'
import { registerDevnet } from './commands/devnet.ts'
import { registerFiles } from './commands/files.ts'
import { registerNode } from './commands/node.ts'
import { registerPut } from './commands/put.ts'
import { registerRead } from './commands/read.ts'
import { registerShare } from './commands/share.ts'
import { registerStatus } from './commands/status.ts'
import { registerWallet } from './commands/wallet.ts'
import { registerTraffic } from './commands/traffic.ts'
import { registerAccess } from './commands/access.ts'
import { errorLine } from './output.ts'

export function buildProgram(): Command {
  const program = new Command('stratos')
  program
    .description('Stratos: decentralized storage for hot data (IPFS-compatible CIDs, erasure-coded shards)')
    .version(SOFTWARE_VERSION, '-V, --version')
    .option(
      '--network <dir|file>',
      'network to use: a devnet directory or its devnet.json (default: $STRATOS_HOME or ~/.stratos/devnet)',
    )
    .option('--meta-url <url>', "talk to this meta node directly (instead of the network file's)")
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
  registerPut(program)
  registerRead(program)
  registerFiles(program)
  registerShare(program)
  registerStatus(program)
  registerNode(program)
  registerDevnet(program)
  registerWallet(program)
  registerChain(program)
  registerTraffic(program)
  registerAccess(program)
  return program
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
  const program = buildProgram()
  try {
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
