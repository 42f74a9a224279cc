/**
 * Read-only REST paths shaped like stratos-chain's (Cosmos SDK gRPC-gateway) module queries, for tools written
 * against the original chain, where the concept exists here. Cosmos JSON conventions: snake_case keys, every amount
 * a decimal string, coins as `{ denom: "wei", amount }`, decimals (rates, prices) as strings with 18 fraction digits.
 * Served by the same REST server as the native API (rest.ts), from the committed state.
 *
 *   GET /cosmos/bank/v1beta1/balances/{st1…}            { balances: [coin], pagination }
 *   GET /cosmos/staking/v1beta1/validators              { validators: [...], pagination }  (status BONDED / UNBONDED)
 *   GET /stratos/pot/v1/rewards/wallet/{st1…}           { rewards: { wallet_address, mature_total, immature_total } }
 *   GET /stratos/register/v1/resource_node/{stsds1…}    { node: { network_address, owner_address, tokens, … } }
 *   GET /stratos/sds/v1/noz_price                       { price }  wei per ozone unit (one byte of traffic)
 *   GET /stratos/pot/v1/params                          { params: { bond_denom, reward_denom, mature_epoch, … } }
 *
 * Everything else of stratos-chain's API (gov, distribution, evidence, meta-node voting pools, …) does not exist
 * here; docs/api.md lists what does.
 */
import { isNodeAddress } from '../../crypto/node-key.ts'
import { isWalletAddress } from '../../crypto/wallet-key.ts'
import { StratosError } from '../../errors.ts'
import type { Rational } from '../economics.ts'
import { BPS_DENOMINATOR, POWER_REDUCTION_WEI } from '../params.ts'
import type { Blockchain } from './blockchain.ts'

export const DENOM = 'wei'

type Get = (pattern: string, handler: (params: Record<string, string | undefined>) => unknown) => void

const coin = (amount: bigint) => ({ denom: DENOM, amount: amount.toString() })
const pagination = (total: number) => ({ next_key: null, total: String(total) })

/** A rational as a Cosmos decimal: 18 fraction digits, rounded down. */
export function cosmosDec(r: Rational): string {
  if (r.den === 0n) return '0.000000000000000000'
  const scaled = (r.num * 10n ** 18n) / r.den
  const s = scaled.toString().padStart(19, '0')
  return `${s.slice(0, -18)}.${s.slice(-18)}`
}

export function registerCosmosRoutes(get: Get, chain: Blockchain): void {
  const q = () => chain.app.query
  get('/cosmos/bank/v1beta1/balances/:address', (p) => {
    const balance = q().balance(wallet(p.address!))
    return { balances: balance > 0n ? [coin(balance)] : [], pagination: pagination(balance > 0n ? 1 : 0) }
  })
  get('/cosmos/staking/v1beta1/validators', () => {
    const validators = q()
      .validators()
      .map((v) => {
        const bonded = !v.jailed && v.tokens >= POWER_REDUCTION_WEI
        return {
          operator_address: v.operator,
          consensus_pubkey: {
            '@type': '/cosmos.crypto.ed25519.PubKey',
            key: Buffer.from(v.consensusKey, 'hex').toString('base64'),
          },
          jailed: v.jailed,
          status: bonded ? 'BOND_STATUS_BONDED' : 'BOND_STATUS_UNBONDED',
          tokens: v.tokens.toString(),
          delegator_shares: `${v.tokens.toString()}.000000000000000000`,
          description: { moniker: v.moniker },
          unbonding_height: '0',
          commission: {
            commission_rates: { rate: cosmosDec({ num: BigInt(v.commissionBps), den: BPS_DENOMINATOR }) },
          },
          min_self_delegation: chain.app.params.minSelfDelegationWei.toString(),
        }
      })
    return { validators, pagination: pagination(validators.length) }
  })
  get('/stratos/pot/v1/rewards/wallet/:address', (p) => {
    const address = wallet(p.address!)
    let mature = 0n
    let immature = 0n
    for (const r of q().rewards(address)) {
      if (r.matured) mature += r.amount
      else immature += r.amount
    }
    return {
      rewards: { wallet_address: address, mature_total: [coin(mature)], immature_total: [coin(immature)] },
      height: String(chain.height),
    }
  })
  get('/stratos/register/v1/resource_node/:address', (p) => {
    const address = p.address!
    if (!isNodeAddress(address)) throw new StratosError('BAD_REQUEST', 'not a stsds1… node address')
    const n = q().node(address)
    if (n?.kind !== 'resource') throw new StratosError('NOT_FOUND', `no resource node ${address}`)
    return {
      node: {
        network_address: n.node,
        pubkey: { '@type': '/cosmos.crypto.ed25519.PubKey', key: Buffer.from(n.publicKey, 'hex').toString('base64') },
        suspend: n.status === 'suspended',
        status: n.status === 'active' ? 'BOND_STATUS_BONDED' : 'BOND_STATUS_UNBONDING',
        tokens: n.deposit.toString(),
        owner_address: n.owner,
        description: { moniker: n.moniker },
        creation_height: String(n.createdHeight),
        tier: n.tier,
      },
    }
  })
  get('/stratos/sds/v1/noz_price', () => {
    const m = q().ozoneMarket()
    return { price: cosmosDec(m.price), height: String(chain.height) }
  })
  get('/stratos/pot/v1/params', () => {
    const p = chain.app.params
    return {
      params: {
        bond_denom: DENOM,
        reward_denom: DENOM,
        mature_epoch: String(p.maturityEpochs),
        epoch_blocks: String(p.epochBlocks),
        report_window_epochs: String(p.reportWindowEpochs),
      },
    }
  })
}

function wallet(address: string): string {
  if (address !== address.toLowerCase() || !isWalletAddress(address))
    throw new StratosError('BAD_REQUEST', 'not a valid lowercase st1… wallet address')
  return address
}
