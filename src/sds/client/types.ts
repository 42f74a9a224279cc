/** Public option/result types of the client SDK and the components its pipelines share. */
import type { WalletSigner } from '../protocol/signing.ts'
import type { Clock, RandomBytes } from '../../util/components.ts'
import type { ReadCache } from './read-cache.ts'
import type { MetaClient } from '../../net/meta-client.ts'
import type { ResourceClient } from '../../net/resource-client.ts'
import type { Semaphore } from './limiter.ts'
import type { RecyclingBufferPool } from '../../util/buffer-pool.ts'
import type { OrderSigner } from '../protocol/orders.ts'

export type ProgressEvent =
  | { type: 'upload:start'; total: number | null }
  | { type: 'upload:progress'; bytes: number; total: number | null } // file bytes read+encoded
  | { type: 'upload:shard'; segment: number; shardIndex: number; node: string; bytes: number }
  | { type: 'upload:retry'; segment: number; shardIndex: number; node: string; code: string }
  | { type: 'upload:commit'; cid: string }
  | { type: 'download:progress'; bytes: number; total: number }
  | { type: 'download:fallback'; segment: number; shardIndex: number; node: string; code: string }

export interface StratosClientOptions {
  metaUrl: string
  /**
   * Needed for put/rm. Reads with a wallet act for it (its own files and public ones: a session token signed
   * here, docs/security.md); without one, only public files can be read.
   */
  wallet?: WalletSigner
  /**
   * Read under someone else's access instead: a read grant's id (`grant.{id}`, or the bare id with `grant`),
   * or a share link's access token (`share.{token}`). Default: the wallet's session, else anonymous.
   */
  access?: string
  /** A read grant's id: same as `access: 'grant.' + id`. */
  grant?: string
  /** Default: fetched from meta /v1/info. */
  chainId?: string
  /** Default: the meta node's defaults. */
  k?: number
  m?: number
  segmentSize?: number
  /**
   * Files of at most this many bytes are stored as whole copies: k = 1 with the same m, i.e. 1 + m copies on 1 + m
   * nodes, instead of k + m coded shards. They survive the same m lost nodes; an upload then makes 1 + m shard PUTs
   * instead of k + m (3 instead of 6 at k=4 m=2: about half the client's and the nodes' CPU per small file, measured
   * in bench/README.md) and a read fetches one shard instead of k, for (1 + m) / ((k + m) / k) times the stored and
   * paid bytes (2× at k=4 m=2). Default 0: every file is coded with k and m.
   */
  copiesUpToBytes?: number
  clock?: Clock
  random?: RandomBytes
  /**
   * Wallet signatures by libsecp256k1 when its binding loads (default true: ~2 ms of pure JS per signature saved).
   * A process that signs once or twice and exits (the CLI) passes false: loading the binding and its self-test cost
   * more (~40 ms of CPU) than a few signatures with @noble/curves.
   */
  nativeWalletCrypto?: boolean
  /**
   * With chainId, k, m and segmentSize all given (a network file has them), connect() returns without waiting for the
   * meta node's `info`: it goes out at once, beside the client's first call, and that call's answer (and every later
   * one) reaches the caller only after the chain-id check passed, so nothing the meta node says (a record, tickets,
   * placements) is used before it: a WRONG_CHAIN fails the call. Saves a round trip before a command's first request
   * (bench/README.md, issue 15). Default false: connect() waits for the check.
   */
  infoBeside?: boolean
}

export interface PutOptions {
  name?: string
  /**
   * Publish: anyone may read the file (and its directory's files) through any gateway, paid by this wallet's ozone
   * like a publisher pays its CDN; cap what that may cost with `setBudget`. Default false: private, readable by
   * this wallet, its share links and its read grants only.
   */
  public?: boolean
  cidVersion?: 0 | 1
  rawLeaves?: boolean
  /** Fixed chunk size of the file DAG (Kubo's `--chunker=size-N`); default 256 KiB, Kubo's. */
  chunkBytes?: number
  /** putDirectory: include dot-files (Kubo's `--hidden`); default false, as Kubo. */
  hidden?: boolean
  /**
   * Read files of CLIENT_DIRECT_READ_MIN_BYTES or more with direct I/O (O_DIRECT), bypassing the page
   * cache, so a big upload does not evict hotter data (falls back by itself where the file system
   * refuses it). Default false: files already in the page cache upload faster through it than direct
   * (bench/README.md, "Measurements cited by the code"; the disk then serves the client's reads and
   * the nodes' writes at once).
   */
  directIo?: boolean
  signal?: AbortSignal
  onProgress?: (e: ProgressEvent) => void
}

export interface PutResult {
  cid: string
  size: number
  /** Cumulative DAG size (sum of block sizes; Kubo's `Size` in `add` output and a directory link's Tsize). */
  dagSize?: number
  kind: 'file' | 'directory'
  segments: number
  entries?: { path: string; cid: string; size: number }[]
}

export interface ReadOptions {
  offset?: number
  length?: number
  signal?: AbortSignal
  onProgress?: (e: ProgressEvent) => void
  /**
   * Recycle the yielded buffers: each chunk is valid only until the loop asks for the next one
   * (copy what you keep; finish any write of it before continuing). Saves the garbage collection of
   * a fresh multi-MiB buffer per shard — about half the client's CPU on a large read. Default false:
   * every chunk is a buffer of its own the caller may keep.
   */
  reuseBuffers?: boolean
  /**
   * With reuseBuffers: the pool the read takes its buffers from and gives them back to. Default: the client's own,
   * whose idle buffers are dropped after CLIENT_BUFFERS_IDLE_MS; a server that reads now and then (the gateway) passes
   * one it keeps longer, so that a read does not start by allocating (and faulting in) its buffers afresh.
   */
  buffers?: RecyclingBufferPool
  /**
   * Segments fetched at once (default CLIENT_SEGMENTS_IN_FLIGHT): the next one is always fetched while the caller
   * takes the last. A fresh process (the CLI's `get`) passes 1: each segment in flight is k shard buffers it must
   * first fault in (a 200 MiB get at k=4: 32 MiB and ~50 ms of CPU less, and no slower; bench/README.md, issue 15).
   */
  segmentsInFlight?: number
}

/** A file path, bytes in memory, or a stream of bytes. */
export type UploadSource = string | Uint8Array | AsyncIterable<Uint8Array>

/** What the upload and download pipelines need from the client (narrow, injectable). */
export interface TransferComponents {
  meta: MetaClient
  /** Record + read tickets, reused across reads of the same file while fresh (read-cache.ts). */
  reads: ReadCache
  resource: ResourceClient
  /** Global bound on concurrent shard transfers of this client (CLIENT_SHARD_CONCURRENCY). */
  shardLimiter: Semaphore
  /** This client's order key and the cumulative bytes it signed per order limit (Proof of Traffic). */
  orders: OrderSigner
  chainId: string
  clock: Clock
  random: RandomBytes
  /** Buffers of `reuseBuffers` reads, shared by this client's reads (a read without one uses its own). */
  readBuffers?: RecyclingBufferPool
  /** Page-aligned buffers of the reads `get` writes to a file (direct I/O from them: output-file.ts). */
  fileBuffers?: RecyclingBufferPool
  /** Segment buffers shared by this client's uploads, one after another (an upload without one allocates its own). */
  uploadBuffers?: RecyclingBufferPool
}
