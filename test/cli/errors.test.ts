/** The CLI as a process: usage errors and offline failures print one line and exit with the code's exit status. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { ERROR_CODES } from '../../src/errors.ts'
import { runCli } from '../e2e/harness.ts'

const nowhere = join(tmpdir(), 'stratos-no-such-network')

test('usage errors, bad CIDs and a missing network: one line on stderr, stable exit codes', async () => {
  const cases: [string[], keyof typeof ERROR_CODES][] = [
    [['frobnicate'], 'BAD_REQUEST'],
    [['cat'], 'BAD_REQUEST'],
    [['put', 'x', '--cid-version', '7'], 'BAD_REQUEST'],
    [['cat', 'not-a-cid', '--network', nowhere], 'INVALID_CID'],
    [['ls', '--network', nowhere], 'NETWORK_CONFIG'],
    [['status', '--meta-url', 'http://127.0.0.1:1'], 'NODE_UNAVAILABLE'],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(args)))
  results.forEach((r, i) => {
    const [args, code] = cases[i]
    assert.equal(r.code, ERROR_CODES[code].exit, `${args.join(' ')} → ${r.stderr}`)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], new RegExp(`^error: .+ \\(${code}\\)$`))
  })
  const help = await runCli(['--help'])
  assert.equal(help.code, 0)
  assert.match(help.stdout.toString(), /Usage: stratos/)
})
