/**
 * Every limit and default of the system, in one place, with units in the name.
 * docs/limits.md explains them for operators; change both together.
 */

const KiB = 1024
const MiB = 1024 * KiB

// ---- Data layout -------------------------------------------------------------------
/** Kubo's default chunk size for `ipfs add` (size-262144). */
export const UNIXFS_CHUNK_BYTES = 256 * KiB
/** Kubo's balanced layout width. */
export const UNIXFS_MAX_LINKS = 174
/** Kubo's HAMTShardingSize: a directory whose links (name + CID bytes) exceed this becomes a HAMT. */
export const UNIXFS_HAMT_THRESHOLD_BYTES = 256 * KiB
/** A file is cut into segments of this size; each is erasure-coded independently. */
export const DEFAULT_SEGMENT_BYTES = 32 * MiB
/** Upper bound a client may ask for; bounds client and node memory per segment. */
export const MAX_SEGMENT_BYTES = 64 * MiB
/** Reed-Solomon defaults (devnet): any k of k+m shards rebuild a segment. */
export const DEFAULT_DATA_SHARDS = 4
export const DEFAULT_PARITY_SHARDS = 2
/** @ronomon/reed-solomon limits (k ≤ 24, m ≤ 6) and shard-size alignment (bytes). */
export const MAX_DATA_SHARDS = 24
export const MAX_PARITY_SHARDS = 6
export const SHARD_ALIGN_BYTES = 8
/** Shards are verified in chunks of this size (shard id = hash over chunk hashes). */
export const SHARD_CHUNK_BYTES = 256 * KiB
/** Largest shard a node accepts (a full segment with k = 1). */
export const MAX_SHARD_BYTES = MAX_SEGMENT_BYTES

// ---- Signed messages ----------------------------------------------------------------
/** Transfer tickets signed by the meta node are valid this long. */
export const TICKET_TTL_MS = 10 * 60_000
/** Wallet-signed requests must expire within this window (replay protection window). */
export const MAX_REQUEST_TTL_MS = 10 * 60_000
/** Allowed clock skew between processes when checking expiries. */
export const CLOCK_SKEW_MS = 30_000

// ---- Meta node ----------------------------------------------------------------------
/** Resource nodes send a heartbeat this often. */
export const HEARTBEAT_INTERVAL_MS = 1_000
/** A node whose last heartbeat is older than this is offline: no new data, not offered for reads first. */
export const NODE_OFFLINE_AFTER_MS = 5_000
/** An upload session with no activity for this long is abandoned and its shards are released. */
export const UPLOAD_SESSION_TTL_MS = 15 * 60_000
/** How often the meta node sweeps expired upload sessions. */
export const UPLOAD_SWEEP_INTERVAL_MS = 5_000
/** Most shard deletions handed to one node per heartbeat reply. */
export const MAX_DELETES_PER_HEARTBEAT = 1_000
/** Largest JSON body the meta node accepts (commit carries the DAG's inner nodes). */
export const MAX_JSON_BODY_BYTES = 32 * MiB
/** Read tickets are issued for at most this many segments per request. */
export const MAX_SEGMENTS_PER_READ_REQUEST = 64
/** Most files listed in one page. */
export const MAX_LIST_PAGE = 1_000
/** A heartbeat reply (signed by the meta node) is valid this long. */
export const HEARTBEAT_REPLY_TTL_MS = 60_000
/** Most nodes one shard of an upload may be placed on over its life (first plan + replacements). */
export const MAX_PLACEMENTS_PER_SHARD = 16
/** Most expired upload sessions (and, separately, used nonces) one sweep removes; the rest wait for the next sweep. */
export const META_SWEEP_BATCH = 1_000
/** Memory for decoded file records and their JSON on the meta node's read path (least recently used evicted). */
export const META_RECORD_CACHE_BYTES = 64 * MiB

// ---- Resource node ------------------------------------------------------------------
/** Free space a node keeps in reserve and never fills with shards. */
export const NODE_RESERVED_BYTES = 64 * MiB
/** Most shard uploads a node accepts at once (bounds memory and file handles). */
export const MAX_CONCURRENT_SHARD_WRITES = 32
/** Write buffer of a shard upload's temp file (fs.WriteStream highWaterMark): fewer, larger write syscalls. */
export const SHARD_WRITE_BUFFER_BYTES = 1 * MiB
/** Chunks a resource node reads (one pread) and verifies per batch when serving a shard: 4 × 256 KiB = 1 MiB per read, one batch read ahead. */
export const SHARD_READ_BATCH_CHUNKS = 4
/** Shard files stat'ed at once when a resource node rebuilds its index at start. */
export const STORE_SCAN_CONCURRENCY = 64
/** Verified tickets a resource node remembers (by header) so reusing a ticket skips signature checks (~0.5 KiB each). */
export const TICKET_CACHE_ENTRIES = 10_000
/** Verified chunk-hash lists a resource node keeps in memory (≤ 8 KiB each for 64 MiB shards; 1 KiB for 8 MiB): reads skip the header read. */
export const CHUNK_LIST_CACHE_ENTRIES = 4_096
/** A heartbeat's signature is valid this long (it is answered at once; the margin covers slow links and skew). */
export const HEARTBEAT_TTL_MS = 30_000

// ---- Client SDK -----------------------------------------------------------------------
/** Segments encoded or decoded at once by a client (each holds (k+m)/k × segment bytes). */
export const CLIENT_SEGMENTS_IN_FLIGHT = 2
/** Shard transfers a client runs at once across all nodes. */
export const CLIENT_SHARD_CONCURRENCY = 16
/** Times a client tries other nodes for one shard before giving up. */
export const CLIENT_SHARD_UPLOAD_ATTEMPTS = 4
/** A data shard slower than this starts a parallel fetch of a parity shard (hedged read). */
export const CLIENT_HEDGE_AFTER_MS = 1_500
/** Per-request timeouts for shard transfers. */
export const CLIENT_SHARD_TIMEOUT_MS = 60_000
export const CLIENT_CONTROL_TIMEOUT_MS = 15_000
/** Wallet-signed requests a client makes (create upload, commit, delete) expire this long after signing. */
export const CLIENT_REQUEST_TTL_MS = 5 * 60_000
/** Segments whose read tickets a client asks for in one request (≤ MAX_SEGMENTS_PER_READ_REQUEST); the next window is fetched ahead. */
export const CLIENT_READ_WINDOW_SEGMENTS = 16
/** A client reuses a file's record and read tickets for this long (bounds how stale node state in the record may be). */
export const CLIENT_READ_CACHE_TTL_MS = 30_000
/** …and only while every cached ticket has at least this much life left. */
export const CLIENT_READ_CACHE_MARGIN_MS = 60_000
/** Files whose read responses a client keeps (least recently used evicted). */
export const CLIENT_READ_CACHE_FILES = 256

// ---- CLI ------------------------------------------------------------------------------
/** How long one GET /txs/:hash/wait long-poll of a tx command lasts (the validator caps it at 60 s). */
export const TX_WAIT_POLL_MS = 30_000
/** Total time a tx command waits for its tx to be included before TIMEOUT. */
export const TX_INCLUSION_TIMEOUT_MS = 120_000

// ---- Ports (127.0.0.1) -------------------------------------------------------------------
export const DEFAULT_PORTS = {
  chainRest: 1317,
  ipfsApi: 5001,
  gateway: 8080,
  meta: 7100,
  resourceBase: 7201,
} as const
/** `--port-base P` moves every port: chain P+17, IPFS API P+1, gateway P+80, meta P+100, resources P+201…  */
export function portsFromBase(base: number): { chainRest: number; ipfsApi: number; gateway: number; meta: number; resourceBase: number } {
  return { chainRest: base + 17, ipfsApi: base + 1, gateway: base + 80, meta: base + 100, resourceBase: base + 201 }
}

export const DEVNET_CHAIN_ID = 'stratos-devnet-1'
export const SOFTWARE_VERSION = '0.1.0'

// ---- Devnet and CLI -----------------------------------------------------------------------
/** Resource nodes `stratos devnet` starts when not told otherwise (k + m = 6 by default, so one per shard). */
export const DEFAULT_DEVNET_RESOURCES = 6
/** How long `stratos devnet` waits for every process to answer and every node to be online. */
export const DEVNET_READY_TIMEOUT_MS = 60_000
/** How often the devnet polls a starting process (and the meta node's node list) while waiting. */
export const DEVNET_POLL_INTERVAL_MS = 100
/** After SIGTERM, a child process gets this long to stop before it is killed with SIGKILL. */
export const DEVNET_STOP_GRACE_MS = 5_000
/** `stratos node …`: a graceful stop that takes longer than this exits anyway (code 1). */
export const NODE_STOP_TIMEOUT_MS = 10_000
/** A second SIGINT/SIGTERM sooner than this after the first is the same request relayed (npm and tsx forward signals to their child), not "stop now". */
export const SIGNAL_REPEAT_WINDOW_MS = 1_000
