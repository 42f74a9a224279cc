/**
 * Uploads keep working when nodes die, on a real multi-process devnet (8 resource nodes for k=4, m=2, its
 * supervisor on, as `stratos devnet` runs by default):
 *   - a devnet directory from before the gateway had its own wallet starts: the new `gateway` wallet is funded
 *     from alice, and the IPFS RPC API stores files as that wallet, never as the CLI's (alice);
 *   - kill -9 of a resource node: a put right away succeeds (the dead node's shards go to a spare node while the
 *     meta node still counts it online), reads are byte-exact, and the node comes back by itself under a new pid
 *     in devnet.json and is online again within seconds;
 *   - too few live nodes: the RPC API answers NOT_ENOUGH_NODES as a Kubo-style 503, not a bare 500;
 *   - Ctrl-C stops every process, including restarted ones, and restarts nothing.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeDevnetGenesis } from '../../src/devnet/devnet.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { DEVNET_CHAIN_ID, DEVNET_GATEWAY_FUND_STOS } from '../../src/limits.ts'
import { StratosClient } from '../../src/sds/client/index.ts'
import type { NodeView } from '../../src/sds/protocol/api.ts'
import type { ProgressEvent } from '../../src/sds/client/types.ts'
import { eventually, isAlive, TestDevnet, waitDead } from './harness.ts'

const KiB = 1024
const RESOURCES = 8
const SEGMENT = 256 * KiB

async function nodes(net: TestDevnet): Promise<NodeView[]> {
  const r = await fetch(`${net.network.meta.url}/v1/nodes`)
  assert.equal(r.status, 200)
  return ((await r.json()) as { nodes: NodeView[] }).nodes
}

/** POST /api/v0/add with one file, as any Kubo client sends it (multipart/form-data). */
async function rpcAdd(net: TestDevnet, data: Uint8Array, name: string): Promise<Response> {
  const form = new FormData()
  form.append('file', new Blob([data]), name)
  return await fetch(`${net.network.ipfsApiUrl}/api/v0/add`, { method: 'POST', body: form })
}

async function listed(net: TestDevnet, wallet?: string): Promise<string[]> {
  const r = await net.cli(['ls', '--json', ...(wallet ? ['--wallet', wallet] : [])])
  assert.equal(r.code, 0, r.stderr)
  return (JSON.parse(r.stdout.toString()) as { files: { cid: string }[] }).files.map((f) => f.cid)
}

describe('devnet: nodes that die', () => {
  let net: TestDevnet
  const oldWallets = ['alice', 'bob', 'carol'].map((name) => ({ name, mnemonic: WalletKey.generateMnemonic() }))

  before(async () => {
    // A devnet directory as the previous version left it: three dev wallets, and a genesis that funds only them.
    const dir = mkdtempSync(join(tmpdir(), 'stratos-e2e-'))
    writeFileSync(join(dir, 'wallets.json'), JSON.stringify({ wallets: oldWallets }, null, 2), { mode: 0o600 })
    writeDevnetGenesis(
      join(dir, 'validator'),
      DEVNET_CHAIN_ID,
      oldWallets.map((w) => ({ address: WalletKey.fromMnemonic(w.mnemonic).address })),
      join(dir, 'meta'),
      Array.from({ length: RESOURCES }, (_, i) => join(dir, `resource-${i + 1}`)),
    )
    net = await TestDevnet.start({ dir, resources: RESOURCES, k: 4, m: 2, segmentSize: SEGMENT, restart: true })
  })

  after(async () => {
    await net?.destroy()
  })

  test('an older devnet dir starts; the gateway holds its own funded wallet and the RPC API stores as it, not as alice', async () => {
    const w = net.network.wallets
    assert.deepEqual(
      w.map((x) => x.name),
      ['alice', 'bob', 'carol', 'gateway'],
    )
    assert.deepEqual(
      w.slice(0, 3).map((x) => x.mnemonic),
      oldWallets.map((x) => x.mnemonic),
      'existing wallets kept',
    )
    const gatewayWallet = w[3]!
    assert.equal(net.process('gateway').address, gatewayWallet.address)
    assert.notEqual(net.process('gateway').address, w[0]!.address)
    assert.match(net.stderr, new RegExp(`sent ${DEVNET_GATEWAY_FUND_STOS} STOS from alice to the gateway wallet`))

    const data = randomBytes(40 * KiB)
    const r = await rpcAdd(net, data, 'via-rpc.bin')
    const text = await r.text()
    assert.equal(r.status, 200, text)
    const cid = (JSON.parse(text.trim().split('\n').at(-1)!) as { Hash: string }).Hash
    assert.ok((await listed(net, 'gateway')).includes(cid), 'owned by the gateway wallet')
    assert.ok(!(await listed(net)).includes(cid), 'not by alice, the CLI user')
  })

  test('kill -9 a resource node: put right away succeeds, reads are byte-exact, the node comes back by itself', async () => {
    const victim = net.process('resource-3')
    const killedAt = Date.now()
    process.kill(victim.pid, 'SIGKILL')
    await waitDead(victim.pid, 5_000)

    // The meta node still counts the node online (its last heartbeat is fresh): the upload meets a dead node and
    // has the meta node place that shard elsewhere. 8 segments of 6 shards on 8 nodes: the dead one is all but sure
    // to be picked (each segment misses it with probability 1/4).
    const alice = WalletKey.fromMnemonic(net.network.wallets[0]!.mnemonic)
    const client = await StratosClient.connect({ metaUrl: net.network.meta.url, wallet: alice })
    const retries: string[] = []
    const data = randomBytes(8 * SEGMENT)
    let cid: string
    try {
      const put = await client.put(data, {
        onProgress: (e: ProgressEvent) => {
          if (e.type === 'upload:retry') retries.push(e.node)
        },
      })
      cid = put.cid
    } finally {
      await client.close()
    }
    const putDoneAt = Date.now()
    assert.ok(
      retries.includes(victim.address!),
      `the upload met the dead node and went around it (retries on ${retries.join(', ') || 'none'})`,
    )

    // The CLI too, right after another kill -9.
    const second = net.process('resource-6')
    const secondKilledAt = Date.now()
    process.kill(second.pid, 'SIGKILL')
    await waitDead(second.pid, 5_000)
    const cliData = randomBytes(5 * SEGMENT + 123)
    const put = await net.cli(['put', '-', '--json'], { input: cliData })
    assert.equal(put.code, 0, put.stderr)
    const cliCid = (JSON.parse(put.stdout.toString()) as { cid: string }).cid

    // Read back as their owner (alice) through the SDK, with both killed nodes possibly still down.
    const reader = await StratosClient.connect({ metaUrl: net.network.meta.url, wallet: alice })
    try {
      for (const [c, bytes] of [
        [cid, data],
        [cliCid, cliData],
      ] as const) {
        const out = join(net.dir, `read-${c}.bin`)
        await reader.get(c, out)
        assert.ok(readFileSync(out).equals(bytes), 'byte-exact')
      }
    } finally {
      await reader.close()
    }

    // Both come back by themselves: a new pid in devnet.json, alive, and heartbeating to the meta node again.
    const backAfterMs: number[] = []
    for (const [dead, at] of [
      [victim, killedAt],
      [second, secondKilledAt],
    ] as const) {
      let pid = dead.pid
      await eventually(
        `${dead.name} has a new pid in devnet.json`,
        15_000,
        () => {
          pid = net.reload().processes.find((p) => p.name === dead.name)!.pid
          return pid !== dead.pid && isAlive(pid)
        },
        100,
      )
      await eventually(
        `${dead.name} online again`,
        15_000,
        async () => {
          const view = (await nodes(net)).find((n) => n.address === dead.address)
          return view?.state === 'online' && view.lastSeen > at
        },
        100,
      )
      backAfterMs.push(Date.now() - at)
      assert.match(
        net.stderr,
        new RegExp(`${dead.name} \\(pid ${dead.pid}\\) exited with signal SIGKILL; restarting it in 1 s`),
      )
      assert.match(net.stderr, new RegExp(`${dead.name} restarted \\(pid ${pid}, was ${dead.pid}\\)`))
    }
    // The first is measured after the reads, so its figure is an upper bound; the second is close to the real one.
    for (const ms of backAfterMs) assert.ok(ms < 15_000, `back online ${ms} ms after its kill`)
    console.log(
      `# devnet-supervisor: upload with a dead node done ${putDoneAt - killedAt} ms after kill -9 (${retries.length} shard retries); back online ${backAfterMs.join(' and ')} ms after their kills`,
    )

    // The restarted node serves again: a new upload and read work with all 8 processes up.
    const again = await net.cli(['put', '-', '--json'], { input: cliData.subarray(0, 3 * SEGMENT) })
    assert.equal(again.code, 0, again.stderr)
  })

  test('too few live nodes: the IPFS RPC API answers NOT_ENOUGH_NODES as a Kubo-style 503', async () => {
    // SIGSTOP: alive to the supervisor, silent to the meta node. 3 of 8 leave 5 < k + m = 6.
    // Nodes the previous test did not kill (their pids are the ones devnet.json names now).
    net.reload()
    const frozen = ['resource-1', 'resource-2', 'resource-4'].map((name) => net.process(name))
    for (const p of frozen) process.kill(p.pid, 'SIGSTOP')
    try {
      await eventually(
        '3 nodes offline at the meta node',
        20_000,
        async () => (await nodes(net)).filter((n) => n.state === 'online').length <= RESOURCES - 3,
        250,
      )
      const r = await rpcAdd(net, randomBytes(40 * KiB), 'no-room.bin')
      assert.equal(r.status, 503)
      const body = (await r.json()) as { Message: string; Code: number; Type: string }
      assert.equal(body.Type, 'error')
      assert.equal(body.Code, 0)
      assert.match(
        body.Message,
        /^not enough storage nodes online to place the data; retry once more resource nodes are online \(NOT_ENOUGH_NODES: .*need 6 nodes/,
      )
    } finally {
      for (const p of frozen) process.kill(p.pid, 'SIGCONT')
    }
    await eventually(
      'all nodes online again',
      20_000,
      async () => (await nodes(net)).filter((n) => n.state === 'online').length === RESOURCES,
      250,
    )
    assert.equal(
      net.reload().processes.filter((p) => frozen.some((f) => f.name === p.name && f.pid === p.pid)).length,
      3,
      'stopped, not restarted',
    )
  })

  test('Ctrl-C stops every process, restarted ones included, and restarts nothing', async () => {
    const processes = net.reload().processes
    assert.equal(await net.stop(), 0)
    for (const p of processes) assert.equal(isAlive(p.pid), false, `${p.name} is gone`)
    const afterStop = net.stderr.slice(net.stderr.lastIndexOf('stopping all processes'))
    assert.doesNotMatch(afterStop, /restart/)
    assert.match(afterStop, /devnet: stopped/)
  })
})
