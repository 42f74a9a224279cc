/**
 * README.md's walk-through, executed as written, so it cannot go stale.
 *
 * Convention (README.md says so under its walk-through):
 *  - Every ```sh block between the heading `## Walk-through` and the next `## ` heading is run, in order,
 *    one command per line (a line ending in `\` continues on the next; blank lines and `#` comment lines are
 *    skipped). Each command runs in its own `bash -o pipefail -c`, so any failure in a pipeline or `&&` chain
 *    fails the test with the command, its exit status and its output.
 *  - `CID` (as a whole word) stands for the CID the first `stratos put` printed (`added <cid> …`); a command that
 *    uses it before that fails the test.
 *  - Nothing else is substituted in the text. The environment makes the commands true as they stand: `stratos`
 *    is this checkout's bin/stratos.js linked into a temp bin dir on PATH (what `npm link` does); HOME is a temp
 *    dir whose `~/.stratos/devnet` holds the devnet, so `stratos` finds it by default and
 *    `require(process.env.HOME + '/.stratos/devnet/devnet.json')` works; commands run in an empty temp folder (not
 *    this checkout), so `./file` is the walk-through's own file.
 *  - Ports: the devnet runs on a free `--port-base` (tests must not take the default ports), and a URL on
 *    127.0.0.1/localhost with one of the default ports (DEFAULT_PORTS: chain 1317, IPFS API 5001, gateway 8080,
 *    meta 7100, resource nodes 7201…) is rewritten to the same role's port under that base (portsFromBase).
 *
 * The devnet is the one `npm start` runs (default resource count, k, m and segment size, restarts of killed
 * processes on), started through the e2e harness. The README says a node it kills comes back: for every process
 * a walk-through command kills by name (`p.name === 'resource-1'`), the test checks that devnet.json names a new,
 * live pid for it afterwards.
 */
import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_DEVNET_RESOURCES,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_PORTS,
  DEFAULT_SEGMENT_BYTES,
  portsFromBase,
} from '../../src/limits.ts'
import { TestDevnet, cleanEnv, eventually, isAlive } from './harness.ts'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const README = join(REPO, 'README.md')
const SECTION = '## Walk-through'
const COMMAND_TIMEOUT_MS = 120_000

export interface ReadmeCommand {
  /** 1-based line in README.md where the command starts. */
  line: number
  text: string
}

/** The commands of README.md's walk-through, per the convention above. */
export function walkthroughCommands(markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n')
  const start = lines.findIndex((l) => l.trim() === SECTION)
  if (start < 0) throw new Error(`README.md has no "${SECTION}" heading`)
  const out: ReadmeCommand[] = []
  let inSh = false
  let pending: ReadmeCommand | undefined
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]
    if (!inSh && /^## /.test(l)) break
    if (/^```/.test(l.trim())) {
      if (inSh && pending) throw new Error(`README.md:${pending.line}: a continued line runs into the end of its block`)
      inSh = !inSh && l.trim() === '```sh'
      continue
    }
    if (!inSh) continue
    if (pending) {
      pending.text += '\n' + l
    } else {
      if (l.trim() === '' || l.trim().startsWith('#')) continue
      pending = { line: i + 1, text: l }
    }
    if (!l.endsWith('\\')) {
      out.push(pending)
      pending = undefined
    }
  }
  return out
}

/** Rewrites the default ports in 127.0.0.1/localhost URLs to the devnet's ports under `portBase`. */
export function mapPorts(command: string, portBase: number, resources: number): string {
  const to = portsFromBase(portBase)
  const table = new Map<number, number>([
    [DEFAULT_PORTS.chainRest, to.chainRest],
    [DEFAULT_PORTS.ipfsApi, to.ipfsApi],
    [DEFAULT_PORTS.gateway, to.gateway],
    [DEFAULT_PORTS.meta, to.meta],
    ...Array.from(
      { length: resources },
      (_, i) => [DEFAULT_PORTS.resourceBase + i, to.resourceBase + i] as [number, number],
    ),
  ])
  return command.replace(/\b(127\.0\.0\.1|localhost):(\d+)\b/g, (all, host: string, port: string) => {
    const mapped = table.get(Number(port))
    return mapped === undefined ? all : `${host}:${mapped}`
  })
}

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function runBash(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn('bash', ['-o', 'pipefail', '-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('latin1')
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out after ${COMMAND_TIMEOUT_MS} ms: ${command}\n${stderr}`))
    }, COMMAND_TIMEOUT_MS)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

const clip = (s: string, n = 2000): string => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s)

test('README walk-through: extraction finds the commands in order', () => {
  const cmds = walkthroughCommands(readFileSync(README, 'utf8'))
  const putAt = cmds.findIndex((c) => /^stratos put\b/.test(c.text))
  assert.ok(putAt >= 0, 'the walk-through has a `stratos put`')
  assert.ok(cmds.length >= 10, `only ${cmds.length} commands extracted`)
  assert.ok(
    !cmds.some((c) => /\bnpx stratos\b/.test(c.text)),
    "no bare `npx stratos`: it can fetch someone else's package",
  )
  assert.ok(!cmds.slice(0, putAt).some((c) => /\bCID\b/.test(c.text)), 'no command uses CID before the first put')
  // The parser itself: sections, languages, comments and continuations.
  const md = [
    '# T',
    '## Walk-through',
    'text',
    '```sh',
    '# comment',
    'a one',
    '',
    'b \\',
    '  two',
    '```',
    '```json',
    '{"not": "run"}',
    '```',
    '```sh',
    'c',
    '```',
    '## Next',
    '```sh',
    'd',
    '```',
  ].join('\n')
  assert.deepEqual(walkthroughCommands(md), [
    { line: 6, text: 'a one' },
    { line: 8, text: 'b \\\n  two' },
    { line: 15, text: 'c' },
  ])
  assert.equal(
    mapPorts(
      'curl http://127.0.0.1:5001/x http://localhost:8080/y http://127.0.0.1:7202 http://10.0.0.1:8080 :5001',
      20_000,
      8,
    ),
    'curl http://127.0.0.1:20001/x http://localhost:20080/y http://127.0.0.1:20202 http://10.0.0.1:8080 :5001',
  )
})

test('README walk-through runs top to bottom on a fresh devnet', { timeout: 15 * 60_000 }, async (t) => {
  const commands = walkthroughCommands(readFileSync(README, 'utf8'))
  const home = mkdtempSync(join(tmpdir(), 'stratos-readme-'))
  const bin = join(home, 'bin')
  const work = join(home, 'work')
  mkdirSync(bin)
  mkdirSync(work)
  // What `npm link` installs: a symlink named after package.json's "bin" entry to this checkout's launcher.
  symlinkSync(join(REPO, 'bin', 'stratos.js'), join(bin, 'stratos'))
  const resources = DEFAULT_DEVNET_RESOURCES
  const devnet = await TestDevnet.start({
    dir: join(home, '.stratos', 'devnet'),
    resources,
    k: DEFAULT_DATA_SHARDS,
    m: DEFAULT_PARITY_SHARDS,
    segmentSize: DEFAULT_SEGMENT_BYTES,
    restart: true,
  })
  const startPids = new Map(devnet.network.processes.map((p) => [p.name, p.pid]))
  const killed = new Set(
    commands
      .filter((c) => /\bkill\b/.test(c.text))
      .flatMap((c) => [...c.text.matchAll(/name === '([\w-]+)'/g)].map((m) => m[1])),
  )
  try {
    const env = cleanEnv({ HOME: home, PATH: [bin, dirname(process.execPath), process.env.PATH ?? ''].join(delimiter) })
    delete env.STRATOS_KEYS_DIR
    delete env.STRATOS_KEYSTORE_PASSWORD
    let cid: string | undefined
    for (const c of commands) {
      if (/\bCID\b/.test(c.text) && cid === undefined)
        assert.fail(`README.md:${c.line}: uses CID before any \`stratos put\` printed one: ${c.text}`)
      const command = mapPorts(cid === undefined ? c.text : c.text.replace(/\bCID\b/g, cid), devnet.portBase, resources)
      const started = Date.now()
      const r = await runBash(command, work, env)
      t.diagnostic(`README.md:${c.line} (${Date.now() - started} ms, exit ${r.code}): ${command}`)
      if (r.code !== 0) {
        assert.fail(
          `README.md:${c.line}: \`${command}\` exited ${r.code ?? r.signal}\n--- stdout\n${clip(r.stdout)}\n--- stderr\n${clip(r.stderr)}`,
        )
      }
      if (cid === undefined && /^stratos put\b/.test(c.text)) {
        const added = [...r.stdout.matchAll(/^added (\S+) /gm)].at(-1)
        assert.ok(added, `README.md:${c.line}: \`${command}\` printed no "added <cid>" line:\n${clip(r.stdout)}`)
        cid = added[1]
      }
    }
    assert.ok(cid, 'the walk-through uploaded a file')
    for (const name of killed) {
      assert.ok(startPids.has(name), `the walk-through kills ${name}, which the devnet does not have`)
      await eventually(`${name} restarted by the devnet after the walk-through killed it`, 15_000, () => {
        const p = devnet.reload().processes.find((x) => x.name === name)
        return p !== undefined && p.pid !== startPids.get(name) && isAlive(p.pid)
      })
    }
  } finally {
    await devnet.destroy()
    rmSync(home, { recursive: true, force: true })
  }
})
