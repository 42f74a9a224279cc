/**
 * Garbage collection of the RPC API, Kubo's `repo gc` for a network where "the repo" is what the API's wallet owns.
 *
 * A pass deletes (a signed delete by the API's wallet through the SDK: the wallet gives up its ownership, and the
 * meta node frees the shards once no owner is left) exactly the records that
 *   (a) the API stored itself: an `add` in which its wallet became an owner (pins.ts `stored`; see AddOrigins),
 *   (b) no pin reaches: not a pinned root, nor a file or sub-directory of a pinned directory, and
 *   (c) were released (unpinned, or added with pin=false) at least `graceMs` ago.
 * Anything else is never touched: a file the same wallet uploaded through the CLI, SDK or S3, content pinned with
 * `pin/add`, another owner's content.
 *
 * Safety: the walk of the pin set must succeed completely (a record that cannot be read may reach anything, so the
 * pass then deletes nothing); a record found unreached for the first time only starts its grace period; and before
 * each delete the pass checks that the pin set did not change since its walk (a `pin/add` or `add` racing with it
 * stops the pass; the next one walks again). Passes never overlap. Left open: a `pin/add` landing during the one
 * delete request in flight (milliseconds) pins a record that is then gone; Kubo closes that gap by blocking pins
 * during its GC, which here would block `pin/add` for a whole walk of the pin set.
 */
import { StratosError, isStratosError, toStratosError } from '../../errors.ts'
import { RPC_GC_GRACE_MS, RPC_GC_INTERVAL_MS, RPC_MAX_PIN_WALK_RECORDS } from '../../limits.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import type { StratosClient } from '../../sds/client/index.ts'
import type { Clock, Logger, Startable } from '../../util/components.ts'
import type { PinInput, PinStore, StoredRecord } from './pins.ts'
import type { FileRecordView } from '../../sds/protocol/api.ts'

/** Codes that mean "this record is not on the network" (so it reaches nothing and needs no delete). */
function isGone(e: unknown): boolean {
  return isStratosError(e, 'FILE_NOT_FOUND') || isStratosError(e, 'NOT_FOUND') || isStratosError(e, 'INVALID_CID')
}

/**
 * Records reachable from `roots`: each root that is a record, and for directory records their files and
 * sub-directories (`children`). Records not on the network are skipped; any other failure throws (the caller
 * cannot know what that record reaches). Blocks inside a record are not records of their own.
 */
export async function reachableRecords(
  client: StratosClient,
  roots: Iterable<string>,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const seen = new Set<string>()
  const queue = [...roots]
  for (let i = 0; i < queue.length; i++) {
    const cid = queue[i]
    if (seen.has(cid)) continue
    if (seen.size >= RPC_MAX_PIN_WALK_RECORDS)
      throw new StratosError('PAYLOAD_TOO_LARGE', `pins reach more than ${RPC_MAX_PIN_WALK_RECORDS} records`)
    let record: FileRecordView
    try {
      record = await client.stat(cid, { signal })
    } catch (e) {
      if (isGone(e)) continue
      throw e
    }
    seen.add(cid)
    if (record.kind === 'directory') queue.push(...(record.children ?? []))
  }
  return seen
}

export interface GcDecision {
  /** Past their grace period and unreached: delete, directories first. */
  collect: StoredRecord[]
  /** Unreached and not released yet: their grace period starts now. */
  release: string[]
  /** Reached by a pin again: no longer released. */
  keep: string[]
  /** Unreached, still within their grace period. */
  waiting: number
}

/** The pure part of a pass: what to do with each stored record given what the pins reach. */
export function decideGc(
  stored: readonly StoredRecord[],
  reachable: ReadonlySet<string>,
  now: number,
  graceMs: number,
): GcDecision {
  const d: GcDecision = { collect: [], release: [], keep: [], waiting: 0 }
  for (const s of stored) {
    if (reachable.has(s.cid)) {
      if (s.releasedAt !== undefined) d.keep.push(s.cid)
    } else if (s.releasedAt === undefined) {
      d.release.push(s.cid)
    } else if (now - s.releasedAt >= graceMs) {
      d.collect.push(s)
    } else {
      d.waiting++
    }
  }
  // A directory before the files it holds (they were stored before it), so a pass stopped midway never leaves a
  // directory whose files are gone.
  d.collect.sort((a, b) => (a.kind === b.kind ? b.storedAt - a.storedAt : a.kind === 'directory' ? -1 : 1))
  return d
}

export interface GcComponents {
  client(): Promise<StratosClient>
  pins: PinStore
  wallet: WalletKey | undefined
  clock: Clock
  logger: Logger
}

export interface GcInit {
  /** How long released content stays before it is collected. @default RPC_GC_GRACE_MS */
  graceMs?: number
  /** How often the process collects by itself; 0 = only on `repo/gc`. @default RPC_GC_INTERVAL_MS */
  intervalMs?: number
}

export interface GcPassOptions {
  signal?: AbortSignal
  /** Called after each record is deleted (repo/gc streams it). */
  onRemoved?: (cid: string) => Promise<void>
  /** Called for each record whose delete failed (the pass goes on with the others). */
  onError?: (cid: string, err: StratosError) => Promise<void>
}

export interface GcResult {
  removed: string[]
  errors: { cid: string; message: string }[]
  /** Unreached records still within their grace period. */
  waiting: number
  /** True when the pin set changed during the pass and it stopped early. */
  interrupted: boolean
}

export class GarbageCollector implements Startable {
  readonly graceMs: number
  readonly intervalMs: number
  readonly #c: GcComponents
  #running: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #stopping: AbortController | undefined

  constructor(components: GcComponents, init: GcInit = {}) {
    this.#c = components
    this.graceMs = init.graceMs ?? RPC_GC_GRACE_MS
    this.intervalMs = init.intervalMs ?? RPC_GC_INTERVAL_MS
    if (!(this.graceMs >= 0) || !(this.intervalMs >= 0))
      throw new StratosError('BAD_REQUEST', 'GC grace and interval must be ≥ 0 ms', {
        graceMs: this.graceMs,
        intervalMs: this.intervalMs,
      })
  }

  async start(): Promise<void> {
    if (this.intervalMs === 0 || this.#timer) return
    this.#stopping = new AbortController()
    const signal = this.#stopping.signal
    this.#timer = setInterval(() => {
      void this.collect({ signal }).then(
        (r) => {
          if (r.removed.length || r.errors.length)
            this.#c.logger.info(
              { removed: r.removed.length, errors: r.errors.length, waiting: r.waiting },
              'RPC API garbage collection',
            )
        },
        (e: unknown) => {
          if (!signal.aborted)
            this.#c.logger.warn(
              { err: toStratosError(e).message },
              'RPC API garbage collection failed; nothing was deleted',
            )
        },
      )
    }, this.intervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    this.#stopping?.abort(new StratosError('ABORTED', 'stopping'))
    await this.#running.catch(() => undefined)
  }

  /** One pass, after any pass already running (they never overlap). */
  collect(o: GcPassOptions = {}): Promise<GcResult> {
    const next = this.#running.catch(() => undefined).then(() => this.#pass(o))
    this.#running = next
    return next
  }

  async #pass(o: GcPassOptions): Promise<GcResult> {
    const { pins, wallet, clock } = this.#c
    const result: GcResult = { removed: [], errors: [], waiting: 0, interrupted: false }
    // Without a wallet the API stored nothing it could delete.
    if (!wallet || pins.stored().length === 0) return result
    const client = await this.#c.client()
    let generation = pins.generation
    const reachable = await reachableRecords(
      client,
      pins.list().map((p) => p.cid),
      o.signal,
    )
    if (pins.generation !== generation) return { ...result, interrupted: true }
    const now = clock.now()
    const d = decideGc(pins.stored(), reachable, now, this.graceMs)
    result.waiting = d.waiting
    pins.updateStored({ release: d.release, keep: d.keep }, now)
    generation = pins.generation
    for (const s of d.collect) {
      if (o.signal?.aborted)
        throw new StratosError('ABORTED', 'garbage collection aborted', undefined, { cause: o.signal.reason })
      if (pins.generation !== generation) {
        result.interrupted = true
        break
      }
      try {
        await client.rm(s.cid, { signal: o.signal })
      } catch (e) {
        // Gone, or no longer the wallet's (its owner removed it another way): nothing left to delete, so forget it.
        if (!isGone(e) && !isStratosError(e, 'NOT_OWNER')) {
          const err = toStratosError(e)
          result.errors.push({ cid: s.cid, message: err.message })
          await o.onError?.(s.cid, err)
          continue
        }
      }
      // The pin set changed while the delete was in flight: this record is gone anyway, but stop after it.
      const raced = pins.generation !== generation
      pins.updateStored({ forget: [s.cid] }, clock.now())
      generation = pins.generation
      result.removed.push(s.cid)
      await o.onRemoved?.(s.cid)
      if (raced) {
        result.interrupted = true
        break
      }
    }
    return result
  }
}

/**
 * Collects what one `add` request stored, to record it with the entry's pin (pins.commitAdd) as the API's own.
 *
 * "The API stored it" means its wallet became an owner in this add. The SDK learns a file's CID only at the end of
 * its upload, when it commits, so ownership cannot be looked up before; instead the record's `createdAt` (set by the
 * meta node when the record is first committed) is compared with the time the upload started: a record created
 * during this add did not exist before, so nobody (not the same wallet through the CLI either) owned it. A record
 * that existed before is not recorded (the safe side: it is never collected). This assumes the gateway's and the
 * meta node's clocks agree, as signed requests already do within CLOCK_SKEW_MS.
 */
export class AddOrigins {
  readonly #o: { client: StratosClient; pins: PinStore; logger: Logger; now: () => number }
  #pending: { cid: string; kind: 'file' | 'directory' }[] = []

  constructor(o: { client: StratosClient; pins: PinStore; logger: Logger; now: () => number }) {
    this.#o = o
  }

  /** After the SDK stored `cid` (upload started at `startedAt`): remember it if this add created it. */
  async stored(cid: string, kind: 'file' | 'directory', startedAt: number, signal?: AbortSignal): Promise<void> {
    if (this.#o.pins.getStored(cid) !== undefined) {
      // Stored by the API before: still the API's (commitAdd refreshes its release time).
      this.#pending.push({ cid, kind })
      return
    }
    let createdAt: number
    try {
      createdAt = (await this.#o.client.stat(cid, { signal })).createdAt
    } catch (e) {
      // Unknown: never collected (safe side).
      this.#o.logger.warn(
        { cid, err: toStratosError(e).message },
        'add: could not check whether this add created the record; it will never be garbage-collected',
      )
      return
    }
    if (createdAt >= startedAt) this.#pending.push({ cid, kind })
  }

  /** Records what was stored since the last commit, with `pins` (none: released now), in one write. */
  commit(pins: PinInput[]): void {
    const stored = this.#pending
    this.#pending = []
    if (stored.length === 0 && pins.length === 0) return
    const { notRemembered } = this.#o.pins.commitAdd({ pins, stored }, this.#o.now())
    if (notRemembered.length)
      this.#o.logger.warn(
        { count: notRemembered.length },
        'add: the API remembers too many stored records; these will never be garbage-collected',
      )
  }
}
