/**
 * The peer we compare against: Helia (js-IPFS's successor) adding and reading the same files
 * on the same machine, with a filesystem blockstore and no networking.
 *
 * Setup, and why:
 * - `createHeliaLight` builds a Helia node with no libp2p, no bitswap, no HTTP routing: only
 *   the blockstore, datastore and pinning. Networking would add nothing to a local add/cat and
 *   would open sockets and timers we would have to measure around.
 * - Blocks go to `blockstore-fs` (one file per block, like Kubo's flatfs); the datastore is
 *   Helia's default in-memory one (it holds only pins and the repo version).
 *   `blockstore-fs` is ESM-only, so it is loaded with `import` (a `require` fails).
 *   Note: blockstore-fs writes each block to a temp file and renames it, but does not fsync.
 * - Import settings = Kubo's `ipfs add` defaults: CIDv0, dag-pb leaves (no raw leaves),
 *   fixed 256 KiB chunks, balanced layout of 174 links per node, single-leaf files reduced to
 *   their leaf. @helia/unixfs's own defaults differ (CIDv1, raw leaves, 1 MiB chunks, 1024
 *   links) and override the importer's `profile`, so every option is spelled out.
 */
import './polyfills.ts'
import { createReadStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { createHeliaLight, type Helia } from 'helia'
import { unixfs, type AddFileOptions, type UnixFS } from '@helia/unixfs'
import { FsBlockstore } from 'blockstore-fs'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { UNIXFS_CHUNK_BYTES, UNIXFS_MAX_LINKS } from '../src/limits.ts'

/** How the file is read into the importer (the importer re-chunks to 256 KiB). */
const READ_HIGH_WATER_MARK_BYTES = 1024 * 1024

export interface ImportSettings {
  cidVersion: 0 | 1
  rawLeaves: boolean
}

/** Kubo defaults (`ipfs add`), and the `--cid-version=1` variant (which implies raw leaves). */
export const KUBO_DEFAULTS: ImportSettings = { cidVersion: 0, rawLeaves: false }
export const KUBO_CID_V1: ImportSettings = { cidVersion: 1, rawLeaves: true }

export function describeImportSettings(s: ImportSettings): Record<string, unknown> {
  return {
    cidVersion: s.cidVersion,
    rawLeaves: s.rawLeaves,
    chunker: `fixed-size ${UNIXFS_CHUNK_BYTES} bytes`,
    layout: `balanced, ${UNIXFS_MAX_LINKS} links per node`,
    reduceSingleLeafToSelf: true,
    profile: s.cidVersion === 0 ? 'unixfs-v0-2015' : '(none; explicit options)',
  }
}

export function importOptions(s: ImportSettings): AddFileOptions {
  return {
    ...(s.cidVersion === 0 ? { profile: 'unixfs-v0-2015' as const } : {}),
    cidVersion: s.cidVersion,
    rawLeaves: s.rawLeaves,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: UNIXFS_CHUNK_BYTES }),
    layout: balanced({ maxChildrenPerNode: UNIXFS_MAX_LINKS }),
  }
}

/** A Helia node over a filesystem blockstore in `dir` (created if missing). */
export class HeliaPeer {
  readonly helia: Helia
  readonly fs: UnixFS

  private constructor(helia: Helia) {
    this.helia = helia
    this.fs = unixfs(helia)
  }

  static async open(dir: string): Promise<HeliaPeer> {
    await mkdir(dir, { recursive: true })
    const blockstore = new FsBlockstore(dir)
    await blockstore.open()
    const helia = createHeliaLight({ blockstore })
    await helia.start()
    return new HeliaPeer(helia)
  }

  /** Memory-only node, for CID checks of small inputs. */
  static async inMemory(): Promise<HeliaPeer> {
    const helia = createHeliaLight()
    await helia.start()
    return new HeliaPeer(helia)
  }

  addPath(path: string, settings: ImportSettings = KUBO_DEFAULTS): Promise<CID> {
    return this.fs.addByteStream(
      createReadStream(path, { highWaterMark: READ_HIGH_WATER_MARK_BYTES }),
      importOptions(settings),
    )
  }

  addBytes(bytes: Uint8Array, settings: ImportSettings = KUBO_DEFAULTS): Promise<CID> {
    return this.fs.addBytes(bytes, importOptions(settings))
  }

  /** Reads only from the local blockstore (offline: a missing block is an error, not a network fetch). */
  cat(cid: CID | string, options: { offset?: number; length?: number } = {}): AsyncIterable<Uint8Array> {
    return this.fs.cat(typeof cid === 'string' ? CID.parse(cid) : cid, { ...options, offline: true })
  }

  async stop(): Promise<void> {
    await this.helia.stop()
  }
}

/** Adds `path` into a fresh blockstore in `dir`; only the add itself is timed. */
export async function timedHeliaAdd(
  path: string,
  dir: string,
  settings: ImportSettings = KUBO_DEFAULTS,
): Promise<{ cid: string; ms: number }> {
  await rm(dir, { recursive: true, force: true })
  const peer = await HeliaPeer.open(dir)
  try {
    const t0 = performance.now()
    const cid = await peer.addPath(path, settings)
    return { cid: cid.toString(), ms: performance.now() - t0 }
  } finally {
    await peer.stop()
  }
}
