/**
 * Proof of Traffic end to end on a real local network (validator, meta node, 6 resource nodes as processes; the
 * devnet's 10-second epochs): a wallet without ozone is refused (exit 8) and succeeds after `stratos prepay`;
 * uploads are credited from their commits by the meta node, downloads settled by the resource nodes, both reported
 * by the meta node and charged on chain —
 * each payer's ozone drops by exactly the bytes its files moved (uploads: all k+m shards); each node's traffic
 * credit on chain is what the meta node accepted for it and covers the shards it stores; the epoch's rewards go
 * to the resource owner (alice), the meta owner (bob) and the validator (carol) by the chain's split; supply is
 * constant.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../src/chain-client/client.ts'
import { splitByBps } from '../../src/chain/economics.ts'
import { MINING_STAGES, TOTAL_SUPPLY_WEI, stos } from '../../src/chain/params.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import type { FileRecordView, FileTraffic, NodeTrafficList } from '../../src/sds/protocol/api.ts'
import { StratosClient } from '../../src/sds/client/index.ts'
import { ERROR_CODES, TestDevnet } from './harness.ts'

const MiB = 1024 * 1024

interface ReportJson {
  epoch: number
  creditedEpoch: number
  metaNode: string
  reportedBytes: string
  chargedBytes: string
  trafficReward: string
  nodes: { node: string; bytes: string }[]
}

let net: TestDevnet
let work: string
let chain: ChainClient

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'stratos-pot-e2e-'))
  // Resource nodes settle and the meta node credits PUTs every second (default 10 s) so the test waits for epochs, not
  // for settlement.
  net = await TestDevnet.start({
    resources: 6,
    k: 4,
    m: 2,
    segmentSize: MiB,
    extra: ['--order-settle-interval-ms', '1000'],
  })
  chain = new ChainClient({ url: net.network.chainUrl! })
})

after(async () => {
  await net?.destroy()
  rmSync(work, { recursive: true, force: true })
})

const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await sleep(500)
  }
}

/** Runs `stratos prepay AMOUNT` for `w`; returns the ozone it bought (from the tx's prepay event). */
async function prepay(w: WalletKey, amount: string): Promise<bigint> {
  const r = await net.cli(['prepay', amount, '--json', '--key', Buffer.from(w.privateKey).toString('hex')])
  assert.equal(r.code, 0, r.stderr)
  const { hash } = JSON.parse(r.stdout.toString()) as { hash: string }
  const tx = await chain.tx(hash)
  const ev = (tx.result.events as { type: string; attributes: { ozone: string } }[]).find((e) => e.type === 'prepay')!
  return BigInt(ev.attributes.ozone)
}

/** Prepay through the chain client (no CLI process): returns the ozone bought. */
async function prepayDirect(w: WalletKey, amount: bigint): Promise<bigint> {
  const r = await chain.submitAndWait(w, [{ type: 'prepay', amount }], { fee: DEFAULT_TX_FEE_WEI, wait: true })
  const tx = await chain.tx(r.hash)
  return BigInt(
    (tx.result.events as { type: string; attributes: { ozone: string } }[]).find((e) => e.type === 'prepay')!.attributes
      .ozone,
  )
}

function assertExit(r: { code: number | null; stderr: string }, code: keyof typeof ERROR_CODES): void {
  assert.equal(
    r.code,
    ERROR_CODES[code].exit,
    `expected exit ${ERROR_CODES[code].exit} (${code}), got ${r.code}: ${r.stderr}`,
  )
  assert.match(r.stderr, new RegExp(`\\(${code}\\)`))
  assert.match(r.stderr, /stratos prepay/)
}

/** Bytes an upload moves: every shard of every segment (k + m per segment). */
function putBytes(rec: FileRecordView): number {
  return rec.segments.reduce((a, s) => a + s.shardSize * s.shards.length, 0)
}

test('no ozone → refused; prepaid traffic is settled, reported, charged exactly and rewarded', async (t) => {
  const t0 = Date.now()
  const lap = (what: string) => t.diagnostic(`${what}: ${Date.now() - t0} ms`)
  const meta = net.network.meta.url
  const alice = WalletKey.fromMnemonic(net.network.wallets[0]!.mnemonic)
  // Two fresh payers with STOS but no ozone.
  const payers = [
    WalletKey.fromPrivateKeyHex(randomBytes(32).toString('hex')),
    WalletKey.fromPrivateKeyHex(randomBytes(32).toString('hex')),
  ]
  await chain.submitAndWait(
    alice,
    payers.map((p) => ({ type: 'send' as const, to: p.address, amount: stos(50) })),
    { fee: DEFAULT_TX_FEE_WEI, wait: true },
  )
  const key = (w: WalletKey): string[] => ['--key', Buffer.from(w.privateKey).toString('hex')]

  // Sizes whose segments are multiples of 4·8 bytes: data shards carry no padding, so a healthy read moves the file's size.
  const sizes = [3_000_000, 1_000_000]
  const paths = sizes.map((n, i) => {
    const p = join(work, `f${i}.bin`)
    writeFileSync(p, randomBytes(n))
    return p
  })

  // Uploads and reads that need no CLI exit code go through the SDK in this process (a CLI process start costs
  // seconds on a loaded machine).
  const sdkPut = async (w: WalletKey, path: string): Promise<string> => {
    const sdk = await StratosClient.connect({ metaUrl: meta, wallet: w })
    try {
      return (await sdk.put(readFileSync(path))).cid
    } finally {
      await sdk.close()
    }
  }
  // Files are private by default: each payer reads (and pays for) its own file as its owner.
  const sdkCat = async (w: WalletKey, cid: string): Promise<Buffer> => {
    const sdk = await StratosClient.connect({ metaUrl: meta, wallet: w })
    try {
      const parts: Uint8Array[] = []
      for await (const chunk of sdk.cat(cid)) parts.push(chunk)
      return Buffer.concat(parts)
    } finally {
      await sdk.close()
    }
  }
  const bought = [0n, 0n]

  // 1. No ozone: the upload is refused before a byte moves (CLI exit 8) — while payer 1 prepays, uploads and reads.
  const [refusedPut, cid1] = await Promise.all([
    net.cli(['put', paths[0]!, ...key(payers[0]!)]),
    (async () => {
      bought[1] += await prepayDirect(payers[1]!, stos(1))
      const cid = await sdkPut(payers[1]!, paths[1]!)
      assert.ok((await sdkCat(payers[1]!, cid)).equals(readFileSync(paths[1]!)))
      return cid
    })(),
  ])
  assertExit(refusedPut, 'INSUFFICIENT_OZONE')
  lap('upload refused; payer 1 done')

  // 2. Payer 0 prepays enough for its upload but not for a download as well: the download is refused.
  bought[0] += await prepayDirect(payers[0]!, stos('0.0045'))
  const cid0 = await sdkPut(payers[0]!, paths[0]!)
  assertExit(await net.cli(['get', cid0, '-o', join(work, 'out0.bin'), ...key(payers[0]!)]), 'INSUFFICIENT_OZONE')
  // 3. After `stratos prepay` the same command succeeds.
  bought[0] += await prepay(payers[0]!, '1')
  const get0 = await net.cli(['get', cid0, '-o', join(work, 'out0.bin'), ...key(payers[0]!)])
  assert.equal(get0.code, 0, get0.stderr)
  assert.ok(readFileSync(join(work, 'out0.bin')).equals(readFileSync(paths[0]!)))
  lap('download refused, prepaid, downloaded')

  // 5. Settlement: the meta node accepted every upload shard and at least the file's bytes per read.
  // A private file's record and any file's traffic answer its owner's session only.
  const owned = await Promise.all(payers.map((w) => StratosClient.connect({ metaUrl: meta, wallet: w })))
  t.after(() => Promise.all(owned.map((c) => c.close())))
  const records = await Promise.all([cid0, cid1].map((c, i) => owned[i]!.stat(c)))
  const want = records.map((r, i) => ({ put: putBytes(r), minGet: sizes[i]! }))
  const settled = async (): Promise<FileTraffic[] | false> => {
    const t = await Promise.all([cid0, cid1].map((c, i) => owned[i]!.meta.fileTraffic(c)))
    return t.every((x, i) => x.totals.put === want[i]!.put && x.totals.get >= want[i]!.minGet) && t
  }
  // 6. Reports: once every epoch holding this traffic is reported (and the traffic did not grow meanwhile: a hedged
  // read's partial orders settle later), the payers' ozone dropped by exactly the bytes moved.
  let traffic: FileTraffic[] = []
  let epochs = new Set<number>()
  let reports: ReportJson[] = []
  await until(
    'settled traffic, reported on chain',
    async () => {
      const t = await settled()
      if (!t) return false
      epochs = new Set(t.flatMap((x) => x.traffic.map((e) => e.epoch)))
      const all = await json<ReportJson[]>(`${net.network.chainUrl}/reports`)
      reports = all.filter((r) => r.metaNode === net.network.meta.address)
      if (![...epochs].every((e) => reports.some((r) => r.epoch === e))) return false
      const again = await settled()
      if (!again || JSON.stringify(again) !== JSON.stringify(t)) return false
      traffic = t
      return true
    },
    75_000,
  )
  const lastEpoch = Math.max(...epochs)
  lap('settled and reported')
  for (let i = 0; i < 2; i++) {
    const moved = BigInt(traffic[i]!.totals.put + traffic[i]!.totals.get)
    assert.equal(
      (await chain.account(payers[i]!.address)).ozone,
      bought[i]! - moved,
      `payer ${i}: ozone = bought − bytes moved`,
    )
  }

  // 7. Each node's credit on chain = what the meta node accepted for it, and covers the shards it stores of our files.
  const byNode = new Map<string, bigint>()
  for (const r of reports.filter((r) => epochs.has(r.epoch)))
    for (const n of r.nodes) byNode.set(n.node, (byNode.get(n.node) ?? 0n) + BigInt(n.bytes))
  const view = await Promise.all([...epochs].map((e) => json<NodeTrafficList>(`${meta}/v1/traffic/nodes?epoch=${e}`)))
  for (const [node, bytes] of byNode) {
    const accepted = view.reduce((a, v) => a + (v.nodes.find((n) => n.node === node)?.bytes ?? 0), 0)
    assert.equal(bytes, BigInt(accepted), `node ${node}`)
    const stored = records.reduce(
      (a, r) => a + r.segments.reduce((b, s) => b + s.shards.filter((x) => x.node === node).length * s.shardSize, 0),
      0,
    )
    assert.ok(bytes >= BigInt(stored), `node ${node}: credited ${bytes} < stored ${stored}`)
  }
  assert.equal(
    [...byNode.values()].reduce((a, b) => a + b, 0n),
    BigInt(traffic.reduce((a, t) => a + t.totals.put + t.totals.get, 0)),
  )

  // 8. Rewards of an epoch that credited our traffic: 60% resource (alice owns every node), 20% meta (bob), 20% validator (carol).
  const credited = Math.max(...reports.filter((r) => epochs.has(r.epoch)).map((r) => r.creditedEpoch))
  await until('the crediting epoch to end', async () => (await chain.status()).epoch > credited)
  const finalReports = await json<ReportJson[]>(`${net.network.chainUrl}/reports`)
  const trafficReward = finalReports
    .filter((r) => r.creditedEpoch === credited)
    .reduce((a, r) => a + BigInt(r.trafficReward), 0n)
  const stage = MINING_STAGES[0]!
  const [mRes, mMeta, mVal] = splitByBps(stage.rewardPerEpochWei, [
    stage.resourceBps,
    stage.metaBps,
    stage.validatorBps,
  ])
  const [tRes, tMeta, tVal] = splitByBps(trafficReward, [stage.resourceBps, stage.metaBps, stage.validatorBps])
  const rewardAt = async (w: string) =>
    (await chain.rewards(w)).filter((e) => e.epoch === credited).reduce((a, e) => a + BigInt(e.amount), 0n)
  const [wAlice, wBob, wCarol] = net.network.wallets.map((w) => w.address)
  assert.equal(await rewardAt(wAlice!), mRes! + tRes!, 'resource share (all nodes owned by alice)')
  assert.equal(await rewardAt(wBob!), mMeta! + tMeta!, 'meta share (bob owns the meta node)')
  const val = await rewardAt(wCarol!)
  assert.ok(val <= mVal! + tVal! && val >= mVal! + tVal! - 10n, `validator share: ${val} vs ${mVal! + tVal!}`)
  assert.ok(lastEpoch <= credited)

  lap('rewards checked')
  // 9. Supply is constant.
  const mining = await json<{ totalSupply: string; circulatingSupply: string; miningPool: string }>(
    `${net.network.chainUrl}/mining`,
  )
  assert.equal(BigInt(mining.totalSupply), TOTAL_SUPPLY_WEI)
  assert.equal(BigInt(mining.circulatingSupply) + BigInt(mining.miningPool), TOTAL_SUPPLY_WEI)
})
