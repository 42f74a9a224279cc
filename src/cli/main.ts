/**
 * Entry point of the `stratos` CLI: bin/stratos.js runs its bundle (dist/stratos.cjs, scripts/bundle-cli.mjs), or
 * for the long-running roles its per-file build, dist/cli/main.js. No top-level await: the bundle is CommonJS.
 */
import { runCli } from './program.ts'

void runCli(process.argv).then((code) => {
  process.exitCode = code
  // A finished command must not linger on keep-alive sockets or timers it does not own.
  setTimeout(() => process.exit(code), 1_000).unref()
})
