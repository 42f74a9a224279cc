/**
 * The storage protocol's messages and their validation schemas (zod, applied at every edge).
 *
 * Flows (see docs/protocol.md):
 *   resource → meta   Heartbeat (NodeSigned), answered by HeartbeatReply (NodeSigned by meta)
 *   client   → meta   CreateUpload (WalletSigned) · PlanSegment · ReplaceShard · Commit (WalletSigned) · Delete (WalletSigned) · Read
 *   meta     → client Ticket per shard transfer (NodeSigned by meta), carried to the node in a header
 *   client   → node   PUT/GET shard bytes with the ticket; node answers a PUT with a Receipt (NodeSigned by node)
 */
import { z } from 'zod'
import { isNodeAddress } from '../../crypto/node-key.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { MAX_DATA_SHARDS, MAX_PARITY_SHARDS, MAX_SEGMENT_BYTES, MAX_SHARD_BYTES } from '../../limits.ts'
import { GRANT_SCOPE_MAX_CIDS, GRANT_SCOPE_MAX_PREFIXES, HEARTBEAT_MAX_REPORTED_SHARDS } from '../../limits.ts'
import type { NodeSigned, WalletSigned } from './signing.ts'

// ---- Primitive schemas ---------------------------------------------------------------
export const zShardId = z.string().regex(/^[0-9a-f]{64}$/, 'shard id is 64 lowercase hex characters')
export const zNodeAddress = z.string().refine(isNodeAddress, 'not a valid stsds1… node address')
export const zWalletAddress = z.string().refine(isWalletAddress, 'not a valid st1… wallet address')
export const zNonce = z.string().regex(/^[0-9a-f]{16,64}$/, 'nonce is 8–32 bytes of hex')
export const zTime = z.number().int().nonnegative()
export const zUploadId = z.string().regex(/^[0-9a-f]{32}$/, 'upload id is 16 bytes of hex')
export const zBase64Url = z.string().regex(/^[A-Za-z0-9_-]*$/)
export const zHttpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
export const zCid = z.string().min(2).max(200)
/** An ed25519 public key (32 bytes) as base64url: the key that signs a transfer's orders. */
export const zOrderKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'order key is a 32-byte ed25519 public key in base64url')

export const zNodeSigned = <T extends z.ZodTypeAny>(payload: T) =>
  z.object({ payload, signer: zNodeAddress, key: zBase64Url, signature: zBase64Url })
/** A delegation's id: 16 random bytes, base64url (22 characters). */
export const zDelegationId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{22}$/, 'delegation id is 16 bytes of base64url (22 characters)')
/** A wallet's own signature (65 bytes hex), or a delegate's ed25519 signature (64 bytes base64url) with its proof. */
export const zWalletSigned = <T extends z.ZodTypeAny>(payload: T) =>
  z.object({
    payload,
    signature: z.string().regex(/^([0-9a-f]{130}|[A-Za-z0-9_-]{86})$/),
    delegate: z.object({ id: zDelegationId, key: zOrderKey }).optional(),
  })

// ---- Ticket (meta → client → node) -------------------------------------------------------
export const zTicket = z.object({
  v: z.literal(1),
  chainId: z.string(),
  serial: zNonce,
  op: z.enum(['put', 'get']),
  node: zNodeAddress,
  shard: zShardId,
  /** PUT: exact shard size. GET: the shard's size (the node serves at most this). */
  size: z.number().int().positive().max(MAX_SHARD_BYTES),
  payer: zWalletAddress,
  /** The upload session (PUT) or file CID (GET) this transfer belongs to. */
  context: z.string().max(200),
  /**
   * base64url ed25519 public key whose signed orders (orders.ts) spend this limit: the uploader's
   * session key (authorised by the owner's wallet-signed create request) or the reader's.
   */
  orderKey: zOrderKey,
  expiresAt: zTime,
})
export type Ticket = z.infer<typeof zTicket>
export const zSignedTicket = zNodeSigned(zTicket)
export type SignedTicket = NodeSigned<Ticket>
/** HTTP header carrying a signed ticket: `base64url(JSON of SignedTicket)`. */
export const TICKET_HEADER = 'x-stratos-ticket'

// ---- Receipt (node → client → meta) ----------------------------------------------------
export const zReceipt = z.object({
  v: z.literal(1),
  chainId: z.string(),
  node: zNodeAddress,
  shard: zShardId,
  size: z.number().int().positive(),
  /** The ticket serial that authorised the PUT. */
  serial: zNonce,
  storedAt: zTime,
  expiresAt: zTime,
})
export type Receipt = z.infer<typeof zReceipt>
export const zSignedReceipt = zNodeSigned(zReceipt)
export type SignedReceipt = NodeSigned<Receipt>

// ---- Heartbeat (resource → meta) ----------------------------------------------------------
export const zHeartbeat = z.object({
  v: z.literal(1),
  chainId: z.string(),
  node: zNodeAddress,
  url: zHttpUrl,
  version: z.string().max(64),
  capacityBytes: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative(),
  usedBytes: z.number().int().nonnegative(),
  shardCount: z.number().int().nonnegative(),
  /** Transfers in progress on the node right now. */
  load: z.number().int().nonnegative(),
  /** Monotonic per node; the meta node ignores a heartbeat not newer than the last one. */
  seq: z.number().int().nonnegative(),
  /** Shards the node found corrupt and quarantined since its last heartbeat. */
  corrupt: z.array(zShardId).max(HEARTBEAT_MAX_REPORTED_SHARDS),
  /** Shards the node deleted since its last heartbeat (acknowledges HeartbeatReply.deletes). */
  deleted: z.array(zShardId).max(HEARTBEAT_MAX_REPORTED_SHARDS),
  expiresAt: zTime,
})
export type Heartbeat = z.infer<typeof zHeartbeat>
export const zSignedHeartbeat = zNodeSigned(zHeartbeat)

export const zHeartbeatReply = z.object({
  v: z.literal(1),
  chainId: z.string(),
  node: zNodeAddress,
  /** Echo of the heartbeat's seq so the node can match the reply. */
  seq: z.number().int().nonnegative(),
  /** Shards this node should delete (no file or open upload references them on this node). */
  deletes: z.array(zShardId),
  heartbeatIntervalMs: z.number().int().positive(),
  expiresAt: zTime,
})
export type HeartbeatReply = z.infer<typeof zHeartbeatReply>
export const zSignedHeartbeatReply = zNodeSigned(zHeartbeatReply)

// ---- Wallet requests (client → meta) --------------------------------------------------
const walletBase = { chainId: z.string(), signer: zWalletAddress, nonce: zNonce, expiresAt: zTime }

/** One segment's plan: what a plan call (api.ts zPlanSegmentBody) and a create's segment 0 both carry. */
export const zSegmentPlan = z.object({
  /** Bytes of file data in this segment (the last segment may be short). */
  size: z.number().int().positive().max(MAX_SEGMENT_BYTES),
  shardSize: z.number().int().positive().max(MAX_SHARD_BYTES),
  /** k data shard ids then m parity shard ids. */
  shards: z
    .array(zShardId)
    .min(1)
    .max(MAX_DATA_SHARDS + MAX_PARITY_SHARDS),
})

export const zCreateUploadPayload = z.object({
  ...walletBase,
  action: z.literal('upload.create'),
  k: z.number().int().min(1).max(MAX_DATA_SHARDS),
  m: z.number().int().min(0).max(MAX_PARITY_SHARDS),
  segmentSize: z.number().int().positive().max(MAX_SEGMENT_BYTES),
  /** Total size when known up front (lets the meta node refuse early); null for streams. */
  size: z.number().int().nonnegative().nullable(),
  name: z.string().max(255).optional(),
  /** The session's order key: PUT tickets name it, and only orders it signs spend them. */
  orderKey: zOrderKey,
  /** The file will be public (anyone may read it, paid by this owner); default private (docs/security.md). */
  public: z.boolean().optional(),
  /**
   * Segment 0, planned with the create (a file whose first segment is read before the session opens): the answer
   * carries its placements, saving the separate signed plan call. Covered by the wallet's signature like the rest.
   */
  segment: zSegmentPlan.optional(),
})
export type CreateUploadPayload = z.infer<typeof zCreateUploadPayload>

export const zCommitPayload = z.object({
  ...walletBase,
  action: z.literal('upload.commit'),
  uploadId: zUploadId,
  cid: zCid,
  size: z.number().int().nonnegative(),
  kind: z.enum(['file', 'directory']),
  name: z.string().max(255).optional(),
  /** sha256 (hex) over the concatenated dagBlocks of the commit body, binding them to this signature. */
  dagDigest: z.string().regex(/^[0-9a-f]{64}$/),
})
export type CommitPayload = z.infer<typeof zCommitPayload>

export const zDeletePayload = z.object({
  ...walletBase,
  action: z.literal('file.delete'),
  cid: zCid,
})
export type DeletePayload = z.infer<typeof zDeletePayload>

export type SignedCreateUpload = WalletSigned<CreateUploadPayload>
export type SignedCommit = WalletSigned<CommitPayload>
export type SignedDelete = WalletSigned<DeletePayload>

// ---- Share links (owner → meta) ------------------------------------------------------------
/** A share link id: SHARE_ID_BYTES random bytes, base64url (no padding). */
export const zShareId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'share id is 16 bytes of base64url (22 characters)')

/** scrypt hash of a link's password, made by the owner's client (share-password.ts); the meta node never sees the password at creation. */
export const zSharePasswordHash = z.object({
  alg: z.literal('scrypt'),
  N: z.number().int().positive(),
  r: z.number().int().positive(),
  p: z.number().int().positive(),
  salt: zBase64Url.max(128),
  hash: zBase64Url.max(128),
})

export const zShareCreatePayload = z.object({
  ...walletBase,
  action: z.literal('share.create'),
  cid: zCid,
  /** When the link stops working (unix ms); null: never. (`expiresAt` is this request's own expiry.) */
  linkExpiresAt: zTime.nullable(),
  password: zSharePasswordHash.nullable(),
})
export type ShareCreatePayload = z.infer<typeof zShareCreatePayload>

export const zShareRevokePayload = z.object({
  ...walletBase,
  action: z.literal('share.revoke'),
  id: zShareId,
})
export type ShareRevokePayload = z.infer<typeof zShareRevokePayload>

/** Listing is signed too: link ids are bearer secrets, so only their owner may see them. */
export const zShareListPayload = z.object({
  ...walletBase,
  action: z.literal('share.list'),
})
export type ShareListPayload = z.infer<typeof zShareListPayload>

export type SignedShareCreate = WalletSigned<ShareCreatePayload>
export type SignedShareRevoke = WalletSigned<ShareRevokePayload>
export type SignedShareList = WalletSigned<ShareListPayload>

// ---- Access (who may read, list and stat; see docs/security.md) ------------------------------------
/**
 * A wallet's session token: the wallet vouches that requests carrying it act for it (its own files: read, list,
 * stat, traffic) until `expiresAt`, and that read tickets it obtains name `orderKey` (so a copy of the token in other
 * hands yields tickets only the owner's client can spend). Sent in the ACCESS_HEADER on every meta request; the meta
 * node verifies one signature per token and caches it. Not a one-shot request: its nonce only makes it unique.
 */
export const zAccessSessionPayload = z.object({
  ...walletBase,
  action: z.literal('access.session'),
  orderKey: zOrderKey,
})
export type AccessSessionPayload = z.infer<typeof zAccessSessionPayload>
export type SignedAccessSession = WalletSigned<AccessSessionPayload>

/** A read grant's scope: files by CID (directories cover what they link to) and/or name prefixes of the owner's files. */
export const zGrantScope = z
  .object({
    cids: z.array(zCid).max(GRANT_SCOPE_MAX_CIDS).optional(),
    prefixes: z.array(z.string().min(1).max(255)).max(GRANT_SCOPE_MAX_PREFIXES).optional(),
  })
  .refine((s) => (s.cids?.length ?? 0) + (s.prefixes?.length ?? 0) > 0, 'a grant names at least one CID or prefix')
export type GrantScope = z.infer<typeof zGrantScope>

/** An owner grants read access to whoever holds the grant's id (a bearer secret), until it expires or is revoked. */
export const zGrantCreatePayload = z.object({
  ...walletBase,
  action: z.literal('grant.create'),
  scope: zGrantScope,
  /** When the grant stops working (unix ms). (`expiresAt` is this request's own expiry.) */
  grantExpiresAt: zTime,
})
export type GrantCreatePayload = z.infer<typeof zGrantCreatePayload>

/** A grant id: 16 random bytes, base64url (22 characters). */
export const zGrantId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'grant id is 16 bytes of base64url (22 characters)')

export const zGrantRevokePayload = z.object({ ...walletBase, action: z.literal('grant.revoke'), id: zGrantId })
export type GrantRevokePayload = z.infer<typeof zGrantRevokePayload>
export const zGrantListPayload = z.object({ ...walletBase, action: z.literal('grant.list') })
export type GrantListPayload = z.infer<typeof zGrantListPayload>

/** An owner makes a file public (anyone may read it, paid by the owner) or private again. */
export const zVisibilityPayload = z.object({
  ...walletBase,
  action: z.literal('file.visibility'),
  cid: zCid,
  public: z.boolean(),
})
export type VisibilityPayload = z.infer<typeof zVisibilityPayload>

/**
 * An owner caps what strangers' reads of its public files may cost per epoch, for the whole wallet (`cid` absent) or
 * one file; `bytesPerEpoch` null removes the cap. The owner's own reads, grants and share links are not counted.
 */
export const zBudgetPayload = z.object({
  ...walletBase,
  action: z.literal('budget.set'),
  cid: zCid.optional(),
  bytesPerEpoch: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable(),
})
export type BudgetPayload = z.infer<typeof zBudgetPayload>
export const zBudgetListPayload = z.object({ ...walletBase, action: z.literal('budget.list') })
export type BudgetListPayload = z.infer<typeof zBudgetListPayload>

export type SignedGrantCreate = WalletSigned<GrantCreatePayload>
export type SignedGrantRevoke = WalletSigned<GrantRevokePayload>
export type SignedGrantList = WalletSigned<GrantListPayload>
export type SignedVisibility = WalletSigned<VisibilityPayload>
export type SignedBudget = WalletSigned<BudgetPayload>
export type SignedBudgetList = WalletSigned<BudgetListPayload>

/**
 * Calls on an open upload session (plan, replace, abort) are signed by the session's order key, which the owner's
 * wallet named when it opened the session: only the uploader's client holds it. `nonce` is unique per call and
 * remembered until `expiresAt`, so a captured call cannot be replayed.
 */
export const zSessionCallAuth = z.object({ nonce: zNonce, expiresAt: zTime, signature: zBase64Url.max(100) })
export type SessionCallAuth = z.infer<typeof zSessionCallAuth>
export type SessionCallAction = 'upload.plan' | 'upload.replace' | 'upload.abort'

// ---- Delegations (wallet → meta; src/sds/meta/delegations.ts) -------------------------------------
/**
 * What a delegate may do for its wallet: `upload` (create and commit uploads), `read` (session tokens: read the
 * wallet's files), `list` (list them), `delete` (delete them). Nothing else is ever delegable: grants, shares,
 * visibility, budgets and delegations themselves need the wallet's own signature.
 */
export const DELEGATION_SCOPES = ['upload', 'read', 'list', 'delete'] as const
export const zDelegationScope = z.enum(DELEGATION_SCOPES)
export type DelegationScope = z.infer<typeof zDelegationScope>

/** A wallet names a delegate key (ed25519) that may sign its requests within `scopes` until `delegationExpiresAt`. */
export const zDelegationCreatePayload = z.object({
  ...walletBase,
  action: z.literal('delegation.create'),
  /** The delegate's ed25519 public key (base64url). */
  delegate: zOrderKey,
  scopes: z.array(zDelegationScope).min(1).max(DELEGATION_SCOPES.length),
  /** When the delegation stops working (unix ms). (`expiresAt` is this request's own expiry.) */
  delegationExpiresAt: zTime,
  /** A name for the owner's own listing (e.g. the S3 access key id). */
  label: z.string().max(128).optional(),
})
export type DelegationCreatePayload = z.infer<typeof zDelegationCreatePayload>
export const zDelegationRevokePayload = z.object({
  ...walletBase,
  action: z.literal('delegation.revoke'),
  id: zDelegationId,
})
export type DelegationRevokePayload = z.infer<typeof zDelegationRevokePayload>
export const zDelegationListPayload = z.object({ ...walletBase, action: z.literal('delegation.list') })
export type DelegationListPayload = z.infer<typeof zDelegationListPayload>
export type SignedDelegationCreate = WalletSigned<DelegationCreatePayload>
export type SignedDelegationRevoke = WalletSigned<DelegationRevokePayload>
export type SignedDelegationList = WalletSigned<DelegationListPayload>
