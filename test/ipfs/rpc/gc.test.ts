/**
 * Pin store bookkeeping of what the RPC API stored, and garbage-collection decisions, with an injected clock and a
 * fake network (stat/rm only). The same flows against a real meta node: gc-network.test.ts.
 */
import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PinStore, PIN_FILE, type StoredRecord } from '../../../src/ipfs/rpc/pins.ts'
import { AddOrigins, decideGc, GarbageCollector } from '../../../src/ipfs/rpc/gc.ts'
import { StratosError, isStratosError } from '../../../src/errors.ts'
import { ManualClock, silentLogger } from '../../../src/util/components.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import type { StratosClient } from '../../../src/sds/client/index.ts'

const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const HOUR = 3_600_000

/** A network of records: cid → { children, createdAt }; rm removes; `failStat` makes stat of a cid fail. */
class FakeNetwork {
  readonly records = new Map<string, { kind: 'file' | 'directory'; children?: string[]; createdAt: number }>()
  readonly removed: string[] = []
  failStat = new Set<string>()
  failRm = new Set<string>()
  onRm: ((cid: string) => void) | undefined

  put(cid: string, createdAt: number, children?: string[]): void {
    this.records.set(cid, { kind: children ? 'directory' : 'file', createdAt, ...(children ? { children } : {}) })
  }

  client(): StratosClient {
    const stat = async (cid: string) => {
      if (this.failStat.has(cid)) throw new StratosError('NODE_UNAVAILABLE', 'meta down')
      const r = this.records.get(cid)
      if (!r) throw new StratosError('FILE_NOT_FOUND', `no ${cid}`)
      return { cid, ...r }
    }
    const rm = async (cid: string) => {
      if (this.failRm.has(cid)) throw new StratosError('NODE_UNAVAILABLE', 'meta down')
      if (!this.records.delete(cid)) throw new StratosError('FILE_NOT_FOUND', `no ${cid}`)
      this.removed.push(cid)
      this.onRm?.(cid)
      return { remainingOwners: 0 }
    }
    return { stat, rm } as unknown as StratosClient
  }
}

describe('pin store: what the API stored', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pins-gc-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('an add records its records with its pin in one write; pin=false releases them; all of it survives a restart', () => {
    const pins = PinStore.open(dir)
    pins.commitAdd(
      {
        pins: [{ cid: 'QmDir', type: 'recursive' }],
        stored: [
          { cid: 'QmF1', kind: 'file' },
          { cid: 'QmDir', kind: 'directory' },
        ],
      },
      10,
    )
    pins.commitAdd({ pins: [], stored: [{ cid: 'QmLoose', kind: 'file' }] }, 20)
    const again = PinStore.open(dir)
    assert.deepEqual(
      again.list().map((p) => p.cid),
      ['QmDir'],
    )
    assert.deepEqual(again.stored(), [
      { cid: 'QmF1', kind: 'file', storedAt: 10 },
      { cid: 'QmDir', kind: 'directory', storedAt: 10 },
      { cid: 'QmLoose', kind: 'file', storedAt: 20, releasedAt: 20 },
    ])
    assert.deepEqual(readdirSync(dir), [PIN_FILE])
  })

  it('pin/rm releases a stored root; pin/add keeps it again; a re-add restarts the grace period', () => {
    const pins = PinStore.open(dir)
    pins.commitAdd({ pins: [{ cid: 'QmA', type: 'recursive' }], stored: [{ cid: 'QmA', kind: 'file' }] }, 1)
    pins.remove(['QmA'], 5)
    assert.equal(pins.getStored('QmA')?.releasedAt, 5)
    pins.add([{ cid: 'QmA', type: 'direct' }], 6)
    assert.equal(pins.getStored('QmA')?.releasedAt, undefined)
    pins.remove(['QmA'], 7)
    pins.commitAdd({ pins: [], stored: [{ cid: 'QmA', kind: 'file' }] }, 9)
    assert.deepEqual(pins.getStored('QmA'), { cid: 'QmA', kind: 'file', storedAt: 1, releasedAt: 9 })
    // pin/add of something the API never stored creates no stored record.
    pins.add([{ cid: 'QmOther', type: 'recursive' }], 10)
    assert.equal(pins.getStored('QmOther'), undefined)
  })

  it('updateStored: release only starts an unstarted period, unpinned restarts it, keep clears it, forget drops; each change bumps the generation', () => {
    const pins = PinStore.open(dir)
    pins.commitAdd(
      {
        pins: [],
        stored: [
          { cid: 'a', kind: 'file' },
          { cid: 'b', kind: 'file' },
        ],
      },
      1,
    )
    pins.updateStored({ keep: ['b'] }, 2)
    const g = pins.generation
    pins.updateStored({ release: ['a', 'b'] }, 3)
    assert.equal(pins.getStored('a')?.releasedAt, 1)
    assert.equal(pins.getStored('b')?.releasedAt, 3)
    pins.updateStored({ unpinned: ['a'] }, 4)
    assert.equal(pins.getStored('a')?.releasedAt, 4)
    pins.updateStored({ forget: ['a'] }, 5)
    assert.equal(pins.getStored('a'), undefined)
    assert.equal(pins.generation, g + 3)
    pins.updateStored({ forget: ['nothing'] }, 6)
    assert.equal(pins.generation, g + 3) // no change, no write
    assert.deepEqual(PinStore.open(dir).stored(), [{ cid: 'b', kind: 'file', storedAt: 1, releasedAt: 3 }])
  })
})

describe('GC decisions', () => {
  const rec = (cid: string, kind: 'file' | 'directory', storedAt: number, releasedAt?: number): StoredRecord => ({
    cid,
    kind,
    storedAt,
    ...(releasedAt !== undefined ? { releasedAt } : {}),
  })

  it('collects only unreached records released at least the grace period ago, directories first', () => {
    const stored = [
      rec('pinned', 'file', 0), // reached, never released
      rec('repinned', 'file', 0, 50), // reached again: keep
      rec('fresh', 'file', 0), // unreached, no release time yet: starts now
      rec('young', 'file', 0, 95), // within grace
      rec('old-file', 'file', 1, 10),
      rec('exact', 'file', 2, 90), // released exactly the grace period ago
      rec('old-dir', 'directory', 3, 10),
    ]
    const d = decideGc(stored, new Set(['pinned', 'repinned']), 100, 10)
    assert.deepEqual(
      d.collect.map((s) => s.cid),
      ['old-dir', 'exact', 'old-file'],
    )
    assert.deepEqual(d.release, ['fresh'])
    assert.deepEqual(d.keep, ['repinned'])
    assert.equal(d.waiting, 1)
  })
})

describe('garbage collector', () => {
  let dir: string
  let pins: PinStore
  let net: FakeNetwork
  let clock: ManualClock
  let gc: GarbageCollector
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-'))
    pins = PinStore.open(dir)
    net = new FakeNetwork()
    clock = new ManualClock(1_000_000)
    gc = new GarbageCollector(
      { client: async () => net.client(), pins, wallet, clock, logger: silentLogger },
      { graceMs: 24 * HOUR, intervalMs: 0 },
    )
  })
  afterEach(async () => {
    await gc.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps an unpinned record through its grace period, then deletes it; never touches what the API did not store', async () => {
    net.put('QmMine', 0)
    net.put('QmCli', 0) // uploaded through another route (same wallet or not), pinned through the API
    pins.commitAdd(
      { pins: [{ cid: 'QmMine', type: 'recursive' }], stored: [{ cid: 'QmMine', kind: 'file' }] },
      clock.now(),
    )
    pins.add([{ cid: 'QmCli', type: 'recursive' }], clock.now())
    pins.remove(['QmMine', 'QmCli'], clock.now())
    clock.advance(24 * HOUR - 1)
    assert.deepEqual((await gc.collect()).removed, [])
    assert.deepEqual(net.removed, [])
    clock.advance(1)
    const r = await gc.collect()
    assert.deepEqual(r.removed, ['QmMine'])
    assert.deepEqual(net.removed, ['QmMine'])
    assert.ok(net.records.has('QmCli'))
    assert.equal(pins.getStored('QmMine'), undefined)
    clock.advance(1000 * HOUR)
    assert.deepEqual((await gc.collect()).removed, [])
  })

  it('a record a pinned directory reaches is kept; one seen unreached for the first time only starts its grace period', async () => {
    net.put('QmKept', 0)
    net.put('QmDir', 0, ['QmKept'])
    net.put('QmLost', 0)
    pins.commitAdd(
      {
        pins: [{ cid: 'QmDir', type: 'recursive' }],
        stored: [
          { cid: 'QmKept', kind: 'file' },
          { cid: 'QmDir', kind: 'directory' },
        ],
      },
      clock.now(),
    )
    // Stored, pinned, and its pin lost without a release time (as after a crash between writes).
    pins.commitAdd(
      { pins: [{ cid: 'QmLost', type: 'recursive' }], stored: [{ cid: 'QmLost', kind: 'file' }] },
      clock.now(),
    )
    await pinsWithout(pins, 'QmLost')
    clock.advance(100 * HOUR)
    const first = await gc.collect()
    assert.deepEqual(first.removed, [])
    assert.equal(pins.getStored('QmLost')?.releasedAt, clock.now())
    clock.advance(24 * HOUR)
    assert.deepEqual((await gc.collect()).removed, ['QmLost'])
    assert.ok(net.records.has('QmKept') && net.records.has('QmDir'))
  })

  it('a walk that cannot read a pinned record deletes nothing', async () => {
    net.put('QmGone', 0)
    net.put('QmPinned', 0)
    pins.commitAdd({ pins: [], stored: [{ cid: 'QmGone', kind: 'file' }] }, clock.now())
    pins.add([{ cid: 'QmPinned', type: 'recursive' }], clock.now())
    net.failStat.add('QmPinned')
    clock.advance(48 * HOUR)
    await assert.rejects(gc.collect(), (e: unknown) => isStratosError(e, 'NODE_UNAVAILABLE'))
    assert.deepEqual(net.removed, [])
    net.failStat.clear()
    assert.deepEqual((await gc.collect()).removed, ['QmGone'])
  })

  it('stops when the pin set changes during the pass; a failed delete is reported and retried next time', async () => {
    for (const c of ['QmA', 'QmB', 'QmC']) net.put(c, 0)
    pins.commitAdd(
      {
        pins: [],
        stored: [
          { cid: 'QmA', kind: 'file' },
          { cid: 'QmB', kind: 'file' },
          { cid: 'QmC', kind: 'file' },
        ],
      },
      clock.now(),
    )
    clock.advance(25 * HOUR)
    // The first delete races with a pin/add: the pass stops after it.
    net.onRm = () => {
      net.onRm = undefined
      pins.add([{ cid: 'QmZ', type: 'direct' }], clock.now())
    }
    const r1 = await gc.collect()
    assert.equal(r1.removed.length, 1)
    assert.equal(r1.interrupted, true)
    const next = ['QmA', 'QmB', 'QmC'].filter((c) => !r1.removed.includes(c))
    net.failRm.add(next[0])
    const errors: string[] = []
    const r2 = await gc.collect({
      onError: async (cid) => {
        errors.push(cid)
      },
    })
    assert.deepEqual(errors, [next[0]])
    assert.deepEqual(r2.removed, [next[1]])
    net.failRm.clear()
    assert.deepEqual((await gc.collect()).removed, [next[0]])
    // A record already gone from the network is forgotten without an error.
    net.put('QmD', 0)
    pins.commitAdd({ pins: [], stored: [{ cid: 'QmD', kind: 'file' }] }, clock.now())
    net.records.delete('QmD')
    clock.advance(25 * HOUR)
    const r4 = await gc.collect()
    assert.deepEqual(r4.errors, [])
    assert.equal(pins.getStored('QmD'), undefined)
  })

  it('without a wallet nothing is collected', async () => {
    const noWallet = new GarbageCollector(
      { client: async () => net.client(), pins, wallet: undefined, clock, logger: silentLogger },
      { graceMs: 0, intervalMs: 0 },
    )
    net.put('QmA', 0)
    pins.commitAdd({ pins: [], stored: [{ cid: 'QmA', kind: 'file' }] }, clock.now())
    clock.advance(1)
    assert.deepEqual((await noWallet.collect()).removed, [])
    assert.deepEqual(net.removed, [])
  })
})

describe('add origins', () => {
  it('remembers only records this add created (or the API stored before), with the entry pin in one write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'origins-'))
    try {
      const pins = PinStore.open(dir)
      const net = new FakeNetwork()
      let now = 1_000
      const origins = new AddOrigins({ client: net.client(), pins, logger: silentLogger, now: () => now })
      net.put('QmNew', 1_005) // created by this add (started at 1000)
      net.put('QmOld', 900) // existed before: e.g. the same wallet uploaded it with the CLI
      await origins.stored('QmNew', 'file', 1_000)
      await origins.stored('QmOld', 'file', 1_000)
      await origins.stored('QmMissing', 'file', 1_000) // stat failed: not remembered
      now = 1_010
      origins.commit([{ cid: 'QmNew', type: 'recursive' }])
      assert.deepEqual(pins.stored(), [{ cid: 'QmNew', kind: 'file', storedAt: 1_010 }])
      // Added again later (pin=false): the API's record already, so it stays the API's, released now.
      now = 5_000
      await origins.stored('QmNew', 'file', 4_000)
      origins.commit([])
      assert.deepEqual(pins.getStored('QmNew'), { cid: 'QmNew', kind: 'file', storedAt: 1_010, releasedAt: 5_000 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** Removes a pin the way a crash between pin/rm's writes could leave it: no release time recorded. */
async function pinsWithout(pins: PinStore, cid: string): Promise<void> {
  pins.remove([cid], 0)
  pins.updateStored({ keep: [cid] }, 0)
}
