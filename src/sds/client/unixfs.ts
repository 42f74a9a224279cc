/**
 * Kubo-compatible UnixFS CIDs, computed in the same pass that cuts a file into segments.
 *
 * Files: `ipfs add` defaults — CIDv0, dag-pb leaves of UnixFS type `file`, fixed 256 KiB chunks,
 * balanced layout with 174 links per node, a single-chunk file reduces to its leaf. `cidVersion: 1`
 * turns raw leaves on (as Kubo does); `rawLeaves` overrides. ipfs-unixfs-importer builds the DAG, with
 * every option set explicitly because its own defaults (CIDv1, raw leaves, 1 MiB profile…) are not Kubo's.
 *
 * Two things are ours, for speed and memory:
 *  - the chunker is a pass-through: the uploader already hands us 256 KiB views of its segment buffers
 *    (`push` re-chunks only when a caller's pieces are not aligned);
 *  - the buffer importer hashes each leaf *without* building its block: a dag-pb leaf is
 *    `pb-header ‖ unixfs-header ‖ data ‖ unixfs-filesize`, so sha256 is fed the three parts in turn and
 *    the 256 KiB of data is never copied. Leaves are never stored — the file's bytes live in shards —
 *    so only inner blocks (those with links, root included) reach the blockstore and are kept.
 *
 * Directories: UnixFS directories exactly as `ipfs add -r` builds them (links sorted by name, Tsize =
 * cumulative DAG size), switched to a HAMT (fanout 256, murmur3) when the links-bytes estimate exceeds
 * Kubo's 256 KiB threshold — the importer's tree builder does both, fed with already-uploaded entries.
 */
import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import {
  importer,
  type ImporterOptions,
  type InProgressImportResult,
  type BufferImporterResult,
  type File as ImporterFile,
} from 'ipfs-unixfs-importer'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { StratosError } from '../../errors.ts'
import {
  UNIXFS_CHUNK_BYTES,
  UNIXFS_MAX_CHUNK_BYTES,
  UNIXFS_MAX_LINKS,
  UNIXFS_HAMT_THRESHOLD_BYTES,
} from '../../limits.ts'

export interface CidOptions {
  /** 0 (Kubo default) or 1. */
  cidVersion?: 0 | 1
  /** Raw leaves; defaults to `cidVersion === 1` like Kubo. */
  rawLeaves?: boolean
  /** Fixed chunk size (Kubo's `--chunker=size-N`); default UNIXFS_CHUNK_BYTES (Kubo's default), at most UNIXFS_MAX_CHUNK_BYTES. */
  chunkBytes?: number
}

export interface ResolvedCidOptions {
  cidVersion: 0 | 1
  rawLeaves: boolean
  chunkBytes: number
}

export function resolveCidOptions(o: CidOptions = {}): ResolvedCidOptions {
  const cidVersion = o.cidVersion ?? 0
  if (cidVersion !== 0 && cidVersion !== 1)
    throw new StratosError('BAD_REQUEST', `cidVersion must be 0 or 1, got ${String(cidVersion)}`)
  const chunkBytes = o.chunkBytes ?? UNIXFS_CHUNK_BYTES
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes > UNIXFS_MAX_CHUNK_BYTES) {
    throw new StratosError(
      'BAD_REQUEST',
      `chunk size must be 1…${UNIXFS_MAX_CHUNK_BYTES} bytes, got ${String(chunkBytes)}`,
    )
  }
  return { cidVersion, rawLeaves: o.rawLeaves ?? cidVersion === 1, chunkBytes }
}

/** A block of the DAG that cannot be rebuilt from file bytes (inner file nodes, directory nodes). */
export interface DagBlock {
  cid: CID
  bytes: Uint8Array
}

export interface FileDagResult {
  cid: CID
  /** Bytes of file content. */
  size: number
  /** Cumulative DAG size (sum of all block sizes): the Tsize a directory link to this file carries. */
  dagSize: number
  /** Inner blocks in the order they were built (children before parents, root last); empty for a one-chunk file. */
  blocks: DagBlock[]
}

// Every importer option spelled out: the importer's defaults are not Kubo's.
function importerOptions(o: ResolvedCidOptions): ImporterOptions {
  return {
    cidVersion: o.cidVersion,
    rawLeaves: o.rawLeaves,
    leafType: 'file',
    reduceSingleLeafToSelf: true,
    layout: balanced({ maxChildrenPerNode: UNIXFS_MAX_LINKS }),
    shardSplitThresholdBytes: UNIXFS_HAMT_THRESHOLD_BYTES,
    shardSplitStrategy: 'links-bytes',
    shardFanoutBits: 8,
    fieldOrder: 'links-first',
    wrapWithDirectory: false,
    fileImportConcurrency: 1,
    blockWriteConcurrency: 16,
  }
}

/** Keeps every block it is given; only inner nodes are ever put (leaves are hashed, not stored). */
class InnerBlockStore {
  readonly blocks: DagBlock[] = []
  put(cid: CID, bytes: Uint8Array): CID {
    this.blocks.push({ cid, bytes })
    return cid
  }
}

// ---- dag-pb leaf hashing without building the block ----------------------------------------------

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/**
 * The bytes around a leaf's data in `dagPb.encode({ Data: UnixFS{type:file, data}.marshal(), Links: [] })`:
 * PBNode.Data (field 1) wrapping UnixFS { Type=File (field 1), Data (field 2, omitted when empty), filesize (field 3) }.
 */
export function dagPbLeafFraming(n: number): { prefix: Uint8Array; suffix: Uint8Array } {
  const inner = n > 0 ? [0x08, 0x02, 0x12, ...varint(n)] : [0x08, 0x02]
  const suffix = [0x18, ...varint(n)]
  const unixfsLength = inner.length + n + suffix.length
  return { prefix: Uint8Array.from([0x0a, ...varint(unixfsLength), ...inner]), suffix: Uint8Array.from(suffix) }
}

// Every leaf but a file's last one is a full chunk: frame it once.
const FULL_CHUNK_FRAMING = dagPbLeafFraming(UNIXFS_CHUNK_BYTES)
function framing(n: number): { prefix: Uint8Array; suffix: Uint8Array } {
  return n === UNIXFS_CHUNK_BYTES ? FULL_CHUNK_FRAMING : dagPbLeafFraming(n)
}

function sha256Cid(version: 0 | 1, code: number, digest: Uint8Array): CID {
  const mh = createDigest(sha256Hasher.code, digest)
  return version === 0 ? CID.createV0(mh as Parameters<typeof CID.createV0>[0]) : CID.createV1(code, mh)
}

/** sha256 (hex) over the concatenated DAG block bytes: binds the blocks to a signed upload commit. */
export function dagDigest(blocks: Uint8Array[]): string {
  const h = createHash('sha256')
  for (const b of blocks) h.update(b)
  return h.digest('hex')
}

/** Hashes one leaf (dag-pb or raw) as the importer's default buffer importer would, without copying its data. */
function leafResult(chunk: Uint8Array, o: ResolvedCidOptions): BufferImporterResult {
  if (o.rawLeaves) {
    const d = createHash('sha256').update(chunk).digest()
    return { cid: sha256Cid(1, raw.code, d), size: BigInt(chunk.length), block: chunk }
  }
  const { prefix, suffix } = framing(chunk.length)
  const d = createHash('sha256').update(prefix).update(chunk).update(suffix).digest()
  return {
    cid: sha256Cid(o.cidVersion, dagPb.code, d),
    size: BigInt(prefix.length + chunk.length + suffix.length),
    // Only its length is read again (blocksizes of the parent); `block` is never used for leaves
    // because nothing sets mtime/mode, so no block bytes are needed.
    unixfs: new UnixFS({ type: 'file', data: chunk }),
    block: chunk,
  }
}

// ---- Streaming file builder ------------------------------------------------------------------------

/**
 * Computes a file's CID from its bytes pushed in order.
 *
 * @example
 * const b = new UnixFsFileBuilder({ cidVersion: 0 })
 * for (const view of chunksOf(segment)) await b.push(view)   // view may be reused once push resolves
 * const { cid, blocks } = await b.finish()
 */
export class UnixFsFileBuilder {
  readonly options: ResolvedCidOptions
  readonly #store = new InnerBlockStore()
  /** The importer's run, started at the second chunk: a one-chunk file is its leaf, hashed without it. */
  #result: Promise<{ cid: CID; dagSize: number }> | undefined
  /** The first chunk's leaf, hashed as it was handed (before the importer runs, if it ever does). */
  #first: BufferImporterResult | undefined
  // Single-slot hand-over to the importer's pull loop; `#hashed` counts leaves already hashed.
  #slot: Uint8Array | null = null
  #closed = false
  #failed: unknown = null
  #handed = 0
  #hashed = 0
  #wakePuller: (() => void) | null = null
  #wakePusher: (() => void) | null = null
  // Re-chunking of unaligned input (copies only then, into a buffer allocated then: a small file's upload, which
  // hands its bytes whole and marks them last, never needs one).
  #carry: Uint8Array | undefined
  #carryLength = 0
  #size = 0
  /** The last bytes were pushed (push's `last`): no push may follow. */
  #ended = false

  constructor(options: CidOptions = {}) {
    this.options = resolveCidOptions(options)
  }

  /** Starts the importer on a file of two or more chunks; its first leaf is `#first`, already hashed. */
  #start(): void {
    const o = this.options
    const first = this.#first
    // The first chunk was hashed already: the importer pulls a stand-in for it, then the chunks handed from now on.
    let standIn: Uint8Array | null = new Uint8Array(0)
    const source: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          if (standIn === null) return this.#pull()
          const value = standIn
          standIn = null
          return { done: false, value }
        },
      }),
    }
    const onHashed = (): void => {
      this.#hashed++
      this.#wakePusher?.()
    }
    const opts: ImporterOptions = {
      ...importerOptions(o),
      chunker: (s) => s,
      chunkValidator: (s) => s,
      // Hash in the generator body: a leaf is done (and its memory reusable) as soon as the importer
      // pulls it; parallelBatch then only collects finished results.
      bufferImporter: async function* (file: ImporterFile) {
        let n = 0
        for await (const chunk of file.content) {
          let r: BufferImporterResult
          if (n++ === 0 && first) r = first
          else {
            r = leafResult(chunk, o)
            onHashed()
          }
          yield async () => r
        }
      },
    }
    this.#result = (async () => {
      let last: { cid: CID; size: bigint } | undefined
      for await (const entry of importer([{ content: source }], this.#store, opts)) last = entry
      if (!last) throw new StratosError('INTERNAL', 'importer produced no root')
      return { cid: last.cid, dagSize: Number(last.size) }
    })()
    this.#result.catch((e: unknown) => {
      this.#failed ??= e
      this.#wakePusher?.()
    })
  }

  async #pull(): Promise<IteratorResult<Uint8Array>> {
    while (this.#slot === null && !this.#closed)
      await new Promise<void>((r) => {
        this.#wakePuller = r
      })
    this.#wakePuller = null
    if (this.#slot === null) return { done: true, value: undefined }
    const chunk = this.#slot
    this.#slot = null
    return { done: false, value: chunk }
  }

  /** Bytes pushed so far. */
  get size(): number {
    return this.#size
  }

  /**
   * Adds file bytes. Resolves when they have been hashed; the caller may then reuse `data`'s memory.
   * Aligned chunk-size views pass through without a copy. `last`: these are the file's last bytes (nothing may be
   * pushed after them), so a tail shorter than a chunk is hashed where it is too, instead of copied aside until finish.
   */
  async push(data: Uint8Array, last = false): Promise<void> {
    if (this.#closed || this.#ended) throw new StratosError('INTERNAL', 'push after finish or after the last bytes')
    if (last) this.#ended = true
    this.#size += data.length
    const chunk = this.options.chunkBytes
    let off = 0
    if (this.#carryLength === 0) {
      while (data.length - off >= chunk) {
        await this.#hand(data.subarray(off, off + chunk))
        off += chunk
      }
      if (last && off < data.length) {
        await this.#hand(data.subarray(off))
        return
      }
    }
    while (off < data.length) {
      const take = Math.min(chunk - this.#carryLength, data.length - off)
      this.#carry ??= new Uint8Array(chunk)
      this.#carry.set(data.subarray(off, off + take), this.#carryLength)
      this.#carryLength += take
      off += take
      if (this.#carryLength === chunk) {
        await this.#hand(this.#carry)
        this.#carryLength = 0
      }
    }
  }

  /** Hands one chunk to the importer and waits until it has been hashed. */
  async #hand(chunk: Uint8Array): Promise<void> {
    if (this.#failed) throw this.#failed
    if (this.#handed === 0) {
      this.#first = leafResult(chunk, this.options)
      this.#handed = this.#hashed = 1
      return
    }
    if (this.#result === undefined) this.#start()
    const seq = ++this.#handed
    this.#slot = chunk
    this.#wakePuller?.()
    while (this.#hashed < seq && !this.#failed)
      await new Promise<void>((r) => {
        this.#wakePusher = r
      })
    this.#wakePusher = null
    if (this.#failed) throw this.#failed
  }

  /** Ends the file and returns its CID, content size, cumulative DAG size and inner blocks. */
  async finish(): Promise<FileDagResult> {
    if (this.#carryLength > 0 || this.#handed === 0) {
      // The tail, or the single empty chunk of an empty file (Kubo's chunker emits one too).
      await this.#hand(this.#carry ? this.#carry.subarray(0, this.#carryLength) : new Uint8Array(0))
      this.#carryLength = 0
    }
    this.#closed = true
    this.#wakePuller?.()
    if (this.#result === undefined) {
      // One chunk: the file is its leaf (reduceSingleLeafToSelf), as the importer would answer.
      const leaf = this.#first!
      return { cid: leaf.cid, size: this.#size, dagSize: Number(leaf.size), blocks: [] }
    }
    const { cid, dagSize } = await this.#result
    return { cid, size: this.#size, dagSize, blocks: this.#store.blocks }
  }

  /** Stops the importer (the builder is unusable afterwards). */
  abort(reason: unknown = new StratosError('ABORTED', 'operation aborted')): void {
    this.#failed ??= reason
    this.#closed = true
    this.#slot = null
    this.#wakePuller?.()
    this.#wakePusher?.()
  }
}

/** CID of bytes given whole or as a stream (tests, small callers). */
export async function fileCid(
  content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: CidOptions = {},
): Promise<FileDagResult> {
  const b = new UnixFsFileBuilder(options)
  if (content instanceof Uint8Array) await b.push(content)
  else for await (const piece of content) await b.push(piece)
  return b.finish()
}

// ---- Directories -----------------------------------------------------------------------------------

export interface DirectoryEntry {
  /** Path relative to the directory root, '/'-separated, no '.'/'..' parts. */
  path: string
  cid: CID
  /** Cumulative DAG size of the entry (FileDagResult.dagSize). */
  dagSize: number
}

export interface DirectoryDagResult {
  cid: CID
  dagSize: number
  /** Every directory node (root last), including empty ones and HAMT shards. */
  blocks: DagBlock[]
}

/**
 * Builds the UnixFS directory DAG over already-imported files (and empty sub-directories), as
 * `ipfs add -r` would: the importer's tree builder does the layout and HAMT switch; our dag builder
 * feeds it the existing entries instead of re-importing their bytes.
 */
export async function buildDirectory(
  entries: DirectoryEntry[],
  emptyDirectories: string[] = [],
  options: CidOptions = {},
): Promise<DirectoryDagResult> {
  const o = resolveCidOptions(options)
  const store = new InnerBlockStore()
  for (const p of [...entries.map((e) => e.path), ...emptyDirectories]) checkRelativePath(p)
  const emptyDir = new UnixFS({ type: 'directory' })
  const emptyDirBlock = dagPb.encode(dagPb.prepare({ Data: emptyDir.marshal() }))
  const emptyDirCid =
    o.cidVersion === 0
      ? CID.createV0((await sha256Hasher.digest(emptyDirBlock)) as Parameters<typeof CID.createV0>[0])
      : CID.createV1(dagPb.code, await sha256Hasher.digest(emptyDirBlock))
  const results: InProgressImportResult[] = [
    ...entries.map((e) => ({ cid: e.cid, size: BigInt(e.dagSize), path: e.path, originalPath: e.path })),
    ...emptyDirectories.map((p) => {
      store.put(emptyDirCid, emptyDirBlock)
      return { cid: emptyDirCid, size: BigInt(emptyDirBlock.length), path: p, originalPath: p, unixfs: emptyDir }
    }),
  ]
  const opts: ImporterOptions = {
    ...importerOptions(o),
    wrapWithDirectory: true,
    dagBuilder: async function* () {
      for (const r of results) yield async () => r
    },
  }
  let root: { cid: CID; size: bigint } | undefined
  // The importer wants candidates; our dagBuilder ignores them and yields the prepared results.
  for await (const entry of importer([], store, opts)) root = entry
  if (!root) throw new StratosError('INTERNAL', 'importer produced no directory root')
  // Keep each distinct block once (identical empty directories share a CID), root last.
  const seen = new Set<string>()
  const blocks: DagBlock[] = []
  for (let i = store.blocks.length - 1; i >= 0; i--) {
    const b = store.blocks[i]
    const key = b.cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    blocks.unshift(b)
  }
  const rootKey = root.cid.toString()
  if (!seen.has(rootKey)) blocks.push({ cid: root.cid, bytes: emptyDirBlock })
  else if (blocks[blocks.length - 1].cid.toString() !== rootKey) {
    const i = blocks.findIndex((b) => b.cid.toString() === rootKey)
    blocks.push(...blocks.splice(i, 1))
  }
  return { cid: root.cid, dagSize: Number(root.size), blocks }
}

/** Refuses names that could escape a directory when written to disk. */
export function checkEntryName(name: string): void {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  ) {
    throw new StratosError('BAD_REQUEST', `unsafe directory entry name ${JSON.stringify(name)}`)
  }
}

export function checkRelativePath(path: string): void {
  if (path.startsWith('/')) throw new StratosError('BAD_REQUEST', `path ${JSON.stringify(path)} must be relative`)
  for (const part of path.split('/')) checkEntryName(part)
}

// ---- Reading directory nodes back ------------------------------------------------------------------

export interface DirectoryLink {
  name: string
  cid: CID
  tsize: number
}

/**
 * Lists a directory's entries from its blocks (flat or HAMT-sharded), recursing into HAMT shards.
 * `blockOf` returns a block of this directory's DAG, or undefined if the CID is not one (then it is a
 * child: a file or a sub-directory whose node is looked up by the caller).
 */
export function listDirectory(cid: CID, blockOf: (cid: CID) => Uint8Array | undefined): DirectoryLink[] {
  const bytes = blockOf(cid)
  if (!bytes) throw new StratosError('NOT_FOUND', `directory block ${cid.toString()} is missing`)
  const node = dagPb.decode(bytes)
  if (!node.Data) throw new StratosError('UPSTREAM_ERROR', `block ${cid.toString()} is not a UnixFS node`)
  const fs = UnixFS.unmarshal(node.Data)
  if (fs.type === 'directory') {
    return node.Links.map((l) => ({ name: l.Name ?? '', cid: l.Hash, tsize: l.Tsize ?? 0 }))
  }
  if (fs.type === 'hamt-sharded-directory') {
    const fanout = Number(fs.fanout ?? 256n)
    const prefixLength = (fanout - 1).toString(16).length
    const out: DirectoryLink[] = []
    for (const l of node.Links) {
      const name = l.Name ?? ''
      if (name.length === prefixLength) out.push(...listDirectory(l.Hash, blockOf))
      else out.push({ name: name.slice(prefixLength), cid: l.Hash, tsize: l.Tsize ?? 0 })
    }
    return out
  }
  throw new StratosError('BAD_REQUEST', `block ${cid.toString()} is a UnixFS ${fs.type}, not a directory`)
}

/** True if `bytes` is a UnixFS directory node (flat or HAMT). */
export function isDirectoryNode(bytes: Uint8Array): boolean {
  try {
    const node = dagPb.decode(bytes)
    if (!node.Data) return false
    const t = UnixFS.unmarshal(node.Data).type
    return t === 'directory' || t === 'hamt-sharded-directory'
  } catch {
    return false
  }
}
