/**
 * The gateway's SDK clients, one per credential: a StratosClient whose "wallet" is a DelegatedWallet — the
 * credential's wallet address, its delegation id and this gateway's node key. Every upload, read and delete it makes
 * is signed by the node key in the delegated form, so the meta node treats it as the wallet's own (the wallet owns
 * the files and its ozone pays the traffic) while the wallet's key never leaves its owner.
 *
 * Clients are kept in a bounded LRU (S3_CLIENT_CACHE_ENTRIES); an evicted client is closed after a grace period so
 * transfers in flight on it finish.
 */
import type { NodeKey } from '../crypto/node-key.ts'
import { S3_CLIENT_CLOSE_GRACE_MS, S3_CLIENT_CACHE_ENTRIES } from '../limits.ts'
import { StratosClient } from '../sds/client/client.ts'
import { DelegatedWallet } from '../sds/protocol/signing.ts'
import type { Clock, RandomBytes } from '../util/components.ts'
import { Lru } from '../util/lru.ts'

export interface NetworkClientsOptions {
  metaUrl: string
  chainId: string
  key: NodeKey
  clock: Clock
  random: RandomBytes
}

export class NetworkClients {
  readonly #o: NetworkClientsOptions
  readonly #clients: Lru<string, Promise<StratosClient>>
  readonly #closing = new Set<Promise<void>>()

  constructor(options: NetworkClientsOptions) {
    this.#o = options
    this.#clients = new Lru({
      maxEntries: S3_CLIENT_CACHE_ENTRIES,
      onEvict: (_k, c) => this.#closeLater(c),
    })
  }

  /** The client acting for `owner` through delegation `delegationId`. */
  client(owner: string, delegationId: string): Promise<StratosClient> {
    const id = `${owner}/${delegationId}`
    let c = this.#clients.get(id)
    if (c === undefined) {
      c = StratosClient.connect({
        metaUrl: this.#o.metaUrl,
        chainId: this.#o.chainId,
        wallet: new DelegatedWallet(owner, delegationId, this.#o.key),
        clock: this.#o.clock,
        random: this.#o.random,
      })
      c.catch(() => this.#clients.delete(id))
      this.#clients.set(id, c)
    }
    return c
  }

  #closeLater(c: Promise<StratosClient>): void {
    const p = new Promise<void>((resolve) => {
      setTimeout(() => {
        c.then((x) => x.close()).then(resolve, resolve)
      }, S3_CLIENT_CLOSE_GRACE_MS).unref()
    })
    this.#closing.add(p)
    void p.finally(() => this.#closing.delete(p))
  }

  async close(): Promise<void> {
    const all = [...this.#clients.keys()].map((k) => this.#clients.peek(k))
    this.#clients.clear()
    await Promise.allSettled(all.map((c) => c?.then((x) => x.close())))
  }
}
