/**
 * The devnet's validators (`stratos devnet --validators N`). One validator (the default) runs the embedded
 * single-proposer engine in DIR/validator, as always. N > 1 run CometBFT (issue 14): DIR/validator-1…N, each
 * `stratos node validator --engine cometbft` (its app, its CometBFT process and home, its REST API), all in one
 * genesis (each with DEVNET_VALIDATOR_STOS of self-delegation: equal power; validator-1 is operated by carol,
 * validator-i by the dev wallet `validator-i`), every node a persistent peer of every other.
 *
 * Ports of validator i (0-based): REST DEFAULT_PORTS.chainRest + i (P+17 for i = 0, P+50+i after, with
 * --port-base P); CometBFT RPC and p2p 26657 + 10·i and 26656 + 10·i (P+20+2i and P+21+2i). Node ids come from
 * the p2p keys written before the first start (prepareCometHome), so every node knows its peers up front.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { COMETBFT_MISSING, cometbftBinary, prepareCometHome } from '../chain/node/abci/cometbft.ts'
import { StratosError } from '../errors.ts'
import { COMETBFT_P2P_PORT, COMETBFT_RPC_PORT, DEFAULT_PORTS, DEVNET_MAX_VALIDATORS } from '../limits.ts'

export interface DevnetValidatorPlan {
  name: string
  dataDir: string
  restPort: number
  /** CometBFT ports; absent for the single embedded validator. */
  comet?: { rpcPort: number; p2pPort: number; nodeId: string }
  /** Dev wallet operating it (carol for the first). */
  operatorWallet: string
}

/** Dev wallets that operate validators 2…N (created with the others, funded at genesis). */
export function validatorWalletNames(count: number): string[] {
  return Array.from({ length: Math.max(0, count - 1) }, (_, i) => `validator-${i + 2}`)
}

export function checkValidatorCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > DEVNET_MAX_VALIDATORS)
    throw new StratosError('BAD_REQUEST', `--validators must be 1…${DEVNET_MAX_VALIDATORS}, got ${count}`)
  if (count > 1 && !existsSync(cometbftBinary()))
    throw new StratosError('NETWORK_CONFIG', `--validators ${count} runs CometBFT: ${COMETBFT_MISSING}`)
}

/** The validators of a devnet in `dir` (keys of N > 1 written on the first call). */
export function planValidators(dir: string, count: number, portBase: number | null): DevnetValidatorPlan[] {
  if (count === 1)
    return [
      {
        name: 'validator',
        dataDir: join(dir, 'validator'),
        restPort: portBase === null ? DEFAULT_PORTS.chainRest : portBase + 17,
        operatorWallet: 'carol',
      },
    ]
  return Array.from({ length: count }, (_, i) => {
    const dataDir = join(dir, `validator-${i + 1}`)
    const { nodeId } = prepareCometHome(dataDir)
    const restPort = portBase === null ? DEFAULT_PORTS.chainRest + i : i === 0 ? portBase + 17 : portBase + 50 + i
    return {
      name: `validator-${i + 1}`,
      dataDir,
      restPort,
      comet: {
        rpcPort: portBase === null ? COMETBFT_RPC_PORT + 10 * i : portBase + 20 + 2 * i,
        p2pPort: portBase === null ? COMETBFT_P2P_PORT + 10 * i : portBase + 21 + 2 * i,
        nodeId,
      },
      operatorWallet: i === 0 ? 'carol' : `validator-${i + 1}`,
    }
  })
}

/** Arguments of `stratos node validator` for one planned validator (after the shared ones). */
export function cometValidatorArgs(
  v: DevnetValidatorPlan,
  all: readonly DevnetValidatorPlan[],
  host: string,
): string[] {
  if (!v.comet) return []
  const peers = all.filter((p) => p !== v && p.comet).map((p) => `${p.comet!.nodeId}@${host}:${p.comet!.p2pPort}`)
  return [
    '--engine',
    'cometbft',
    '--comet-rpc-port',
    String(v.comet.rpcPort),
    '--comet-p2p-port',
    String(v.comet.p2pPort),
    ...(peers.length ? ['--comet-peers', peers.join(',')] : []),
  ]
}
