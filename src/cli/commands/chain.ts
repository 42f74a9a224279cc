/**
 * Wallet and chain commands against the validator's REST API:
 *   balance · send · prepay · ozone · delegate · undelegate · rewards · withdraw
 *   chain status | block [HEIGHT] | tx HASH | create-validator | unjail
 *
 * The validator is `--chain-url`, else the network file's `chainUrl`, else DEFAULT_CHAIN_URL.
 * Transaction commands sign with the context's wallet (--key, --wallet, STRATOS_MNEMONIC, dev
 * wallet) and all go through ChainClient.submitAndWait (one build-sign-submit-wait path).
 */
import type { Command } from 'commander'
import type { Msg } from '../../chain/msgs.ts'
import { StratosError, isStratosError } from '../../errors.ts'
import { tryReadNetworkFile } from '../../devnet/network.ts'
import type { WalletKey } from '../../crypto/wallet-key.ts'
import {
  ChainClient,
  DEFAULT_CHAIN_URL,
  DEFAULT_TX_FEE_WEI,
  type BlockJson,
  type SubmittedTx,
  type TxRecordJson,
} from '../../chain-client/client.ts'
import { contextOf, type CliContext } from '../context.ts'
import {
  formatBytes,
  formatBytesExact,
  formatTime,
  printJson,
  table,
  formatStos,
  formatStosAmount,
  parseAmount,
} from '../output.ts'

interface JsonFlag {
  json?: boolean
}
interface TxFlags extends JsonFlag {
  fee?: string
  memo?: string
  wait: boolean
}

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
  if (!key)
    throw new StratosError(
      'NETWORK_CONFIG',
      'this command needs a wallet: pass --key HEX or --wallet NAME, or set STRATOS_MNEMONIC',
    )
  return key
}

/** ADDRESS (an address or a wallet name) if given, else the selected wallet's address. */
async function addressOr(ctx: CliContext, address: string | undefined): Promise<string> {
  return address === undefined ? (await signer(ctx)).address : ctx.resolveAddress(address)
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

/**
 * What a tx command prints on success: its summary line and extra --json fields. A function of the
 * included tx when the summary depends on what the block did (withdraw: the amount paid out).
 */
type TxSummary =
  | string
  | ((r: SubmittedTx, chain: ChainClient) => Promise<{ line: string; json?: Record<string, unknown> }>)

/** The shared build → sign → submit → wait → print path of every transaction command. */
async function runTx(
  cmd: Command,
  flags: TxFlags,
  buildMsgs: (sender: string) => Msg[],
  summary: TxSummary,
): Promise<void> {
  const { ctx, chain } = setup(cmd)
  const fee = flags.fee === undefined ? DEFAULT_TX_FEE_WEI : parseAmount(flags.fee, 'fee')
  const key = await signer(ctx)
  const msgs = buildMsgs(key.address)
  const undelegate = msgs.find((m) => m.type === 'undelegate')
  const r: SubmittedTx = await chain
    .submitAndWait(key, msgs, { fee, memo: flags.memo, wait: flags.wait })
    .catch(async (e: unknown) => {
      throw await explainInsufficientFunds(e, chain, key.address, {
        debit: debitOf(msgs),
        fee,
        ...(undelegate ? { undelegate } : {}),
      })
    })
  const s = typeof summary === 'string' ? { line: summary } : await summary(r, chain)
  if (flags.json) {
    printJson({
      hash: r.hash,
      sender: key.address,
      nonce: r.nonce.toString(),
      fee: r.fee.toString(),
      height: r.height,
      code: r.code ?? null,
      ...s.json,
    })
    return
  }
  const where =
    r.height === undefined ? 'submitted (not waiting for a block)' : `included at height ${r.height}, result ${r.code}`
  process.stdout.write(`${s.line}\ntx ${r.hash} ${where}\nfee ${formatStos(r.fee)} STOS\n`)
}

/** Wei a tx's messages take from the sender's balance, besides the fee. */
function debitOf(msgs: readonly Msg[]): bigint {
  let sum = 0n
  for (const m of msgs) {
    if (m.type === 'send' || m.type === 'prepay' || m.type === 'delegate' || m.type === 'update_deposit')
      sum += m.amount
    else if (m.type === 'create_resource_node' || m.type === 'create_meta_node') sum += m.deposit
    else if (m.type === 'create_validator') sum += m.selfDelegation
  }
  return sum
}

/** What a tx asked of its sender: the debit (amounts, deposits) and the fee; an undelegation asks of a delegation instead. */
export interface TxSpend {
  debit: bigint
  fee: bigint
  undelegate?: { validator: string; amount: bigint }
}

/**
 * The chain words INSUFFICIENT_FUNDS in wei ("has 5 wei, needs 10"), and a failure inside a block
 * reaches the client as a message without details. So the CLI restates it in STOS from what it
 * knows: the sender's balance now (after the fee, if the tx was included), the delegation for an
 * undelegation, and what the tx asked for. Other errors, and a chain that does not answer the
 * follow-up query, pass through unchanged.
 */
export async function explainInsufficientFunds(
  e: unknown,
  chain: ChainClient,
  sender: string,
  spend: TxSpend,
): Promise<unknown> {
  if (!isStratosError(e, 'INSUFFICIENT_FUNDS')) return e
  const account = await chain.account(sender).catch(() => undefined)
  if (!account) return e
  const included =
    e.details?.included === true
      ? `; the tx was included at height ${String(e.details.height)}, so its fee was charged`
      : ''
  const details = {
    ...e.details,
    account: sender,
    balance: account.balance.toString(),
    needed: (spend.debit + spend.fee).toString(),
    chainMessage: e.message,
  }
  const u = spend.undelegate
  if (u && (account.balance >= spend.fee || e.details?.included === true)) {
    const d = await chain.delegations(sender).catch(() => undefined)
    if (!d) return e
    const delegated = d.delegations
      .filter((x) => x.validator === u.validator)
      .reduce((a, x) => a + BigInt(x.amount), 0n)
    return new StratosError(
      'INSUFFICIENT_FUNDS',
      `${sender} has ${formatStos(delegated)} STOS delegated to ${u.validator}: cannot undelegate ${formatStos(u.amount)} STOS${included}`,
      { ...details, delegated: delegated.toString(), needed: u.amount.toString() },
      { cause: e },
    )
  }
  const needs =
    spend.debit === 0n
      ? `${formatStos(spend.fee)} STOS for the fee`
      : `${formatStos(spend.debit + spend.fee)} STOS (${formatStos(spend.debit)} + ${formatStos(spend.fee)} fee)`
  return new StratosError(
    'INSUFFICIENT_FUNDS',
    `${sender} has ${formatStos(account.balance)} STOS, this transaction needs ${needs}${included}`,
    details,
    { cause: e },
  )
}

/** Wei paid out by an included withdraw_rewards tx: its `withdraw_rewards` events (the pot module emits one per tx). */
export function withdrawnAmount(t: TxRecordJson): bigint | undefined {
  let sum: bigint | undefined
  for (const ev of t.result.events) {
    const e = ev as { type?: unknown; attributes?: { amount?: unknown } }
    if (e.type === 'withdraw_rewards' && typeof e.attributes?.amount === 'string')
      sum = (sum ?? 0n) + BigInt(e.attributes.amount)
  }
  return sum
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
    lines.push(
      '',
      table(
        ['tx', 'result', 'included'],
        b.results.map((r) => [r.hash, r.code, String(r.included)]),
      ),
    )
  }
  process.stdout.write(lines.join('\n') + '\n')
}

function printTxRecord(t: TxRecordJson): void {
  const r = t.result
  process.stdout.write(
    [
      `hash     ${t.hash}`,
      `height   ${t.height} (index ${t.index})`,
      `result   ${r.code}${r.message ? ` — ${r.message}` : ''}`,
      `included ${r.included}`,
      `fee      ${formatStos(BigInt(r.fee))} STOS`,
    ].join('\n') + '\n',
  )
}

export function registerChain(program: Command): void {
  program
    .command('balance')
    .description('balance, nonce and ozone of an address (default: the selected wallet)')
    .argument('[address]', 'st1… wallet address or wallet name')
    .option('--json', 'print { address, balance, nonce, ozone } (wei / bytes as decimal strings)')
    .action(async (address: string | undefined, flags: JsonFlag, cmd: Command) => {
      const { ctx, chain } = setup(cmd)
      const a = await chain.account(await addressOr(ctx, address))
      if (flags.json) {
        printJson({
          address: a.address,
          balance: a.balance.toString(),
          nonce: a.nonce.toString(),
          ozone: a.ozone.toString(),
        })
        return
      }
      process.stdout.write(
        `address ${a.address}\nbalance ${formatStos(a.balance)} STOS\nnonce   ${a.nonce}\nozone   ${formatBytesExact(a.ozone)} of traffic\n`,
      )
    })

  txCommand(
    program
      .command('send')
      .description('send STOS to an address and wait until the transfer is in a block')
      .argument('<to>', 'recipient: st1… address, or a keystore or dev wallet name')
      .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'),
  ).action(async (toArg: string, amount: string, flags: TxFlags, cmd: Command) => {
    const wei = parseAmount(amount)
    const to = contextOf(cmd).resolveAddress(toArg, 'recipient')
    await runTx(
      cmd,
      flags,
      () => [{ type: 'send', to, amount: wei }],
      `sent ${formatStos(wei)} STOS to ${to === toArg ? to : `${toArg} (${to})`}`,
    )
  })

  txCommand(
    program
      .command('prepay')
      .description('buy ozone (prepaid traffic) for the selected wallet at the current ozone price')
      .argument('<amount>', 'STOS to spend: 12.5stos, 1000wei, or a number of STOS')
      .option('--beneficiary <address>', 'credit the ozone to this wallet (address or wallet name) instead'),
  ).action(async (amount: string, flags: TxFlags & { beneficiary?: string }, cmd: Command) => {
    const wei = parseAmount(amount)
    const beneficiary =
      flags.beneficiary === undefined ? undefined : contextOf(cmd).resolveAddress(flags.beneficiary, 'beneficiary')
    const msg: Msg = { type: 'prepay', amount: wei, ...(beneficiary ? { beneficiary } : {}) }
    await runTx(cmd, flags, () => [msg], `prepaid ${formatStos(wei)} STOS${beneficiary ? ` for ${beneficiary}` : ''}`)
  })

  program
    .command('ozone')
    .description('ozone balance of an address (default: the selected wallet) and the current ozone price')
    .argument('[address]', 'st1… wallet address or wallet name')
    .option('--json', 'print { address, ozone, market: { S, P, L, price, weiPerGiB } }')
    .action(async (address: string | undefined, flags: JsonFlag, cmd: Command) => {
      const { ctx, chain } = setup(cmd)
      const addr = await addressOr(ctx, address)
      const [a, market] = await Promise.all([chain.account(addr), chain.ozoneMarket()])
      if (flags.json) {
        printJson({ address: addr, ozone: a.ozone.toString(), market })
        return
      }
      const price =
        market.weiPerGiB === null ? 'none (no ozone left)' : `${formatStos(BigInt(market.weiPerGiB))} STOS per GiB`
      process.stdout.write(`address ${addr}\nozone   ${formatBytesExact(a.ozone)} of traffic\nprice   ${price}\n`)
    })

  txCommand(
    program
      .command('delegate')
      .description('delegate STOS to a validator')
      .argument('<validator>', 'validator operator: st1… address or wallet name')
      .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'),
  ).action(async (validatorArg: string, amount: string, flags: TxFlags, cmd: Command) => {
    const wei = parseAmount(amount)
    const validator = contextOf(cmd).resolveAddress(validatorArg, 'validator')
    await runTx(
      cmd,
      flags,
      () => [{ type: 'delegate', validator, amount: wei }],
      `delegated ${formatStos(wei)} STOS to ${validator}`,
    )
  })

  txCommand(
    program
      .command('undelegate')
      .description('start unbonding STOS delegated to a validator')
      .argument('<validator>', 'validator operator: st1… address or wallet name')
      .argument('<amount>', 'amount: 12.5stos, 1000wei, or a number of STOS'),
  ).action(async (validatorArg: string, amount: string, flags: TxFlags, cmd: Command) => {
    const wei = parseAmount(amount)
    const validator = contextOf(cmd).resolveAddress(validatorArg, 'validator')
    await runTx(
      cmd,
      flags,
      () => [{ type: 'undelegate', validator, amount: wei }],
      `undelegating ${formatStos(wei)} STOS from ${validator}`,
    )
  })

  program
    .command('rewards')
    .description('unwithdrawn rewards and delegations of an address (default: the selected wallet)')
    .argument('[address]', 'st1… wallet address or wallet name')
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
      const out = [`address ${addr}`, `withdrawable ${formatStos(matured)} STOS`]
      if (rewards.length) {
        out.push(
          '',
          table(
            ['epoch', 'amount (STOS)', 'matures at', 'matured'],
            rewards.map((r) => [String(r.epoch), formatStos(BigInt(r.amount)), String(r.maturesAt), String(r.matured)]),
            new Set([0, 1, 2]),
          ),
        )
      }
      if (d.delegations.length) {
        out.push(
          '',
          table(
            ['validator', 'delegated (STOS)'],
            d.delegations.map((x) => [x.validator, formatStos(BigInt(x.amount))]),
            new Set([1]),
          ),
        )
      }
      if (d.unbondings.length) {
        out.push(
          '',
          table(
            ['unbonding (STOS)', 'completes at height'],
            d.unbondings.map((u) => [formatStos(BigInt(u.amount)), String(u.completionHeight)]),
            new Set([0, 1]),
          ),
        )
      }
      process.stdout.write(out.join('\n') + '\n')
    })

  txCommand(
    program
      .command('withdraw')
      .description("withdraw the selected wallet's matured rewards and say how much was paid out"),
    'hash, sender, nonce, fee, height?, code?, withdrawn?',
  ).action(async (flags: TxFlags, cmd: Command) => {
    await runTx(
      cmd,
      flags,
      () => [{ type: 'withdraw_rewards' }],
      async (r, chain) => {
        if (r.height === undefined) return { line: 'withdrawal of matured rewards submitted' }
        const paid = withdrawnAmount(await chain.tx(r.hash))
        if (paid === undefined) return { line: 'withdrew matured rewards' }
        return { line: `withdrew ${formatStos(paid)} STOS of matured rewards`, json: { withdrawn: paid.toString() } }
      },
    )
  })

  const chain = program
    .command('chain')
    .description('inspect the chain: status, blocks, transactions; run a validator: create-validator, unjail')

  txCommand(
    chain
      .command('create-validator')
      .description(
        "make the selected wallet a validator: bond STOS with a node's consensus key (it joins CometBFT's validator set at the end of the block)",
      )
      .requiredOption('--amount <amount>', 'self-delegation: 12.5stos, 1000wei, or a number of STOS')
      .option(
        '--data-dir <dir>',
        "the validator node's data directory: its node-key.json is the consensus key (CometBFT signs with it)",
      )
      .option('--consensus-key <hex>', 'the ed25519 consensus public key (64 hex digits) instead of --data-dir')
      .option('--commission-bps <n>', 'share of the rewards the operator keeps, in basis points', '1000')
      .option('--moniker <name>', 'a name for people', 'validator'),
  ).action(
    async (
      flags: TxFlags & {
        amount: string
        dataDir?: string
        consensusKey?: string
        commissionBps: string
        moniker: string
      },
      cmd: Command,
    ) => {
      const consensusKey = await consensusKeyOf(flags)
      const selfDelegation = parseAmount(flags.amount, 'amount')
      if (!/^\d{1,5}$/.test(flags.commissionBps))
        throw new StratosError('BAD_REQUEST', '--commission-bps must be 0…10000 (basis points)')
      const commissionBps = Number(flags.commissionBps)
      await runTx(
        cmd,
        flags,
        () => [{ type: 'create_validator', consensusKey, commissionBps, selfDelegation, moniker: flags.moniker }],
        `created validator ${flags.moniker} with ${formatStos(selfDelegation)} STOS self-delegated (consensus key ${consensusKey})`,
      )
    },
  )

  txCommand(
    chain
      .command('unjail')
      .description("put the selected wallet's validator, jailed for downtime, back into the validator set"),
  ).action(async (flags: TxFlags, cmd: Command) => {
    await runTx(cmd, flags, () => [{ type: 'unjail' }], 'unjailed the validator')
  })

  chain
    .command('status')
    .description('chain id, height, latest block, epoch, mempool')
    .option('--json', "print the validator's /status answer")
    .action(async (flags: JsonFlag, cmd: Command) => {
      const s = await setup(cmd).chain.status()
      if (flags.json) {
        printJson(s)
        return
      }
      process.stdout.write(
        [
          `chain id     ${s.chainId}`,
          `height       ${s.height}`,
          `latest block ${s.latestBlockHash} (${formatTime(s.latestBlockTime)})`,
          `state hash   ${s.stateHash}`,
          `epoch        ${s.epoch}`,
          `mempool      ${s.mempool.txs} txs, ${formatBytes(s.mempool.bytes)}`,
        ].join('\n') + '\n',
      )
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

/** --consensus-key HEX, else the public key in --data-dir's node-key.json (one of the two is required). */
async function consensusKeyOf(flags: { dataDir?: string; consensusKey?: string }): Promise<string> {
  if (flags.consensusKey !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(flags.consensusKey))
      throw new StratosError('BAD_REQUEST', '--consensus-key is an ed25519 public key: 64 lowercase hex digits')
    if (flags.dataDir !== undefined)
      throw new StratosError('BAD_REQUEST', 'give --consensus-key or --data-dir, not both')
    return flags.consensusKey
  }
  if (flags.dataDir === undefined)
    throw new StratosError('BAD_REQUEST', "give the validator node's --data-dir (its node-key.json) or --consensus-key")
  const { existsSync } = await import('node:fs')
  const { join, resolve } = await import('node:path')
  const file = join(resolve(flags.dataDir), 'node-key.json')
  if (!existsSync(file))
    throw new StratosError(
      'NOT_FOUND',
      `no ${file}: start the validator once (it creates its key) or pass --consensus-key`,
    )
  const { NodeKey } = await import('../../crypto/node-key.ts')
  return Buffer.from(NodeKey.loadOrCreate(resolve(flags.dataDir)).publicKey).toString('hex')
}
