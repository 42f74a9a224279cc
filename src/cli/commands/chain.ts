/**
 * Wallet and chain commands against the validator's REST API:
 *   balance · send · prepay · ozone · delegate · undelegate · rewards · withdraw
 *   chain status | block [HEIGHT] | tx HASH
 *
 * The validator is `--chain-url`, else the network file's `chainUrl`, else DEFAULT_CHAIN_URL.
 * Transaction commands sign with the context's wallet (--key, --wallet, STRATOS_MNEMONIC, dev
 * wallet) and all go through ChainClient.submitAndWait (one build-sign-submit-wait path).
 */
import type { Command } from 'commander'
import type { Msg } from '../../chain/msgs.ts'
import { StratosError } from '../../errors.ts'
import { tryReadNetworkFile } from '../../devnet/network.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import {
  ChainClient, DEFAULT_CHAIN_URL, DEFAULT_TX_FEE_WEI, formatStosAmount, parseAmount, type BlockJson, type SubmittedTx, type TxRecordJson,
} from '../../chain/client.ts'
import { contextOf, type CliContext } from '../context.ts'
import { formatTime, printJson, table } from '../output.ts'

interface JsonFlag { json?: boolean }
interface TxFlags extends JsonFlag { fee?: string; memo?: string; wait: boolean }

/** The validator URL: --chain-url, else the network file's chainUrl, else the default. */
export function chainUrlOf(cmd: Command, ctx: CliContext): string {
  const flag = (cmd.optsWithGlobals() as { chainUrl?: string }).chainUrl
  if (flag) return flag
  let fromFile: string | undefined
  try {
    fromFile = tryReadNetworkFile(ctx.networkPath)?.chainUrl
  } catch {
    fromFile = undefined // a broken network file is not needed when the default validator answers
  }
  return fromFile ?? DEFAULT_CHAIN_URL
}

function setup(cmd: Command): { ctx: CliContext; chain: ChainClient } {
  const ctx = contextOf(cmd)
  return { ctx, chain: new ChainClient({ url: chainUrlOf(cmd, ctx) }) }
}

async function signer(ctx: CliContext): Promise<WalletKey> {
  const key = await ctx.resolveWallet('required')
  if (!key) throw new StratosError('NETWORK_CONFIG', 'this command needs a wallet: pass --key HEX or --wallet NAME, or set STRATOS_MNEMONIC')
  return key
}

/** ADDRESS if given, else the selected wallet's address. */
async function addressOr(ctx: CliContext, address: string | undefined): Promise<string> {
  return address ?? (await signer(ctx)).address
}

function parseHeight(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new StratosError('BAD_REQUEST', `height "${text}" is not a block height`)
  return Number(text)
}

/** Options every transaction command takes (`jsonFields` describes what --json prints). */
export function txCommand(cmd: Command, jsonFields = 'hash, sender, nonce, fee, height?, code?'): Command {
  return cmd
    .option('--fee <amount>', `fee (default ${formatStosAmount(DEFAULT_TX_FEE_WEI)} STOS, the chain's minimum)`)
    .option('--memo <text>', 'memo stored with the transaction')
    .option('--no-wait', 'return once the validator admitted the tx, without waiting for a block')
    .option('--json', `print { ${jsonFields} } as JSON`)
}

/** The shared build → sign → submit → wait → print path of every transaction command. */
async function runTx(cmd: Command, flags: TxFlags, buildMsgs: (sender: string) => Msg[], summary: string): Promise<void> {
  const { ctx, chain } = setup(cmd)
  const fee = flags.fee === undefined ? DEFAULT_TX_FEE_WEI : parseAmount(flags.fee, 'fee')
  const key = await signer(ctx)
  const msgs = buildMsgs(key.address)
  const r: SubmittedTx = await chain.submitAndWait(key, msgs, { fee, memo: flags.memo, wait: flags.wait })
  if (flags.json) {
    printJson({ hash: r.hash, sender: key.address, nonce: r.nonce.toString(), fee: r.fee.toString(), height: r.height, code: r.code ?? null })
    return
  }
  const where = r.height === undefined ? 'submitted (not waiting for a block)' : `included at height ${r.height}, result ${r.code}`
  process.stdout.write(`${summary}\ntx ${r.hash} ${where}\nfee ${formatStosAmount(r.fee)} STOS\n`)
}

function printBlock(b: BlockJson): void {
  const h = b.header
  const lines = [
    `height     ${h.height}`,
    `hash       ${b.hash}`,
    `time       ${formatTime(h.time)}`,
    `parent     ${h.parentHash}`,
    `proposer   ${h.proposer ?? '-'}`,
    `txs        ${h.txCount}`,
    `state hash ${h.stateHash}`,
  ]
  if (b.results.length) {
    lines.push('', table(['tx', 'result', 'included'], b.results.map((r) => [r.hash, r.code, String(r.included)])))
  }
  process.stdout.write(lines.join('\n') + '\n')
}

function printTxRecord(t: TxRecordJson): void {
  const r = t.result
  process.stdout.write([
    `hash     ${t.hash}`,
    `height   ${t.height} (index ${t.index})`,
    `result   ${r.code}${r.message ? ` — ${r.message}` : ''}`,
    `included ${r.included}`,
    `fee      ${formatStosAmount(BigInt(r.fee))} STOS`,
  ].join('\n') + '\n')
}

export function registerChain(program: Command): void {
  program
    .command('balance')
    .description('balance, nonce and ozone of an address (default: the selected wallet)')
    .argument('[address]', 'st1… wallet address')
    .option('--json', 'print { address, balance, nonce, ozone } (wei / bytes as decimal strings)')
    .action(async (address: string | undefined, flags: JsonFlag, cmd: Command) => {
      const { ctx, chain } = setup(cmd)
      const a = await chain.account(await addressOr(ctx, address))
      if (flags.json) {
        printJson({ address: a.address, balance: a.balance.toString(), nonce: a.nonce.toString(), ozone: a.ozone.toString() })
        return
      }
      process.stdout.write(`address ${a.address}\nbalance ${formatStosAmount(a.balance)} STOS\nnonce   ${a.nonce}\nozone   ${a.ozone}\n`)
    })

  txCommand(program
    .command('send')
    .description('send STOS to an address and wait until the transfer is in a block')
    .argument('<to>', 'recipient st1… address')
    .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'))
    .action(async (to: string, amount: string, flags: TxFlags, cmd: Command) => {
      const wei = parseAmount(amount)
      await runTx(cmd, flags, () => [{ type: 'send', to, amount: wei }], `sent ${formatStosAmount(wei)} STOS to ${to}`)
    })

  txCommand(program
    .command('prepay')
    .description('buy ozone (prepaid traffic) for the selected wallet at the current ozone price')
    .argument('<amount>', 'STOS to spend: 12.5stos, 1000wei, or a number of STOS')
    .option('--beneficiary <address>', 'credit the ozone to this wallet instead'))
    .action(async (amount: string, flags: TxFlags & { beneficiary?: string }, cmd: Command) => {
      const wei = parseAmount(amount)
      const msg: Msg = { type: 'prepay', amount: wei, ...(flags.beneficiary ? { beneficiary: flags.beneficiary } : {}) }
      await runTx(cmd, flags, () => [msg], `prepaid ${formatStosAmount(wei)} STOS`)
    })

  program
    .command('ozone')
    .description('ozone balance of an address (default: the selected wallet) and the current ozone price')
    .argument('[address]', 'st1… wallet address')
    .option('--json', 'print { address, ozone, market: { S, P, L, price, weiPerGiB } }')
    .action(async (address: string | undefined, flags: JsonFlag, cmd: Command) => {
      const { ctx, chain } = setup(cmd)
      const addr = await addressOr(ctx, address)
      const [a, market] = await Promise.all([chain.account(addr), chain.ozoneMarket()])
      if (flags.json) {
        printJson({ address: addr, ozone: a.ozone.toString(), market })
        return
      }
      const price = market.weiPerGiB === null ? 'none (no ozone left)' : `${formatStosAmount(BigInt(market.weiPerGiB))} STOS per GiB`
      process.stdout.write(`address ${addr}\nozone   ${a.ozone} bytes\nprice   ${price}\n`)
    })

  txCommand(program
    .command('delegate')
    .description('delegate STOS to a validator')
    .argument('<validator>', 'validator operator st1… address')
    .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'))
    .action(async (validator: string, amount: string, flags: TxFlags, cmd: Command) => {
      const wei = parseAmount(amount)
      await runTx(cmd, flags, () => [{ type: 'delegate', validator, amount: wei }], `delegated ${formatStosAmount(wei)} STOS to ${validator}`)
    })

  txCommand(program
    .command('undelegate')
    .description('start unbonding STOS delegated to a validator')
    .argument('<validator>', 'validator operator st1… address')
    .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'))
    .action(async (validator: string, amount: string, flags: TxFlags, cmd: Command) => {
      const wei = parseAmount(amount)
      await runTx(cmd, flags, () => [{ type: 'undelegate', validator, amount: wei }], `undelegating ${formatStosAmount(wei)} STOS from ${validator}`)
    })

  program
    .command('rewards')
    .description('unwithdrawn rewards and delegations of an address (default: the selected wallet)')
    .argument('[address]', 'st1… wallet address')
    .option('--json', 'print { address, rewards, delegations, unbondings }')
    .action(async (address: string | undefined, flags: JsonFlag, cmd: Command) => {
      const { ctx, chain } = setup(cmd)
      const addr = await addressOr(ctx, address)
      const [rewards, d] = await Promise.all([chain.rewards(addr), chain.delegations(addr)])
      if (flags.json) {
        printJson({ address: addr, rewards, ...d })
        return
      }
      const matured = rewards.filter((r) => r.matured).reduce((s, r) => s + BigInt(r.amount), 0n)
      const out = [`address ${addr}`, `withdrawable ${formatStosAmount(matured)} STOS`]
      if (rewards.length) {
        out.push('', table(['epoch', 'amount (STOS)', 'matures at', 'matured'],
          rewards.map((r) => [String(r.epoch), formatStosAmount(BigInt(r.amount)), String(r.maturesAt), String(r.matured)]), new Set([0, 1, 2])))
      }
      if (d.delegations.length) {
        out.push('', table(['validator', 'delegated (STOS)'], d.delegations.map((x) => [x.validator, formatStosAmount(BigInt(x.amount))]), new Set([1])))
      }
      if (d.unbondings.length) {
        out.push('', table(['unbonding (STOS)', 'completes at height'], d.unbondings.map((u) => [formatStosAmount(BigInt(u.amount)), String(u.completionHeight)]), new Set([0, 1])))
      }
      process.stdout.write(out.join('\n') + '\n')
    })

  txCommand(program
    .command('withdraw')
    .description('withdraw the selected wallet\'s matured rewards'))
    .action(async (flags: TxFlags, cmd: Command) => {
      await runTx(cmd, flags, () => [{ type: 'withdraw_rewards' }], 'withdrew matured rewards')
    })

  const chain = program.command('chain').description('inspect the chain: status, blocks, transactions')

  chain
    .command('status')
    .description('chain id, height, latest block, epoch, mempool')
    .option('--json', 'print the validator\'s /status answer')
    .action(async (flags: JsonFlag, cmd: Command) => {
      const s = await setup(cmd).chain.status()
      if (flags.json) {
        printJson(s)
        return
      }
      process.stdout.write([
        `chain id     ${s.chainId}`,
        `height       ${s.height}`,
        `latest block ${s.latestBlockHash} (${formatTime(s.latestBlockTime)})`,
        `state hash   ${s.stateHash}`,
        `epoch        ${s.epoch}`,
        `mempool      ${s.mempool.txs} txs, ${s.mempool.bytes} bytes`,
      ].join('\n') + '\n')
    })

  chain
    .command('block')
    .description('a block (default: the latest)')
    .argument('[height]', 'block height')
    .option('--json', 'print the stored block { events, hash, header, results, txs }')
    .action(async (height: string | undefined, flags: JsonFlag, cmd: Command) => {
      const b = await setup(cmd).chain.block(height === undefined ? undefined : parseHeight(height))
      if (flags.json) printJson(b)
      else printBlock(b)
    })

  chain
    .command('tx')
    .description('a transaction included in a block')
    .argument('<hash>', 'tx hash (64 hex digits)')
    .option('--json', 'print { hash, height, index, result }')
    .action(async (hash: string, flags: JsonFlag, cmd: Command) => {
      const t = await setup(cmd).chain.tx(hash)
      if (flags.json) printJson(t)
      else printTxRecord(t)
    })
}
