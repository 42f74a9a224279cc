/**
 * HTTP API contract between client, meta node and resource nodes: paths, request bodies
 * (zod schemas, validated by the servers) and response shapes (types, produced by the servers
 * and consumed by `MetaClient` / `ResourceClient`). Errors are always `ErrorBody` JSON with
 * the status from ERROR_CODES.
 */
import { z } from 'zod'
import {
  zCid, zNodeAddress, zShardId, zSignedReceipt, zUploadId, zWalletSigned,
  zCommitPayload, zCreateUploadPayload, zDeletePayload, type SignedTicket,
} from './messages.ts'
import { MAX_SEGMENTS_PER_READ_REQUEST, MAX_DATA_SHARDS, MAX_PARITY_SHARDS, MAX_SHARD_BYTES, MAX_SEGMENT_BYTES } from '../../limits.ts'

export const META_ROUTES = {
  info: '/v1/info', //                          GET  → MetaInfo
  heartbeat: '/v1/nodes/heartbeat', //           POST SignedHeartbeat → SignedHeartbeatReply
  nodes: '/v1/nodes', //                         GET  → { nodes: NodeView[] }
  status: '/v1/status', //                       GET  → NetworkStatus
  uploads: '/v1/uploads', //                     POST SignedCreateUpload → UploadSession
  planSegment: '/v1/uploads/:id/segments', //    POST PlanSegmentBody → PlanSegmentResponse
  replaceShard: '/v1/uploads/:id/replace', //    POST ReplaceShardBody → { placement: Placement }
  commit: '/v1/uploads/:id/commit', //           POST CommitBody → { file: FileRecordView }
  abort: '/v1/uploads/:id', //                   DELETE → { aborted: true }
  files: '/v1/files', //                         GET ?owner=st1…&limit=&after= → FileList
  file: '/v1/files/:cid', //                     GET → FileRecordView
  fileDag: '/v1/files/:cid/dag', //              GET → { blocks: base64url[] } (the DAG's inner blocks)
  read: '/v1/files/:cid/read', //                POST ReadBody → ReadResponse (record + GET tickets)
  deleteFile: '/v1/files/:cid/delete', //        POST SignedDelete → { deleted: true, remainingOwners: number }
} as const

export const RESOURCE_ROUTES = {
  info: '/v1/info', //       GET → ResourceNodeInfo
  shard: '/v1/shards/:id', // PUT (ticket header, raw body) → 201/200 { receipt } · GET/HEAD (ticket header, Range) → bytes
} as const

/** Response headers on shard GET/HEAD. */
export const SHARD_HEADERS = {
  /** base64url of the concatenated 32-byte sha256 of every 256 KiB chunk of the shard. */
  chunkHashes: 'x-stratos-chunk-hashes',
  /** Full shard size in bytes (also on 206 responses). */
  shardSize: 'x-stratos-shard-size',
} as const

// ---- Meta: request bodies --------------------------------------------------------------------
export const zCreateUploadBody = zWalletSigned(zCreateUploadPayload)

export const zPlanSegmentBody = z.object({
  index: z.number().int().nonnegative(),
  /** Bytes of file data in this segment (the last segment may be short). */
  size: z.number().int().positive().max(MAX_SEGMENT_BYTES),
  shardSize: z.number().int().positive().max(MAX_SHARD_BYTES),
  /** k data shard ids then m parity shard ids. */
  shards: z.array(zShardId).min(1).max(MAX_DATA_SHARDS + MAX_PARITY_SHARDS),
})
export type PlanSegmentBody = z.infer<typeof zPlanSegmentBody>

export const zReplaceShardBody = z.object({
  segment: z.number().int().nonnegative(),
  shardIndex: z.number().int().nonnegative(),
  /** Nodes the client already failed with for this shard. */
  exclude: z.array(zNodeAddress).max(1000),
})
export type ReplaceShardBody = z.infer<typeof zReplaceShardBody>

export const zCommitBody = z.object({
  request: zWalletSigned(zCommitPayload),
  /** The DAG's inner blocks (every block with links, including the root), each base64url. */
  dagBlocks: z.array(z.string().regex(/^[A-Za-z0-9_-]*$/)).max(1_000_000),
  /** One receipt per shard of every segment, from the node it was last placed on. */
  receipts: z.array(zSignedReceipt).max(10_000_000),
  /** Directory commits: the CIDs the directory links to (each must already be stored). */
  children: z.array(zCid).max(1_000_000).optional(),
})
export type CommitBody = z.infer<typeof zCommitBody>

export const zReadBody = z.object({
  /** Segment range [from, to) to issue tickets for; defaults to all segments (capped). */
  from: z.number().int().nonnegative().optional(),
  to: z.number().int().nonnegative().optional(),
})
export type ReadBody = z.infer<typeof zReadBody>
export const MAX_READ_SEGMENTS = MAX_SEGMENTS_PER_READ_REQUEST

export const zDeleteBody = zWalletSigned(zDeletePayload)
export const zCidParam = z.object({ cid: zCid })
export const zUploadIdParam = z.object({ id: zUploadId })
export const zListQuery = z.object({
  owner: z.string().optional(),
  limit: z.coerce.number().int().positive().max(1000).optional(),
  after: z.string().max(200).optional(),
})

// ---- Meta: responses -----------------------------------------------------------------------
export interface MetaInfo {
  address: string
  /** base64url ed25519 public key */
  key: string
  chainId: string
  version: string
  defaults: { k: number; m: number; segmentSize: number }
}

export type NodeState = 'online' | 'offline'

export interface NodeView {
  address: string
  url: string
  state: NodeState
  version: string
  capacityBytes: number
  freeBytes: number
  usedBytes: number
  shardCount: number
  load: number
  lastSeen: number
  registeredAt: number
}

export interface NetworkStatus {
  chainId: string
  meta: { address: string; version: string }
  nodes: NodeView[]
  totals: {
    nodesOnline: number
    nodesOffline: number
    capacityBytes: number
    freeBytes: number
    usedBytes: number
    files: number
    /** Sum of file sizes (logical bytes, before redundancy). */
    fileBytes: number
    openUploads: number
  }
}

export interface UploadSession {
  uploadId: string
  k: number
  m: number
  segmentSize: number
  expiresAt: number
}

export interface Placement {
  shardIndex: number
  node: string
  url: string
  ticket: SignedTicket
}

export interface PlanSegmentResponse {
  placements: Placement[]
}

export interface ShardLocation {
  id: string
  node: string
}

export interface SegmentRecord {
  index: number
  size: number
  shardSize: number
  /** k data shards then m parity shards. */
  shards: ShardLocation[]
}

export interface FileRecordView {
  cid: string
  kind: 'file' | 'directory'
  size: number
  owners: string[]
  name?: string
  createdAt: number
  k: number
  m: number
  segmentSize: number
  segments: SegmentRecord[]
  /** Current URL and state of every node named in `segments`. */
  nodes: Record<string, { url: string; state: NodeState }>
  /** Directories: CIDs they link to. */
  children?: string[]
}

export interface FileSummary {
  cid: string
  kind: 'file' | 'directory'
  size: number
  name?: string
  createdAt: number
}

export interface FileList {
  files: FileSummary[]
  /** Pass as `after` for the next page; absent on the last page. */
  next?: string
}

export interface ReadResponse {
  file: FileRecordView
  from: number
  to: number
  /** tickets[i][j]: GET ticket for shard j of segment from+i. */
  tickets: SignedTicket[][]
}

// ---- Resource node: responses --------------------------------------------------------------
export interface ResourceNodeInfo {
  address: string
  key: string
  version: string
  chainId: string
  capacityBytes: number
  freeBytes: number
  usedBytes: number
  shardCount: number
  load: number
}

export { zCid, zShardId, zUploadId }
