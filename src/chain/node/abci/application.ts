/**
 * The STOS ledger as an ABCI 2.0 application (CometBFT v0.38): one `handle(Request) → Response` per message,
 * synchronous, so the socket server answers each connection's requests in order. Messages are cosmjs-types'
 * `tendermint.abci` types (the v0.38 .proto), never a hand-written codec.
 *
 * Execution goes through the same `Blockchain` as the embedded engine (producer.ts): FinalizeBlock executes the
 * decided block (`Blockchain.execute`: state machine + header, nothing written) and returns its state hash as the
 * app hash; Commit persists it (state, block and tx index in one LMDB transaction). So the app's last height is
 * always a committed block, and Info tells CometBFT's handshake where to resume: after a crash CometBFT replays
 * the blocks the app lacks (FinalizeBlock + Commit again), whichever of the two processes died.
 *
 *   Info            last committed height and app hash (empty at height 0, where CometBFT calls InitChain)
 *   InitChain       the chain id must be the app's; the genesis state was written when the node first started
 *                   (its genesis.json), so InitChain only checks and returns the genesis state hash and the initial
 *                   validator set: the genesis staking validators (ed25519 consensus key, power = whole STOS
 *                   bonded; staking.ts). A ledger without staking validators returns none, and CometBFT keeps
 *                   the validators of its own genesis.json (a lone local validator)
 *   CheckTx         decode (canonical JSON of a signed tx) + ChainApp.checkTx: chain id, signature, nonce, fee
 *                   (the fee against the committed balance); a malformed tx gets a non-zero code. CometBFT runs
 *                   with `mempool.recheck = false` (cometbft.ts: a Recheck of every tx left after each block cost
 *                   a CheckTx and a Flush round trip per tx per validator), so the app carries each sender's
 *                   *pending* next nonce across Commits (PendingNonces): a new tx is admitted when its nonce is the
 *                   pending one (the committed nonce when the sender has nothing pending). An entry goes when the
 *                   committed nonce catches up with it, and resets to the committed nonce when the sender's committed
 *                   nonce has not moved for COMET_MEMPOOL_TTL_BLOCKS (a tx of it failed or was replaced: the sender
 *                   signs again from the committed nonce, and re-signs the later nonces it had sent). A Recheck
 *                   (should CometBFT be configured to send them) checks everything but the sequence: a replayed
 *                   nonce or an unpaid fee drops the tx. Each tx is decoded once per node (DecodedTxs, by its bytes)
 *                   and its signer recovered once (ChainApp's signature cache, by its hash): PrepareProposal,
 *                   ProcessProposal and FinalizeBlock reuse both
 *   PrepareProposal the mempool's txs that decode, in mempool order, up to max_tx_bytes and COMET_MAX_BLOCK_TXS,
 *                   less the ones that would fail ante in the block (ChainApp.proposalTrial: a nonce out of
 *                   sequence, a fee the balance cannot pay by then): those are held back, since they may become
 *                   valid (a gap filled, funds received); one still held back COMET_MEMPOOL_TTL_BLOCKS after it was
 *                   first is included, and fails in FinalizeBlock with its code (no fee, no nonce): without recheck
 *                   that is how a dead tx leaves every mempool (CometBFT v0.38 has no mempool TTL). Proposer only,
 *                   not consensus-critical
 *   ProcessProposal REJECT when a tx does not decode (a malformed tx); ACCEPT otherwise (a tx that fails ante or
 *                   in its messages is included with its error code, as in the embedded engine)
 *   FinalizeBlock   the commit's votes (absent = missed) and the misbehavior list go to the state machine
 *                   (validator-slashing.ts: downtime, double signing); per-tx ExecTxResult (code = codes.ts, log,
 *                   events), begin/end-block events, validator_updates (the block's changes of the consensus
 *                   set: staking, jailing), app hash
 *   Commit          persist; retain_height 0 (every block is kept)
 *   Query           the REST API's read paths (`/accounts/{st1…}`, `/validators`, `/params`, …), canonical JSON
 *   Echo, Flush     as the protocol says; snapshots: none offered, every offer rejected (state sync is off)
 *
 * Proposer: CometBFT names a block's proposer by its consensus address (20 bytes); the fees go to an operator
 * address (st1…): the staking validator with that consensus key (state, so every node agrees), else `proposers`
 * (a lone validator outside staking); a block by an unknown address pays its fees to nobody (they wait in the
 * fee collector, as in the embedded engine).
 */
import { canonicalJson, type CanonicalValue } from '../../../crypto/canonical.ts'
import { StratosError, toStratosError, type ErrorCode } from '../../../errors.ts'
import { silentLogger, type Logger } from '../../../util/components.ts'
import {
  CheckTxType,
  type Event,
  type ExecTxResult,
  type Request,
  type RequestCheckTx,
  type RequestFinalizeBlock,
  type RequestPrepareProposal,
  type RequestProcessProposal,
  type RequestQuery,
  Response,
  ResponseOfferSnapshot_Result,
  ResponseProcessProposal_ProposalStatus,
  ResponseVerifyVoteExtension_VerifyStatus,
} from 'cosmjs-types/tendermint/abci/types'
import type { Timestamp } from 'cosmjs-types/google/protobuf/timestamp'
import { BlockIDFlag } from 'cosmjs-types/tendermint/types/validator'
import { ABCI_DECODED_TX_CACHE_ENTRIES, COMET_MAX_BLOCK_TXS, COMET_MEMPOOL_TTL_BLOCKS } from '../../../limits.ts'
import { ABCI_CODESPACE, ABCI_OK, abciCode } from '../../abci/codes.ts'
import type { ChainEvent } from '../../state/context.ts'
import { consensusSet, operatorOfConsensusAddress, type ValidatorUpdate } from '../../state/staking.ts'
import type { ConsensusInfo } from '../../state/validator-slashing.ts'
import { parseSignedTx, type SignedTx } from '../../tx.ts'
import type { Blockchain, ExecutedBlock } from '../blockchain.ts'
import { Lru } from '../../../util/lru.ts'

export const ABCI_APP_VERSION = 1n

const utf8 = new TextEncoder()

export interface AbciApplicationOptions {
  chain: Blockchain
  /** Consensus address (hex, upper or lower case) → operator address (st1…) of each validator. */
  proposers?: ReadonlyMap<string, string>
  logger?: Logger
}

type Decoded = { ok: true; tx: SignedTx } | { ok: false; code: ErrorCode; message: string }

export class AbciApplication {
  readonly #chain: Blockchain
  readonly #proposers: Map<string, string>
  readonly #logger: Logger
  /** The block FinalizeBlock executed, waiting for Commit. */
  #pending: { height: number; executed: ExecutedBlock; txs: readonly Uint8Array[] } | undefined
  /** Each sender's pending next nonce: CheckTx's sequence across Commits. */
  readonly #pendingNonces = new PendingNonces(COMET_MEMPOOL_TTL_BLOCKS)
  /** Txs PrepareProposal held back (bytes key → height first held back), see #prepare. */
  readonly #heldBack = new Map<string, number>()
  readonly #decoded = new DecodedTxs(ABCI_DECODED_TX_CACHE_ENTRIES)

  constructor(o: AbciApplicationOptions) {
    this.#chain = o.chain
    this.#proposers = new Map([...(o.proposers ?? [])].map(([k, v]) => [k.toLowerCase(), v]))
    this.#logger = o.logger ?? silentLogger
  }

  /**
   * A tx this process decoded already (the REST intake, before handing it to CometBFT) under the bytes it sends:
   * its CheckTx then skips decoding. `bytes` must be `encodeSignedTx(tx)` (what decoding them gives back).
   */
  rememberDecoded(bytes: Uint8Array, tx: SignedTx): void {
    this.#decoded.remember(bytes, { ok: true, tx })
  }

  /** Answers one request. An unexpected failure becomes a ResponseException (CometBFT then stops: never a fork). */
  handle(req: Request): Response {
    try {
      return this.#dispatch(req)
    } catch (e) {
      const err = toStratosError(e)
      this.#logger.error({ err }, 'ABCI request failed')
      return Response.fromPartial({ exception: { error: `${err.code}: ${err.message}` } })
    }
  }

  #dispatch(req: Request): Response {
    const app = this.#chain.app
    if (req.echo) return Response.fromPartial({ echo: { message: req.echo.message } })
    if (req.flush) return Response.fromPartial({ flush: {} })
    if (req.info)
      return Response.fromPartial({
        info: {
          data: 'stratos',
          version: 'stratos-ts',
          appVersion: ABCI_APP_VERSION,
          lastBlockHeight: BigInt(app.height),
          lastBlockAppHash: app.height === 0 ? new Uint8Array() : hexBytes(app.stateHash),
        },
      })
    if (req.initChain) {
      if (req.initChain.chainId !== app.chainId)
        throw new StratosError(
          'NETWORK_CONFIG',
          `CometBFT's genesis is for chain ${req.initChain.chainId}, the app holds ${app.chainId}`,
        )
      if (app.height !== 0) throw new StratosError('NETWORK_CONFIG', `InitChain at app height ${app.height}`)
      return Response.fromPartial({
        initChain: { validators: consensusSet(app.store).map(abciValidatorUpdate), appHash: hexBytes(app.stateHash) },
      })
    }
    if (req.checkTx) return Response.fromPartial({ checkTx: this.#checkTx(req.checkTx) })
    if (req.prepareProposal) return Response.fromPartial({ prepareProposal: this.#prepare(req.prepareProposal) })
    if (req.processProposal) return Response.fromPartial({ processProposal: this.#process(req.processProposal) })
    if (req.finalizeBlock) return Response.fromPartial({ finalizeBlock: this.#finalize(req.finalizeBlock) })
    if (req.commit) {
      const pending = this.#pending
      if (!pending) throw new StratosError('BAD_BLOCK', 'Commit without a finalized block')
      pending.executed.persist()
      // A committed tx comes back only if someone sends it again (CometBFT's cache refuses most): forget it.
      for (const tx of pending.txs) {
        const key = bytesKey(tx)
        this.#decoded.deleteKey(key)
        this.#heldBack.delete(key)
      }
      this.#pending = undefined
      this.#pendingNonces.afterCommit(pending.height, (sender) => app.query.nonce(sender))
      // A held-back tx that left the mempool some other way (another proposer's block evicted it) is forgotten too.
      for (const [key, first] of this.#heldBack)
        if (pending.height - first > 2 * COMET_MEMPOOL_TTL_BLOCKS) this.#heldBack.delete(key)
      return Response.fromPartial({ commit: { retainHeight: 0n } })
    }
    if (req.query) return Response.fromPartial({ query: this.#query(req.query) })
    if (req.listSnapshots) return Response.fromPartial({ listSnapshots: { snapshots: [] } })
    if (req.offerSnapshot)
      return Response.fromPartial({ offerSnapshot: { result: ResponseOfferSnapshot_Result.REJECT } })
    if (req.loadSnapshotChunk) return Response.fromPartial({ loadSnapshotChunk: { chunk: new Uint8Array() } })
    if (req.applySnapshotChunk) return Response.fromPartial({ applySnapshotChunk: {} })
    if (req.extendVote) return Response.fromPartial({ extendVote: { voteExtension: new Uint8Array() } })
    if (req.verifyVoteExtension)
      return Response.fromPartial({
        verifyVoteExtension: { status: ResponseVerifyVoteExtension_VerifyStatus.ACCEPT },
      })
    throw new StratosError('BAD_REQUEST', 'empty or unknown ABCI request')
  }

  #checkTx(req: RequestCheckTx) {
    const d = this.#decoded.decode(req.tx)
    if (!d.ok) return { code: abciCode(d.code), log: d.message, codespace: ABCI_CODESPACE }
    const app = this.#chain.app
    try {
      const recheck = req.type === CheckTxType.RECHECK
      const expectedNonce = recheck ? d.tx.tx.nonce : this.#pendingNonces.next(d.tx.tx.sender)
      const checked = app.checkTx(d.tx, { expectedNonce })
      if (!recheck) this.#pendingNonces.admitted(checked.sender, checked.nonce, app.height)
      return { code: ABCI_OK, data: utf8.encode(checked.hash), gasWanted: 1n }
    } catch (e) {
      const err = toStratosError(e)
      return { code: abciCode(err.code), log: err.message, codespace: ABCI_CODESPACE }
    }
  }

  #prepare(req: RequestPrepareProposal) {
    const app = this.#chain.app
    const height = Number(req.height)
    const trial = app.proposalTrial({
      height,
      time: Math.max(timestampMs(req.time), app.time),
      proposer: this.#operatorOf(req.proposerAddress),
    })
    const txs: Uint8Array[] = []
    let bytes = 0
    const max = Number(req.maxTxBytes)
    for (const tx of req.txs) {
      if (bytes + tx.length > max || txs.length >= COMET_MAX_BLOCK_TXS) break
      const d = this.#decoded.decode(tx)
      if (!d.ok) continue
      if (!trial.tryTx(d.tx)) {
        // Would fail ante here: held back while it may still become valid, then included once to evict it.
        const key = bytesKey(tx)
        const first = this.#heldBack.get(key)
        if (first === undefined) this.#heldBack.set(key, height)
        if (first === undefined || height - first < COMET_MEMPOOL_TTL_BLOCKS) continue
        this.#heldBack.delete(key)
      }
      txs.push(tx)
      bytes += tx.length
    }
    return { txs }
  }

  /** The operator address (st1…) fees of a block by this consensus address go to; '' when none. */
  #operatorOf(consensusAddress: Uint8Array): string {
    const address = Buffer.from(consensusAddress).toString('hex')
    return operatorOfConsensusAddress(this.#chain.app.store, address) ?? this.#proposers.get(address) ?? ''
  }

  #process(req: RequestProcessProposal) {
    const malformed = req.txs.findIndex((tx) => !this.#decoded.decode(tx).ok)
    if (malformed >= 0) {
      this.#logger.warn({ height: Number(req.height), index: malformed }, 'rejecting a proposal with a malformed tx')
      return { status: ResponseProcessProposal_ProposalStatus.REJECT }
    }
    return { status: ResponseProcessProposal_ProposalStatus.ACCEPT }
  }

  #finalize(req: RequestFinalizeBlock) {
    const chain = this.#chain
    const height = Number(req.height)
    if (height !== chain.height + 1)
      throw new StratosError('BAD_BLOCK', `FinalizeBlock ${height}, the app is at ${chain.height}`)
    const decoded = req.txs.map((tx) => this.#decoded.decode(tx))
    const txs = decoded.flatMap((d) => (d.ok ? [d.tx] : []))
    const proposer = this.#operatorOf(req.proposerAddress)
    // CometBFT's block time is monotonic; the app's rule (never before the previous block) holds anyway.
    const time = Math.max(timestampMs(req.time), chain.app.time)
    const consensus: ConsensusInfo = {
      votes: (req.decidedLastCommit?.votes ?? []).map((v) => ({
        address: Buffer.from(v.validator.address).toString('hex'),
        signed: v.blockIdFlag !== BlockIDFlag.BLOCK_ID_FLAG_ABSENT,
      })),
      misbehavior: req.misbehavior.map((m) => ({
        address: Buffer.from(m.validator.address).toString('hex'),
        height: Number(m.height),
      })),
    }
    const executed = chain.execute({ height, time, proposer, txs, consensus })
    this.#pending = { height, executed, txs: req.txs }
    const results = executed.block.results
    let next = 0
    const txResults: Array<Partial<ExecTxResult>> = decoded.map((d) => {
      if (!d.ok) return { code: abciCode(d.code), log: d.message, codespace: ABCI_CODESPACE }
      const r = results[next++]!
      return {
        code: abciCode(r.code),
        log: r.message ?? '',
        data: utf8.encode(r.hash),
        codespace: r.code === 'OK' ? '' : ABCI_CODESPACE,
        events: r.events.map(abciEvent),
      }
    })
    return {
      events: executed.events.map(abciEvent),
      txResults,
      validatorUpdates: executed.validatorUpdates.map(abciValidatorUpdate),
      appHash: hexBytes(executed.block.header.stateHash),
    }
  }

  #query(req: RequestQuery) {
    const app = this.#chain.app
    const height = BigInt(app.height)
    try {
      if (req.height !== 0n && req.height !== height)
        throw new StratosError('BAD_REQUEST', `only the latest height (${height}) can be queried`)
      const value = queryPath(this.#chain, req.path)
      return { code: ABCI_OK, value: utf8.encode(canonicalJson(value as CanonicalValue)), height }
    } catch (e) {
      const err = toStratosError(e)
      return { code: abciCode(err.code), log: err.message, codespace: ABCI_CODESPACE, height }
    }
  }
}

/** The read paths of the REST API (rest.ts) that abci_query serves, same JSON. */
function queryPath(chain: Blockchain, path: string): unknown {
  const q = chain.app.query
  const parts = path.split('/').filter(Boolean)
  const [a, b, c] = parts
  if (parts.length === 1) {
    if (a === 'validators') return q.validators()
    if (a === 'ozone') return q.ozoneMarket()
    if (a === 'mining') return q.mining()
    if (a === 'reports') return q.volumeReports()
    if (a === 'params')
      return { chainId: chain.app.chainId, genesisTime: chain.app.genesisTime, params: chain.app.params }
    if (a === 'status')
      return {
        chainId: chain.app.chainId,
        height: chain.height,
        stateHash: chain.app.stateHash,
        epoch: chain.app.epoch,
      }
  }
  if (parts.length === 2 && b) {
    if (a === 'accounts') return q.account(b)
    if (a === 'ozone') return { address: b, ozone: q.ozone(b) }
    if (a === 'delegations') return { delegations: q.delegationsOf(b), unbondings: q.unbondings(b) }
    if (a === 'rewards') return q.rewards(b)
    if (a === 'nodes' && (b === 'resource' || b === 'meta')) return b === 'resource' ? q.resourceNodes() : q.metaNodes()
    if (a === 'blocks') {
      const json = chain.blockJson(Number(b))
      if (json === undefined) throw new StratosError('NOT_FOUND', `no block ${b}`)
      return JSON.parse(json)
    }
    if (a === 'txs') {
      const tx = chain.tx(b)
      if (!tx) throw new StratosError('NOT_FOUND', `no transaction ${b} in a block`)
      return { hash: b, ...tx }
    }
  }
  if (parts.length === 3 && a === 'validators' && c === 'delegations' && b) return q.delegationsTo(b)
  throw new StratosError('NOT_FOUND', `no query path ${path}`)
}

/**
 * Decoded txs by their bytes: decoding is a pure function of the bytes (JSON + schema; the SignedTx is frozen and
 * its encodings cached with it, tx.ts), so a remembered answer is exactly what decoding again would give. Only
 * successful decodes are kept (a malformed tx is cheap to refuse again). Bounded (util/lru.ts, first in first out).
 */
class DecodedTxs {
  readonly #byBytes: Lru<string, Decoded>

  constructor(maxEntries: number) {
    this.#byBytes = new Lru({ maxEntries, order: 'fifo' })
  }

  decode(bytes: Uint8Array): Decoded {
    const key = bytesKey(bytes)
    const hit = this.#byBytes.get(key)
    if (hit) return hit
    const d = decodeTx(bytes)
    if (d.ok) this.#byBytes.set(key, d)
    return d
  }

  remember(bytes: Uint8Array, d: Decoded): void {
    this.#byBytes.set(bytesKey(bytes), d)
  }

  deleteKey(key: string): void {
    this.#byBytes.delete(key)
  }
}

/**
 * CheckTx's sequence without Recheck: each sender's next nonce counting the txs this node admitted and that are not
 * committed yet, across Commits. After each Commit an entry goes once the committed nonce reaches it; an entry whose
 * committed nonce has not moved for `ttlBlocks` blocks (its next tx failed in a block, or a different tx with its
 * nonce was committed and the rest depend on it) is dropped, so the sender's next tx is again checked against the
 * committed nonce. CheckTx still refuses a nonce below the committed one (REPLAYED_NONCE) whatever is pending.
 */
class PendingNonces {
  readonly #ttlBlocks: number
  readonly #bySender = new Map<string, { next: bigint; committed: bigint; since: number }>()

  constructor(ttlBlocks: number) {
    this.#ttlBlocks = ttlBlocks
  }

  /** The nonce a new tx of `sender` must carry, when it has txs pending (else the committed nonce applies). */
  next(sender: string): bigint | undefined {
    return this.#bySender.get(sender)?.next
  }

  /** `nonce` of `sender` was admitted at committed height `height`. */
  admitted(sender: string, nonce: bigint, height: number): void {
    const e = this.#bySender.get(sender)
    if (e) e.next = nonce + 1n
    // No entry: the tx was checked against the committed nonce, so `nonce` is it.
    else this.#bySender.set(sender, { next: nonce + 1n, committed: nonce, since: height })
  }

  afterCommit(height: number, committedNonce: (sender: string) => bigint): void {
    for (const [sender, e] of this.#bySender) {
      const c = committedNonce(sender)
      if (c >= e.next) this.#bySender.delete(sender)
      else if (c > e.committed) {
        e.committed = c
        e.since = height
      } else if (height - e.since >= this.#ttlBlocks) this.#bySender.delete(sender)
    }
  }
}

/** The bytes as a string (one char per byte): a Map key equal exactly when the bytes are. */
function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

function decodeTx(bytes: Uint8Array): Decoded {
  try {
    return { ok: true, tx: parseSignedTx(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) }
  } catch (e) {
    const err = toStratosError(e)
    return { ok: false, code: err.code, message: err.message }
  }
}

function abciEvent(e: ChainEvent): Event {
  return {
    type: e.type,
    // Not indexed by CometBFT's tx indexer (cometbft.ts: tx_index): events are in every tx result and in the app's
    // blocks; an index entry per attribute per tx cost CometBFT ~15% of its CPU per tx (bench/README.md, CometBFT).
    attributes: Object.entries(e.attributes).map(([key, value]) => ({ key, value, index: false })),
  }
}

function abciValidatorUpdate(u: ValidatorUpdate) {
  return { pubKey: { ed25519: hexBytes(u.consensusKey) }, power: u.power }
}

function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

function timestampMs(t: Timestamp | undefined): number {
  if (!t) return 0
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)
}
