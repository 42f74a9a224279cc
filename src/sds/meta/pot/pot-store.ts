/**
 * The Proof of Traffic subsystem's store: it owns the meta index's `pot` table (store.ts) and its key layout, and
 * is the only code that reads or writes it (settlement.ts, reports.ts, traffic.ts, the upload commit and repair go
 * through `store.pot`, a PotStore). Writes happen inside MetaStore.write transactions (the unit of work):
 *
 *   ['s', serial]                    → keepUntil (ms): an order limit already settled (never paid twice)
 *   ['se', keepUntil, serial]        → true: pruning index of 's' (a serial past its settle window is refused anyway)
 *   ['t', epoch, node, payer]        → Credit: accepted bytes per chain epoch, resource node and payer (the report's input)
 *   ['n', node]                      → Credit: all-time accepted bytes of a node (the traffic view's total)
 *   ['f', cid, epoch, op]            → Credit: accepted bytes per file, epoch and op (the owner's per-file view)
 *   ['c', id]                        → PutCredit: the PUTs one commit made part of a file (an upload's, a repair's or a
 *                                      replica's), written by that commit, moved into 't' / 'n' / 'f' and deleted by
 *                                      the credit sweep (put-credits.ts); `id` is unique per commit (upload id, repair
 *                                      or replica context), so commits never write the same row
 *   ['pu', uploadId, node, shard]    → (indexes from before PUT credits) a committed PUT placement; only pruned now
 *   ['pe', keepUntil, uploadId]      → (same) pruning index of 'pu'
 *   ['r', epoch]                     → ReportRecord: the volume report of `epoch` and its state
 */
import { KEY_STRING_MAX, type PrefetchRead, type Table } from '../engine/table.ts'

export interface Credit {
  bytes: number
  orders: number
}

export type ReportState = 'pending' | 'submitted' | 'included' | 'dropped'

/** A volume report as stored (bytes as decimal strings: LMDB's msgpack has no arbitrary bigints). */
export interface StoredReport {
  chainId: string
  epoch: number
  metaNode: string
  wallets: { wallet: string; bytes: string }[]
  nodes: { node: string; bytes: string }[]
}

export interface ReportRecord {
  epoch: number
  state: ReportState
  report: StoredReport
  builtAt: number
  submittedAt?: number
  txHash?: string
  height?: number
  /** Why it was dropped, or the last submission error. */
  error?: string
  /** Credits moved to the next epoch because the report hit MAX_REPORT_WALLETS / MAX_REPORT_NODES. */
  carried?: number
}

export const EPOCH_MAX = Number.MAX_SAFE_INTEGER
const S = KEY_STRING_MAX

export type PotKey = (string | number)[]

/**
 * One committed placement's PUT as its commit records it: node, bytes moved (the shard size), and the ozone promise
 * its ticket made (bytes and ticket expiry, pot/ozone-guard.ts; 0, 0 when none was made: repair, replicas, sessions
 * from before this field).
 */
export type CreditedPut = [node: string, bytes: number, promised: number, expiresAt: number]

/** A commit's pending PUT credits (['c', id]): who pays, the file they went into, one entry per placement. */
export interface PutCredit {
  payer: string
  cid: string
  puts: CreditedPut[]
}

/** One epoch's accepted bytes of one (node, payer). */
export interface EpochCredit {
  epoch: number
  node: string
  payer: string
  credit: Credit
}

/** One order limit to settle, as settleReads needs it (`cid` once known: the file a PUT was committed into, or a GET's). */
export interface SettleReadItem {
  serial: string
  payer: string
  op: 'put' | 'get'
  context: string
  shard: string
  cid?: string
}

/** What the PoT code needs of its storage; TablePotStore implements it over one table of either engine. */
export interface PotStore {
  /**
   * The reads settling these orders makes (`cid` once known: the file a PUT was committed into, or a GET's), for
   * MetaStore.prefetch: whether each serial is settled, each PUT's committed placement, and the credits it adds to.
   */
  settleReads(epoch: number, node: string, items: readonly SettleReadItem[]): PrefetchRead[]
  /** The order limit `serial` was settled already (never paid twice). */
  isSettled(serial: string): boolean
  /** Inside write(): `serial` is settled; forgotten after `keepUntil` (prune). */
  markSettled(serial: string, keepUntil: number): void
  /** Inside write(): accepted traffic — to (epoch, node, payer), the node's total and (file, epoch, op). */
  creditTraffic(t: { epoch: number; node: string; payer: string; cid: string; op: 'put' | 'get'; bytes: number }): void
  /** Credits of one epoch, by (node, payer). */
  epochCredits(epoch: number): { node: string; payer: string; credit: Credit }[]
  /** Every per-epoch credit (restart: what the ozone guard counts as spent), in key order. */
  allEpochCredits(): Iterable<EpochCredit>
  /** Epochs below `before` that have credits, ascending. */
  creditedEpochs(before: number): number[]
  /** Inside write(): moves one (node, payer) credit of `epoch` to `epoch + 1` (a report that did not fit). */
  carryCredit(epoch: number, node: string, payer: string, credit: Credit): void
  /** Inside write(): drops one (node, payer) credit of `epoch` (never payable). */
  dropCredit(epoch: number, node: string, payer: string): void
  /** All-time accepted traffic of a node. */
  nodeTotal(node: string): Credit | undefined
  /** The reads `nodeTotal` makes for these nodes (and `report` for `epoch`), for MetaStore.prefetch. */
  nodeTotalReads(nodes: string[], epoch: number): PrefetchRead[]
  /** Accepted traffic of one file per epoch and op, ascending by epoch. */
  fileTraffic(cid: string): { epoch: number; op: 'put' | 'get'; credit: Credit }[]
  report(epoch: number): ReportRecord | undefined
  reports(): ReportRecord[]
  /** Inside write(). */
  putReport(record: ReportRecord): void
  /**
   * Inside write() at a commit (upload, repair, replica): its placements' PUTs are now part of file `credit.cid` and
   * wait to be credited (the credit sweep, put-credits.ts). One new row per commit: commits never write the same key.
   */
  addPutCredit(id: string, credit: PutCredit): void
  /** Up to `limit` pending PUT credits, in key order. */
  pendingPutCredits(limit: number): { id: string; credit: PutCredit }[]
  /** The reads creditPuts makes, for MetaStore.prefetch. */
  putCreditReads(epoch: number, credits: readonly PutCredit[]): PrefetchRead[]
  /**
   * Inside write(): credits these pending PUT credits to (epoch, node, payer), the nodes' totals and (file, epoch,
   * 'put') — each aggregate row written once, whatever the number of credits — and deletes their rows.
   */
  creditPuts(epoch: number, credits: readonly { id: string; credit: PutCredit }[]): void
  /** Inside write(): forgets settled serials (and old committed-PUT entries) past their keep time. Returns how many. */
  prune(now: number, limit: number): number
  hasPrunable(now: number): boolean
  /** Inside write(): drops the per-epoch credits and report records of epochs below `before`. Returns rows removed. */
  pruneEpochsBefore(before: number, limit: number): number
}

export class TablePotStore implements PotStore {
  readonly #t: Table<unknown, PotKey>

  constructor(table: Table<unknown, PotKey>) {
    this.#t = table
  }

  #add(key: PotKey, bytes: number, orders = 1): void {
    const c = this.#t.get(key) as Credit | undefined
    this.#t.putSync(key, { bytes: (c?.bytes ?? 0) + bytes, orders: (c?.orders ?? 0) + orders } satisfies Credit)
  }

  settleReads(epoch: number, node: string, items: readonly SettleReadItem[]): PrefetchRead[] {
    const keys: PotKey[] = [['n', node]]
    for (const i of items) {
      keys.push(['s', i.serial], ['t', epoch, node, i.payer])
      if (i.cid !== undefined) keys.push(['f', i.cid, epoch, i.op])
    }
    return [{ table: this.#t, keys }]
  }

  isSettled(serial: string): boolean {
    return this.#t.get(['s', serial]) !== undefined
  }

  markSettled(serial: string, keepUntil: number): void {
    this.#t.putSync(['s', serial], keepUntil)
    this.#t.putSync(['se', keepUntil, serial], true)
  }

  creditTraffic(t: {
    epoch: number
    node: string
    payer: string
    cid: string
    op: 'put' | 'get'
    bytes: number
  }): void {
    this.#add(['t', t.epoch, t.node, t.payer], t.bytes)
    this.#add(['n', t.node], t.bytes)
    this.#add(['f', t.cid, t.epoch, t.op], t.bytes)
  }

  epochCredits(epoch: number): { node: string; payer: string; credit: Credit }[] {
    const out: { node: string; payer: string; credit: Credit }[] = []
    for (const { key, value } of this.#t.getRange({ start: ['t', epoch, '', ''], end: ['t', epoch, S, S] })) {
      out.push({ node: key[2] as string, payer: key[3] as string, credit: value as Credit })
    }
    return out
  }

  *allEpochCredits(): Iterable<EpochCredit> {
    for (const { key, value } of this.#t.getRange({ start: ['t', 0], end: ['t', EPOCH_MAX] })) {
      yield { epoch: key[1] as number, node: key[2] as string, payer: key[3] as string, credit: value as Credit }
    }
  }

  creditedEpochs(before: number): number[] {
    const out: number[] = []
    let from = 0
    while (from < before) {
      let next: number | undefined
      for (const key of this.#t.getKeys({ start: ['t', from], end: ['t', before], limit: 1 })) next = key[1] as number
      if (next === undefined) break
      out.push(next)
      from = next + 1
    }
    return out
  }

  carryCredit(epoch: number, node: string, payer: string, credit: Credit): void {
    this.#t.removeSync(['t', epoch, node, payer])
    this.#add(['t', epoch + 1, node, payer], credit.bytes, credit.orders)
  }

  dropCredit(epoch: number, node: string, payer: string): void {
    this.#t.removeSync(['t', epoch, node, payer])
  }

  nodeTotal(node: string): Credit | undefined {
    return this.#t.get(['n', node]) as Credit | undefined
  }

  nodeTotalReads(nodes: string[], epoch: number): PrefetchRead[] {
    return [{ table: this.#t, keys: [...nodes.map((node) => ['n', node]), ['r', epoch]] }]
  }

  fileTraffic(cid: string): { epoch: number; op: 'put' | 'get'; credit: Credit }[] {
    const out: { epoch: number; op: 'put' | 'get'; credit: Credit }[] = []
    for (const { key, value } of this.#t.getRange({ start: ['f', cid, 0, ''], end: ['f', cid, EPOCH_MAX, S] })) {
      out.push({ epoch: key[2] as number, op: key[3] as 'put' | 'get', credit: value as Credit })
    }
    return out
  }

  report(epoch: number): ReportRecord | undefined {
    return this.#t.get(['r', epoch]) as ReportRecord | undefined
  }

  reports(): ReportRecord[] {
    return [...this.#t.getRange({ start: ['r', 0], end: ['r', EPOCH_MAX] })].map((e) => e.value as ReportRecord)
  }

  putReport(record: ReportRecord): void {
    this.#t.putSync(['r', record.epoch], record)
  }

  addPutCredit(id: string, credit: PutCredit): void {
    this.#t.putSync(['c', id], credit)
  }

  pendingPutCredits(limit: number): { id: string; credit: PutCredit }[] {
    const out: { id: string; credit: PutCredit }[] = []
    for (const { key, value } of this.#t.getRange({ start: ['c', ''], end: ['c', S], limit }))
      out.push({ id: key[1] as string, credit: value as PutCredit })
    return out
  }

  putCreditReads(epoch: number, credits: readonly PutCredit[]): PrefetchRead[] {
    const keys = new Map<string, PotKey>()
    const add = (k: PotKey): void => {
      keys.set(JSON.stringify(k), k)
    }
    for (const c of credits) {
      add(['f', c.cid, epoch, 'put'])
      for (const [node] of c.puts) {
        add(['n', node])
        add(['t', epoch, node, c.payer])
      }
    }
    return [{ table: this.#t, keys: [...keys.values()] }]
  }

  creditPuts(epoch: number, credits: readonly { id: string; credit: PutCredit }[]): void {
    // Summed per aggregate row first: each is read and written once per batch.
    const sums = new Map<string, { key: PotKey; bytes: number; orders: number }>()
    const add = (key: PotKey, bytes: number): void => {
      const id = JSON.stringify(key)
      const e = sums.get(id)
      if (e) {
        e.bytes += bytes
        e.orders++
      } else sums.set(id, { key, bytes, orders: 1 })
    }
    for (const { id, credit } of credits) {
      for (const [node, bytes] of credit.puts) {
        if (bytes <= 0) continue
        add(['t', epoch, node, credit.payer], bytes)
        add(['n', node], bytes)
        add(['f', credit.cid, epoch, 'put'], bytes)
      }
      this.#t.removeSync(['c', id])
    }
    for (const { key, bytes, orders } of sums.values()) this.#add(key, bytes, orders)
  }

  prune(now: number, limit: number): number {
    let n = 0
    const serials: PotKey[] = []
    for (const key of this.#t.getKeys({ start: ['se', 0, ''], end: ['se', now, S], limit })) serials.push(key)
    for (const key of serials) {
      this.#t.removeSync(key)
      this.#t.removeSync(['s', key[2] as string])
      n++
    }
    const uploads: PotKey[] = []
    for (const key of this.#t.getKeys({ start: ['pe', 0, ''], end: ['pe', now, S], limit })) uploads.push(key)
    for (const key of uploads) {
      this.#t.removeSync(key)
      const id = key[2] as string
      const puts: PotKey[] = []
      for (const k of this.#t.getKeys({ start: ['pu', id, '', ''], end: ['pu', id, S, S] })) puts.push(k)
      for (const k of puts) this.#t.removeSync(k)
      n++
    }
    return n
  }

  hasPrunable(now: number): boolean {
    for (const _ of this.#t.getKeys({ start: ['se', 0, ''], end: ['se', now, S], limit: 1 })) return true
    for (const _ of this.#t.getKeys({ start: ['pe', 0, ''], end: ['pe', now, S], limit: 1 })) return true
    return false
  }

  pruneEpochsBefore(before: number, limit: number): number {
    const keys: PotKey[] = []
    for (const key of this.#t.getKeys({ start: ['t', 0], end: ['t', before], limit })) keys.push(key)
    for (const key of this.#t.getKeys({ start: ['r', 0], end: ['r', before], limit })) keys.push(key)
    for (const key of keys) this.#t.removeSync(key)
    return keys.length
  }
}
