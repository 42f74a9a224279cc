/**
 * The auditor: every AUDIT_INTERVAL_MS one round of
 *   1. online samples: each registered node, at most once per ONLINE_SAMPLE_INTERVAL_MS, counts as online or not
 *      (nodes in maintenance are not sampled);
 *   2. audits: up to AUDIT_NODES_PER_ROUND online nodes not in maintenance and not audited within
 *      AUDIT_NODE_MIN_INTERVAL_MS (a per-node rate limit), in random order, each challenged on one random shard it
 *      holds (a random point in the node's part of the location index `refs`; shard ids are hashes, so this is a
 *      uniform pick), AUDIT_CONCURRENCY at a time;
 *   3. slashing: open incidents are reported to the chain (slasher.ts).
 * Rounds never overlap; stop() aborts the audits in flight and waits for the round to end.
 *
 * Outcomes: a verified answer passes. A failed audit is an answer that does not check out (AUDIT_INVALID,
 * INVALID_SIGNATURE — including an oversized or non-JSON answer) or the node saying it lost the shard
 * (SHARD_NOT_FOUND, SHARD_CORRUPT): the audit score drops and the location is marked bad (store.markBad) in the same
 * transaction, so repair rebuilds that shard. An unreachable node (NODE_UNAVAILABLE, TIMEOUT) costs an online sample
 * instead. Anything else changes nothing: clock skew (an expired answer, WRONG_CHAIN), a node that does not trust
 * this meta node yet, or another node answering at the URL (its refusal of a challenge not meant for it). A location released, or only placed by an upload that
 * is still open or by a repair copy still in flight (the bytes may not have arrived), is not held against the node.
 */
import { Agent, request, type Dispatcher } from 'undici'
import type { NodeKey } from '../../../crypto/node-key.ts'
import { StratosError, toStratosError } from '../../../errors.ts'
import {
  AUDIT_CHALLENGE_TTL_MS,
  AUDIT_CONCURRENCY,
  AUDIT_MAX_ANSWER_BYTES,
  AUDIT_STOP_WAIT_MS,
  AUDIT_INTERVAL_MS,
  AUDIT_NODE_MIN_INTERVAL_MS,
  AUDIT_NODES_PER_ROUND,
  AUDIT_TIMEOUT_MS,
  ONLINE_SAMPLE_INTERVAL_MS,
} from '../../../limits.ts'
import {
  randomFloat,
  randomHex,
  type Clock,
  type Logger,
  type RandomBytes,
  type Startable,
} from '../../../util/components.ts'
import { RESOURCE_ROUTES, type NodeView } from '../../protocol/api.ts'
import { createAuditChallenge, verifyAuditAnswer, type AuditAnswer } from '../../protocol/audit.ts'
import { transportError, withTimeout } from '../../../net/json-request.ts'
import type { Registry } from '../registry.ts'
import type { MetaStore } from '../store.ts'
import type { Reputation } from './reputation.ts'
import type { Slasher } from './slasher.ts'

export type AuditOutcome = 'passed' | 'failed' | 'unreachable' | 'skipped'

export interface AuditorOptions {
  store: MetaStore
  registry: Registry
  reputation: Reputation
  slasher: Slasher
  key: NodeKey
  chainId: string
  clock: Clock
  random: RandomBytes
  logger: Logger
  intervalMs?: number
  nodesPerRound?: number
  concurrency?: number
  nodeMinIntervalMs?: number
  onlineSampleIntervalMs?: number
  timeoutMs?: number
  /** False while another process of this meta node holds the background duties (leases.ts): the round is skipped. */
  onDuty?: () => boolean
}

export interface AuditRound {
  sampled: number
  audits: { node: string; shard: string; outcome: AuditOutcome }[]
}

/** Refusals in which the node says it does not hold the shard intact. (Its other refusals prove nothing.) */
const NODE_ADMITS_LOSS = new Set(['SHARD_NOT_FOUND', 'SHARD_CORRUPT'])
const UNREACHABLE = new Set(['NODE_UNAVAILABLE', 'TIMEOUT'])

export class Auditor implements Startable {
  /** Audits run since start, by outcome (metrics). */
  readonly outcomes: Record<AuditOutcome, number> = { passed: 0, failed: 0, unreachable: 0, skipped: 0 }
  readonly #o: AuditorOptions
  readonly #agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 })
  #timer: NodeJS.Timeout | undefined
  #round: Promise<unknown> | undefined
  #abort = new AbortController()

  constructor(options: AuditorOptions) {
    this.#o = options
  }

  async start(): Promise<void> {
    if (this.#timer) return
    this.#abort = new AbortController()
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs ?? AUDIT_INTERVAL_MS)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    this.#abort.abort()
    // Audits end at once (aborted); a slash report waiting for inclusion gets a moment, then is resumed after a restart.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.#round?.catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, AUDIT_STOP_WAIT_MS)
      }),
    ])
    clearTimeout(timer)
    await this.#agent.close().catch(() => {})
  }

  #tick(): void {
    if (this.#round || this.#o.store.closed) return
    if (this.#o.onDuty && !this.#o.onDuty()) return
    this.#round = this.runRound(this.#abort.signal)
      .catch((e: unknown) => {
        if (!this.#abort.signal.aborted) this.#o.logger.error({ err: e }, 'audit round failed')
      })
      .finally(() => {
        this.#round = undefined
      })
  }

  /** One round (see the file comment). Public for operators' tools and tests. */
  async runRound(signal?: AbortSignal): Promise<AuditRound> {
    const { registry, reputation, clock, random, store } = this.#o
    const now = clock.now()
    const views = registry.views(now)
    const sampleEvery = this.#o.onlineSampleIntervalMs ?? ONLINE_SAMPLE_INTERVAL_MS
    const samples = views
      .filter((v) => {
        const last = reputation.get(v.address).lastOnlineSampleAt
        return last === undefined || now - last >= sampleEvery
      })
      .map((v) => ({ node: v.address, online: v.state === 'online' }))
    await reputation.recordOnlineMany(samples, now)
    const sampled = samples.length
    const minGap = this.#o.nodeMinIntervalMs ?? AUDIT_NODE_MIN_INTERVAL_MS
    const due = views.filter((v) => {
      if (v.state !== 'online' || reputation.maintenanceUntil(v.address, now) !== undefined) return false
      const last = reputation.get(v.address).lastAuditAt
      return last === undefined || now - last >= minGap
    })
    // Fisher–Yates with the injected randomness: which nodes go first is unpredictable to them.
    for (let i = due.length - 1; i > 0; i--) {
      const j = Math.floor(randomFloat(random) * (i + 1))
      ;[due[i], due[j]] = [due[j], due[i]]
    }
    const picked: { view: NodeView; shard: string }[] = []
    for (const view of due) {
      if (picked.length >= (this.#o.nodesPerRound ?? AUDIT_NODES_PER_ROUND)) break
      // An async read (on PostgreSQL a read outside a transaction blocks the event loop); the start key drawn outside
      // it, so a run of it again (one per round of reads) reads the same range.
      const from = randomHex(random, 32)
      const shard = await store.read(() => this.pickShard(view.address, from))
      if (shard !== undefined) picked.push({ view, shard })
    }
    const audits: AuditRound['audits'] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < picked.length && !signal?.aborted) {
        const { view, shard } = picked[next++]
        audits.push({ node: view.address, shard, outcome: await this.audit(view.address, view.url, shard, signal) })
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency ?? AUDIT_CONCURRENCY, picked.length) }, worker))
    if (!signal?.aborted) await this.#o.slasher.run()
    return { sampled, audits }
  }

  /** A random shard the index places on `node` (undefined when none). */
  pickShard(node: string, from = randomHex(this.#o.random, 32)): string | undefined {
    const { store } = this.#o
    return store.locations.firstReferencedAtOrAfter(node, from) ?? store.locations.firstReferencedAtOrAfter(node, '')
  }

  /** Challenges `node` (at `url`) on `shard` and records the outcome. */
  async audit(node: string, url: string, shard: string, signal?: AbortSignal): Promise<AuditOutcome> {
    const outcome = await this.#audit(node, url, shard, signal)
    this.outcomes[outcome]++
    return outcome
  }

  async #audit(node: string, url: string, shard: string, signal?: AbortSignal): Promise<AuditOutcome> {
    const { key, chainId, clock, random, reputation, logger, store } = this.#o
    const now = clock.now()
    const challenge = createAuditChallenge({ key, chainId, node, shard, now, random, ttlMs: AUDIT_CHALLENGE_TTL_MS })
    let failure: string | undefined
    try {
      const answer = (await this.#post(url + RESOURCE_ROUTES.audit, challenge, signal)) as AuditAnswer
      try {
        verifyAuditAnswer(answer, challenge.payload, { chainId, now: clock.now() })
      } catch (e) {
        const err = toStratosError(e)
        // The answer itself does not check out. (An expired one — clock skew, a stalled node — proves nothing.)
        if (err.code !== 'AUDIT_INVALID' && err.code !== 'INVALID_SIGNATURE') throw err
        failure = err.code
      }
    } catch (e) {
      if (signal?.aborted) return 'skipped'
      const err = toStratosError(e)
      if (UNREACHABLE.has(err.code)) {
        await reputation.recordOnline(node, false, now)
        logger.debug({ node, shard, code: err.code }, 'audit: node unreachable')
        return 'unreachable'
      }
      if (!NODE_ADMITS_LOSS.has(err.code) && !(err.code === 'AUDIT_INVALID' && err.details?.answer === true)) {
        logger.warn({ node, shard, code: err.code, err: err.message }, 'audit inconclusive')
        return 'skipped'
      }
      failure = err.code
    }
    if (failure === undefined) {
      await reputation.recordAudit(node, true, now)
      return 'passed'
    }
    if (!(await store.read(() => this.#heldAgainstNode(node, shard, now)))) return 'skipped'
    await reputation.recordAudit(node, false, now, () => {
      store.locations.markBad(node, shard, now)
    })
    logger.warn({ node, shard, code: failure }, 'audit failed: location marked bad')
    return 'failed'
  }

  /** POSTs a challenge; reads at most AUDIT_MAX_ANSWER_BYTES of the answer (more fails the audit: AUDIT_INVALID). */
  async #post(url: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const s = withTimeout(signal, this.#o.timeoutMs ?? AUDIT_TIMEOUT_MS)
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: s,
      })
    } catch (e) {
      throw transportError(e, url, signal)
    }
    const parts: Buffer[] = []
    let total = 0
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.length
        if (total > AUDIT_MAX_ANSWER_BYTES) {
          res.body.destroy()
          throw new StratosError('AUDIT_INVALID', `the answer exceeds ${AUDIT_MAX_ANSWER_BYTES} bytes`, {
            url,
            answer: true,
          })
        }
        parts.push(chunk)
      }
    } catch (e) {
      throw e instanceof StratosError ? e : transportError(e, url, signal)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.concat(parts).toString('utf8'))
    } catch {
      throw new StratosError(
        res.statusCode >= 400 ? 'UPSTREAM_ERROR' : 'AUDIT_INVALID',
        `the answer (HTTP ${res.statusCode}) is not JSON`,
        { url, answer: true },
      )
    }
    if (res.statusCode >= 400) throw StratosError.fromBody(parsed, res.statusCode)
    return parsed
  }

  /** Where the index stands on a location: referenced, marked bad, or neither (operators' tools and tests). */
  locationState(node: string, shard: string): 'referenced' | 'bad' | 'none' {
    const { store } = this.#o
    if (store.locations.refCount(node, shard) !== undefined) return 'referenced'
    return store.locations.isBad(node, shard) ? 'bad' : 'none'
  }

  /**
   * Only a location committed in a file counts: released ones are gone legitimately, open uploads and repair copies
   * in flight may be unwritten.
   * (One the node itself reported corrupt since the audit began — its heartbeat can beat our bookkeeping — counts.)
   */
  #heldAgainstNode(node: string, shard: string, since: number): boolean {
    const { store } = this.#o
    if (store.locations.refCount(node, shard) === undefined) {
      const bad = store.locations.badLocation(node, shard)
      if (bad === undefined || bad.reportedAt < since) return false
    }
    // A repair or replica copy in flight holds the ref before the bytes arrive (repair/).
    if (store.repair.copyInFlight(node, shard)) return false
    // An open upload may not have written it yet (one index lookup, not a scan of the open uploads).
    return !store.uploads.holdsLocation(node, shard)
  }
}
