/**
 * End to end on a real multi-process devnet (validator, meta node, 7 resource nodes): flip bytes in every shard one
 * node holds, on disk. Audits catch it, the node's score drops, the corrupt shards are rebuilt elsewhere (every file
 * still reads byte-exact), the node is suspended at the meta node (no new data) and slashed on chain.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FileRecordView, NodeView } from '../../src/sds/protocol/api.ts'
import { StratosClient, type PutResult } from '../../src/sds/client/index.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { MetaClient } from '../../src/net/meta-client.ts'
import { jsonRequest } from '../../src/net/json-request.ts'
import { SHARD_CHUNK_BYTES } from '../../src/limits.ts'
import { SHARD_DATA_OFFSET } from '../../src/sds/resource/shard-file.ts'
import { TestDevnet, eventually, findShard } from './harness.ts'

const KiB = 1024
const SEGMENT = 256 * KiB

describe('audits on a devnet', () => {
  let net: TestDevnet
  let work: string
  /** The CLI's default wallet (alice), which uploads the files: a private file's record answers its owner only. */
  let owner: StratosClient

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-e2e-audit-'))
    net = await TestDevnet.start({
      resources: 7,
      k: 4,
      m: 2,
      segmentSize: SEGMENT,
      extra: [
        '--heartbeat-interval-ms',
        '200',
        '--audit-interval-ms',
        '200',
        '--audit-node-interval-ms',
        '0',
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

  test('flipped bytes on disk: caught by audits, rebuilt, node suspended and slashed, no new data for it', async () => {
    const datas = [randomBytes(6 * SEGMENT + 999), randomBytes(3 * SEGMENT)]
    const paths = datas.map((d, i) => {
      const p = join(work, `f${i}.bin`)
      writeFileSync(p, d)
      return p
    })
    const put = await net.cli(['put', '--json', ...paths])
    assert.equal(put.code, 0, put.stderr)
    const files = (JSON.parse(put.stdout.toString()) as PutResult[]).map((r, i) => ({ cid: r.cid, data: datas[i] }))
    const meta = new MetaClient(net.process('meta').url)
    const records = (): Promise<FileRecordView[]> => Promise.all(files.map((f) => owner.stat(f.cid)))

    const held = new Map<string, { id: string; size: number }[]>()
    for (const v of await records()) {
      for (const seg of v.segments)
        for (const s of seg.shards) held.set(s.node, [...(held.get(s.node) ?? []), { id: s.id, size: seg.shardSize }])
    }
    const [victim, shards] = [...held.entries()].sort((a, b) => b[1].length - a[1].length)[0]
    assert.ok(shards.length >= 6, `the victim holds ${shards.length} shards`)
    const dataDir = net.processByAddress(victim).dataDir
    for (const s of shards) {
      const [path] = findShard(dataDir, s.id)
      assert.ok(path, `shard file ${s.id}`)
      const fd = openSync(path, 'r+')
      for (let off = 0; off < s.size; off += SHARD_CHUNK_BYTES) {
        const b = Buffer.alloc(1)
        readSync(fd, b, 0, 1, SHARD_DATA_OFFSET + off + 7)
        b[0] ^= 0x5a
        writeSync(fd, b, 0, 1, SHARD_DATA_OFFSET + off + 7)
      }
      closeSync(fd)
    }

    const victimView = async (): Promise<NodeView> => (await meta.nodes()).find((n) => n.address === victim)!
    await eventually(
      'audits fail and the node is suspended at the meta node',
      60_000,
      async () => {
        const r = (await victimView()).reputation
        return r !== undefined && r.failedAudits >= 5 && r.state === 'suspended' && r.auditScore < 0.6
      },
      200,
    )

    const chainUrl = net.process('validator').url
    await eventually(
      'the node is slashed on chain',
      60_000,
      async () => {
        const nodes = await jsonRequest<{ node: string; status: string }[]>(`${chainUrl}/nodes/resource`, {
          method: 'GET',
        })
        return nodes.find((n) => n.node === victim)?.status === 'suspended'
      },
      250,
    )

    await eventually(
      'every shard rebuilt off the victim, full redundancy',
      90_000,
      async () => {
        for (const v of await records()) {
          for (const seg of v.segments) {
            const nodes = seg.shards.map((s) => s.node)
            if (new Set(nodes).size !== v.k + v.m || nodes.includes(victim)) return false
          }
        }
        return true
      },
      250,
    )

    for (const f of files) {
      const r = await net.cli(['cat', f.cid])
      assert.equal(r.code, 0, r.stderr)
      assert.ok(r.stdout.equals(f.data), `bytes of ${f.cid}`)
    }

    // No new data for the suspended node.
    const fresh = join(work, 'fresh.bin')
    writeFileSync(fresh, randomBytes(4 * SEGMENT))
    const put2 = await net.cli(['put', '--json', fresh])
    assert.equal(put2.code, 0, put2.stderr)
    const out = JSON.parse(put2.stdout.toString()) as PutResult | PutResult[]
    const rec = await owner.stat((Array.isArray(out) ? out[0] : out).cid)
    for (const seg of rec.segments)
      assert.ok(!seg.shards.some((s) => s.node === victim), 'nothing placed on the suspended node')
  })
})
