/**
 * What bin/stratos.js needs to know about a command line before it loads the CLI: which command it names. Kept free
 * of imports (bin/stratos.js loads it on every start); test/cli/program.test.ts checks the option list against the
 * program's global options.
 */

/** The global options that take a value (`--network DIR`): their value is not the command name. */
export const GLOBAL_VALUE_OPTIONS: readonly string[] = [
  '--network',
  '--meta-url',
  '--meta',
  '--key',
  '--chain-url',
  '--grant',
  '--wallet',
]

/** Commands that run for as long as a role runs (servers): they keep V8's optimizing tiers (see runCli). */
export const LONG_RUNNING_COMMANDS: ReadonlySet<string> = new Set(['node', 'devnet'])

/** The command a command line names (`put` in `stratos --network D put f`), or undefined (none, or only options). */
export function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') return undefined
    if (!a.startsWith('-')) return a
    if (GLOBAL_VALUE_OPTIONS.includes(a)) i++
  }
  return undefined
}
