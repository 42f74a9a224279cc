/**
 * `stratos node validator --engine cometbft`: the STOS ledger as an ABCI app under a CometBFT process of its own
 * (issue 14, first step: one validator). What it does, in order:
 *   1. opens the chain store and the state machine exactly as the embedded engine does (node/index.ts: the genesis
 *      is written on the first start and kept in `dataDir/genesis.json`);
 *   2. listens for ABCI on `dataDir/abci.sock` (server.ts, application.ts);
 *   3. on the first start writes CometBFT's keys (prepareCometHome: the validator key is the ed25519 key of
 *      `dataDir/node-key.json`, the consensus key staking knows this validator by; the p2p key a new random one)
 *      and runs `cometbft init --home dataDir/cometbft`, then (every start) sets CometBFT's genesis chain id and
 *      time to the ledger's — and its validators to none when the ledger has staking validators: InitChain hands
 *      CometBFT the set from staking, so every validator's genesis.json is the same — and its config: proxy_app →
 *      our socket, RPC and p2p at the given host and ports, persistent peers, devnet timeouts (timeout_commit =
 *      the block interval), no strict address book, the tx index by hash only and the last block's ABCI responses
 *      only (the app keeps blocks, results and a wallet's history itself);
 *   4. starts `cometbft start` (its log in `dataDir/cometbft.log`) and waits until its RPC answers;
 *   5. serves the REST API (rest.ts) from this process's committed state; POST /txs goes to CometBFT's mempool
 *      (broadcast.ts), so a transaction reaches every validator. /metrics has the chain's height, blocks and txs
 *      (metrics.ts, counted as Commit persists blocks); /readyz is ready when the newest block is recent, CometBFT's
 *      RPC answers, CometBFT is not catching up, and the app has committed every block CometBFT has (at most the
 *      one being finalized behind).
 * `stop()` sends CometBFT SIGTERM (SIGKILL after COMETBFT_STOP_TIMEOUT_MS), then closes the ABCI server and the
 * store. Both processes may be killed at any moment: the app persists only at Commit and CometBFT's handshake
 * (Info) replays what the app lacks.
 *
 * The binary: `STRATOS_COMETBFT_BIN`, else `.tools/bin/cometbft` of this checkout, built by `npm run
 * setup:cometbft` (scripts/setup-cometbft.sh pins COMETBFT_VERSION). Missing → one clear error naming that script.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256, toHex } from '../../../crypto/hash.ts'
import { NodeKey } from '../../../crypto/node-key.ts'
import { StratosError } from '../../../errors.ts'
import {
  DEFAULT_PORTS,
  COMETBFT_P2P_PORT,
  COMETBFT_RPC_PORT,
  COMETBFT_START_TIMEOUT_MS,
  COMETBFT_STOP_TIMEOUT_MS,
  COMET_MEMPOOL_TXS,
  COMET_RPC_WRITE_TIMEOUT_S,
  COMETBFT_READY_TIMEOUT_MS,
} from '../../../limits.ts'
import { createOps, type Ops } from '../../../net/ops.ts'
import { silentLogger, systemClock, type Clock, type Logger } from '../../../util/components.ts'
import { writeFileAtomic } from '../../../util/fs.ts'
import type { ChainAppOptions } from '../../app.ts'
import { DEVNET_BLOCK_INTERVAL_MS, MAX_TX_BATCH_BYTES, MAX_TX_BATCH_TXS } from '../../params.ts'
import { consensusSet } from '../../state/staking.ts'
import { Blockchain } from '../blockchain.ts'
import { openChainApp, type ValidatorOptions } from '../index.ts'
import { LmdbChainStore } from '../lmdb-store.ts'
import { Mempool } from '../mempool.ts'
import { registerChainMetrics } from '../metrics.ts'
import { ChainRestServer } from '../rest.ts'
import { AbciApplication } from './application.ts'
import { CometTxIntake } from './broadcast.ts'
import { AbciServer } from './server.ts'

/** The CometBFT release this code is written and tested against (scripts/setup-cometbft.sh builds it). */
export const COMETBFT_VERSION = 'v0.38.26'

/** The CometBFT binary: STRATOS_COMETBFT_BIN, else .tools/bin/cometbft of this checkout (src/ or dist/ alike). */
export function cometbftBinary(): string {
  if (process.env.STRATOS_COMETBFT_BIN) return process.env.STRATOS_COMETBFT_BIN
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
  return join(root, '.tools', 'bin', 'cometbft')
}

export const COMETBFT_MISSING = `CometBFT is not built: run \`npm run setup:cometbft\` (needs Go; builds ${COMETBFT_VERSION} into .tools/bin)`

export interface CometValidatorOptions
  extends Pick<ValidatorOptions, 'dataDir' | 'chainId' | 'genesis' | 'wallets' | 'proposer' | 'host' | 'port'> {
  /** CometBFT RPC port (on `host`, default 127.0.0.1); default COMETBFT_RPC_PORT. */
  rpcPort?: number
  /** CometBFT p2p port (on `host`); default COMETBFT_P2P_PORT. */
  p2pPort?: number
  /** CometBFT persistent peers, `nodeId@host:port` each (cometNodeId gives a node's id). */
  persistentPeers?: readonly string[]
  /** Address other validators dial for this node's p2p (`host:port`), when not the listen address. */
  externalAddress?: string
  /** CometBFT's timeout_commit (the pause between blocks); default DEVNET_BLOCK_INTERVAL_MS. */
  blockIntervalMs?: number
  recoverSigner?: ChainAppOptions['recoverSigner']
  clock?: Clock
  logger?: Logger
  /** /metrics, /healthz, /readyz on the REST port (default: its own, role `validator`). */
  ops?: Ops
  /**
   * Called when CometBFT exits without being asked (killed, crashed): the node is no validator without it. The CLI
   * exits non-zero, so whatever supervises it starts both again (the handshake replays what is missing).
   */
  onCometExit?: (code: number | null, signal: NodeJS.Signals | null) => void
}

export interface CometValidator {
  readonly chainId: string
  /** The REST API of this validator's app. */
  readonly url: string
  readonly rpcUrl: string
  /** CometBFT p2p: `nodeId@host:port`. */
  readonly p2pAddress: string
  readonly abciAddress: string
  readonly cometbftPid: number
  readonly chain: Blockchain
  readonly height: number
  readonly ops: Ops
  stop(): Promise<void>
}

export async function startCometValidator(o: CometValidatorOptions): Promise<CometValidator> {
  const logger = o.logger ?? silentLogger
  const clock = o.clock ?? systemClock
  const bin = cometbftBinary()
  if (!existsSync(bin)) throw new StratosError('NETWORK_CONFIG', COMETBFT_MISSING)
  const store = LmdbChainStore.open(o.dataDir)
  let server: AbciServer | undefined
  let rest: ChainRestServer | undefined
  let child: ChildProcess | undefined
  let intake: CometTxIntake | undefined
  let unsubscribeMetrics: (() => void) | undefined
  try {
    const app = openChainApp(store, o, clock)
    const chain = new Blockchain(app, store, new Mempool(app))
    const home = cometHome(o.dataDir)
    const host = o.host ?? '127.0.0.1'
    const rpcPort = o.rpcPort ?? COMETBFT_RPC_PORT
    const p2pPort = o.p2pPort ?? COMETBFT_P2P_PORT
    const { nodeId, consensusAddress } = prepareCometHome(o.dataDir)
    if (!existsSync(join(home, 'config', 'genesis.json'))) {
      const init = spawnSync(bin, ['init', '--home', home], { encoding: 'utf8' })
      if (init.status !== 0) throw new StratosError('INTERNAL', `cometbft init failed: ${init.stderr || init.stdout}`)
    }
    // A lone validator outside staking (a ledger without genesis validators) gets the fees of its blocks.
    const operator = o.proposer ?? app.query.validators()[0]?.operator ?? ''
    const abciApp = new AbciApplication({ chain, proposers: new Map([[consensusAddress, operator]]), logger })
    server = new AbciServer(abciApp, { logger })
    const abciAddress = await server.listen(`unix://${join(o.dataDir, 'abci.sock')}`)
    configureHome(home, {
      chainId: app.chainId,
      genesisTime: app.genesisTime,
      stakingValidators: consensusSet(app.store).length > 0,
      abciAddress,
      host,
      rpcPort,
      p2pPort,
      persistentPeers: o.persistentPeers ?? [],
      externalAddress: o.externalAddress ?? '',
      blockIntervalMs: o.blockIntervalMs ?? DEVNET_BLOCK_INTERVAL_MS,
    })
    await killStaleComet(o.dataDir, home)
    const log = openSync(join(o.dataDir, 'cometbft.log'), 'a')
    child = spawn(bin, ['start', '--home', home], { stdio: ['ignore', log, log] })
    closeSync(log)
    if (child.pid) writeFileAtomic(join(o.dataDir, COMET_PID_FILE), `${child.pid}\n`)
    let stopping: Promise<void> | undefined
    const exited = new Promise<number | null>((r) =>
      child!.once('exit', (code, sig) => {
        r(code)
        if (!stopping) {
          logger.error({ code, signal: sig }, 'CometBFT exited unasked')
          o.onCometExit?.(code, sig)
        }
      }),
    )
    const rpcUrl = `http://${host}:${rpcPort}`
    await waitForRpc(rpcUrl, exited, o.dataDir)
    const ops = o.ops ?? createOps('validator')
    unsubscribeMetrics = registerChainMetrics(ops, chain, clock, { mempool: false })
    ops.health.addCheck('cometbft', () => cometReadiness(rpcUrl, chain))
    intake = new CometTxIntake(rpcUrl, { onEncoded: (bytes, tx) => abciApp.rememberDecoded(bytes, tx) })
    rest = new ChainRestServer({ chain, logger, intake, ops })
    const url = await rest.listen(host, o.port ?? DEFAULT_PORTS.chainRest)
    const p2pAddress = `${nodeId}@${o.externalAddress || `${host}:${p2pPort}`}`
    logger.info(
      { rpcUrl, url, p2pAddress, abciAddress, consensusAddress, pid: child.pid, height: app.height },
      'CometBFT validator started',
    )
    const c = child,
      s = server,
      r = rest,
      i = intake,
      unsubscribe = unsubscribeMetrics
    return {
      chainId: app.chainId,
      url,
      rpcUrl,
      p2pAddress,
      abciAddress,
      cometbftPid: c.pid ?? -1,
      chain,
      ops,
      get height() {
        return chain.height
      },
      stop: () =>
        (stopping ??= (async () => {
          await stopChild(c, exited)
          unsubscribe()
          await r.close()
          await i.close()
          await s.close()
          await store.close()
          logger.info({ height: chain.height }, 'CometBFT validator stopped')
        })()),
    }
  } catch (e) {
    if (child && child.exitCode === null) {
      child.removeAllListeners('exit')
      child.kill('SIGKILL')
    }
    unsubscribeMetrics?.()
    await rest?.close().catch(() => {})
    await intake?.close()
    await server?.close()
    await store.close()
    throw e
  }
}

/** CometBFT's pid, in the data directory: a start finds a CometBFT its killed predecessor left running. */
const COMET_PID_FILE = 'cometbft.pid'

/**
 * A CometBFT left from a previous start of this validator (the app process was killed -9: CometBFT stops itself
 * when its ABCI connection drops, but maybe not yet) still holds the ports and the home: SIGKILL it and wait until
 * it is gone. Only a process whose command line names this home is touched.
 */
async function killStaleComet(dataDir: string, home: string): Promise<void> {
  const file = join(dataDir, COMET_PID_FILE)
  if (!existsSync(file)) return
  const pid = Number(readFileSync(file, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0) return
  const cmdline = (): string | undefined => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      return undefined
    }
  }
  if (!cmdline()?.includes(home)) return
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return
  }
  const deadline = Date.now() + COMETBFT_STOP_TIMEOUT_MS
  while (cmdline()?.includes(home) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
}

/** CometBFT's home inside a validator's data directory. */
export function cometHome(dataDir: string): string {
  return join(dataDir, 'cometbft')
}

/**
 * Writes CometBFT's keys into `dataDir/cometbft` unless they are there: the validator key (priv_validator_key.json,
 * with an empty signing state) from the ed25519 seed of `dataDir/node-key.json` (created when missing) — so the
 * key staking names as this validator's consensus key is the one CometBFT signs with — and a new random p2p key
 * (node_key.json). `cometbft init` keeps both. Returns the p2p node id (peers dial `nodeId@host:port`) and the
 * consensus address. Idempotent; the devnet calls it before starting validators, to know their node ids.
 */
export function prepareCometHome(dataDir: string): { nodeId: string; consensusAddress: string; consensusKey: string } {
  const home = cometHome(dataDir)
  mkdirSync(join(home, 'config'), { recursive: true })
  mkdirSync(join(home, 'data'), { recursive: true })
  const consensus = NodeKey.loadOrCreate(dataDir)
  const consensusAddress = toHex(sha256(consensus.publicKey).subarray(0, 20)).toUpperCase()
  const keyFile = join(home, 'config', 'priv_validator_key.json')
  if (!existsSync(keyFile)) {
    writeFileAtomic(
      keyFile,
      JSON.stringify(
        {
          address: consensusAddress,
          pub_key: { type: 'tendermint/PubKeyEd25519', value: Buffer.from(consensus.publicKey).toString('base64') },
          priv_key: {
            type: 'tendermint/PrivKeyEd25519',
            value: Buffer.concat([consensus.seed, consensus.publicKey]).toString('base64'),
          },
        },
        null,
        2,
      ) + '\n',
      { mode: 0o600 },
    )
  }
  const stateFile = join(home, 'data', 'priv_validator_state.json')
  if (!existsSync(stateFile)) writeFileAtomic(stateFile, JSON.stringify({ height: '0', round: 0, step: 0 }) + '\n')
  const nodeKeyFile = join(home, 'config', 'node_key.json')
  if (!existsSync(nodeKeyFile)) {
    const p2p = NodeKey.generate()
    writeFileAtomic(
      nodeKeyFile,
      JSON.stringify({
        priv_key: {
          type: 'tendermint/PrivKeyEd25519',
          value: Buffer.concat([p2p.seed, p2p.publicKey]).toString('base64'),
        },
      }) + '\n',
      { mode: 0o600 },
    )
  }
  return { nodeId: cometNodeId(dataDir), consensusAddress, consensusKey: toHex(consensus.publicKey) }
}

/** The p2p node id of a validator's CometBFT: hex of sha256(its node_key.json public key)[:20]. */
export function cometNodeId(dataDir: string): string {
  const raw = JSON.parse(readFileSync(join(cometHome(dataDir), 'config', 'node_key.json'), 'utf8')) as {
    priv_key: { value: string }
  }
  const pub = Buffer.from(raw.priv_key.value, 'base64').subarray(32)
  return toHex(sha256(new Uint8Array(pub)).subarray(0, 20))
}

interface HomeSettings {
  chainId: string
  genesisTime: number
  /** The ledger has staking validators: CometBFT's genesis lists none and InitChain sets them. */
  stakingValidators: boolean
  abciAddress: string
  host: string
  rpcPort: number
  p2pPort: number
  persistentPeers: readonly string[]
  externalAddress: string
  blockIntervalMs: number
}

/** Sets CometBFT's genesis (chain id, time, validators) and config.toml keys; idempotent, run at every start. */
function configureHome(home: string, s: HomeSettings): void {
  const genesisFile = join(home, 'config', 'genesis.json')
  const genesis = JSON.parse(readFileSync(genesisFile, 'utf8')) as Record<string, unknown>
  genesis.chain_id = s.chainId
  genesis.genesis_time = new Date(s.genesisTime).toISOString()
  if (s.stakingValidators) genesis.validators = []
  writeFileAtomic(genesisFile, JSON.stringify(genesis, null, 2) + '\n')
  const set: Record<string, Record<string, string>> = {
    '': { proxy_app: JSON.stringify(s.abciAddress), log_level: '"info"' },
    // POST /txs/batch is one JSON-RPC batch per lane (broadcast.ts): up to MAX_TX_BATCH_TXS requests (CometBFT: 10).
    rpc: {
      laddr: JSON.stringify(`tcp://${s.host}:${s.rpcPort}`),
      max_request_batch_size: String(MAX_TX_BATCH_TXS),
      max_body_bytes: String(MAX_TX_BATCH_BYTES * 2),
      // CometBFT's RPC server closes a connection whose answer is not written within max(10 s, this + 1 s): a lane's
      // JSON-RPC batch waits for each CheckTx, and CheckTx waits while a block executes, so under load a batch took
      // longer than 11 s and the intake got "other side closed" for all its txs. Past the intake's own timeout
      // (broadcast.ts, 30 s), which then answers first with a clear error.
      timeout_broadcast_tx_commit: JSON.stringify(`${COMET_RPC_WRITE_TIMEOUT_S}s`),
    },
    // CometBFT's default size (5,000 txs): a full mempool answers "mempool is full" (MEMPOOL_FULL, back-pressure to
    // the client). No Recheck after each block (it cost a CheckTx and a Flush round trip per tx per validator): the
    // app carries each sender's pending nonce across blocks and its proposals leave out txs that would fail, until
    // COMET_MEMPOOL_TTL_BLOCKS evicts them (application.ts).
    mempool: { size: String(COMET_MEMPOOL_TXS), recheck: 'false' },
    p2p: {
      laddr: JSON.stringify(`tcp://${s.host}:${s.p2pPort}`),
      external_address: JSON.stringify(s.externalAddress),
      persistent_peers: JSON.stringify(s.persistentPeers.join(',')),
      addr_book_strict: 'false',
      allow_duplicate_ip: 'true',
    },
    // The kv indexer keeps what `/tx?hash=` needs (each tx's result by hash, and tx.height); the app marks no event
    // attribute for indexing (application.ts), so tx_search by event attributes finds nothing — a wallet's history
    // is REST GET /accounts/{address}/txs. Indexing every attribute cost ~15% of CometBFT's CPU per tx.
    tx_index: { indexer: '"kv"' },
    // Only the last block's FinalizeBlock responses are kept (what a restart needs; `block_results` of older heights
    // answers an error): the app keeps every block's results itself (REST GET /blocks/{height}).
    storage: { discard_abci_responses: 'true' },
    // CometBFT's default propose/vote timeouts (3 s, 1 s): a proposal that is late because its validator is busy
    // still makes round 0 (a shorter timeout turns a busy second into a failed round and a bigger next block).
    // timeout_commit is the block interval.
    consensus: {
      timeout_commit: JSON.stringify(`${s.blockIntervalMs}ms`),
      timeout_propose: '"3s"',
      timeout_prevote: '"1s"',
      timeout_precommit: '"1s"',
    },
  }
  const configFile = join(home, 'config', 'config.toml')
  let section = ''
  const lines = readFileSync(configFile, 'utf8')
    .split('\n')
    .map((line) => {
      const header = /^\[([^\]]+)\]\s*$/.exec(line)
      if (header) section = header[1]!
      const kv = /^([a-z_]+) = /.exec(line)
      const value = kv ? set[section]?.[kv[1]!] : undefined
      return value === undefined ? line : `${kv![1]} = ${value}`
    })
  writeFileSync(configFile, lines.join('\n'))
}

/**
 * Readiness against CometBFT: its RPC answers /status, it is not catching up (block sync), and the app has committed
 * CometBFT's latest block or the one before (the newest may be between FinalizeBlock and Commit right now).
 */
async function cometReadiness(rpcUrl: string, chain: Blockchain): Promise<string | undefined> {
  let status: { sync_info: { latest_block_height: string; catching_up: boolean } }
  try {
    const res = await fetch(`${rpcUrl}/status`, { signal: AbortSignal.timeout(COMETBFT_READY_TIMEOUT_MS) })
    const body = (await res.json()) as { result?: typeof status }
    if (!body.result) return `CometBFT RPC ${rpcUrl}/status answered HTTP ${res.status} without a result`
    status = body.result
  } catch (e) {
    return `CometBFT RPC ${rpcUrl} does not answer: ${(e as Error).message}`
  }
  if (status.sync_info.catching_up) return 'CometBFT is catching up (block sync)'
  const cometHeight = Number(status.sync_info.latest_block_height)
  if (chain.height < cometHeight - 1)
    return `the app has committed height ${chain.height}, CometBFT is at ${cometHeight}`
  return undefined
}

async function waitForRpc(rpcUrl: string, exited: Promise<number | null>, dataDir: string): Promise<void> {
  const deadline = Date.now() + COMETBFT_START_TIMEOUT_MS
  let exitCode: number | null | undefined
  void exited.then((c) => {
    exitCode = c
  })
  while (Date.now() < deadline) {
    if (exitCode !== undefined)
      throw new StratosError('INTERNAL', `cometbft exited (${exitCode}) while starting; see ${dataDir}/cometbft.log`)
    try {
      const res = await fetch(`${rpcUrl}/status`, { signal: AbortSignal.timeout(1_000) })
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new StratosError('TIMEOUT', `CometBFT RPC ${rpcUrl} did not answer within ${COMETBFT_START_TIMEOUT_MS} ms`)
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), COMETBFT_STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}
