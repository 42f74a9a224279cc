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

test('mistyped commands and options get a "did you mean"; local paths and wallet names are reported as the user wrote them', async () => {
  const missing = join(tmpdir(), 'stratos-no-such-dir', 'missing.bin')
  const keys = join(tmpdir(), 'stratos-no-such-keys')
  const cases: [string[], keyof typeof ERROR_CODES, RegExp][] = [
    [['stauts'], 'BAD_REQUEST', /did you mean status\?/],
    [['wallet', 'lst'], 'BAD_REQUEST', /did you mean list\?/],
    [['chain', 'stauts'], 'BAD_REQUEST', /did you mean status\?/],
    [['status', '--jsn'], 'BAD_REQUEST', /did you mean --json\?/],
    // The local path is checked before any network is needed.
    [['put', missing, '--network', nowhere], 'NOT_FOUND', new RegExp(missing.replaceAll('.', '\\.'))],
    [
      [
        'get',
        'QmSPg86Tov5M7gJH4AbfuDgghJkp8wVkgJVXqmwhYPSFEP',
        '-o',
        join(missing, 'x.bin'),
        '--meta-url',
        'http://127.0.0.1:1',
      ],
      'NOT_FOUND',
      /missing\.bin\/x\.bin/,
    ],
    // A recipient that is neither an address nor a known wallet name is refused before anything is signed.
    [['send', 'nobody', '1', '--network', nowhere, '--chain-url', 'http://127.0.0.1:1'], 'BAD_REQUEST', /"nobody"/],
    [
      [
        'send',
        'st1t7fkv92jsnmhar8jftgtsva8jw7sxqu44gff93',
        '1',
        '--network',
        nowhere,
        '--chain-url',
        'http://127.0.0.1:1',
      ],
      'BAD_REQUEST',
      /st1t7fkv92jsnmhar8jftgtsva8jw7sxqu44gff93/,
    ],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(args, { env: { STRATOS_KEYS_DIR: keys } })))
  results.forEach((r, i) => {
    const [args, code, named] = cases[i]
    assert.equal(r.code, ERROR_CODES[code].exit, `${args.join(' ')} → ${r.stderr}`)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], new RegExp(`^error: .+ \\(${code}\\)$`))
    assert.match(lines[0], named)
    assert.doesNotMatch(lines[0], /\.tmp\b/, 'never an internal temp file')
  })
})
