/**
 * The RPC API's pin set: which CIDs the API's wallet keeps on the network, as Kubo's pinner keeps blocks
 * in its repo. One JSON file (`pins.json` in the API's data dir), rewritten atomically (temp + fsync +
 * rename) on every change, so a process killed at any moment restarts with the old or the new set.
 *
 * Semantics (docs/ipfs-api.md): content on our network stays stored while an owner keeps it; a pin is the
 * API's promise to keep it. `pin/rm` removes the pin and then deletes from the network what the API wallet
 * owns and no remaining pin reaches (the RPC server does that walk; this file only keeps the set).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { StratosError } from '../../errors.ts'
import { RPC_MAX_PINS } from '../../limits.ts'
import { writeFileAtomic } from '../../util/fs.ts'

export type PinType = 'recursive' | 'direct'

export interface Pin {
  cid: string
  type: PinType
  name?: string
  createdAt: number
}

const zPinFile = z.object({
  version: z.literal(1),
  pins: z.array(z.object({
    cid: z.string().max(200),
    type: z.enum(['recursive', 'direct']),
    name: z.string().max(1000).optional(),
    createdAt: z.number().int(),
  })).max(RPC_MAX_PINS),
})

export const PIN_FILE = 'pins.json'

export class PinStore {
  readonly path: string
  readonly #pins = new Map<string, Pin>()

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
        throw new StratosError('NETWORK_CONFIG', `${store.path} is not a valid pin file`, { path: store.path }, { cause: e })
      }
      for (const p of parsed.pins) store.#pins.set(p.cid, p)
    }
    return store
  }

  get size(): number {
    return this.#pins.size
  }

  get(cid: string): Pin | undefined {
    return this.#pins.get(cid)
  }

  list(): Pin[] {
    return [...this.#pins.values()]
  }

  /** Adds (or upgrades: direct → recursive, renames) pins; one atomic write for the batch. */
  add(pins: { cid: string; type: PinType; name?: string }[], now: number): void {
    const next = new Map(this.#pins)
    for (const p of pins) {
      const old = next.get(p.cid)
      const type: PinType = old?.type === 'recursive' ? 'recursive' : p.type
      const name = p.name ?? old?.name
      next.set(p.cid, { cid: p.cid, type, ...(name !== undefined ? { name } : {}), createdAt: old?.createdAt ?? now })
    }
    if (next.size > RPC_MAX_PINS) throw new StratosError('PAYLOAD_TOO_LARGE', `the pin set is limited to ${RPC_MAX_PINS} pins`)
    this.#commit(next)
  }

  /** Removes pins; returns those that existed. */
  remove(cids: string[]): Pin[] {
    const next = new Map(this.#pins)
    const removed: Pin[] = []
    for (const c of cids) {
      const p = next.get(c)
      if (p) {
        removed.push(p)
        next.delete(c)
      }
    }
    if (removed.length) this.#commit(next)
    return removed
  }

  #commit(next: Map<string, Pin>): void {
    const body = JSON.stringify({ version: 1, pins: [...next.values()] }, null, 1) + '\n'
    writeFileAtomic(this.path, body)
    this.#pins.clear()
    for (const [k, v] of next) this.#pins.set(k, v)
  }
}
