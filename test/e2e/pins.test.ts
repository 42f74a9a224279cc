/**
 * Kubo pin semantics on a real devnet (separate processes): a file uploaded with the CLI survives `pin/add`,
 * `pin/rm` and `repo/gc` through the gateway's IPFS RPC API; a file added through the API and unpinned is kept by
 * `repo/gc` within its grace period (24 h by default). Collection after the grace period, with an injected clock,
 * is covered against a real meta node by test/ipfs/rpc/gc-network.test.ts.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { TestDevnet } from './harness.ts'

describe('pins and garbage collection on a devnet', () => {
  let net: TestDevnet
  let work: string

  before(async () => {
    net = await TestDevnet.start()
    work = mkdtempSync(join(tmpdir(), 'stratos-pins-'))
  })

  after(async () => {
    await net?.destroy()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  const rpc = async (path: string, init: { body?: FormData } = {}): Promise<string> => {
    const res = await fetch(`${net.network.ipfsApiUrl}/api/v0/${path}`, {
      method: 'POST',
      ...(init.body ? { body: init.body } : {}),
    })
    const text = await res.text()
    assert.equal(res.status, 200, `${path}: ${text}`)
    return text
  }

  const cat = async (cid: string): Promise<Buffer> => {
    const r = await net.cli(['cat', cid])
    assert.equal(r.code, 0, r.stderr)
    return r.stdout
  }

  test('a CLI upload survives pin/add, pin/rm and repo/gc; an RPC add is kept within its grace period', async () => {
    const data = randomBytes(300_000)
    const path = join(work, 'cli.bin')
    writeFileSync(path, data)
    const put = await net.cli(['put', '--public', '--json', path])
    assert.equal(put.code, 0, put.stderr)
    const out = JSON.parse(put.stdout.toString()) as { cid: string } | { cid: string }[]
    const cid = Array.isArray(out) ? out[0].cid : out.cid
    assert.deepEqual(JSON.parse(await rpc(`pin/add?arg=${cid}`)), { Pins: [cid] })
    assert.deepEqual(JSON.parse(await rpc(`pin/rm?arg=${cid}`)), { Pins: [cid] })
    assert.equal(await rpc('repo/gc'), '')
    assert.ok((await cat(cid)).equals(data))

    const added = randomBytes(200_000)
    const form = new FormData()
    form.append('file', new Blob([added]), 'rpc.bin')
    const events = (await rpc('add', { body: form }))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Hash: string })
    const rpcCid = events.at(-1)!.Hash
    await rpc(`pin/rm?arg=${rpcCid}`)
    assert.equal(await rpc('repo/gc'), '')
    assert.ok((await cat(rpcCid)).equals(added))
  })
})
