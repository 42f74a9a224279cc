/**
 * `dag/import`: CAR files (the parts of a multipart body, as Kubo's CLI sends them) whose roots are UnixFS files,
 * stored through the SDK with the API's wallet and pinned, answered with Kubo's `{"Root":{"Cid":{"/":…},"PinErrorMsg":""}}`
 * per root (and `{"Stats":{…}}` with `stats=true`).
 *
 * A file is stored on this network as its bytes (segments, shards) plus the DAG the SDK builds over them, so a CAR is
 * imported by rebuilding: each root's file bytes are read out of the CAR (every block checked against its CID), the
 * layout parameters are read off the DAG (CID version, raw or dag-pb leaves, the chunk size of its first leaf), and the
 * bytes are uploaded with them. The root the upload computes must be the CAR's root, or the import fails (a command
 * error: e.g. a trickle DAG, or uneven chunks) and what it stored is left unpinned for garbage collection. DAGs from `ipfs add` with the balanced layout and fixed-size chunks (Kubo's default) rebuild exactly.
 *
 * The CAR is spooled to a temp file (at most RPC_MAX_DAG_IMPORT_BYTES), indexed (at most RPC_MAX_DAG_IMPORT_BLOCKS
 * blocks), then read block by block: a file's bytes stream into the upload, never held whole. Only sha2-256 blocks.
 */
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { CarIndexer } from '@ipld/car/indexer'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { StratosError, throwIfAborted } from '../../errors.ts'
import {
  RPC_MAX_DAG_IMPORT_BLOCKS,
  RPC_MAX_DAG_IMPORT_BYTES,
  RPC_MAX_PART_HEADER_BYTES,
  RPC_MAX_SMALL_BODY_BYTES,
  UNIXFS_CHUNK_BYTES,
  UNIXFS_MAX_CHUNK_BYTES,
} from '../../limits.ts'
import type { StratosClient } from '../../sds/client/index.ts'
import type { Command } from './commands.ts'
import { AddOrigins } from './gc.ts'
import { clientError, commandError } from './kubo-error.ts'
import { boundaryOf, parseMultipart } from './multipart.ts'
import { boolOption } from './params.ts'
import { NdjsonStream } from './respond.ts'

const RAW_CODE = 0x55
const DAG_PB_CODE = 0x70
const SHA256_CODE = 0x12

/** Where each block of a spooled CAR sits. */
interface CarFile {
  fh: FileHandle
  roots: CID[]
  blocks: Map<string, { offset: number; length: number }>
  bytes: number
}

/** Blocks are looked up by multihash (a CIDv0 link and a CIDv1 of the same bytes find the same block). */
function blockKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}

/** The bytes of a block, checked against its CID. */
async function blockOf(car: CarFile, cid: CID): Promise<Uint8Array> {
  if (cid.multihash.code !== SHA256_CODE)
    throw commandError(`block ${cid.toString()}: only sha2-256 blocks can be imported`)
  const at = car.blocks.get(blockKey(cid))
  if (!at) throw commandError(`block ${cid.toString()} is not in the CAR (a partial DAG cannot be imported)`)
  const buf = Buffer.allocUnsafe(at.length)
  const { bytesRead } = await car.fh.read(buf, 0, at.length, at.offset)
  if (bytesRead !== at.length) throw commandError(`block ${cid.toString()}: the CAR ends inside it`)
  const digest = await sha256.digest(buf)
  if (Buffer.compare(digest.digest, cid.multihash.digest) !== 0)
    throw commandError(`block ${cid.toString()}: its bytes do not hash to its CID`)
  return buf
}

/** What the SDK needs to rebuild a file's DAG. */
interface FileLayout {
  cidVersion: 0 | 1
  rawLeaves: boolean
  chunkBytes: number
  size: number
}

/** The file bytes under `cid`, leaf by leaf in order (depth first). */
async function* fileBytes(car: CarFile, cid: CID, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  throwIfAborted(signal)
  const bytes = await blockOf(car, cid)
  if (cid.code === RAW_CODE) {
    yield bytes
    return
  }
  if (cid.code !== DAG_PB_CODE) throw commandError(`block ${cid.toString()} is neither dag-pb nor raw`)
  const node = dagPb.decode(bytes)
  const fs = node.Data ? UnixFS.unmarshal(node.Data) : undefined
  if (!fs || (fs.type !== 'file' && fs.type !== 'raw'))
    throw commandError(`block ${cid.toString()} is not part of a UnixFS file`)
  if (fs.data && fs.data.length > 0) yield fs.data
  for (const link of node.Links) yield* fileBytes(car, link.Hash, signal)
}

/** The layout of the file under `root`: its CID version, leaf kind, first leaf's size and total size. */
async function layoutOf(car: CarFile, root: CID): Promise<FileLayout> {
  const cidVersion = root.version as 0 | 1
  if (root.code === RAW_CODE) {
    const b = await blockOf(car, root)
    return { cidVersion, rawLeaves: true, chunkBytes: Math.max(UNIXFS_CHUNK_BYTES, b.length), size: b.length }
  }
  if (root.code !== DAG_PB_CODE) throw commandError(`root ${root.toString()} is neither dag-pb nor raw`)
  const rootNode = dagPb.decode(await blockOf(car, root))
  const fs = rootNode.Data ? UnixFS.unmarshal(rootNode.Data) : undefined
  if (fs?.type === 'directory' || fs?.type === 'hamt-sharded-directory')
    throw commandError(
      `root ${root.toString()} is a directory: dag/import stores UnixFS files (add directories with add -r)`,
    )
  if (!fs || (fs.type !== 'file' && fs.type !== 'raw'))
    throw commandError(`root ${root.toString()} is not a UnixFS file`)
  const size = Number(fs.fileSize())
  // Down the first links to the first leaf: its kind and size give the leaves' settings.
  let cid = root
  let node = rootNode
  let data = fs
  while (node.Links.length > 0) {
    cid = node.Links[0].Hash
    if (cid.code === RAW_CODE) {
      const leaf = await blockOf(car, cid)
      return { cidVersion, rawLeaves: true, chunkBytes: leaf.length, size }
    }
    node = dagPb.decode(await blockOf(car, cid))
    if (!node.Data) throw commandError(`block ${cid.toString()} is not part of a UnixFS file`)
    data = UnixFS.unmarshal(node.Data)
  }
  const leafBytes = data.data?.length ?? 0
  // A file of one leaf: any chunk size at least its size rebuilds it.
  const chunkBytes = cid === root ? Math.max(UNIXFS_CHUNK_BYTES, leafBytes) : leafBytes
  return { cidVersion, rawLeaves: false, chunkBytes, size }
}

/** Spools one CAR part to `path` (bounded) and indexes it. */
async function spool(body: AsyncIterable<Uint8Array>, path: string, signal: AbortSignal): Promise<CarFile> {
  const out = await open(path, 'wx')
  let bytes = 0
  try {
    for await (const chunk of body) {
      throwIfAborted(signal)
      bytes += chunk.length
      if (bytes > RPC_MAX_DAG_IMPORT_BYTES)
        throw new StratosError('PAYLOAD_TOO_LARGE', `a CAR of dag/import may hold ${RPC_MAX_DAG_IMPORT_BYTES} bytes`)
      await out.write(chunk)
    }
  } finally {
    await out.close()
  }
  let indexer: CarIndexer
  try {
    indexer = await CarIndexer.fromIterable(createReadStream(path))
  } catch (e) {
    throw clientError(`not a CAR: ${e instanceof Error ? e.message : String(e)}`)
  }
  const blocks = new Map<string, { offset: number; length: number }>()
  try {
    for await (const b of indexer) {
      if (blocks.size >= RPC_MAX_DAG_IMPORT_BLOCKS)
        throw new StratosError('PAYLOAD_TOO_LARGE', `a CAR of dag/import may hold ${RPC_MAX_DAG_IMPORT_BLOCKS} blocks`)
      blocks.set(blockKey(b.cid), { offset: b.blockOffset, length: b.blockLength })
    }
  } catch (e) {
    if (e instanceof StratosError) throw e
    throw clientError(`malformed CAR: ${e instanceof Error ? e.message : String(e)}`)
  }
  return { fh: await open(path, 'r'), roots: await indexer.getRoots(), blocks, bytes }
}

/** Stores the file under `root` and checks that the network computed the same root. */
async function importFile(
  client: StratosClient,
  car: CarFile,
  root: CID,
  origins: AddOrigins,
  now: () => number,
  signal: AbortSignal,
): Promise<void> {
  const layout = await layoutOf(car, root)
  if (layout.chunkBytes < 1 || layout.chunkBytes > UNIXFS_MAX_CHUNK_BYTES)
    throw commandError(
      `root ${root.toString()}: leaves of ${layout.chunkBytes} bytes (at most ${UNIXFS_MAX_CHUNK_BYTES})`,
    )
  const startedAt = now()
  const r = await client.put(fileBytes(car, root, signal), {
    public: true,
    cidVersion: layout.cidVersion,
    rawLeaves: layout.rawLeaves,
    chunkBytes: layout.chunkBytes,
    signal,
  })
  await origins.stored(r.cid, 'file', startedAt, signal)
  const rebuilt = CID.parse(r.cid)
  if (!root.equals(rebuilt)) {
    origins.commit([])
    throw commandError(
      `root ${root.toString()}: its bytes rebuild to ${r.cid} with ${layout.chunkBytes}-byte chunks and the balanced layout, so the DAG uses another layout (trickle, uneven chunks, other link counts) that this network does not store`,
      'BAD_REQUEST',
      { root: root.toString(), rebuilt: r.cid },
    )
  }
}

export const dagImport: Command = {
  takesBody: true,
  spec: {
    args: [],
    options: {
      'pin-roots': { type: 'bool', default: true },
      silent: { type: 'bool' },
      stats: { type: 'bool' },
      'allow-big-block': { type: 'bool' },
    },
  },
  async run({ req, res, p, signal, api }) {
    if (!api.wallet) throw commandError('this API has no wallet (read-only): dag/import cannot store anything')
    const pinRoots = boolOption(p, 'pin-roots')
    const boundary = boundaryOf(req.headers['content-type'])
    const client = await api.client()
    const now = () => api.clock.now()
    const origins = new AddOrigins({ client, pins: api.pins, logger: api.logger, now })
    const dir = await mkdtemp(join(tmpdir(), 'stratos-dag-import-'))
    const roots: string[] = []
    let blockCount = 0
    let blockBytes = 0
    try {
      let n = 0
      for await (const part of parseMultipart(req, boundary, {
        maxHeaderBytes: RPC_MAX_PART_HEADER_BYTES,
        maxEpilogueBytes: RPC_MAX_SMALL_BODY_BYTES,
      })) {
        const car = await spool(part.body, join(dir, `${n++}.car`), signal)
        try {
          blockCount += car.blocks.size
          blockBytes += car.bytes
          for (const root of car.roots) {
            await importFile(client, car, root, origins, now, signal)
            roots.push(root.toString())
          }
        } finally {
          await car.fh.close()
        }
      }
      // Stored and pinned in one write (unpinned with pin-roots=false: garbage-collected after the grace period).
      origins.commit(pinRoots ? roots.map((cid) => ({ cid, type: 'recursive' as const })) : [])
    } finally {
      origins.commit([])
      await rm(dir, { recursive: true, force: true })
    }
    const out = new NdjsonStream(res)
    if (!boolOption(p, 'silent'))
      for (const cid of roots) await out.write({ Root: { Cid: { '/': cid }, PinErrorMsg: '' } })
    if (boolOption(p, 'stats')) await out.write({ Stats: { BlockCount: blockCount, BlockBytesCount: blockBytes } })
    out.end()
  },
}
