/**
 * End to end on a real multi-process devnet (validator, meta node, resource nodes, gateway):
 *   - a resource node that unbonds on chain (`stratos node unbond`) is drained: the meta node, following the chain,
 *     copies every shard it holds to other nodes while it is online (no rebuild), files read byte-exact;
 *   - a resource node killed with SIGKILL for longer than the repair grace period has its segments rebuilt on the
 *     other nodes (full redundancy again), and every file still reads byte-exact through the CLI, even with m more
 *     nodes down afterwards.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FileRecordView } from '../../src/sds/protocol/api.ts'
import { StratosClient, type PutResult } from '../../src/sds/client/index.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { TestDevnet, eventually, waitDead } from './harness.ts'

const KiB = 1024
const SEGMENT = 256 * KiB

describe('repair on a devnet', () => {
  let net: TestDevnet
  let work: string
  let files: { cid: string; data: Buffer }[]
  let records: () => Promise<FileRecordView[]>
  let draining = ''
  /** The CLI's default wallet (alice), which uploads the files: a private file's record answers its owner only. */
  let owner: StratosClient
  const positionsOn = (views: FileRecordView[], node: string): number =>
    views.reduce(
      (n, v) => n + v.segments.reduce((m, seg) => m + seg.shards.filter((s) => s.node === node).length, 0),
      0,
    )
  const fullyRedundant = (views: FileRecordView[], gone: ReadonlySet<string>): boolean =>
    views.every((v) =>
      v.segments.every((seg) => {
        const nodes = seg.shards.map((s) => s.node)
        return new Set(nodes).size === v.k + v.m && nodes.every((n) => !gone.has(n) && v.nodes[n]?.state === 'online')
      }),
    )
  const catAll = async (what: string): Promise<void> => {
    for (const f of files) {
      const r = await net.cli(['cat', f.cid])
      assert.equal(r.code, 0, r.stderr)
      assert.ok(r.stdout.equals(f.data), `bytes of ${f.cid} ${what}`)
    }
  }
  /** Sums of the meta node's 'segment repaired' log lines. */
  const repairLog = (): { copied: number; rebuilt: number; moved: number } => {
    const out = { copied: 0, rebuilt: 0, moved: 0 }
    for (const line of readFileSync(net.process('meta').log, 'utf8').split('\n')) {
      if (!line.includes('"segment repaired"')) continue
      const e = JSON.parse(line) as { copied: number; rebuilt: number; moved: number }
      out.copied += e.copied
      out.rebuilt += e.rebuilt
      out.moved += e.moved
    }
    return out
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-e2e-repair-'))
    net = await TestDevnet.start({
      resources: 9,
      k: 4,
      m: 2,
      segmentSize: SEGMENT,
      extra: [
        '--heartbeat-interval-ms',
        '200',
        '--offline-after-ms',
        '1000',
        '--repair-grace-ms',
        '1000',
        '--repair-check-interval-ms',
        '250',
      ],
    })
    owner = await StratosClient.connect({
      metaUrl: net.process('meta').url,
      wallet: WalletKey.fromMnemonic(net.network.wallets[0]!.mnemonic),
    })
  })

  after(async () => {
    await owner?.close()
    await net?.destroy()
    rmSync(work, { recursive: true, force: true })
  })

  test('a node unbonding on chain is drained: its shards are copied off it while online, files read byte-exact', async () => {
    const datas = [randomBytes(3 * SEGMENT + 1234), randomBytes(5_000), randomBytes(SEGMENT)]
    const paths = datas.map((d, i) => {
      const p = join(work, `f${i}.bin`)
      writeFileSync(p, d)
      return p
    })
    const put = await net.cli(['put', '--json', ...paths])
    assert.equal(put.code, 0, put.stderr)
    files = (JSON.parse(put.stdout.toString()) as PutResult[]).map((r, i) => ({ cid: r.cid, data: datas[i] }))
    records = () => Promise.all(files.map((f) => owner.stat(f.cid)))

    const before = await records()
    draining = net.resources.map((p) => p.address!).sort((a, b) => positionsOn(before, b) - positionsOn(before, a))[0]
    const held = positionsOn(before, draining)
    assert.ok(held > 0)
    // The devnet's resource nodes belong to alice (the first dev wallet, the CLI's default here).
    const unbond = await net.cli(['node', 'unbond', '--data-dir', net.processByAddress(draining).dataDir])
    assert.equal(unbond.code, 0, unbond.stderr)
    await eventually(
      'the unbonding node drained',
      60_000,
      async () => {
        const v = await records()
        return positionsOn(v, draining) === 0 && fullyRedundant(v, new Set([draining]))
      },
      250,
    )
    // (The meta node's log reaches its file through the devnet's pipe: give it a moment.)
    await eventually('repairs logged', 10_000, () => repairLog().moved >= held)
    const log = repairLog()
    assert.equal(log.moved, held)
    assert.equal(log.copied, held, 'copied straight from the draining node')
    assert.equal(log.rebuilt, 0)
    await catAll('after the drain')
  })

  test('kill -9 a resource node past the grace period: its segments are repaired and every file reads byte-exact', async () => {
    const drained = repairLog()

    const count = new Map<string, number>()
    for (const v of await records())
      for (const seg of v.segments) for (const s of seg.shards) count.set(s.node, (count.get(s.node) ?? 0) + 1)
    const [victim] = [...count.entries()].sort((a, b) => b[1] - a[1])[0]
    const proc = net.processByAddress(victim)
    process.kill(proc.pid, 'SIGKILL')
    await waitDead(proc.pid, 10_000)

    await eventually(
      'segments rebuilt off the killed node to full redundancy',
      60_000,
      async () => {
        for (const v of await records()) {
          for (const seg of v.segments) {
            const nodes = seg.shards.map((s) => s.node)
            if (new Set(nodes).size !== v.k + v.m) return false
            if (nodes.some((n) => n === victim || v.nodes[n]?.state !== 'online')) return false
          }
        }
        return true
      },
      250,
    )

    await eventually('repairs logged', 10_000, () => repairLog().moved - drained.moved >= count.get(victim)!)
    const log = repairLog()
    assert.equal(log.rebuilt - drained.rebuilt, count.get(victim), 'a dead node cannot be copied from: rebuilt')
    assert.equal(log.copied, drained.copied)
    await catAll('after the repair')

    // The rebuilt shards are sound: with m = 2 more nodes killed, every segment still decodes.
    const survivors = net.resources.filter((p) => p.address !== victim && p.address !== draining).slice(0, 2)
    for (const p of survivors) process.kill(p.pid, 'SIGKILL')
    for (const p of survivors) await waitDead(p.pid, 10_000)
    await catAll('with two more nodes down')
  })
})
