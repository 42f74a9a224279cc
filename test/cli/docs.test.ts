/** docs/limits.md must explain every constant of src/limits.ts ("change both together"). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as limits from '../../src/limits.ts'
import { ERROR_CODES } from '../../src/errors.ts'

test('every limit and default is documented in docs/limits.md', () => {
  const doc = readFileSync(new URL('../../docs/limits.md', import.meta.url), 'utf8')
  const missing = Object.keys(limits).filter((name) => !doc.includes(`\`${name}\``) && !doc.includes(`\`${name}(`))
  assert.deepEqual(missing, [], `add these to docs/limits.md: ${missing.join(', ')}`)
})

test('the README keeps the two quick-start commands', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  assert.ok(readme.includes('npm install && npm start'))
  assert.ok(readme.includes('npm test'))
})

test('docs/cli.md lists every error code under its exit status', () => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8')
  for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${exit} |`))
    assert.ok(row?.includes(`\`${code}\``), `docs/cli.md: ${code} missing from the exit ${exit} row`)
  }
})

test('docs/cli.md describes every command and subcommand', async () => {
  const { buildProgram } = await import('../../src/cli/program.ts')
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8')
  const missing: string[] = []
  const walk = (cmd: { name(): string; commands: readonly unknown[] }, prefix: string): void => {
    for (const sub of cmd.commands as { name(): string; commands: readonly unknown[] }[]) {
      const full = `${prefix} ${sub.name()}`.trim()
      if (!doc.includes(`stratos ${full}`)) missing.push(full)
      walk(sub, full)
    }
  }
  walk(await buildProgram(), '')
  assert.deepEqual(missing, [], `document these in docs/cli.md: ${missing.join(', ')}`)
})

test('docs/api.md lists every meta node route', async () => {
  const { META_ROUTES, SHARE_ROUTES, DELEGATION_ROUTES } = await import('../../src/sds/protocol/api.ts')
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8')
  const missing = [
    ...Object.values(META_ROUTES),
    ...Object.values(SHARE_ROUTES),
    ...Object.values(DELEGATION_ROUTES),
  ].filter((path) => !doc.includes(`\`${path}`))
  assert.deepEqual(missing, [], `document these routes in docs/api.md: ${missing.join(', ')}`)
})
