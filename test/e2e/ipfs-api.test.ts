/**
 * The IPFS RPC API as `stratos devnet` runs it: the gateway process serves /api/v0 on port base + 1,
 * devnet.json names it, kubo-rpc-client (unchanged) adds, cats, lists and pins through it, and the CLI
 * reads what it stored. The in-process interop test (test/ipfs/rpc) covers the commands in depth.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { portsFromBase } from '../../src/limits.ts'
import { TestDevnet } from './harness.ts'

// kubo-rpc-client's dependencies use Promise.withResolvers (Node 22+); Node 20 needs this polyfill first.
const P = Promise as unknown as { withResolvers?: () => unknown }
P.withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
const { create } = await import('kubo-rpc-client')

describe('IPFS RPC API on a devnet', () => {
  let net: TestDevnet

  before(async () => {
    net = await TestDevnet.start()
  })

  after(async () => {
    await net?.destroy()
  })

  test('devnet.json names the API; kubo-rpc-client adds, cats, lists and pins; the CLI reads it back', async () => {
    assert.equal(net.network.ipfsApiUrl, `http://127.0.0.1:${portsFromBase(net.portBase).ipfsApi}`)
    const ipfs = create({ url: `${net.network.ipfsApiUrl}/api/v0` })
    const { cid } = await ipfs.add('hello world\n')
    assert.equal(cid.toString(), 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o')
    const parts: Uint8Array[] = []
    for await (const p of ipfs.cat(cid)) parts.push(p)
    assert.equal(Buffer.concat(parts).toString(), 'hello world\n')
    const pins = []
    for await (const p of ipfs.pin.ls()) pins.push(p.cid.toString())
    assert.deepEqual(pins, [cid.toString()])
    // Stored by the gateway's wallet (alice), readable by any client.
    const got = await net.cli(['cat', cid.toString()])
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.stdout.toString(), 'hello world\n')
    const get = await fetch(`${net.network.ipfsApiUrl}/api/v0/version`)
    assert.equal(get.status, 405)
  })
})
