/**
 * The two wallet-signed requests of an upload, built in one place for every signer: the SDK (src/sds/client/upload.ts)
 * and the browser wallet (web/wallet/src/lib/upload.ts), so both send the same fields. Browser-safe (no Node imports).
 */
import type { CommitPayload, CreateUploadPayload } from './messages.ts'

/** What an upload.create asks for (CreateUploadPayload without the wallet's fields). */
export interface SessionShape {
  k: number
  m: number
  segmentSize: number
  size: number | null
  name?: string
  public?: boolean
  segment?: { size: number; shardSize: number; shards: string[] }
}

/**
 * The `upload.create` payload a wallet signs (the SDK here, the browser wallet through the gateway's edge): the
 * session's shape, the order key that will sign its calls and spend its tickets, and optionally segment 0's plan.
 */
export function createPayload(
  o: { chainId: string; signer: string; nonce: string; expiresAt: number; orderKey: string },
  p: SessionShape,
): CreateUploadPayload {
  return {
    chainId: o.chainId,
    signer: o.signer,
    nonce: o.nonce,
    expiresAt: o.expiresAt,
    action: 'upload.create',
    orderKey: o.orderKey,
    k: p.k,
    m: p.m,
    segmentSize: p.segmentSize,
    size: p.size,
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.public === true ? { public: true } : {}),
    ...(p.segment
      ? { segment: { size: p.segment.size, shardSize: p.segment.shardSize, shards: p.segment.shards } }
      : {}),
  }
}

/** The `upload.commit` payload a wallet signs: the CID, size and kind it vouches for, bound to the DAG's digest. */
export function commitPayload(
  o: { chainId: string; signer: string; nonce: string; expiresAt: number },
  p: { uploadId: string; cid: string; size: number; kind: 'file' | 'directory'; name?: string; dagDigest: string },
): CommitPayload {
  return {
    chainId: o.chainId,
    signer: o.signer,
    nonce: o.nonce,
    expiresAt: o.expiresAt,
    action: 'upload.commit',
    uploadId: p.uploadId,
    cid: p.cid,
    size: p.size,
    kind: p.kind,
    ...(p.name !== undefined ? { name: p.name } : {}),
    dagDigest: p.dagDigest,
  }
}
