/**
 * DAG reader: the IPFS (UnixFS) view of what the network stores, block by block, without a second copy of the data.
 *
 * What the meta node keeps per record (a file or a directory): its size and layout, and its *inner* DAG blocks
 * (every block with links — file nodes above the leaves, directory nodes, HAMT shards). Leaves are never stored as
 * blocks: a leaf is a byte range of its file, rebuilt on demand from the file's bytes (raw leaves are the bytes;
 * dag-pb leaves add the fixed UnixFS framing, `dagPbLeafFraming`) and its hash checked against the CID before it
 * is handed out. Offsets come from the UnixFS `blocksizes` of the inner nodes. Directories link to their files,
 * which are records of their own; sub-directories and HAMT shards are inner blocks of the directory's record.
 *
 * A block given by CID alone is found through the meta node's block index (GET /v1/blocks/:cid → the records
 * holding it). Records and their inner blocks are cached (DAG_READER_CACHE_BYTES, LRU); every inner block is
 * kept under the sha256 of its own bytes, so a lookup by CID digest can only ever return bytes that hash to it.
 *
 * @example
 * const dag = createDagReader({ client })
 * const node = await dag.resolvePath(root, ['docs', 'index.html'])
 * for await (const bytes of dag.cat(node, { offset: 0, length: 100 })) …
 * for await (const chunk of carStream([root], dag.walk(root))) …
 */
import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { CarWriter } from '@ipld/car/writer'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { StratosError, isStratosError, throwIfAborted } from '../errors.ts'
import { fromBase64Url, toHex } from '../crypto/hash.ts'
import { DAG_LS_CONCURRENCY, DAG_READER_CACHE_BYTES } from '../limits.ts'
import { Lru } from '../util/lru.ts'
import type { StratosClient } from '../sds/client/index.ts'
import { dagPbLeafFraming } from '../sds/client/unixfs.ts'
import type { FileRecordView } from '../sds/protocol/api.ts'

const DAG_PB = 0x70
const RAW = 0x55
const SHA2_256 = 0x12

export type NodeKind = 'file' | 'directory' | 'raw'

export interface ResolvedNode {
  cid: CID
  kind: NodeKind
  /** Files and raw blocks: content bytes. Directories: cumulative DAG size (block plus its links' Tsize). */
  size: number
  /** The last path segment that led here (absent for a root). */
  name?: string
  /** Files and raw blocks: the content is bytes [offset, offset+size) of the stored file `file`. */
  content?: { file: CID; offset: number; fileSize: number }
}

export interface DirectoryListEntry {
  name: string
  cid: CID
  /** Files: content bytes; directories: 0 (as Kubo's `ls`). */
  size: number
  type: NodeKind
}

export interface WalkOptions {
  /** 'all' (default): the whole DAG; 'entity': a file's blocks, or a directory's own nodes (HAMT shards included); 'block': the root block. */
  scope?: 'all' | 'entity' | 'block'
  /** With scope 'entity' on a file: only the blocks needed for bytes from..to (inclusive; negative = from the end). */
  entityBytes?: { from: number; to: number | '*' }
  /** A record known to hold `root` (e.g. the path's root CID): saves a block-index look-up for nodes inside it. */
  root?: CID
  signal?: AbortSignal
}

export interface Block {
  cid: CID
  bytes: Uint8Array
}

export interface DagReader {
  /**
   * With `trail`: filled with the CID of every node on the way, root first, the resolved node last (X-Ipfs-Roots).
   * With `fresh`: every record on the way is confirmed with the meta node (one request each) instead of trusting the
   * cache, so a deleted file stops resolving at once (the gateway does this per request).
   */
  resolvePath(
    root: CID,
    path: string[],
    options?: { signal?: AbortSignal; trail?: CID[]; fresh?: boolean },
  ): Promise<ResolvedNode>
  getBlock(cid: CID, options?: { root?: CID; signal?: AbortSignal }): Promise<Uint8Array>
  walk(root: CID, options?: WalkOptions): AsyncIterable<Block>
  /** With `limit`: only the first `limit` entries (in link order). `root`: a record known to hold `cid` (saves look-ups). */
  ls(cid: CID, options?: { signal?: AbortSignal; limit?: number; root?: CID }): Promise<DirectoryListEntry[]>
  /** The blocks that prove `path` from `root`: every directory node (HAMT shards included) passed through, root first, the terminal node excluded. */
  pathBlocks(root: CID, path: string[], options?: { signal?: AbortSignal }): AsyncIterable<Block>
  /** Content bytes of a resolved file or raw node, [offset, offset+length) of it; each chunk valid until the next is asked for (ContentReader). */
  cat(
    node: ResolvedNode,
    options?: { offset?: number; length?: number; signal?: AbortSignal },
  ): AsyncIterable<Uint8Array>
}

/**
 * Reads bytes [offset, offset+length) of a stored file, verified (StratosClient.cat, or a cache in front of it). A chunk
 * is valid only until the consumer asks for the next one (or ends the iteration): the gateway's cache and the SDK's
 * `reuseBuffers` reads reuse its buffer then, so a consumer that keeps bytes copies them. The same holds for `cat`.
 */
export type ContentReader = (
  file: string,
  options: { offset: number; length: number; fileSize?: number; signal?: AbortSignal },
) => AsyncIterable<Uint8Array>

export interface DagReaderComponents {
  client: StratosClient
  /** Where file bytes come from; default client.cat. The gateway passes its hot-range cache. */
  read?: ContentReader
  /** Default DAG_READER_CACHE_BYTES. */
  cacheBytes?: number
}

export function createDagReader(components: DagReaderComponents): DagReader {
  return new UnixFsDagReader(components)
}

// ---- Internals ---------------------------------------------------------------------------------

interface Span {
  offset: number
  length: number
}

/** A stored record (file or directory) and, once loaded, its inner blocks by sha256 hex. */
interface RecordDag {
  cid: CID
  key: string
  view: Pick<FileRecordView, 'kind' | 'size'>
  blocks?: Map<string, Uint8Array>
  /** Files: where every node of the DAG (inner or leaf) sits in the file, by digest hex. */
  spans?: Map<string, Span>
  cost: number
}

/** A node found in a record. */
interface Located {
  cid: CID
  rec: RecordDag
  /** Inner block bytes (directory nodes, file nodes with links). */
  inner?: Uint8Array
  /** File records: the node's bytes in the file. */
  span?: Span
}

function digestHex(cid: CID): string {
  return toHex(cid.multihash.digest)
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function checkReadable(cid: CID): void {
  if (cid.multihash.code !== SHA2_256 || (cid.code !== DAG_PB && cid.code !== RAW)) {
    throw new StratosError(
      'NOT_FOUND',
      `${cid.toString()}: only dag-pb and raw blocks hashed with sha2-256 are stored here`,
      { cid: cid.toString() },
    )
  }
}

function unixfsOf(bytes: Uint8Array, cid: CID): { node: dagPb.PBNode; fs: UnixFS } {
  try {
    const node = dagPb.decode(bytes)
    if (!node.Data) throw new Error('no Data')
    return { node, fs: UnixFS.unmarshal(node.Data) }
  } catch (e) {
    throw new StratosError(
      'UPSTREAM_ERROR',
      `block ${cid.toString()} is not a UnixFS node`,
      { cid: cid.toString() },
      { cause: e },
    )
  }
}

function isDirectoryType(t: string): boolean {
  return t === 'directory' || t === 'hamt-sharded-directory'
}

/** Length of a HAMT shard's bucket prefix in link names (2 hex digits for fanout 256). */
function hamtPrefixLength(fs: UnixFS): number {
  return (Number(fs.fanout ?? 256n) - 1).toString(16).length
}

const RECORD_BASE_COST = 512

class UnixFsDagReader implements DagReader {
  readonly #client: StratosClient
  readonly #read: ContentReader
  /**
   * Records by approximate byte cost (RecordDag.cost, grown in place as blocks load), least recently used out; the
   * last one left is kept even when over the bound, so one large record can still be read.
   */
  readonly #cache: Lru<string, RecordDag>

  constructor(c: DagReaderComponents) {
    this.#client = c.client
    this.#read = c.read ?? ((file, o) => c.client.cat(file, { offset: o.offset, length: o.length, signal: o.signal }))
    this.#cache = new Lru({ maxBytes: c.cacheBytes ?? DAG_READER_CACHE_BYTES, keepOne: true, cost: (r) => r.cost })
  }

  // ---- records ------------------------------------------------------------------------------

  /** The record of `cid` (FILE_NOT_FOUND when there is none). */
  async #record(cid: CID, signal?: AbortSignal, fresh = false): Promise<RecordDag> {
    const key = cid.toString()
    const hit = this.#cache.get(key)
    if (hit && !fresh) return hit
    let view: FileRecordView
    try {
      view = await this.#client.meta.file(key, { signal })
    } catch (e) {
      if (hit && isStratosError(e, 'FILE_NOT_FOUND')) this.#cache.delete(key)
      throw e
    }
    if (hit && hit.view.kind === view.kind && hit.view.size === view.size) return hit
    const rec: RecordDag = { cid, key, view: { kind: view.kind, size: view.size }, cost: RECORD_BASE_COST }
    this.#cache.set(key, rec)
    return rec
  }

  /** A record grew (its blocks were loaded): counted again if it is still the cached one. */
  #grew(rec: RecordDag, by: number): void {
    rec.cost += by
    if (this.#cache.peek(rec.key) === rec) this.#cache.recost(rec.key)
  }

  async #blocks(rec: RecordDag, signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
    if (rec.blocks) return rec.blocks
    const encoded = await this.#client.meta.fileDag(rec.key, { signal })
    const blocks = new Map<string, Uint8Array>()
    let bytes = 0
    for (const b64 of encoded) {
      const b = fromBase64Url(b64)
      blocks.set(sha256Hex(b), b)
      bytes += b.length + 96
    }
    if (!rec.blocks) {
      rec.blocks = blocks
      this.#grew(rec, bytes)
    }
    return rec.blocks
  }

  /** Files: the span of every DAG node, from the UnixFS blocksizes of the inner nodes. */
  async #spans(rec: RecordDag, signal?: AbortSignal): Promise<Map<string, Span>> {
    if (rec.spans) return rec.spans
    const blocks = await this.#blocks(rec, signal)
    const spans = new Map<string, Span>()
    spans.set(digestHex(rec.cid), { offset: 0, length: rec.view.size })
    const stack: { cid: CID; offset: number }[] = [{ cid: rec.cid, offset: 0 }]
    while (stack.length > 0) {
      const { cid, offset } = stack.pop() as { cid: CID; offset: number }
      const bytes = cid.code === DAG_PB ? blocks.get(digestHex(cid)) : undefined
      if (!bytes) continue // a leaf
      const { node, fs } = unixfsOf(bytes, cid)
      let at = offset + (fs.data?.length ?? 0)
      for (let i = 0; i < node.Links.length; i++) {
        const size = Number(fs.blockSizes[i] ?? 0n)
        const child = node.Links[i].Hash
        const d = digestHex(child)
        if (!spans.has(d)) {
          spans.set(d, { offset: at, length: size })
          stack.push({ cid: child, offset: at })
        }
        at += size
      }
    }
    rec.spans = spans
    this.#grew(rec, spans.size * 96)
    return spans
  }

  /** Finds `cid` inside `rec`, or undefined when that record's DAG does not hold it. */
  async #within(rec: RecordDag, cid: CID, signal?: AbortSignal): Promise<Located | undefined> {
    const d = digestHex(cid)
    if (rec.view.kind === 'directory') {
      const inner = (await this.#blocks(rec, signal)).get(d)
      return inner && cid.code === DAG_PB ? { cid, rec, inner } : undefined
    }
    if (cid.equals(rec.cid)) return { cid, rec, span: { offset: 0, length: rec.view.size } }
    const span = (await this.#spans(rec, signal)).get(d)
    if (!span) return undefined
    const inner = cid.code === DAG_PB ? rec.blocks?.get(d) : undefined
    return { cid, rec, span, ...(inner ? { inner } : {}) }
  }

  /** Finds `cid`: in `hint` first, then as a record of its own, then through the meta node's block index. */
  async #locate(cid: CID, hint: RecordDag | undefined, signal?: AbortSignal, fresh = false): Promise<Located> {
    checkReadable(cid)
    if (hint) {
      const l = await this.#within(hint, cid, signal)
      if (l) return l
    }
    try {
      return await this.#asRecord(await this.#record(cid, signal, fresh), signal)
    } catch (e) {
      if (!isStratosError(e, 'FILE_NOT_FOUND')) throw e
    }
    let holders: string[]
    try {
      holders = await this.#client.meta.blockHolders(cid.toString(), { signal })
    } catch (e) {
      if (isStratosError(e, 'FILE_NOT_FOUND'))
        throw new StratosError('FILE_NOT_FOUND', `no stored DAG holds ${cid.toString()}`, { cid: cid.toString() })
      throw e
    }
    for (const h of holders) {
      let rec: RecordDag
      try {
        rec = await this.#record(CID.parse(h), signal, fresh)
      } catch (e) {
        if (isStratosError(e, 'FILE_NOT_FOUND')) continue // deleted meanwhile
        throw e
      }
      const l = await this.#within(rec, cid, signal)
      if (l) return l
    }
    throw new StratosError('FILE_NOT_FOUND', `no stored DAG holds ${cid.toString()}`, { cid: cid.toString() })
  }

  async #asRecord(rec: RecordDag, signal?: AbortSignal): Promise<Located> {
    if (rec.view.kind === 'file') return { cid: rec.cid, rec, span: { offset: 0, length: rec.view.size } }
    const inner = (await this.#blocks(rec, signal)).get(digestHex(rec.cid))
    if (!inner) throw new StratosError('UPSTREAM_ERROR', `directory ${rec.key} has no root block`, { cid: rec.key })
    return { cid: rec.cid, rec, inner }
  }

  #resolved(l: Located, name?: string): ResolvedNode {
    const withName = name !== undefined ? { name } : {}
    if (l.rec.view.kind === 'file') {
      const span = l.span as Span
      return {
        cid: l.cid,
        kind: l.cid.code === RAW ? 'raw' : 'file',
        size: span.length,
        ...withName,
        content: { file: l.rec.cid, offset: span.offset, fileSize: l.rec.view.size },
      }
    }
    const { node } = unixfsOf(l.inner as Uint8Array, l.cid)
    const size = (l.inner as Uint8Array).length + node.Links.reduce((a, x) => a + (x.Tsize ?? 0), 0)
    return { cid: l.cid, kind: 'directory', size, ...withName }
  }

  /** A directory node's entries: name → child CID (HAMT shards followed, in link order), plus the shard blocks seen. */
  async #entries(
    l: Located,
    signal?: AbortSignal,
  ): Promise<{ entries: { name: string; cid: CID; tsize: number }[]; nodes: Block[] }> {
    const blocks = await this.#blocks(l.rec, signal)
    const entries: { name: string; cid: CID; tsize: number }[] = []
    const nodes: Block[] = []
    const visit = (cid: CID, bytes: Uint8Array): void => {
      nodes.push({ cid, bytes })
      const { node, fs } = unixfsOf(bytes, cid)
      if (fs.type === 'directory') {
        for (const x of node.Links) entries.push({ name: x.Name ?? '', cid: x.Hash, tsize: x.Tsize ?? 0 })
        return
      }
      if (fs.type !== 'hamt-sharded-directory')
        throw new StratosError('BAD_REQUEST', `${cid.toString()} is not a directory`)
      const p = hamtPrefixLength(fs)
      for (const x of node.Links) {
        const name = x.Name ?? ''
        if (name.length === p) {
          const shard = blocks.get(digestHex(x.Hash))
          if (!shard) throw new StratosError('UPSTREAM_ERROR', `HAMT shard ${x.Hash.toString()} is missing`)
          visit(x.Hash, shard)
        } else {
          entries.push({ name: name.slice(p), cid: x.Hash, tsize: x.Tsize ?? 0 })
        }
      }
    }
    visit(l.cid, l.inner as Uint8Array)
    return { entries, nodes }
  }

  async #isDirectory(l: Located): Promise<boolean> {
    if (l.rec.view.kind !== 'directory' || !l.inner) return false
    return isDirectoryType(unixfsOf(l.inner, l.cid).fs.type)
  }

  // ---- public API ----------------------------------------------------------------------------

  async resolvePath(
    root: CID,
    path: string[],
    options: { signal?: AbortSignal; trail?: CID[]; fresh?: boolean } = {},
  ): Promise<ResolvedNode> {
    const { located, name } = await this.#resolve(root, path, undefined, options.signal, options.trail, options.fresh)
    return this.#resolved(located, name)
  }

  async #resolve(
    root: CID,
    path: string[],
    proof: Block[] | undefined,
    signal?: AbortSignal,
    trail?: CID[],
    fresh = false,
  ): Promise<{ located: Located; name?: string }> {
    let l = await this.#locate(root, undefined, signal, fresh)
    trail?.push(l.cid)
    let name: string | undefined
    for (const segment of path) {
      throwIfAborted(signal)
      if (!(await this.#isDirectory(l)))
        throw new StratosError('NOT_FOUND', `${l.cid.toString()} is a file; it has no entry "${segment}"`, {
          cid: l.cid.toString(),
          name: segment,
        })
      const { entries, nodes } = await this.#entries(l, signal)
      proof?.push(...nodes)
      const e = entries.find((x) => x.name === segment)
      if (!e)
        throw new StratosError('NOT_FOUND', `no entry "${segment}" in ${l.cid.toString()}`, {
          cid: l.cid.toString(),
          name: segment,
        })
      l = await this.#locate(e.cid, l.rec, signal, fresh)
      trail?.push(l.cid)
      name = segment
    }
    return { located: l, ...(name !== undefined ? { name } : {}) }
  }

  async *pathBlocks(root: CID, path: string[], options: { signal?: AbortSignal } = {}): AsyncIterable<Block> {
    const proof: Block[] = []
    await this.#resolve(root, path, proof, options.signal)
    yield* proof
  }

  async getBlock(cid: CID, options: { root?: CID; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const hint = options.root
      ? await this.#locate(options.root, undefined, options.signal).then(
          (l) => l.rec,
          () => undefined,
        )
      : undefined
    return this.#blockBytes(await this.#locate(cid, hint, options.signal), options.signal)
  }

  async #blockBytes(l: Located, signal?: AbortSignal): Promise<Uint8Array> {
    if (l.rec.view.kind === 'file' && !l.inner && l.cid.code === DAG_PB) {
      // The record's root may be an inner node whose blocks are not loaded yet.
      const inner = (await this.#blocks(l.rec, signal)).get(digestHex(l.cid))
      if (inner) return inner
    }
    if (l.inner) return l.inner
    const span = l.span as Span
    const data = await this.#readAll(l.rec, span.offset, span.length, signal)
    return this.#leafBlock(l.cid, data)
  }

  /** Frames leaf bytes as the block `cid` names and checks the hash (HASH_MISMATCH when the bytes are not that leaf). */
  #leafBlock(cid: CID, data: Uint8Array): Uint8Array {
    let block: Uint8Array
    if (cid.code === RAW) block = data
    else {
      const { prefix, suffix } = dagPbLeafFraming(data.length)
      block = new Uint8Array(prefix.length + data.length + suffix.length)
      block.set(prefix, 0)
      block.set(data, prefix.length)
      block.set(suffix, prefix.length + data.length)
    }
    if (sha256Hex(block) !== digestHex(cid)) {
      throw new StratosError('HASH_MISMATCH', `rebuilt block does not hash to ${cid.toString()}`, {
        cid: cid.toString(),
      })
    }
    return block
  }

  async #readAll(rec: RecordDag, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length)
    if (length === 0) return out
    let at = 0
    for await (const piece of this.#read(rec.key, { offset, length, fileSize: rec.view.size, signal })) {
      if (at + piece.length > length)
        throw new StratosError('UPSTREAM_ERROR', 'file read returned more bytes than asked')
      out.set(piece, at)
      at += piece.length
    }
    if (at !== length) throw new StratosError('UPSTREAM_ERROR', `file read returned ${at} of ${length} bytes`)
    return out
  }

  async *cat(
    node: ResolvedNode,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<Uint8Array> {
    if (!node.content) throw new StratosError('BAD_REQUEST', `${node.cid.toString()} is a directory`)
    const offset = options.offset ?? 0
    const length = options.length ?? node.size - offset
    if (offset < 0 || length < 0 || offset + length > node.size) {
      throw new StratosError(
        'RANGE_NOT_SATISFIABLE',
        `bytes [${offset}, ${offset + length}) are outside the ${node.size}-byte content`,
      )
    }
    if (length === 0) return
    yield* this.#read(node.content.file.toString(), {
      offset: node.content.offset + offset,
      length,
      fileSize: node.content.fileSize,
      signal: options.signal,
    })
  }

  async ls(
    cid: CID,
    options: { signal?: AbortSignal; limit?: number; root?: CID } = {},
  ): Promise<DirectoryListEntry[]> {
    const { signal } = options
    const hint = options.root
      ? await this.#locate(options.root, undefined, signal).then(
          (x) => x.rec,
          () => undefined,
        )
      : undefined
    const l = await this.#locate(cid, hint, signal)
    if (!(await this.#isDirectory(l))) {
      // A file: its chunks, unnamed (as Kubo lists a file's links).
      if (!l.inner && l.cid.code === DAG_PB && l.rec.view.kind === 'file') {
        const inner = (await this.#blocks(l.rec, signal)).get(digestHex(l.cid))
        if (inner) l.inner = inner
      }
      if (!l.inner) return []
      const spans = await this.#spans(l.rec, signal)
      return dagPb.decode(l.inner).Links.map((x) => ({
        name: x.Name ?? '',
        cid: x.Hash,
        size: spans.get(digestHex(x.Hash))?.length ?? 0,
        type: x.Hash.code === RAW ? ('raw' as const) : ('file' as const),
      }))
    }
    const all = (await this.#entries(l, signal)).entries
    const entries = options.limit !== undefined ? all.slice(0, options.limit) : all
    const out: DirectoryListEntry[] = new Array(entries.length)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        const i = next++
        const e = entries[i]
        const child = await this.#locate(e.cid, l.rec, signal)
        const dir = await this.#isDirectory(child)
        out[i] = {
          name: e.name,
          cid: e.cid,
          size: dir ? 0 : (child.span?.length ?? 0),
          type: dir ? 'directory' : e.cid.code === RAW ? 'raw' : 'file',
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(DAG_LS_CONCURRENCY, entries.length) }, worker))
    return out
  }

  async *walk(root: CID, options: WalkOptions = {}): AsyncIterable<Block> {
    const { signal } = options
    const scope = options.scope ?? 'all'
    const seen = new Set<string>()
    const hint = options.root
      ? await this.#locate(options.root, undefined, signal).then(
          (x) => x.rec,
          () => undefined,
        )
      : undefined
    const l = await this.#locate(root, hint, signal)
    if (scope === 'block') {
      yield { cid: l.cid, bytes: await this.#blockBytes(l, signal) }
      return
    }
    yield* this.#walkNode(l, scope, options.entityBytes, seen, signal)
  }

  async *#walkNode(
    l: Located,
    scope: 'all' | 'entity',
    entityBytes: WalkOptions['entityBytes'],
    seen: Set<string>,
    signal?: AbortSignal,
  ): AsyncIterable<Block> {
    throwIfAborted(signal)
    if (l.rec.view.kind === 'file') {
      yield* this.#walkFile(l, scope === 'entity' ? entityBytes : undefined, seen, signal)
      return
    }
    const { entries, nodes } = await this.#entries(l, signal)
    for (const n of nodes) {
      const key = n.cid.toString()
      if (seen.has(key)) continue
      seen.add(key)
      yield n
    }
    if (scope === 'entity') return
    for (const e of entries) {
      if (seen.has(e.cid.toString())) continue
      yield* this.#walkNode(await this.#locate(e.cid, l.rec, signal), 'all', undefined, seen, signal)
    }
  }

  /** A file node's blocks in DFS pre-order (the order a verifier reads them), leaves rebuilt from one sequential read. */
  async *#walkFile(
    l: Located,
    range: WalkOptions['entityBytes'],
    seen: Set<string>,
    signal?: AbortSignal,
  ): AsyncIterable<Block> {
    const span = l.span as Span
    // The wanted bytes [a, b) relative to the node.
    let a = 0
    let b = span.length
    if (range) {
      a = range.from < 0 ? Math.max(0, span.length + range.from) : Math.min(range.from, span.length)
      const to = range.to === '*' ? span.length - 1 : range.to < 0 ? span.length + range.to : range.to
      b = Math.min(span.length, to + 1)
      if (b < a) b = a
    }
    const blocks = l.cid.code === DAG_PB ? await this.#blocks(l.rec, signal) : undefined
    // Plan in two passes over the in-memory inner nodes: first the leaves' extent (one read covers them), then yield.
    type Step = { cid: CID; inner?: Uint8Array; span: Span }
    const lo = span.offset + a
    const hi = span.offset + b
    // Positions come from the parents' blocksizes as we descend (spans by digest are not positional when identical
    // subtrees repeat, as in a file of zeros).
    const positioned = function* (): Generator<Step> {
      const stack: Step[] = [{ cid: l.cid, span, ...(l.inner ? { inner: l.inner } : {}) }]
      while (stack.length > 0) {
        const s = stack.pop() as Step
        const inner = s.inner ?? (s.cid.code === DAG_PB ? blocks?.get(digestHex(s.cid)) : undefined)
        yield { ...s, ...(inner ? { inner } : {}) }
        if (!inner) continue
        const { node, fs } = unixfsOf(inner, s.cid)
        let at = s.span.offset + (fs.data?.length ?? 0)
        const kids: Step[] = []
        for (let i = 0; i < node.Links.length; i++) {
          const size = Number(fs.blockSizes[i] ?? 0n)
          const cs = { offset: at, length: size }
          at += size
          // Keep children that overlap the wanted bytes (an empty range keeps none).
          if (cs.offset < hi && cs.offset + cs.length > lo) kids.push({ cid: node.Links[i].Hash, span: cs })
        }
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i])
      }
    }
    let first = Infinity
    let last = -Infinity
    for (const s of positioned()) {
      if (s.inner) continue
      first = Math.min(first, s.span.offset)
      last = Math.max(last, s.span.offset + s.span.length)
    }
    const cursor =
      first < last
        ? new SequentialReader(
            this.#read(l.rec.key, { offset: first, length: last - first, fileSize: l.rec.view.size, signal }),
            first,
          )
        : undefined
    try {
      for (const s of positioned()) {
        throwIfAborted(signal)
        const key = s.cid.toString()
        if (s.inner) {
          if (seen.has(key)) continue
          seen.add(key)
          yield { cid: s.cid, bytes: s.inner }
          continue
        }
        // A leaf: its bytes are the next ones of the read (skipped when already sent).
        if (s.span.length > 0 && !cursor) throw new StratosError('INTERNAL', 'leaf outside the planned read')
        const data =
          s.span.length > 0 ? await (cursor as SequentialReader).read(s.span.offset, s.span.length) : new Uint8Array(0)
        if (seen.has(key)) continue
        seen.add(key)
        yield { cid: s.cid, bytes: this.#leafBlock(s.cid, data) }
      }
    } finally {
      await cursor?.close()
    }
  }
}

/** Hands out consecutive byte ranges of one stream (ranges only move forward; gaps are skipped). */
class SequentialReader {
  readonly #it: AsyncIterator<Uint8Array>
  #pos: number
  #buf: Uint8Array = new Uint8Array(0)

  constructor(source: AsyncIterable<Uint8Array>, start: number) {
    this.#it = source[Symbol.asyncIterator]()
    this.#pos = start
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.#pos) throw new StratosError('INTERNAL', 'sequential read went backwards')
    await this.#skip(offset - this.#pos)
    const out = new Uint8Array(length)
    let at = 0
    while (at < length) {
      if (this.#buf.length === 0) await this.#fill()
      const take = Math.min(length - at, this.#buf.length)
      out.set(this.#buf.subarray(0, take), at)
      this.#buf = this.#buf.subarray(take)
      at += take
    }
    this.#pos += length
    return out
  }

  async #skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.#buf.length === 0) await this.#fill()
      const take = Math.min(n, this.#buf.length)
      this.#buf = this.#buf.subarray(take)
      n -= take
      this.#pos += take
    }
  }

  async #fill(): Promise<void> {
    const r = await this.#it.next()
    if (r.done) throw new StratosError('UPSTREAM_ERROR', 'file read ended early')
    this.#buf = r.value
  }

  async close(): Promise<void> {
    await this.#it.return?.()
  }
}

// ---- CAR ---------------------------------------------------------------------------------------

function varintBytes(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** The CARv1 header for `roots`, encoded by @ipld/car. */
async function carHeader(roots: CID[]): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create(roots)
  const closing = writer.close()
  const parts: Uint8Array[] = []
  for await (const p of out) parts.push(p)
  await closing
  return Buffer.concat(parts)
}

/**
 * A CARv1 stream: the @ipld/car header, then each block as varint(length) ‖ CID ‖ bytes — the CARv1 framing,
 * written here so the blocks stream with the consumer's backpressure (and stop when it stops).
 */
export async function* carStream(roots: CID[], blocks: AsyncIterable<Block>): AsyncIterable<Uint8Array> {
  yield await carHeader(roots)
  for await (const { cid, bytes } of blocks) {
    const head = varintBytes(cid.bytes.length + bytes.length)
    const frame = new Uint8Array(head.length + cid.bytes.length)
    frame.set(head, 0)
    frame.set(cid.bytes, head.length)
    yield frame
    yield bytes
  }
}
