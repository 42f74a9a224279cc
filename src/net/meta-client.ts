/**
 * Typed client for the meta node API (one method per route of META_ROUTES).
 *
 * It lives in src/net, not in src/sds/protocol: it does HTTP (undici), and the protocol folder is the pure wire
 * contract (routes, schemas, signing) that servers and clients share. Not in src/sds/client either: the resource
 * node (heartbeats, settlement) and the CLI use it too, and a role never imports another role's folder.
 *
 * One meta node may run as several processes behind several URLs (over one shared index, docs/operations.md): the
 * client takes them all — an array, or one string of comma-separated URLs, so every `metaUrl` option and `--meta`
 * flag accepts a list — and fails over. A request that cannot reach a process (NODE_UNAVAILABLE: refused, reset,
 * or that process answered 503 because it lost its index; BUSY: its index kept conflicting) or times out is sent to
 * the next URL, each URL tried once per call; the URL that answered is tried first next time. Repeating a request is safe: every state-changing
 * request is signed with a nonce or sequence number, so one that did land the first time is refused
 * (REPLAYED_NONCE, CONFLICT), never applied twice.
 *
 * @example
 * const meta = new MetaClient('http://127.0.0.1:7100')
 * const info = await meta.info()
 */
import type { Dispatcher } from 'undici'
import { StratosError } from '../errors.ts'
import { jsonRequest } from './json-request.ts'
import { DELEGATION_ROUTES, type DelegationView } from '../sds/protocol/api.ts'
import type { SignedDelegationCreate, SignedDelegationList, SignedDelegationRevoke } from '../sds/protocol/messages.ts'
import {
  META_ROUTES,
  type CommitBody,
  type FileList,
  type FileRecordView,
  type MetaInfo,
  type NetworkStatus,
  type NodeView,
  type PlanSegmentBody,
  type PlanSegmentResponse,
  type Placement,
  type ReadBody,
  type ReadResponse,
  type ReplaceShardBody,
  type UploadSession,
  type SettleOrdersBody,
  type SettleOrdersResponse,
} from '../sds/protocol/api.ts'
import { SHARE_ROUTES, type ShareResolution, type ShareResolveBody, type ShareView } from '../sds/protocol/api.ts'
import type { FileTraffic, NodeTrafficList } from '../sds/protocol/api.ts'
import type { SignedShareCreate, SignedShareList, SignedShareRevoke } from '../sds/protocol/messages.ts'
import type { SignedMaintenance } from '../sds/protocol/audit.ts'
import { ACCESS_HEADER, type AbortUploadBody, type BudgetView, type GrantView } from '../sds/protocol/api.ts'
import type {
  SignedBudget,
  SignedBudgetList,
  SignedGrantCreate,
  SignedGrantList,
  SignedGrantRevoke,
  SignedVisibility,
} from '../sds/protocol/messages.ts'
import type {
  SignedCreateUpload,
  SignedDelete,
  SignedHeartbeatReplyT,
  SignedHeartbeatT,
} from '../sds/protocol/types.ts'

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export interface MetaClientOptions {
  dispatcher?: Dispatcher
  /** The ACCESS_HEADER value each request carries (who it acts for); absent or undefined: anonymous. */
  access?: () => string | undefined
  /**
   * A check every answer waits for before it is returned (StratosClient's chain-id check, made by an `info` request
   * sent beside the first call instead of before it): requests go out at once, but no answer reaches the caller
   * before the check passed, and when it fails every call fails with its error.
   */
  gate?: Promise<unknown>
}

/** The URLs of one meta node: an array, or a string of comma-separated URLs; trailing slashes dropped. */
export function metaUrls(url: string | readonly string[]): string[] {
  const list = (typeof url === 'string' ? url.split(',') : [...url]).map((u) => u.trim().replace(/\/+$/, ''))
  return list.filter((u) => u.length > 0)
}

/** Errors after which the same request goes to the meta node's next URL. */
function failsOver(e: unknown): boolean {
  return e instanceof StratosError && (e.code === 'NODE_UNAVAILABLE' || e.code === 'TIMEOUT' || e.code === 'BUSY')
}

/** The gate, or ABORTED as soon as `signal` aborts: a Ctrl-C does not wait for the check's own request to end. */
function gateOrAbort(gate: Promise<unknown>, signal: AbortSignal | undefined): Promise<unknown> {
  if (!signal) return gate
  const aborted = () => new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal.reason })
  if (signal.aborted) return Promise.reject(aborted())
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted())
    signal.addEventListener('abort', onAbort, { once: true })
    gate.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

export class MetaClient {
  /** Every URL of this meta node, in the order given. */
  readonly urls: readonly string[]
  readonly #dispatcher: Dispatcher | undefined
  readonly #access: (() => string | undefined) | undefined
  readonly #gate: Promise<unknown> | undefined
  /** Index into `urls` of the URL tried first (the last one that answered). */
  #current = 0

  constructor(url: string | readonly string[], options: MetaClientOptions = {}) {
    this.urls = metaUrls(url)
    if (this.urls.length === 0) throw new StratosError('NETWORK_CONFIG', 'a meta node needs at least one URL')
    this.#dispatcher = options.dispatcher
    this.#access = options.access
    this.#gate = options.gate
    // Awaited by every call; a gate no call ever waited for must not end the process as an unhandled rejection.
    this.#gate?.catch(() => undefined)
  }

  /** The URL requests go to first now. */
  get url(): string {
    return this.urls[this.#current]!
  }

  /** The same meta node, the same connections, acting for another accessor. */
  withAccess(access: () => string | undefined): MetaClient {
    return new MetaClient(this.urls, {
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      access,
      ...(this.#gate ? { gate: this.#gate } : {}),
    })
  }

  /** #send, then the gate (options.gate): its failure wins over the call's own (it explains it: WRONG_CHAIN). */
  async #failover<T>(send: (base: string) => Promise<T>, o: CallOptions | undefined): Promise<T> {
    if (this.#gate === undefined) return this.#send(send, o)
    const answer = this.#send(send, o)
    answer.catch(() => undefined)
    await gateOrAbort(this.#gate, o?.signal)
    return answer
  }

  /** Runs `send` against each URL in turn, from the current one, until one answers or fails for another reason. */
  async #send<T>(send: (base: string) => Promise<T>, o: CallOptions | undefined): Promise<T> {
    const n = this.urls.length
    const first = this.#current
    for (let i = 0; ; i++) {
      const at = (first + i) % n
      try {
        const result = await send(this.urls[at]!)
        this.#current = at
        return result
      } catch (e) {
        if (i + 1 >= n || !failsOver(e) || o?.signal?.aborted) throw e
      }
    }
  }

  #headers(): Record<string, string> | undefined {
    const value = this.#access?.()
    return value === undefined ? undefined : { [ACCESS_HEADER]: value }
  }

  #path(base: string, route: string, params: Record<string, string> = {}): string {
    return base + route.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params[k] ?? ''))
  }

  #get<T>(
    route: string,
    params?: Record<string, string>,
    o: CallOptions = {},
    query?: Record<string, string | number | undefined>,
  ): Promise<T> {
    const q = Object.entries(query ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    const search = q.length ? '?' + q.join('&') : ''
    return this.#failover(
      (base) =>
        jsonRequest<T>(this.#path(base, route, params) + search, {
          method: 'GET',
          dispatcher: this.#dispatcher,
          headers: this.#headers(),
          ...o,
        }),
      o,
    )
  }

  #post<T>(route: string, params: Record<string, string> | undefined, body: unknown, o: CallOptions = {}): Promise<T> {
    return this.#failover(
      (base) =>
        jsonRequest<T>(this.#path(base, route, params), {
          method: 'POST',
          body,
          dispatcher: this.#dispatcher,
          headers: this.#headers(),
          ...o,
        }),
      o,
    )
  }

  info(o?: CallOptions): Promise<MetaInfo> {
    return this.#get(META_ROUTES.info, undefined, o)
  }

  heartbeat(body: SignedHeartbeatT, o?: CallOptions): Promise<SignedHeartbeatReplyT> {
    return this.#post(META_ROUTES.heartbeat, undefined, body, o)
  }

  /** Planned downtime of a resource node (request signed by its node key; audit.ts). */
  maintenance(body: SignedMaintenance, o?: CallOptions): Promise<NodeView> {
    return this.#post(META_ROUTES.maintenance, undefined, body, o)
  }

  async nodes(o?: CallOptions): Promise<NodeView[]> {
    return (await this.#get<{ nodes: NodeView[] }>(META_ROUTES.nodes, undefined, o)).nodes
  }

  status(o?: CallOptions): Promise<NetworkStatus> {
    return this.#get(META_ROUTES.status, undefined, o)
  }

  createUpload(body: SignedCreateUpload, o?: CallOptions): Promise<UploadSession> {
    return this.#post(META_ROUTES.uploads, undefined, body, o)
  }

  planSegment(uploadId: string, body: PlanSegmentBody, o?: CallOptions): Promise<PlanSegmentResponse> {
    return this.#post(META_ROUTES.planSegment, { id: uploadId }, body, o)
  }

  async replaceShard(uploadId: string, body: ReplaceShardBody, o?: CallOptions): Promise<Placement> {
    return (await this.#post<{ placement: Placement }>(META_ROUTES.replaceShard, { id: uploadId }, body, o)).placement
  }

  async commit(uploadId: string, body: CommitBody, o?: CallOptions): Promise<FileRecordView> {
    return (await this.#post<{ file: FileRecordView }>(META_ROUTES.commit, { id: uploadId }, body, o)).file
  }

  async abort(uploadId: string, body: AbortUploadBody, o?: CallOptions): Promise<void> {
    await this.#failover(
      (base) =>
        jsonRequest(this.#path(base, META_ROUTES.abort, { id: uploadId }), {
          method: 'DELETE',
          body,
          dispatcher: this.#dispatcher,
          headers: this.#headers(),
          ...o,
        }),
      o,
    )
  }

  listFiles(query: { owner?: string; limit?: number; after?: string } = {}, o?: CallOptions): Promise<FileList> {
    return this.#get(META_ROUTES.files, undefined, o, query)
  }

  file(cid: string, o?: CallOptions): Promise<FileRecordView> {
    return this.#get(META_ROUTES.file, { cid }, o)
  }

  async fileDag(cid: string, o?: CallOptions): Promise<string[]> {
    return (await this.#get<{ blocks: string[] }>(META_ROUTES.fileDag, { cid }, o)).blocks
  }

  read(cid: string, body: ReadBody, o?: CallOptions): Promise<ReadResponse> {
    return this.#post(META_ROUTES.read, { cid }, body, o)
  }

  /** CIDs of the records whose DAG holds block `cid` (the record of `cid` itself first); FILE_NOT_FOUND if none. */
  async blockHolders(cid: string, o?: CallOptions): Promise<string[]> {
    return (await this.#get<{ files: string[] }>(META_ROUTES.blocks, { cid }, o)).files
  }

  deleteFile(cid: string, body: SignedDelete, o?: CallOptions): Promise<{ deleted: true; remainingOwners: number }> {
    return this.#post(META_ROUTES.deleteFile, { cid }, body, o)
  }

  /** A resource node hands its settleable (ticket, highest order) pairs to the meta node (Proof of Traffic). */
  settleOrders(body: SettleOrdersBody, o?: CallOptions): Promise<SettleOrdersResponse> {
    return this.#post(META_ROUTES.settleOrders, undefined, body, o)
  }

  // ---- Proof of Traffic views ------------------------------------------------------------------
  trafficNodes(query: { epoch?: number } = {}, o?: CallOptions): Promise<NodeTrafficList> {
    return this.#get(META_ROUTES.trafficNodes, undefined, o, query)
  }

  fileTraffic(cid: string, o?: CallOptions): Promise<FileTraffic> {
    return this.#get(META_ROUTES.fileTraffic, { cid }, o)
  }

  // ---- Access: visibility, budgets, grants ------------------------------------------------------
  setVisibility(cid: string, body: SignedVisibility, o?: CallOptions): Promise<FileRecordView> {
    return this.#post(META_ROUTES.visibility, { cid }, body, o)
  }

  setBudget(body: SignedBudget, o?: CallOptions): Promise<BudgetView> {
    return this.#post(META_ROUTES.budgets, undefined, body, o)
  }

  async listBudgets(body: SignedBudgetList, o?: CallOptions): Promise<BudgetView[]> {
    return (await this.#post<{ budgets: BudgetView[] }>(META_ROUTES.budgetList, undefined, body, o)).budgets
  }

  createGrant(body: SignedGrantCreate, o?: CallOptions): Promise<GrantView> {
    return this.#post(META_ROUTES.grants, undefined, body, o)
  }

  async listGrants(body: SignedGrantList, o?: CallOptions): Promise<GrantView[]> {
    return (await this.#post<{ grants: GrantView[] }>(META_ROUTES.grantList, undefined, body, o)).grants
  }

  revokeGrant(id: string, body: SignedGrantRevoke, o?: CallOptions): Promise<GrantView> {
    return this.#post(META_ROUTES.grantRevoke, { id }, body, o)
  }

  // ---- Share links ----------------------------------------------------------------------------
  createShare(body: SignedShareCreate, o?: CallOptions): Promise<ShareView> {
    return this.#post(SHARE_ROUTES.create, undefined, body, o)
  }

  async listShares(body: SignedShareList, o?: CallOptions): Promise<ShareView[]> {
    return (await this.#post<{ shares: ShareView[] }>(SHARE_ROUTES.list, undefined, body, o)).shares
  }

  revokeShare(id: string, body: SignedShareRevoke, o?: CallOptions): Promise<ShareView> {
    return this.#post(SHARE_ROUTES.revoke, { id }, body, o)
  }

  /** Unauthenticated: what link `id` points at, given its password when it has one. */
  resolveShare(id: string, body: ShareResolveBody = {}, o?: CallOptions): Promise<ShareResolution> {
    return this.#post(SHARE_ROUTES.resolve, { id }, body, o)
  }

  createDelegation(body: SignedDelegationCreate, o?: CallOptions): Promise<DelegationView> {
    return this.#post(DELEGATION_ROUTES.create, undefined, body, o)
  }

  async listDelegations(body: SignedDelegationList, o?: CallOptions): Promise<DelegationView[]> {
    return (await this.#post<{ delegations: DelegationView[] }>(DELEGATION_ROUTES.list, undefined, body, o)).delegations
  }

  delegation(id: string, o?: CallOptions): Promise<DelegationView> {
    return this.#get(DELEGATION_ROUTES.get, { id }, o)
  }

  revokeDelegation(id: string, body: SignedDelegationRevoke, o?: CallOptions): Promise<DelegationView> {
    return this.#post(DELEGATION_ROUTES.revoke, { id }, body, o)
  }
}
