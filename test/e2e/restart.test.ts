/**
 * Crash and restart on a real multi-process devnet: the meta node killed with SIGKILL and
 * started again from its recorded command line, then the whole devnet stopped (SIGINT) and
 * started again on the same directory. Also: one node with a tiny disk — uploads go elsewhere.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FileSummary, NodeView } from '../../src/sds/protocol/api.ts'
import type { PutResult } from '../../src/sds/client/index.ts'
import { TestDevnet, cleanEnv, eventually, isAlive, shardFiles, waitDead } from './harness.ts'

const KiB = 1024
const TINY = 64 * KiB

describe('devnet crash and restart', () => {
  let net: TestDevnet
  let work: string
  const live = new Map<string, Buffer>()

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-e2e-restart-'))
    // 7 nodes for k+m = 6, and resource-1 with almost no room: every segment still finds 6 nodes.
    net = await TestDevnet.start({ resources: 7, segmentSize: 256 * KiB, extra: ['--node-capacity', `1=${TINY}`] })
  })

  after(async () => {
    await net?.destroy()
    rmSync(work, { recursive: true, force: true })
  })

  /** Uploads files with one CLI process, public: every file is also read through the gateway's anonymous /ipfs/. */
  const put = async (files: [string, Buffer][]): Promise<string[]> => {
    const paths = files.map(([name, data]) => {
      const p = join(work, name)
      writeFileSync(p, data)
      return p
    })
    const r = await net.cli(['put', ...paths, '--json', '--public'])
    assert.equal(r.code, 0, r.stderr)
    const parsed = JSON.parse(r.stdout.toString()) as PutResult | PutResult[]
    const results = Array.isArray(parsed) ? parsed : [parsed]
    for (const [i, x] of results.entries()) live.set(x.cid, files[i][1])
    return results.map((x) => x.cid)
  }
  /** One file through the CLI, every file through the gateway (same SDK, no process start per file). */
  const assertAllReadable = async () => {
    const entries = [...live.entries()]
    const [first] = entries
    const [cli, ...reads] = await Promise.all([
      net.cli(['cat', first[0]]),
      ...entries.map(async ([cid]) => {
        const r = await fetch(`${net.network.gatewayUrl}/ipfs/${cid}`)
        return { status: r.status, body: Buffer.from(await r.arrayBuffer()) }
      }),
    ])
    assert.equal(cli.code, 0, cli.stderr)
    assert.ok(cli.stdout.equals(first[1]), 'byte-exact through the CLI')
    entries.forEach(([cid, data], i) => {
      assert.equal(reads[i].status, 200, cid)
      assert.ok(reads[i].body.equals(data), 'byte-exact through the gateway')
    })
  }
  const listed = async (): Promise<string[]> => {
    const r = await net.cli(['ls', '--json'])
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout.toString()) as { files: FileSummary[] }).files.map((f) => f.cid).sort()
  }

  test('a node with a full disk: uploads still succeed, its shards go elsewhere', async () => {
    // Each 200 KiB file = one segment of 6 × ~50 KiB shards; resource-1 can take at most one.
    await put([0, 1, 2, 3, 4].map((i): [string, Buffer] => [`cap-${i}.bin`, randomBytes(200 * KiB + i)]))
    await assertAllReadable()
    const tiny = net.process('resource-1')
    const r = await net.cli(['status', '--json'])
    const nodes = (JSON.parse(r.stdout.toString()) as { nodes: NodeView[] }).nodes
    const view = nodes.find((n) => n.address === tiny.address)!
    assert.ok(view.usedBytes <= TINY, `resource-1 holds ${view.usedBytes} bytes, capacity ${TINY}`)
    assert.ok(shardFiles(tiny.dataDir).length <= 1)
  })

  test('kill -9 the meta node and start it again: index consistent, files readable, uploads work', async () => {
    const before = await listed()
    const meta = net.process('meta')
    process.kill(meta.pid, 'SIGKILL')
    await waitDead(meta.pid, 5_000)
    const down = await net.cli(['ls'])
    assert.notEqual(down.code, 0, 'no meta node, no listing')

    // Restart it by hand with the exact command line the devnet recorded.
    const fd = openSync(meta.log, 'a')
    const restarted = spawn(process.execPath, meta.args, { env: cleanEnv(), stdio: ['ignore', fd, fd] })
    closeSync(fd)
    try {
      await eventually(
        'meta node answers again',
        30_000,
        async () => (await fetch(`${meta.url}/v1/info`).catch(() => undefined))?.ok === true,
      )
      assert.deepEqual(await listed(), before)
      await assertAllReadable()
      // Nodes come back online through their heartbeats, so new uploads find room.
      await eventually(
        'resource nodes back online',
        15_000,
        async () => {
          const s = await net.cli(['status', '--json'])
          return (
            s.code === 0 &&
            (JSON.parse(s.stdout.toString()) as { totals: { nodesOnline: number } }).totals.nodesOnline === 7
          )
        },
        500,
      )
      await put([['after-meta-restart.bin', randomBytes(300 * KiB)]])
      assert.equal((await listed()).length, before.length + 1)
    } finally {
      // A restarted process that already exited (e.g. refused its command line) must not hang the test.
      if (restarted.exitCode === null && restarted.signalCode === null) {
        const exited = new Promise((r) => restarted.once('exit', r))
        restarted.kill('SIGTERM')
        await exited
      }
    }
  })

  test('stop the whole devnet (SIGINT) and start it again on the same dir: data and identities kept', async () => {
    // The meta node restarted by hand above is stopped; the devnet still runs its other processes.
    const before = [...live.keys()].sort()
    const addresses = net.network.processes.map((p) => p.address)
    const wallets = net.network.wallets
    const oldPids = net.network.processes.map((p) => p.pid)
    assert.equal(await net.restart(), 0, 'devnet exits 0 on SIGINT')
    for (const pid of oldPids) assert.equal(isAlive(pid), false, 'old processes are gone')
    assert.deepEqual(
      net.network.processes.map((p) => p.address),
      addresses,
      'same node keys and gateway wallet',
    )
    assert.deepEqual(net.network.wallets, wallets, 'same dev wallets')
    assert.deepEqual(await listed(), before)
    await assertAllReadable()
    // Every node stopped gracefully (SIGTERM → exit 0); meta was the hand-started one, stopped above.
    for (const p of net.network.processes.filter((x) => x.role !== 'meta')) {
      assert.match(net.previousStderr, new RegExp(`${p.name} stopped \\(exit code 0\\)`))
    }
  })

  test('kill -9 of the devnet itself: its children stop on their own, and the next start recovers', async () => {
    const pids = net.network.processes.map((p) => p.pid)
    await net.killDevnet()
    for (const pid of pids) assert.equal(isAlive(pid), false)
    await net.start()
    assert.deepEqual(await listed(), [...live.keys()].sort())
  })
})
