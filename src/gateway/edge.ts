/**
 * The gateway as an upload edge for browsers (the wallet portal, docs/wallet.md): the browser holds the key, the
 * gateway codes the shards.
 *
 *   GET    /api/v1/edge/params              { chainId, orderKey, k, m, segmentSize }: what a browser's upload.create names
 *   PUT    /api/v1/edge/uploads             body: the file's bytes; header EDGE_CREATE_HEADER: base64url(JSON of the
 *                                           browser's wallet-signed upload.create) → { uploadId, cid, size, dagDigest }
 *                                           once every shard is placed (nothing is visible yet)
 *   POST   /api/v1/edge/uploads/:id/commit  the browser's wallet-signed upload.commit → { file }
 *   DELETE /api/v1/edge/uploads/:id         drops a placed upload that was not committed (its shards are released)
 *
 * Who authorises and who pays: the meta node opens the session only on the wallet's signature (the create names this
 * gateway's order key, so the gateway can sign the session's plan / replace / abort calls) and charges the PUT tickets to that
 * wallet's ozone; the file becomes visible only on the wallet's signed commit, which names the CID, size and DAG
 * digest. The browser computes the CID from the file itself while it streams, and signs only if the gateway's result
 * is the same: a gateway that altered the bytes cannot get a commit for them. The gateway cannot open a session or
 * commit for a wallet on its own: it has no key of the wallet's.
 *
 * Bounds: GATEWAY_EDGE_UPLOADS at once (BUSY past it); a placed upload waits GATEWAY_EDGE_COMMIT_WAIT_MS for its
 * commit, then is aborted. The upload id is the bearer of a placed upload between the two requests: only the browser
 * that opened it learned it.
 */
import { fromBase64Url, toBase64Url } from '../crypto/hash.ts'
import { StratosError } from '../errors.ts'
import { GATEWAY_EDGE_COMMIT_WAIT_MS, GATEWAY_EDGE_UPLOADS } from '../limits.ts'
import { readJsonBody, sendJson } from '../net/http-server.ts'
import type { FileRecordView } from '../sds/protocol/api.ts'
import { zCommitPayload, zCreateUploadPayload, zWalletSigned } from '../sds/protocol/messages.ts'
import type { SignedCommit, SignedCreateUpload } from '../sds/protocol/types.ts'
import type { CommitParts, UploadAuthority } from '../sds/client/index.ts'
import { dagDigest } from '../sds/client/unixfs.ts'
import type { GatewayContext, GatewayRoute } from './routes.ts'

/** Request header carrying the browser's signed upload.create (base64url of its JSON). */
export const EDGE_CREATE_HEADER = 'x-stratos-upload-create'
const EDGE_PREFIX = '/api/v1/edge/uploads/'
const MAX_COMMIT_BODY_BYTES = 64 * 1024

const zSignedCreate = zWalletSigned(zCreateUploadPayload)
const zSignedCommit = zWalletSigned(zCommitPayload)

/** What a placed upload waits with: the parts its commit must name, and how to hand it the signed commit. */
interface PlacedUpload {
  readonly signer: string
  readonly parts: CommitParts
  readonly digest: string
  readonly commit: (signed: SignedCommit) => void
  readonly drop: (e: StratosError) => void
  /** The upload's outcome once committed (or failed). */
  readonly done: Promise<FileRecordView>
}

/** The edge's routes; one Edge per gateway (it holds the placed uploads waiting for their commit). */
export function edgeRoutes(): GatewayRoute[] {
  const edge = new Edge()
  return [
    { name: 'edge-params', path: '/api/v1/edge/params', methods: ['GET'], handle: (c) => edge.params(c) },
    { name: 'edge-upload', path: '/api/v1/edge/uploads', methods: ['PUT'], handle: (c) => edge.upload(c) },
    { name: 'edge-commit', path: EDGE_PREFIX, methods: ['POST', 'DELETE'], handle: (c) => edge.finish(c) },
  ]
}

class Edge {
  /** Uploads running or placed, by upload id once the meta node opened them (`running` counts all). */
  readonly #placed = new Map<string, PlacedUpload>()
  #running = 0

  async params(c: GatewayContext): Promise<void> {
    const client = await c.gateway.client()
    sendJson(c.res, 200, {
      chainId: client.chainId,
      orderKey: client.orderKey,
      k: client.k,
      m: client.m,
      segmentSize: client.segmentSize,
    })
  }

  async upload(c: GatewayContext): Promise<void> {
    const create = parseCreate(c.req.headers[EDGE_CREATE_HEADER])
    const client = await c.gateway.client()
    const p = create.payload
    if (p.orderKey !== client.orderKey)
      throw new StratosError(
        'BAD_REQUEST',
        "the upload.create must name this gateway's order key (GET /api/v1/edge/params)",
      )
    if (p.chainId !== client.chainId)
      throw new StratosError('WRONG_CHAIN', `this gateway serves chain ${client.chainId}`, {
        expected: client.chainId,
        got: p.chainId,
      })
    if (this.#running >= GATEWAY_EDGE_UPLOADS)
      throw new StratosError('BUSY', `this gateway runs ${GATEWAY_EDGE_UPLOADS} browser uploads already; try again`)
    this.#running++
    let uploadId: string | undefined
    let onPlaced!: (placed: { uploadId: string; parts: CommitParts; digest: string }) => void
    const placed = new Promise<{ uploadId: string; parts: CommitParts; digest: string }>((r) => {
      onPlaced = r
    })
    let handOver!: (signed: SignedCommit) => void
    let drop!: (e: StratosError) => void
    const signedCommit = new Promise<SignedCommit>((resolve, reject) => {
      handOver = resolve
      drop = reject
    })
    signedCommit.catch(() => undefined)
    let record: FileRecordView | undefined
    const authority: UploadAuthority = {
      open: async (_shape, signal) => {
        const session = await client.meta.createUpload(create, { signal })
        uploadId = session.uploadId
        return session
      },
      commit: async (id, parts, signal) => {
        const digest = dagDigest(parts.blocks.map((b) => b.bytes))
        onPlaced({ uploadId: id, parts, digest })
        const timer = setTimeout(
          () => drop(new StratosError('TIMEOUT', `no signed commit within ${GATEWAY_EDGE_COMMIT_WAIT_MS} ms`)),
          GATEWAY_EDGE_COMMIT_WAIT_MS,
        )
        try {
          const signed = await signedCommit
          record = await client.meta.commit(
            id,
            {
              request: signed,
              dagBlocks: parts.blocks.map((b) => toBase64Url(b.bytes)),
              receipts: parts.receipts,
            },
            { signal },
          )
          return record
        } finally {
          clearTimeout(timer)
        }
      },
    }
    // The upload's own signal: the request's until the shards are placed; after the reply only a drop or the
    // commit wait ends it (the reply's end must not abort it).
    const controller = new AbortController()
    const onClose = (): void => controller.abort(c.signal.reason)
    c.signal.addEventListener('abort', onClose, { once: true })
    const done = client
      .putWith(
        c.req,
        authority,
        { k: p.k, m: p.m, segmentSize: p.segmentSize, name: p.name, public: p.public },
        { signal: controller.signal },
      )
      .then(() => {
        if (!record) throw new StratosError('INTERNAL', 'the upload ended without a commit')
        return record
      })
    done.catch(() => undefined)
    void done
      .catch(() => undefined)
      .then(() => {
        this.#running--
        if (uploadId !== undefined) this.#placed.delete(uploadId)
      })
    let first: { uploadId: string; parts: CommitParts; digest: string } | null
    try {
      first = await Promise.race([placed, done.then(() => null)])
    } finally {
      c.signal.removeEventListener('abort', onClose)
    }
    if (first === null) throw new StratosError('INTERNAL', 'the upload committed without a signed commit')
    this.#placed.set(first.uploadId, {
      signer: p.signer,
      parts: first.parts,
      digest: first.digest,
      commit: handOver,
      drop,
      done,
    })
    sendJson(c.res, 200, {
      uploadId: first.uploadId,
      cid: first.parts.cid,
      size: first.parts.size,
      dagDigest: first.digest,
    })
  }

  async finish(c: GatewayContext): Promise<void> {
    const rest = c.rawPath.slice(EDGE_PREFIX.length)
    const m = /^([A-Za-z0-9_-]{1,100})(\/commit)?$/.exec(rest)
    if (!m || (c.method === 'POST') !== (m[2] !== undefined))
      throw new StratosError('NOT_FOUND', `no route ${c.method} ${c.rawPath.slice(0, 200)}`)
    const id = m[1]!
    const placed = this.#placed.get(id)
    if (!placed) throw new StratosError('NOT_FOUND', `no placed upload ${id} waiting for its commit`, { id })
    if (c.method === 'DELETE') {
      placed.drop(new StratosError('ABORTED', 'the browser dropped the upload'))
      await placed.done.catch(() => undefined)
      sendJson(c.res, 200, { aborted: true })
      return
    }
    const parsed = zSignedCommit.safeParse(await readJsonBody(c.req, MAX_COMMIT_BODY_BYTES, { required: true }))
    if (!parsed.success) throw new StratosError('BAD_REQUEST', 'the body must be a wallet-signed upload.commit')
    const signed = parsed.data as SignedCommit
    const q = signed.payload
    if (q.uploadId !== id || q.signer !== placed.signer)
      throw new StratosError('BAD_REQUEST', 'the commit names another upload or another wallet')
    if (q.cid !== placed.parts.cid || q.size !== placed.parts.size || q.dagDigest !== placed.digest)
      throw new StratosError('CONFLICT', 'the signed commit does not match what this gateway placed', {
        placed: { cid: placed.parts.cid, size: placed.parts.size, dagDigest: placed.digest },
        signed: { cid: q.cid, size: q.size, dagDigest: q.dagDigest },
      })
    this.#placed.delete(id)
    placed.commit(signed)
    sendJson(c.res, 200, { file: await placed.done })
  }
}

function parseCreate(header: string | string[] | undefined): SignedCreateUpload {
  if (typeof header !== 'string' || header === '')
    throw new StratosError('BAD_REQUEST', `${EDGE_CREATE_HEADER} must carry the wallet-signed upload.create`)
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(fromBase64Url(header)).toString('utf8'))
  } catch {
    throw new StratosError('BAD_REQUEST', `${EDGE_CREATE_HEADER} is not base64url JSON`)
  }
  const parsed = zSignedCreate.safeParse(raw)
  if (!parsed.success) throw new StratosError('BAD_REQUEST', `${EDGE_CREATE_HEADER} is not a signed upload.create`)
  return parsed.data as SignedCreateUpload
}
