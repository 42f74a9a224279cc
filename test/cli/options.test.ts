import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgumentError } from 'commander'
import { collectNodeCapacity, parseBytes, parseNonNegativeInt, parsePort } from '../../src/cli/options.ts'
import { parseRange } from '../../src/gateway/range.ts'
import { errorLine, formatBytes, table } from '../../src/cli/output.ts'
import { StratosError } from '../../src/errors.ts'

test('byte sizes: plain, binary and decimal units', () => {
  assert.equal(parseBytes('1048576'), 1048576)
  assert.equal(parseBytes('64KiB'), 65536)
  assert.equal(parseBytes('32MiB'), 32 * 1024 * 1024)
  assert.equal(parseBytes('1m'), 1024 * 1024)
  assert.equal(parseBytes('1.5GB'), 1_500_000_000)
  for (const bad of ['', 'abc', '-1', '10 parsecs', '1e3']) assert.throws(() => parseBytes(bad), InvalidArgumentError)
})

test('integers, ports and per-node capacities', () => {
  assert.equal(parseNonNegativeInt('0'), 0)
  assert.throws(() => parseNonNegativeInt('1.5'), InvalidArgumentError)
  assert.throws(() => parsePort('70000'), InvalidArgumentError)
  const m = collectNodeCapacity('2=1MiB', collectNodeCapacity('1=64KiB', undefined))
  assert.deepEqual(
    [...m],
    [
      [1, 65536],
      [2, 1048576],
    ],
  )
  assert.throws(() => collectNodeCapacity('1:5', undefined), InvalidArgumentError)
})

test('single Range parsing: partial, suffix, open-ended, unsatisfiable, ignored', () => {
  assert.deepEqual(parseRange(undefined, 100), { kind: 'full' })
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 })
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 })
  assert.deepEqual(parseRange('bytes=90-500', 100), { kind: 'partial', start: 90, end: 99 })
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 })
  assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'partial', start: 0, end: 99 })
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' })
  // An inverted range is unsatisfiable (issue 5: 416); malformed or multi-range headers are ignored: the whole file is served.
  assert.deepEqual(parseRange('bytes=9-0', 100), { kind: 'unsatisfiable' })
  assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'full' })
  assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' })
})

test('error line and exit code come from the error code', () => {
  const e = errorLine(new StratosError('NOT_OWNER', 'not yours\nsecond line'))
  assert.equal(e.line, 'error: not yours (NOT_OWNER)')
  assert.equal(e.exit, 3)
  assert.equal(errorLine(new Error('boom')).exit, 1)
  const abort = new Error('x')
  abort.name = 'AbortError'
  assert.equal(errorLine(abort).exit, 130)
})

test('formatting helpers', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(1536), '1.5 KiB')
  assert.equal(formatBytes(32 * 1024 * 1024), '32.0 MiB')
  assert.equal(
    table(
      ['A', 'BB'],
      [
        ['xyz', '1'],
        ['q', '22'],
      ],
      new Set([1]),
    ),
    'A    BB\nxyz   1\nq    22',
  )
})
