/** Entry point of the `stratos` CLI (bin/stratos.js loads its build, dist/cli/main.js). */
import { runCli } from './program.ts'

const code = await runCli(process.argv)
process.exitCode = code
// A finished command must not linger on keep-alive sockets or timers it does not own.
setTimeout(() => process.exit(code), 1_000).unref()
