/**
 * MetaNode: wires the index (LMDB), the registry, uploads, files and the HTTP API into one Startable process role.
 *
 * Layout of dataDir: node-key.json (this meta node's ed25519 identity, which signs tickets and heartbeat replies)
 * and index/ (the LMDB environment, see store.ts). Everything the node knows lives in index/, written in atomic
 * transactions, so a restart — clean or after kill -9 — resumes with files, open uploads and pending deletes intact.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { NodeKey } from '../../crypto/node-key.ts'
import { toBase64Url } from '../../crypto/hash.ts'
import { StratosError } from '../../errors.ts'
import {
  DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_SEGMENT_BYTES, HEARTBEAT_INTERVAL_MS, META_RECORD_CACHE_BYTES, NODE_OFFLINE_AFTER_MS,
  SOFTWARE_VERSION, UPLOAD_SESSION_TTL_MS, UPLOAD_SWEEP_INTERVAL_MS,
} from '../../limits.ts'
import { silentLogger, systemClock, systemRandom, type Clock, type Logger, type RandomBytes, type Startable } from '../../util/components.ts'
import { closeServer, listen } from '../../util/http-server.ts'
import type { MetaInfo, NetworkStatus } from '../protocol/api.ts'
import { Files } from './files.ts'
import { Registry } from './registry.ts'
import { createMetaServer, type MetaServer } from './server.ts'
import { MetaStore } from './store.ts'
import { Uploads } from './uploads.ts'
import { RecordCache } from './record-cache.ts'

export interface MetaNodeOptions {
  /** Holds node-key.json and the LMDB env (index/). */
  dataDir: string
  host?: string
  /** 0 = ephemeral. */
  port: number
  chainId: string
  /** Told to clients in /v1/info; default DEFAULT_DATA_SHARDS / DEFAULT_PARITY_SHARDS / DEFAULT_SEGMENT_BYTES. */
  defaults?: { k: number; m: number; segmentSize: number }
  /** Default NODE_OFFLINE_AFTER_MS. */
  offlineAfterMs?: number
  /** Told to nodes in heartbeat replies; default HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number
  /** Default UPLOAD_SESSION_TTL_MS. */
  sessionTtlMs?: number
  /** Default UPLOAD_SWEEP_INTERVAL_MS. */
  sweepIntervalMs?: number
  clock?: Clock
  random?: RandomBytes
  logger?: Logger
}

interface Running {
  store: MetaStore
  uploads: Uploads
  http: MetaServer
  url: string
  sweeper: NodeJS.Timeout
  /** The sweep in progress, if any (stop() waits for it before closing the index). */
  sweeping: Promise<void> | undefined
}

export class MetaNode implements Startable {
  readonly address: string
  readonly #o: MetaNodeOptions
  readonly #key: NodeKey
  readonly #clock: Clock
  readonly #logger: Logger
  #running: Running | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined

  constructor(options: MetaNodeOptions) {
    this.#o = options
    mkdirSync(options.dataDir, { recursive: true })
    this.#key = NodeKey.loadOrCreate(options.dataDir)
    this.address = this.#key.address
    this.#clock = options.clock ?? systemClock
    this.#logger = options.logger ?? silentLogger
  }

  get url(): string {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the meta node is not started')
    return this.#running.url
  }

  async start(): Promise<void> {
    if (this.#running) return
    if (this.#stopping) await this.#stopping
    this.#starting ??= this.#start().finally(() => { this.#starting = undefined })
    return this.#starting
  }

  async #start(): Promise<void> {
    const o = this.#o
    const clock = this.#clock
    const logger = this.#logger
    const random = o.random ?? systemRandom
    const defaults = o.defaults ?? { k: DEFAULT_DATA_SHARDS, m: DEFAULT_PARITY_SHARDS, segmentSize: DEFAULT_SEGMENT_BYTES }
    const store = await MetaStore.open(join(o.dataDir, 'index'))
    try {
      const common = { store, key: this.#key, chainId: o.chainId, clock, logger }
      const registry = new Registry({
        ...common,
        offlineAfterMs: o.offlineAfterMs ?? NODE_OFFLINE_AFTER_MS,
        heartbeatIntervalMs: o.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
      })
      const records = new RecordCache(META_RECORD_CACHE_BYTES)
      const uploads = new Uploads({ ...common, registry, records, random, sessionTtlMs: o.sessionTtlMs ?? UPLOAD_SESSION_TTL_MS })
      const files = new Files({ ...common, registry, records, random })
      const info: MetaInfo = { address: this.address, key: toBase64Url(this.#key.publicKey), chainId: o.chainId, version: SOFTWARE_VERSION, defaults }
      const status = (): NetworkStatus => {
        const nodes = registry.views()
        const online = nodes.filter((n) => n.state === 'online')
        const counters = store.counters()
        return {
          chainId: o.chainId,
          meta: { address: this.address, version: SOFTWARE_VERSION },
          nodes,
          totals: {
            nodesOnline: online.length,
            nodesOffline: nodes.length - online.length,
            // Capacity the network can use now: online nodes only.
            capacityBytes: online.reduce((s, n) => s + n.capacityBytes, 0),
            freeBytes: online.reduce((s, n) => s + n.freeBytes, 0),
            usedBytes: online.reduce((s, n) => s + n.usedBytes, 0),
            files: counters.files,
            fileBytes: counters.fileBytes,
            openUploads: store.openUploads(),
          },
        }
      }
      const api = createMetaServer({ info: () => info, status, registry, uploads, files }, logger)
      const url = await listen(api.server, o.host ?? '127.0.0.1', o.port)
      const sweeper = setInterval(() => this.#sweep(), o.sweepIntervalMs ?? UPLOAD_SWEEP_INTERVAL_MS)
      sweeper.unref()
      this.#running = { store, uploads, http: api, url, sweeper, sweeping: undefined }
      logger.info({ address: this.address, url, chainId: o.chainId }, 'meta node started')
    } catch (e) {
      await store.close()
      throw e
    }
  }

  #sweep(): void {
    const r = this.#running
    if (!r || r.sweeping || r.store.closed) return
    r.sweeping = r.uploads.sweep()
      .then(() => {}, (e: unknown) => { this.#logger.error({ err: e }, 'upload sweep failed') })
      .finally(() => { r.sweeping = undefined })
  }

  /** Stops accepting requests, lets running ones finish, then closes the index. Idempotent. */
  async stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => {})
    this.#stopping ??= this.#stop().finally(() => { this.#stopping = undefined })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const r = this.#running
    if (!r) return
    this.#running = undefined
    clearInterval(r.sweeper)
    await closeServer(r.http.server)
    await r.http.drain()
    await r.sweeping
    await r.store.close()
    this.#logger.info({ address: this.address }, 'meta node stopped')
  }
}

export async function startMetaNode(options: MetaNodeOptions): Promise<MetaNode> {
  const node = new MetaNode(options)
  await node.start()
  return node
}
