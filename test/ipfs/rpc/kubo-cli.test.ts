/**
 * The real Kubo CLI (v0.43.1, `npm run setup:kubo` builds it into .tools/bin) as a client of our RPC API
 * (`ipfs --api /ip4/127.0.0.1/tcp/PORT …`) against an in-process network (meta node + 6 resource nodes), and CARs
 * moved both ways between Kubo's own offline repo and our network.
 *
 * Without the binary this test skips with one line, except under CI=true, where it must run (.ci/run builds Kubo).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startNetwork, patternBytes, wallet, CHAIN_ID, type TestNetwork } from '../../sds/network.ts'
import { startIpfsRpcApi, type IpfsRpcApi } from '../../../src/ipfs/rpc/index.ts'

const KUBO = join(import.meta.dirname, '..', '..', '..', '.tools', 'bin', 'ipfs')
const missing = !existsSync(KUBO) && !process.env.CI
const skip = missing ? 'Kubo is not built: `npm run setup:kubo` builds it' : false
const run = promisify(execFile)

describe('the Kubo CLI against our RPC API', { skip }, () => {
  let net: TestNetwork
  let api: IpfsRpcApi
  let dir: string
  let apiAddr: string
  /** Kubo's own offline repo: the reference CIDs, and the other end of the CAR round trips. */
  let env: NodeJS.ProcessEnv

  /** `ipfs …` with our API (`--api`) or, with local=true, on Kubo's own offline repo. */
  async function ipfs(args: string[], o: { local?: boolean; encoding?: 'buffer' } = {}): Promise<Buffer> {
    const argv = o.local ? args : ['--api', apiAddr, ...args]
    const r = await run(KUBO, argv, { env, encoding: 'buffer', maxBuffer: 64 << 20 })
    return r.stdout
  }
  const text = async (args: string[], local = false): Promise<string> =>
    (await ipfs(args, { local })).toString('utf8').trim()

  before(async () => {
    net = await startNetwork({ segmentSize: 1 << 20 })
    dir = mkdtempSync(join(tmpdir(), 'stratos-kubo-cli-'))
    api = await startIpfsRpcApi({
      port: 0,
      metaUrl: net.meta.url,
      chainId: CHAIN_ID,
      wallet,
      dataDir: join(dir, 'api'),
    })
    apiAddr = `/ip4/127.0.0.1/tcp/${new URL(api.url).port}`
    env = { ...process.env, IPFS_PATH: join(dir, 'kubo-repo') }
    await run(KUBO, ['init', '--empty-repo'], { env })
  })

  after(async () => {
    await api?.stop()
    await net?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('add, cat, get, ls, block get|stat and pin add|ls|rm give what Kubo gives', async () => {
    const file = join(dir, 'file.bin')
    const bytes = patternBytes(3 * 1024 * 1024 + 777, 5)
    writeFileSync(file, bytes)
    const expected = await text(['add', '-Q', '--only-hash', file], true)
    const cid = await text(['add', '-Q', file])
    assert.equal(cid, expected, "Kubo's CID")
    assert.ok((await ipfs(['cat', cid])).equals(Buffer.from(bytes)))
    assert.ok(
      (await ipfs(['cat', '--offset', '1000000', '--length', '5000', cid])).equals(
        Buffer.from(bytes.subarray(1_000_000, 1_005_000)),
      ),
    )
    const out = join(dir, 'got.bin')
    await ipfs(['get', cid, '-o', out])
    assert.ok(readFileSync(out).equals(Buffer.from(bytes)))

    // A directory: Kubo's CID, its listing, and a file inside it by path.
    const tree = join(dir, 'tree')
    mkdirSync(join(tree, 'sub'), { recursive: true })
    writeFileSync(join(tree, 'a.txt'), 'hello world\n')
    writeFileSync(join(tree, 'sub', 'b.bin'), patternBytes(400_000, 9))
    const dirExpected = await text(['add', '-Q', '-r', '--only-hash', tree], true)
    const dirCid = await text(['add', '-Q', '-r', tree])
    assert.equal(dirCid, dirExpected)
    const ls = await text(['ls', dirCid])
    assert.match(ls, /^Qm\w+\s+12\s+a\.txt$/m)
    assert.match(ls, /^Qm\w+\s+-\s+sub\/$/m)
    assert.equal(await text(['cat', `${dirCid}/a.txt`]), 'hello world')

    // Blocks: the root block hashes to its CID; stat gives its size.
    const stat = await text(['block', 'stat', cid])
    const block = await ipfs(['block', 'get', cid])
    assert.match(stat, new RegExp(`^Key: ${cid}\\nSize: ${block.length}$`))

    // Pins.
    assert.match(await text(['pin', 'add', cid]), new RegExp(`pinned ${cid} recursively`))
    assert.match(await text(['pin', 'ls', '--type=recursive']), new RegExp(`^${cid} recursive$`, 'm'))
    assert.match(await text(['pin', 'rm', cid]), new RegExp(`unpinned ${cid}`))
    assert.doesNotMatch(await text(['pin', 'ls', '--type=recursive']), new RegExp(`^${cid} `, 'm'))
  })

  it("our CAR (dag export through the Kubo CLI) imports into Kubo's repo and reads back byte-exact", async () => {
    const file = join(dir, 'ours.bin')
    const bytes = patternBytes(2 * 1024 * 1024 + 99, 21)
    writeFileSync(file, bytes)
    const cid = await text(['add', '-Q', file])
    const car = await ipfs(['dag', 'export', cid])
    const carFile = join(dir, 'ours.car')
    writeFileSync(carFile, car)
    assert.match(await text(['dag', 'import', carFile], true), new RegExp(`Pinned root\\s+${cid}\\s+success`))
    assert.ok((await ipfs(['cat', '--offline', cid], { local: true })).equals(Buffer.from(bytes)))
  })

  it("Kubo's CAR imports into our network (dag import) and reads back byte-exact; a trickle DAG is refused", async () => {
    const file = join(dir, 'theirs.bin')
    const bytes = patternBytes(2 * 1024 * 1024 + 12_345, 33)
    writeFileSync(file, bytes)
    for (const flags of [[], ['--cid-version', '1'], ['--raw-leaves']]) {
      const cid = await text(['add', '-Q', ...flags, file], true)
      const carFile = join(dir, `theirs-${flags.join('')}.car`)
      writeFileSync(carFile, await ipfs(['dag', 'export', cid], { local: true }))
      const out = await text(['dag', 'import', '--stats', carFile])
      assert.match(out, new RegExp(`Pinned root\\s+${cid}\\s+success`), flags.join(' '))
      assert.ok((await ipfs(['cat', cid])).equals(Buffer.from(bytes)), flags.join(' '))
      assert.match(await text(['pin', 'ls', '--type=recursive']), new RegExp(`^${cid} recursive$`, 'm'))
    }
    const trickle = await text(['add', '-Q', '--trickle', file], true)
    const carFile = join(dir, 'trickle.car')
    writeFileSync(carFile, await ipfs(['dag', 'export', trickle], { local: true }))
    // Refused (the CLI exits non-zero), nothing pinned under that root, and the root is not readable here.
    await assert.rejects(ipfs(['dag', 'import', carFile]), (e: { code?: number }) => e.code === 1)
    assert.doesNotMatch(await text(['pin', 'ls', '--type=recursive']), new RegExp(`^${trickle} `, 'm'))
    await assert.rejects(ipfs(['cat', trickle]), (e: { code?: number }) => e.code === 1)
  })
})
