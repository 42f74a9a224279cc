/**
 * The resource node's side of a storage audit (protocol: ../protocol/audit.ts).
 *
 * The challenged chunk is read through the store's verified reader, exactly like a client read: a chunk that does not
 * match its hash is quarantined and reported at the next heartbeat (as any read would), and the audit fails with
 * SHARD_CORRUPT — a node never answers with bytes it could not verify itself.
 */
import type { NodeKey } from '../../crypto/node-key.ts'
import { StratosError } from '../../errors.ts'
import { AUDIT_REPLAY_GUARD_ENTRIES } from '../../limits.ts'
import type { Clock } from '../../util/components.ts'
import {
  answerAuditChallenge,
  challengedChunk,
  chunkRange,
  verifyAuditChallenge,
  zSignedAuditChallenge,
  type AuditAnswer,
  type SignedAuditChallenge,
} from '../protocol/audit.ts'
import { ReplayGuard } from '../protocol/signing.ts'
import type { ShardStore } from './store.ts'

export interface AuditResponderComponents {
  store: ShardStore
  key: NodeKey
  chainId: string
  trust: { readonly issuers: ReadonlySet<string> }
  clock: Clock
}

export class AuditResponder {
  readonly #c: AuditResponderComponents
  readonly #seen = new ReplayGuard(AUDIT_REPLAY_GUARD_ENTRIES)

  constructor(components: AuditResponderComponents) {
    this.#c = components
  }

  /** Answers one challenge (the parsed JSON body of POST /v1/audit). */
  async answer(body: unknown): Promise<AuditAnswer> {
    const { store, key, chainId, clock, trust } = this.#c
    const parsed = zSignedAuditChallenge.safeParse(body)
    if (!parsed.success) throw new StratosError('BAD_REQUEST', 'invalid audit challenge')
    const now = clock.now()
    const challenge = verifyAuditChallenge(parsed.data as SignedAuditChallenge, {
      chainId,
      now,
      node: key.address,
      trustedIssuers: trust.issuers,
    })
    if (!this.#seen.check(`${parsed.data.signer}/${challenge.nonce}`, challenge.expiresAt, now)) {
      throw new StratosError('REPLAYED_NONCE', 'this audit challenge was already answered', { nonce: challenge.nonce })
    }
    const size = store.sizeOf(challenge.shard)
    if (size === undefined)
      throw new StratosError('SHARD_NOT_FOUND', `shard ${challenge.shard} is not stored here`, {
        shard: challenge.shard,
      })
    const { start, end } = chunkRange(challengedChunk(challenge, size), size)
    const reader = await store.openRead(challenge.shard, start, end)
    const parts: Buffer[] = []
    for await (const piece of reader) parts.push(piece)
    const data = Buffer.concat(parts)
    return answerAuditChallenge({ key, challenge, size, chunkHashes: reader.chunkHashes, data, now: clock.now() })
  }
}
