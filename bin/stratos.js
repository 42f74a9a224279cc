#!/usr/bin/env node
// The `stratos` command: `npm link` (or `npm install -g .`) puts a symlink to this file on PATH. Node resolves
// the symlink, so `../dist/…` is found in this checkout whatever the current folder is. It runs the built
// JavaScript (`npm run build`, which `npm install` runs through `prepare`) in this very process: no TypeScript
// transpiler at run time and no second process (signals and exit codes are the CLI's own).
//
// Client commands (put, get, status, …) run the one-file bundle dist/stratos.cjs (scripts/bundle-cli.mjs),
// compiled from a V8 code cache: a fresh process then spends ~0.1 s less CPU on start-up than with the ~500
// per-file modules (bench/README.md, "CLI start-up"). The long-running roles (`node`, `devnet`) run the per-file
// build dist/cli/main.js, as devnet children do: their start-up does not matter and they keep every V8 tier.
//
// The code cache: one file per command under dist/cli-cache/, named after the bundle's SHA-256 (V8 checks a cache
// against the source's length and its own version and flags, not the source's content), written atomically when a
// command that ran without its own cache (or with a rejected one) exits with 0, unless it only printed help. Per
// command, not shared: a cache holds every function that ran, and `put` would otherwise deserialize what `--help`
// compiled. A cache that cannot be written (read-only install) is simply not kept. STRATOS_DEBUG=1 says on stderr whether the cache was used.
// `--version` alone runs the per-file build too: it loads no command, so nothing is faster.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { Script } from 'node:vm'

const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const bundle = join(dist, 'stratos.cjs')
const perFile = join(dist, 'cli', 'main.js')
if (!existsSync(bundle) || !existsSync(perFile)) {
  process.stderr.write(
    `error: ${existsSync(perFile) ? bundle : perFile} is missing: run \`npm install\` (or \`npm run build\`) in ${dirname(dist)}\n`,
  )
  process.exit(1)
}
const { commandOf, LONG_RUNNING_COMMANDS } = await import(new URL('../dist/cli/argv.js', import.meta.url).href)
const args = process.argv.slice(2)
const command = commandOf(args)
if (
  LONG_RUNNING_COMMANDS.has(command) ||
  (command === undefined && (args.includes('-V') || args.includes('--version')))
) {
  await import(new URL('../dist/cli/main.js', import.meta.url).href)
} else {
  // Before anything is compiled: V8 rejects a code cache made under other flags, and runCli sets this one for
  // every short command anyway (why: src/cli/program.ts).
  setFlagsFromString('--liftoff-only')
  const bytes = readFileSync(bundle)
  const source = bytes.toString('utf8')
  const cacheDir = join(dist, 'cli-cache')
  const key = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  const name = /^[a-z][a-z0-9-]{0,31}$/.test(command ?? '') ? command : '-none'
  const own = join(cacheDir, `${key}-${name}.v8`)
  const cacheFile = existsSync(own) ? own : undefined
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    cacheFile ? { filename: bundle, cachedData: readFileSync(cacheFile) } : { filename: bundle },
  )
  if (process.env.STRATOS_DEBUG === '1')
    process.stderr.write(
      `stratos: code cache ${own}: ${cacheFile ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none yet'}\n`,
    )
  // A cache is kept once and then used as it is: a `--help` run would keep one without the command's own code.
  const helpOnly = args.includes('-h') || args.includes('--help') || command === 'help'
  if ((cacheFile !== own || script.cachedDataRejected) && !helpOnly)
    process.once('exit', (code) => {
      if (code === 0) keepCache(script, cacheDir, own)
    })
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dist)
}

/** Writes the code V8 compiled for this command (temp file, then rename: a reader never sees half a file). */
function keepCache(script, dir, file) {
  try {
    mkdirSync(dir, { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, script.createCachedData())
    renameSync(tmp, file)
  } catch {
    // A read-only install: every start compiles the bundle, as without a cache.
  }
}
