/**
 * The CLI loads only the command group a command line names (src/cli/program.ts): the table of groups must
 * name exactly the commands each group registers, and a command line must get the same program (for that
 * command) as with every group loaded.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Command } from 'commander'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildProgram, COMMAND_GROUPS } from '../../src/cli/program.ts'
import { commandOf, GLOBAL_VALUE_OPTIONS } from '../../src/cli/argv.ts'

test('COMMAND_GROUPS names exactly the top-level commands each group registers, each once', async () => {
  const seen: string[] = []
  for (const group of COMMAND_GROUPS) {
    const program = new Command('stratos')
    ;(await group.load())(program)
    const names = program.commands.map((c) => c.name())
    assert.deepEqual(names, group.names, `group ${group.names.join(',')}`)
    seen.push(...names)
  }
  assert.equal(new Set(seen).size, seen.length, 'a command name in two groups')
})

test('a command line loads only the group of the command it names; help, version and unknown names as before', async () => {
  const names = async (...args: string[]) =>
    (await buildProgram(['node', 'stratos', ...args])).commands.map((c) => c.name())
  const all = COMMAND_GROUPS.flatMap((g) => g.names)
  assert.deepEqual(await names('--version'), [])
  assert.deepEqual(await names('-V'), [])
  assert.deepEqual(await names('status'), ['status'])
  assert.deepEqual(await names('--network', '/x', 'status', '--json'), ['status'])
  assert.deepEqual(
    await names('--network=/x', '--wallet', 'bob', 'send', 'carol', '1'),
    COMMAND_GROUPS.find((g) => g.names.includes('send'))!.names,
  )
  assert.deepEqual(await names('chain', 'status'), COMMAND_GROUPS.find((g) => g.names.includes('chain'))!.names)
  assert.deepEqual(await names(), all)
  assert.deepEqual(await names('--help'), all)
  assert.deepEqual(await names('help', 'status'), all)
  assert.deepEqual(await names('stauts'), all, 'a mistyped command gets suggestions from every command')
  assert.deepEqual(await names('--bogus', 'status'), all)
  assert.deepEqual(await buildProgram().then((p) => p.commands.map((c) => c.name())), all)
})

test('bin/stratos.js finds the command as the program does: the global options that take a value are skipped', async () => {
  const program = await buildProgram(['node', 'stratos', '--version'])
  const taking = program.options.filter((o) => o.required || o.optional).map((o) => o.long)
  assert.deepEqual([...GLOBAL_VALUE_OPTIONS].sort(), taking.sort())
  assert.equal(commandOf(['--network', 'put', 'get', 'x']), 'get')
  assert.equal(commandOf(['--network=put', '--json', 'status']), 'status')
  assert.equal(commandOf(['--version']), undefined)
  assert.equal(commandOf(['--', 'put']), undefined)
  assert.equal(commandOf(['node', 'meta']), 'node')
})

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'stratos.js')
const CACHE_DIR = join(import.meta.dirname, '..', '..', 'dist', 'cli-cache')
const cacheFiles = (): string[] => (existsSync(CACHE_DIR) ? readdirSync(CACHE_DIR) : [])

function bin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

test('bin/stratos.js runs the bundle from a per-command V8 code cache, kept on the first clean exit', async () => {
  const home = mkdtempSync(join(tmpdir(), 'stratos-bin-'))
  try {
    // A command of its own name (no other test runs `wallet list` through bin/): the first run has no cache, keeps one
    // on exit 0, and the second run is compiled from it, printing the same.
    const env = { STRATOS_DEBUG: '1', STRATOS_KEYS_DIR: join(home, 'keys'), HOME: home }
    for (const f of cacheFiles().filter((n) => n.endsWith('-wallet.v8'))) rmSync(join(CACHE_DIR, f))
    // `--help` of the command keeps no cache (it runs none of the command's own code).
    const help = await bin(['wallet', 'list', '--help'], env)
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stderr, /code cache .*-wallet\.v8: none yet/)
    const first = await bin(['wallet', 'list'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, /code cache .*-wallet\.v8: none yet/)
    const second = await bin(['wallet', 'list'], env)
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stderr, /code cache .*-wallet\.v8: used/)
    assert.equal(second.stdout, first.stdout)
    // A failing command keeps no cache (an unknown name is not a command).
    const bad = await bin(['no-such-command'], env)
    assert.notEqual(bad.code, 0)
    assert.equal(
      cacheFiles().some((n) => n.endsWith('-no-such-command.v8')),
      false,
    )
    // --version runs the per-file build (no bundle, no cache).
    const v = await bin(['--version'], env)
    assert.equal(v.code, 0)
    assert.doesNotMatch(v.stderr, /code cache/)
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})
