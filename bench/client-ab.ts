/**
 * Client CPU per 64 KiB upload, A/B: one LMDB meta node and 3 resource nodes (as bench/meta-index.ts --engine lmdb),
 * then load clients (bench/client-ab-child.ts, each importing the SDK of one given source tree, under tsx) taking
 * turns: A, B, B, A, A, B, … so both see the same machine within minutes. Each client puts `--warmup` files, then
 * `--count` measured ones (8 in flight); prints each run's client CPU ms per measured upload (the process's user +
 * system time) and the medians per tree. A fixed count, not a time window: the compiling that falls in the measured
 * part does not depend on how fast a busy machine let the warm-up go.
 *
 * Usage: npm run -s build && node --import tsx bench/client-ab.ts --trees /tmp/base,/work/wt/x [--rounds 3]
 *        [--warmup 600] [--count 600] [--concurrency 8] [--clients 1] [--perf FILE [--perf-seconds 20]]
 *        [--node-args=--flag,--flag]
 * A tree is a checkout's root (src/ with node_modules beside it), e.g. `git archive main src package.json | tar -x`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MetaClient } from '../src/net/meta-client.ts'
import { startRole, stopRole, type RoleProcess } from '../test/support/roles.ts'
import { processCpuMs } from './cpu.ts'

const { values: args } = parseArgs({
  options: {
    trees: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    /** Puts per client before the measured ones (not counted). */
    warmup: { type: 'string', default: '600' },
    /** Measured puts per client. */
    count: { type: 'string', default: '600' },
    /** With --perf: how long to record, from the client's start. */
    'perf-seconds': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '8' },
    clients: { type: 'string', default: '1' },
    /** perf record -e cpu-clock -g of the (first) client during its measured window, into FILE-<n>. */
    perf: { type: 'string' },
    /** Extra node flags for the clients (comma-separated), e.g. --trace-deopt. */
    'node-args': { type: 'string' },
  },
})
const trees = (args.trees ?? '').split(',').filter(Boolean)
if (trees.length === 0) throw new Error('--trees A,B')
const CHAIN_ID = 'stratos-bench-client-ab'
const WALLET_HEX = '6b'.repeat(32)

let perfRuns = 0

interface ClientOut {
  latencies: number[]
  errors: number
  cpuMs: number
  sysMs: number
}

async function runClients(
  tree: string,
  url: string,
  roles: number[],
): Promise<{ perOp: number; sysPerOp: number; ops: number; errors: number; p50: number; rolesPerOp: number }> {
  const n = Number(args.clients)
  const kids = Array.from({ length: n }, () => {
    const config = {
      tree,
      metaUrl: url,
      walletHex: WALLET_HEX,
      warmup: Number(args.warmup),
      count: Number(args.count),
      concurrency: Number(args.concurrency),
    }
    const child = spawn(
      process.execPath,
      [
        ...(args.perf ? ['--perf-basic-prof'] : []),
        ...(args['node-args']?.split(',') ?? []),
        '--import',
        'tsx',
        join(import.meta.dirname, 'client-ab-child.ts'),
        JSON.stringify(config),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: tree },
    )
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
    })
    const done = new Promise<ClientOut>((resolve, reject) => {
      child.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`client exited ${code}`)),
      )
    })
    return { child, done }
  })
  const r0 = roles.reduce((a, p) => a + (processCpuMs(p) ?? 0), 0)
  const perf = args.perf
    ? spawn(
        'perf',
        [
          'record',
          '-e',
          'cpu-clock',
          '-F',
          '2999',
          '-g',
          '-o',
          `${args.perf}-${perfRuns++}`,
          '-p',
          String(kids[0]!.child.pid),
          '--',
          'sleep',
          String(args['perf-seconds']),
        ],
        { stdio: 'ignore' },
      )
    : undefined
  const outs = await Promise.all(kids.map((k) => k.done))
  const r1 = roles.reduce((a, p) => a + (processCpuMs(p) ?? 0), 0)
  if (perf && perf.exitCode === null) await new Promise((r) => perf.once('exit', r))
  const lat = outs.flatMap((o) => o.latencies).sort((a, b) => a - b)
  const ops = Math.max(1, lat.length)
  return {
    perOp: outs.reduce((a, o) => a + o.cpuMs, 0) / ops,
    sysPerOp: outs.reduce((a, o) => a + o.sysMs, 0) / ops,
    ops,
    errors: outs.reduce((a, o) => a + o.errors, 0),
    p50: lat[Math.floor(lat.length / 2)] ?? Number.NaN,
    // Warm-up included: the servers' CPU is only a hint here.
    rolesPerOp: (r1 - r0) / (ops + Number(args.warmup) * n),
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stratos-client-ab-'))
const procs: RoleProcess[] = []
try {
  const meta = await startRole('meta', [
    '--data-dir',
    join(dir, 'meta'),
    '--port',
    '0',
    '--chain-id',
    CHAIN_ID,
    '--k',
    '2',
    '--m',
    '1',
    '--segment-size',
    '32MiB',
  ])
  procs.push(meta)
  for (let i = 0; i < 3; i++) {
    procs.push(
      await startRole('resource', [
        '--data-dir',
        join(dir, `node-${i}`),
        '--port',
        '0',
        '--meta-url',
        meta.url,
        '--meta-address',
        meta.address,
        '--chain-id',
        CHAIN_ID,
        '--sync',
        'none',
        '--heartbeat-interval-ms',
        '500',
      ]),
    )
  }
  const deadline = Date.now() + 30_000
  while ((await new MetaClient(meta.url).status()).totals.nodesOnline < 3) {
    if (Date.now() > deadline) throw new Error('nodes not online')
    await new Promise((r) => setTimeout(r, 200))
  }
  const rolePids = procs.map((p) => p.child.pid!)
  const results = new Map<string, number[]>(trees.map((t) => [t, []]))
  // The servers' own warm-up (their JIT): one run not counted, so round 0 does not meet slower servers than the rest.
  await runClients(trees[0]!, meta.url, rolePids)
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const tree of round % 2 === 0 ? trees : [...trees].reverse()) {
      const r = await runClients(tree, meta.url, rolePids)
      results.get(tree)!.push(r.perOp)
      console.log(
        `round ${round} ${tree}: client ${r.perOp.toFixed(3)} ms/upload (sys ${r.sysPerOp.toFixed(3)}), servers ${r.rolesPerOp.toFixed(2)}, ${r.ops} uploads, p50 ${r.p50.toFixed(1)} ms, errors ${r.errors}, load ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')}`,
      )
    }
  }
  for (const [tree, xs] of results) {
    const s = [...xs].sort((a, b) => a - b)
    console.log(
      `${tree}: median ${s[Math.floor(s.length / 2)]!.toFixed(3)} ms/upload  [${xs.map((x) => x.toFixed(3)).join(', ')}]`,
    )
  }
} finally {
  await Promise.allSettled(procs.map(stopRole))
  rmSync(dir, { recursive: true, force: true })
}
