/** `stratos wallet …` as real CLI processes, with a temporary HOME (so ~/.stratos/keys is private) and passwords from the env. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CliContext } from '../../src/cli/context.ts'
import { promptHidden } from '../../src/cli/password.ts'
import { cliArgs } from '../../src/devnet/devnet.ts'
import { writeNetworkFile, type NetworkFile } from '../../src/devnet/network.ts'
import { loadOrCreateDevWallets } from '../../src/devnet/wallets.ts'
import { ERROR_CODES, isStratosError } from '../../src/errors.ts'
import { cleanEnv } from '../e2e/harness.ts'

const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'
const MNEMONIC_ADDRESS = 'st18yesadx3t8x3jjsygpqeqzh0j7xh2vh66945zx'
const RAW_KEY = '4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318'
const RAW_ADDRESS = 'st1936ndcmqtkwpdfar67ccnrjjjwt2vhprets4cw'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function stratos(
  home: string,
  args: string[],
  opts: { password?: string; stdin?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const env = cleanEnv({
    HOME: home,
    STRATOS_LOG_LEVEL: 'silent',
    ...(opts.password !== undefined ? { STRATOS_KEYSTORE_PASSWORD: opts.password } : {}),
    ...opts.env,
  })
  if (opts.password === undefined) delete env.STRATOS_KEYSTORE_PASSWORD
  if (!opts.env?.STRATOS_KEYS_DIR) delete env.STRATOS_KEYS_DIR
  const child = spawn(process.execPath, cliArgs(...args), { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  child.stdin.end(opts.stdin ?? '')
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })))
}

/** Exit status and the `(CODE)` of the one error line. */
function failed(r: Run, code: keyof typeof ERROR_CODES): void {
  assert.equal(r.code, ERROR_CODES[code].exit, `expected ${code}: ${r.stderr}`)
  assert.match(r.stderr, new RegExp(`\\(${code}\\)\\n$`))
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, r.stderr)
  return r
}

function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'stratos-wallet-cli-'))
}

test('wallet new → list → show → show --reveal, mnemonic printed once, keystore 0600', async () => {
  const home = tempHome()
  try {
    const created = JSON.parse(
      ok(await stratos(home, ['wallet', 'new', 'main', '--words', '12', '--json'], { password: 'pw-main' })).stdout,
    ) as { address: string; mnemonic: string; publicKey: string; file: string }
    assert.equal(created.mnemonic.split(' ').length, 12)
    assert.match(created.address, /^st1/)
    assert.equal(created.file, join(home, '.stratos', 'keys', 'main.json'))
    assert.equal(statSync(created.file).mode & 0o777, 0o600)
    assert.ok(
      !readFileSync(created.file, 'utf8').includes(created.mnemonic.split(' ')[0] + ' '),
      'the keystore holds no plaintext mnemonic',
    )

    const human = ok(await stratos(home, ['wallet', 'new', 'second'], { password: 'pw2' })).stdout
    const words = /\n {2}([a-z ]+)\n/.exec(human)?.[1].split(' ') ?? []
    assert.equal(words.length, 24, human)

    // Independent commands run side by side (each process spends most of its time starting up).
    const [listRun, showRun, revealRun, wrong, noPassword, conflict] = await Promise.all([
      stratos(home, ['wallet', 'list', '--json']),
      stratos(home, ['wallet', 'show', 'main', '--json']),
      stratos(home, ['wallet', 'show', 'main', '--reveal', '--json'], { password: 'pw-main' }),
      stratos(home, ['wallet', 'show', 'main', '--reveal'], { password: 'wrong' }),
      stratos(home, ['wallet', 'show', 'main', '--reveal']), // no password source at all (stdin is not a terminal)
      stratos(home, ['wallet', 'new', 'main'], { password: 'x' }),
    ])
    const list = JSON.parse(ok(listRun).stdout) as { wallets: Array<{ name: string; address: string; source: string }> }
    assert.deepEqual(
      list.wallets.map((w) => [w.name, w.source]),
      [
        ['main', 'keystore'],
        ['second', 'keystore'],
      ],
    )
    assert.equal(list.wallets[0].address, created.address)
    assert.ok(!JSON.stringify(list).includes(created.mnemonic))
    const shown = JSON.parse(ok(showRun).stdout) as Record<string, string>
    assert.deepEqual([shown.address, shown.publicKey, shown.mnemonic], [created.address, created.publicKey, undefined])
    assert.equal((JSON.parse(ok(revealRun).stdout) as Record<string, string>).mnemonic, created.mnemonic)
    failed(wrong, 'BAD_PASSWORD')
    failed(noPassword, 'BAD_REQUEST')
    failed(conflict, 'CONFLICT')
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('wallet import from stdin (mnemonic and private key) gives the known addresses', async () => {
  const home = tempHome()
  const keysDir = join(home, 'elsewhere')
  try {
    const [m, k] = await Promise.all([
      stratos(home, ['wallet', 'import', 'abandon', '--json'], {
        password: 'p',
        stdin: `  ${MNEMONIC.replaceAll(' ', '\n')}\n`,
      }),
      stratos(home, ['wallet', 'import', 'raw', '--private-key-stdin', '--keys-dir', keysDir, '--json'], {
        password: 'p',
        stdin: `0x${RAW_KEY}\n`,
      }),
    ])
    assert.equal((JSON.parse(ok(m).stdout) as { address: string }).address, MNEMONIC_ADDRESS)
    assert.equal((JSON.parse(ok(k).stdout) as { address: string }).address, RAW_ADDRESS)
    const [rawRun, badMnemonic, empty] = await Promise.all([
      stratos(home, ['wallet', 'show', 'raw', '--reveal', '--json'], {
        password: 'p',
        env: { STRATOS_KEYS_DIR: keysDir },
      }),
      stratos(home, ['wallet', 'import', 'bad', '--mnemonic-stdin'], {
        password: 'p',
        stdin: 'abandon abandon abandon',
      }),
      stratos(home, ['wallet', 'import', 'empty', '--private-key-stdin'], { password: 'p', stdin: '' }),
    ])
    const raw = JSON.parse(ok(rawRun).stdout) as Record<string, string>
    assert.deepEqual([raw.address, raw.privateKey, raw.kind], [RAW_ADDRESS, RAW_KEY, 'private-key'])
    failed(badMnemonic, 'BAD_REQUEST')
    failed(empty, 'BAD_REQUEST')
    assert.deepEqual(
      readdirSync(join(home, '.stratos', 'keys')),
      ['abandon.json'],
      'failed imports leave nothing behind',
    )
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('bad wallet names are rejected before anything is written', async () => {
  const home = tempHome()
  try {
    const [traversal, slash, words, showTraversal, missing] = await Promise.all([
      stratos(home, ['wallet', 'new', '../evil'], { password: 'p' }),
      stratos(home, ['wallet', 'import', 'a/b'], { password: 'p', stdin: MNEMONIC }),
      stratos(home, ['wallet', 'new', 'w', '--words', '13'], { password: 'p' }),
      stratos(home, ['wallet', 'show', '../../etc/passwd']),
      stratos(home, ['wallet', 'show', 'nobody']),
    ])
    for (const r of [traversal, slash, words, showTraversal]) failed(r, 'BAD_REQUEST')
    failed(missing, 'NOT_FOUND')
    assert.ok(!existsSync(join(home, '.stratos', 'keys')), 'nothing was written')
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test("wallet list and show include the selected network's dev wallets, marked dev", async () => {
  const home = tempHome()
  try {
    const netDir = join(home, 'devnet')
    const wallets = loadOrCreateDevWallets(netDir)
    const network: NetworkFile = {
      chainId: 'test-chain',
      dir: netDir,
      portBase: null,
      k: 4,
      m: 2,
      segmentSize: 1024,
      meta: { url: 'http://127.0.0.1:9', address: 'stsds1x' },
      gatewayUrl: 'http://127.0.0.1:10',
      processes: [],
      wallets,
    }
    writeNetworkFile(netDir, network)
    ok(await stratos(home, ['wallet', 'import', 'mine'], { password: 'p', stdin: MNEMONIC }))
    const [listRun, tableRun, bobRun] = await Promise.all([
      stratos(home, ['--network', netDir, 'wallet', 'list', '--json']),
      stratos(home, ['wallet', 'list', '--network', netDir]),
      stratos(home, ['wallet', 'show', 'bob', '--network', netDir, '--json']),
    ])
    const list = JSON.parse(ok(listRun).stdout) as { wallets: Array<{ name: string; address: string; source: string }> }
    assert.deepEqual(
      list.wallets.map((w) => [w.name, w.source]),
      [
        ['mine', 'keystore'],
        ['alice', 'dev'],
        ['bob', 'dev'],
        ['carol', 'dev'],
        ['gateway', 'dev'],
      ],
    )
    assert.equal(list.wallets[1].address, wallets[0].address)
    assert.match(ok(tableRun).stdout, /alice\s+st1\S+\s+dev/)
    const bob = JSON.parse(ok(bobRun).stdout) as Record<string, string>
    assert.deepEqual([bob.address, bob.source], [wallets[1].address, 'dev'])
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('--wallet NAME finds keystore wallets (password from the env) before dev wallets', async () => {
  const home = tempHome()
  try {
    const keysDir = join(home, 'keys')
    ok(
      await stratos(home, ['wallet', 'import', 'alice', '--json'], {
        password: 'pw',
        stdin: MNEMONIC,
        env: { STRATOS_KEYS_DIR: keysDir },
      }),
    )
    const ctx = (password: string | undefined) =>
      new CliContext(
        { wallet: 'alice', metaUrl: 'http://127.0.0.1:9' },
        { STRATOS_KEYS_DIR: keysDir, ...(password ? { STRATOS_KEYSTORE_PASSWORD: password } : {}) },
      )
    assert.equal((await ctx('pw').resolveWallet('required'))?.address, MNEMONIC_ADDRESS)
    const c = ctx('pw')
    assert.throws(
      () => c.wallet('required'),
      (e: unknown) => isStratosError(e, 'INTERNAL'),
      'a locked keystore is never silently skipped',
    )
    await c.resolveWallet('optional')
    assert.equal(c.wallet('optional')?.address, MNEMONIC_ADDRESS, 'wallet() returns the unlocked key')
    await assert.rejects(ctx('nope').resolveWallet('required'), (e: unknown) => isStratosError(e, 'BAD_PASSWORD'))
    // As a process: a command that signs asks for the keystore password before it talks to the network.
    failed(
      await stratos(
        home,
        [
          'rm',
          'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
          '--meta-url',
          'http://127.0.0.1:9',
          '--wallet',
          'alice',
        ],
        { password: 'nope', env: { STRATOS_KEYS_DIR: keysDir } },
      ),
      'BAD_PASSWORD',
    )
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('the password prompt reads a line without echo, handles backspace, and Ctrl-C aborts', async () => {
  const terminal = () => {
    const input = Object.assign(new PassThrough(), {
      isTTY: true,
      isRaw: false,
      setRawMode(this: { isRaw: boolean }, raw: boolean) {
        this.isRaw = raw
        return this
      },
    })
    const output = new PassThrough()
    let echoed = ''
    output.on('data', (d: Buffer) => {
      echoed += d.toString()
    })
    return { input, output, echoed: () => echoed }
  }
  const t = terminal()
  const answer = promptHidden(
    'password: ',
    t.input as unknown as NodeJS.ReadStream,
    t.output as unknown as NodeJS.WriteStream,
  )
  t.input.write('se\u007fecret\r')
  assert.equal(await answer, 'secret')
  assert.equal(t.echoed(), 'password: \n', 'nothing typed is echoed')
  assert.equal(t.input.isRaw, false, 'raw mode is restored')
  const c = terminal()
  const aborted = promptHidden(
    'password: ',
    c.input as unknown as NodeJS.ReadStream,
    c.output as unknown as NodeJS.WriteStream,
  )
  c.input.write('abc\u0003')
  await assert.rejects(aborted, (e: unknown) => isStratosError(e, 'ABORTED'))
})
