/**
 * A meta process cut off from its PostgreSQL index, on test hosts (netns.ts): PostgreSQL, meta process A and meta
 * process B (one meta node: the same key, one index) each on a host of their own; the resource nodes and the clients
 * run in the test process, on the bridge's address. Packets between A and PostgreSQL are dropped.
 *
 * Must hold: A acknowledges no write while cut off (an upload through A fails); B keeps serving uploads and reads
 * meanwhile; nothing A was asked to write during the cut shows up half-done (no split brain); once healed, A serves
 * again and sees what B wrote. Timings are printed as `# measured` lines for docs/operations.md.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { cliArgs } from '../../src/devnet/devnet.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { StratosClient, WalletKey } from '../../src/sds/client/index.ts'
import { startResourceNode, type ResourceNode } from '../../src/sds/resource/index.ts'
import { silentLogger } from '../../src/util/components.ts'
import { cleanEnv } from '../e2e/harness.ts'
import { createDatabase, postgresSkip, startPostgres } from '../support/postgres.ts'
import { storageOnlyMetaArgs } from '../support/roles.ts'
import { HostNetwork, skipWithoutHosts, type TestHost } from './netns.ts'

const CHAIN_ID = 'stratos-hosts-pg'
const META_PORT = 7100
const wallet = WalletKey.fromPrivateKeyHex('6b'.repeat(32))

function measured(what: string, ms: number): void {
  console.log(`# measured ${what}: ${ms} ms`)
}

async function startMeta(net: HostNetwork, host: TestHost, dataDir: string, index: string): Promise<ChildProcess> {
  const [command, ...prefix] = net.launcher(host)
  const child = spawn(
    command!,
    [
      ...prefix,
      process.execPath,
      ...cliArgs(
        'node',
        'meta',
        ...storageOnlyMetaArgs({ dataDir, index, chainId: CHAIN_ID, port: META_PORT, host: host.ip }),
      ),
    ],
    { env: cleanEnv({ STRATOS_LOG_LEVEL: 'warn' }), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 20_000) err += d.toString()
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`meta process not ready in 60 s: ${err}`)), 60_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (/listening on/.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`meta process exited (${code}): ${err}`))
    })
  })
  return child
}

async function readAll(client: StratosClient, cid: string): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of client.cat(cid)) parts.push(chunk)
  return Buffer.concat(parts)
}

const skip = skipWithoutHosts() || postgresSkip() || false

test('a meta process cut off from PostgreSQL acknowledges no write while the other serves; healed, it serves again', {
  skip,
  timeout: 300_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-hosts-pg-'))
  const net = await HostNetwork.create()
  const nodes: ResourceNode[] = []
  const clients: StratosClient[] = []
  t.after(async () => {
    for (const c of clients) await c.close()
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await net.close() // kills PostgreSQL and both meta processes (everything inside the hosts)
    rmSync(dir, { recursive: true, force: true })
  })
  const [pgHost, aHost, bHost] = [net.addHost('postgres'), net.addHost('meta-a'), net.addHost('meta-b')]
  const server = await startPostgres({ host: pgHost.ip, launcher: net.launcher(pgHost) })
  t.after(() => server.stop())
  const index = await createDatabase(server)

  // One meta node, two processes: the same node key, one index.
  const dirA = join(dir, 'meta-a')
  const dirB = join(dir, 'meta-b')
  await startMeta(net, aHost, dirA, index)
  mkdirSync(dirB, { recursive: true })
  copyFileSync(join(dirA, 'node-key.json'), join(dirB, 'node-key.json'))
  await startMeta(net, bHost, dirB, index)
  const urlA = `http://${aHost.ip}:${META_PORT}`
  const urlB = `http://${bHost.ip}:${META_PORT}`
  const address = (await new MetaClient(urlA).info()).address

  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startResourceNode({
        dataDir: join(dir, `node-${i}`),
        host: net.gatewayIp,
        port: 0,
        metaUrl: `${urlA},${urlB}`,
        chainId: CHAIN_ID,
        metaAddresses: [address],
        heartbeatIntervalMs: 500,
        fsync: false,
        capacityBytes: 1024 ** 3,
        logger: silentLogger,
      }),
    )
  }
  for (const url of [urlA, urlB]) {
    const deadline = Date.now() + 30_000
    while ((await new MetaClient(url).status()).totals.nodesOnline < 3) {
      assert.ok(Date.now() < deadline, `all nodes online as seen by ${url}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const viaA = await StratosClient.connect({ metaUrl: urlA, wallet })
  const viaB = await StratosClient.connect({ metaUrl: urlB, wallet })
  clients.push(viaA, viaB)
  const before = randomBytes(200_000)
  const beforeCid = (await viaA.put(before)).cid

  net.cutBetween(aHost, pgHost)
  const cutAt = Date.now()
  // A: an upload must not be acknowledged. (It fails with the index's error, or times out at the client.)
  const duringA = randomBytes(150_000)
  const attemptA = viaA.put(duringA, { signal: AbortSignal.timeout(60_000) }).then(
    (r) => ({ ok: true as const, cid: r.cid }),
    (e: unknown) => ({ ok: false as const, code: (e as { code?: string }).code ?? String(e) }),
  )
  // B serves meanwhile: an upload and reads of old and new files.
  const duringB = randomBytes(180_000)
  const tB = Date.now()
  const cidB = (await viaB.put(duringB)).cid
  measured('upload through the other meta process while one is cut off from PostgreSQL', Date.now() - tB)
  assert.ok((await readAll(viaB, cidB)).equals(duringB))
  assert.ok((await readAll(viaB, beforeCid)).equals(before))
  const a = await attemptA
  assert.equal(a.ok, false, 'the cut-off process acknowledged no upload')
  measured(`upload through the cut-off process refused (${a.ok ? '' : a.code})`, Date.now() - cutAt)
  t.diagnostic(`upload through the cut-off process: ${JSON.stringify(a)}`)

  net.healBetween(aHost, pgHost)
  const healAt = Date.now()
  // Healed: A serves again and sees what B wrote; what A refused is nowhere half-done.
  let healed: string | undefined
  while (healed === undefined) {
    assert.ok(Date.now() - healAt < 120_000, 'the healed process serves uploads again within 2 minutes')
    try {
      healed = (await viaA.put(randomBytes(100_000), { signal: AbortSignal.timeout(20_000) })).cid
    } catch {
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  measured('healed meta process acknowledges an upload again', Date.now() - healAt)
  assert.ok((await readAll(viaA, cidB)).equals(duringB), 'A reads what B wrote during the cut')
  const listedA = new Map((await viaA.ls()).map((f) => [f.cid, f.size]))
  const listedB = new Map((await viaB.ls()).map((f) => [f.cid, f.size]))
  assert.deepEqual([...listedA].sort(), [...listedB].sort(), 'both processes list the same files (one index)')
  for (const [cid, size] of listedA) {
    const back = await readAll(viaB, cid)
    assert.equal(back.length, size, `listed file ${cid} reads back whole`)
  }
})
