/**
 * Partitions on test hosts (every process in its own network namespace, netns.ts):
 *   - a client cut off from 2 of the 6 resource nodes holding a file still reads it byte-exact (any k of k+m);
 *   - a resource node cut off from the network is marked offline and its shards are rebuilt elsewhere, as if it were
 *     dead; once healed it catches up: the shards of a file deleted while it was away are deleted, and the shards
 *     that were repaired elsewhere are garbage-collected — nothing the index no longer references stays on its disk;
 *     meanwhile the meta node's /metrics count it offline, and once healed its /readyz is 200 again.
 * Timings (detection, repair, catch-up) are printed as `# measured` lines for docs/operations.md.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { StratosClient, type PutResult } from '../../src/sds/client/index.ts'
import type { FileRecordView } from '../../src/sds/protocol/api.ts'
import { eventually, shardFiles } from '../e2e/harness.ts'
import { HostDevnet } from './devnet.ts'
import { skipWithoutHosts, type TestHost } from './netns.ts'

const KiB = 1024
const SEGMENT = 256 * KiB

function measured(what: string, ms: number): void {
  console.log(`# measured ${what}: ${ms} ms`)
}

describe('partitions on test hosts', { skip: skipWithoutHosts() }, () => {
  let d: HostDevnet
  let work: string
  let client: TestHost
  let owner: StratosClient
  let meta: MetaClient

  const put = async (datas: Buffer[]): Promise<{ cid: string; data: Buffer }[]> => {
    const paths = datas.map((data) => {
      const p = join(work, `${randomBytes(6).toString('hex')}.bin`)
      writeFileSync(p, data)
      return p
    })
    const r = await d.cli(client, ['put', '--json', ...paths])
    assert.equal(r.code, 0, r.stderr)
    // One file prints one result, several an array.
    const out = JSON.parse(r.stdout.toString()) as PutResult | PutResult[]
    return (Array.isArray(out) ? out : [out]).map((x, i) => ({ cid: x.cid, data: datas[i]! }))
  }
  const catExact = async (f: { cid: string; data: Buffer }, what: string): Promise<void> => {
    const r = await d.cli(client, ['cat', f.cid])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.equals(f.data), `bytes of ${f.cid} ${what}`)
  }
  const nodesOf = (v: FileRecordView): Set<string> =>
    new Set(v.segments.flatMap((seg) => seg.shards.map((s) => s.node)))
  const shardIdsOn = (v: FileRecordView, node: string): string[] =>
    v.segments.flatMap((seg) => seg.shards.filter((s) => s.node === node).map((s) => s.id))
  const processOf = (address: string) => d.resources.find((p) => p.address === address)!

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-partition-'))
    // 7 resource nodes for k + m = 6: a cut-off node's shards have somewhere to go.
    d = await HostDevnet.start({
      resources: 7,
      segmentSize: SEGMENT,
      heartbeatIntervalMs: 200,
      offlineAfterMs: 1_000,
      repairGraceMs: 1_000,
      repairCheckIntervalMs: 250,
    })
    client = d.addClient('client')
    meta = new MetaClient(d.network.meta.url)
    owner = await StratosClient.connect({
      metaUrl: d.network.meta.url,
      wallet: WalletKey.fromMnemonic(d.network.wallets[0]!.mnemonic),
    })
  })

  after(async () => {
    await owner?.close()
    await d?.close()
    rmSync(work, { recursive: true, force: true })
  })

  test('every process listens on its own host address, not loopback', () => {
    const ips = new Set<string>()
    for (const p of d.network.processes) {
      const host = d.host(p.name)
      assert.equal(new URL(p.url).hostname, host.ip, `${p.name} is reached at its host's address`)
      ips.add(host.ip)
    }
    assert.equal(ips.size, d.network.processes.length)
  })

  test('a client cut off from 2 of the 6 nodes holding a file still reads it byte-exact', async () => {
    const [file] = await put([randomBytes(3 * SEGMENT + 777)])
    const view = await owner.stat(file!.cid)
    // The two nodes holding the first segment's first two data shards: the read has to decode.
    const cutOff = view.segments[0]!.shards.slice(0, 2).map((s) => d.host(processOf(s.node).name))
    for (const h of cutOff) d.net.cutBetween(client, h)
    try {
      const t0 = Date.now()
      await catExact(file!, 'with 2 of 6 nodes unreachable')
      measured('read of a 3-segment file with 2 of 6 nodes unreachable from the client', Date.now() - t0)
    } finally {
      for (const h of cutOff) d.net.healBetween(client, h)
    }
    const t1 = Date.now()
    await catExact(file!, 'after healing')
    measured('the same read with every node reachable', Date.now() - t1)
  })

  test('a node cut off is marked offline and repaired as if dead; healed, it catches up (missed deletes, GC)', async () => {
    const [kept, deleted] = await put([randomBytes(2 * SEGMENT + 99), randomBytes(SEGMENT + 5)])
    const [keptView, deletedView] = [await owner.stat(kept!.cid), await owner.stat(deleted!.cid)]
    // A node holding shards of both files.
    const victimAddress = [...nodesOf(keptView)].find((n) => nodesOf(deletedView).has(n))
    assert.ok(victimAddress, 'some node holds shards of both files')
    const victim = processOf(victimAddress)
    const victimHost = d.host(victim.name)
    const keptIds = shardIdsOn(keptView, victimAddress)
    const deletedIds = shardIdsOn(deletedView, victimAddress)
    const onDisk = (): Set<string> => new Set(shardFiles(victim.dataDir).map((p) => p.split('/').at(-1)!))
    for (const id of [...keptIds, ...deletedIds]) assert.ok(onDisk().has(id), 'the victim holds its shards')

    const cutAt = Date.now()
    d.net.cut(victimHost)
    await eventually(
      'the meta node sees the cut-off node offline',
      30_000,
      async () => (await meta.nodes()).find((n) => n.address === victimAddress)?.state === 'offline',
      50,
    )
    measured('cut-off resource node marked offline (offline-after 1000 ms, heartbeat 200 ms)', Date.now() - cutAt)
    // Operators see it: the meta node's metrics count one node offline.
    const metrics = await (await fetch(`${d.network.meta.url}/metrics`)).text()
    assert.match(metrics, /^stratos_meta_nodes\{[^}]*state="offline"[^}]*\} 1$/m)

    // Deleted while the node cannot hear about it.
    const rm = await d.cli(client, ['rm', deleted!.cid])
    assert.equal(rm.code, 0, rm.stderr)

    await eventually(
      'the kept file repaired off the cut-off node to full redundancy',
      90_000,
      async () => {
        const v = await owner.stat(kept!.cid)
        return v.segments.every((seg) => {
          const nodes = seg.shards.map((s) => s.node)
          return (
            new Set(nodes).size === v.k + v.m &&
            nodes.every((n) => n !== victimAddress && v.nodes[n]?.state === 'online')
          )
        })
      },
      100,
    )
    measured('cut-off node repaired as if dead (grace 1000 ms)', Date.now() - cutAt)
    await catExact(kept!, 'after repair, with the victim still cut off')
    // Still cut off: its disk has not changed.
    for (const id of [...keptIds, ...deletedIds]) assert.ok(onDisk().has(id), 'a cut-off node cannot be told anything')

    const healAt = Date.now()
    d.net.heal(victimHost)
    await eventually(
      'the healed node online again',
      30_000,
      async () => (await meta.nodes()).find((n) => n.address === victimAddress)?.state === 'online',
      50,
    )
    measured('healed node online again', Date.now() - healAt)
    // Healed, it is ready again: its meta node acknowledges its heartbeats.
    await eventually('the healed node ready', 10_000, async () => (await fetch(`${victim.url}/readyz`)).status === 200)
    await eventually(
      'the healed node deleted what it missed and what was repaired elsewhere',
      30_000,
      () => {
        const disk = onDisk()
        return [...keptIds, ...deletedIds].every((id) => !disk.has(id))
      },
      50,
    )
    measured('healed node caught up (missed deletes + GC of repaired shards)', Date.now() - healAt)
    await catExact(kept!, 'after the healed node caught up')
  })
})
