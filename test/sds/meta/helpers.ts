/**
 * Test harness for the meta node: a real MetaNode on port 0 in a temp dir with a ManualClock, real wallet keys,
 * and "resource nodes" that are real NodeKeys signing the real protocol messages (heartbeats, receipts) — only
 * their disks are missing, which the meta node never sees anyway.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { WalletKey } from '../../../src/crypto/wallet-key.ts'
import { sha256, sha256Hex, toBase64Url } from '../../../src/crypto/hash.ts'
import { isStratosError } from '../../../src/errors.ts'
import { ManualClock, randomHex, seededRandom, type RandomBytes } from '../../../src/util/components.ts'
import { MetaClient } from '../../../src/net/meta-client.ts'
import {
  DOMAIN,
  sessionCallBytes,
  signAsNode,
  signAsWallet,
  type WalletSigner,
} from '../../../src/sds/protocol/signing.ts'
import type { CanonicalValue } from '../../../src/crypto/canonical.ts'
import type { SessionCallAction, SessionCallAuth } from '../../../src/sds/protocol/messages.ts'
import { encodeTicketHeader, verifyTicket } from '../../../src/sds/protocol/ticket.ts'
import { shardSizeFor } from '../../../src/sds/protocol/shard.ts'
import type { Heartbeat, SignedReceipt, SignedTicket, CommitPayload } from '../../../src/sds/protocol/messages.ts'
import type { SignedHeartbeatReplyT } from '../../../src/sds/protocol/types.ts'
import type { FileRecordView, Placement } from '../../../src/sds/protocol/api.ts'
import { MetaNode, type MetaNodeOptions } from '../../../src/sds/meta/index.ts'

export const chainId = 'meta-test-chain'
export const GiB = 1024 ** 3

export async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    assert.ok(isStratosError(e), `expected a StratosError ${code}, got ${String(e)}`)
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`)
    return
  }
  assert.fail(`expected ${code}, but it succeeded`)
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'stratos-meta-test-'))
}

/** The order key test readers and uploaders name in their requests (orders.ts); it signs session calls too. */
export const ORDER_SIGNER = NodeKey.generate(seededRandom(4242))
export const ORDER_KEY = toBase64Url(ORDER_SIGNER.publicKey)

export const walletA = WalletKey.fromPrivateKeyHex('11'.repeat(32))
export const walletB = WalletKey.fromPrivateKeyHex('22'.repeat(32))

/** A resource node that exists only as a key: it signs heartbeats and receipts like the real one. */
export class TestNode {
  readonly key: NodeKey
  readonly url: string
  seq = 0
  freeBytes: number
  load = 0
  /** Deletes the meta node asked for, acknowledged with the next heartbeat. */
  readonly toAck = new Set<string>()

  constructor(seed: number, opts: { freeBytes?: number } = {}) {
    this.key = NodeKey.generate(seededRandom(seed))
    this.url = `http://127.0.0.1:${17000 + seed}`
    this.freeBytes = opts.freeBytes ?? 10 * GiB
  }

  get address(): string {
    return this.key.address
  }

  heartbeatMessage(now: number, extra: Partial<Heartbeat> = {}) {
    return signAsNode(DOMAIN.heartbeat, this.key, {
      v: 1,
      chainId,
      node: this.address,
      url: this.url,
      version: 'test',
      capacityBytes: 20 * GiB,
      freeBytes: this.freeBytes,
      usedBytes: 0,
      shardCount: 0,
      load: this.load,
      seq: ++this.seq,
      corrupt: [],
      deleted: [],
      expiresAt: now + 60_000,
      ...extra,
    } satisfies Heartbeat)
  }

  /** Sends a heartbeat acknowledging the deletes from the previous reply (unless told otherwise). */
  async heartbeat(h: Harness, extra: Partial<Heartbeat> = {}): Promise<SignedHeartbeatReplyT> {
    const deleted = extra.deleted ?? [...this.toAck]
    const reply = await h.client.heartbeat(this.heartbeatMessage(h.clock.now(), { ...extra, deleted }))
    this.toAck.clear()
    assert.equal(reply.signer, h.meta.address)
    assert.equal(reply.payload.seq, this.seq)
    for (const s of reply.payload.deletes) this.toAck.add(s)
    return reply
  }

  /** What the node answers after storing a shard with this ticket (after checking the ticket like the real node). */
  receipt(
    h: Harness,
    ticket: SignedTicket,
    overrides: { size?: number; signer?: NodeKey; ttlMs?: number } = {},
  ): SignedReceipt {
    const now = h.clock.now()
    const t = verifyTicket({
      header: encodeTicketHeader(ticket),
      chainId,
      now,
      trustedIssuers: new Set([h.meta.address]),
      node: this.address,
      op: 'put',
      shard: ticket.payload.shard,
    })
    return signAsNode(DOMAIN.receipt, overrides.signer ?? this.key, {
      v: 1,
      chainId,
      node: this.address,
      shard: t.shard,
      size: overrides.size ?? t.size,
      serial: t.serial,
      storedAt: now,
      expiresAt: now + (overrides.ttlMs ?? 3_600_000),
    })
  }
}

export interface Harness {
  meta: MetaNode
  /** Acts for walletA (its session token, naming ORDER_KEY), as the owner's client would. */
  client: MetaClient
  /** The same meta node, acting for `wallet` (null: anonymous). */
  as(wallet: WalletKey | null): MetaClient
  clock: ManualClock
  dir: string
  nodes: Map<string, TestNode>
  random: RandomBytes
  restart(): Promise<void>
  close(): Promise<void>
}

export async function startHarness(
  opts: Partial<MetaNodeOptions> & { nodes?: number; freeBytes?: number; dir?: string; clock?: ManualClock } = {},
): Promise<Harness> {
  const dir = opts.dir ?? tempDir()
  const clock = opts.clock ?? new ManualClock()
  const options: MetaNodeOptions = {
    dataDir: dir,
    port: 0,
    chainId,
    clock,
    random: seededRandom(42),
    offlineAfterMs: 5_000,
    sweepIntervalMs: 60_000,
    ...opts,
  }
  let meta = new MetaNode(options)
  await meta.start()
  const h: Harness = {
    meta,
    client: new MetaClient(meta.url, { access: () => sessionHeader(clock, walletA) }),
    as: (wallet) =>
      new MetaClient(h.meta.url, { access: () => (wallet === null ? undefined : sessionHeader(h.clock, wallet)) }),
    clock,
    dir,
    nodes: new Map(),
    random: seededRandom(7),
    async restart() {
      await h.meta.stop()
      // A fresh random stream that repeats the first one, as a restarted process with a fixed seed would.
      meta = new MetaNode({ ...options, random: seededRandom(42) })
      await meta.start()
      h.meta = meta
      h.client = new MetaClient(meta.url, { access: () => sessionHeader(clock, walletA) })
    },
    async close() {
      await h.meta.stop()
      if (!opts.dir) rmSync(dir, { recursive: true, force: true })
    },
  }
  for (let i = 1; i <= (opts.nodes ?? 0); i++) {
    const n = new TestNode(i, { freeBytes: opts.freeBytes })
    h.nodes.set(n.address, n)
    await n.heartbeat(h)
  }
  return h
}

export async function heartbeatAll(h: Harness): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  for (const n of h.nodes.values()) out.set(n.address, (await n.heartbeat(h)).payload.deletes)
  return out
}

/** `wallet`'s session token (ACCESS_HEADER value) at the harness clock's time, naming ORDER_KEY. */
export function sessionHeader(clock: ManualClock, wallet: WalletKey, p: { ttlMs?: number } = {}): string {
  const now = clock.now()
  const token = signAsWallet(wallet, {
    chainId,
    signer: wallet.address,
    nonce: randomHex(seededRandom(now), 16),
    expiresAt: now + (p.ttlMs ?? 3_600_000),
    action: 'access.session',
    orderKey: ORDER_KEY,
  } as const)
  return `session.${toBase64Url(Buffer.from(JSON.stringify(token)))}`
}

/** `body` signed as a call on upload `uploadId` by the session's order key (ORDER_SIGNER), with a fresh nonce. */
export function sc<B extends Record<string, CanonicalValue>>(
  h: Harness,
  uploadId: string,
  action: SessionCallAction,
  body: B,
): B & { auth: SessionCallAuth } {
  const nonce = randomHex(h.random, 16)
  const expiresAt = h.clock.now() + 60_000
  const signature = toBase64Url(
    ORDER_SIGNER.sign(sessionCallBytes({ chainId, uploadId, action, body, nonce, expiresAt })),
  )
  return { ...body, auth: { nonce, expiresAt, signature } }
}

export function nonce(random: RandomBytes): string {
  return randomHex(random, 16)
}

export function signCreate(
  h: Harness,
  wallet: WalletSigner,
  p: {
    k?: number
    m?: number
    segmentSize?: number
    size?: number | null
    name?: string
    public?: boolean
    chainId?: string
    nonce?: string
    expiresAt?: number
    /** Segment 0 planned with the create. */
    segment?: { size: number; shardSize: number; shards: string[] }
  } = {},
) {
  return signAsWallet(wallet, {
    chainId: p.chainId ?? chainId,
    signer: wallet.address,
    nonce: p.nonce ?? nonce(h.random),
    expiresAt: p.expiresAt ?? h.clock.now() + 60_000,
    action: 'upload.create',
    orderKey: ORDER_KEY,
    k: p.k ?? 4,
    m: p.m ?? 2,
    segmentSize: p.segmentSize ?? 1024,
    size: p.size === undefined ? null : p.size,
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.public ? { public: true } : {}),
    ...(p.segment ? { segment: p.segment } : {}),
  } as const)
}

export function signCommit(
  h: Harness,
  wallet: WalletSigner,
  p: {
    uploadId: string
    cid: string
    size: number
    kind?: 'file' | 'directory'
    blocks?: Uint8Array[]
    signer?: string
    nonce?: string
  },
) {
  const digest = sha256Hex(Buffer.concat(p.blocks ?? []))
  const payload: CommitPayload = {
    chainId,
    signer: p.signer ?? wallet.address,
    nonce: p.nonce ?? nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
    action: 'upload.commit',
    uploadId: p.uploadId,
    cid: p.cid,
    size: p.size,
    kind: p.kind ?? 'file',
    dagDigest: digest,
  }
  if (payload.signer === wallet.address) return signAsWallet(wallet, payload)
  // Forged: claims another signer but is signed by `wallet`.
  const real = signAsWallet(wallet, { ...payload, signer: wallet.address })
  return { payload, signature: real.signature }
}

export function signDelete(h: Harness, wallet: WalletSigner, cid: string, n?: string) {
  return signAsWallet(wallet, {
    chainId,
    signer: wallet.address,
    nonce: n ?? nonce(h.random),
    expiresAt: h.clock.now() + 60_000,
    action: 'file.delete',
    cid,
  } as const)
}

/** A real dag-pb DAG: a root linking to `leaves` fake leaf CIDs; returns the root CID and its block. */
export function makeDag(
  seed: number,
  opts: { version?: 0 | 1; leaves?: number } = {},
): { cid: string; blocks: Uint8Array[] } {
  const leaves = Array.from({ length: opts.leaves ?? 2 }, (_, i) =>
    CID.createV1(0x55, Digest.create(0x12, sha256(new Uint8Array([seed, i])))),
  )
  const block = dagPb.encode(
    dagPb.prepare({
      Data: new Uint8Array([8, 2, seed & 0xff]),
      Links: leaves.map((l, i) => ({ Hash: l, Name: '', Tsize: 100 + i })),
    }),
  )
  const digest = Digest.create(0x12, sha256(block))
  const cid = (opts.version ?? 0) === 0 ? CID.createV0(digest) : CID.createV1(0x70, digest)
  return { cid: cid.toString(), blocks: [block] }
}

export function shardIds(random: RandomBytes, n: number): string[] {
  return Array.from({ length: n }, () => randomHex(random, 32))
}

export interface Uploaded {
  uploadId: string
  placements: Placement[][]
  receipts: SignedReceipt[]
  shards: string[][]
}

/** Creates a session and plans segments for `size` bytes; returns placements and the receipts the nodes would sign. */
export async function planUpload(
  h: Harness,
  wallet: WalletSigner,
  p: {
    size: number
    k?: number
    m?: number
    segmentSize?: number
    shardIds?: (segment: number) => string[]
    name?: string
    public?: boolean
    /** Plan segment 0 with the create (one call) instead of on its own. */
    fold?: boolean
  },
): Promise<Uploaded> {
  const k = p.k ?? 4,
    m = p.m ?? 2,
    segmentSize = p.segmentSize ?? 1024
  const first = Math.min(segmentSize, p.size)
  const firstIds = p.fold && p.size > 0 ? (p.shardIds?.(0) ?? shardIds(h.random, k + m)) : undefined
  const session = await h.client.createUpload(
    signCreate(h, wallet, {
      k,
      m,
      segmentSize,
      size: p.size,
      ...(p.name !== undefined ? { name: p.name } : {}),
      ...(p.public ? { public: true } : {}),
      ...(firstIds ? { segment: { size: first, shardSize: shardSizeFor(first, k), shards: firstIds } } : {}),
    }),
  )
  assert.equal(session.placements !== undefined, firstIds !== undefined)
  const placements: Placement[][] = []
  const shards: string[][] = []
  const receipts: SignedReceipt[] = []
  for (let i = 0, off = 0; off < p.size; i++, off += segmentSize) {
    const size = Math.min(segmentSize, p.size - off)
    const ids = (i === 0 ? firstIds : undefined) ?? p.shardIds?.(i) ?? shardIds(h.random, k + m)
    const plan =
      i === 0 && session.placements
        ? { placements: session.placements }
        : await h.client.planSegment(
            session.uploadId,
            sc(h, session.uploadId, 'upload.plan', { index: i, size, shardSize: shardSizeFor(size, k), shards: ids }),
          )
    placements.push(plan.placements)
    shards.push(ids)
    for (const pl of plan.placements) receipts.push(h.nodes.get(pl.node)!.receipt(h, pl.ticket))
  }
  return { uploadId: session.uploadId, placements, receipts, shards }
}

/** The whole happy path: plan, receipts, commit. */
export async function uploadFile(
  h: Harness,
  wallet: WalletSigner,
  p: {
    size: number
    seed?: number
    k?: number
    m?: number
    segmentSize?: number
    name?: string
    public?: boolean
    fold?: boolean
  },
): Promise<{ file: FileRecordView; up: Uploaded; blocks: Uint8Array[] }> {
  const up = await planUpload(h, wallet, p)
  const dag = makeDag(p.seed ?? 1)
  const file = await h.client.commit(up.uploadId, {
    request: signCommit(h, wallet, { uploadId: up.uploadId, cid: dag.cid, size: p.size, blocks: dag.blocks }),
    dagBlocks: dag.blocks.map(toBase64Url),
    receipts: up.receipts,
  })
  return { file, up, blocks: dag.blocks }
}

/** Polls `fn` until it returns a truthy value (real time; for the sweeper's timer). */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 3_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) assert.fail('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
