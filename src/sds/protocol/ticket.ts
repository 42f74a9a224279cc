/**
 * Transfer tickets: the meta node's signed permission for one shard transfer.
 * Issued by the meta node (`issueTicket`), carried by the client in the TICKET_HEADER, checked
 * by the resource node (`verifyTicket`) before a single byte moves.
 */
import { randomBytes } from 'node:crypto'
import { StratosError } from '../../errors.ts'
import type { NodeKey } from '../../crypto/node-key.ts'
import { DOMAIN, signAsNode, verifyNodeSigned } from './signing.ts'
import { zSignedTicket, type SignedTicket, type Ticket } from './messages.ts'
import { CLOCK_SKEW_MS, TICKET_CACHE_ENTRIES, TICKET_TTL_MS } from '../../limits.ts'
import { Lru } from '../../util/lru.ts'

export interface IssueTicketParameters {
  key: NodeKey
  chainId: string
  op: Ticket['op']
  node: string
  shard: string
  size: number
  payer: string
  context: string
  /** Public key (base64url) whose orders spend this limit. */
  orderKey: string
  now: number
  ttlMs?: number
  serial?: string
}

export function issueTicket(p: IssueTicketParameters): SignedTicket {
  return signAsNode(DOMAIN.ticket, p.key, {
    v: 1,
    chainId: p.chainId,
    serial: p.serial ?? randomBytes(16).toString('hex'),
    op: p.op,
    node: p.node,
    shard: p.shard,
    size: p.size,
    payer: p.payer,
    context: p.context,
    orderKey: p.orderKey,
    expiresAt: p.now + (p.ttlMs ?? TICKET_TTL_MS),
  })
}

export function encodeTicketHeader(ticket: SignedTicket): string {
  return Buffer.from(JSON.stringify(ticket)).toString('base64url')
}

export interface VerifyTicketParameters {
  header: string | string[] | undefined
  chainId: string
  now: number
  /** Meta node addresses whose tickets this node accepts. */
  trustedIssuers: ReadonlySet<string>
  /** This node's address: a ticket for another node is refused. */
  node: string
  op: Ticket['op']
  shard: string
  /** Tickets whose signature, issuer and chain were already checked, by exact header (see TicketCache). */
  cache?: TicketCache
}

/**
 * Remembers tickets whose signature, issuer and chain id verified, keyed by the exact header
 * string, so a ticket used for several requests (range reads of one shard) costs one ed25519
 * verification. Expiry, node, op and shard are still checked on every use. Bounded, FIFO (oldest
 * verified first out, a use does not refresh: a ticket expires TICKET_TTL_MS after it was issued
 * anyway); clear it when the set of trusted issuers changes.
 */
export class TicketCache {
  readonly #tickets: Lru<string, SignedTicket>
  constructor(maxEntries = TICKET_CACHE_ENTRIES) {
    this.#tickets = new Lru({ maxEntries, order: 'fifo' })
  }
  get(header: string): SignedTicket | undefined {
    return this.#tickets.get(header)
  }
  set(header: string, ticket: SignedTicket): void {
    this.#tickets.set(header, ticket)
  }
  clear(): void {
    this.#tickets.clear()
  }
}

/** Decodes and fully checks a ticket header; throws TICKET_* / UNTRUSTED_ISSUER errors. */
export function verifyTicket(p: VerifyTicketParameters): Ticket {
  return verifySignedTicket(p).payload
}

/**
 * verifyTicket, returning the whole signed ticket (its signer is the issuing meta node; a resource node stores it
 * with the first order of its serial), so a request decodes its ticket header once.
 */
export function verifySignedTicket(p: VerifyTicketParameters): SignedTicket {
  if (p.header === undefined || p.header === '')
    throw new StratosError('TICKET_MISSING', `a ${p.op.toUpperCase()} needs a ticket from a meta node`)
  if (Array.isArray(p.header) || p.header.length > 8192)
    throw new StratosError('TICKET_INVALID', 'ticket header malformed')
  const cached = p.cache?.get(p.header)
  if (cached) {
    const { expiresAt } = cached.payload
    if (expiresAt + CLOCK_SKEW_MS < p.now)
      throw new StratosError('TICKET_EXPIRED', 'ticket has expired', { expiresAt, now: p.now })
    checkBinding(cached.payload, p)
    return cached
  }
  let parsed: SignedTicket
  try {
    parsed = zSignedTicket.parse(JSON.parse(Buffer.from(p.header, 'base64url').toString('utf8')))
  } catch {
    throw new StratosError('TICKET_INVALID', 'ticket header is not a valid signed ticket')
  }
  let ticket: Ticket
  try {
    ticket = verifyNodeSigned(
      DOMAIN.ticket,
      parsed,
      { chainId: p.chainId, now: p.now, trustedSigners: p.trustedIssuers },
      'TICKET_INVALID',
    )
  } catch (e) {
    if (e instanceof StratosError && e.code === 'REQUEST_EXPIRED')
      throw new StratosError('TICKET_EXPIRED', 'ticket has expired', e.details)
    throw e
  }
  p.cache?.set(p.header, parsed)
  checkBinding(ticket, p)
  return parsed
}

/** The ticket must be for this node, this operation and this shard. */
function checkBinding(ticket: Ticket, p: VerifyTicketParameters): Ticket {
  if (ticket.node !== p.node)
    throw new StratosError('TICKET_WRONG_NODE', `ticket is for node ${ticket.node}`, { ticketNode: ticket.node })
  if (ticket.op !== p.op) throw new StratosError('TICKET_MISMATCH', `ticket is for ${ticket.op}, not ${p.op}`)
  if (ticket.shard !== p.shard) throw new StratosError('TICKET_MISMATCH', 'ticket is for another shard')
  return ticket
}
