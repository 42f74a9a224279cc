/**
 * Uploads from the browser through the gateway's edge (src/gateway/edge.ts, docs/wallet.md):
 *
 *  1. sign an `upload.create` here (size, name, the gateway's order key and coding), send it with the file's bytes
 *     (XMLHttpRequest: upload progress, abort) — the gateway codes the shards and places them, paid by this wallet;
 *  2. meanwhile compute the file's CID here, from the file itself, with the CLI's own UnixFS code
 *     (src/sds/client/unixfs.ts: Kubo's defaults) and the digest of its DAG blocks;
 *  3. sign the `upload.commit` only if the gateway placed exactly that CID, size and DAG digest; else drop it.
 *
 * Folders: each file goes up on its own; then the directory node is built here (buildDirectory) and committed
 * with a wallet-signed create + commit of its own (no bytes to place).
 */
import { CID } from 'multiformats/cid'
import type { WalletKey } from '../../../../src/crypto/wallet-key.ts'
import type { FileRecordView } from '../../../../src/sds/protocol/api.ts'
import { commitPayload, createPayload } from '../../../../src/sds/protocol/upload-requests.ts'
import { signAsWallet } from '../../../../src/sds/protocol/signing.ts'
import { buildDirectory, dagDigest, UnixFsFileBuilder } from '../../../../src/sds/client/unixfs.ts'
import { randomHex, toB64Url, utf8 } from './bytes.ts'
import { AppError } from './errors.ts'
import { errorOf, http } from './http.ts'
import { chain } from './chain.ts'
import { type EdgeParams, getEdgeParams, sessionHeader } from './meta.ts'

const REQUEST_TTL_MS = 60_000
/** How long the signed create stays valid: it must reach the meta node, which happens as the body starts. */
const CREATE_TTL_MS = 10 * 60_000

export interface UploadProgress {
  /** Bytes the browser has sent to the gateway. */
  sent: number
  total: number
  phase: 'hashing' | 'sending' | 'placing' | 'committing' | 'done'
}

export interface UploadedFile {
  cid: string
  size: number
  name: string
  dagSize: number
  record: FileRecordView
}

/** The CID and DAG digest of a file's bytes, as Kubo's `ipfs add` would give them. */
export async function localCid(
  file: Blob,
  signal?: AbortSignal,
): Promise<{ cid: string; digest: string; dagSize: number }> {
  const builder = new UnixFsFileBuilder()
  const reader = file.stream().getReader()
  try {
    for (;;) {
      if (signal?.aborted) throw new DOMException('aborted', 'AbortError')
      const { done, value } = await reader.read()
      if (done) break
      await builder.push(value)
    }
  } catch (e) {
    builder.abort(e)
    throw e
  } finally {
    reader.releaseLock()
  }
  const dag = await builder.finish()
  return { cid: dag.cid.toString(), digest: dagDigest(dag.blocks.map((b) => b.bytes)), dagSize: dag.dagSize }
}

function putBytes(
  file: Blob,
  createHeader: string,
  onSent: (bytes: number) => void,
  signal: AbortSignal,
): Promise<{ uploadId: string; cid: string; size: number; dagDigest: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', '/api/v1/edge/uploads')
    xhr.setRequestHeader('x-stratos-upload-create', createHeader)
    xhr.setRequestHeader('content-type', 'application/octet-stream')
    xhr.upload.onprogress = (e) => onSent(e.loaded)
    xhr.onload = () => {
      let json: unknown
      try {
        json = JSON.parse(xhr.responseText)
      } catch {
        json = undefined
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json as never)
      else reject(errorOf(xhr.status, json, xhr.responseText))
    }
    xhr.onerror = () => reject(new AppError('NETWORK_UNREACHABLE', 'The network cannot be reached.'))
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'))
    signal.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(file)
  })
}

/**
 * Refuses before any byte moves when the wallet's ozone cannot pay the upload's shard traffic (the file's bytes
 * times (k+m)/k): the person is offered to prepay instead of watching an upload fail.
 */
async function checkOzone(address: string, size: number, p: EdgeParams): Promise<void> {
  const { ozone } = await chain.account(address)
  const needed = BigInt(Math.ceil((size * (p.k + p.m)) / p.k))
  if (ozone < needed)
    throw new AppError('INSUFFICIENT_OZONE', 'not enough ozone for this upload', 402, {
      needed: needed.toString(),
      ozone: ozone.toString(),
    })
}

/** A file or folder name as the meta node keeps it (at most 255 characters). */
const NAME_MAX_CHARS = 255

/** The wallet-signed `upload.create` of `size` bytes named `name`, ordered through the gateway's key. */
function signedCreate(key: WalletKey, p: EdgeParams, c: { size: number; name: string; ttlMs: number }) {
  const create = createPayload(
    {
      chainId: p.chainId,
      signer: key.address,
      nonce: randomHex(16),
      expiresAt: Date.now() + c.ttlMs,
      orderKey: p.orderKey,
    },
    { k: p.k, m: p.m, segmentSize: p.segmentSize, size: c.size, name: c.name.slice(0, NAME_MAX_CHARS) },
  )
  return signAsWallet(key, create)
}

/** The wallet-signed `upload.commit` of upload `uploadId` as `cid`: signed only for a CID this page computed. */
function signedCommit(
  key: WalletKey,
  p: EdgeParams,
  c: { uploadId: string; cid: string; size: number; kind: 'file' | 'directory'; name: string; dagDigest: string },
) {
  const commit = commitPayload(
    { chainId: p.chainId, signer: key.address, nonce: randomHex(16), expiresAt: Date.now() + REQUEST_TTL_MS },
    { ...c, name: c.name.slice(0, NAME_MAX_CHARS) },
  )
  return signAsWallet(key, commit)
}

export async function uploadFile(
  key: WalletKey,
  file: Blob,
  name: string,
  onProgress: (p: UploadProgress) => void,
  signal: AbortSignal,
): Promise<UploadedFile> {
  const p = await getEdgeParams()
  const total = file.size
  await checkOzone(key.address, total, p)
  const createHeader = toB64Url(utf8(JSON.stringify(signedCreate(key, p, { size: total, name, ttlMs: CREATE_TTL_MS }))))
  const local = localCid(file, signal)
  local.catch(() => undefined)
  onProgress({ sent: 0, total, phase: 'sending' })
  const placed = await putBytes(
    file,
    createHeader,
    (sent) => onProgress({ sent, total, phase: sent >= total ? 'placing' : 'sending' }),
    signal,
  )
  const mine = await local
  if (mine.cid !== placed.cid || mine.digest !== placed.dagDigest || placed.size !== total) {
    await http(`/api/v1/edge/uploads/${placed.uploadId}`, { method: 'DELETE' }).catch(() => undefined)
    throw new AppError(
      'CID_MISMATCH',
      `The gateway placed ${placed.cid} but this file is ${mine.cid}: the upload was dropped and nothing was committed.`,
    )
  }
  onProgress({ sent: total, total, phase: 'committing' })
  const commit = signedCommit(key, p, {
    uploadId: placed.uploadId,
    cid: mine.cid,
    size: total,
    kind: 'file',
    name,
    dagDigest: mine.digest,
  })
  const { file: record } = await http<{ file: FileRecordView }>(`/api/v1/edge/uploads/${placed.uploadId}/commit`, {
    body: commit,
    signal,
  })
  onProgress({ sent: total, total, phase: 'done' })
  return { cid: mine.cid, size: total, name, dagSize: mine.dagSize, record }
}

/** Commits a folder's UnixFS directory over files already uploaded (paths relative to the folder). */
export async function commitFolder(
  key: WalletKey,
  name: string,
  entries: Array<{ path: string; cid: string; dagSize: number; size: number }>,
): Promise<string> {
  const p = await getEdgeParams()
  const dir = await buildDirectory(
    entries.map((e) => ({ path: e.path, cid: CID.parse(e.cid), dagSize: e.dagSize })),
    [],
  )
  const cid = dir.cid.toString()
  const size = entries.reduce((a, e) => a + e.size, 0)
  const access = { 'x-stratos-access': await sessionHeader(key) }
  const session = await http<{ uploadId: string }>('/api/v1/meta/v1/uploads', {
    body: signedCreate(key, p, { size, name, ttlMs: REQUEST_TTL_MS }),
    headers: access,
  })
  const blocks = dir.blocks.map((b) => b.bytes)
  const commit = signedCommit(key, p, {
    uploadId: session.uploadId,
    cid,
    size,
    kind: 'directory',
    name,
    dagDigest: dagDigest(blocks),
  })
  await http(`/api/v1/meta/v1/uploads/${session.uploadId}/commit`, {
    body: {
      request: commit,
      dagBlocks: blocks.map(toB64Url),
      receipts: [],
      children: [...new Set(entries.map((e) => e.cid))],
    },
    headers: access,
  })
  return cid
}
