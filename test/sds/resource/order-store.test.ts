/**
 * The resource node's order store: unsettled orders and settled serials survive a restart, and a
 * process killed (SIGKILL) while admitting and settling orders restarts with a consistent store.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { issueTicket } from '../../../src/sds/protocol/ticket.ts'
import { DOMAIN, verifyNodeSigned } from '../../../src/sds/protocol/signing.ts'
import { encodeOrderHeader, signOrder, verifyOrder } from '../../../src/sds/protocol/orders.ts'
import type { SignedTicket } from '../../../src/sds/protocol/messages.ts'
import { OrderStore } from '../../../src/sds/resource/order-store.ts'
import { OrderBook } from '../../../src/sds/resource/orders.ts'
import { seededRandom } from '../../../src/util/components.ts'
import { rejectsWithCode, tempDir } from './helpers.ts'

const chainId = 'orders-store-chain'
const meta = NodeKey.generate(seededRandom(51))
const payer = NodeKey.generate(seededRandom(52))
const node = NodeKey.generate(seededRandom(53))
const wallet = WalletKey.fromMnemonic(
  'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about',
)
const shard = 'ab'.repeat(32)

function ticket(size: number, now = Date.now()): SignedTicket {
  return issueTicket({
    key: meta,
    chainId,
    op: 'get',
    node: node.address,
    shard,
    size,
    payer: wallet.address,
    context: 'c',
    orderKey: Buffer.from(payer.publicKey).toString('base64url'),
    now,
  })
}

function admit(book: OrderBook, t: SignedTicket, cumulative: number, bytes: number, now = Date.now()): void {
  const order = encodeOrderHeader(
    signOrder(payer, { v: 1, chainId, serial: t.payload.serial, bytes: cumulative, signedAt: now }),
  )
  book.admit({ ticket: t, orderHeader: order, bytes, now })
}

test('orders and settled serials survive a restart; a settled serial stays closed', async (t) => {
  const dir = join(tempDir(t), 'orders')
  const a = ticket(1000)
  const b = ticket(500)
  const c = ticket(700)
  let store = OrderStore.open(dir)
  let book = new OrderBook({ store, chainId })
  book.load()
  admit(book, a, 100, 100)
  admit(book, a, 300, 200)
  admit(book, b, 50, 50)
  admit(book, c, 700, 700)
  await book.settled([{ serial: c.payload.serial, expiresAt: c.payload.expiresAt }])
  await store.close()

  store = OrderStore.open(dir)
  book = new OrderBook({ store, chainId })
  book.load()
  t.after(() => store.close())
  assert.equal(book.pendingCount, 2)
  assert.deepEqual(book.inspect(a.payload.serial), { served: 300, highest: 300 })
  assert.deepEqual(book.inspect(b.payload.serial), { served: 50, highest: 50 })
  assert.equal(book.isSettled(c.payload.serial), true)
  const stored = book.record(a.payload.serial)
  assert.deepEqual(stored?.ticket, a)
  assert.equal(stored?.order.payload.bytes, 300)
  // Cumulative counting goes on where it stopped; a replayed order does not cover more.
  await rejectsWithCode(async () => admit(book, a, 300, 1), 'ORDER_INVALID')
  admit(book, a, 400, 100)
  assert.deepEqual(book.inspect(a.payload.serial), { served: 400, highest: 400 })
  await rejectsWithCode(async () => admit(book, c, 700, 1), 'ORDER_LIMIT_EXCEEDED')
  // Settled serials are forgotten once their limit has expired (the ticket check refuses them then).
  assert.equal(await book.prune(c.payload.expiresAt + 60_000), 1)
  assert.equal(book.isSettled(c.payload.serial), false)
})

test('a serial closes once it is older than the settle-after period', async (t) => {
  const store = OrderStore.open(join(tempDir(t), 'orders'))
  t.after(() => store.close())
  const book = new OrderBook({ store, chainId, settleAfterMs: 1_000 })
  const now = Date.now()
  const a = ticket(1000, now)
  admit(book, a, 100, 100, now)
  admit(book, a, 200, 100, now + 999)
  assert.deepEqual(book.due(now + 999, 10), [])
  await rejectsWithCode(async () => admit(book, a, 300, 100, now + 1_000), 'ORDER_LIMIT_EXCEEDED')
  assert.deepEqual(
    book.due(now + 1_000, 10).map((d) => d.serial),
    [a.payload.serial],
  )
})

/** Child process: admits and settles orders as fast as it can until killed. */
const CHILD = `
import { NodeKey } from ${JSON.stringify(src('crypto/node-key.ts'))}
import { WalletKey } from ${JSON.stringify(src('crypto/wallet-key.ts'))}
import { issueTicket } from ${JSON.stringify(src('sds/protocol/ticket.ts'))}
import { encodeOrderHeader, signOrder } from ${JSON.stringify(src('sds/protocol/orders.ts'))}
import { OrderStore } from ${JSON.stringify(src('sds/resource/order-store.ts'))}
import { OrderBook } from ${JSON.stringify(src('sds/resource/orders.ts'))}
import { seededRandom } from ${JSON.stringify(src('util/components.ts'))}
const [dir, chainId] = process.argv.slice(1)
const meta = NodeKey.generate(seededRandom(51)), payer = NodeKey.generate(seededRandom(52)), node = NodeKey.generate(seededRandom(53))
const wallet = WalletKey.fromMnemonic('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about')
const store = OrderStore.open(dir)
const book = new OrderBook({ store, chainId })
book.load()
const tickets = []
for (let round = 0; ; round++) {
  const now = Date.now()
  const t = issueTicket({ key: meta, chainId, op: 'get', node: node.address, shard: 'ab'.repeat(32), size: 1_000_000, payer: wallet.address, context: 'c', orderKey: Buffer.from(payer.publicKey).toString('base64url'), now })
  tickets.push(t)
  for (const x of tickets.slice(-20)) {
    const served = book.inspect(x.payload.serial)?.served
    if (served === undefined || served + 1000 > x.payload.size) continue
    const o = encodeOrderHeader(signOrder(payer, { v: 1, chainId, serial: x.payload.serial, bytes: served + 1000, signedAt: now }))
    book.admit({ ticket: x, orderHeader: o, bytes: 1000, now })
  }
  const o = encodeOrderHeader(signOrder(payer, { v: 1, chainId, serial: t.payload.serial, bytes: 1000, signedAt: now }))
  book.admit({ ticket: t, orderHeader: o, bytes: 1000, now })
  if (round % 7 === 6) {
    const old = tickets.splice(0, 3)
    await book.settled(old.filter((x) => book.inspect(x.payload.serial)).map((x) => ({ serial: x.payload.serial, expiresAt: x.payload.expiresAt })))
  }
  if (round === 30) process.stdout.write('ready\\n')
  await new Promise((r) => setImmediate(r))
}
`

function src(path: string): string {
  return fileURLToPath(new URL(`../../../src/${path}`, import.meta.url))
}

test('a process killed while admitting and settling orders restarts with a consistent store', async (t) => {
  const dir = join(tempDir(t), 'orders')
  for (const delayMs of [20, 150]) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, dir, chainId], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)))
    })
    await new Promise((r) => setTimeout(r, delayMs))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))

    const store = OrderStore.open(dir)
    const pending = store.loadPending()
    const settled = new Map(store.loadSettled())
    assert.ok(pending.length > 0, 'orders were recorded')
    assert.ok(settled.size > 0, 'serials were settled')
    t.diagnostic(`killed after ${delayMs} ms: ${pending.length} pending, ${settled.size} settled`)
    for (const p of pending) {
      // Every record is whole: its ticket verifies, its order verifies against it and covers what was served.
      const limit = verifyNodeSigned(
        DOMAIN.ticket,
        p.ticket,
        { chainId, now: Date.now(), trustedSigners: new Set([meta.address]) },
        'TICKET_INVALID',
      )
      assert.equal(limit.serial, p.serial)
      const o = verifyOrder({ ticket: limit, order: p.order, chainId })
      assert.equal(o.bytes, p.served)
      assert.ok(p.served <= limit.size)
      assert.equal(settled.has(p.serial), false, 'a serial is pending or settled, never both')
    }
    const book = new OrderBook({ store, chainId })
    book.load()
    assert.equal(book.pendingCount, pending.length)
    await store.close()
  }
})
