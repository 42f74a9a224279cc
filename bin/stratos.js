#!/usr/bin/env node
// The `stratos` command: `npm link` (or `npm install -g .`) puts a symlink to this file on PATH. Node resolves
// the symlink, so `../dist/cli/main.js` is found in this checkout whatever the current folder is. It loads the
// built JavaScript (`npm run build`, which `npm install` runs through `prepare`) in this very process: no
// TypeScript transpiler at run time and no second process (signals and exit codes are the CLI's own).
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write(
    `error: ${main.pathname} is missing: run \`npm install\` (or \`npm run build\`) in ${new URL('..', import.meta.url).pathname}\n`,
  )
  process.exit(1)
}
await import(main.href)
