/**
 * Message checks that need only the chain's parameters, not its state, run by ante — so at
 * mempool admission (POST /txs answers the error at once) and again in the block. A tx failing
 * one is rejected like a tx with a bad signature: nothing changes, no fee is charged and the
 * nonce is not used (`included: false`).
 *
 * Why in ante: what a wallet can know before signing (a deposit below the tier-1 minimum, a
 * self-delegation below the minimum) should not cost it a fee; everything that depends on state
 * (a node already registered, funds, a proof, …) stays in the message handlers, where a failure
 * is included and pays the fee like any transaction whose messages fail.
 * The handlers keep their own copies of these checks (genesis goes through them too).
 */
import { StratosError } from '../../errors.ts'
import type { Msg } from '../msgs.ts'
import type { ChainParams } from '../params.ts'
import { resourceTier } from './register.ts'

export function checkMsgsStateless(params: ChainParams, msgs: readonly Msg[]): void {
  msgs.forEach((msg, i) => {
    const where = { msg: i, type: msg.type }
    switch (msg.type) {
      case 'create_resource_node':
        if (resourceTier(params, msg.deposit) === 0) {
          throw new StratosError(
            'BAD_REQUEST',
            `a resource node deposit must reach tier 1 (${params.resourceNodeTiersWei[0]} wei), got ${msg.deposit}`,
            { ...where, min: String(params.resourceNodeTiersWei[0]) },
          )
        }
        break
      case 'create_meta_node':
        if (msg.deposit < params.minMetaNodeDepositWei) {
          throw new StratosError(
            'BAD_REQUEST',
            `a meta node deposit must be at least ${params.minMetaNodeDepositWei} wei, got ${msg.deposit}`,
            { ...where, min: params.minMetaNodeDepositWei.toString() },
          )
        }
        break
      case 'create_validator':
        if (msg.selfDelegation < params.minSelfDelegationWei) {
          throw new StratosError(
            'BAD_REQUEST',
            `self-delegation must be at least ${params.minSelfDelegationWei} wei, got ${msg.selfDelegation}`,
            { ...where, min: params.minSelfDelegationWei.toString() },
          )
        }
        break
      default:
        break
    }
  })
}
