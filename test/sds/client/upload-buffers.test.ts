/**
 * Segment buffers are reused from one upload to the next (a client's shared pool): handed back only
 * once nothing uses them, never leaking one upload's bytes into another's shards, on success and on
 * abort alike. And the commit's end of an upload: signed while the last PUTs run, sent only with every receipt.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { BufferPool, Semaphore } from '../../../src/sds/client/limiter.ts'
import { upload } from '../../../src/sds/client/upload.ts'
import { readFile } from '../../../src/sds/client/download.ts'
import { ReadCache } from '../../../src/sds/client/read-cache.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import { ResourceClient, type PutShardParameters } from '../../../src/net/resource-client.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import type { CommitBody } from '../../../src/sds/protocol/api.ts'
import type { SignedReceipt } from '../../../src/sds/protocol/messages.ts'
import { OrderSigner } from '../../../src/sds/protocol/orders.ts'
import { RecyclingBufferPool } from '../../../src/util/buffer-pool.ts'
import { systemClock, systemRandom } from '../../../src/util/components.ts'
import { isStratosError, StratosError } from '../../../src/errors.ts'
import { startNetwork, patternBytes, collect, wallet, MiB, CHAIN_ID, type TestNetwork } from '../network.ts'

test('a BufferPool with a shared pool takes its buffers from it and gives them all back on close', async () => {
  const shared = new RecyclingBufferPool(2, 8 * MiB)
  const warm = [shared.take(4 * MiB), shared.take(4 * MiB)]
  for (const b of warm) shared.give(b)
  const pool = new BufferPool(2, 3 * MiB, false, shared)
  const a = await pool.take()
  const b = await pool.take()
  assert.deepEqual(new Set([a.buffer, b.buffer]), new Set(warm.map((w) => w.buffer)), 'views of the idle buffers')
  assert.equal(a.length, 3 * MiB)
  assert.equal(shared.idle, 0)
  pool.give(a) // back to the upload's own pool only
  assert.equal(shared.idle, 0)
  pool.close()
  assert.equal(shared.idle, 2)
  // Aligned (direct I/O) buffers are never put in the shared pool.
  const aligned = new BufferPool(1, MiB, true, shared)
  await aligned.take()
  aligned.close()
  assert.equal(shared.idle, 2)
})

test('a shared pool drops its idle buffers after idleMs without use', async () => {
  const shared = new RecyclingBufferPool(2, MiB, 30)
  shared.give(shared.take(MiB))
  assert.equal(shared.idle, 1)
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(shared.idle, 0)
})

let net: TestNetwork
before(async () => {
  net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: MiB })
})
after(async () => {
  await net.close()
})

function components(uploadBuffers: RecyclingBufferPool) {
  const meta = new MetaClient(net.meta.url)
  const orders = new OrderSigner()
  return {
    meta,
    reads: new ReadCache(meta, systemClock, orders.publicKey, (t) => orders.remainingBytes(t)),
    orders,
    resource: new ResourceClient(),
    shardLimiter: new Semaphore(8),
    chainId: CHAIN_ID,
    clock: systemClock,
    random: systemRandom,
    uploadBuffers,
  }
}

test('uploads one after another reuse the segment buffers, and every file reads back byte-exact', async () => {
  const shared = new RecyclingBufferPool(2, 16 * MiB)
  const c = components(shared)
  // Public: the bare meta client of components() reads anonymously (public files only).
  const put = (data: Uint8Array) => upload(c, { source: data, wallet, k: 4, m: 2, segmentSize: MiB, public: true })
  // Each file leaves different bytes (and padding) behind in the buffers the next one reuses.
  const files = [
    patternBytes(3 * MiB + 5, 1),
    patternBytes(2 * MiB + 1, 2),
    patternBytes(100_003, 3),
    patternBytes(MiB, 4),
  ]
  const first = await put(files[0])
  assert.equal(shared.idle, 2, 'both segment buffers came back')
  const idleBuffers = (): Set<ArrayBufferLike> => {
    const taken = [shared.take(1), shared.take(1)]
    for (const b of taken) shared.give(b)
    return new Set(taken.map((b) => b.buffer))
  }
  const before = idleBuffers()
  const results = [first]
  for (const f of files.slice(1)) results.push(await put(f))
  assert.deepEqual(idleBuffers(), before, 'the same two buffers served every upload')
  for (const [i, r] of results.entries()) {
    const got = await collect(readFile(c, { cid: r.cid, segmentSizeHint: MiB }))
    assert.ok(got.equals(Buffer.from(files[i])), `file ${i} reads back byte-exact`)
  }
})

test('an aborted upload hands its buffers back only after its PUTs settled, and the next upload is intact', async () => {
  const shared = new RecyclingBufferPool(2, 16 * MiB)
  const c = components(shared)
  const ctrl = new AbortController()
  const data = patternBytes(6 * MiB + 17, 5)
  let shards = 0
  const aborted = upload(c, {
    source: data,
    wallet,
    k: 4,
    m: 2,
    segmentSize: MiB,
    signal: ctrl.signal,
    onProgress: (e) => {
      if (e.type === 'upload:shard' && ++shards === 3) ctrl.abort()
    },
  })
  await assert.rejects(aborted, (e: unknown) => isStratosError(e) && e.code === 'ABORTED')
  assert.ok(shared.idle <= 2)
  const next = patternBytes(3 * MiB + 3, 6)
  const r = await upload(c, { source: next, wallet, k: 4, m: 2, segmentSize: MiB, public: true })
  assert.ok((await collect(readFile(c, { cid: r.cid, segmentSizeHint: MiB }))).equals(Buffer.from(next)))
})

/** A wallet that reports each signature it makes (the create is the first, the commit the second). */
class WatchedWallet extends WalletKey {
  constructor(private readonly onSign: (n: number) => void) {
    super(wallet.privateKey)
  }
  #signed = 0
  override sign(message: Uint8Array): Uint8Array {
    this.onSign(++this.#signed)
    return super.sign(message)
  }
}

/** The real resource client, but the first shard PUT waits for `gate` (then runs, or fails with `fail`). */
class HeldResource extends ResourceClient {
  #puts = 0
  constructor(
    private readonly gate: Promise<void>,
    private readonly fail?: StratosError,
  ) {
    super()
  }
  override async putShard(p: PutShardParameters): Promise<SignedReceipt> {
    if (++this.#puts === 1) {
      await this.gate
      if (this.fail) throw this.fail
    }
    return super.putShard(p)
  }
}

class CountingMeta extends MetaClient {
  commits: CommitBody[] = []
  override commit(uploadId: string, body: CommitBody, o?: Parameters<MetaClient['commit']>[2]) {
    this.commits.push(body)
    return super.commit(uploadId, body, o)
  }
}

/** A PUT held until the wallet signs its second message (the commit), or until a deadline if it never does then. */
function heldUntilCommitSigned(fail?: StratosError) {
  let open!: () => void
  const gate = new Promise<void>((r) => {
    open = r
  })
  const seen = { released: false, commitSignedWhileHeld: false }
  const release = (): void => {
    seen.released = true
    open()
  }
  const deadline = setTimeout(release, 3_000)
  const signer = new WatchedWallet((n) => {
    if (n !== 2) return
    seen.commitSignedWhileHeld = !seen.released
    clearTimeout(deadline)
    release()
  })
  const meta = new CountingMeta(net.meta.url)
  const c = { ...components(new RecyclingBufferPool(2, 4 * MiB)), meta, resource: new HeldResource(gate, fail) }
  return { c, signer, meta, seen }
}

test('the commit is signed while a PUT still runs, and sent only with every receipt', async () => {
  const { c, signer, meta, seen } = heldUntilCommitSigned()
  const data = patternBytes(64 * 1024 + 3, 8)
  const r = await upload(c, { source: data, wallet: signer, k: 4, m: 2, segmentSize: MiB, public: true })
  assert.equal(seen.commitSignedWhileHeld, true, 'the commit was signed before the held PUT was let go')
  assert.equal(meta.commits.length, 1)
  assert.equal(meta.commits[0]!.receipts.length, 6, 'sent with all six receipts')
  assert.ok((await collect(readFile(c, { cid: r.cid, segmentSizeHint: MiB }))).equals(Buffer.from(data)))
})

test('a commit signed while a PUT runs is never sent when that PUT fails', async () => {
  const { c, signer, meta, seen } = heldUntilCommitSigned(new StratosError('BAD_REQUEST', 'refused by the test'))
  const data = patternBytes(64 * 1024 + 5, 9)
  await assert.rejects(
    upload(c, { source: data, wallet: signer, k: 4, m: 2, segmentSize: MiB }),
    (e: unknown) => isStratosError(e) && e.code === 'BAD_REQUEST',
  )
  assert.equal(seen.commitSignedWhileHeld, true)
  assert.equal(meta.commits.length, 0)
})

test('a PUT that fails at once, while the next PUTs are still being started, fails the upload with its code', async () => {
  const meta = new CountingMeta(net.meta.url)
  const c = {
    ...components(new RecyclingBufferPool(2, 4 * MiB)),
    meta,
    resource: new HeldResource(Promise.resolve(), new StratosError('BAD_REQUEST', 'refused by the test')),
  }
  const unhandled: unknown[] = []
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e)
  }
  process.on('unhandledRejection', onUnhandled)
  try {
    await assert.rejects(
      upload(c, { source: patternBytes(64 * 1024, 10), wallet, k: 4, m: 2, segmentSize: MiB }),
      (e: unknown) => isStratosError(e) && e.code === 'BAD_REQUEST',
    )
    await new Promise((r) => setImmediate(r))
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  assert.deepEqual(unhandled, [])
  assert.equal(meta.commits.length, 0)
})
