/**
 * `stratos node validator --engine cometbft`: the STOS ledger as an ABCI app under a CometBFT process of its own
 * (issue 14, first step: one validator). What it does, in order:
 *   1. opens the chain store and the state machine exactly as the embedded engine does (node/index.ts: the genesis
 *      is written on the first start and kept in `dataDir/genesis.json`);
 *   2. listens for ABCI on `dataDir/abci.sock` (server.ts, application.ts);
 *   3. on the first start runs `cometbft init --home dataDir/cometbft`, then (every start) sets CometBFT's genesis
 *      chain id and time to the ledger's, and its config: proxy_app → our socket, RPC and p2p on 127.0.0.1 at the
 *      given ports, devnet timeouts (timeout_commit = the block interval), no strict address book;
 *   4. starts `cometbft start` (its log in `dataDir/cometbft.log`) and waits until its RPC answers.
 * `stop()` sends CometBFT SIGTERM (SIGKILL after COMETBFT_STOP_TIMEOUT_MS), then closes the ABCI server and the
 * store. Both processes may be killed at any moment: the app persists only at Commit and CometBFT's handshake
 * (Info) replays what the app lacks.
 *
 * The binary: `STRATOS_COMETBFT_BIN`, else `.tools/bin/cometbft` of this checkout, built by `npm run
 * setup:cometbft` (scripts/setup-cometbft.sh pins COMETBFT_VERSION). Missing → one clear error naming that script.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StratosError } from '../../../errors.ts'
import {
  COMETBFT_P2P_PORT,
  COMETBFT_RPC_PORT,
  COMETBFT_START_TIMEOUT_MS,
  COMETBFT_STOP_TIMEOUT_MS,
} from '../../../limits.ts'
import { silentLogger, systemClock, type Clock, type Logger } from '../../../util/components.ts'
import { writeFileAtomic } from '../../../util/fs.ts'
import type { ChainAppOptions } from '../../app.ts'
import { DEVNET_BLOCK_INTERVAL_MS } from '../../params.ts'
import { Blockchain } from '../blockchain.ts'
import { openChainApp, type ValidatorOptions } from '../index.ts'
import { LmdbChainStore } from '../lmdb-store.ts'
import { Mempool } from '../mempool.ts'
import { AbciApplication } from './application.ts'
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
  extends Pick<ValidatorOptions, 'dataDir' | 'chainId' | 'genesis' | 'wallets' | 'proposer'> {
  /** CometBFT RPC port on 127.0.0.1; default COMETBFT_RPC_PORT. */
  rpcPort?: number
  /** CometBFT p2p port on 127.0.0.1; default COMETBFT_P2P_PORT. */
  p2pPort?: number
  /** CometBFT's timeout_commit (the pause between blocks); default DEVNET_BLOCK_INTERVAL_MS. */
  blockIntervalMs?: number
  recoverSigner?: ChainAppOptions['recoverSigner']
  clock?: Clock
  logger?: Logger
}

export interface CometValidator {
  readonly chainId: string
  readonly rpcUrl: string
  readonly abciAddress: string
  readonly cometbftPid: number
  readonly chain: Blockchain
  readonly height: number
  stop(): Promise<void>
}

export async function startCometValidator(o: CometValidatorOptions): Promise<CometValidator> {
  const logger = o.logger ?? silentLogger
  const clock = o.clock ?? systemClock
  const bin = cometbftBinary()
  if (!existsSync(bin)) throw new StratosError('NETWORK_CONFIG', COMETBFT_MISSING)
  const store = LmdbChainStore.open(o.dataDir)
  let server: AbciServer | undefined
  let child: ChildProcess | undefined
  try {
    const app = openChainApp(store, o, clock)
    const chain = new Blockchain(app, store, new Mempool(app))
    const home = join(o.dataDir, 'cometbft')
    const rpcPort = o.rpcPort ?? COMETBFT_RPC_PORT
    const p2pPort = o.p2pPort ?? COMETBFT_P2P_PORT
    if (!existsSync(join(home, 'config', 'genesis.json'))) {
      const init = spawnSync(bin, ['init', '--home', home], { encoding: 'utf8' })
      if (init.status !== 0) throw new StratosError('INTERNAL', `cometbft init failed: ${init.stderr || init.stdout}`)
    }
    const consensusAddress = (
      JSON.parse(readFileSync(join(home, 'config', 'priv_validator_key.json'), 'utf8')) as { address: string }
    ).address
    const operator = o.proposer ?? app.query.validators()[0]?.operator ?? ''
    server = new AbciServer(
      new AbciApplication({ chain, proposers: new Map([[consensusAddress, operator]]), logger }),
      { logger },
    )
    const abciAddress = await server.listen(`unix://${join(o.dataDir, 'abci.sock')}`)
    configureHome(home, {
      chainId: app.chainId,
      genesisTime: app.genesisTime,
      abciAddress,
      rpcPort,
      p2pPort,
      blockIntervalMs: o.blockIntervalMs ?? DEVNET_BLOCK_INTERVAL_MS,
    })
    const log = openSync(join(o.dataDir, 'cometbft.log'), 'a')
    child = spawn(bin, ['start', '--home', home], { stdio: ['ignore', log, log] })
    closeSync(log)
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)))
    const rpcUrl = `http://127.0.0.1:${rpcPort}`
    await waitForRpc(rpcUrl, exited, o.dataDir)
    logger.info({ rpcUrl, abciAddress, pid: child.pid, height: app.height }, 'CometBFT validator started')
    const c = child,
      s = server
    let stopping: Promise<void> | undefined
    return {
      chainId: app.chainId,
      rpcUrl,
      abciAddress,
      cometbftPid: c.pid ?? -1,
      chain,
      get height() {
        return chain.height
      },
      stop: () =>
        (stopping ??= (async () => {
          await stopChild(c, exited)
          await s.close()
          await store.close()
          logger.info({ height: chain.height }, 'CometBFT validator stopped')
        })()),
    }
  } catch (e) {
    if (child && child.exitCode === null) child.kill('SIGKILL')
    await server?.close()
    await store.close()
    throw e
  }
}

interface HomeSettings {
  chainId: string
  genesisTime: number
  abciAddress: string
  rpcPort: number
  p2pPort: number
  blockIntervalMs: number
}

/** Sets CometBFT's genesis (chain id, time) and config.toml keys; idempotent, run at every start. */
function configureHome(home: string, s: HomeSettings): void {
  const genesisFile = join(home, 'config', 'genesis.json')
  const genesis = JSON.parse(readFileSync(genesisFile, 'utf8')) as Record<string, unknown>
  genesis.chain_id = s.chainId
  genesis.genesis_time = new Date(s.genesisTime).toISOString()
  writeFileAtomic(genesisFile, JSON.stringify(genesis, null, 2) + '\n')
  const set: Record<string, Record<string, string>> = {
    '': { proxy_app: JSON.stringify(s.abciAddress), log_level: '"info"' },
    rpc: { laddr: JSON.stringify(`tcp://127.0.0.1:${s.rpcPort}`) },
    p2p: {
      laddr: JSON.stringify(`tcp://127.0.0.1:${s.p2pPort}`),
      addr_book_strict: 'false',
      allow_duplicate_ip: 'true',
    },
    consensus: {
      timeout_commit: JSON.stringify(`${s.blockIntervalMs}ms`),
      timeout_propose: '"1s"',
      timeout_prevote: '"500ms"',
      timeout_precommit: '"500ms"',
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
