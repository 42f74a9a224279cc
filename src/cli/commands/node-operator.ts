/**
 * `stratos node register|deposit|unbond|status`: a resource node operator's chain commands.
 * The node is named by its data directory (its node-key.json) or, for `status`, by address.
 * Transactions are signed by the selected wallet (the node's owner) and go through
 * ChainClient.submitAndWait; `register` uses registerResourceNodes, the same path the devnet
 * uses to register its nodes on first start.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { Msg } from '../../chain/msgs.ts'
import {
  listResourceNodes,
  registerResourceNodes,
  type ResourceNodeJson,
} from '../../chain-client/node-registration.ts'
import { NodeKey } from '../../crypto/node-key.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import { StratosError } from '../../errors.ts'
import { ChainClient, DEFAULT_TX_FEE_WEI, type SubmittedTx } from '../../chain-client/client.ts'
import { contextOf, type CliContext } from '../context.ts'
import { printJson, formatStos, parseAmount } from '../output.ts'
import { chainUrlOf, explainInsufficientFunds, txCommand } from './chain.ts'

interface TxFlags {
  dataDir: string
  fee?: string
  memo?: string
  wait: boolean
  json?: boolean
}

/** Adds the operator subcommands to the `stratos node` command group. */
export function registerNodeOperator(node: Command): void {
  txOptions(
    node
      .command('register')
      .description(
        'register a resource node on chain, owned by the selected wallet (the node key signs the ownership proof)',
      )
      .requiredOption('--data-dir <dir>', "the node's data directory (its node-key.json; created if missing)")
      .requiredOption('--deposit <amount>', 'deposit to lock: 12.5stos, 1000wei, or a number of STOS (at least tier 1)')
      .option('--kind <kind>', 'node kind (only "resource")', 'resource')
      .option('--moniker <name>', 'human-readable name recorded on chain', ''),
  ).action(async (f: TxFlags & { deposit: string; kind: string; moniker: string }, cmd: Command) => {
    if (f.kind !== 'resource')
      throw new StratosError(
        'BAD_REQUEST',
        `--kind ${JSON.stringify(f.kind)}: only resource nodes can be registered with this command`,
      )
    const deposit = parseAmount(f.deposit, 'deposit')
    const key = NodeKey.loadOrCreate(resolve(f.dataDir))
    await runTx(
      cmd,
      f,
      (chain, owner, fee) =>
        registerResourceNodes(chain, owner, [{ key, moniker: f.moniker }], deposit, {
          fee,
          memo: f.memo,
          wait: f.wait,
        }).then((r) => r[0]!),
      `registered resource node ${key.address} with a deposit of ${formatStos(deposit)} STOS`,
      key.address,
      deposit,
    )
  })

  txOptions(
    node
      .command('deposit')
      .description("add to a registered node's deposit (a suspended node that reaches tier 1 again is reactivated)")
      .requiredOption('--data-dir <dir>', "the node's data directory (its node-key.json)")
      .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'),
  ).action(async (amountText: string, f: TxFlags, cmd: Command) => {
    const amount = parseAmount(amountText)
    const node = existingNodeAddress(f.dataDir)
    await runTx(
      cmd,
      f,
      submitMsgs([{ type: 'update_deposit', node, amount }], f),
      `added ${formatStos(amount)} STOS to the deposit of ${node}`,
      node,
      amount,
    )
  })

  txOptions(
    node
      .command('unbond')
      .description('deregister a resource node: its deposit is paid back after the unbonding period')
      .requiredOption('--data-dir <dir>', "the node's data directory (its node-key.json)"),
  ).action(async (f: TxFlags, cmd: Command) => {
    const node = existingNodeAddress(f.dataDir)
    await runTx(
      cmd,
      f,
      submitMsgs([{ type: 'remove_resource_node', node }], f),
      `resource node ${node} is unbonding`,
      node,
      0n,
    )
  })

  node
    .command('status')
    .description("a resource node's registration on chain: state, deposit, tier, owner")
    .argument('[address]', 'stsds1… node address')
    .option('--data-dir <dir>', "the node's data directory (its node-key.json), instead of ADDRESS")
    .option('--json', 'print the chain record as JSON')
    .action(async (address: string | undefined, f: { dataDir?: string; json?: boolean }, cmd: Command) => {
      if ((address === undefined) === (f.dataDir === undefined))
        throw new StratosError('BAD_REQUEST', 'give either a node ADDRESS or --data-dir DIR')
      const node = address ?? existingNodeAddress(f.dataDir!)
      const ctx = contextOf(cmd)
      const chain = new ChainClient({ url: chainUrlOf(cmd, ctx) })
      const rec = (await listResourceNodes(chain)).find((n) => n.node === node)
      if (!rec)
        throw new StratosError('NODE_NOT_REGISTERED', `resource node ${node} is not registered on chain ${chain.url}`, {
          node,
        })
      if (f.json) return printJson(rec)
      process.stdout.write(describe(rec))
    })
}

function describe(n: ResourceNodeJson): string {
  const lines = [
    `node      ${n.node}`,
    `owner     ${n.owner}`,
    `state     ${n.status}${n.unbondingHeight !== undefined ? ` (deposit paid back after height ${n.unbondingHeight})` : ''}`,
    `deposit   ${formatStos(BigInt(n.deposit))} STOS`,
    `tier      ${n.tier}`,
    `moniker   ${n.moniker}`,
    `since     height ${n.createdHeight}`,
  ]
  return lines.join('\n') + '\n'
}

/** The address of the node whose key is DIR/node-key.json; never creates a key. */
function existingNodeAddress(dataDir: string): string {
  const dir = resolve(dataDir)
  if (!existsSync(join(dir, 'node-key.json')))
    throw new StratosError(
      'NETWORK_CONFIG',
      `no node key in ${dir} (node-key.json): is this a node's data directory?`,
      { dataDir: dir },
    )
  return NodeKey.loadOrCreate(dir).address
}

/** Node transactions print the node address too. */
function txOptions(cmd: Command): Command {
  return txCommand(cmd, 'hash, sender, node, nonce, fee, height?, code?')
}

type Submit = (chain: ChainClient, owner: WalletKey, fee: bigint) => Promise<SubmittedTx>

function submitMsgs(msgs: Msg[], f: TxFlags): Submit {
  return (chain, owner, fee) => chain.submitAndWait(owner, msgs, { fee, memo: f.memo, wait: f.wait })
}

/** `debit`: what the tx takes from the owner's balance besides the fee (a deposit), to explain INSUFFICIENT_FUNDS. */
async function runTx(
  cmd: Command,
  f: TxFlags,
  submit: Submit,
  summary: string,
  node: string,
  debit: bigint,
): Promise<void> {
  const ctx: CliContext = contextOf(cmd)
  const chain = new ChainClient({ url: chainUrlOf(cmd, ctx) })
  const fee = f.fee === undefined ? DEFAULT_TX_FEE_WEI : parseAmount(f.fee, 'fee')
  const owner = await ctx.resolveWallet('required')
  if (!owner)
    throw new StratosError(
      'NETWORK_CONFIG',
      'this command needs the owner wallet: pass --key HEX or --wallet NAME, or set STRATOS_MNEMONIC',
    )
  const r = await submit(chain, owner, fee).catch(async (e: unknown) => {
    throw await explainInsufficientFunds(e, chain, owner.address, { debit, fee })
  })
  if (f.json) {
    printJson({
      hash: r.hash,
      sender: owner.address,
      node,
      nonce: r.nonce.toString(),
      fee: r.fee.toString(),
      height: r.height,
      code: r.code ?? null,
    })
    return
  }
  const where =
    r.height === undefined ? 'submitted (not waiting for a block)' : `included at height ${r.height}, result ${r.code}`
  process.stdout.write(`${summary}\ntx ${r.hash} ${where}\nfee ${formatStos(r.fee)} STOS\n`)
}
