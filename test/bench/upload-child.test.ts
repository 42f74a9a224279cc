/**
 * The bench's peak-RSS figure must be the upload child's own, not its parent's: Linux keeps the
 * parent's peak in a child's maxrss across fork + exec, which made every child of a 356 MB harness
 * report 356 MB.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { peakRssBytes } from '../../bench/upload-child.ts'

const MB = 1e6
const script = fileURLToPath(new URL('../../bench/upload-child.ts', import.meta.url))

test('peakRssBytes parses VmHWM in kB', () => {
  assert.equal(
    peakRssBytes('Name:\tnode\nVmPeak:\t  900000 kB\nVmHWM:\t   40428 kB\nVmRSS:\t 30000 kB\n'),
    40428 * 1024,
  )
  assert.throws(() => peakRssBytes('Name:\tnode\n'))
})

test("a child of a large parent reports its own peak RSS, not the parent's", () => {
  const ballast = Buffer.alloc(400 * MB, 1) // resident in this (parent) process
  const child = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { peakRssBytes } = await import(${JSON.stringify(script)}); console.log(peakRssBytes())`,
    ],
    { encoding: 'utf8' },
  )
  const peak = Number(child.trim())
  assert.ok(peak > 10 * MB, `child peak ${peak}`)
  assert.ok(peak < 300 * MB, `child reported ${(peak / MB).toFixed(0)} MB with a ${ballast.length / MB} MB parent`)
})
