/** `stratos node …` as a process: announces where it listens, stops gracefully (exit 0) on SIGTERM or when its devnet goes away. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliArgs } from '../../src/devnet/devnet.ts'
import { cleanEnv } from '../e2e/harness.ts'

function startMeta(dir: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, cliArgs('node', 'meta', '--data-dir', dir, '--port', '0'), {
    env: cleanEnv({ STRATOS_LOG_LEVEL: 'warn', ...env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const listening = new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`exited with ${code} before listening`)))
  })
  return { child, exited, listening }
}

test('SIGTERM stops a meta node gracefully with exit code 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-node-'))
  try {
    const { child, exited, listening } = startMeta(dir)
    const url = await listening
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { address: string }
    assert.match(info.address, /^stsds1/)
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a node started by a devnet stops itself when the devnet goes away (stdin closes)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-node-'))
  try {
    const { child, exited, listening } = startMeta(dir, { STRATOS_EXIT_WITH_STDIN: '1' })
    await listening
    child.stdin.end()
    assert.equal(await exited, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
