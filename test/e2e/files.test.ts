/**
 * End to end through the real CLI against a real multi-process devnet: upload, read back
 * byte-exact, list, stat, delete (and garbage collection on the nodes), the gateway API,
 * bad input, ownership, a corrupt shard, interrupted and killed uploads, and m nodes killed.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  closeSync,
  writeSync,
  fstatSync,
  writeFileSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FileRecordView, FileSummary } from '../../src/sds/protocol/api.ts'
import { StratosClient, type PutResult } from '../../src/sds/client/index.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { ERROR_CODES, TestDevnet, collect, eventually, findShard, shardFiles, waitDead } from './harness.ts'

const MiB = 1024 * 1024
const SEGMENT = MiB
// Short, so orphans of a killed upload go quickly; long enough for a small upload on a loaded machine.
const SESSION_TTL_MS = 8_000

describe('stratos CLI on a devnet', () => {
  let net: TestDevnet
  let work: string
  /** The CLI's default wallet (alice) through the SDK: listing a wallet's files needs its session. */
  let owner: StratosClient
  /** cid → expected bytes, for every file that must stay readable. */
  const live = new Map<string, Buffer>()

  const file = (name: string, data: Buffer): string => {
    const p = join(work, name)
    writeFileSync(p, data)
    return p
  }
  const totalShardFiles = () => net.resources.reduce((n, r) => n + shardFiles(r.dataDir).length, 0)
  const assertFails = (r: { code: number | null; stderr: string }, code: keyof typeof ERROR_CODES) => {
    assert.equal(
      r.code,
      ERROR_CODES[code].exit,
      `expected exit ${ERROR_CODES[code].exit} (${code}), got ${r.code}: ${r.stderr}`,
    )
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`)
    assert.match(lines[0], new RegExp(`^error: .*\\(${code}\\)$`))
  }
  /** A quick read through the gateway (no CLI process start). */
  const gatewayRead = async (cid: string): Promise<{ status: number; body: Buffer }> => {
    const r = await fetch(`${net.network.gatewayUrl}/ipfs/${cid}`)
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) }
  }
  const cat = async (cid: string, extra: string[] = []): Promise<Buffer> => {
    const r = await net.cli(['cat', cid, ...extra])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stratos-e2e-files-'))
    net = await TestDevnet.start({
      segmentSize: SEGMENT,
      extra: ['--session-ttl-ms', String(SESSION_TTL_MS), '--sweep-interval-ms', '500'],
    })
    owner = await StratosClient.connect({
      metaUrl: net.network.meta.url,
      wallet: WalletKey.fromMnemonic(net.network.wallets[0]!.mnemonic),
    })
  })

  after(async () => {
    await owner?.close()
    await net?.destroy()
    rmSync(work, { recursive: true, force: true })
  })

  test('devnet.json describes every process and dev wallet', () => {
    const n = net.network
    assert.equal(n.processes.filter((p) => p.role === 'resource').length, 6)
    assert.equal(n.processes.filter((p) => p.role === 'meta').length, 1)
    assert.equal(n.processes.filter((p) => p.role === 'gateway').length, 1)
    assert.deepEqual(
      n.wallets.map((w) => w.name),
      ['alice', 'bob', 'carol', 'gateway'],
    )
    // The gateway (its IPFS RPC API) signs with its own wallet, never the CLI's default (alice).
    assert.equal(n.processes.find((p) => p.role === 'gateway')?.address, n.wallets[3]!.address)
    assert.match(n.meta.address, /^stsds1/)
    for (const p of n.processes) assert.ok(p.pid > 0 && existsSync(p.log))
  })

  test('put, cat, get byte-exact: empty, small and multi-segment files', async () => {
    const empty = Buffer.alloc(0)
    const small = randomBytes(1000)
    const multi = randomBytes(2 * SEGMENT + SEGMENT / 2 + 123)
    // --public: the gateway test below reads small.bin through /ipfs/ (anonymous: public files only).
    const r = await net.cli([
      'put',
      '--json',
      '--public',
      file('empty.bin', empty),
      file('small.bin', small),
      file('multi.bin', multi),
    ])
    assert.equal(r.code, 0, r.stderr)
    const results = JSON.parse(r.stdout.toString()) as PutResult[]
    assert.equal(results.length, 3)
    assert.deepEqual(
      results.map((x) => x.size),
      [0, 1000, multi.length],
    )
    assert.equal(results[2].segments, 3)
    // Kubo's CID for an empty file with default settings.
    assert.equal(results[0].cid, 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
    for (const [i, x] of results.entries()) live.set(x.cid, [empty, small, multi][i])

    const out = join(work, 'multi.out')
    const getting = net.cli(['get', results[2].cid, '-o', out])
    const [c0, c1, c2, range] = await Promise.all([
      ...results.map((x) => cat(x.cid)),
      cat(results[2].cid, ['--offset', String(SEGMENT - 10), '--length', String(SEGMENT + 20)]),
    ])
    const g = await getting
    assert.ok(c0.equals(empty) && c1.equals(small) && c2.equals(multi))
    assert.ok(range.equals(multi.subarray(SEGMENT - 10, 2 * SEGMENT + 10)))
    assert.equal(g.code, 0, g.stderr)
    assert.ok(readFileSync(out).equals(multi))
  })

  test('stat and ls show the uploaded files', async () => {
    const [cid] = [...live.keys()].filter((c) => live.get(c)!.length > SEGMENT)
    const [s, l, human] = await Promise.all([
      net.cli(['stat', cid, '--json']),
      net.cli(['ls', '--json']),
      net.cli(['status']),
    ])
    assert.equal(s.code, 0, s.stderr)
    const rec = JSON.parse(s.stdout.toString()) as FileRecordView
    assert.equal(rec.cid, cid)
    assert.equal(rec.size, live.get(cid)!.length)
    assert.equal(rec.segments.length, 3)
    assert.deepEqual([rec.k, rec.m], [4, 2])
    assert.deepEqual(rec.owners, [net.network.wallets[0].address])
    for (const seg of rec.segments)
      assert.equal(new Set(seg.shards.map((x) => x.node)).size, 6, 'each shard of a segment on its own node')

    assert.equal(l.code, 0, l.stderr)
    const listed = (JSON.parse(l.stdout.toString()) as { files: FileSummary[] }).files
    assert.deepEqual(new Set(listed.map((f) => f.cid)), new Set(live.keys()))
    assert.equal(listed.find((f) => f.cid === cid)?.name, 'multi.bin')

    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout.toString(), /resource-1 .* online/)
    assert.match(human.stdout.toString(), /6 online, 0 offline/)
  })

  test('a directory uploads as a UnixFS directory and downloads as one', async () => {
    const dir = join(work, 'album')
    mkdirSync(join(dir, 'sub'), { recursive: true })
    const a = randomBytes(3000),
      b = randomBytes(70_000)
    writeFileSync(join(dir, 'a.txt'), a)
    writeFileSync(join(dir, 'sub', 'b.bin'), b)
    const r = await net.cli(['put', dir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const res = JSON.parse(r.stdout.toString()) as PutResult
    assert.equal(res.kind, 'directory')
    const out = join(work, 'album.out')
    const g = await net.cli(['get', res.cid, '-o', out])
    assert.equal(g.code, 0, g.stderr)
    assert.ok(readFileSync(join(out, 'a.txt')).equals(a))
    assert.ok(readFileSync(join(out, 'sub', 'b.bin')).equals(b))
  })

  test('bad input: malformed CID, unknown CID, missing file — one line, stable exit codes', async () => {
    const [malformed, unknown, missing] = await Promise.all([
      net.cli(['cat', 'not-a-cid']),
      net.cli(['cat', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG']),
      net.cli(['put', join(work, 'does-not-exist')]),
    ])
    assertFails(malformed, 'INVALID_CID')
    assertFails(unknown, 'FILE_NOT_FOUND')
    assertFails(missing, 'NOT_FOUND')
  })

  test('the gateway serves files with ranges and accepts uploads', async () => {
    const gw = net.network.gatewayUrl
    const [cid, data] = [...live.entries()].find(([, d]) => d.length === 1000)!
    const full = await fetch(`${gw}/ipfs/${cid}`)
    assert.equal(full.status, 200)
    assert.equal(full.headers.get('content-length'), '1000')
    assert.equal(full.headers.get('etag'), `"${cid}"`)
    assert.equal(full.headers.get('accept-ranges'), 'bytes')
    assert.ok(Buffer.from(await full.arrayBuffer()).equals(data))
    const part = await fetch(`${gw}/ipfs/${cid}`, { headers: { range: 'bytes=100-199' } })
    assert.equal(part.status, 206)
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/1000')
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200)))
    const suffix = await fetch(`${gw}/ipfs/${cid}`, { headers: { range: 'bytes=-10' } })
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(990)))
    const bad = await fetch(`${gw}/ipfs/${cid}`, { headers: { range: 'bytes=5000-' } })
    assert.equal(bad.status, 416)
    assert.equal(bad.headers.get('content-range'), 'bytes */1000')
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'RANGE_NOT_SATISFIABLE')
    const head = await fetch(`${gw}/ipfs/${cid}`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), '1000')
    const notFound = await fetch(`${gw}/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG`)
    assert.equal(notFound.status, 404)
    assert.equal(((await notFound.json()) as { error: { code: string } }).error.code, 'FILE_NOT_FOUND')
    const invalid = await fetch(`${gw}/ipfs/nope`)
    assert.equal(((await invalid.json()) as { error: { code: string } }).error.code, 'INVALID_CID')

    const body = randomBytes(SEGMENT + 5)
    const added = await fetch(`${gw}/api/v1/add?name=via-gateway.bin`, { method: 'POST', body })
    assert.equal(added.status, 200)
    const { cid: newCid, size } = (await added.json()) as { cid: string; size: number }
    assert.equal(size, body.length)
    live.set(newCid, body)
    assert.ok((await cat(newCid)).equals(body))
    const status = await fetch(`${gw}/api/v1/status`)
    assert.equal(((await status.json()) as { totals: { nodesOnline: number } }).totals.nodesOnline, 6)
  })

  test('rm: a non-owner is refused; the owner deletes, reads fail, shards leave the nodes', async () => {
    const data = randomBytes(300_000)
    const p = await net.cli(['put', file('doomed.bin', data), '--json', '--public']) // read through the gateway below
    assert.equal(p.code, 0, p.stderr)
    const { cid } = JSON.parse(p.stdout.toString()) as PutResult
    const rec = JSON.parse((await net.cli(['stat', cid, '--json'])).stdout.toString()) as FileRecordView
    const shards = rec.segments
      .flatMap((s) => s.shards)
      .map((s) => ({ id: s.id, dataDir: net.processByAddress(s.node).dataDir }))
    for (const s of shards) assert.equal(findShard(s.dataDir, s.id).length, 1, 'shard stored on its node')

    assertFails(await net.cli(['rm', cid, '--wallet', 'bob']), 'NOT_OWNER')
    assert.ok((await gatewayRead(cid)).body.equals(data), 'still readable after a refused rm')

    const rm = await net.cli(['rm', cid])
    assert.equal(rm.code, 0, rm.stderr)
    assertFails(await net.cli(['cat', cid]), 'FILE_NOT_FOUND')
    assert.equal((await gatewayRead(cid)).status, 404)
    await eventually('deleted shards removed from the nodes', 15_000, () =>
      shards.every((s) => findShard(s.dataDir, s.id).length === 0),
    )
  })

  test('a corrupt shard on disk: reads stay byte-exact and the node quarantines and reports it', async () => {
    const data = randomBytes(600_000)
    const p = await net.cli(['put', file('fragile.bin', data), '--json', '--public']) // read through the gateway below
    assert.equal(p.code, 0, p.stderr)
    const { cid } = JSON.parse(p.stdout.toString()) as PutResult
    const rec = JSON.parse((await net.cli(['stat', cid, '--json'])).stdout.toString()) as FileRecordView
    const victim = rec.segments[0].shards[0] // a data shard: a healthy read needs it
    const node = net.processByAddress(victim.node)
    const [path] = findShard(node.dataDir, victim.id)
    const fd = openSync(path, 'r+')
    try {
      const size = fstatSync(fd).size
      writeSync(fd, randomBytes(16), 0, 16, size - 1000) // inside the shard's data, past the header
    } finally {
      closeSync(fd)
    }
    assert.ok((await cat(cid)).equals(data), 'read is byte-exact despite the corrupt shard')
    await eventually('node quarantines the corrupt shard', 10_000, () =>
      existsSync(join(node.dataDir, 'corrupt', victim.id)),
    )
    assert.equal(findShard(node.dataDir, victim.id).length, 0)
    await eventually('node reported it to the meta node', 10_000, () =>
      readFileSync(net.process('meta').log, 'utf8').includes(victim.id),
    )
    assert.ok((await gatewayRead(cid)).body.equals(data), 'still byte-exact after the report')
    // Not added to `live`: with one shard gone, killing m more nodes (below) may leave fewer than k.
  })

  test('Ctrl-C during put aborts it (exit 130) and leaves no file behind', async () => {
    const big = file('interrupted.bin', randomBytes(40 * MiB))
    const before = await listNames(true)
    const baseline = totalShardFiles()
    const child = net.spawnCli(['put', big])
    const done = collect(child)
    await eventually('first shards stored', 30_000, () => totalShardFiles() > baseline, 50)
    child.kill('SIGINT')
    const r = await done
    assertFails(r, 'ABORTED')
    assert.deepEqual(await listNames(true), before)
    await eventually("aborted upload's shards released", 20_000, () => totalShardFiles() <= baseline, 250)
  })

  test('kill -9 of a put mid-way: no file appears, and no orphan shard survives the session TTL', async () => {
    const big = file('killed.bin', randomBytes(40 * MiB))
    const before = await listNames(true)
    const baseline = totalShardFiles()
    const child = net.spawnCli(['put', big])
    const done = collect(child)
    await eventually('first shards stored', 30_000, () => totalShardFiles() >= baseline + 6, 50)
    child.kill('SIGKILL')
    await done
    assert.ok(totalShardFiles() > baseline, 'the killed upload left shards behind for the sweep to find')
    assert.deepEqual(await listNames(), before, 'no file appears in ls')
    await eventually(
      'orphan shards deleted after the session TTL',
      SESSION_TTL_MS + 20_000,
      () => totalShardFiles() <= baseline,
      250,
    )
    assert.deepEqual(await listNames(true), before)
  })

  test('kill -9 of m resource nodes: every file still reads byte-exact', async () => {
    const victims = net.resources.slice(0, 2)
    for (const v of victims) process.kill(v.pid, 'SIGKILL')
    for (const v of victims) await waitDead(v.pid, 5_000)
    await sleep(100)
    const reads = await Promise.all([...live.keys()].map((cid) => net.cli(['cat', cid])))
    ;[...live.values()].forEach((data, i) => {
      assert.equal(reads[i].code, 0, reads[i].stderr)
      assert.ok(reads[i].stdout.equals(data), 'byte-exact with 2 of 6 nodes dead')
    })
  })

  /** The owner's files as the CLI lists them (or, for quick polls, as the meta node's API does for the owner's SDK session). */
  async function listNames(viaApi = false): Promise<string[]> {
    if (viaApi) return (await owner.ls()).map((f) => f.cid).sort()
    const l = await net.cli(['ls', '--json'])
    assert.equal(l.code, 0, l.stderr)
    return (JSON.parse(l.stdout.toString()) as { files: FileSummary[] }).files.map((f) => f.cid).sort()
  }
})
