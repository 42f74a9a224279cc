/**
 * Volume reports: once a chain epoch has ended, the meta node turns the traffic it accepted during that epoch
 * (settlement.ts credits) into one signed VolumeReport and its owner wallet submits it (ChainLink.submit). The chain
 * then charges each payer's ozone and credits each node's traffic for the reward split (src/chain/state/pot.ts).
 *
 * Runs on every new epoch (ChainLink.onEpoch), once after start (catch-up after a restart) and every
 * POT_REPORT_RETRY_MS (retries); runs never overlap.
 *
 * Per ended epoch e with credits and no report record, one write transaction freezes the report: wallets and nodes
 * sorted by address, both totals equal (each credit counts once on each side), nodes the chain no longer knows left
 * out (the chain would refuse the whole report; their credits are deleted, logged). The chain takes one report per
 * meta node and epoch, so when a report would exceed MAX_REPORT_WALLETS / MAX_REPORT_NODES the credits that do not
 * fit are moved to epoch e + 1 (and reported with it; the traffic views then show them there). Settlement reads the
 * chain epoch inside its own transaction, so no credit can land in e after e's report was frozen.
 *
 * States (LMDB, pot-store.ts ['r', e]): pending → submitted → included, or dropped. `submitted` is written before the
 * transaction is sent, so after a crash the report is looked up on chain (GET /reports?epoch=e) before any resend;
 * the chain refuses a second report for the same epoch anyway, so nothing is ever charged twice. A report the chain
 * refuses for good (too late for its window, or invalid) is dropped with a log; its payers are then never charged.
 */
import { signVolumeReport } from '../../../chain/node-proofs.ts'
import { MAX_REPORT_NODES, MAX_REPORT_WALLETS } from '../../../chain/params.ts'
import type { Msg, VolumeReport } from '../../../chain/msgs.ts'
import type { SubmittedTx } from '../../../chain-client/client.ts'
import type { NodeKey } from '../../../crypto/node-key.ts'
import { toStratosError } from '../../../errors.ts'
import { META_SWEEP_BATCH, POT_REPORT_RETRY_MS, POT_TRAFFIC_HISTORY_EPOCHS } from '../../../limits.ts'
import type { Clock, Logger, Startable } from '../../../util/components.ts'
import type { ChainLink, HttpChainLink } from '../chain-link.ts'
import { jsonRequest } from '../../../net/json-request.ts'
import type { MetaStore } from '../store.ts'
import type { OzoneGuard } from './ozone-guard.ts'
import type { ReportRecord, StoredReport } from './pot-store.ts'

/** What the reporter needs from the chain. */
export interface ReportChain extends Pick<ChainLink, 'epoch' | 'synced' | 'onEpoch' | 'nodeStatus'> {
  submit(msgs: Msg[]): Promise<SubmittedTx>
  /** True when the chain holds a report by `metaNode` for `epoch`. */
  reported(metaNode: string, epoch: number): Promise<boolean>
}

/** The reporter's view of an HttpChainLink; `reported` asks the validator's GET /reports?epoch=. */
export function reportChainOf(link: HttpChainLink): ReportChain {
  return {
    get epoch() {
      return link.epoch
    },
    get synced() {
      return link.synced
    },
    onEpoch: (l) => link.onEpoch(l),
    nodeStatus: (n) => link.nodeStatus(n),
    submit: (msgs) => link.submit(msgs),
    reported: async (metaNode, epoch) => {
      const reports = await jsonRequest<{ metaNode: string }[]>(`${link.client.url}/reports?epoch=${epoch}`, {
        method: 'GET',
      })
      return reports.some((r) => r.metaNode === metaNode)
    },
  }
}

export interface ReporterOptions {
  store: MetaStore
  key: NodeKey
  chainId: string
  chain: ReportChain
  guard?: OzoneGuard
  clock: Clock
  logger: Logger
  retryMs?: number
  maxWallets?: number
  maxNodes?: number
  historyEpochs?: number
  /** False while another process of this meta node holds the background duties (leases.ts): no run starts. */
  onDuty?: () => boolean
}

export interface BuiltReport {
  report: StoredReport
  /** Credits that did not fit (caps), to be carried to the next epoch. */
  carried: { node: string; payer: string; bytes: number; orders: number }[]
  /** Credits of nodes the chain does not know (left out). */
  unknown: { node: string; payer: string; bytes: number }[]
}

/**
 * Builds the report of `epoch` from its credits (pure). Credits are taken in (node, payer) order while the distinct
 * wallets and nodes stay within the caps; the rest are returned as `carried`.
 */
export function buildReport(
  credits: readonly { node: string; payer: string; credit: { bytes: number; orders: number } }[],
  o: {
    chainId: string
    epoch: number
    metaNode: string
    maxWallets?: number
    maxNodes?: number
    known?: (node: string) => boolean
  },
): BuiltReport {
  const maxW = o.maxWallets ?? MAX_REPORT_WALLETS
  const maxN = o.maxNodes ?? MAX_REPORT_NODES
  const wallets = new Map<string, bigint>()
  const nodes = new Map<string, bigint>()
  const carried: BuiltReport['carried'] = []
  const unknown: BuiltReport['unknown'] = []
  const sorted = [...credits].sort((a, b) =>
    a.node < b.node ? -1 : a.node > b.node ? 1 : a.payer < b.payer ? -1 : a.payer > b.payer ? 1 : 0,
  )
  for (const c of sorted) {
    if (c.credit.bytes <= 0) continue
    if (o.known && !o.known(c.node)) {
      unknown.push({ node: c.node, payer: c.payer, bytes: c.credit.bytes })
      continue
    }
    const fits = (wallets.has(c.payer) || wallets.size < maxW) && (nodes.has(c.node) || nodes.size < maxN)
    if (!fits) {
      carried.push({ node: c.node, payer: c.payer, bytes: c.credit.bytes, orders: c.credit.orders })
      continue
    }
    const b = BigInt(c.credit.bytes)
    wallets.set(c.payer, (wallets.get(c.payer) ?? 0n) + b)
    nodes.set(c.node, (nodes.get(c.node) ?? 0n) + b)
  }
  const asc = <T>(m: Map<string, bigint>, f: (k: string, v: bigint) => T): T[] =>
    [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => f(k, v))
  return {
    report: {
      chainId: o.chainId,
      epoch: o.epoch,
      metaNode: o.metaNode,
      wallets: asc(wallets, (wallet, bytes) => ({ wallet, bytes: bytes.toString() })),
      nodes: asc(nodes, (node, bytes) => ({ node, bytes: bytes.toString() })),
    },
    carried,
    unknown,
  }
}

export function toVolumeReport(r: StoredReport): VolumeReport {
  return {
    chainId: r.chainId,
    epoch: r.epoch,
    metaNode: r.metaNode,
    wallets: r.wallets.map((w) => ({ wallet: w.wallet, bytes: BigInt(w.bytes) })),
    nodes: r.nodes.map((n) => ({ node: n.node, bytes: BigInt(n.bytes) })),
  }
}

export class Reporter implements Startable {
  readonly #o: ReporterOptions
  #unsubscribe: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false
  /** Not started, or stopping: no new runs (run() itself may still be called directly). */
  #stopped = true
  #halted = false
  /** The last payer the ozone guard's prune looked at ('' : from the start). */
  #ozoneCursor = ''

  constructor(options: ReporterOptions) {
    this.#o = options
  }

  async start(): Promise<void> {
    this.#stopped = false
    await this.#restoreAccepted()
    this.#unsubscribe = this.#o.chain.onEpoch(() => this.kick())
    const tick = (): void => {
      if (this.#stopped) return
      this.kick()
      this.#timer = setTimeout(tick, this.#o.retryMs ?? POT_REPORT_RETRY_MS)
      this.#timer.unref()
    }
    tick()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#halted = true
    this.#unsubscribe?.()
    if (this.#timer) clearTimeout(this.#timer)
    await this.#running
  }

  /** Starts a run now (or right after the one in progress). */
  kick(): void {
    if (this.#stopped) return
    if (this.#o.onDuty && !this.#o.onDuty()) return
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = this.run()
      .catch((e: unknown) => {
        this.#o.logger.error({ err: e }, 'volume report run failed')
      })
      .finally(() => {
        this.#running = undefined
        if (this.#again) {
          this.#again = false
          this.kick()
        }
      })
  }

  /** Wait for the run in progress (tests). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  /** One pass: freeze reports of ended epochs, submit what is pending, prune history. */
  async run(): Promise<void> {
    const { chain, store } = this.#o
    if (!chain.synced || store.closed) return
    const current = chain.epoch
    // Async reads: on PostgreSQL a read outside a transaction blocks the event loop for its round trip.
    const unreported = await store.read(() =>
      store.pot.creditedEpochs(current).filter((epoch) => store.pot.report(epoch) === undefined),
    )
    for (const epoch of unreported) await this.freeze(epoch)
    for (const r of await store.read(() => store.pot.reports())) {
      if (this.#halted || store.closed) return
      if (r.state === 'pending' || r.state === 'submitted') await this.#submit(r)
    }
    await this.#prune(current)
  }

  /** Builds and stores the report of `epoch` (state pending), carrying what does not fit to epoch + 1. */
  async freeze(epoch: number): Promise<ReportRecord | undefined> {
    const { store, key, chainId, clock, chain, logger } = this.#o
    const now = clock.now()
    const built = await store.write(() => {
      if (store.pot.report(epoch) !== undefined) return undefined
      const b = buildReport(store.pot.epochCredits(epoch), {
        chainId,
        epoch,
        metaNode: key.address,
        maxWallets: this.#o.maxWallets,
        maxNodes: this.#o.maxNodes,
        known: (node) => chain.nodeStatus(node) !== 'unregistered',
      })
      for (const c of b.carried) {
        store.pot.carryCredit(epoch, c.node, c.payer, { bytes: c.bytes, orders: c.orders })
      }
      // Never payable (the chain would refuse the whole report): out of the epoch, so nothing counts them as owed.
      const { guard } = this.#o
      if (guard) store.prefetch(guard.reads([...new Set(b.unknown.map((u) => u.payer))]))
      for (const u of b.unknown) {
        store.pot.dropCredit(epoch, u.node, u.payer)
        guard?.charged(u.payer, u.bytes, false)
      }
      const record: ReportRecord =
        b.report.nodes.length === 0
          ? { epoch, state: 'dropped', report: b.report, builtAt: now, error: 'no reportable traffic' }
          : {
              epoch,
              state: 'pending',
              report: b.report,
              builtAt: now,
              ...(b.carried.length ? { carried: b.carried.length } : {}),
            }
      store.pot.putReport(record)
      return { record, b }
    })
    if (!built) return undefined
    const { record, b } = built
    if (b.unknown.length) {
      logger.warn(
        { epoch, credits: b.unknown.length, nodes: [...new Set(b.unknown.map((u) => u.node))] },
        'traffic of nodes unknown to the chain left out of the volume report',
      )
    }
    if (b.carried.length)
      logger.warn(
        { epoch, carried: b.carried.length },
        "volume report over the chain's caps: the rest is carried to the next epoch",
      )
    logger.info(
      { epoch, wallets: record.report.wallets.length, nodes: record.report.nodes.length },
      'volume report built',
    )
    return record
  }

  async #submit(r: ReportRecord): Promise<void> {
    const { store, chain, key, logger, clock } = this.#o
    if (r.state === 'submitted' && (await this.#reportedSafe(r.epoch))) {
      await this.#finish(r, { state: 'included' })
      return
    }
    await store.write(() =>
      store.pot.putReport({ ...r, state: 'submitted', submittedAt: clock.now() } satisfies ReportRecord),
    )
    try {
      const tx = await chain.submit([signVolumeReport(key, toVolumeReport(r.report))])
      await this.#finish(r, {
        state: 'included',
        txHash: tx.hash,
        ...(tx.height !== undefined ? { height: tx.height } : {}),
      })
      logger.info({ epoch: r.epoch, tx: tx.hash, height: tx.height }, 'volume report included')
    } catch (e) {
      const err = toStratosError(e)
      if (err.code === 'CONFLICT' && (await this.#reportedSafe(r.epoch))) {
        await this.#finish(r, { state: 'included' })
        return
      }
      if (err.code === 'BAD_REQUEST' || err.code === 'WRONG_CHAIN' || err.code === 'INVALID_SIGNATURE') {
        logger.warn({ epoch: r.epoch, code: err.code, err: err.message }, 'volume report refused by the chain; dropped')
        await this.#finish(r, { state: 'dropped', error: `${err.code}: ${err.message}` })
        return
      }
      // Chain unreachable, meta node not (yet) registered, fee or nonce trouble: keep it and retry.
      logger.warn({ epoch: r.epoch, code: err.code, err: err.message }, 'volume report not submitted; will retry')
      await store.write(() =>
        store.pot.putReport({
          ...r,
          state: 'pending',
          error: `${err.code}: ${err.message}`,
        } satisfies ReportRecord),
      )
    }
  }

  async #reportedSafe(epoch: number): Promise<boolean> {
    try {
      return await this.#o.chain.reported(this.#o.key.address, epoch)
    } catch {
      return false
    }
  }

  /**
   * Final state; the report's payers are no longer owed (charged, or never will be): their shared books (the ozone
   * guard's) change in the same transaction, once — a report already final is not charged again.
   */
  async #finish(r: ReportRecord, patch: Partial<ReportRecord>): Promise<void> {
    const { store, guard } = this.#o
    const next = { ...r, ...patch } satisfies ReportRecord
    await store.write(() => {
      if (guard) store.prefetch(guard.reads(r.report.wallets.map((w) => w.wallet)))
      const before = store.pot.report(r.epoch)?.state
      store.pot.putReport(next)
      if (!guard || before === 'included' || before === 'dropped') return
      for (const w of r.report.wallets) guard.charged(w.wallet, Number(w.bytes), next.state === 'included')
    })
  }

  /**
   * Once per index: accepted bytes of epochs not yet charged, from before the ozone guard kept its books in the
   * index (an index written by older software); the guard counts them as spent.
   */
  async #restoreAccepted(): Promise<void> {
    const { store, guard } = this.#o
    if (!guard || store.ozone.restored()) return
    const unreported = (): { payer: string; bytes: number }[] => {
      const terminal = new Set(
        store.pot
          .reports()
          .filter((r) => r.state === 'included' || r.state === 'dropped')
          .map((r) => r.epoch),
      )
      return [...store.pot.allEpochCredits()]
        .filter((c) => !terminal.has(c.epoch))
        .map((c) => ({ payer: c.payer, bytes: c.credit.bytes }))
    }
    if (await store.write(() => guard.restoreAccepted(unreported)))
      this.#o.logger.info('ozone guard: accepted traffic not yet charged restored from the PoT credits')
  }

  async #prune(current: number): Promise<void> {
    const { store, clock } = this.#o
    const now = clock.now()
    if (await store.read(() => store.pot.hasPrunable(now)))
      await store.write(() => store.pot.prune(now, META_SWEEP_BATCH))
    const before = current - (this.#o.historyEpochs ?? POT_TRAFFIC_HISTORY_EPOCHS)
    if (before > 0) {
      const open = (await store.read(() => store.pot.reports())).some(
        (r) => r.epoch < before && (r.state === 'pending' || r.state === 'submitted'),
      )
      if (!open) await store.write(() => store.pot.pruneEpochsBefore(before, META_SWEEP_BATCH))
    }
    // The ozone guard's rows of payers whose promises all expired, a batch per run (a cursor over the payers).
    const { guard } = this.#o
    if (guard) {
      const after = this.#ozoneCursor
      const swept = await store.write(() => guard.prune(after, META_SWEEP_BATCH))
      this.#ozoneCursor = swept.last ?? ''
    }
  }
}
