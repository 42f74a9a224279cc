/** `stratos node maintenance on|off` through the real CLI (child processes) against an in-process meta node and resource node. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ERROR_CODES } from '../../src/errors.ts'
import { startMetaNode } from '../../src/sds/meta/index.ts'
import { startResourceNode } from '../../src/sds/resource/index.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import type { NodeView } from '../../src/sds/protocol/api.ts'
import { silentLogger } from '../../src/util/components.ts'
import { cliArgs } from '../../src/devnet/devnet.ts'

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(...args), { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

test('maintenance on → off through the CLI; bad state, missing key and too long a window are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-maintenance-cli-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const meta = await startMetaNode({
    dataDir: join(dir, 'meta'),
    port: 0,
    chainId: 'maint-cli-1',
    logger: silentLogger,
  })
  t.after(() => meta.stop())
  const nodeDir = join(dir, 'node')
  const node = await startResourceNode({
    dataDir: nodeDir,
    port: 0,
    metaUrl: meta.url,
    chainId: 'maint-cli-1',
    metaAddresses: [meta.address],
    heartbeatIntervalMs: 100,
    fsync: false,
    capacityBytes: 1 << 30,
    logger: silentLogger,
  })
  t.after(() => node.stop())
  const client = new MetaClient(meta.url)
  while ((await client.status()).totals.nodesOnline < 1) await sleep(20)
  const env = { ...process.env, STRATOS_HOME: join(dir, 'no-network'), STRATOS_KEYS_DIR: join(dir, 'keys') }
  const at = ['--meta-url', meta.url]

  const on = await cli(
    ['node', 'maintenance', 'on', '--data-dir', nodeDir, '--duration-ms', '600000', '--json', ...at],
    env,
  )
  assert.equal(on.code, 0, on.stderr)
  const view = JSON.parse(on.stdout) as NodeView
  assert.equal(view.address, node.address)
  assert.equal(view.reputation?.state, 'maintenance')
  assert.equal((await client.nodes())[0].reputation?.state, 'maintenance')

  const off = await cli(['node', 'maintenance', 'off', '--data-dir', nodeDir, ...at], env)
  assert.equal(off.code, 0, off.stderr)
  assert.match(off.stdout, /out of maintenance \(state active\)/)
  assert.equal((await client.nodes())[0].reputation?.state, 'active')

  // The refusals change nothing, so they run side by side (each CLI process takes seconds to start).
  const [bad, tooLong, noKey] = await Promise.all([
    cli(['node', 'maintenance', 'maybe', '--data-dir', nodeDir, ...at], env),
    cli(['node', 'maintenance', 'on', '--data-dir', nodeDir, '--duration-ms', String(48 * 3_600_000), ...at], env),
    cli(['node', 'maintenance', 'on', '--data-dir', join(dir, 'nothing'), ...at], env),
  ])
  assert.equal(bad.code, ERROR_CODES.BAD_REQUEST.exit)
  assert.equal(tooLong.code, ERROR_CODES.BAD_REQUEST.exit)
  assert.match(tooLong.stderr, /BAD_REQUEST/)
  assert.equal(noKey.code, ERROR_CODES.NETWORK_CONFIG.exit)
})
