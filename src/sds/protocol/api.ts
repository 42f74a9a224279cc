/**
 * HTTP API contract between client, meta node and resource nodes: paths, request bodies
 * (zod schemas, validated by the servers) and response shapes (types, produced by the servers
 * and consumed by `MetaClient` / `ResourceClient`). Errors are always `ErrorBody` JSON with
 * the status from ERROR_CODES.
 */
import { z } from 'zod'
import {
  zCid,
  zNodeAddress,
  zShardId,
  zSignedReceipt,
  zUploadId,
  zWalletSigned,
  zCommitPayload,
  zCreateUploadPayload,
  zDeletePayload,
  zOrderKey,
  zNodeSigned,
  zSignedTicket,
  zTime,
  type SignedTicket,
  zSessionCallAuth,
  zGrantCreatePayload,
  zGrantRevokePayload,
  zGrantListPayload,
  zGrantId,
  zVisibilityPayload,
  zBudgetPayload,
  zBudgetListPayload,
  type GrantScope,
  zDelegationCreatePayload,
  zDelegationListPayload,
  zDelegationRevokePayload,
  zDelegationId,
  type DelegationScope,
} from './messages.ts'
import { zSignedOrder, type SignedOrder } from './orders.ts'
import type { NodeSigned } from './signing.ts'
import { zSegmentPlan, zShareCreatePayload, zShareId, zShareListPayload, zShareRevokePayload } from './messages.ts'
import { MAX_SHARE_PASSWORD_BYTES, SHARE_MAX_CLIENT_BYTES } from '../../limits.ts'
import {
  COMMIT_MAX_DAG_BLOCKS,
  COMMIT_MAX_RECEIPTS,
  DIRECTORY_MAX_CHILDREN,
  LIST_MAX_PAGE_FILES,
  REPLACE_SHARD_MAX_EXCLUDED_NODES,
} from '../../limits.ts'
import { MAX_SETTLE_BATCH, MAX_SEGMENTS_PER_READ_REQUEST } from '../../limits.ts'

export const META_ROUTES = {
  info: '/v1/info', //                          GET  → MetaInfo
  heartbeat: '/v1/nodes/heartbeat', //           POST SignedHeartbeat → SignedHeartbeatReply
  nodes: '/v1/nodes', //                         GET  → { nodes: NodeView[] }
  status: '/v1/status', //                       GET  → NetworkStatus
  uploads: '/v1/uploads', //                     POST SignedCreateUpload → UploadSession
  planSegment: '/v1/uploads/:id/segments', //    POST PlanSegmentBody → PlanSegmentResponse
  replaceShard: '/v1/uploads/:id/replace', //    POST ReplaceShardBody → { placement: Placement }
  commit: '/v1/uploads/:id/commit', //           POST CommitBody → { file: FileRecordView }
  abort: '/v1/uploads/:id', //                   DELETE AbortUploadBody → { aborted: true }
  files: '/v1/files', //                         GET ?owner=st1…&limit=&after= → FileList (an owner's: session access; else public files)
  file: '/v1/files/:cid', //                     GET → FileRecordView
  fileDag: '/v1/files/:cid/dag', //              GET → { blocks: base64url[] } (the DAG's inner blocks)
  read: '/v1/files/:cid/read', //                POST ReadBody → ReadResponse (record + GET tickets)
  blocks: '/v1/blocks/:cid', //                   GET → { files: cid[] } (records whose DAG holds that block)
  deleteFile: '/v1/files/:cid/delete', //        POST SignedDelete → { deleted: true, remainingOwners: number }
  maintenance: '/v1/nodes/maintenance', //       POST SignedMaintenance → NodeView (audit.ts: planned downtime)
  settleOrders: '/v1/orders/settle', //          POST SettleOrdersBody (NodeSigned by a resource node) → SettleOrdersResponse
  trafficNodes: '/v1/traffic/nodes', //          GET ?epoch= → NodeTrafficList (settled traffic per resource node)
  fileTraffic: '/v1/files/:cid/traffic', //      GET → FileTraffic (settled traffic of one file by epoch and op)
  visibility: '/v1/files/:cid/visibility', //    POST SignedVisibility → FileRecordView
  grants: '/v1/grants', //                       POST SignedGrantCreate → GrantView
  grantList: '/v1/grants/list', //               POST SignedGrantList → { grants: GrantView[] }
  grantRevoke: '/v1/grants/:id/revoke', //       POST SignedGrantRevoke → GrantView (state 'revoked')
  budgets: '/v1/budgets', //                     POST SignedBudget → BudgetView
  budgetList: '/v1/budgets/list', //             POST SignedBudgetList → { budgets: BudgetView[] }
} as const

/**
 * Request header naming who a meta request acts for (src/sds/meta/access.ts):
 *   `session.{base64url(JSON SignedAccessSession)}`  a wallet (its own files)
 *   `grant.{id}`                                      the holder of a read grant
 *   `share.{token}`                                   the holder of an opened share link (token from resolve)
 * Absent: anonymous, which sees only public files.
 */
export const ACCESS_HEADER = 'x-stratos-access'

export const RESOURCE_ROUTES = {
  info: '/v1/info', //       GET → ResourceNodeInfo
  shard: '/v1/shards/:id', // PUT (ticket header, raw body) → 201/200 { receipt } · GET/HEAD (ticket header, Range) → bytes
  audit: '/v1/audit', //     POST SignedAuditChallenge → AuditAnswer (audit.ts)
} as const

/**
 * `Upgrade` token of a shard PUT whose body the node may read straight off the socket
 * (src/net/socket-body.ts). The connection is not switched: the node answers in HTTP/1.1
 * and closes it. A node without the fast path ignores the header (plain PUT, same answer).
 */
export const SHARD_BODY_UPGRADE = 'stratos-shard-body'

/** Response headers on shard GET/HEAD. */
export const SHARD_HEADERS = {
  /** base64url of the concatenated 32-byte BLAKE3 of every 256 KiB chunk of the shard. */
  chunkHashes: 'x-stratos-chunk-hashes',
  /** Full shard size in bytes (also on 206 responses). */
  shardSize: 'x-stratos-shard-size',
} as const

// ---- Meta: request bodies --------------------------------------------------------------------
export const zCreateUploadBody = zWalletSigned(zCreateUploadPayload)

export const zPlanSegmentBody = z.object({
  index: z.number().int().nonnegative(),
  ...zSegmentPlan.shape,
  /** Signed by the session's order key (messages.ts zSessionCallAuth). */
  auth: zSessionCallAuth,
})
export type PlanSegmentBody = z.infer<typeof zPlanSegmentBody>

export const zReplaceShardBody = z.object({
  segment: z.number().int().nonnegative(),
  shardIndex: z.number().int().nonnegative(),
  /** Nodes the client already failed with for this shard. */
  exclude: z.array(zNodeAddress).max(REPLACE_SHARD_MAX_EXCLUDED_NODES),
  auth: zSessionCallAuth,
})
export type ReplaceShardBody = z.infer<typeof zReplaceShardBody>

export const zAbortUploadBody = z.object({ auth: zSessionCallAuth })
export type AbortUploadBody = z.infer<typeof zAbortUploadBody>

export const zCommitBody = z.object({
  request: zWalletSigned(zCommitPayload),
  /** The DAG's inner blocks (every block with links, including the root), each base64url. */
  dagBlocks: z.array(z.string().regex(/^[A-Za-z0-9_-]*$/)).max(COMMIT_MAX_DAG_BLOCKS),
  /** One receipt per shard of every segment, from the node it was last placed on. */
  receipts: z.array(zSignedReceipt).max(COMMIT_MAX_RECEIPTS),
  /** Directory commits: the CIDs the directory links to (each must already be stored). */
  children: z.array(zCid).max(DIRECTORY_MAX_CHILDREN).optional(),
})
export type CommitBody = z.infer<typeof zCommitBody>

export const zReadBody = z.object({
  /** Segment range [from, to) to issue tickets for; defaults to all segments (capped). */
  from: z.number().int().nonnegative().optional(),
  to: z.number().int().nonnegative().optional(),
  /** The reader's order key (orders.ts): GET tickets name it. */
  orderKey: zOrderKey,
})
export type ReadBody = z.infer<typeof zReadBody>
export const MAX_READ_SEGMENTS = MAX_SEGMENTS_PER_READ_REQUEST

/**
 * Settlement (Proof of Traffic): a resource node hands the meta node, per order limit (serial), the
 * limit as it received it and the highest order signed under it. NodeSigned (DOMAIN.settleOrders) by
 * the resource node; every ticket must name that node. The meta node answers per item.
 */
export const zSettleOrdersPayload = z.object({
  v: z.literal(1),
  chainId: z.string(),
  /** The resource node settling (= the batch signer). */
  node: zNodeAddress,
  items: z
    .array(z.object({ ticket: zSignedTicket, order: zSignedOrder }))
    .min(1)
    .max(MAX_SETTLE_BATCH),
  expiresAt: zTime,
})
export type SettleOrdersPayload = z.infer<typeof zSettleOrdersPayload>
export const zSettleOrdersBody = zNodeSigned(zSettleOrdersPayload)
export type SettleOrdersBody = NodeSigned<SettleOrdersPayload>
export interface SettleOrderItem {
  ticket: SignedTicket
  order: SignedOrder
}

export interface SettleOrdersResponse {
  /** One entry per item (any order); an item with no entry stays with the node and is sent again. */
  results: Array<{ serial: string; status: 'accepted' | 'rejected'; code?: string }>
}

export const zDeleteBody = zWalletSigned(zDeletePayload)
export const zCidParam = z.object({ cid: zCid })
export const zUploadIdParam = z.object({ id: zUploadId })
export const zListQuery = z.object({
  owner: z.string().optional(),
  limit: z.coerce.number().int().positive().max(LIST_MAX_PAGE_FILES).optional(),
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
  /** Audits and reputation at this meta node (absent when the node runs without an auditor). */
  reputation?: NodeReputationView
  /** The node's registration status on chain (active, pending, suspended, unbonding, unregistered); absent without a chain. */
  chainState?: string
}

/** Where a node stands with this meta node: `active` gets data; `suspended` and `maintenance` get none; `offline` no heartbeat. */
export type NodeHealthState = 'active' | 'suspended' | 'maintenance' | 'offline'

export interface NodeReputationView {
  state: NodeHealthState
  /** 0..1: weighted share of passed audits (recent ones count most). */
  auditScore: number
  /** 0..1: weighted share of samples that found the node online (maintenance windows are not sampled). */
  onlineScore: number
  audits: number
  failedAudits: number
  suspendedAt?: number
  suspendedFor?: 'audit' | 'online'
  maintenanceUntil?: number
  /** Slashing incidents reported for this node so far. */
  slashIncidents: number
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
  /** Segment 0's placements, when the create planned it (CreateUploadPayload.segment). */
  placements?: Placement[]
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
  /** Shown only to an owner (session access); others see the public facts. */
  owners?: string[]
  /** Anyone may read it (paid by its publishing owner); false: only owners, share links and grants. */
  public: boolean
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
  /** Anyone may read it (for an owner's listing: this owner published it). */
  public: boolean
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

// ---- Share links (meta) ---------------------------------------------------------------------
export const SHARE_ROUTES = {
  create: '/v1/shares', //                  POST SignedShareCreate → ShareView
  list: '/v1/shares/list', //               POST SignedShareList → { shares: ShareView[] }
  revoke: '/v1/shares/:id/revoke', //       POST SignedShareRevoke → ShareView (state 'revoked')
  resolve: '/v1/shares/:id/resolve', //     POST ShareResolveBody → ShareResolution (unauthenticated: id + password)
} as const

/** Path prefix of share links on the gateway: GET|HEAD {gateway}/share/{id}[/path]. */
export const SHARE_PATH_PREFIX = '/share/'

/** The gateway URL of a share link. */
export function shareUrl(gatewayUrl: string, id: string): string {
  return gatewayUrl.replace(/\/+$/, '') + SHARE_PATH_PREFIX + id
}

export const zShareCreateBody = zWalletSigned(zShareCreatePayload)
export const zShareListBody = zWalletSigned(zShareListPayload)
export const zShareRevokeBody = zWalletSigned(zShareRevokePayload)
export const zShareIdParam = z.object({ id: zShareId })
/** The password travels in a POST body, never in the meta node's URLs (logs). Length is bounded in characters here, in bytes later. */
export const zShareResolveBody = z.object({
  password: z.string().max(MAX_SHARE_PASSWORD_BYTES).optional(),
  /** The end user's address as a trusted proxy (the gateway) saw it; the meta node ignores it from anyone else (shares.ts). */
  client: z.string().max(SHARE_MAX_CLIENT_BYTES).optional(),
})
export type ShareResolveBody = z.infer<typeof zShareResolveBody>

export type ShareState = 'active' | 'expired' | 'revoked'

export interface ShareView {
  id: string
  cid: string
  kind: 'file' | 'directory'
  name?: string
  /** The wallet that created the link (an owner of the file). */
  owner: string
  createdAt: number
  /** Unix ms after which the link answers SHARE_EXPIRED; null: never. */
  expiresAt: number | null
  hasPassword: boolean
  revokedAt?: number
  state: ShareState
}

export interface ShareResolution {
  id: string
  cid: string
  kind: 'file' | 'directory'
  name?: string
  size: number
  expiresAt: number | null
  /** Token for the ACCESS_HEADER (`share.{token}`): reads of the link's content, paid by its creator; valid while the link is. */
  access: string
}

// ---- Traffic views (meta, Proof of Traffic: src/sds/meta/pot/traffic.ts) ----------------------------
export const zTrafficNodesQuery = z.object({
  epoch: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
})

/** One resource node's traffic as this meta node settled it. */
export interface NodeTraffic {
  node: string
  epoch: number
  /** Bytes of accepted orders credited to the node in `epoch`. */
  bytes: number
  orders: number
  /** All epochs this meta node still remembers. */
  totalBytes: number
  totalOrders: number
  /** The node's status on chain (active, pending, suspended, unbonding, unregistered); null without a chain. */
  chainState: string | null
  /** State of `epoch`'s volume report: open (epoch running), none, pending, submitted, included, dropped. */
  report: string
  /** Reputation score (0–1) when the meta node audits nodes. */
  score?: number
}

export interface NodeTrafficList {
  /** The chain epoch the meta node sees now (0 without a chain). */
  currentEpoch: number
  epoch: number
  nodes: NodeTraffic[]
}

export interface FileTrafficEntry {
  epoch: number
  op: 'put' | 'get'
  bytes: number
  orders: number
}

export interface FileTraffic {
  cid: string
  /** By epoch, then op. */
  traffic: FileTrafficEntry[]
  totals: { put: number; get: number }
}

// ---- Access: grants, visibility, budgets (meta: src/sds/meta/access.ts, grants.ts) -------------------------------
export const zGrantCreateBody = zWalletSigned(zGrantCreatePayload)
export const zGrantRevokeBody = zWalletSigned(zGrantRevokePayload)
export const zGrantListBody = zWalletSigned(zGrantListPayload)
export const zGrantIdParam = z.object({ id: zGrantId })
export const zVisibilityBody = zWalletSigned(zVisibilityPayload)
export const zBudgetBody = zWalletSigned(zBudgetPayload)
export const zBudgetListBody = zWalletSigned(zBudgetListPayload)

export interface GrantView {
  id: string
  owner: string
  scope: GrantScope
  createdAt: number
  expiresAt: number
  revokedAt?: number
  state: 'active' | 'expired' | 'revoked'
}

export interface BudgetView {
  owner: string
  /** Absent: the wallet-wide budget. */
  cid?: string
  bytesPerEpoch: number | null
  /** Bytes of strangers' reads counted against it in the current epoch. */
  spentBytes: number
  epoch: number
}

// ---- Delegations (meta: src/sds/meta/delegations.ts) ---------------------------------------------------------------
export const DELEGATION_ROUTES = {
  create: '/v1/delegations', //              POST SignedDelegationCreate → DelegationView
  list: '/v1/delegations/list', //           POST SignedDelegationList → { delegations: DelegationView[] }
  get: '/v1/delegations/:id', //             GET → DelegationView (ids are not secrets: delegated requests carry them)
  revoke: '/v1/delegations/:id/revoke', //   POST SignedDelegationRevoke → DelegationView (state 'revoked')
} as const

export const zDelegationCreateBody = zWalletSigned(zDelegationCreatePayload)
export const zDelegationListBody = zWalletSigned(zDelegationListPayload)
export const zDelegationRevokeBody = zWalletSigned(zDelegationRevokePayload)
export const zDelegationIdParam = z.object({ id: zDelegationId })

export interface DelegationView {
  id: string
  /** The wallet the delegate acts for. */
  owner: string
  /** The delegate's ed25519 public key (base64url). */
  delegate: string
  scopes: DelegationScope[]
  createdAt: number
  expiresAt: number
  label?: string
  revokedAt?: number
  state: 'active' | 'expired' | 'revoked'
}
