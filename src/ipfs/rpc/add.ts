/**
 * `add`: files and directories from a streamed multipart body, stored through the SDK with the API's
 * wallet (or only hashed), answered with Kubo's newline-delimited `{"Name","Hash","Size"}` events.
 *
 * Kubo's behaviour reproduced (core/commands/add.go, core/coreunix/add.go):
 *  - each top-level entry of the body is added on its own (its own root, its own pin), unless
 *    `wrap-with-directory` puts them all under one unnamed directory;
 *  - a file's event is written as soon as it is stored; directory events come after the files of the
 *    entry, children before parents, siblings in byte order of their names, the root last;
 *  - an unnamed file (empty filename) is named by its CID (and, wrapped, placed under that name);
 *  - `Size` is the cumulative DAG size as a string; `progress=true` adds `{"Name","Bytes"}` events every
 *    256 KiB of a file and at its end; `silent` writes no events; `quiet`/`quieter` only change Kubo's CLI
 *    rendering, so the HTTP output is the same.
 *
 * Parts are processed one at a time while they stream in: a file's bytes go straight into the SDK's upload
 * (never held whole); only names, CIDs and sizes of the tree are kept (RPC_MAX_ADD_ENTRIES).
 */
import { CID } from 'multiformats/cid'
import { StratosError, throwIfAborted } from '../../errors.ts'
import {
  RPC_MAX_ADD_ENTRIES,
  RPC_MAX_PART_HEADER_BYTES,
  RPC_MAX_SMALL_BODY_BYTES,
  RPC_MAX_PATH_BYTES,
  RPC_PROGRESS_INTERVAL_BYTES,
  UNIXFS_CHUNK_BYTES,
  UNIXFS_MAX_CHUNK_BYTES,
} from '../../limits.ts'
import type { StratosClient } from '../../sds/client/index.ts'
import {
  buildDirectory,
  fileCid,
  isDirectoryNode,
  listDirectory,
  type DirectoryDagResult,
} from '../../sds/client/unixfs.ts'
import { clientError, commandError } from './kubo-error.ts'
import { parseMultipart, type MultipartPart } from './multipart.ts'
import type { AddOrigins } from './gc.ts'

export interface AddSettings {
  cidVersion: 0 | 1
  rawLeaves: boolean
  /** Fixed chunk size (chunker=size-N). */
  chunkBytes: number
  wrap: boolean
  pin: boolean
  pinName?: string
  onlyHash: boolean
  progress: boolean
  silent: boolean
}

/** One event of Kubo's AddEvent, fields in Kubo's order (Go struct order, omitempty). */
export interface AddEvent {
  Name: string
  Hash?: string
  Bytes?: number
  Size?: string
  Mode?: string
  Mtime?: number
  MtimeNsecs?: number
}

export interface AddContext {
  /** Stores files; null when the API has no wallet (then only `only-hash` works). */
  client: StratosClient | null
  /** Records what this add stores, with each entry's pin (null with only-hash: nothing is stored or pinned). */
  origins: AddOrigins | null
  now: () => number
  emit: (e: AddEvent) => Promise<void>
  signal: AbortSignal
}

interface FileNode {
  kind: 'file'
  cid: CID
  dagSize: number
  size: number
}

interface DirNode {
  kind: 'dir'
  children: Map<string, TreeNode>
}

type TreeNode = FileNode | DirNode

/** Kubo's chunker option → the fixed chunk size: `size-N` (1 ≤ N ≤ 1 MiB) is implemented, rabin and buzhash are not. */
export function parseChunker(chunker: string | undefined): number {
  if (chunker === undefined || chunker === '' || chunker === 'default') return UNIXFS_CHUNK_BYTES
  const m = /^size-(\d+)$/.exec(chunker)
  if (m) {
    const n = Number(m[1])
    if (n <= 0) throw commandError('chunker size must be greater than 0')
    if (n > UNIXFS_MAX_CHUNK_BYTES)
      throw commandError(`chunker parameters may not exceed the maximum chunk size of ${UNIXFS_MAX_CHUNK_BYTES}`)
    return n
  }
  if (/^rabin(-\d+){0,3}$/.test(chunker) || chunker === 'buzhash') {
    throw commandError(
      `chunker ${JSON.stringify(chunker)} is not supported by this API: only fixed-size chunkers (size-N)`,
    )
  }
  throw commandError(`unrecognized chunker option: ${chunker}`)
}

/** Go's url.QueryUnescape ("+" is a space); the raw name if it does not decode, as Kubo does. */
function queryUnescape(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/**
 * The path segments of a part's filename. Kubo cleans `"/" + name`; we drop empty and "." segments and a
 * leading "/" the same way (kubo-rpc-client's globSource sends "/a/b.txt") but refuse ".." (Kubo would
 * silently fold it away), NUL and backslashes, so no name can mean a place outside the added tree.
 */
export function pathSegments(filename: string | undefined): string[] {
  const name = queryUnescape(filename ?? '')
  if (Buffer.byteLength(name) > RPC_MAX_PATH_BYTES) throw clientError(`path is longer than ${RPC_MAX_PATH_BYTES} bytes`)
  if (name.includes('\0')) throw clientError(`invalid path ${JSON.stringify(name)}: NUL byte in name`)
  if (name.includes('\\')) throw clientError(`invalid path ${JSON.stringify(name)}: backslash in name`)
  const out: string[] = []
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') throw clientError(`invalid path ${JSON.stringify(name)}: ".." is not allowed`)
    out.push(seg)
  }
  return out
}

/** `mode`/`mtime` parameters kubo-rpc-client puts in the form field name ("file?mode=0644&mtime=…"). */
function fieldMetadata(fieldName: string): Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'> {
  const q = fieldName.indexOf('?')
  if (q < 0) return {}
  const params = new URLSearchParams(fieldName.slice(q + 1))
  const out: Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'> = {}
  const mode = params.get('mode')
  if (mode && /^[0-7]+$/.test(mode) && parseInt(mode, 8) !== 0) out.Mode = '0' + parseInt(mode, 8).toString(8)
  const mtime = params.get('mtime')
  if (mtime && /^-?\d+$/.test(mtime) && Number(mtime) > 0) {
    out.Mtime = Number(mtime)
    const ns = params.get('mtime-nsecs')
    if (ns && /^\d+$/.test(ns) && Number(ns) > 0) out.MtimeNsecs = Number(ns)
  }
  return out
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** Counts bytes through a part body and reports Kubo-style progress. */
async function* withProgress(
  body: AsyncIterable<Uint8Array>,
  name: string,
  ctx: AddContext,
  enabled: boolean,
): AsyncIterable<Uint8Array> {
  let bytes = 0
  let last = 0
  for await (const chunk of body) {
    throwIfAborted(ctx.signal)
    bytes += chunk.length
    yield chunk
    if (enabled && bytes - last >= RPC_PROGRESS_INTERVAL_BYTES) {
      last = bytes
      await ctx.emit(bytes > 0 ? { Name: name, Bytes: bytes } : { Name: name })
    }
  }
  if (enabled) await ctx.emit(bytes > 0 ? { Name: name, Bytes: bytes } : { Name: name })
}

export class Adder {
  readonly #s: AddSettings
  readonly #ctx: AddContext
  /** The tree of the current top-level entry (or of the wrapping directory). */
  #root: DirNode = { kind: 'dir', children: new Map() }
  /** Non-wrapped adds: the top-level directory being assembled (its name), and how many were finished. */
  #openTop: string | null = null
  #openTopMeta: Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'> = {}
  #tops = 0
  #entries = 0
  #added = 0

  constructor(settings: AddSettings, ctx: AddContext) {
    this.#s = settings
    this.#ctx = ctx
    if (!settings.onlyHash && !ctx.client) {
      throw commandError(
        'this API has no wallet to store files with (start the gateway with STRATOS_MNEMONIC); only-hash=true still works',
        'NETWORK_CONFIG',
      )
    }
  }

  /** Consumes a multipart body; resolves when every entry is stored, pinned and reported. */
  async run(body: AsyncIterable<Uint8Array>, boundary: string): Promise<void> {
    for await (const part of parseMultipart(body, boundary, {
      maxHeaderBytes: RPC_MAX_PART_HEADER_BYTES,
      maxEpilogueBytes: RPC_MAX_SMALL_BODY_BYTES,
    })) {
      throwIfAborted(this.#ctx.signal)
      await this.#part(part)
    }
    if (this.#s.wrap) {
      if (this.#added > 0 || this.#root.children.size > 0) await this.#finishDirectory(this.#root, '', {})
    } else if (this.#openTop !== null) {
      await this.#finishTop()
    }
    if (this.#added === 0 && this.#root.children.size === 0 && this.#tops === 0)
      throw commandError('expected a file argument')
  }

  async #part(part: MultipartPart): Promise<void> {
    const { contentType, filename, fieldName } = part.headers
    if (contentType === 'multipart/form-data' || contentType === 'multipart/mixed') {
      throw clientError('nested multipart bodies are not supported: send directories as application/x-directory parts')
    }
    if (contentType === 'application/symlink') throw commandError('symlinks are not supported by this API')
    const isDir = contentType === 'application/x-directory'
    const segments = pathSegments(filename)
    if (++this.#entries > RPC_MAX_ADD_ENTRIES)
      throw new StratosError(
        'PAYLOAD_TOO_LARGE',
        `an add may carry at most ${RPC_MAX_ADD_ENTRIES} files and directories`,
      )
    const meta = fieldMetadata(fieldName)

    if (!this.#s.wrap) {
      // As Kubo's multipart walker: a top-level part (file or explicit directory) always starts a new
      // top-level entry, and so does a path under another top-level name; entries never merge.
      const top = segments[0] ?? ''
      if (this.#openTop !== null && (segments.length <= 1 || top !== this.#openTop)) await this.#finishTop()
      if (isDir && segments.length === 0) throw clientError('a directory part needs a name')
      if (!isDir && segments.length <= 1) {
        // A top-level file: stored, reported and pinned on its own.
        const f = await this.#storeFile(part.body, top, top)
        const cid = f.cid.toString()
        if (!this.#s.silent)
          await this.#ctx.emit({ Name: top === '' ? cid : top, Hash: cid, Size: String(f.dagSize), ...meta })
        this.#pinRoot(cid)
        this.#added++
        return
      }
      if (this.#openTop === null) {
        this.#openTop = top
        this.#openTopMeta = segments.length === 1 ? meta : {}
        this.#root = { kind: 'dir', children: new Map() }
      }
      // Inside the open top-level directory: its own path is relative to it.
      await this.#place(segments.slice(1), segments.join('/'), isDir, part.body)
      return
    }
    // Wrapped: everything is under one unnamed root; an unnamed file is named by its CID.
    if (segments.length === 0) {
      if (isDir) return // the root itself
      const f = await this.#storeFile(part.body, '', '')
      const cid = f.cid.toString()
      this.#insert([cid], f)
      if (!this.#s.silent) await this.#ctx.emit({ Name: cid, Hash: cid, Size: String(f.dagSize) })
      this.#added++
      return
    }
    await this.#place(segments, segments.join('/'), isDir, part.body)
  }

  /** Adds a file or directory at `rel` (relative to #root) whose full event name is `full`. */
  async #place(rel: string[], full: string, isDir: boolean, body: AsyncIterable<Uint8Array>): Promise<void> {
    if (isDir) {
      this.#dirAt(rel)
      return
    }
    const f = await this.#storeFile(body, full, rel.at(-1) ?? '')
    this.#insert(rel, f)
    const cid = f.cid.toString()
    if (!this.#s.silent) await this.#ctx.emit({ Name: full, Hash: cid, Size: String(f.dagSize) })
    this.#added++
  }

  #dirAt(rel: string[]): DirNode {
    let d = this.#root
    for (const seg of rel) {
      const child = d.children.get(seg)
      if (child?.kind === 'file') throw commandError(`directory already has entry by that name: ${seg}`)
      if (child) {
        d = child
        continue
      }
      const next: DirNode = { kind: 'dir', children: new Map() }
      d.children.set(seg, next)
      d = next
    }
    return d
  }

  #insert(rel: string[], f: FileNode): void {
    const parent = this.#dirAt(rel.slice(0, -1))
    const name = rel[rel.length - 1]
    if (parent.children.has(name)) throw commandError(`directory already has entry by that name: ${name}`)
    parent.children.set(name, f)
  }

  async #storeFile(body: AsyncIterable<Uint8Array>, progressName: string, name: string): Promise<FileNode> {
    const s = this.#s
    const source = withProgress(body, progressName, this.#ctx, s.progress)
    if (s.onlyHash || !this.#ctx.client) {
      const r = await fileCid(source, { cidVersion: s.cidVersion, rawLeaves: s.rawLeaves, chunkBytes: s.chunkBytes })
      return { kind: 'file', cid: r.cid, dagSize: r.dagSize, size: r.size }
    }
    // Content added through the IPFS API is public, as on IPFS (docs/security.md): paid by the API's wallet.
    const startedAt = this.#ctx.now()
    const r = await this.#ctx.client.put(source, {
      public: true,
      cidVersion: s.cidVersion,
      rawLeaves: s.rawLeaves,
      chunkBytes: s.chunkBytes,
      signal: this.#ctx.signal,
      ...(name ? { name } : {}),
    })
    if (r.dagSize === undefined) throw new StratosError('INTERNAL', 'the SDK did not report the DAG size of an upload')
    await this.#ctx.origins?.stored(r.cid, 'file', startedAt, this.#ctx.signal)
    return { kind: 'file', cid: CID.parse(r.cid), dagSize: r.dagSize, size: r.size }
  }

  async #finishTop(): Promise<void> {
    const top = this.#openTop
    if (top === null) return
    this.#openTop = null
    await this.#finishDirectory(this.#root, top, this.#openTopMeta)
    this.#tops++
    this.#root = { kind: 'dir', children: new Map() }
  }

  /** Builds (and unless only-hash, commits) the directory DAG of `root`, then reports every directory in it. */
  async #finishDirectory(
    root: DirNode,
    name: string,
    meta: Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'>,
  ): Promise<void> {
    const entries: { path: string; cid: CID; dagSize: number }[] = []
    const emptyDirs: string[] = []
    const children: string[] = []
    let size = 0
    const collect = (d: DirNode, prefix: string): void => {
      if (d.children.size === 0 && prefix !== '') emptyDirs.push(prefix)
      for (const [n, c] of d.children) {
        const p = prefix ? `${prefix}/${n}` : n
        if (c.kind === 'dir') collect(c, p)
        else {
          entries.push({ path: p, cid: c.cid, dagSize: c.dagSize })
          children.push(c.cid.toString())
          size += c.size
        }
      }
    }
    collect(root, '')
    const dir = await buildDirectory(entries, emptyDirs, {
      cidVersion: this.#s.cidVersion,
      rawLeaves: this.#s.rawLeaves,
    })
    throwIfAborted(this.#ctx.signal)
    if (!this.#s.onlyHash && this.#ctx.client) {
      const startedAt = this.#ctx.now()
      await this.#ctx.client.putDirectoryDag(dir, {
        public: true,
        size,
        children,
        ...(name ? { name } : {}),
        signal: this.#ctx.signal,
      })
      await this.#ctx.origins?.stored(dir.cid.toString(), 'directory', startedAt, this.#ctx.signal)
    }
    if (!this.#s.silent) await this.#directoryEvents(dir, name, meta)
    this.#pinRoot(dir.cid.toString())
  }

  /** Kubo's outputDirs: sub-directories depth-first (byte order of names), each after its own sub-directories, root last. */
  async #directoryEvents(
    dir: DirectoryDagResult,
    rootName: string,
    meta: Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'>,
  ): Promise<void> {
    const blocks = new Map<string, Uint8Array>(dir.blocks.map((b) => [b.cid.toString(), b.bytes]))
    const blockOf = (c: CID): Uint8Array | undefined => blocks.get(c.toString())
    const visit = async (
      cid: CID,
      path: string,
      size: number,
      m: Pick<AddEvent, 'Mode' | 'Mtime' | 'MtimeNsecs'>,
    ): Promise<void> => {
      const links = listDirectory(cid, blockOf).sort((a, b) => byteOrder(a.name, b.name))
      for (const l of links) {
        const b = blockOf(l.cid)
        if (b && isDirectoryNode(b)) await visit(l.cid, path ? `${path}/${l.name}` : l.name, l.tsize, {})
      }
      await this.#ctx.emit({ Name: path, Hash: cid.toString(), Size: String(size), ...m })
    }
    await visit(dir.cid, rootName, dir.dagSize, meta)
  }

  /** Ends a top-level entry: what it stored is recorded with its pin (or, with pin=false, released) in one write. */
  #pinRoot(cid: string): void {
    if (this.#s.onlyHash) return
    this.#ctx.origins?.commit(
      this.#s.pin
        ? [{ cid, type: 'recursive', ...(this.#s.pinName !== undefined ? { name: this.#s.pinName } : {}) }]
        : [],
    )
  }
}
