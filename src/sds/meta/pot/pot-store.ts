/**
 * Key layout of the meta index's `pot` database (store.ts) — Proof of Traffic bookkeeping, all written inside
 * MetaStore.write transactions by settlement.ts, reports.ts and the upload commit:
 *
 *   ['s', serial]                    → keepUntil (ms): an order limit already settled (never paid twice)
 *   ['se', keepUntil, serial]        → true: pruning index of 's' (a serial past its settle window is refused anyway)
 *   ['t', epoch, node, payer]        → Credit: accepted bytes per chain epoch, resource node and payer (the report's input)
 *   ['n', node]                      → Credit: all-time accepted bytes of a node (the traffic view's total)
 *   ['f', cid, epoch, op]            → Credit: accepted bytes per file, epoch and op (the owner's per-file view)
 *   ['pu', uploadId, node, shard]    → cid: a PUT placement that was committed into file `cid` (PUT orders need it)
 *   ['pe', keepUntil, uploadId]      → true: pruning index of 'pu'
 *   ['r', epoch]                     → ReportRecord: the volume report of `epoch` and its state
 */
import type { MetaStore } from '../store.ts'
import { KEY_STRING_MAX } from '../store.ts'
import type { SegmentRecord } from '../../protocol/api.ts'

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

export function addCredit(store: MetaStore, key: (string | number)[], bytes: number, orders = 1): void {
  const c = store.pot.get(key) as Credit | undefined
  store.pot.putSync(key, { bytes: (c?.bytes ?? 0) + bytes, orders: (c?.orders ?? 0) + orders } satisfies Credit)
}

/** Credits of one epoch: [node, payer, credit]. */
export function epochCredits(store: MetaStore, epoch: number): { node: string; payer: string; credit: Credit }[] {
  const out: { node: string; payer: string; credit: Credit }[] = []
  for (const { key, value } of store.pot.getRange({ start: ['t', epoch, '', ''], end: ['t', epoch, S, S] })) {
    out.push({ node: key[2] as string, payer: key[3] as string, credit: value as Credit })
  }
  return out
}

/** Epochs below `before` that have credits, ascending. */
export function creditedEpochs(store: MetaStore, before: number): number[] {
  const out: number[] = []
  let from = 0
  while (from < before) {
    let next: number | undefined
    for (const key of store.pot.getKeys({ start: ['t', from], end: ['t', before], limit: 1 })) next = key[1] as number
    if (next === undefined) break
    out.push(next)
    from = next + 1
  }
  return out
}

export function reportRecord(store: MetaStore, epoch: number): ReportRecord | undefined {
  return store.pot.get(['r', epoch]) as ReportRecord | undefined
}

export function reportRecords(store: MetaStore): ReportRecord[] {
  return [...store.pot.getRange({ start: ['r', 0], end: ['r', EPOCH_MAX] })].map((e) => e.value as ReportRecord)
}

/** Inside write() at commit: these placements of upload `uploadId` now hold file `cid` (their PUT orders may be paid). */
export function recordCommittedPuts(
  store: MetaStore,
  uploadId: string,
  cid: string,
  segments: readonly Pick<SegmentRecord, 'shards'>[],
  keepUntil: number,
): void {
  for (const seg of segments) for (const s of seg.shards) store.pot.putSync(['pu', uploadId, s.node, s.id], cid)
  store.pot.putSync(['pe', keepUntil, uploadId], true)
}

export function committedPut(store: MetaStore, uploadId: string, node: string, shard: string): string | undefined {
  return store.pot.get(['pu', uploadId, node, shard]) as string | undefined
}

/** Inside write(): forgets settled serials and committed-PUT entries past their keep time. Returns how many. */
export function prunePot(store: MetaStore, now: number, limit: number): number {
  let n = 0
  const serials: (string | number)[][] = []
  for (const key of store.pot.getKeys({ start: ['se', 0, ''], end: ['se', now, S], limit })) serials.push(key)
  for (const key of serials) {
    store.pot.removeSync(key)
    store.pot.removeSync(['s', key[2] as string])
    n++
  }
  const uploads: (string | number)[][] = []
  for (const key of store.pot.getKeys({ start: ['pe', 0, ''], end: ['pe', now, S], limit })) uploads.push(key)
  for (const key of uploads) {
    store.pot.removeSync(key)
    const id = key[2] as string
    const puts: (string | number)[][] = []
    for (const k of store.pot.getKeys({ start: ['pu', id, '', ''], end: ['pu', id, S, S] })) puts.push(k)
    for (const k of puts) store.pot.removeSync(k)
    n++
  }
  return n
}

export function hasPrunable(store: MetaStore, now: number): boolean {
  for (const _ of store.pot.getKeys({ start: ['se', 0, ''], end: ['se', now, S], limit: 1 })) return true
  for (const _ of store.pot.getKeys({ start: ['pe', 0, ''], end: ['pe', now, S], limit: 1 })) return true
  return false
}

/** Inside write(): drops the per-epoch credits and report records of epochs below `before`. Returns rows removed. */
export function pruneEpochsBefore(store: MetaStore, before: number, limit: number): number {
  const keys: (string | number)[][] = []
  for (const key of store.pot.getKeys({ start: ['t', 0], end: ['t', before], limit })) keys.push(key)
  for (const key of store.pot.getKeys({ start: ['r', 0], end: ['r', before], limit })) keys.push(key)
  for (const key of keys) store.pot.removeSync(key)
  return keys.length
}
