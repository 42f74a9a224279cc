/**
 * The RPC API's pin set, and the records the API stored itself: what garbage collection (gc.ts) may ever delete.
 * One JSON file (`pins.json` in the API's data dir), rewritten atomically (temp + fsync + rename) on every change,
 * so a process killed at any moment restarts with the old or the new state, never a mix.
 *
 * Semantics (docs/ipfs-api.md, as Kubo's pinner and repo): a pin is the API's promise to keep content. `pin/rm`
 * only removes the pin; content goes away only through garbage collection, and only content that
 *   - the API stored through an `add` in which its wallet became an owner (a `stored` entry: recorded at add time;
 *     `pin/add` of anything else, e.g. a file the same wallet uploaded with the CLI, never creates one),
 *   - no pin reaches any more, and
 *   - has been released (its last pin removed, or added with pin=false) for longer than the grace period.
 * `releasedAt` is that clock: set when a pin reaching the record goes away (or first seen unreached by GC), cleared
 * when a pin reaches it again. `generation` counts changes, so a GC pass that walked an older pin set stops before
 * deleting anything a newer pin may protect.
 *
 * File versions: 1 (pins only; read, then written back as 2) and 2 (pins + stored).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { StratosError } from '../../errors.ts'
import { RPC_MAX_PINS, RPC_MAX_STORED_RECORDS } from '../../limits.ts'
import { writeFileAtomic } from '../../util/fs.ts'

export type PinType = 'recursive' | 'direct'

export interface Pin {
  cid: string
  type: PinType
  name?: string
  createdAt: number
}

export interface PinInput {
  cid: string
  type: PinType
  name?: string
}

/** A record (file or directory) this API stored: a candidate for garbage collection once nothing pins it. */
export interface StoredRecord {
  cid: string
  kind: 'file' | 'directory'
  storedAt: number
  /** Since when no pin reaches it, as far as the API knows; absent while pinned. */
  releasedAt?: number
}

const zPin = z.object({
  cid: z.string().max(200),
  type: z.enum(['recursive', 'direct']),
  name: z.string().max(1000).optional(),
  createdAt: z.number().int(),
})

const zStored = z.object({
  cid: z.string().max(200),
  kind: z.enum(['file', 'directory']),
  storedAt: z.number().int(),
  releasedAt: z.number().int().optional(),
})

const zPinFile = z.discriminatedUnion('version', [
  z.object({ version: z.literal(1), pins: z.array(zPin).max(RPC_MAX_PINS) }),
  z.object({
    version: z.literal(2),
    pins: z.array(zPin).max(RPC_MAX_PINS),
    stored: z.array(zStored).max(RPC_MAX_STORED_RECORDS),
  }),
])

export const PIN_FILE = 'pins.json'

export class PinStore {
  readonly path: string
  readonly #pins = new Map<string, Pin>()
  readonly #stored = new Map<string, StoredRecord>()
  #generation = 0

  private constructor(path: string) {
    this.path = path
  }

  /** Opens (or starts) the pin set of a data dir. A damaged file is an error, never silently emptied. */
  static open(dataDir: string): PinStore {
    const store = new PinStore(join(dataDir, PIN_FILE))
    if (existsSync(store.path)) {
      let parsed: z.infer<typeof zPinFile>
      try {
        parsed = zPinFile.parse(JSON.parse(readFileSync(store.path, 'utf8')))
      } catch (e) {
        throw new StratosError(
          'NETWORK_CONFIG',
          `${store.path} is not a valid pin file`,
          { path: store.path },
          { cause: e },
        )
      }
      for (const p of parsed.pins) store.#pins.set(p.cid, p)
      // Version 1 recorded no origins: nothing it pinned becomes collectable by the upgrade.
      if (parsed.version === 2) for (const s of parsed.stored) store.#stored.set(s.cid, s)
    }
    return store
  }

  get size(): number {
    return this.#pins.size
  }

  /** Changes so far (in this process): a GC pass compares it before each delete. */
  get generation(): number {
    return this.#generation
  }

  get(cid: string): Pin | undefined {
    return this.#pins.get(cid)
  }

  list(): Pin[] {
    return [...this.#pins.values()]
  }

  getStored(cid: string): StoredRecord | undefined {
    return this.#stored.get(cid)
  }

  stored(): StoredRecord[] {
    return [...this.#stored.values()]
  }

  /** Adds (or upgrades: direct → recursive, renames) pins; a pinned record the API stored is no longer released. */
  add(pins: PinInput[], now: number): void {
    this.commitAdd({ pins, stored: [] }, now)
  }

  /**
   * What one `add` entry stored, with its pins, in one write: new records are remembered as the API's; they are
   * released at `now` unless `pins` is non-empty (then the entry's root pin reaches them). Records past
   * RPC_MAX_STORED_RECORDS are not remembered (so never collected: the safe side); they are returned.
   */
  commitAdd(
    change: { pins: PinInput[]; stored: { cid: string; kind: 'file' | 'directory' }[] },
    now: number,
  ): { notRemembered: string[] } {
    const pins = new Map(this.#pins)
    for (const p of change.pins) {
      const old = pins.get(p.cid)
      const type: PinType = old?.type === 'recursive' ? 'recursive' : p.type
      const name = p.name ?? old?.name
      pins.set(p.cid, { cid: p.cid, type, ...(name !== undefined ? { name } : {}), createdAt: old?.createdAt ?? now })
    }
    if (pins.size > RPC_MAX_PINS)
      throw new StratosError('PAYLOAD_TOO_LARGE', `the pin set is limited to ${RPC_MAX_PINS} pins`)
    const stored = new Map(this.#stored)
    const released = change.pins.length === 0
    const notRemembered: string[] = []
    for (const s of change.stored) {
      const old = stored.get(s.cid)
      if (old === undefined && stored.size >= RPC_MAX_STORED_RECORDS) {
        notRemembered.push(s.cid)
        continue
      }
      // Stored again: a fresh intent, so an unpinned add starts its grace period again.
      const { releasedAt: _, ...base } = old ?? { cid: s.cid, kind: s.kind, storedAt: now }
      stored.set(s.cid, released ? { ...base, releasedAt: now } : base)
    }
    for (const p of change.pins) {
      const s = stored.get(p.cid)
      if (s?.releasedAt !== undefined) stored.set(p.cid, { cid: s.cid, kind: s.kind, storedAt: s.storedAt })
    }
    this.#commit(pins, stored)
    return { notRemembered }
  }

  /** Removes pins; returns those that existed. Records the API stored among them are released at `now`. */
  remove(cids: string[], now: number): Pin[] {
    const next = new Map(this.#pins)
    const removed: Pin[] = []
    for (const c of cids) {
      const p = next.get(c)
      if (p) {
        removed.push(p)
        next.delete(c)
      }
    }
    if (removed.length === 0) return removed
    const stored = new Map(this.#stored)
    for (const p of removed) {
      const s = stored.get(p.cid)
      if (s) stored.set(p.cid, { ...s, releasedAt: now })
    }
    this.#commit(next, stored)
    return removed
  }

  /**
   * One write of bookkeeping: `release` starts the grace period of records not yet released (GC saw them unreached),
   * `unpinned` restarts it (records a `pin/rm` just stopped reaching), `keep` ends it (a pin reaches them), `forget`
   * drops records that are gone from the network (or from the wallet).
   */
  updateStored(
    change: { release?: string[]; keep?: string[]; forget?: string[]; unpinned?: string[] },
    now: number,
  ): void {
    const stored = new Map(this.#stored)
    let changed = false
    for (const c of change.release ?? []) {
      const s = stored.get(c)
      if (s && s.releasedAt === undefined) {
        stored.set(c, { ...s, releasedAt: now })
        changed = true
      }
    }
    // Unpinned just now: the grace period starts again even if it had started before (an earlier unpin, re-pinned since).
    for (const c of change.unpinned ?? []) {
      const s = stored.get(c)
      if (s) {
        stored.set(c, { ...s, releasedAt: now })
        changed = true
      }
    }
    for (const c of change.keep ?? []) {
      const s = stored.get(c)
      if (s?.releasedAt !== undefined) {
        stored.set(c, { cid: s.cid, kind: s.kind, storedAt: s.storedAt })
        changed = true
      }
    }
    for (const c of change.forget ?? []) changed = stored.delete(c) || changed
    if (changed) this.#commit(new Map(this.#pins), stored)
  }

  #commit(pins: Map<string, Pin>, stored: Map<string, StoredRecord>): void {
    const body = JSON.stringify({ version: 2, pins: [...pins.values()], stored: [...stored.values()] }, null, 1) + '\n'
    writeFileAtomic(this.path, body)
    this.#pins.clear()
    for (const [k, v] of pins) this.#pins.set(k, v)
    this.#stored.clear()
    for (const [k, v] of stored) this.#stored.set(k, v)
    this.#generation++
  }
}
