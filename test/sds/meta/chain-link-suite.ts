/**
 * Compliance suite for ChainLink (src/sds/meta/chain-link.ts), as js-libp2p's interface-compliance-tests: every
 * implementation's test file calls `chainLinkSuite(name, factory)`; test/sds/meta/chain-link.test.ts runs it against
 * HttpChainLink on a real in-process validator and against the test double (./chain-link-double.ts).
 *
 * The contract, one test each: before start nothing is synced and start syncs height, epoch and the registry (unknown
 * nodes are `unregistered`); ozone is cached for `ozoneCacheMs` unless asked `fresh`; submit signs with the owner,
 * waits for inclusion and answers the tx, one at a time (concurrent submissions never race for the nonce); a failing
 * transaction rejects with its code and the next one still goes through; the background sync follows the chain and
 * calls epoch listeners on a new epoch (a throwing listener does not stop the others; unsubscribed ones are not
 * called); stop ends the background sync and waits for a submission in flight.
 *
 * The factory makes a fresh link (not started) with a short sync interval and the given ManualClock for its ozone
 * cache, plus a handle on the chain behind it (`ChainLinkWorld`) through which the suite moves the chain on.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Msg } from '../../../src/chain/msgs.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../../src/errors.ts'
import type { ChainLink, ChainNodeStatus } from '../../../src/sds/meta/chain-link.ts'
import { ManualClock } from '../../../src/util/components.ts'

/** The chain behind a link, as the suite needs to see and move it. */
export interface ChainLinkWorld {
  /** Address of the link's owner wallet (it can pay for `prepay` messages). */
  readonly owner: string
  /** Resource nodes on chain from the start, with their status (at least one). */
  readonly nodes: ReadonlyArray<{ node: string; status: ChainNodeStatus }>
  /** A wallet other than the owner; `prepay` buys it ozone. */
  readonly payer: string
  /** A message the owner signs that the chain refuses, and the error code it answers. */
  readonly rejected: { msg: Msg; code: string }
  /** The chain's current height and epoch. */
  status(): Promise<{ height: number; epoch: number }>
  /** The payer prepays `amountWei` (buying ozone); resolves once included. */
  prepay(amountWei: bigint): Promise<void>
  /** Resolves once the chain's epoch is past `epoch`, with the new epoch. */
  nextEpoch(epoch: number): Promise<number>
}

export interface ChainLinkHarness {
  link: ChainLink
  world: ChainLinkWorld
}

export interface ChainLinkFactoryOptions {
  clock: ManualClock
  /** The link's ozone cache lifetime. */
  ozoneCacheMs: number
  /** The link's background sync interval. */
  syncIntervalMs: number
}

/** Makes a fresh, unstarted link; registers its own cleanup (stop, and anything else it started) on `t`. */
export type ChainLinkFactory = (t: TestContext, o: ChainLinkFactoryOptions) => Promise<ChainLinkHarness>

const OZONE_CACHE_MS = 60_000
const SYNC_INTERVAL_MS = 50

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for: ${what}`)
    await sleep(10)
  }
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStratosError(e), `expected a StratosError ${code}, got ${String(e)}`)
    assert.equal(e.code, code)
    return true
  })
}

export function chainLinkSuite(name: string, factory: ChainLinkFactory): void {
  const make = async (t: TestContext): Promise<ChainLinkHarness & { clock: ManualClock }> => {
    const clock = new ManualClock(1_000_000)
    const h = await factory(t, { clock, ozoneCacheMs: OZONE_CACHE_MS, syncIntervalMs: SYNC_INTERVAL_MS })
    t.after(() => h.link.stop())
    return { ...h, clock }
  }

  test(`${name}: nothing is synced before start; start syncs height, epoch and the node registry`, async (t) => {
    const { link, world } = await make(t)
    assert.equal(link.owner, world.owner)
    assert.equal(link.synced, false)
    assert.equal(link.height, 0)
    assert.equal(link.epoch, 0)
    assert.deepEqual(link.resourceNodes(), [])
    assert.equal(link.nodeStatus(world.nodes[0]!.node), 'unregistered', 'no status before the first sync')

    const before = await world.status()
    await link.start()
    const after = await world.status()
    assert.equal(link.synced, true)
    assert.ok(
      link.height >= before.height && link.height <= after.height,
      `height ${link.height} within [${before.height}, ${after.height}]`,
    )
    assert.ok(
      link.epoch >= before.epoch && link.epoch <= after.epoch,
      `epoch ${link.epoch} within [${before.epoch}, ${after.epoch}]`,
    )
    for (const n of world.nodes) {
      assert.equal(link.nodeStatus(n.node), n.status)
      const entry = link.resourceNodes().find((r) => r.node === n.node)
      assert.ok(entry, `${n.node} listed`)
      assert.equal(entry.status, n.status)
    }
    assert.equal(link.nodeStatus('stsds1nosuchnodeonthischain'), 'unregistered')
  })

  test(`${name}: ozone is read from the chain, cached for ozoneCacheMs, and read afresh when asked`, async (t) => {
    const { link, world, clock } = await make(t)
    await link.start()
    const o0 = await link.ozone(world.payer)
    await world.prepay(10n ** 18n)
    assert.equal(await link.ozone(world.payer), o0, 'cached')
    const o1 = await link.ozone(world.payer, { fresh: true })
    assert.ok(o1 > o0, `prepaying bought ozone: ${o0} → ${o1}`)
    await world.prepay(10n ** 18n)
    clock.advance(OZONE_CACHE_MS - 1)
    assert.equal(await link.ozone(world.payer), o1, 'a fresh read refreshed the cache entry')
    clock.advance(1)
    const o2 = await link.ozone(world.payer)
    assert.ok(o2 > o1, `read again once ozoneCacheMs old: ${o1} → ${o2}`)
    const stranger = WalletKey.fromPrivateKeyHex('5f'.repeat(32)).address
    assert.equal(await link.ozone(stranger, { fresh: true }), 0n, 'a wallet the chain never saw has none')
  })

  test(`${name}: submit signs as the owner, waits for inclusion and answers the tx; concurrent submissions go one at a time`, async (t) => {
    const { link, world } = await make(t)
    await link.start()
    const ozone0 = await link.ozone(world.owner, { fresh: true })
    const tx = await link.submit([{ type: 'prepay', amount: 10n ** 18n }])
    assert.match(tx.hash, /^[0-9a-f]{64}$/i)
    assert.equal(tx.code, 'OK')
    assert.equal(typeof tx.height, 'number')
    assert.ok((await link.ozone(world.owner, { fresh: true })) > ozone0, "the owner's prepay landed")
    // Three at once: each gets its own nonce, in order; none is refused for a nonce another one took.
    const txs = await Promise.all(
      [1, 2, 3].map(() => link.submit([{ type: 'prepay', amount: 10n ** 18n, beneficiary: world.payer }])),
    )
    assert.deepEqual(
      txs.map((x) => x.nonce),
      [tx.nonce + 1n, tx.nonce + 2n, tx.nonce + 3n],
    )
    assert.equal(new Set(txs.map((x) => x.hash)).size, 3)
    assert.ok(txs.every((x) => x.code === 'OK' && x.height! >= tx.height!))
  })

  test(`${name}: a refused transaction rejects with its code, and the next submission still goes through`, async (t) => {
    const { link, world } = await make(t)
    await link.start()
    const failing = link.submit([world.rejected.msg])
    const next = link.submit([{ type: 'prepay', amount: 10n ** 18n }])
    await rejectsWithCode(failing, world.rejected.code)
    assert.equal((await next).code, 'OK')
  })

  test(`${name}: the background sync follows the chain and calls epoch listeners on each new epoch`, async (t) => {
    const { link, world } = await make(t)
    await link.start()
    if (link.epoch === 0) {
      await world.nextEpoch(0)
      await until(() => link.epoch > 0, 'a first epoch synced')
    }
    const calls: Array<{ epoch: number; linkEpoch: number }> = []
    let thrown = 0
    link.onEpoch(() => {
      thrown++
      throw new Error('a failing listener')
    })
    const off = link.onEpoch((epoch) => calls.push({ epoch, linkEpoch: link.epoch }))
    const e0 = link.epoch
    const h0 = link.height
    const e1 = await world.nextEpoch(e0)
    await until(() => calls.length > 0, 'the epoch listener called')
    assert.ok(calls[0]!.epoch > e0 && calls[0]!.epoch >= e1, `called with the new epoch (${e0} → ${calls[0]!.epoch})`)
    assert.equal(calls[0]!.epoch, calls[0]!.linkEpoch, 'the link shows the epoch it announces')
    assert.ok(link.height > h0, 'the height followed')
    assert.ok(thrown >= 1, 'the failing listener was called too')

    off()
    const n = calls.length
    const e2 = await world.nextEpoch(link.epoch)
    await until(() => link.epoch >= e2, 'the next epoch synced')
    assert.equal(calls.length, n, 'an unsubscribed listener is not called')
  })

  test(`${name}: stop waits for a submission in flight and ends the background sync`, async (t) => {
    const { link, world } = await make(t)
    await link.start()
    let settled = false
    const inFlight = link.submit([{ type: 'prepay', amount: 10n ** 18n }]).finally(() => {
      settled = true
    })
    await link.stop()
    assert.equal(settled, true, 'stop returned only after the submission settled')
    assert.equal((await inFlight).code, 'OK')
    await sleep(SYNC_INTERVAL_MS) // a sync that was already on the wire when stop was called may still land
    const epoch = link.epoch
    const height = link.height
    await world.nextEpoch(epoch)
    await sleep(SYNC_INTERVAL_MS * 4)
    assert.deepEqual([link.epoch, link.height], [epoch, height], 'no sync after stop')
  })
}
