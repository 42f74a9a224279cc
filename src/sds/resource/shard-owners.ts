/**
 * ShardOwners: which meta nodes each stored shard belongs to (LMDB env under DATA/owners/).
 *
 *   owners  [shard, meta address] → shard size    written when a PUT under that meta node's ticket succeeds
 *
 * A resource node serves several meta nodes, each with its own files. Shards are named by the hash of their bytes,
 * so two meta nodes can place the very same shard on one node; it is stored once and belongs to both. A delete from
 * one meta node only releases that meta node's claim: the file goes when no claim is left. A shard without any
 * claim was stored before claims were recorded (one meta node then): the first delete that names it removes it.
 *
 * The whole table is mirrored in memory (one small entry per shard and claim, like the shard store's own index) so
 * the per-meta counts of the heartbeats need no scan. Writes (claims and releases, in the order made) are queued and
 * written in one LMDB transaction every RESOURCE_OWNERS_COMMIT_INTERVAL_MS (and at flushed() and close()): one
 * commit per shard PUT, or lmdb-js's per-put writer wake-ups, were a large part of a node's CPU under small uploads.
 * A crash loses at most the newest claims, which only makes a later delete remove a shard a little early — the meta
 * node's audits then find it missing and repair it, as for any lost shard.
 */
import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { StratosError } from '../../errors.ts'
import { RESOURCE_OWNERS_COMMIT_INTERVAL_MS } from '../../limits.ts'

type Key = [shard: string, meta: string]

export interface OwnedTotals {
  shardCount: number
  usedBytes: number
}

export class ShardOwners {
  readonly path: string
  readonly #root: RootDatabase
  readonly #db: Database<number, Key>
  /** shard → (meta → size). */
  readonly #claims = new Map<string, Map<string, number>>()
  readonly #totals = new Map<string, OwnedTotals>()
  /** Distinct shards with at least one claim, and their bytes. */
  readonly #claimed: OwnedTotals = { shardCount: 0, usedBytes: 0 }
  /** Writes not yet handed to LMDB, in the order made: a claim (with its size) or a release (without). */
  #queue: { key: Key; size?: number }[] = []
  /** The next commit of the queue. */
  #timer: NodeJS.Timeout | undefined
  #closed = false

  private constructor(path: string, root: RootDatabase) {
    this.path = path
    this.#root = root
    this.#db = root.transactionSync(() => root.openDB<number, Key>({ name: 'owners' }))
  }

  /** Opens (or creates) the claim table at `path` (a directory) and loads it into memory. */
  static open(path: string): ShardOwners {
    mkdirSync(path, { recursive: true })
    let owners: ShardOwners
    try {
      owners = new ShardOwners(path, open({ path, maxDbs: 2, compression: false }))
    } catch (e) {
      throw new StratosError(
        'NETWORK_CONFIG',
        `cannot open the shard owner table at ${path}: ${(e as Error).message}`,
        { path },
        { cause: e },
      )
    }
    for (const { key, value } of owners.#db.getRange({})) owners.#remember(key[0], key[1], value)
    return owners
  }

  /** Records that `meta` placed `shard` (`size` bytes) here; idempotent. */
  claim(shard: string, meta: string, size: number): void {
    this.#check()
    if (this.#claims.get(shard)?.has(meta)) return
    this.#remember(shard, meta, size)
    this.#enqueue({ key: [shard, meta], size })
  }

  /**
   * `meta` released `shard`. Answers whether nothing holds the shard any more (the file can go): true when the
   * last claim went, or when the shard had no claim at all (stored before claims were recorded).
   */
  release(shard: string, meta: string): boolean {
    this.#check()
    const claims = this.#claims.get(shard)
    if (!claims) return true
    const size = claims.get(meta)
    if (size === undefined) return false
    claims.delete(meta)
    this.#count(meta, -1, -size)
    if (claims.size === 0) {
      this.#claims.delete(shard)
      this.#claimed.shardCount--
      this.#claimed.usedBytes -= size
    }
    this.#enqueue({ key: [shard, meta] })
    return claims.size === 0
  }

  /** Meta nodes holding a claim on `shard` (empty: none recorded). */
  ownersOf(shard: string): string[] {
    return [...(this.#claims.get(shard)?.keys() ?? [])]
  }

  /** Shards and bytes `meta` placed here (and has not released). */
  totals(meta: string): OwnedTotals {
    const t = this.#totals.get(meta)
    return t ? { ...t } : { shardCount: 0, usedBytes: 0 }
  }

  /** Distinct shards with at least one claim, and their bytes. */
  claimed(): OwnedTotals {
    return { ...this.#claimed }
  }

  /** Writes what is queued now; resolves when every claim and release made so far is committed. */
  flushed(): Promise<void> {
    this.#commit()
    return this.#root.flushed.then(() => undefined)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#commit()
    await this.#root.flushed
    await this.#root.close()
  }

  #enqueue(op: { key: Key; size?: number }): void {
    this.#queue.push(op)
    this.#timer ??= setTimeout(() => this.#commit(), RESOURCE_OWNERS_COMMIT_INTERVAL_MS).unref()
  }

  /** Hands the queued writes to LMDB as one transaction (committed and synced on its writer thread). */
  #commit(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const ops = this.#queue
    if (ops.length === 0) return
    this.#queue = []
    const db = this.#db
    // A failed commit rejects unhandled, as each put's did before: the process stops rather than run on unrecorded.
    void this.#root.transaction(() => {
      for (const op of ops) {
        if (op.size === undefined) void db.remove(op.key)
        else void db.put(op.key, op.size)
      }
    })
  }

  #remember(shard: string, meta: string, size: number): void {
    let claims = this.#claims.get(shard)
    if (!claims) {
      this.#claims.set(shard, (claims = new Map()))
      this.#claimed.shardCount++
      this.#claimed.usedBytes += size
    }
    claims.set(meta, size)
    this.#count(meta, 1, size)
  }

  #count(meta: string, shards: number, bytes: number): void {
    const t = this.#totals.get(meta) ?? { shardCount: 0, usedBytes: 0 }
    t.shardCount += shards
    t.usedBytes += bytes
    if (t.shardCount === 0) this.#totals.delete(meta)
    else this.#totals.set(meta, t)
  }

  #check(): void {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the shard owner table is closed')
  }
}
