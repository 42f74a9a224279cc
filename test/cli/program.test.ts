/**
 * The CLI loads only the command group a command line names (src/cli/program.ts): the table of groups must
 * name exactly the commands each group registers, and a command line must get the same program (for that
 * command) as with every group loaded.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Command } from 'commander'
import { buildProgram, COMMAND_GROUPS } from '../../src/cli/program.ts'

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
