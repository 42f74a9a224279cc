/**
 * A resource node's CPU per small shard PUT, alone: one `stratos node resource` process per checkout given
 * (`--sync none`, as bench/meta-index.ts runs them), fed 32 KiB shard PUTs by this process over keep-alive
 * connections (undici, the headers the SDK sends: ticket, order, content-type, content-length), with tickets signed
 * here by a key the nodes trust. Rounds alternate between the checkouts (order flipped each round), so a machine whose
 * speed drifts slows every checkout alike; each round's CPU (utime + stime from /proc, every thread) is net of the
 * node's idle rate, measured before the first round.
 *
 * Usage: npm run -s build && node --import tsx bench/node-put.ts [--roots DIR,DIR] [--rounds 6] [--puts 1500]
 *        [--rate 200] [--concurrency 8] [--size 32768] [--warmup 3000] [--perf FILE]
 * `--rate`: PUTs a second (what each node gets in bench/meta-index.ts at issue 17's 200 uploads/s); 0 = as fast as
 * `--concurrency` connections carry them. Some costs are per second rather than per PUT (the LMDB commits of the
 * shard-owner table), so the rate changes the CPU per PUT.
 * `--roots`: checkouts whose bin/stratos.js (and dist/) to run (default this one). `--perf FILE`: `perf record -e
 * cpu-clock -g` of the first checkout's node over its last round (started with --perf-basic-prof; read it with
 * `perf report -i FILE --no-children --sort sym`). Prints one line per round and a JSON summary.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Pool, request } from 'undici'
import { NodeKey } from '../src/crypto/node-key.ts'
import { WalletKey } from '../src/crypto/wallet-key.ts'
import { computeShardId } from '../src/sds/protocol/shard.ts'
import { encodeTicketHeader, issueTicket } from '../src/sds/protocol/ticket.ts'
import { TICKET_HEADER } from '../src/sds/protocol/messages.ts'
import { ORDER_HEADER, OrderSigner, encodeOrderHeader } from '../src/sds/protocol/orders.ts'

const { values: args } = parseArgs({
  options: {
    roots: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    puts: { type: 'string', default: '1500' },
    concurrency: { type: 'string', default: '8' },
    size: { type: 'string', default: '32768' },
    warmup: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '200' },
    perf: { type: 'string' },
  },
})
const ROOTS = (args.roots ?? resolve(import.meta.dirname, '..')).split(',').map((r) => resolve(r))
const ROUNDS = Number(args.rounds)
const PUTS = Number(args.puts)
const CONCURRENCY = Number(args.concurrency)
const SIZE = Number(args.size)
const WARMUP = Number(args.warmup)
const RATE = Number(args.rate)
const CHAIN_ID = 'stratos-bench-node-put'
const meta = NodeKey.generate()
const orderKey = NodeKey.generate()
const orders = new OrderSigner(orderKey)
const payer = WalletKey.fromPrivateKeyHex('6b'.repeat(32)).address

/** CPU time of a process (every thread, ended ones too) in ms: utime and stime from /proc/PID/stat. */
function cpuOf(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 } // USER_HZ 100
}

interface Node {
  root: string
  child: ChildProcess
  url: string
  address: string
  pool: Pool
  dir: string
  idleMsPerS: number
  rounds: { cpu: number; user: number; sys: number; wallMs: number }[]
}

async function startNode(root: string, perf: boolean): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-node-put-'))
  const child = spawn(
    process.execPath,
    [
      ...(perf ? ['--perf-basic-prof'] : []),
      join(root, 'bin', 'stratos.js'),
      'node',
      'resource',
      '--data-dir',
      dir,
      '--port',
      '0',
      '--meta-url',
      'http://127.0.0.1:9',
      '--meta-address',
      meta.address,
      '--chain-id',
      CHAIN_ID,
      '--sync',
      'none',
      '--heartbeat-interval-ms',
      '600000',
    ],
    { env: { ...process.env, STRATOS_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const { url, address } = await new Promise<{ url: string; address: string }>((ok, fail) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /resource node (\S+) listening on (\S+)/.exec(out)
      if (m) ok({ address: m[1]!, url: m[2]! })
    })
    child.once('exit', (code) => fail(new Error(`node of ${root} exited (${code})`)))
  })
  child.stdout!.resume()
  return {
    root,
    child,
    url,
    address,
    dir,
    pool: new Pool(url, { connections: CONCURRENCY, pipelining: 1 }),
    idleMsPerS: 0,
    rounds: [],
  }
}

interface Put {
  id: string
  data: Uint8Array
  headers: Record<string, string>
}

/** `n` distinct shards for `node`, each with its ticket and order (made before the timed window). */
function makePuts(node: Node, n: number): Put[] {
  const out: Put[] = []
  for (let i = 0; i < n; i++) {
    const data = randomBytes(SIZE)
    const { id } = computeShardId(data)
    const ticket = issueTicket({
      key: meta,
      chainId: CHAIN_ID,
      op: 'put',
      node: node.address,
      shard: id,
      size: SIZE,
      payer,
      context: 'bench',
      orderKey: orders.publicKey,
      now: Date.now(),
    })
    out.push({
      id,
      data,
      headers: {
        [TICKET_HEADER]: encodeTicketHeader(ticket),
        [ORDER_HEADER]: encodeOrderHeader(orders.next(ticket.payload, SIZE, Date.now())),
        'content-type': 'application/octet-stream',
        'content-length': String(SIZE),
      },
    })
  }
  return out
}

/** PUTs `puts` at `node`, `rate` a second (0: as fast as CONCURRENCY connections go), at most CONCURRENCY at once. */
async function runPuts(node: Node, puts: Put[], rate = RATE): Promise<void> {
  const one = async (p: Put): Promise<void> => {
    const res = await request(`${node.url}/v1/shards/${p.id}`, {
      method: 'PUT',
      dispatcher: node.pool,
      headers: p.headers,
      body: p.data,
    })
    const text = await res.body.text()
    if (res.statusCode !== 201) throw new Error(`PUT ${res.statusCode}: ${text}`)
  }
  let next = 0
  const start = performance.now()
  const worker = async (): Promise<void> => {
    while (next < puts.length) {
      const i = next++
      if (rate > 0) {
        const due = start + (i * 1000) / rate - performance.now()
        if (due > 0) await new Promise((r) => setTimeout(r, due))
      }
      await one(puts[i]!)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
}

const nodes: Node[] = []
try {
  for (const [i, root] of ROOTS.entries()) nodes.push(await startNode(root, args.perf !== undefined && i === 0))
  for (const n of nodes) await runPuts(n, makePuts(n, WARMUP), 0) // the JIT's warm-up: flat out
  // Idle rate of each node (heartbeats are off: 10 min), after the warm-up.
  const idle0 = nodes.map((n) => cpuOf(n.child.pid!))
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 3000))
  const idleS = (performance.now() - t0) / 1000
  nodes.forEach((n, i) => {
    const c = cpuOf(n.child.pid!)
    n.idleMsPerS = (c.user + c.sys - idle0[i]!.user - idle0[i]!.sys) / idleS
  })
  const load0 = loadavg()
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? nodes : [...nodes].reverse()
    for (const n of order) {
      const puts = makePuts(n, PUTS)
      const perf =
        args.perf !== undefined && n === nodes[0] && r === ROUNDS - 1
          ? spawn('perf', ['record', '-e', 'cpu-clock', '-g', '-o', args.perf, '-p', String(n.child.pid)], {
              stdio: 'ignore',
            })
          : undefined
      if (perf) await new Promise((res) => setTimeout(res, 500))
      const c0 = cpuOf(n.child.pid!)
      const w0 = performance.now()
      await runPuts(n, puts)
      const wallMs = performance.now() - w0
      const c1 = cpuOf(n.child.pid!)
      if (perf) {
        perf.kill('SIGINT')
        await new Promise((res) => perf.once('exit', res))
      }
      const idle = (n.idleMsPerS * wallMs) / 1000
      const user = (c1.user - c0.user) / PUTS
      const sys = (c1.sys - c0.sys) / PUTS
      const cpu = (c1.user + c1.sys - c0.user - c0.sys - idle) / PUTS
      n.rounds.push({ cpu, user, sys, wallMs })
      console.log(
        `round ${r} ${n.root}: ${cpu.toFixed(3)} ms CPU/PUT (user ${user.toFixed(3)}, sys ${sys.toFixed(3)}), ${((PUTS / wallMs) * 1000).toFixed(0)} PUT/s, load ${loadavg()[0]!.toFixed(2)}`,
      )
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
  }
  console.log(
    JSON.stringify(
      {
        size: SIZE,
        puts: PUTS,
        concurrency: CONCURRENCY,
        loadavg: { start: load0.map((x) => +x.toFixed(2)), end: loadavg().map((x) => +x.toFixed(2)) },
        nodes: nodes.map((n) => ({
          root: n.root,
          idleMsPerS: +n.idleMsPerS.toFixed(2),
          cpuMsPerPut: +median(n.rounds.map((x) => x.cpu)).toFixed(3),
          userMsPerPut: +median(n.rounds.map((x) => x.user)).toFixed(3),
          sysMsPerPut: +median(n.rounds.map((x) => x.sys)).toFixed(3),
          putsPerS: +median(n.rounds.map((x) => (PUTS / x.wallMs) * 1000)).toFixed(0),
          rounds: n.rounds.map((x) => +x.cpu.toFixed(3)),
        })),
      },
      null,
      2,
    ),
  )
} finally {
  for (const n of nodes) {
    await n.pool.close().catch(() => {})
    n.child.kill('SIGTERM')
    await new Promise((r) => (n.child.exitCode !== null ? r(undefined) : n.child.once('exit', r)))
    rmSync(n.dir, { recursive: true, force: true })
  }
}
