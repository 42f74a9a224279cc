/**
 * OrderStore: the resource node's durable record of Proof-of-Traffic orders (LMDB env under
 * DATA/orders/).
 *
 *   tickets  serial → SignedTicket   the order limit as the node received it (written once per serial)
 *   state    serial → OrderState     highest order signed under the serial, bytes served, first use
 *   settled  serial → expiresAt      serials already handed to the meta node (refused until their limit expires)
 *
 * Writes are lmdb-js async puts: every write issued within RESOURCE_LMDB_COMMIT_DELAY_MS commits in one
 * transaction (one fdatasync), in call order, and the hot path never waits for the disk. A process killed at any
 * moment restarts from the last committed transaction: at worst the newest orders are lost (the
 * node is paid a little less), never a half-written record. A ticket and the first state of its
 * serial are written in the same turn, so they commit together; `load` still skips a state whose
 * ticket is missing rather than trusting it.
 */
import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { StratosError } from '../../errors.ts'
import { RESOURCE_LMDB_COMMIT_DELAY_MS } from '../../limits.ts'
import type { SignedTicket } from '../protocol/messages.ts'
import type { SignedOrder } from '../protocol/orders.ts'

export interface OrderState {
  /** The highest order received under this serial. */
  order: SignedOrder
  /** Bytes served (or admitted to be served) under this serial. */
  served: number
  /** When the serial was first used here (unix ms). */
  firstAt: number
}

export interface StoredSerial extends OrderState {
  serial: string
  ticket: SignedTicket
}

export class OrderStore {
  readonly path: string
  readonly #root: RootDatabase
  readonly #tickets: Database<SignedTicket, string>
  readonly #state: Database<OrderState, string>
  readonly #settled: Database<number, string>
  #closed = false

  private constructor(path: string, root: RootDatabase) {
    this.path = path
    this.#root = root
    const dbs = root.transactionSync(() => ({
      tickets: root.openDB<SignedTicket, string>({ name: 'tickets' }),
      state: root.openDB<OrderState, string>({ name: 'state' }),
      settled: root.openDB<number, string>({ name: 'settled' }),
    }))
    this.#tickets = dbs.tickets
    this.#state = dbs.state
    this.#settled = dbs.settled
  }

  /** Opens (or creates) the order store at `path` (a directory). */
  static open(path: string): OrderStore {
    mkdirSync(path, { recursive: true })
    try {
      return new OrderStore(
        path,
        open({ path, maxDbs: 8, compression: false, commitDelay: RESOURCE_LMDB_COMMIT_DELAY_MS }),
      )
    } catch (e) {
      throw new StratosError(
        'NETWORK_CONFIG',
        `cannot open the order store at ${path}: ${(e as Error).message}`,
        { path },
        { cause: e },
      )
    }
  }

  /** Every unsettled serial with its ticket (a state without its ticket is skipped and removed). */
  loadPending(): StoredSerial[] {
    const out: StoredSerial[] = []
    const orphans: string[] = []
    for (const { key, value } of this.#state.getRange({})) {
      const ticket = this.#tickets.get(key)
      if (!ticket) {
        orphans.push(key)
        continue
      }
      out.push({ serial: key, ticket, ...value })
    }
    for (const serial of orphans) void this.#state.remove(serial)
    return out
  }

  /** Settled serials and their limit's expiry. */
  loadSettled(): Array<[string, number]> {
    const out: Array<[string, number]> = []
    for (const { key, value } of this.#settled.getRange({})) out.push([key, value])
    return out
  }

  /** The stored ticket and state of an unsettled serial. */
  get(serial: string): StoredSerial | undefined {
    const state = this.#state.get(serial)
    const ticket = this.#tickets.get(serial)
    return state && ticket ? { serial, ticket, ...state } : undefined
  }

  /** Records a serial's first order (ticket and state commit together). Not awaited on the hot path. */
  create(serial: string, ticket: SignedTicket, state: OrderState): void {
    this.#check()
    void this.#tickets.put(serial, ticket)
    void this.#state.put(serial, state)
  }

  /** Records a serial's new state. Not awaited on the hot path. */
  update(serial: string, state: OrderState): void {
    this.#check()
    void this.#state.put(serial, state)
  }

  /** Moves serials from pending to settled (one transaction). */
  async settle(items: Array<{ serial: string; expiresAt: number }>): Promise<void> {
    this.#check()
    await this.#root.transaction(() => {
      for (const { serial, expiresAt } of items) {
        this.#state.removeSync(serial)
        this.#tickets.removeSync(serial)
        this.#settled.putSync(serial, expiresAt)
      }
    })
  }

  /** Forgets pending serials without settling them (past the settlement window). */
  async drop(serials: string[]): Promise<void> {
    this.#check()
    await this.#root.transaction(() => {
      for (const serial of serials) {
        this.#state.removeSync(serial)
        this.#tickets.removeSync(serial)
      }
    })
  }

  /** Forgets settled serials (their limits have expired: the ticket check refuses them now). */
  async forgetSettled(serials: string[]): Promise<void> {
    this.#check()
    await this.#root.transaction(() => {
      for (const serial of serials) this.#settled.removeSync(serial)
    })
  }

  /** Resolves when every write issued so far is committed. */
  flushed(): Promise<void> {
    return this.#root.flushed.then(() => undefined)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#root.flushed
    await this.#root.close()
  }

  #check(): void {
    if (this.#closed) throw new StratosError('NODE_UNAVAILABLE', 'the order store is closed')
  }
}
