/**
 * Wrong share-link passwords are limited per (link, client): a stranger's guesses lock out only the stranger, a
 * trusted proxy (the gateway) names the end user, any other caller is counted by its own address, and the counters
 * live in the meta index (a restart keeps a lock; expired ones are pruned).
 */
import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { rmSync } from 'node:fs'
import { MetaStore, type FileRecord } from '../../../src/sds/meta/store.ts'
import { Shares, type ShareRecord } from '../../../src/sds/meta/shares.ts'
import { hashSharePassword } from '../../../src/sds/protocol/share-password.ts'
import { SHARE_MAX_PASSWORD_FAILURES, SHARE_PASSWORD_WINDOW_MS } from '../../../src/limits.ts'
import { ManualClock, seededRandom, silentLogger } from '../../../src/util/components.ts'
import { chainId, expectCode, tempDir, walletA } from './helpers.ts'

const CID = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'
const ID = 'AAAAAAAAAAAAAAAAAAAAAA'
const PASSWORD = 'correct horse'
const GATEWAY = { address: '127.0.0.1' }
const STRANGER = '203.0.113.5'
const FRIEND = '198.51.100.7'

describe('share-link password attempts per client', () => {
  let dir: string
  let store: MetaStore
  let clock: ManualClock
  let shares: Shares

  const open = async (): Promise<void> => {
    store = await MetaStore.open(join(dir, 'index'))
    shares = new Shares({
      store,
      chainId,
      clock,
      random: seededRandom(1),
      logger: silentLogger,
      shareToken: (id) => `token-${id}`,
    })
  }

  beforeEach(async () => {
    dir = tempDir()
    clock = new ManualClock()
    await open()
    const record: ShareRecord = {
      id: ID,
      cid: CID,
      kind: 'file',
      owner: walletA.address,
      createdAt: clock.now(),
      expiresAt: null,
      password: await hashSharePassword(PASSWORD, seededRandom(2)),
    }
    await store.write(() => {
      store.shares.put(record)
      store.files.create(
        {
          cid: CID,
          kind: 'file',
          size: 12,
          owners: [walletA.address],
          createdAt: clock.now(),
          k: 1,
          m: 1,
          segmentSize: 12,
          segments: [],
          blockCount: 0,
        } satisfies FileRecord,
        walletA.address,
        { createdAt: clock.now(), kind: 'file', size: 12 },
        [],
      )
    })
  })

  afterEach(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const viaGateway = (client: string, password: string) => shares.resolve(ID, { password, client }, GATEWAY)
  const lockOut = async (client: string): Promise<void> => {
    for (let i = 0; i < SHARE_MAX_PASSWORD_FAILURES; i++)
      await expectCode(viaGateway(client, `guess-${i}`), 'BAD_PASSWORD')
    await expectCode(viaGateway(client, 'one more'), 'TOO_MANY_ATTEMPTS')
  }

  it("a stranger's guesses through the gateway lock out only the stranger; the right password works for everyone else", async () => {
    await lockOut(STRANGER)
    assert.equal((await viaGateway(FRIEND, PASSWORD)).cid, CID)
    // The same client stays locked, right password or not.
    await expectCode(viaGateway(STRANGER, PASSWORD), 'TOO_MANY_ATTEMPTS')
    // …until its window ends.
    clock.advance(SHARE_PASSWORD_WINDOW_MS)
    assert.equal((await viaGateway(STRANGER, PASSWORD)).cid, CID)
  })

  it('a right password takes back its own pending failure: many right answers never lock a user', async () => {
    for (let i = 0; i < SHARE_MAX_PASSWORD_FAILURES - 1; i++)
      await expectCode(viaGateway(FRIEND, `typo-${i}`), 'BAD_PASSWORD')
    for (let i = 0; i < 5; i++) assert.equal((await viaGateway(FRIEND, PASSWORD)).cid, CID)
    await expectCode(viaGateway(FRIEND, 'last typo'), 'BAD_PASSWORD')
    await expectCode(viaGateway(FRIEND, PASSWORD), 'TOO_MANY_ATTEMPTS')
  })

  it('only a trusted proxy may name the client; anyone else is counted by its own address', async () => {
    const untrusted = { address: '192.0.2.9' }
    for (let i = 0; i < SHARE_MAX_PASSWORD_FAILURES; i++) {
      // Claims a new client each time: ignored, all of it counts against 192.0.2.9.
      await expectCode(shares.resolve(ID, { password: `g${i}`, client: `10.0.0.${i}` }, untrusted), 'BAD_PASSWORD')
    }
    await expectCode(shares.resolve(ID, { password: PASSWORD, client: FRIEND }, untrusted), 'TOO_MANY_ATTEMPTS')
    assert.equal((await viaGateway(FRIEND, PASSWORD)).cid, CID)
    // IPv4 through a dual-stack socket is the same client; a `client` that is not an IP address is not believed.
    assert.equal(shares.clientOf({ address: '::ffff:192.0.2.9' }, undefined), '192.0.2.9')
    assert.equal(shares.clientOf({ address: '::ffff:127.0.0.1' }, FRIEND), FRIEND)
    assert.equal(shares.clientOf(GATEWAY, 'not-an-ip'), '127.0.0.1')
    const custom = new Shares({
      store,
      chainId,
      clock,
      random: seededRandom(1),
      logger: silentLogger,
      shareToken: () => '',
      trustedProxies: ['10.1.1.1'],
    })
    assert.equal(custom.clientOf(GATEWAY, FRIEND), '127.0.0.1')
    assert.equal(custom.clientOf({ address: '10.1.1.1' }, FRIEND), FRIEND)
  })

  it('a lock survives a restart of the meta index; ended windows are pruned from it', async () => {
    await lockOut(STRANGER)
    await store.close()
    await open()
    await expectCode(viaGateway(STRANGER, PASSWORD), 'TOO_MANY_ATTEMPTS')
    assert.equal((await viaGateway(FRIEND, PASSWORD)).cid, CID)
    assert.equal(store.shares.attemptTotals().counters, 2) // the stranger's and the friend's (count 0) counters
    clock.advance(SHARE_PASSWORD_WINDOW_MS + 1)
    // The next counting write prunes both ended windows and starts a new one.
    await expectCode(viaGateway('192.0.2.50', 'x'), 'BAD_PASSWORD')
    assert.deepEqual(store.shares.attemptTotals(), { counters: 1, windows: 1 }, 'only the new window is left')
  })
})
