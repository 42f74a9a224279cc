/**
 * The commands of the RPC API: their Kubo option specs and their handlers. Each handler reads its parsed
 * query, does its work through the SDK / DAG reader, and answers in Kubo's wire format (respond.ts).
 * Option names, aliases and defaults follow Kubo's core/commands; see docs/ipfs-api.md for what differs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { arch, platform } from 'node:os'
import type { CID } from 'multiformats/cid'
import { StratosError, toStratosError } from '../../errors.ts'
import { SOFTWARE_VERSION } from '../../limits.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import type { StratosClient } from '../../sds/client/index.ts'
import type { Clock, Logger } from '../../util/components.ts'
import type { DagReader, ResolvedNode } from '../dag.ts'
import { carStream } from '../dag.ts'
import { Adder, parseChunker } from './add.ts'
import { AddOrigins, reachableRecords, type GarbageCollector } from './gc.ts'
import { clientError, commandError } from './kubo-error.ts'
import { boundaryOf } from './multipart.ts'
import { dagImport } from './dag-import.ts'
import { boolOption, intOption, onlyFalse, stringOption, type CommandSpec, type ParsedRequest } from './params.ts'
import { parsePathArg } from './paths.ts'
import type { PinStore, PinType } from './pins.ts'
import { NdjsonStream, sendBytes, sendValue } from './respond.ts'
import { tarStream, type TarEntry } from './tar.ts'

/** What the commands need from the API process (narrow, injected). */
export interface ApiComponents {
  /** The SDK client (connected on first use). */
  client(): Promise<StratosClient>
  dag(): Promise<DagReader>
  /**
   * A DAG reader whose file bytes come in the SDK's recycled read buffers (no new memory per read, so no page faults
   * and no garbage collections driven by it): a chunk `cat` yields is valid only until the next one is asked for.
   * Only for a consumer that is done with each chunk by then (sendBytes with `recycled`).
   */
  streamDag(): Promise<DagReader>
  wallet: WalletKey | undefined
  pins: PinStore
  /** Garbage collection of what the API stored and no pin keeps (gc.ts): `repo/gc` and the periodic pass. */
  gc: GarbageCollector
  clock: Clock
  logger: Logger
  peer: { id: string; publicKey: string }
}

export interface CommandEnv {
  req: IncomingMessage
  res: ServerResponse
  p: ParsedRequest
  signal: AbortSignal
  api: ApiComponents
}

export interface Command {
  spec: CommandSpec
  /** True for `add`: the body is the multipart input (other commands refuse a big body). */
  takesBody?: boolean
  run(env: CommandEnv): Promise<void>
}

const notImplemented = (why: string) => ({ accept: () => false, why })

// ---- add ----------------------------------------------------------------------------------------

const add: Command = {
  takesBody: true,
  spec: {
    args: [],
    options: {
      recursive: { type: 'bool', aliases: ['r'] },
      'dereference-args': { type: 'bool' },
      'stdin-name': { type: 'string' },
      hidden: { type: 'bool', aliases: ['H'] },
      ignore: { type: 'strings' },
      'ignore-rules-path': { type: 'string' },
      quiet: { type: 'bool', aliases: ['q'] },
      quieter: { type: 'bool', aliases: ['Q'] },
      silent: { type: 'bool' },
      progress: { type: 'bool', aliases: ['p'] },
      'only-hash': { type: 'bool', aliases: ['n'] },
      'wrap-with-directory': { type: 'bool', aliases: ['w'] },
      pin: { type: 'bool', default: true },
      'pin-name': { type: 'string' },
      'to-files': { type: 'string', unsupported: notImplemented('there is no MFS') },
      'cid-version': { type: 'int' },
      hash: { type: 'string', unsupported: { accept: (v) => v === 'sha2-256', why: 'only sha2-256 is implemented' } },
      'raw-leaves': { type: 'bool' },
      chunker: { type: 'string', aliases: ['s'] },
      trickle: { type: 'bool', aliases: ['t'], unsupported: onlyFalse('only the balanced layout is implemented') },
      'max-file-links': {
        type: 'int',
        unsupported: { accept: (v) => v === 174, why: 'the file layout is fixed at 174 links' },
      },
      'max-directory-links': { type: 'int', unsupported: notImplemented("directory layout is Kubo's default") },
      'max-hamt-fanout': { type: 'int', unsupported: { accept: (v) => v === 256, why: 'HAMT fanout is fixed at 256' } },
      inline: { type: 'bool', unsupported: onlyFalse('inline CIDs are not implemented') },
      'inline-limit': { type: 'int' },
      nocopy: { type: 'bool', unsupported: onlyFalse('there is no filestore') },
      fscache: { type: 'bool' },
      'preserve-mode': { type: 'bool', unsupported: onlyFalse('UnixFS mode metadata is not stored') },
      'preserve-mtime': { type: 'bool', unsupported: onlyFalse('UnixFS mtime metadata is not stored') },
      mode: { type: 'int', unsupported: { accept: (v) => v === 0, why: 'UnixFS mode metadata is not stored' } },
      mtime: { type: 'int', unsupported: { accept: (v) => v === 0, why: 'UnixFS mtime metadata is not stored' } },
      'mtime-nsecs': {
        type: 'int',
        unsupported: { accept: (v) => v === 0, why: 'UnixFS mtime metadata is not stored' },
      },
    },
  },
  async run({ req, res, p, signal, api }) {
    const cidVersion = intOption(p, 'cid-version') ?? 0
    if (cidVersion !== 0 && cidVersion !== 1) throw commandError(`unknown CID version: ${cidVersion}`)
    const rawLeavesSet = p.options.has('raw-leaves')
    const rawLeaves = rawLeavesSet ? boolOption(p, 'raw-leaves') : cidVersion === 1
    const chunkBytes = parseChunker(stringOption(p, 'chunker'))
    const pin = boolOption(p, 'pin')
    const pinName = stringOption(p, 'pin-name')
    if (pinName !== undefined && !pin) throw commandError('pin-name option requires pin to be set')
    const boundary = boundaryOf(req.headers['content-type'])
    const out = new NdjsonStream(res)
    const onlyHash = boolOption(p, 'only-hash')
    const client = onlyHash ? null : api.wallet ? await api.client() : null
    // What this add stores is recorded as the API's own (gc.ts), the only content garbage collection may delete.
    const origins = client
      ? new AddOrigins({ client, pins: api.pins, logger: api.logger, now: () => api.clock.now() })
      : null
    const adder = new Adder(
      {
        cidVersion,
        rawLeaves,
        chunkBytes,
        wrap: boolOption(p, 'wrap-with-directory'),
        pin,
        ...(pinName !== undefined ? { pinName } : {}),
        onlyHash,
        progress: boolOption(p, 'progress'),
        silent: boolOption(p, 'silent'),
      },
      { client, origins, now: () => api.clock.now(), emit: (e) => out.write(e), signal },
    )
    try {
      await adder.run(req, boundary)
    } finally {
      // Stored by an add that failed before its pin: recorded unpinned, so it is collected after the grace period.
      origins?.commit([])
    }
    out.end()
  },
}

// ---- reading ------------------------------------------------------------------------------------

async function resolveArg(api: ApiComponents, arg: string, signal: AbortSignal): Promise<ResolvedNode> {
  const path = parsePathArg(arg)
  const dag = await api.dag()
  try {
    return await dag.resolvePath(path.root, path.segments, { signal })
  } catch (e) {
    throw kuboResolveError(e, arg)
  }
}

/** Not-found errors read as Kubo's (a 500 command error naming the path). */
function kuboResolveError(e: unknown, arg: string): StratosError {
  const err = toStratosError(e)
  if (err.code === 'NOT_FOUND' || err.code === 'FILE_NOT_FOUND') {
    return new StratosError(err.code, `no link named or block found for ${JSON.stringify(arg)}: ${err.message}`, {
      ...err.details,
      kuboClient: false,
    })
  }
  return err
}

const cat: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: true, variadic: true }],
    options: {
      offset: { type: 'int', aliases: ['o'] },
      length: { type: 'int', aliases: ['l'] },
      progress: { type: 'bool', aliases: ['p'], default: true },
    },
  },
  async run({ res, p, signal, api }) {
    let offset = intOption(p, 'offset') ?? 0
    if (offset < 0) throw commandError('cannot specify negative offset')
    const lengthOpt = intOption(p, 'length')
    if (lengthOpt !== undefined && lengthOpt < 0) throw commandError('cannot specify negative length')
    const nodes: ResolvedNode[] = []
    for (const arg of p.args) {
      const node = await resolveArg(api, arg, signal)
      if (node.kind === 'directory') throw commandError('this dag node is a directory')
      nodes.push(node)
    }
    // Offset and length apply to the concatenation of the files, as Kubo's cat does.
    const plan: { node: ResolvedNode; offset: number; length: number }[] = []
    let remaining = lengthOpt ?? Number.MAX_SAFE_INTEGER
    for (const node of nodes) {
      if (offset >= node.size && !(node.size === 0 && offset === 0)) {
        offset -= node.size
        continue
      }
      const length = Math.min(node.size - offset, remaining)
      plan.push({ node, offset, length })
      remaining -= length
      offset = 0
      if (remaining <= 0) break
    }
    const total = plan.reduce((a, x) => a + x.length, 0)
    // Recycled buffers: sendBytes hands each chunk to the socket before it asks for the next.
    const dag = await api.streamDag()
    async function* bytes(): AsyncIterable<Uint8Array> {
      for (const x of plan) if (x.length > 0) yield* dag.cat(x.node, { offset: x.offset, length: x.length, signal })
    }
    await sendBytes(res, bytes(), { length: total, recycled: true })
  },
}

const get: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: true }],
    options: {
      output: { type: 'string', aliases: ['o'] },
      archive: { type: 'bool', aliases: ['a'] },
      compress: { type: 'bool', aliases: ['C'], unsupported: onlyFalse('compressed archives are not implemented') },
      'compression-level': { type: 'int', aliases: ['l'] },
      progress: { type: 'bool', aliases: ['p'], default: true },
    },
  },
  async run({ res, p, signal, api }) {
    const arg = p.args[0]
    const path = parsePathArg(arg)
    const top = await resolveArg(api, arg, signal)
    const dag = await api.dag()
    // Kubo names the archive's top entry after the last path component (the CID for a bare CID).
    const topName = path.segments.at(-1) ?? path.root.toString()
    async function* entries(): AsyncIterable<TarEntry> {
      async function* walk(node: ResolvedNode, name: string): AsyncIterable<TarEntry> {
        if (node.kind !== 'directory') {
          yield { name, directory: false, size: node.size, content: () => dag.cat(node, { signal }) }
          return
        }
        yield { name, directory: true, size: 0 }
        for (const e of await dag.ls(node.cid, { signal })) {
          const child = await dag.resolvePath(node.cid, [e.name], { signal })
          yield* walk(child, `${name}/${e.name}`)
        }
      }
      yield* walk(top, topName)
    }
    await sendBytes(res, tarStream(entries(), Math.floor(api.clock.now() / 1000)))
  },
}

/** unixfs_pb Data.DataType numbers Kubo prints in `ls` output. */
const UNIXFS_TYPE = { directory: 1, file: 2, raw: 2 } as const

const ls: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: true, variadic: true }],
    options: {
      headers: { type: 'bool', aliases: ['v'] },
      'resolve-type': { type: 'bool', default: true },
      size: { type: 'bool', default: true },
      stream: { type: 'bool', aliases: ['s'] },
      long: { type: 'bool', aliases: ['l'] },
    },
  },
  async run({ res, p, signal, api }) {
    const dag = await api.dag()
    const stream = boolOption(p, 'stream')
    const objects: { Hash: string; Links: unknown[] }[] = []
    const out = stream ? new NdjsonStream(res) : null
    for (const arg of p.args) {
      const node = await resolveArg(api, arg, signal)
      // A directory lists its entries; a file its chunks (unnamed, as Kubo); a raw block has no links.
      const links =
        node.kind === 'raw'
          ? []
          : (await dag.ls(node.cid, { signal })).map((e) => ({
              Name: e.name,
              Hash: e.cid.toString(),
              Size: e.size,
              Type: UNIXFS_TYPE[e.type],
              Target: '',
            }))
      if (out) {
        if (links.length === 0) await out.write({ Objects: [{ Hash: arg, Links: [] }] })
        for (const l of links) await out.write({ Objects: [{ Hash: arg, Links: [l] }] })
      } else {
        objects.push({ Hash: arg, Links: links })
      }
    }
    if (out) out.end()
    else sendValue(res, { Objects: objects })
  },
}

// ---- blocks and DAGs ----------------------------------------------------------------------------

async function blockOf(env: CommandEnv): Promise<{ cid: CID; bytes: Uint8Array }> {
  const path = parsePathArg(env.p.args[0])
  const dag = await env.api.dag()
  try {
    const cid = path.segments.length
      ? (await dag.resolvePath(path.root, path.segments, { signal: env.signal })).cid
      : path.root
    return { cid, bytes: await dag.getBlock(cid, { root: path.root, signal: env.signal }) }
  } catch (e) {
    const err = toStratosError(e)
    if (err.code === 'NOT_FOUND' || err.code === 'FILE_NOT_FOUND') {
      throw new StratosError(
        err.code,
        `block was not found locally (offline): ipld: could not find ${path.root.toString()}`,
        { kuboClient: false },
      )
    }
    throw err
  }
}

const blockGet: Command = {
  spec: { args: [{ name: 'cid', required: true }], options: {} },
  async run(env) {
    const { bytes } = await blockOf(env)
    await sendBytes(
      env.res,
      (async function* () {
        yield bytes
      })(),
      { length: bytes.length },
    )
  },
}

const blockStat: Command = {
  spec: { args: [{ name: 'cid', required: true }], options: {} },
  async run(env) {
    const { cid, bytes } = await blockOf(env)
    sendValue(env.res, { Key: cid.toString(), Size: bytes.length })
  },
}

const dagExport: Command = {
  spec: {
    args: [{ name: 'root', required: true }],
    options: { progress: { type: 'bool', aliases: ['p'] }, 'local-only': { type: 'bool' } },
  },
  async run({ res, p, signal, api }) {
    const node = await resolveArg(api, p.args[0], signal)
    const dag = await api.dag()
    await sendBytes(res, carStream([node.cid], dag.walk(node.cid, { signal })))
  },
}

// ---- pins ---------------------------------------------------------------------------------------

const pinAdd: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: true, variadic: true }],
    options: {
      recursive: { type: 'bool', aliases: ['r'], default: true },
      progress: { type: 'bool' },
      name: { type: 'string' },
    },
  },
  async run({ res, p, signal, api }) {
    const type: PinType = boolOption(p, 'recursive') ? 'recursive' : 'direct'
    const name = stringOption(p, 'name')
    const cids: string[] = []
    for (const arg of p.args) cids.push((await resolveArg(api, arg, signal)).cid.toString())
    api.pins.add(
      cids.map((cid) => ({ cid, type, ...(name !== undefined ? { name } : {}) })),
      api.clock.now(),
    )
    sendValue(res, { Pins: cids })
  },
}

const PIN_TYPES = ['direct', 'indirect', 'recursive', 'all']

const pinLs: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: false, variadic: true }],
    options: {
      type: { type: 'string', aliases: ['t'], default: 'all' },
      quiet: { type: 'bool', aliases: ['q'] },
      stream: { type: 'bool', aliases: ['s'] },
      names: { type: 'bool', aliases: ['n'] },
      name: { type: 'string' },
    },
  },
  async run({ res, p, signal, api }) {
    const type = stringOption(p, 'type') ?? 'all'
    if (!PIN_TYPES.includes(type))
      throw commandError(`invalid type '${type}', must be one of {direct, indirect, recursive, all}`)
    const names = boolOption(p, 'names') || p.options.has('name')
    const nameFilter = stringOption(p, 'name')
    let pins = api.pins.list()
    if (p.args.length) {
      const picked = []
      for (const arg of p.args) {
        const cid = (await resolveArg(api, arg, signal)).cid.toString()
        const pin = api.pins.get(cid)
        if (!pin) throw commandError(`path '${arg}' is not pinned`)
        picked.push(pin)
      }
      pins = picked
    }
    // Only direct and recursive pins are kept: "indirect" (blocks under a recursive pin) lists nothing.
    pins = pins.filter(
      (x) => (type === 'all' || type === x.type) && (nameFilter === undefined || x.name?.includes(nameFilter)),
    )
    const entry = (x: (typeof pins)[number]): { Type: string; Name?: string } => ({
      Type: x.type,
      ...(names && x.name ? { Name: x.name } : {}),
    })
    if (boolOption(p, 'stream')) {
      const out = new NdjsonStream(res)
      for (const x of pins) await out.write({ Cid: x.cid, ...(names && x.name ? { Name: x.name } : {}), Type: x.type })
      out.end()
      return
    }
    const keys: Record<string, { Type: string; Name?: string }> = {}
    for (const x of pins) keys[x.cid] = entry(x)
    sendValue(res, { Keys: keys })
  },
}

const pinRm: Command = {
  spec: {
    args: [{ name: 'ipfs-path', required: true, variadic: true }],
    options: { recursive: { type: 'bool', aliases: ['r'], default: true } },
  },
  async run({ res, p, signal, api }) {
    const cids: string[] = []
    for (const arg of p.args) {
      const cid = (await resolveArg(api, arg, signal)).cid.toString()
      const pin = api.pins.get(cid)
      if (!pin) throw commandError('not pinned or pinned indirectly')
      if (pin.type === 'recursive' && !boolOption(p, 'recursive')) throw commandError(`${cid} is pinned recursively`)
      cids.push(cid)
    }
    api.pins.remove(cids, api.clock.now())
    // Kubo's pin rm: the pin goes, the data stays until garbage collection (gc.ts), after a grace period. The records
    // the removed pins reached start that period now (the walk is best effort: GC starts it for any it misses).
    if (api.pins.stored().length > 0) {
      try {
        const released = await reachableRecords(await api.client(), cids, signal)
        // A record still pinned as a root of its own keeps no release time (GC clears it for records other pins reach).
        api.pins.updateStored(
          {
            unpinned: [...released].filter((c) => api.pins.getStored(c) !== undefined && api.pins.get(c) === undefined),
          },
          api.clock.now(),
        )
      } catch (e) {
        api.logger.debug(
          { cids, err: toStratosError(e).message },
          'pin/rm: could not walk the unpinned DAGs; garbage collection will time them',
        )
      }
    }
    sendValue(res, { Pins: cids })
  },
}

// ---- garbage collection ---------------------------------------------------------------------------

/**
 * `repo/gc`: one garbage-collection pass now (gc.ts), streaming Kubo's `{"Key":{"/":cid}}` per deleted record.
 * Only what the API stored, no pin reaches and was released at least the grace period ago is deleted (Kubo deletes
 * every unpinned block at once; there is no local repo here, and a grace period makes an unpin by mistake safe).
 * A delete that fails is `{"Error":"…"}` with `stream-errors`, else the pass goes on and ends with Kubo's error.
 */
const repoGc: Command = {
  spec: {
    args: [],
    options: { 'stream-errors': { type: 'bool' }, quiet: { type: 'bool', aliases: ['q'] }, silent: { type: 'bool' } },
  },
  async run({ res, p, signal, api }) {
    const streamErrors = boolOption(p, 'stream-errors')
    const silent = boolOption(p, 'silent')
    // The head goes out with the first line: a pass that fails before deleting anything answers a plain error.
    const out = new NdjsonStream(res)
    const result = await api.gc.collect({
      signal,
      onRemoved: async (cid) => {
        if (!silent) await out.write({ Key: { '/': cid } })
      },
      onError: async (cid, err) => {
        if (streamErrors) await out.write({ Error: `could not remove ${cid}: ${err.message}` })
      },
    })
    if (result.errors.length && !streamErrors)
      throw commandError('encountered errors during gc run', 'UPSTREAM_ERROR', { errors: result.errors.slice(0, 20) })
    out.end()
  },
}

// ---- node info ----------------------------------------------------------------------------------

const id: Command = {
  spec: {
    args: [{ name: 'peerid', required: false }],
    options: { format: { type: 'string', aliases: ['f'] }, 'peerid-base': { type: 'string', default: 'b58mh' } },
  },
  async run({ res, p, api }) {
    if (p.args.length && p.args[0] !== api.peer.id)
      throw commandError('looking up other peers is not supported by this API')
    if (stringOption(p, 'format') !== undefined) throw clientError('option "format" is not supported by this API')
    sendValue(res, {
      ID: api.peer.id,
      PublicKey: api.peer.publicKey,
      Addresses: [],
      AgentVersion: `stratos-ts/${SOFTWARE_VERSION}/`,
      Protocols: [],
    })
  },
}

const version: Command = {
  spec: {
    args: [],
    options: {
      number: { type: 'bool', aliases: ['n'] },
      commit: { type: 'bool' },
      repo: { type: 'bool' },
      all: { type: 'bool' },
    },
  },
  async run({ res }) {
    sendValue(res, {
      Version: SOFTWARE_VERSION,
      Commit: '',
      Repo: 'stratos',
      System: `${arch()}/${platform()}`,
      Golang: `node${process.versions.node}`,
    })
  },
}

export const COMMANDS: Record<string, Command> = {
  add,
  cat,
  get,
  ls,
  'pin/add': pinAdd,
  'pin/ls': pinLs,
  'pin/rm': pinRm,
  'repo/gc': repoGc,
  'block/get': blockGet,
  'block/stat': blockStat,
  'dag/export': dagExport,
  'dag/import': dagImport,
  id,
  version,
}
