/**
 * Reputation of resource nodes at this meta node: an audit score and an online score, suspension and reinstatement,
 * maintenance windows and slashing incidents. Persisted per node in the index's `reputation` database (store.ts),
 * with an in-memory copy (write-through, like the registry) so placement and views never touch the disk.
 *
 * Scores are beta reputations (Storj's design): alpha and beta start at (1/(1-λ), 0), i.e. a new node has score 1
 * backed by the weight of a full history; each outcome decays both by λ and adds 1 to alpha (success) or beta
 * (failure); score = alpha / (alpha + beta). With AUDIT_REPUTATION_LAMBDA = 0.9 a run of n failures from a clean
 * record leaves 0.9^n: 5 failures suspend (0.59 < AUDIT_SUSPEND_SCORE), and a suspended node climbs back above
 * AUDIT_REINSTATE_SCORE after about 7 passed audits in a row.
 *
 * Suspended (audit score < AUDIT_SUSPEND_SCORE or online score < ONLINE_SUSPEND_SCORE): no new placements, and its
 * shards count as unhealthy for repair (see NodeHealth). It is still audited; passing audits earn its way back:
 * reinstated when both scores are at or above their REINSTATE thresholds (hysteresis against flapping).
 *
 * Slashing incidents: AUDIT_SLASH_FAILURES failed audits within AUDIT_SLASH_WINDOW_MS, or an audit score below
 * AUDIT_SLASH_SCORE, open one incident (persisted): debtOzone = AUDIT_SLASH_DEBT_OZONE_PER_FAILURE × the failures
 * that made it. The slasher (slasher.ts) reports it to the chain exactly once. No new incident opens while one is
 * open, and failures meanwhile belong to it (they are not counted again); an incident closes when its report is
 * settled and the node is in good standing (reinstated).
 *
 * Maintenance: a node may announce planned downtime (≤ MAINTENANCE_MAX_MS): no new placements, no online samples
 * (its downtime does not count), no audits, and repair waits until the window ends.
 */
import { StratosError } from '../../../errors.ts'
import {
  AUDIT_REINSTATE_SCORE,
  AUDIT_REPUTATION_LAMBDA,
  AUDIT_SLASH_DEBT_OZONE_PER_FAILURE,
  AUDIT_SLASH_FAILURES,
  AUDIT_SLASH_SCORE,
  AUDIT_SLASH_WINDOW_MS,
  AUDIT_SUSPEND_SCORE,
  ONLINE_REINSTATE_SCORE,
  ONLINE_REPUTATION_LAMBDA,
  ONLINE_SUSPEND_SCORE,
} from '../../../limits.ts'
import type { Clock, Logger } from '../../../util/components.ts'
import type { NodeHealthState, NodeReputationView } from '../../protocol/api.ts'
import type { MetaStore } from '../store.ts'

export interface BetaScore {
  alpha: number
  beta: number
}

export type IncidentStatus = 'pending' | 'submitting' | 'submitted' | 'skipped'

export interface SlashIncident {
  /** 1, 2, … per node. */
  id: number
  openedAt: number
  failures: number
  /** Decimal string (ozone = bytes of traffic). */
  debtOzone: string
  status: IncidentStatus
  txHash?: string
  height?: number
  /** Why it was skipped, or the last submission error. */
  note?: string
  attempts: number
}

export interface NodeReputation {
  node: string
  audit: BetaScore
  online: BetaScore
  audits: number
  failedAudits: number
  lastAuditAt?: number
  lastOnlineSampleAt?: number
  /** Times of failed audits not yet part of an incident, within AUDIT_SLASH_WINDOW_MS (at most AUDIT_SLASH_FAILURES). */
  recentFailures: number[]
  suspended?: { at: number; reason: 'audit' | 'online' }
  maintenance?: { from: number; until: number }
  /** The open slashing incident, if any. */
  incident?: SlashIncident
  /** Incidents opened so far. */
  incidents: number
}

/** Thresholds and forgetting factors; defaults from limits.ts (tests may tighten them). */
export interface ReputationParams {
  auditLambda: number
  onlineLambda: number
  auditSuspend: number
  auditReinstate: number
  auditSlash: number
  onlineSuspend: number
  onlineReinstate: number
  slashFailures: number
  slashWindowMs: number
  debtPerFailure: bigint
}

export const DEFAULT_REPUTATION_PARAMS: ReputationParams = {
  auditLambda: AUDIT_REPUTATION_LAMBDA,
  onlineLambda: ONLINE_REPUTATION_LAMBDA,
  auditSuspend: AUDIT_SUSPEND_SCORE,
  auditReinstate: AUDIT_REINSTATE_SCORE,
  auditSlash: AUDIT_SLASH_SCORE,
  onlineSuspend: ONLINE_SUSPEND_SCORE,
  onlineReinstate: ONLINE_REINSTATE_SCORE,
  slashFailures: AUDIT_SLASH_FAILURES,
  slashWindowMs: AUDIT_SLASH_WINDOW_MS,
  debtPerFailure: BigInt(AUDIT_SLASH_DEBT_OZONE_PER_FAILURE),
}

/**
 * What repair (helper D's checker) and placement read about a node. Offline-ness is the registry's business
 * (heartbeats); this adds what audits and operators decide.
 */
export interface NodeHealth {
  /** False while the node is suspended: its shards count as unhealthy (repair rebuilds them elsewhere). */
  isNodeHealthy(node: string): boolean
  /** The end of the node's maintenance window when one is active at `now`: repair of its shards waits until then. */
  maintenanceUntil(node: string, now?: number): number | undefined
  /** True when the node may receive new shards: not suspended and not in maintenance. */
  acceptsNewData(node: string, now?: number): boolean
}

export function scoreOf(s: BetaScore): number {
  const total = s.alpha + s.beta
  return total > 0 ? s.alpha / total : 1
}

function update(s: BetaScore, lambda: number, success: boolean): BetaScore {
  return { alpha: lambda * s.alpha + (success ? 1 : 0), beta: lambda * s.beta + (success ? 0 : 1) }
}

export interface ReputationOptions {
  store: MetaStore
  clock: Clock
  logger: Logger
  params?: Partial<ReputationParams>
}

export class Reputation implements NodeHealth {
  readonly params: ReputationParams
  readonly #o: ReputationOptions
  readonly #records = new Map<string, NodeReputation>()

  constructor(options: ReputationOptions) {
    this.#o = options
    this.params = { ...DEFAULT_REPUTATION_PARAMS, ...options.params }
    for (const r of options.store.reputation.all()) this.#records.set(r.node, r)
  }

  /** Reloads the records from the index (an index shared by several processes: audits run in one of them). */
  refresh(records: readonly NodeReputation[] = this.#o.store.reputation.all()): void {
    for (const r of records) this.#records.set(r.node, r)
  }

  #fresh(node: string): NodeReputation {
    const p = this.params
    return {
      node,
      audit: { alpha: 1 / (1 - p.auditLambda), beta: 0 },
      online: { alpha: 1 / (1 - p.onlineLambda), beta: 0 },
      audits: 0,
      failedAudits: 0,
      recentFailures: [],
      incidents: 0,
    }
  }

  /** The node's record (a fresh one, not stored, when the node was never audited or sampled). */
  get(node: string): NodeReputation {
    return this.#records.get(node) ?? this.#fresh(node)
  }

  all(): NodeReputation[] {
    return [...this.#records.values()]
  }

  // ---- NodeHealth ------------------------------------------------------------------------------

  isNodeHealthy(node: string): boolean {
    return this.#records.get(node)?.suspended === undefined
  }

  maintenanceUntil(node: string, now = this.#o.clock.now()): number | undefined {
    const m = this.#records.get(node)?.maintenance
    return m && m.from <= now && now < m.until ? m.until : undefined
  }

  acceptsNewData(node: string, now = this.#o.clock.now()): boolean {
    return this.isNodeHealthy(node) && this.maintenanceUntil(node, now) === undefined
  }

  /** The node's state for views: offline beats maintenance beats suspended beats active. */
  state(node: string, online: boolean, now = this.#o.clock.now()): NodeHealthState {
    if (this.maintenanceUntil(node, now) !== undefined) return 'maintenance'
    if (!online) return 'offline'
    return this.isNodeHealthy(node) ? 'active' : 'suspended'
  }

  view(node: string, online: boolean, now = this.#o.clock.now()): NodeReputationView {
    const r = this.get(node)
    const until = this.maintenanceUntil(node, now)
    return {
      state: this.state(node, online, now),
      auditScore: round(scoreOf(r.audit)),
      onlineScore: round(scoreOf(r.online)),
      audits: r.audits,
      failedAudits: r.failedAudits,
      ...(r.suspended ? { suspendedAt: r.suspended.at, suspendedFor: r.suspended.reason } : {}),
      ...(until !== undefined ? { maintenanceUntil: until } : {}),
      slashIncidents: r.incidents,
    }
  }

  // ---- Outcomes (each one durable write) -----------------------------------------------------------

  /**
   * Records one audit outcome. `inTx` runs inside the same transaction (the auditor marks a failed location bad
   * there, so score and location never disagree after a crash).
   */
  async recordAudit(node: string, passed: boolean, now: number, inTx?: () => void): Promise<NodeReputation> {
    return this.#update(
      node,
      (r) => {
        r.audit = update(r.audit, this.params.auditLambda, passed)
        r.audits++
        r.lastAuditAt = now
        if (!passed) {
          r.failedAudits++
          // Failures while an incident is open belong to it (already reported): they do not count toward the next one.
          if (!r.incident)
            r.recentFailures = [...r.recentFailures.filter((t) => now - t < this.params.slashWindowMs), now].slice(
              -this.params.slashFailures,
            )
        }
      },
      now,
      inTx,
    )
  }

  /** An online/offline sample (skipped during maintenance: planned downtime does not count). */
  async recordOnline(node: string, online: boolean, now: number): Promise<NodeReputation> {
    if (!online && this.maintenanceUntil(node, now) !== undefined) return this.get(node)
    return this.#update(
      node,
      (r) => {
        r.online = update(r.online, this.params.onlineLambda, online)
        r.lastOnlineSampleAt = now
      },
      now,
    )
  }

  /** Starts (until > now) or ends (until undefined) a maintenance window. */
  async setMaintenance(node: string, until: number | undefined, now: number): Promise<NodeReputation> {
    return this.#update(
      node,
      (r) => {
        if (until === undefined) delete r.maintenance
        else r.maintenance = { from: now, until }
      },
      now,
    )
  }

  /** Updates the open incident of a node (slasher.ts). */
  async setIncident(node: string, change: Partial<SlashIncident>, now: number): Promise<NodeReputation> {
    return this.#update(
      node,
      (r) => {
        if (!r.incident) throw new StratosError('INTERNAL', `node ${node} has no open slashing incident`)
        r.incident = { ...r.incident, ...change }
      },
      now,
    )
  }

  /** Open incidents whose report is not settled yet. */
  openIncidents(): { node: string; incident: SlashIncident }[] {
    const out: { node: string; incident: SlashIncident }[] = []
    for (const r of this.#records.values()) {
      if (r.incident && (r.incident.status === 'pending' || r.incident.status === 'submitting'))
        out.push({ node: r.node, incident: r.incident })
    }
    return out
  }

  /** Online samples of many nodes in one transaction (the auditor samples every registered node each period). */
  async recordOnlineMany(samples: readonly { node: string; online: boolean }[], now: number): Promise<void> {
    const counted = samples.filter((s) => s.online || this.maintenanceUntil(s.node, now) === undefined)
    if (counted.length === 0) return
    await this.#o.store.write(() => {
      for (const s of counted) {
        this.#apply(
          s.node,
          (r) => {
            r.online = update(r.online, this.params.onlineLambda, s.online)
            r.lastOnlineSampleAt = now
          },
          now,
        )
      }
    })
  }

  async #update(
    node: string,
    change: (r: NodeReputation) => void,
    now: number,
    inTx?: () => void,
  ): Promise<NodeReputation> {
    return this.#o.store.write(() => {
      const r = this.#apply(node, change, now)
      inTx?.()
      return r
    })
  }

  /** Inside a write: applies `change` and its consequences, writes through to the cache. */
  #apply(node: string, change: (r: NodeReputation) => void, now: number): NodeReputation {
    const { store } = this.#o
    const prev = store.reputation.get(node) ?? this.#fresh(node)
    const r: NodeReputation = structuredClone(prev)
    change(r)
    if (r.maintenance && r.maintenance.until <= now) delete r.maintenance
    this.#evaluate(r, now)
    store.reputation.put(r)
    this.#records.set(node, r)
    return r
  }

  /** Suspension, reinstatement and incidents follow from the scores (inside the write). */
  #evaluate(r: NodeReputation, now: number): void {
    const p = this.params
    const audit = scoreOf(r.audit)
    const online = scoreOf(r.online)
    const log = this.#o.logger
    if (!r.suspended && (audit < p.auditSuspend || online < p.onlineSuspend)) {
      r.suspended = { at: now, reason: audit < p.auditSuspend ? 'audit' : 'online' }
      log.warn(
        { node: r.node, auditScore: audit, onlineScore: online, reason: r.suspended.reason },
        'resource node suspended',
      )
    } else if (r.suspended && audit >= p.auditReinstate && online >= p.onlineReinstate) {
      delete r.suspended
      log.info({ node: r.node, auditScore: audit, onlineScore: online }, 'resource node reinstated')
    }
    // A settled incident of a node in good standing is over; the next failures may make a new one.
    if (!r.suspended && r.incident && (r.incident.status === 'submitted' || r.incident.status === 'skipped'))
      delete r.incident
    const failures = r.recentFailures.filter((t) => now - t < p.slashWindowMs).length
    if (!r.incident && (failures >= p.slashFailures || (audit < p.auditSlash && failures > 0))) {
      r.incidents++
      r.incident = {
        id: r.incidents,
        openedAt: now,
        failures,
        debtOzone: (p.debtPerFailure * BigInt(failures)).toString(),
        status: 'pending',
        attempts: 0,
      }
      r.recentFailures = []
      log.warn(
        { node: r.node, incident: r.incident.id, failures, debtOzone: r.incident.debtOzone },
        'slashing incident opened',
      )
    }
  }
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000
}
