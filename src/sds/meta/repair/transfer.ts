/**
 * The meta node as a client of its own resource nodes: repair and replication read and write shards with tickets it
 * issues to itself (and, for reads, orders signed by its own order key), exactly like any client (the resource nodes
 * need no special case, and the traffic is credited like any other).
 *
 * Payer: repair and replicas are not charged to file owners. With a chain, tickets name the meta node's owner
 * wallet (the operator pays the network's upkeep from the meta node's rewards); without a chain (storage-only mode,
 * nothing is charged) they name a placeholder address derived from the meta node's key: `repairPayer()`.
 *
 * Orders: every GET carries an order signed by this process's OrderSigner (one ephemeral key, like a client session);
 * ResourceClient signs it for the bytes each request moves. A PUT carries none: the repair's or replica's commit of the
 * new placement (repairer.ts, replicas.ts) is its proof of traffic, credited to `payer()` (pot/put-credits.ts).
 */
import { createHash } from 'node:crypto'
import { bech32 } from '@scure/base'
import { Agent } from 'undici'
import type { NodeKey } from '../../../crypto/node-key.ts'
import { StratosError } from '../../../errors.ts'
import { REPAIR_CONCURRENCY } from '../../../limits.ts'
import { randomHex, type Clock, type RandomBytes } from '../../../util/components.ts'
import type { SignedReceipt, SignedTicket, Ticket } from '../../protocol/messages.ts'
import { OrderSigner } from '../../protocol/orders.ts'
import { ResourceClient } from '../../../net/resource-client.ts'
import { DOMAIN, verifyNodeSigned } from '../../protocol/signing.ts'
import { issueTicket } from '../../protocol/ticket.ts'
import { WALLET_ADDRESS_PREFIX } from '../../../crypto/wallet-key.ts'

/** The payer of repair traffic: the meta node owner's wallet with a chain, else a placeholder tied to this meta node. */
export function repairPayer(key: NodeKey, chainOwner?: string): string {
  if (chainOwner) return chainOwner
  const digest = createHash('sha256').update('stratos-repair-payer\n').update(key.publicKey).digest().subarray(0, 20)
  return bech32.encode(WALLET_ADDRESS_PREFIX, bech32.toWords(digest))
}

export interface RepairTransfersOptions {
  key: NodeKey
  chainId: string
  clock: Clock
  random: RandomBytes
  /** Resolved per ticket (the chain link may sync its owner later than start). */
  payer: () => string
}

export class RepairTransfers {
  readonly orders = new OrderSigner()
  readonly resource: ResourceClient
  readonly #o: RepairTransfersOptions
  readonly #agent: Agent

  constructor(options: RepairTransfersOptions) {
    this.#o = options
    // Each worker moves a few shards at once (k reads, then the puts): a small pool of its own.
    this.#agent = new Agent({ connections: 4 * REPAIR_CONCURRENCY, keepAliveTimeout: 10_000 })
    this.resource = new ResourceClient({ dispatcher: this.#agent, clock: options.clock })
  }

  /** Who pays repair and replica traffic right now (its tickets name it; its PUT credits too). */
  payer(): string {
    return this.#o.payer()
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => {})
  }

  ticket(op: Ticket['op'], node: string, shard: string, size: number, context: string): SignedTicket {
    const { key, chainId, clock, random } = this.#o
    return issueTicket({
      key,
      chainId,
      op,
      node,
      shard,
      size,
      payer: this.payer(),
      context: context.slice(0, 200),
      orderKey: this.orders.publicKey,
      now: clock.now(),
      serial: randomHex(random, 16),
    })
  }

  /** A verified copy of the whole shard from `node`. */
  async get(p: {
    node: string
    url: string
    shard: string
    size: number
    context: string
    into?: Uint8Array
    signal?: AbortSignal
  }): Promise<Uint8Array> {
    const ticket = this.ticket('get', p.node, p.shard, p.size, p.context)
    return this.resource.getShard({
      url: p.url,
      ticket,
      shardId: p.shard,
      shardSize: p.size,
      orders: this.orders,
      ...(p.into ? { into: p.into } : {}),
      ...(p.signal ? { signal: p.signal } : {}),
    })
  }

  /** Stores `data` (whose id is `shard`) on `node`; returns the node's receipt after checking it is the one asked for. */
  async put(p: {
    node: string
    url: string
    shard: string
    data: Uint8Array
    context: string
    signal?: AbortSignal
  }): Promise<SignedReceipt> {
    const ticket = this.ticket('put', p.node, p.shard, p.data.length, p.context)
    const receipt = await this.resource.putShard({
      url: p.url,
      ticket,
      shardId: p.shard,
      data: p.data,
      ...(p.signal ? { signal: p.signal } : {}),
    })
    const { chainId, clock } = this.#o
    const r = verifyNodeSigned(DOMAIN.receipt, receipt, {
      chainId,
      now: Math.min(clock.now(), receipt.payload.storedAt),
    })
    if (
      receipt.signer !== p.node ||
      r.node !== p.node ||
      r.shard !== p.shard ||
      r.size !== p.data.length ||
      r.serial !== ticket.payload.serial
    ) {
      throw new StratosError('UPSTREAM_ERROR', `node ${p.node} answered a receipt that is not for this transfer`, {
        node: p.node,
        shard: p.shard,
      })
    }
    return receipt
  }
}
