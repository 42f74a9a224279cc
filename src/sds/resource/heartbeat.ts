/**
 * Heartbeat loop: every interval the node tells the meta node what it holds and how it is doing
 * (a NodeSigned Heartbeat), and carries out the deletions the meta node's signed reply asks for.
 *
 * Reports are at-least-once: the corrupt and deleted lists of a heartbeat are dropped only once
 * a verified reply acknowledges that very heartbeat (same seq); otherwise they go again next time.
 * `seq` starts from the clock, so it keeps increasing across restarts. A meta node that is down
 * or answers garbage never stops the loop: the error is logged and the next tick tries again.
 */
import { StratosError, toStratosError } from '../../errors.ts'
import {
  CLIENT_CONTROL_TIMEOUT_MS,
  HEARTBEAT_MAX_REPORTED_SHARDS,
  HEARTBEAT_TTL_MS,
  MAX_DELETES_PER_HEARTBEAT,
  SOFTWARE_VERSION,
} from '../../limits.ts'
import type { NodeKey } from '../../crypto/node-key.ts'
import { zSignedHeartbeatReply, type Heartbeat } from '../protocol/messages.ts'
import { DOMAIN, signAsNode, verifyNodeSigned } from '../protocol/signing.ts'
import type { MetaClient } from '../../net/meta-client.ts'
import type { Clock, Logger, Startable } from '../../util/components.ts'
import type { ShardStore } from './store.ts'
import type { MetaTrust } from './meta-trust.ts'

/** Who may sign this loop's replies, and how to learn it (MetaTrust, or one meta node listed on chain). */
export type HeartbeatTrust = Pick<MetaTrust, 'known' | 'issuers' | 'resolve'>

/**
 * A node serving several meta nodes runs one loop per meta node; these tell the loop what belongs to its meta node.
 * Absent: the node serves one meta node and everything it holds is that meta node's.
 */
export interface HeartbeatScope {
  /** Shards and bytes this meta node placed here (undefined: everything the node holds). */
  totals(): { shardCount: number; usedBytes: number } | undefined
  /** Whether a corrupt shard is this meta node's to hear about. */
  reportsCorrupt(shard: string): boolean
  /** This meta node released the shard: true when nothing else holds it (the file can go). */
  release(shard: string): boolean
}

export interface HeartbeatComponents {
  store: ShardStore
  key: NodeKey
  chainId: string
  meta: MetaClient
  trust: HeartbeatTrust
  scope?: HeartbeatScope
  /** Whether `trust` is configured (no need to ask the meta node who it is). */
  trustConfigured: boolean
  clock: Clock
  logger: Logger
  /** URL advertised to the meta node. */
  url: () => string
  /** Transfers in progress. */
  load: () => number
  intervalMs: number
}

export class HeartbeatLoop implements Startable {
  readonly #c: HeartbeatComponents
  readonly #deleted = new Set<string>()
  #intervalMs: number
  #seq = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #abort: AbortController | undefined
  #identityChecked = false
  #lastProblem: string | undefined
  #acknowledged = 0
  #lastAcknowledgedAt: number | undefined

  constructor(components: HeartbeatComponents) {
    this.#c = components
    this.#intervalMs = components.intervalMs
  }

  /** Current interval (the meta node may change it in its replies). */
  get intervalMs(): number {
    return this.#intervalMs
  }

  /** Heartbeats answered with a verified reply since start. */
  get acknowledged(): number {
    return this.#acknowledged
  }

  /** When the last verified reply arrived (clock time), undefined before the first. */
  get lastAcknowledgedAt(): number | undefined {
    return this.#lastAcknowledgedAt
  }

  /** Deletions done but not yet acknowledged by the meta node. */
  pendingDeleted(): string[] {
    return [...this.#deleted]
  }

  async start(): Promise<void> {
    if (this.#abort) return
    this.#abort = new AbortController()
    this.#schedule(0)
  }

  async stop(): Promise<void> {
    const abort = this.#abort
    if (!abort || abort.signal.aborted) return
    abort.abort(new StratosError('ABORTED', 'heartbeat loop stopped'))
    clearTimeout(this.#timer)
    await this.#running
  }

  #schedule(delayMs: number): void {
    const signal = this.#abort?.signal
    if (!signal || signal.aborted) return
    this.#timer = setTimeout(() => {
      this.#running = this.beat(signal).finally(() => {
        this.#running = undefined
        this.#schedule(this.#intervalMs)
      })
    }, delayMs)
    this.#timer.unref()
  }

  /** One heartbeat round trip; never throws (errors are logged). Returns once deletions are done. */
  async beat(signal?: AbortSignal): Promise<void> {
    try {
      await this.#beat(signal)
      if (this.#lastProblem !== undefined)
        this.#c.logger.info({ metaUrl: this.#c.meta.url }, 'meta node reachable again')
      this.#lastProblem = undefined
    } catch (e) {
      if (signal?.aborted) return
      const err = toStratosError(e)
      const network = err.code === 'NODE_UNAVAILABLE' || err.code === 'TIMEOUT' || err.code === 'ABORTED'
      const fields = { code: err.code, err: err.message, metaUrl: this.#c.meta.url }
      if (network || this.#lastProblem === err.code)
        this.#c.logger.debug(fields, 'heartbeat failed; retrying next tick')
      else if (err.code === 'UNTRUSTED_ISSUER')
        this.#c.logger.error(
          fields,
          'heartbeat reply signed by an untrusted meta node (delete meta.json to trust a new one)',
        )
      else this.#c.logger.warn(fields, 'heartbeat failed; retrying next tick')
      this.#lastProblem = err.code
    }
  }

  async #beat(signal: AbortSignal | undefined): Promise<void> {
    const { store, key, chainId, meta, trust, clock } = this.#c
    if (!trust.known || (!this.#c.trustConfigured && !this.#identityChecked)) {
      await trust.resolve(meta, signal)
      if (!trust.known) throw new StratosError('UNTRUSTED_ISSUER', 'no trusted meta node yet')
      this.#identityChecked = true
    }
    const now = clock.now()
    const seq = (this.#seq = Math.max(this.#seq + 1, now))
    const stats = await store.stats()
    const scope = this.#c.scope
    const owned = scope?.totals() ?? stats
    // The schema's bound on one heartbeat's lists; the rest go with the next heartbeats.
    const pendingCorrupt = store.pendingCorrupt()
    const corrupt = (scope ? pendingCorrupt.filter((id) => scope.reportsCorrupt(id)) : pendingCorrupt).slice(
      0,
      HEARTBEAT_MAX_REPORTED_SHARDS,
    )
    const deleted = [...this.#deleted].slice(0, HEARTBEAT_MAX_REPORTED_SHARDS)
    const payload: Heartbeat = {
      v: 1,
      chainId,
      node: key.address,
      url: this.#c.url(),
      version: SOFTWARE_VERSION,
      capacityBytes: stats.capacityBytes,
      freeBytes: stats.freeBytes,
      usedBytes: owned.usedBytes,
      shardCount: owned.shardCount,
      load: this.#c.load(),
      seq,
      corrupt,
      deleted,
      expiresAt: now + HEARTBEAT_TTL_MS,
    }
    const raw = await meta.heartbeat(signAsNode(DOMAIN.heartbeat, key, payload), {
      signal,
      timeoutMs: CLIENT_CONTROL_TIMEOUT_MS,
    })
    const parsed = zSignedHeartbeatReply.safeParse(raw)
    if (!parsed.success) throw new StratosError('UPSTREAM_ERROR', 'meta node sent a malformed heartbeat reply')
    const reply = verifyNodeSigned(DOMAIN.heartbeatReply, parsed.data, {
      chainId,
      now: clock.now(),
      trustedSigners: trust.issuers,
    })
    if (reply.node !== key.address || reply.seq !== seq) {
      throw new StratosError('UPSTREAM_ERROR', 'heartbeat reply is for another node or heartbeat', {
        node: reply.node,
        seq: reply.seq,
        expectedSeq: seq,
      })
    }
    this.#acknowledged++
    this.#lastAcknowledgedAt = clock.now()
    store.ackCorrupt(corrupt)
    for (const id of deleted) this.#deleted.delete(id)
    this.#intervalMs = reply.heartbeatIntervalMs
    // What is not done this round stays unacknowledged and is asked for again.
    let removed = 0
    for (const id of reply.deletes.slice(0, MAX_DELETES_PER_HEARTBEAT)) {
      if (signal?.aborted) break
      // Another meta node may hold the same shard (same bytes): then only this meta node's claim goes.
      if ((scope?.release(id) ?? true) && (await store.delete(id))) removed++
      this.#deleted.add(id)
    }
    if (removed) this.#c.logger.info({ removed, asked: reply.deletes.length }, 'deleted shards the meta node released')
  }
}
