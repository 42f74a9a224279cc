/**
 * S3Node (`stratos node s3`): the S3-compatible gateway as one process role.
 *
 * Layout of dataDir: node-key.json (this gateway's ed25519 identity: the delegate key every credential's delegation
 * names), s3-master.key (seals the credential secrets, credentials.ts), index/ (LMDB: store.ts) and parts/ (staged
 * multipart parts). Everything it promised a client is in index/ or parts/ before it answers, so a restart — clean
 * or after kill -9 — keeps buckets, objects, credentials and every acknowledged part.
 *
 * A sweeper aborts multipart uploads idle past their TTL (freeing their staged parts) and deletes, through the SDK,
 * the network files no object names any more (retried until the meta node agrees).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { NodeKey } from '../crypto/node-key.ts'
import { toBase64Url } from '../crypto/hash.ts'
import { StratosError, isStratosError } from '../errors.ts'
import {
  S3_DEFAULT_REGION,
  S3_MULTIPART_TTL_MS,
  S3_SWEEP_BATCH,
  S3_SWEEP_INTERVAL_MS,
  SOFTWARE_VERSION,
} from '../limits.ts'
import { MetaClient } from '../net/meta-client.ts'
import { closeServer, listen } from '../net/http-server.ts'
import {
  silentLogger,
  systemClock,
  systemRandom,
  type Clock,
  type Logger,
  type RandomBytes,
  type Startable,
} from '../util/components.ts'
import type { S3Services } from './context.ts'
import { Credentials } from './credentials.ts'
import { dropUpload } from './multipart.ts'
import { NetworkClients } from './network.ts'
import { createS3Server, type S3Info, type S3Server } from './server.ts'
import { createOps, type Ops } from '../net/ops.ts'
import { S3Store } from './store.ts'
import { Assemblers } from './assembler.ts'

export interface S3NodeOptions {
  dataDir: string
  host?: string
  /** 0 = ephemeral. */
  port: number
  metaUrl: string
  /** Default: the meta node's. */
  chainId?: string
  /** @default S3_DEFAULT_REGION */
  region?: string
  /** Virtual-hosted-style bucket addressing under this domain (`{bucket}.{domain}`); absent: path style only. */
  domain?: string
  /** @default S3_MULTIPART_TTL_MS */
  multipartTtlMs?: number
  /** @default S3_SWEEP_INTERVAL_MS */
  sweepIntervalMs?: number
  clock?: Clock
  random?: RandomBytes
  logger?: Logger
  /** /metrics, /healthz, /readyz and request metrics (default its own, role `s3`). */
  ops?: Ops
}

interface Running {
  store: S3Store
  network: NetworkClients
  http: S3Server
  url: string
  sweeper: NodeJS.Timeout
  sweeping: Promise<void> | undefined
}

export class S3Node implements Startable {
  readonly address: string
  readonly #o: S3NodeOptions
  readonly #key: NodeKey
  readonly #clock: Clock
  readonly #random: RandomBytes
  readonly #logger: Logger
  readonly ops: Ops
  #running: Running | undefined
  #services: S3Services | undefined
  #info: S3Info | undefined

  constructor(options: S3NodeOptions) {
    this.#o = options
    mkdirSync(options.dataDir, { recursive: true })
    this.#key = NodeKey.loadOrCreate(options.dataDir)
    this.address = this.#key.address
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? systemRandom
    this.#logger = options.logger ?? silentLogger
    this.ops = options.ops ?? createOps('s3')
  }

  get url(): string {
    if (!this.#running) throw new StratosError('NETWORK_CONFIG', 'the S3 gateway is not started')
    return this.#running.url
  }

  get info(): S3Info {
    if (!this.#info) throw new StratosError('NETWORK_CONFIG', 'the S3 gateway is not started')
    return this.#info
  }

  async start(): Promise<void> {
    if (this.#running) return
    const o = this.#o
    const meta = new MetaClient(o.metaUrl)
    // Given a chain id, the gateway starts without the meta node (clients connect on first use, checking it).
    const chainId = o.chainId ?? (await meta.info()).chainId
    const partsDir = join(o.dataDir, 'parts')
    mkdirSync(partsDir, { recursive: true })
    const store = S3Store.open(join(o.dataDir, 'index'))
    const delegateKey = toBase64Url(this.#key.publicKey)
    const network = new NetworkClients({
      metaUrl: o.metaUrl,
      chainId,
      key: this.#key,
      clock: this.#clock,
      random: this.#random,
    })
    const services: S3Services = {
      store,
      credentials: new Credentials({
        store,
        dataDir: o.dataDir,
        meta,
        chainId,
        delegateKey,
        clock: this.#clock,
        random: this.#random,
      }),
      network,
      clock: this.#clock,
      random: this.#random,
      logger: this.#logger,
      partsDir,
      region: o.region ?? S3_DEFAULT_REGION,
      multipartTtlMs: o.multipartTtlMs ?? S3_MULTIPART_TTL_MS,
      kickDeleter: () => this.#sweep(),
      assemblers: new Assemblers(),
    }
    this.#services = services
    const info: S3Info = {
      address: this.address,
      delegateKey,
      chainId,
      metaUrl: o.metaUrl,
      region: services.region,
      version: SOFTWARE_VERSION,
    }
    this.#info = info
    // Ready while the index is open and the meta node answers (every object operation goes through it).
    this.ops.health
      .addCheck('index', () => (this.#running ? undefined : 'not started'))
      .addCheck('meta', async () => {
        try {
          await meta.info()
          return undefined
        } catch (e) {
          return `meta node unreachable: ${(e as Error).message}`
        }
      })
    const http = createS3Server({ services, info, ops: this.ops, ...(o.domain ? { domain: o.domain } : {}) })
    let url: string
    try {
      url = await listen(http.server, o.host ?? '127.0.0.1', o.port)
    } catch (e) {
      await store.close()
      throw e
    }
    const sweeper = setInterval(() => this.#sweep(), o.sweepIntervalMs ?? S3_SWEEP_INTERVAL_MS)
    sweeper.unref()
    this.#running = { store, network, http, url, sweeper, sweeping: undefined }
    this.#logger.info({ url, address: this.address, chainId }, 's3 gateway started')
    this.#sweep()
  }

  /** One sweep at a time: abort expired multipart uploads, delete network files nothing names. */
  #sweep(): void {
    const r = this.#running
    const s = this.#services
    if (!r || !s || r.sweeping) return
    r.sweeping = this.#sweepOnce(s)
      .catch((e: unknown) => this.#logger.warn({ err: e }, 's3 sweep failed'))
      .finally(() => {
        r.sweeping = undefined
      })
  }

  async #sweepOnce(s: S3Services): Promise<void> {
    const now = this.#clock.now()
    const expired = []
    for (const { value } of s.store.uploads.getRange()) {
      if (expired.length >= S3_SWEEP_BATCH) break
      if (value.expiresAt <= now) expired.push(value)
    }
    for (const u of expired) {
      await dropUpload(s, u)
      this.#logger.info({ uploadId: u.uploadId, bucket: u.bucket, key: u.key }, 'abandoned multipart upload expired')
    }
    const unrefs: [string, string][] = []
    for (const key of s.store.unrefs.getKeys({ limit: S3_SWEEP_BATCH })) unrefs.push(key)
    for (const [owner, cid] of unrefs) {
      if (!this.#running) return
      try {
        // Without a live credential the gateway cannot act for the wallet: the file stays queued (its wallet can
        // delete it itself) until a credential of the wallet is made again.
        const cred = this.#credentialOf(s, owner)
        if (!cred) continue
        const client = await s.network.client(owner, cred)
        await client.rm(cid)
      } catch (e) {
        // Gone already: nothing left to delete. Anything else: try again on the next sweep.
        if (!(isStratosError(e) && (e.code === 'FILE_NOT_FOUND' || e.code === 'NOT_OWNER'))) {
          this.#logger.warn({ err: e, cid }, 'deleting an unreferenced network file failed; will retry')
          continue
        }
      }
      await s.store.write(() => {
        if (s.store.refs.get([owner, cid]) === undefined) s.store.unrefs.removeSync([owner, cid])
      })
    }
  }

  /** A live delegation of `owner` to act with (any of its unrevoked, unexpired credentials). */
  #credentialOf(s: S3Services, owner: string): string | undefined {
    const now = this.#clock.now()
    for (const key of s.store.ownerCreds.getKeys({ start: [owner, ''], end: [owner, '\uffff'] })) {
      const c = s.store.credentials.get(key[1])
      if (c && c.revokedAt === undefined && c.expiresAt > now) return c.delegationId
    }
    return undefined
  }

  async stop(): Promise<void> {
    const r = this.#running
    if (!r) return
    this.#running = undefined
    clearInterval(r.sweeper)
    this.#services?.assemblers.dropAll()
    await closeServer(r.http.server)
    await r.http.drain()
    await r.sweeping
    await r.network.close()
    await r.store.close()
    this.#logger.info({ address: this.address }, 's3 gateway stopped')
  }
}

export async function startS3Node(options: S3NodeOptions): Promise<S3Node> {
  const node = new S3Node(options)
  await node.start()
  return node
}
