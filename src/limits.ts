/**
 * Every limit and default of the system, in one place, with units in the name.
 * docs/limits.md explains them for operators; change both together.
 */

const KiB = 1024
const MiB = 1024 * KiB

// ---- Data layout -------------------------------------------------------------------
/** Kubo's default chunk size for `ipfs add` (size-262144). */
export const UNIXFS_CHUNK_BYTES = 256 * KiB
/** Largest fixed chunk size `add --chunker=size-N` accepts (Kubo's chunker limit). */
export const UNIXFS_MAX_CHUNK_BYTES = 1 * MiB
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
/** A resource node with a chain URL looks at the chain's meta node list this often (new meta nodes, removed ones). */
export const META_DISCOVERY_INTERVAL_MS = 5_000
/** A node whose last heartbeat is older than this is offline: no new data, not offered for reads first. */
export const NODE_OFFLINE_AFTER_MS = 5_000
/** An upload session with no activity for this long is abandoned and its shards are released. */
export const UPLOAD_SESSION_TTL_MS = 15 * 60_000
/** How often the meta node sweeps expired upload sessions. */
export const UPLOAD_SWEEP_INTERVAL_MS = 5_000
/** Meta index shared by several processes (PostgreSQL): how long one process holds the background duties' lease. */
export const META_DUTY_LEASE_TTL_MS = 15_000
/** …and how often its holder renews it (a third of the ttl: two renewals may fail before another process takes over). */
export const META_DUTY_LEASE_RENEW_MS = 5_000
/** Shared meta index: how often a process reloads node records and reputation and drops its cached file records. */
export const META_SHARED_REFRESH_MS = 1_000
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
/**
 * Alignment of direct I/O (O_DIRECT) on resource nodes: memory, file offsets and lengths are
 * multiples of this (covers 512-byte and 4 KiB logical blocks). Shard data starts at offset 0 of its
 * file so every staging buffer lands on an aligned offset.
 */
export const DIRECT_IO_ALIGN_BYTES = 4 * KiB
/** Chunks a resource node reads (one pread) and verifies per batch when serving a shard: 8 × 256 KiB = 2 MiB per read, one batch read ahead. */
export const SHARD_READ_BATCH_CHUNKS = 8
/**
 * A shard PUT's body is read into staging buffers of this size, hashed and written whole with O_DIRECT (a multiple of
 * SHARD_CHUNK_BYTES). 4 MiB rather than 1 MiB: each direct write costs a fixed round of thread-pool hand-over, device
 * wait and wake-ups; a 200 MiB put's six nodes spent ~100 ms less CPU (bench/README.md, "Measurements cited by the code").
 */
export const PUMP_STAGING_BYTES = 16 * SHARD_CHUNK_BYTES
/** Staging buffers of one PUT being written at once; the body is paused beyond (bounds memory per PUT: 8 MiB written, one filling). */
export const PUMP_STAGING_BUFFERS = 2
/**
 * Idle read buffers (at most SHARD_READ_BATCH_CHUNKS chunks each, 2 MiB) a resource node keeps for reuse across
 * responses; all are dropped after SHARD_READ_BUFFERS_IDLE_MS without a read. Each response in flight holds two (the
 * batch being sent, the next one read ahead): 8 made a node serving 16 range reads at once allocate a fresh buffer per
 * batch, and the external memory cost it a full garbage collection every few dozen reads (bench/README.md, meta index).
 */
export const SHARD_READ_POOL_BUFFERS = 32
/** See SHARD_READ_POOL_BUFFERS. */
export const SHARD_READ_BUFFERS_IDLE_MS = 30_000
/** Shard files stat'ed at once when a resource node rebuilds its index at start. */
export const STORE_SCAN_CONCURRENCY = 64
/**
 * Shards smaller than this are written through the page cache even where the store uses direct I/O: an O_DIRECT write
 * waits for the device, which for a small shard is most of its PUT's time, while the page-cache copy it avoids is tiny.
 * Durability is the same (the sync mode's fdatasync covers either kind of write). Outside `--sync always` such a shard
 * is also received into memory and created, written, closed and renamed with synchronous calls (tens of µs) instead
 * of thread-pool round trips, each of which waits for the process to be scheduled again on a busy machine.
 */
export const STORE_DIRECT_IO_MIN_BYTES = 256 * KiB
/**
 * A resource node checks a shard PUT against the disk's free space from a statfs at most this old, less the shard bytes
 * it published since (a fresh statfs per PUT was one more thread-pool round trip on every small upload's path).
 */
export const STORE_DISK_SAMPLE_MAX_AGE_MS = 1_000
/** `--sync batch`: a shard acknowledged without fdatasync is made durable (fdatasync + directory fsync) at most this long after it was written. */
export const STORE_SYNC_INTERVAL_MS = 1_000
/** `--sync batch`: unsynced shard bytes that start a flush early; while this much is waiting for the disk, new PUTs wait (backpressure). */
export const STORE_SYNC_MAX_PENDING_BYTES = 256 * MiB
/** `--sync batch`: each unsynced shard counts at least this much against STORE_SYNC_MAX_PENDING_BYTES (bounds the number of pending entries). */
export const STORE_SYNC_MIN_ENTRY_BYTES = 4 * KiB
/** `--sync batch`: shard files the flusher fdatasyncs at once (each holds a libuv thread-pool thread for the whole sync). */
export const STORE_SYNC_CONCURRENCY = 2
/** After an unclean stop: shards whose ctime/mtime is this close to (or after) the last synced-through checkpoint are re-verified too (coarse file timestamps, small clock steps). */
export const STORE_RECHECK_MARGIN_MS = 2_000
/** After an unclean stop: shards fully re-verified at once before the node serves. */
export const STORE_RECHECK_CONCURRENCY = 2
/** Verified tickets a resource node remembers (by header) so reusing a ticket skips signature checks (~0.5 KiB each). */
export const TICKET_CACHE_ENTRIES = 10_000
/** On stop, transfers still running get this long before their connections are cut. */
export const SERVER_CLOSE_GRACE_MS = 2_000
/** Servers keep an idle keep-alive connection this long: longer than any of our clients keeps one (30 s), so the client closes first. */
export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 65_000
/** How often a meta node re-reads the chain's height, epoch and resource node registry. */
export const CHAIN_SYNC_INTERVAL_MS = 2_000
/** How long a meta node trusts a wallet's ozone balance read from the chain before reading it again. */
export const OZONE_CACHE_MS = 2_000
/** Largest accepted x-stratos-order header (a signed order is ~300 bytes of base64url). */
export const MAX_ORDER_HEADER_BYTES = 2_048
/** Serials whose cumulative signed bytes a client's OrderSigner remembers (least recently used dropped). */
export const ORDER_SIGNER_SERIALS = 100_000
/** How often a resource node hands its settleable orders to the meta node (and once more at stop). */
export const ORDER_SETTLE_INTERVAL_MS = 10_000
/**
 * A resource node's order store (LMDB) commits the writes of this many ms together: each commit
 * is an fdatasync, once per shard PUT without it. Nothing on the request path waits for these commits.
 */
export const RESOURCE_LMDB_COMMIT_DELAY_MS = 20
/**
 * A resource node's shard-owner table (LMDB, one claim per new shard) is written in one transaction per this many ms:
 * each commit costs the node ~0.6 ms of CPU on this project's VMs (a thread-pool wake-up, page writes, two
 * fdatasyncs), and lmdb-js's own batching (commitDelay) still wakes its writer once per put. Nothing on the request
 * path waits for it; a crash loses at most this much of the newest claims (see shard-owners.ts).
 */
export const RESOURCE_OWNERS_COMMIT_INTERVAL_MS = 200
/** A serial is settled once its limit expired, its order reached the limit's size, or it is older than this (so the highest order settles, not an early one). */
export const ORDER_SETTLE_AFTER_MS = 60_000
/** The meta node accepts an order this long after its limit expired, no later; a resource node drops unsettled orders past it. */
export const ORDER_SETTLE_WINDOW_MS = 60 * 60_000
/** A resource node's last settlement round when it stops waits at most this long for the meta node. */
export const ORDER_SETTLE_STOP_TIMEOUT_MS = 3_000
/**
 * How often each meta process moves the PUT credits commits left (pot/put-credits.ts) into the traffic aggregates (and
 * once more at stop): each aggregate row is written once per sweep, not once per commit.
 */
export const PUT_CREDIT_INTERVAL_MS = 10_000
/** Pending PUT credits (one per committed upload, repair or replica) moved per transaction of that sweep. */
export const PUT_CREDIT_BATCH = 500
/** Most (ticket, order) pairs in one settlement request. */
export const MAX_SETTLE_BATCH = 1_000
/** Serials with an unsettled order a resource node keeps at most; transfers on new serials are refused with BUSY beyond it. */
export const MAX_UNSETTLED_ORDERS = 200_000
/** Verified chunk-hash lists a resource node keeps in memory (≤ 8 KiB each for 64 MiB shards; 1 KiB for 8 MiB): reads skip the header read. */
export const CHUNK_LIST_CACHE_ENTRIES = 4_096
/** Shard files a resource node keeps open after their last read (least recently used closed first): hot shards are not reopened per GET. */
export const SHARD_OPEN_IDLE_HANDLES = 64
/** A heartbeat's signature is valid this long (it is answered at once; the margin covers slow links and skew). */
export const HEARTBEAT_TTL_MS = 30_000

// ---- Client SDK -----------------------------------------------------------------------
/** Segments encoded or decoded at once by a client (each holds (k+m)/k × segment bytes). */
export const CLIENT_SEGMENTS_IN_FLIGHT = 2
/**
 * With PutOptions.directIo, files at least this large are read with direct I/O (source.ts): a big
 * upload then does not evict hotter data. Smaller files are likely cached already and cheap either way.
 */
export const CLIENT_DIRECT_READ_MIN_BYTES = 16 * MiB
/** Shard transfers a client runs at once across all nodes. */
export const CLIENT_SHARD_CONCURRENCY = 16
/**
 * ChainClient with several validator URLs: senders remembered on another validator than their address picks
 * (theirs could not be reached); when full the memory is emptied (they go back to their own, which is up again
 * or fails over once more).
 */
export const CHAIN_CLIENT_PINNED_SENDERS = 10_000
/** Times a client tries other nodes for one shard before giving up. */
export const CLIENT_SHARD_UPLOAD_ATTEMPTS = 4
/** A data shard slower than this starts a parallel fetch of a parity shard (hedged read). */
export const CLIENT_HEDGE_AFTER_MS = 1_500
/**
 * Fresh tickets a read asks for per shard fetch after ORDER_LIMIT_EXCEEDED or TICKET_EXPIRED. Two, not
 * one: a GET limit covers one shard's bytes, and a degraded segment read may fetch part of a shard for
 * the range and again (wider, stripe-aligned) to rebuild a lost neighbour, spending a fresh limit twice.
 */
export const CLIENT_TICKET_REFRESHES = 2
/** Per-request timeouts for shard transfers. */
export const CLIENT_SHARD_TIMEOUT_MS = 60_000
export const CLIENT_CONTROL_TIMEOUT_MS = 15_000
/** Wallet-signed requests a client makes (create upload, commit, delete) expire this long after signing. */
export const CLIENT_REQUEST_TTL_MS = 5 * 60_000
/** Shard GETs (direct-get.ts): an idle keep-alive connection is closed after this (nodes keep theirs 65 s). */
export const DIRECT_GET_IDLE_TIMEOUT_MS = 30_000
/** Idle connections kept per node; concurrency itself is bounded by CLIENT_SHARD_CONCURRENCY. */
export const DIRECT_GET_MAX_IDLE_PER_ORIGIN = CLIENT_SHARD_CONCURRENCY
/** Largest response head a shard GET accepts (the chunk-hash list of a 64 MiB shard is ~11 KB). */
export const DIRECT_GET_MAX_HEAD_BYTES = 64 * 1024
/** Bytes of an error response body a shard GET keeps (a JSON error is far smaller). */
export const DIRECT_GET_MAX_ERROR_BODY_BYTES = 64 * 1024
/** A direct shard PUT (socket-body.ts, direct-put.ts) whose connection moves no byte for this long is cut, on either side. */
export const DIRECT_PUT_IDLE_TIMEOUT_MS = 30_000
/**
 * Shards smaller than this go to the node's ordinary PUT route over a kept-alive connection instead of a direct PUT:
 * for a small shard the direct PUT's own TCP connection (handshake, upgrade, close, on both sides) costs more than the
 * copy into the node's staging buffers it saves (bench/README.md, small uploads).
 */
export const DIRECT_PUT_MIN_BYTES = 256 * 1024
/** Largest answer to a direct shard PUT a client reads (a receipt or an error is well under 1 KiB). */
export const DIRECT_PUT_MAX_RESPONSE_BYTES = 64 * 1024
/** Idle piece buffers (≤ one shard each) a client keeps for `reuseBuffers` reads: a segment and a half in flight at k = 4. */
export const CLIENT_READ_POOL_BUFFERS = 12
/** `get` starts an fdatasync of the file it writes after every this many bytes (write-back beside the download). */
export const CLIENT_WRITE_SYNC_BYTES = 32 * MiB
/** Writes of downloaded chunks `get` keeps in flight to the file (direct I/O: two keep the disk busy, one does not). */
export const CLIENT_FILE_WRITES_IN_FLIGHT = 2
/** Largest segment buffer ((k+m) shards) a client keeps between uploads; it keeps at most CLIENT_SEGMENTS_IN_FLIGHT of them. */
export const CLIENT_UPLOAD_POOL_MAX_BUFFER_BYTES = 2 * MAX_SEGMENT_BYTES
/** A client drops the idle read and upload buffers it keeps once it has moved no data for this long. */
export const CLIENT_BUFFERS_IDLE_MS = 30_000
/** Segments whose read tickets a client asks for in one request (≤ MAX_SEGMENTS_PER_READ_REQUEST); the next window is fetched ahead. */
export const CLIENT_READ_WINDOW_SEGMENTS = 16
/** A client reuses a file's record and read tickets for this long (bounds how stale node state in the record may be). */
export const CLIENT_READ_CACHE_TTL_MS = 30_000
/** …and only while every cached ticket has at least this much life left. */
export const CLIENT_READ_CACHE_MARGIN_MS = 60_000
/** Files whose read responses a client keeps (least recently used evicted). */
export const CLIENT_READ_CACHE_FILES = 256

// ---- DAG reader and gateway ------------------------------------------------------------
/** Memory for file records and DAG blocks the DAG reader keeps (src/ipfs/dag.ts; least recently used evicted). */
export const DAG_READER_CACHE_BYTES = 32 * MiB
/** Record look-ups one directory listing runs at once (entry sizes come from the children's records). */
export const DAG_LS_CONCURRENCY = 8
/** Gateway hot-range cache: verified file bytes kept in memory (least recently used evicted). */
export const GATEWAY_CACHE_MEMORY_BYTES = 256 * MiB
/** Gateway hot-range cache: verified file bytes kept on disk under the gateway's data dir (LRU). */
export const GATEWAY_CACHE_DISK_BYTES = 4 * 1024 * MiB
/** The cache stores files in pieces of this size (a range read fetches and caches whole pieces); = the SDK's verification chunk. */
export const GATEWAY_CACHE_PIECE_BYTES = 256 * KiB
/** Pieces after the one being served that one gateway read keeps in flight (parallel SDK range reads). */
export const GATEWAY_CACHE_FETCH_AHEAD_PIECES = 8
/**
 * A gateway read with at least this many bytes left past its first piece streams them straight from the shard transfers
 * (one SDK read: segments in parallel, verified in place) instead of piece by piece; the pieces it passes through fill
 * the memory tier on the way.
 */
export const GATEWAY_CACHE_STREAM_MIN_BYTES = 4 * MiB
/**
 * The gateway's SDK read buffers (a segment and a half of shards, `reuseBuffers`) are dropped after this long without a
 * read (the SDK's own default, CLIENT_BUFFERS_IDLE_MS, is 30 s).
 */
export const GATEWAY_READ_BUFFERS_IDLE_MS = 10 * 60_000
/** Idle piece buffers the gateway's memory tier keeps for the next pieces (recycled from evicted ones): 16 MiB. */
export const GATEWAY_CACHE_SPARE_SLOTS = 64
/** Cache pieces being written to disk at once; pieces arriving beyond that stay in memory only (disk never slows a read). */
export const GATEWAY_CACHE_DISK_WRITES_IN_FLIGHT = 4
/** Largest request head the gateway reads (node:http maxHeaderSize); bigger heads get 431. */
export const GATEWAY_MAX_HEADER_BYTES = 16 * KiB
/** Sniffed content types the gateway remembers by CID (a file's first bytes are read once). */
export const GATEWAY_TYPE_CACHE_ENTRIES = 10_000
/** Request targets whose last resolved file the path gateway remembers, to prefetch a range's first piece while the record is confirmed. */
export const GATEWAY_RESOLVE_HINT_ENTRIES = 4096
/** Directory entries one HTML listing shows (the rest are counted, not listed). */
export const GATEWAY_LISTING_MAX_ENTRIES = 10_000

// ---- Delegations (meta) and the S3 gateway ------------------------------------------------------
/** Longest a wallet's delegation to a delegate key (an S3 credential) may live before the wallet signs a new one. */
export const DELEGATION_MAX_TTL_MS = 366 * 24 * 60 * 60_000
/** Unexpired delegations one wallet may hold at once (revoke some to make more). */
export const MAX_DELEGATIONS_PER_OWNER = 100

/** Default S3 region (what GetBucketLocation answers and CreateBucket accepts); SigV4 accepts any region in a scope. */
export const S3_DEFAULT_REGION = 'us-east-1'
/** Largest single PUT (S3's own limit: 5 GiB). */
export const S3_MAX_PUT_BYTES = 5 * 1024 * MiB
/** Largest object a multipart upload may complete (S3: 5 TiB). */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 * 1024 * MiB
/** Largest part of a multipart upload (S3: 5 GiB). */
export const S3_MAX_PART_BYTES = 5 * 1024 * MiB
/** Smallest part other than the last (S3: 5 MiB): EntityTooSmall at Complete. */
export const S3_MIN_PART_BYTES = 5 * MiB
/** Parts per multipart upload (S3: 10,000). */
export const S3_MAX_PARTS = 10_000
/** Keys, common prefixes, parts or uploads per listing page (S3: 1,000). */
export const S3_MAX_LIST_KEYS = 1_000
/** Keys per DeleteObjects request (S3: 1,000). */
export const S3_MAX_DELETE_KEYS = 1_000
/** Largest XML request body (DeleteObjects of 1,000 long keys fits). */
export const S3_MAX_XML_BODY_BYTES = 2 * MiB
/** Longest chunk header line of an aws-chunked body (size, extension, signature). */
export const S3_CHUNK_HEADER_MAX_BYTES = 4 * KiB
/** How far a request's X-Amz-Date may be from the gateway's clock (S3: 15 minutes). */
export const S3_MAX_CLOCK_SKEW_MS = 15 * 60_000
/** Longest validity of a presigned URL (S3: 7 days). */
export const S3_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
/** A multipart upload idle this long is abandoned: the sweeper aborts it and frees its staged parts. */
export const S3_MULTIPART_TTL_MS = 24 * 60 * 60_000
/** How often the S3 gateway's sweeper runs (expired uploads, unreferenced network files). */
export const S3_SWEEP_INTERVAL_MS = 10_000
/** Uploads expired and files deleted per sweep. */
export const S3_SWEEP_BATCH = 100
/** While Complete moves the bytes, a space is sent this often so clients do not time out (S3 does the same). */
export const S3_COMPLETE_KEEPALIVE_MS = 10_000
/** How often a credential's delegation is confirmed live at the meta node (a revocation made there acts within it). */
export const S3_DELEGATION_RECHECK_MS = 1_000
/** Unsealed credential secrets kept in memory. */
export const S3_CREDENTIAL_CACHE_ENTRIES = 10_000
/** SDK clients (one per credential) kept open. */
export const S3_CLIENT_CACHE_ENTRIES = 256
/** An evicted SDK client is closed this long after, so its transfers in flight finish. */
export const S3_CLIENT_CLOSE_GRACE_MS = 10 * 60_000
/** Buckets one wallet may own. */
export const S3_MAX_BUCKETS_PER_OWNER = 1_000
/**
 * Bytes of multipart parts held in memory at once (all uploads) so the speculative assembly reads them as they arrive
 * instead of back from the staging disk (assembler.ts). Room for awscli's 10 concurrent 8 MiB parts; a part that does
 * not fit is only staged, and the assembly reads it from disk.
 */
export const S3_LIVE_PART_BYTES = 96 * MiB
/** A part is staged in writes of this many bytes or buffers at most (one writev each; IOV_MAX is 1024). */
export const S3_STAGE_WRITE_BYTES = 1 * MiB
export const S3_STAGE_WRITE_BUFFERS = 256

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
  s3: 9000,
} as const
/** `--port-base P` moves every port: chain P+17, IPFS API P+1, gateway P+80, S3 P+90, meta P+100, resources P+201…  */
export function portsFromBase(base: number): {
  chainRest: number
  ipfsApi: number
  gateway: number
  meta: number
  resourceBase: number
  s3: number
} {
  return {
    chainRest: base + 17,
    ipfsApi: base + 1,
    gateway: base + 80,
    meta: base + 100,
    resourceBase: base + 201,
    s3: base + 90,
  }
}

/** Most validators `stratos devnet --validators N` runs (their ports sit between P+20 and P+70, src/devnet/validators.ts). */
export const DEVNET_MAX_VALIDATORS = 15

export const DEVNET_CHAIN_ID = 'stratos-devnet-1'
export const SOFTWARE_VERSION = '0.1.0'

// ---- Devnet and CLI -----------------------------------------------------------------------
/** Resource nodes a devnet starts beyond k + m, so uploads still find k + m healthy nodes while one or two are down. */
export const DEVNET_SPARE_RESOURCES = 2
/** Most meta nodes `stratos devnet --metas N` starts: their ports sit between the meta node's and the gateway's. */
export const DEVNET_MAX_METAS = 20
/** Resource nodes `stratos devnet` starts when not told otherwise: k + m + DEVNET_SPARE_RESOURCES (8 for k=4, m=2). */
export const DEFAULT_DEVNET_RESOURCES = DEFAULT_DATA_SHARDS + DEFAULT_PARITY_SHARDS + DEVNET_SPARE_RESOURCES
/** How long `stratos devnet` waits for every process to answer and every node to be online. */
export const DEVNET_READY_TIMEOUT_MS = 60_000
/** How often the devnet polls a starting process (and the meta node's node list) while waiting. */
export const DEVNET_POLL_INTERVAL_MS = 100
/** Life of the S3 credential `stratos devnet` makes for each dev wallet. */
export const DEVNET_S3_CREDENTIAL_TTL_MS = 365 * 24 * 60 * 60_000
/** After SIGTERM, a child process gets this long to stop before it is killed with SIGKILL. */
export const DEVNET_STOP_GRACE_MS = 5_000
/** `stratos node …`: a graceful stop that takes longer than this exits anyway (code 1). */
export const NODE_STOP_TIMEOUT_MS = 10_000
/** A second SIGINT/SIGTERM sooner than this after the first is the same request relayed (npm and tsx forward signals to their child), not "stop now". */
export const SIGNAL_REPEAT_WINDOW_MS = 1_000

// ---- Share links ----------------------------------------------------------------------------
/** Random bytes in a share link id (base64url): 128 bits, unguessable. */
export const SHARE_ID_BYTES = 16
/** scrypt cost of a share link's password hash (N, r, p): ~16 MiB and tens of ms per check, slowing guessing. */
export const SHARE_SCRYPT_N = 16_384
export const SHARE_SCRYPT_R = 8
export const SHARE_SCRYPT_P = 1
/** Bytes of a share password hash's random salt and of the derived key. */
export const SHARE_SALT_BYTES = 16
export const SHARE_HASH_BYTES = 32
/** Longest share password accepted (UTF-8 bytes). */
export const MAX_SHARE_PASSWORD_BYTES = 1_024
/** Wrong passwords one link accepts per SHARE_PASSWORD_WINDOW_MS; then TOO_MANY_ATTEMPTS until the window ends. */
export const SHARE_MAX_PASSWORD_FAILURES = 10
export const SHARE_PASSWORD_WINDOW_MS = 15 * 60_000
/** Links whose recent password failures the meta node tracks (oldest forgotten first). */
export const SHARE_FAILURE_TRACKER_ENTRIES = 100_000
/** Links whose last correct password the meta node remembers (as a sha256 in memory) so repeated reads skip scrypt. */
export const SHARE_VERIFIED_CACHE_ENTRIES = 10_000
/** Live (not revoked) share links one owner may have. */
export const MAX_SHARES_PER_OWNER = 10_000
/**
 * Life of the gateway's share cookie (POST /api/v1/share-session/{id}): the password a page checked, sealed with the
 * gateway's own key, so a `<video>` can play a password link without the password in its URL.
 */
export const SHARE_COOKIE_TTL_MS = 60 * 60_000

// ---- Access control (src/sds/meta/access.ts, grants.ts; docs/security.md) ------------------------------------
/** Longest life of a wallet's session token (ACCESS_HEADER `session.`): bounds how long a leaked token works. */
export const ACCESS_SESSION_MAX_TTL_MS = 24 * 60 * 60_000
/** The SDK signs its session token for this long and signs a new one when less than a quarter is left. */
export const CLIENT_ACCESS_SESSION_TTL_MS = 60 * 60_000
/** Verified session tokens a meta node remembers (one secp256k1 recovery each, saved on every later request). */
export const ACCESS_SESSION_CACHE_ENTRIES = 10_000
/** Records a grant's or share link's directory tree is walked through to find a file it covers. */
export const GRANT_SCOPE_MAX_RECORDS_WALKED = 100_000
/** Live read grants per owner (like MAX_SHARES_PER_OWNER). */
export const MAX_GRANTS_PER_OWNER = 10_000
/** Longest life of a read grant. */
export const GRANT_MAX_TTL_MS = 366 * 24 * 60 * 60_000
/** Budget epochs without a chain (with one, the chain's epochs): the mainnet epoch length. */
export const PUBLIC_BUDGET_WINDOW_MS = 10 * 60_000
/** Share-link DAG readers a gateway keeps (one per link access token; each caches records it read). */
export const GATEWAY_SCOPED_READERS = 256
/** Browser uploads (wallet portal) a gateway's edge runs at once: each holds up to two segment buffers. */
export const GATEWAY_EDGE_UPLOADS = 8
/** How long an edge upload whose shards are placed waits for the browser's signed commit before it is aborted. */
export const GATEWAY_EDGE_COMMIT_WAIT_MS = 120_000
/** Largest body of a proxied chain or meta request from the wallet portal (a signed tx, a share, a commit). */
export const GATEWAY_PROXY_MAX_BODY_BYTES = 4 * MiB
/** Budget epochs of spending kept before the sweeper forgets them. */
export const PUBLIC_BUDGET_EPOCHS_KEPT = 2

// ---- IPFS RPC API (Kubo-compatible, src/ipfs/rpc) ------------------------------------------------
/** Largest request head (request line + headers) the RPC API reads (node:http maxHeaderSize); bigger heads get 431. */
export const RPC_MAX_HEADER_BYTES = 16 * KiB
/** Largest header block of one multipart part of an `add` body (Content-Disposition, Content-Type, …). */
export const RPC_MAX_PART_HEADER_BYTES = 16 * KiB
/** Longest path (UTF-8 bytes, after URL-decoding) of one file or directory in an `add` body. */
export const RPC_MAX_PATH_BYTES = 4 * KiB
/** Most files and directories one `add` request may carry (the tree of names and CIDs is kept in memory). */
export const RPC_MAX_ADD_ENTRIES = 100_000
/** Largest CAR one `dag/import` part may be (it is spooled to a temp file, then read block by block). */
export const RPC_MAX_DAG_IMPORT_BYTES = 4 * 1024 * MiB
/** Most blocks one CAR of `dag/import` may hold (their offsets are indexed in memory, ~100 bytes each). */
export const RPC_MAX_DAG_IMPORT_BLOCKS = 1_000_000
/** Largest body a command other than `add` accepts (they take their arguments in the query string). */
export const RPC_MAX_SMALL_BODY_BYTES = 64 * KiB
/** Most pins the API's pin set holds (the set is one JSON file, rewritten atomically on change). */
export const RPC_MAX_PINS = 100_000
/** Most records one `pin/rm` walks to find what to delete from the network (the unpinned DAG and every other pin's). */
export const RPC_MAX_PIN_WALK_RECORDS = 100_000
/** Bytes between two `"Bytes"` progress events of `add?progress=true` (Kubo's progressReaderIncrement). */
export const RPC_PROGRESS_INTERVAL_BYTES = 256 * KiB

// ---- Gateway ---------------------------------------------------------------------------------
/** CIDs whose served-byte counters the gateway keeps for GET /api/v1/stats (oldest forgotten first; the total stays exact). */
export const GATEWAY_STATS_MAX_CIDS = 10_000

// ---- Audits, reputation, suspension, maintenance (meta node; src/sds/meta/audit) -------------
/** How often the meta node's auditor runs one round (online samples, challenges, slashing retries). */
export const AUDIT_INTERVAL_MS = 30_000
/** Nodes challenged per round at most (one random shard each). */
export const AUDIT_NODES_PER_ROUND = 64
/** Audit challenges in flight at once. */
export const AUDIT_CONCURRENCY = 4
/** A node is challenged at most once per this period (a rate limit per node). */
export const AUDIT_NODE_MIN_INTERVAL_MS = 60_000
/** Lifetime of an audit challenge: the node must answer before it expires (a stale nonce is refused). */
export const AUDIT_CHALLENGE_TTL_MS = 60_000
/** How long the auditor waits for one answer before counting the node as unreachable. */
export const AUDIT_TIMEOUT_MS = 15_000
/** Largest audit challenge body a resource node reads (a challenge is ~0.5 KiB of JSON). */
export const AUDIT_MAX_CHALLENGE_BYTES = 16 * KiB
/** Largest audit answer the meta node reads (one 256 KiB chunk in base64url plus the chunk-hash list of a 64 MiB shard). */
export const AUDIT_MAX_ANSWER_BYTES = 1 * MiB
/** On stop, how long the meta node waits for an audit round still reporting a slash to the chain (the report is resumed after a restart). */
export const AUDIT_STOP_WAIT_MS = 3_000
/** Audit challenge nonces a resource node remembers (a replayed challenge is refused). */
export const AUDIT_REPLAY_GUARD_ENTRIES = 100_000
/** Forgetting factor of the audit score (beta reputation: alpha, beta decay by this per audit). 0.9 ≈ the last ~10 audits matter. */
export const AUDIT_REPUTATION_LAMBDA = 0.9
/** Below this audit score a node is suspended at the meta node (no new data; its shards count as unhealthy). */
export const AUDIT_SUSPEND_SCORE = 0.6
/** A suspended node is reinstated once its audit score (and online score) are back above these. */
export const AUDIT_REINSTATE_SCORE = 0.8
/** Below this audit score the node is reported for slashing (also after AUDIT_SLASH_FAILURES failures in the window). */
export const AUDIT_SLASH_SCORE = 0.4
/** Failed audits within AUDIT_SLASH_WINDOW_MS that make a slashing incident. */
export const AUDIT_SLASH_FAILURES = 5
export const AUDIT_SLASH_WINDOW_MS = 24 * 60 * 60_000
/** Debt (ozone, i.e. bytes of traffic) a slashing report claims per failed audit of the incident. */
export const AUDIT_SLASH_DEBT_OZONE_PER_FAILURE = 64 * MiB
/** Forgetting factor of the online score (one sample per ONLINE_SAMPLE_INTERVAL_MS). 0.99 ≈ the last ~100 samples. */
export const ONLINE_REPUTATION_LAMBDA = 0.99
/** One online/offline sample of every registered node per this period. */
export const ONLINE_SAMPLE_INTERVAL_MS = 60_000
/** Below this online score a node is suspended; back above ONLINE_REINSTATE_SCORE it may be reinstated. */
export const ONLINE_SUSPEND_SCORE = 0.5
export const ONLINE_REINSTATE_SCORE = 0.7
/** Longest maintenance window an operator may announce in one request. */
export const MAINTENANCE_MAX_MS = 24 * 60 * 60_000
/** Lifetime of a signed maintenance request. */
export const MAINTENANCE_REQUEST_TTL_MS = 60_000

// ---- Repair, drain and replication of hot segments (meta node; src/sds/meta/repair) ----------
/** A shard counts as lost once its node has been offline this long past NODE_OFFLINE_AFTER_MS (short outages and restarts are not repaired). */
export const REPAIR_GRACE_MS = 30 * 60_000
/** How often the repair checker looks at node states and reported-bad locations (cheap: walks only affected nodes' shards). */
export const REPAIR_CHECK_INTERVAL_MS = 10_000
/** How often a slow full sweep checks every segment of every file (catches anything the targeted checks missed). */
export const REPAIR_SWEEP_INTERVAL_MS = 6 * 60 * 60_000
/** Files the full sweep reads per step (one short read transaction each; the sweep yields in between). */
export const REPAIR_SWEEP_BATCH = 256
/** Segments repaired at once. Each holds one segment's (k+m)·shardSize bytes in memory: 48 MiB at 32 MiB, k=4, m=2. */
export const REPAIR_CONCURRENCY = 2
/** Segments waiting for a repair worker at most; the checker finds the rest again on its next pass. */
export const REPAIR_QUEUE_MAX = 1_024
/** A segment whose repair failed (too few nodes, too few readable shards) is tried again after this long. */
export const REPAIR_RETRY_MS = 60_000
/** Reads of one segment within HOT_WINDOW_MS above which it is hot and gets replicas of its data shards. */
export const HOT_SEGMENT_READS_PER_MIN = 120
/** The sliding window reads are counted in. */
export const HOT_WINDOW_MS = 60_000
/** A replicated segment without a hot window for this long is cold again: its replicas are dropped. */
export const HOT_COOLDOWN_MS = 10 * 60_000
/** Extra copies of each data shard of a hot segment (each on a node that does not hold that shard yet). */
export const REPLICATION_EXTRA_NODES = 2
/** Total bytes of replicas the meta node keeps at most (free to owners: the network pays for them). */
export const REPLICATION_MAX_BYTES = 64 * 1024 * MiB
/** Segments whose read counts are tracked at once (least recently read forgotten first). */
export const HOT_TRACKED_SEGMENTS = 100_000

// ---- Proof of Traffic at the meta node (src/sds/meta/pot) ----------------------------------------------
/** Payers whose last ozone balance the ozone guard remembers (used while the chain cannot be read). */
export const OZONE_GUARD_MAX_PAYERS = 100_000
/** Expiry buckets one payer's row of the ozone store keeps; beyond, the latest two merge (kept until the later expiry). */
export const OZONE_GUARD_MAX_BUCKETS_PER_PAYER = 128
/** Width of an expiry bucket in a payer's row of the ozone store: limits expiring within one share it (rounded up). */
export const OZONE_PROMISE_BUCKET_MS = 10_000
/** How long a meta process grants from a lease of a payer's ozone before writing it back (renewing or returning it). */
export const OZONE_LEASE_MS = 1_000
/** A lease takes at most 1/OZONE_LEASE_SHARE of the payer's ozone nobody has promised or leased yet. */
export const OZONE_LEASE_SHARE = 4
/** Epochs of settled traffic (per node, payer and file) the meta node keeps for its traffic views after reporting. */
export const POT_TRAFFIC_HISTORY_EPOCHS = 1_000
/** How often the meta node retries volume reports that are pending or whose submission failed, and prunes old PoT records. */
export const POT_REPORT_RETRY_MS = 5_000
/** Devnet: STOS each dev wallet prepays at start when its ozone is below DEVNET_MIN_OZONE_BYTES (at the genesis price of 1 STOS/GiB: ~100 GiB). */
export const DEVNET_PREPAY_STOS = 100
export const DEVNET_MIN_OZONE_BYTES = 10 * 1024 * MiB
/** Devnet: the genesis validator's (carol's) self-delegation, in STOS: validators and delegators earn 20% of each epoch's rewards. */
export const DEVNET_VALIDATOR_STOS = 10_000

// ---- Per-client limits and pin garbage collection (issue 12: gateway, IPFS RPC API, share links) ----------------
/** Gateway: requests per second one client address may make on average (token-bucket refill; src/util/rate-limit.ts). */
export const GATEWAY_RATE_PER_SECOND = 50
/** Gateway: requests one client address may make at once: a video player's seeks come as bursts of range requests. */
export const GATEWAY_RATE_BURST = 200
/** IPFS RPC API: requests per second one client address may make on average. */
export const RPC_RATE_PER_SECOND = 50
/** IPFS RPC API: requests one client address may make at once. */
export const RPC_RATE_BURST = 200
/** Client addresses one rate limiter keeps a bucket for; past it the least recently seen is forgotten. */
export const RATE_LIMIT_MAX_CLIENTS = 100_000
/** IPFS RPC API: content it stored stays this long after no pin reaches it any more, before garbage collection deletes it. */
export const RPC_GC_GRACE_MS = 24 * 60 * 60_000
/** IPFS RPC API: how often the gateway process runs garbage collection (as `repo/gc` does). */
export const RPC_GC_INTERVAL_MS = 60 * 60_000
/** IPFS RPC API: records (files and directories) it remembers storing, so that only those are ever collected. */
export const RPC_MAX_STORED_RECORDS = 100_000
/** Meta node: callers whose `client` field in a share resolve request is believed (the gateway on the same host). */
export const DEFAULT_SHARE_TRUSTED_PROXIES: readonly string[] = ['127.0.0.1', '::1', '::ffff:127.0.0.1']
/** Longest `client` address a trusted proxy may name in a share resolve request (an IPv6 address with a zone fits). */
export const SHARE_MAX_CLIENT_BYTES = 64

// ---- Devnet supervisor (src/devnet/supervisor.ts) ---------------------------------------------------------
/** A devnet child that crashed (or was killed) is started again after this delay, doubled after each quick crash. */
export const DEVNET_RESTART_INITIAL_DELAY_MS = 1_000
/** The restart delay never grows beyond this. */
export const DEVNET_RESTART_MAX_DELAY_MS = 30_000
/** A child that ran at least this long before it crashed is healthy again: its next restart waits the initial delay. */
export const DEVNET_RESTART_RESET_AFTER_MS = 60_000
/** Consecutive quick crashes (each within DEVNET_RESTART_RESET_AFTER_MS of its start) after which the devnet gives up on a child. */
export const DEVNET_CRASH_LOOP_LIMIT = 8
/** STOS the first dev wallet sends the gateway's wallet when a devnet from before that wallet existed starts (its genesis did not fund it). */
export const DEVNET_GATEWAY_FUND_STOS = 1_000
/** Meta node: expired share-password counters one counting write removes at most (the rest go with later writes). */
export const SHARE_ATTEMPTS_PRUNE_PER_WRITE = 16

// ---- Bounds that were inline (issue 16): caches and protocol-schema maxima ---------------------------------
/** Meta node: wallets whose ozone balance the chain link caches (FIFO: the oldest read is forgotten first). */
export const META_OZONE_CACHE_WALLETS = 100_000
/** Meta node: replicated segments whose read-spreading turn counter is kept (FIFO: the oldest counter is forgotten first). */
export const REPLICA_TURN_SEGMENTS = 100_000
/** Meta node: segments whose last failed repair time is kept for REPAIR_RETRY_MS back-off (FIFO). */
export const REPAIR_FAILED_SEGMENTS_KEPT = REPAIR_QUEUE_MAX * 16
/** Contract: nodes a client may name as already failed when it asks for a replacement shard location. */
export const REPLACE_SHARD_MAX_EXCLUDED_NODES = 1_000
/** Contract: inner DAG blocks one commit may carry. */
export const COMMIT_MAX_DAG_BLOCKS = 1_000_000
/** Contract: shard receipts one commit may carry (one per shard of every segment). */
export const COMMIT_MAX_RECEIPTS = 10_000_000
/** Contract: CIDs one directory commit may link to. */
export const DIRECTORY_MAX_CHILDREN = 1_000_000
/** Contract: files one page of the file list may hold (`?limit=`). */
export const LIST_MAX_PAGE_FILES = 1_000
/** Contract: shards one heartbeat may report as corrupt, and as deleted (a node with more sends the rest next time). */
export const HEARTBEAT_MAX_REPORTED_SHARDS = 10_000
/** Contract: CIDs one read grant's scope may name. */
export const GRANT_SCOPE_MAX_CIDS = 1_000
/** Contract: name prefixes one read grant's scope may name. */
export const GRANT_SCOPE_MAX_PREFIXES = 100
/** Nonces a replay guard remembers until their message expires (when full, those closest to expiry go first). */
export const REPLAY_GUARD_MAX_NONCES = 1_000_000
/** Decoded ed25519 public keys, and the node addresses derived from them, kept for signature checks (oldest dropped first). */
export const NODE_PUBLIC_KEY_CACHE_ENTRIES = 10_000

// ---- CometBFT engine (issue 14) ------------------------------------------------------------------------------
/** ABCI socket: largest message (one request or response) the server accepts; a larger length prefix closes the connection. */
export const MAX_ABCI_MESSAGE_BYTES = 64 * 1024 * 1024
/** CometBFT engine: default port of CometBFT's RPC (`status`, `broadcast_tx_sync`, `abci_query`) on 127.0.0.1. */
export const COMETBFT_RPC_PORT = 26657
/** CometBFT engine: default p2p port (a single validator has no peers, but CometBFT listens anyway). */
export const COMETBFT_P2P_PORT = 26656
/** CometBFT engine: time the validator waits for CometBFT's RPC to answer after starting it. */
export const COMETBFT_START_TIMEOUT_MS = 30_000
/** CometBFT engine: time CometBFT gets to exit after SIGTERM before it is killed. */
export const COMETBFT_STOP_TIMEOUT_MS = 10_000
/** CometBFT engine: how long /readyz waits for CometBFT's RPC /status (within READY_CHECK_TIMEOUT_MS). */
export const COMETBFT_READY_TIMEOUT_MS = 1_500
/**
 * CometBFT engine: decoded transactions the ABCI app remembers by their bytes, so a tx is parsed and schema-checked
 * once per node, not again at every Recheck, PrepareProposal, ProcessProposal and FinalizeBlock (about the mempool's
 * capacity, MEMPOOL_MAX_TXS, plus a block in flight; when full, the oldest half is dropped).
 */
export const ABCI_DECODED_TX_CACHE_ENTRIES = 25_000
/**
 * CometBFT engine: concurrent JSON-RPC batches one REST intake request (POST /txs/batch) is split into, each
 * sender's txs in one of them, in order. CometBFT runs a batch's broadcast_tx_sync one after the other and each
 * waits for its CheckTx answer, which CometBFT's ABCI client sends on its next flush (a throttle of up to 20 ms):
 * one sequential batch admits a few hundred txs/s at best, several in parallel share each flush.
 */
export const COMET_BROADCAST_LANES = 16
/**
 * CometBFT engine: longest the ABCI server answers one connection's queued requests before letting the others in
 * (server.ts): a Commit on the consensus connection waits at most this long behind a burst of CheckTx.
 */
export const ABCI_SLICE_MS = 10
/**
 * CometBFT engine: its `rpc.timeout_broadcast_tx_commit` (default 10 s), which also makes its RPC server's write
 * timeout this + 1 s: a JSON-RPC batch of broadcast_tx_sync answered later than that is cut off ("other side
 * closed"). Above the REST intake's own 30 s limit (broadcast.ts), which then answers first.
 */
export const COMET_RPC_WRITE_TIMEOUT_S = 35
/** CometBFT engine: most txs in CometBFT's mempool (its `mempool.size`; CometBFT's default). */
export const COMET_MEMPOOL_TXS = 5_000
/**
 * CometBFT engine (mempool.recheck = false, application.ts): blocks a sender's pending nonce waits for its committed
 * nonce to move before it resets to the committed one (a tx of it failed or was replaced), and blocks a proposer
 * holds back a tx that would fail ante before it includes it once so that it fails and leaves every mempool
 * (CometBFT v0.38 has no mempool TTL). ~10–20 s at the devnet's block times.
 */
export const COMET_MEMPOOL_TTL_BLOCKS = 20
/**
 * CometBFT engine: most txs a proposer puts in one block (PrepareProposal). Bounds the work of every validator per
 * block — ProcessProposal, FinalizeBlock, Commit — so a backlog is drained over several blocks instead of one slow
 * block that makes the next round time out; 2,000 per ~1 s block is twice the 4-validator target rate.
 */
export const COMET_MAX_BLOCK_TXS = 2_000

// ---- Operations: metrics, health and readiness (src/net/metrics.ts, health.ts, ops.ts; docs/operations.md) -----
/** Upper bounds (seconds) of the request-latency histogram buckets of every role's /metrics. */
export const METRICS_LATENCY_BUCKETS_S: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]
/** A readiness check that has not answered after this long counts as not ready (/readyz). */
export const READY_CHECK_TIMEOUT_MS = 2_000
/** Resource node readiness: its last acknowledged heartbeat is at most this many heartbeat intervals old. */
export const RESOURCE_READY_HEARTBEATS = 5
/** Validator readiness: the newest block is at most this old. */
export const VALIDATOR_READY_BLOCK_AGE_MS = 30_000
