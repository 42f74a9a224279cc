/**
 * The IPFS path gateway (specs.ipfs.tech/http-gateways/path-gateway) and its trustless formats
 * (specs.ipfs.tech/http-gateways/trustless-gateway) over the DAG reader.
 *
 *   GET|HEAD /ipfs/{cid}[/{path}]
 *     files        bytes, Content-Type from the name (or ?filename=) else sniffed; single Range → 206/416;
 *                  ?download=true / ?filename= → Content-Disposition
 *     directories  301 to the trailing-slash URL, then index.html if present, else an HTML listing
 *     ?format=raw  (or Accept: application/vnd.ipld.raw) the block at the end of the path
 *     ?format=car  (or Accept: application/vnd.ipld.car) CARv1, DFS order, no duplicates: the blocks proving the
 *                  path, then the terminal node's DAG per dag-scope (all|entity|block) and entity-bytes (from:to)
 *   Every answer: ETag (+ If-None-Match → 304), Cache-Control: public, max-age=29030400, immutable, X-Ipfs-Path,
 *   X-Ipfs-Roots (the CID of every node on the path), Vary: Accept.
 *
 * `serve()` is also what other routes (share links) call to answer with a node of the network.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import { StratosError, isStratosError } from '../errors.ts'
import { GATEWAY_LISTING_MAX_ENTRIES, GATEWAY_RESOLVE_HINT_ENTRIES, GATEWAY_TYPE_CACHE_ENTRIES } from '../limits.ts'
import { carStream, type Block, type DagReader, type ResolvedNode, type WalkOptions } from '../ipfs/dag.ts'
import type { Logger } from '../util/components.ts'
import { Lru } from '../util/lru.ts'
import { SNIFF_BYTES, sniffType, typeFromName } from './content-type.ts'
import { renderListing } from './listing.ts'
import { parseRange } from './range.ts'
import { GatewayStats } from './stats.ts'

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=29030400, immutable'
export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'
export const RAW_CONTENT_TYPE = 'application/vnd.ipld.raw'
/** Bumped when the listing page changes, so cached listings are not reused (part of its ETag). */
const LISTING_VERSION = '1'

export interface ServeRequest {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  head: boolean
  signal: AbortSignal
}

export interface ServeTarget {
  root: CID
  /** Decoded path segments below the root. */
  path: string[]
  /** The request path ended with '/' (directories are served only at such URLs). */
  trailingSlash: boolean
  /** The content path announced in X-Ipfs-Path; default /ipfs/{root}/{path}. */
  contentPath?: string
  /**
   * Read under another access than the gateway's public one (a share link's scoped reader): no hot-range speculation
   * (the cache serves public reads), and listings link only within the target's content path.
   */
  dag?: DagReader
}

type Format = { kind: 'unixfs' } | { kind: 'raw' } | { kind: 'car' }

/** Picks the response format: ?format= first, then the Accept header (trustless-gateway spec). */
export function negotiateFormat(q: URLSearchParams, accept: string | undefined): Format {
  const f = q.get('format')
  if (f !== null && f !== '') {
    if (f === 'raw') return { kind: 'raw' }
    if (f === 'car') {
      checkCarParams(q.get('car-version') ?? undefined, q.get('car-order') ?? undefined, q.get('car-dups') ?? undefined)
      return { kind: 'car' }
    }
    throw new StratosError('BAD_REQUEST', `format "${f.slice(0, 40)}" is not supported (raw, car)`, {
      format: f.slice(0, 40),
    })
  }
  for (const part of (accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map((x) => x.trim())
    const p = Object.fromEntries(
      params.map((x) => {
        const i = x.indexOf('=')
        return i < 0
          ? [x.toLowerCase(), '']
          : [
              x.slice(0, i).trim().toLowerCase(),
              x
                .slice(i + 1)
                .trim()
                .replace(/^"|"$/g, ''),
            ]
      }),
    )
    if (p.q !== undefined && Number(p.q) === 0) continue
    const t = type.toLowerCase()
    if (t === RAW_CONTENT_TYPE) return { kind: 'raw' }
    if (t === 'application/vnd.ipld.car') {
      checkCarParams(p.version, p.order, p.dups)
      return { kind: 'car' }
    }
  }
  return { kind: 'unixfs' }
}

function checkCarParams(version: string | undefined, order: string | undefined, dups: string | undefined): void {
  if (version !== undefined && version !== '1')
    throw new StratosError('BAD_REQUEST', `CAR version ${version.slice(0, 10)} is not supported (1)`)
  if (order !== undefined && order !== 'dfs' && order !== 'unk')
    throw new StratosError('BAD_REQUEST', `CAR order ${order.slice(0, 10)} is not supported (dfs, unk)`)
  if (dups !== undefined && dups !== 'y' && dups !== 'n')
    throw new StratosError('BAD_REQUEST', `CAR dups must be y or n`)
}

/** dag-scope and entity-bytes of a CAR request; BAD_REQUEST when malformed. */
export function parseCarScope(q: URLSearchParams): {
  scope: 'all' | 'entity' | 'block'
  entityBytes?: { from: number; to: number | '*' }
} {
  const s = q.get('dag-scope')
  if (s !== null && s !== 'all' && s !== 'entity' && s !== 'block')
    throw new StratosError('BAD_REQUEST', 'dag-scope must be all, entity or block')
  const eb = q.get('entity-bytes')
  if (eb === null) return { scope: s ?? 'all' }
  const m = /^(-?\d{1,16}):(-?\d{1,16}|\*)$/.exec(eb)
  if (!m)
    throw new StratosError('BAD_REQUEST', 'entity-bytes must be from:to (integers, negative from the end, to may be *)')
  const from = Number(m[1])
  const to = m[2] === '*' ? '*' : Number(m[2])
  if (to !== '*' && from >= 0 && to >= 0 && to < from)
    throw new StratosError('BAD_REQUEST', 'entity-bytes: to is before from')
  // entity-bytes implies dag-scope=entity.
  return { scope: 'entity', entityBytes: { from, to } }
}

/** True when If-None-Match names `etag` (weak comparison, as RFC 9110 asks for If-None-Match) or is `*`. */
function notModified(req: IncomingMessage, etag: string): boolean {
  const inm = req.headers['if-none-match']
  if (inm === undefined) return false
  const opaque = (t: string): string => t.trim().replace(/^W\//, '')
  return inm.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag))
}

/** Content-Disposition with an ASCII fallback and the RFC 8187 UTF-8 name. */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_')
  const needsStar = ascii !== filename.replace(/["\\]/g, '_') || /["\\]/.test(filename)
  return `${kind}; filename="${ascii}"` + (needsStar ? `; filename*=UTF-8''${encodeURIComponent(filename)}` : '')
}

/** Starts fetching (into the hot-range cache) the piece holding byte `offset` of a stored file; returns at once. */
export type Prefetch = (file: string, offset: number, fileSize: number) => void

export interface PathGatewayComponents {
  dag: () => Promise<DagReader>
  logger: Logger
  /** The hot-range cache's prefetch: lets a request for a file served before fetch its first bytes while the file's record is confirmed. */
  prefetch?: Prefetch
}

export class PathGateway {
  readonly #dag: () => Promise<DagReader>
  readonly #log: Logger
  readonly #prefetch: Prefetch | undefined
  /** CID → sniffed Content-Type (FIFO: insertion-ordered, oldest dropped; a type never changes, so no refresh). */
  readonly #types = new Lru<string, string>({ maxEntries: GATEWAY_TYPE_CACHE_ENTRIES, order: 'fifo' })
  /**
   * Request target (root/path) → the file it resolved to last time (least recently used dropped first). Only a hint
   * of where the first bytes will come from: every request still confirms the records with the meta node. Refreshed
   * when #remember stores it again, not when #speculate reads it (peek).
   */
  readonly #hints = new Lru<string, ResolvedNode>({ maxEntries: GATEWAY_RESOLVE_HINT_ENTRIES })
  /** Body bytes written, in total and per CID (GET /api/v1/stats). */
  readonly stats = new GatewayStats()

  constructor(components: PathGatewayComponents) {
    this.#dag = components.dag
    this.#log = components.logger
    this.#prefetch = components.prefetch
  }

  async serve(r: ServeRequest, t: ServeTarget): Promise<void> {
    const q = r.url.searchParams
    const format = negotiateFormat(q, r.req.headers.accept)
    const dag = t.dag ?? (await this.#dag())
    const trail: CID[] = []
    const hintKey = format.kind === 'unixfs' && t.dag === undefined ? targetKey(t) : undefined
    if (hintKey !== undefined) this.#speculate(r, hintKey)
    // fresh: the records on the path are confirmed with the meta node, so a deleted file stops being served at once
    // (its bytes may still sit in the hot-range cache).
    let node: ResolvedNode
    try {
      node = await dag.resolvePath(t.root, t.path, { signal: r.signal, trail, fresh: true })
    } catch (e) {
      if (hintKey !== undefined) this.#hints.delete(hintKey)
      throw e
    }
    if (hintKey !== undefined && node.content) this.#remember(hintKey, node)
    const contentPath =
      t.contentPath ??
      `/ipfs/${t.root.toString()}${t.path.map((s) => '/' + encodeURIComponent(s)).join('')}${t.trailingSlash && t.path.length > 0 ? '/' : ''}`
    const common: Record<string, string> = {
      'cache-control': IMMUTABLE_CACHE_CONTROL,
      'x-ipfs-path': contentPath,
      'x-ipfs-roots': trail.map((c) => c.toString()).join(','),
      vary: 'Accept',
    }
    if (format.kind === 'raw') return this.#raw(r, dag, t, node, common)
    if (format.kind === 'car') return this.#car(r, dag, t, node, common)
    if (node.kind === 'directory') {
      if (!t.trailingSlash) {
        // Relative links in the page (and in an index.html) resolve against the directory only with the slash.
        r.res.writeHead(301, { ...common, location: `${r.url.pathname}/${r.url.search}` })
        r.res.end()
        return
      }
      let index: ResolvedNode | undefined
      try {
        // From the root (its record is cached by now): a sub-directory is found inside it without asking the meta node.
        index = await dag.resolvePath(t.root, [...t.path, 'index.html'], { signal: r.signal })
      } catch (e) {
        if (!isStratosError(e, 'NOT_FOUND')) throw e
      }
      if (index && index.kind !== 'directory') return this.#file(r, dag, index, 'index.html', common)
      return this.#listing(r, dag, t, node, contentPath, common)
    }
    return this.#file(r, dag, node, node.name, common)
  }

  async #file(
    r: ServeRequest,
    dag: DagReader,
    node: ResolvedNode,
    name: string | undefined,
    common: Record<string, string>,
  ): Promise<void> {
    const { req, res } = r
    const q = r.url.searchParams
    const etag = `"${node.cid.toString()}"`
    const headers: Record<string, string> = { ...common, etag, 'accept-ranges': 'bytes' }
    if (notModified(req, etag)) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    const filename = q.get('filename') ?? undefined
    const download = q.get('download') === 'true'
    if (filename !== undefined || download) {
      headers['content-disposition'] = contentDisposition(
        download ? 'attachment' : 'inline',
        filename ?? name ?? node.cid.toString(),
      )
    }
    // If-Range with another validator: the whole file.
    const ifRange = req.headers['if-range']
    const range = parseRange(ifRange === undefined || ifRange === etag ? req.headers.range : undefined, node.size)
    if (range.kind === 'unsatisfiable') {
      res.setHeader('content-range', `bytes */${node.size}`)
      throw new StratosError(
        'RANGE_NOT_SATISFIABLE',
        `range ${String(req.headers.range).slice(0, 100)} is outside the file's ${node.size} bytes`,
      )
    }
    const start = range.kind === 'partial' ? range.start : 0
    const length = range.kind === 'partial' ? range.end - range.start + 1 : node.size
    // The first piece to send is fetched while the type is sniffed from the file's first bytes (another piece).
    if (!r.head && length > 0 && node.content)
      this.#prefetch?.(node.content.file.toString(), node.content.offset + start, node.content.fileSize)
    headers['content-type'] = typeFromName(filename ?? name) ?? (await this.#sniff(dag, node, r.signal))
    if (range.kind === 'partial') headers['content-range'] = `bytes ${range.start}-${range.end}/${node.size}`
    headers['content-length'] = String(length)
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers)
    if (r.head || length === 0) {
      res.end()
      return
    }
    await this.#stream(r, dag.cat(node, { offset: start, length, signal: r.signal }), node.cid)
  }

  /**
   * For a target that resolved to a file before: starts fetching the first piece this request will send, so that the
   * network read overlaps the meta round trip that confirms the record (a cold range then costs max(confirm, fetch),
   * not their sum). Nothing is sent before the confirmation; a request that will not send bytes (HEAD, a possible 304,
   * an unsatisfiable range) prefetches nothing.
   */
  #speculate(r: ServeRequest, hintKey: string): void {
    const hint = this.#hints.peek(hintKey)
    if (!this.#prefetch || !hint?.content || hint.size === 0 || r.head) return
    this.#hints.delete(hintKey) // LRU: re-inserted by #remember once confirmed
    const { req } = r
    if (req.headers['if-none-match'] !== undefined) return
    const ifRange = req.headers['if-range']
    const range = parseRange(
      ifRange === undefined || ifRange === `"${hint.cid.toString()}"` ? req.headers.range : undefined,
      hint.size,
    )
    if (range.kind === 'unsatisfiable') return
    const start = range.kind === 'partial' ? range.start : 0
    this.#prefetch(hint.content.file.toString(), hint.content.offset + start, hint.content.fileSize)
  }

  #remember(hintKey: string, node: ResolvedNode): void {
    this.#hints.set(hintKey, node)
  }

  async #sniff(dag: DagReader, node: ResolvedNode, signal: AbortSignal): Promise<string> {
    const key = node.cid.toString()
    const known = this.#types.get(key)
    if (known) return known
    const parts: Uint8Array[] = []
    if (node.size > 0)
      for await (const p of dag.cat(node, { offset: 0, length: Math.min(SNIFF_BYTES, node.size), signal }))
        parts.push(Buffer.from(p)) // a copy: the reader reuses a chunk's buffer once the next is asked for
    const type = sniffType(Buffer.concat(parts))
    this.#types.set(key, type)
    return type
  }

  async #listing(
    r: ServeRequest,
    dag: DagReader,
    t: ServeTarget,
    node: ResolvedNode,
    contentPath: string,
    common: Record<string, string>,
  ): Promise<void> {
    const etag = `"DirIndex-${LISTING_VERSION}_CID-${node.cid.toString()}"`
    const headers: Record<string, string> = { ...common, etag, 'content-type': 'text/html; charset=utf-8' }
    if (notModified(r.req, etag)) {
      r.res.writeHead(304, headers)
      r.res.end()
      return
    }
    if (r.head) {
      r.res.writeHead(200, headers)
      r.res.end()
      return
    }
    const entries = await dag.ls(node.cid, { signal: r.signal, limit: GATEWAY_LISTING_MAX_ENTRIES, root: t.root })
    const html = renderListing({
      contentPath,
      cid: node.cid.toString(),
      size: node.size,
      entries,
      hasParent: t.path.length > 0,
      truncated: entries.length >= GATEWAY_LISTING_MAX_ENTRIES,
      linkCids: t.dag === undefined,
    })
    headers['content-length'] = String(Buffer.byteLength(html))
    r.res.writeHead(200, headers)
    r.res.end(html)
  }

  async #raw(
    r: ServeRequest,
    dag: DagReader,
    t: ServeTarget,
    node: ResolvedNode,
    common: Record<string, string>,
  ): Promise<void> {
    const etag = `"${node.cid.toString()}.raw"`
    const headers: Record<string, string> = {
      ...common,
      etag,
      'content-type': RAW_CONTENT_TYPE,
      'x-content-type-options': 'nosniff',
      'accept-ranges': 'bytes',
      'content-disposition': contentDisposition(
        'attachment',
        r.url.searchParams.get('filename') ?? `${node.cid.toString()}.bin`,
      ),
    }
    if (notModified(r.req, etag)) {
      r.res.writeHead(304, headers)
      r.res.end()
      return
    }
    const bytes = await dag.getBlock(node.cid, { root: t.root, signal: r.signal })
    const range = parseRange(r.req.headers.range, bytes.length)
    if (range.kind === 'unsatisfiable') {
      r.res.setHeader('content-range', `bytes */${bytes.length}`)
      throw new StratosError('RANGE_NOT_SATISFIABLE', `range outside the ${bytes.length}-byte block`)
    }
    const body = range.kind === 'partial' ? bytes.subarray(range.start, range.end + 1) : bytes
    if (range.kind === 'partial') headers['content-range'] = `bytes ${range.start}-${range.end}/${bytes.length}`
    headers['content-length'] = String(body.length)
    r.res.writeHead(range.kind === 'partial' ? 206 : 200, headers)
    r.res.end(r.head ? undefined : body)
  }

  async #car(
    r: ServeRequest,
    dag: DagReader,
    t: ServeTarget,
    node: ResolvedNode,
    common: Record<string, string>,
  ): Promise<void> {
    const { scope, entityBytes } = parseCarScope(r.url.searchParams)
    if (entityBytes && node.kind !== 'directory') {
      // Entirely outside the entity (determinable up front): 400, as the trustless-gateway spec asks.
      const from = entityBytes.from < 0 ? Math.max(0, node.size + entityBytes.from) : entityBytes.from
      if (from >= node.size && node.size > 0)
        throw new StratosError('BAD_REQUEST', `entity-bytes start past the ${node.size}-byte entity`)
    }
    const variant = createHash('sha256')
      .update(`${scope}|${entityBytes ? `${entityBytes.from}:${entityBytes.to}` : ''}|dfs|n`)
      .digest('hex')
      .slice(0, 12)
    const etag = `W/"${node.cid.toString()}.car.${variant}"`
    const headers: Record<string, string> = {
      ...common,
      etag,
      'content-type': CAR_CONTENT_TYPE,
      'x-content-type-options': 'nosniff',
      'content-disposition': contentDisposition(
        'attachment',
        r.url.searchParams.get('filename') ?? `${node.cid.toString()}.car`,
      ),
    }
    if (notModified(r.req, etag)) {
      r.res.writeHead(304, headers)
      r.res.end()
      return
    }
    r.res.writeHead(200, headers)
    if (r.head) {
      r.res.end()
      return
    }
    const walk: WalkOptions = { scope, root: t.root, signal: r.signal, ...(entityBytes ? { entityBytes } : {}) }
    const blocks = async function* (): AsyncIterable<Block> {
      yield* dag.pathBlocks(t.root, t.path, { signal: r.signal })
      yield* dag.walk(node.cid, walk)
    }
    await this.#stream(r, carStream([t.root], blocks()), node.cid)
  }

  /**
   * Writes a body, each chunk completely (its write callback: the socket holds no reference to it any more) before the
   * next is asked for — the hot-range cache and the SDK reuse a chunk's buffer once the next one is asked for. A failure
   * after the headers can only cut the connection (the length will not match).
   */
  async #stream(r: ServeRequest, body: AsyncIterable<Uint8Array>, cid: CID): Promise<void> {
    const { res } = r
    const key = cid.toString()
    try {
      for await (const chunk of body) {
        this.stats.add(key, chunk.length)
        if (chunk.length > 0) await writeCompletely(res, chunk)
      }
      res.end()
    } catch (e) {
      if (!r.signal.aborted && !res.destroyed) this.#log.warn({ err: e, cid: cid.toString() }, 'read failed mid-stream')
      res.destroy()
    }
  }
}

/** Writes `data` and resolves once the socket is done with it; rejects (ABORTED) when the connection closes first. */
function writeCompletely(res: ServerResponse, data: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (res.destroyed) return reject(new StratosError('ABORTED', 'client went away'))
    const onClose = (): void => reject(new StratosError('ABORTED', 'client went away'))
    res.once('close', onClose)
    res.write(data, (err) => {
      res.off('close', onClose)
      if (err) reject(new StratosError('ABORTED', 'client went away'))
      else resolve()
    })
  })
}

/** The hint key of a request target: root and decoded path (a trailing slash does not change which file is served). */
function targetKey(t: ServeTarget): string {
  return [t.root.toString(), ...t.path.map(encodeURIComponent)].join('/')
}
