/**
 * The floor under issue 17's targets on this machine: the load of `bench/meta-index.ts` (64 KiB uploads, then
 * 1 MiB range reads, through 2 meta processes over one PostgreSQL, 3 resource nodes, k=2 m=1, 4 client processes
 * × 8 in flight) carried by the smallest servers that still do the work a verified, accounted Stratos operation
 * cannot skip — and nothing else: no SDK, no schemas, no placement, no orders, no caches, no logs.
 *
 * Per 64 KiB upload:
 *   client → meta `create` (the client's secp256k1 signature, recovered natively; one PostgreSQL transaction in two
 *   round trips, REPEATABLE READ, as the real engine: BEGIN + read, then the writes with COMMIT; 3 ed25519 tickets
 *   signed) → 3 shard PUTs of 32 KiB in parallel (the node checks its ticket, hashes the shard with BLAKE3, writes it
 *   to a file and renames it into place, signs a receipt) → meta `commit` (the client's signature; 3 receipts
 *   checked; one transaction in two round trips that moves the upload to a file with its 3 locations).
 * Per 1 MiB read:
 *   client → meta `read` (signature recovered, 2 tickets signed; the file record is in memory) → 2 GETs of 512 KiB
 *   in parallel (ticket checked, pread into a reused buffer, BLAKE3 of what is served) → the client lands each body
 *   in a reused buffer with the SDK's own shard GET (src/net/direct-get.ts) and checks its BLAKE3.
 *
 * HTTP is node:http on the servers and undici on the clients (what the real roles use); PostgreSQL has fsync on.
 * The CPU of every process is read from /proc, PostgreSQL's server processes included (meta-index.ts leaves them
 * out), and divided by the operations done. What this floor leaves out, the real system must also pay for; so a
 * target above this floor is above what the machine can carry with this architecture, whatever the code does.
 *
 * Usage: node --import tsx bench/meta-floor.ts [--seconds 15] [--warmup 5] [--clients 4] [--concurrency 8]
 * `--warmup SECONDS`: each phase's load runs that long, unmeasured, before its measured window.
 * Writes bench/results/<date>-meta-floor.json.
 */
import { fork, type ChildProcess } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Agent, request } from 'undici'
import { installNativeWalletCrypto } from '../src/chain/native-secp256k1.ts'
import { blake3 } from '../src/crypto/blake3.ts'
import { NodeKey, verifyNodeSignature } from '../src/crypto/node-key.ts'
import { recoverWalletAddress, WalletKey } from '../src/crypto/wallet-key.ts'
import { DirectGetPool } from '../src/net/direct-get.ts'
import { createDatabase, startPostgres } from '../test/support/postgres.ts'
import { processCpuMs } from './cpu.ts'

const KiB = 1024
const MiB = 1024 * KiB
const UPLOAD_BYTES = 64 * KiB
const SHARD_BYTES = UPLOAD_BYTES / 2 // k = 2
const SHARDS_PER_UPLOAD = 3 // k + m
const READ_BYTES = MiB
const READ_PIECE_BYTES = READ_BYTES / 2 // one data shard's part of the range from each of 2 nodes
const READ_SHARD_FILE_BYTES = 16 * MiB // a 32 MiB file's data shard on each node
const META_PROCESSES = 2
const SHARD_NODES = 3
const PG_POOL_CONNECTIONS = 8 // as the real engine's pool
const META_SEED = new Uint8Array(32).fill(7)

type Role = 'meta' | 'shard' | 'client'
const role = process.argv[2] as Role | undefined

const text = new TextEncoder()

async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const length = Number(req.headers['content-length'] ?? -1)
  if (length >= 0 && length <= limit) {
    const out = Buffer.allocUnsafe(length)
    let at = 0
    for await (const chunk of req) {
      ;(chunk as Buffer).copy(out, at)
      at += (chunk as Buffer).length
    }
    return out
  }
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`)),
  )
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// ---------------------------------------------------------------------------------------------------- meta
async function runMeta(url: string): Promise<void> {
  installNativeWalletCrypto()
  const key = new NodeKey(META_SEED)
  const pool = new pg.Pool({ connectionString: url, max: PG_POOL_CONNECTIONS })
  pool.on('error', () => {})
  const fileOwner = new Map<string, string>()

  /** BEGIN + one read, then the writes with COMMIT: two round trips, as the real engine's create and commit. */
  async function transaction(read: string, writes: (row: unknown) => string): Promise<void> {
    const c = await pool.connect()
    try {
      const r = (await c.query(`BEGIN ISOLATION LEVEL REPEATABLE READ; ${read}`)) as unknown as pg.QueryResult[]
      await c.query(`${writes(r[1]?.rows[0])}; COMMIT`)
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      c.release()
    }
  }

  const server = http.createServer(async (req, res) => {
    try {
      const body = await readBody(req, 64 * KiB)
      const msg = JSON.parse(body.toString()) as {
        payload: Record<string, unknown>
        signature: string
      }
      const payloadBytes = text.encode(JSON.stringify(msg.payload))
      const owner = recoverWalletAddress(payloadBytes, Buffer.from(msg.signature, 'hex'))
      if (!owner) throw new Error('bad signature')
      const p = msg.payload as { id: string; nodes: number[]; receipts?: { r: string; s: string }[]; nonce: number }
      let answer: unknown
      if (req.url === '/create') {
        // A used nonce is a row of its own (replays collide on the key), so concurrent creates do not conflict.
        await transaction(`SELECT 1 FROM nonces WHERE owner = '${owner}' AND nonce = ${p.nonce}`, (row) => {
          if (row !== undefined) throw new Error('replayed nonce')
          return (
            `INSERT INTO nonces VALUES ('${owner}', ${p.nonce}); ` +
            `INSERT INTO uploads VALUES ('\\x${p.id}', '${owner}', '\\x${hex(payloadBytes)}')`
          )
        })
        answer = {
          tickets: Array.from({ length: SHARDS_PER_UPLOAD }, (_, i) => {
            const ticket = JSON.stringify({
              id: p.id,
              shard: i,
              owner,
              bytes: SHARD_BYTES,
              expiresAt: Date.now() + 60_000,
            })
            return { ticket, signature: hex(key.sign(text.encode(ticket))) }
          }),
        }
      } else if (req.url === '/commit') {
        const receipts = p.receipts ?? []
        if (receipts.length !== SHARDS_PER_UPLOAD) throw new Error('receipts')
        for (const r of receipts) {
          const cut = r.r.indexOf('|')
          const nodeKeyHex = r.r.slice(0, cut)
          const receipt = r.r.slice(cut + 1)
          if (!verifyNodeSignature(Buffer.from(nodeKeyHex, 'hex'), text.encode(receipt), Buffer.from(r.s, 'hex')))
            throw new Error('bad receipt')
        }
        await transaction(`SELECT owner FROM uploads WHERE id = '\\x${p.id}'`, (row) => {
          if ((row as { owner?: string } | undefined)?.owner !== owner) throw new Error('no such upload')
          const locations = receipts.map((_, i) => `('\\x${p.id}', ${i}, ${p.nodes[i]})`).join(', ')
          return (
            `INSERT INTO files VALUES ('\\x${p.id}', '${owner}', ${UPLOAD_BYTES}); ` +
            `INSERT INTO locations VALUES ${locations}; DELETE FROM uploads WHERE id = '\\x${p.id}'`
          )
        })
        fileOwner.set(p.id, owner)
        answer = { ok: true }
      } else if (req.url === '/read') {
        answer = {
          tickets: p.nodes.map((node) => {
            const ticket = JSON.stringify({ id: p.id, node, owner, expiresAt: Date.now() + 60_000 })
            return { ticket, signature: hex(key.sign(text.encode(ticket))) }
          }),
        }
      } else throw new Error('no such route')
      const out = JSON.stringify(answer)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
      res.end(out)
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: String(e) }))
    }
  })
  process.send!({ url: await listen(server) })
}

// ---------------------------------------------------------------------------------------------------- shard
async function runShard(dir: string): Promise<void> {
  const key = NodeKey.generate()
  const metaPublicKey = new NodeKey(META_SEED).publicKey
  const readFile = join(dir, 'read-shard')
  writeFileSync(readFile, randomBytes(READ_SHARD_FILE_BYTES))
  const readFd = openSync(readFile, 'r')
  const spare: Buffer[] = []

  function checkTicket(req: http.IncomingMessage): void {
    const ticket = Buffer.from(String(req.headers['x-ticket']), 'base64')
    const signature = Buffer.from(String(req.headers['x-signature']), 'hex')
    if (!verifyNodeSignature(metaPublicKey, ticket, signature)) throw new Error('bad ticket')
  }

  const server = http.createServer(async (req, res) => {
    try {
      checkTicket(req)
      if (req.method === 'PUT') {
        const body = await readBody(req, MiB)
        const digest = hex(blake3(body))
        const name = join(dir, digest)
        writeFileSync(`${name}.tmp`, body)
        renameSync(`${name}.tmp`, name)
        const receipt = `${digest}|${body.length}|${Date.now()}`
        const out = JSON.stringify({ r: `${hex(key.publicKey)}|${receipt}`, s: hex(key.sign(text.encode(receipt))) })
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
        res.end(out)
        return
      }
      const offset = Number(new URL(req.url!, 'http://x').searchParams.get('offset'))
      const buffer = spare.pop() ?? Buffer.allocUnsafe(READ_PIECE_BYTES)
      readSync(readFd, buffer, 0, READ_PIECE_BYTES, offset)
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': READ_PIECE_BYTES,
        'x-blake3': hex(blake3(buffer)),
      })
      res.end(buffer, () => spare.push(buffer))
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: String(e) }))
    }
  })
  process.send!({ url: await listen(server) })
}

// ---------------------------------------------------------------------------------------------------- client
interface ClientConfig {
  index: number
  metas: string[]
  shards: string[]
  concurrency: number
  seconds: number
  phase: 'upload' | 'read'
}

async function runClient(config: ClientConfig): Promise<void> {
  installNativeWalletCrypto()
  const wallet = WalletKey.fromPrivateKeyHex(hex(new Uint8Array(32).fill(0x40 + config.index)))
  const agent = new Agent({ connections: config.concurrency * 2, pipelining: 1 })
  const meta = config.metas[config.index % config.metas.length]!
  let nonce = Date.now() * 1000
  async function call(path: string, payload: Record<string, unknown>): Promise<unknown> {
    const signature = hex(wallet.sign(text.encode(JSON.stringify(payload))))
    const res = await request(`${meta}${path}`, {
      method: 'POST',
      body: JSON.stringify({ payload, signature }),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    })
    const answer = await res.body.json()
    if (res.statusCode !== 200) throw new Error(JSON.stringify(answer))
    return answer
  }
  const shardData = randomBytes(SHARD_BYTES)
  async function upload(): Promise<void> {
    const id = hex(randomBytes(16))
    const nodes = [0, 1, 2]
    const { tickets } = (await call('/create', { id, size: UPLOAD_BYTES, nodes, nonce: nonce++ })) as {
      tickets: { ticket: string; signature: string }[]
    }
    const receipts = await Promise.all(
      tickets.map(async (t, i) => {
        shardData.writeUInt32LE(Math.random() * 2 ** 32, 0) // distinct bytes per shard
        const res = await request(`${config.shards[nodes[i]!]}/s/${id}.${i}`, {
          method: 'PUT',
          body: shardData,
          headers: { 'x-ticket': Buffer.from(t.ticket).toString('base64'), 'x-signature': t.signature },
          dispatcher: agent,
        })
        const answer = (await res.body.json()) as { r: string; s: string }
        if (res.statusCode !== 200) throw new Error(JSON.stringify(answer))
        return answer
      }),
    )
    await call('/commit', { id, nodes, receipts, nonce: nonce++ })
  }
  const directGets = new DirectGetPool()
  const never = new AbortController().signal
  setMaxListeners(0, never) // shared by every GET in flight; each removes its listener when done
  const landing = Array.from({ length: config.concurrency * 2 }, () => Buffer.allocUnsafe(READ_PIECE_BYTES))
  async function read(): Promise<void> {
    const first = Math.floor(Math.random() * SHARD_NODES)
    const nodes = [first, (first + 1) % SHARD_NODES]
    const offset = Math.floor(Math.random() * (READ_SHARD_FILE_BYTES - READ_PIECE_BYTES))
    const { tickets } = (await call('/read', {
      id: 'read-file',
      offset,
      length: READ_BYTES,
      nodes,
      nonce: nonce++,
    })) as {
      tickets: { ticket: string; signature: string }[]
    }
    await Promise.all(
      tickets.map(async (t, i) => {
        let expected: string | undefined
        const into = landing.pop()!
        try {
          // The SDK's own shard GET (src/net/direct-get.ts): the kernel lands the body in the caller's buffer.
          const got = await directGets.get({
            origin: config.shards[nodes[i]!]!,
            path: `/s/read?offset=${offset}`,
            headers: { 'x-ticket': Buffer.from(t.ticket).toString('base64'), 'x-signature': t.signature },
            onHead: (head) => {
              if (head.contentLength !== READ_PIECE_BYTES) throw new Error(`read ${head.status} ${head.contentLength}`)
              expected = head.headers['x-blake3']
              return into
            },
            signal: never,
          })
          if (got.head.status !== 200) throw new Error(`read ${got.head.status}`)
          if (hex(blake3(into)) !== expected) throw new Error('hash mismatch')
        } finally {
          landing.push(into)
        }
      }),
    )
  }
  const op = config.phase === 'upload' ? upload : read
  const cpuAtStart = process.cpuUsage()
  const until = Date.now() + config.seconds * 1000
  let done = 0
  let errors = 0
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      while (Date.now() < until) {
        try {
          await op()
          done++
        } catch (e) {
          if (errors++ === 0) console.error(`client ${config.index}: ${String(e)}`)
        }
      }
    }),
  )
  // The load's CPU only: the process's start (loading modules, transpiling) is not an operation's cost.
  const cpu = process.cpuUsage(cpuAtStart)
  await agent.close()
  directGets.close()
  process.send!({ done, errors, cpuMs: (cpu.user + cpu.system) / 1000 })
}

// ---------------------------------------------------------------------------------------------------- main
function child<T>(args: string[]): Promise<{ process: ChildProcess; message: T }> {
  const p = fork(new URL(import.meta.url).pathname, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    p.once('message', (message) => resolve({ process: p, message: message as T }))
    p.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}`)))
  })
}

/** Pids of the postmaster and every server process it forked (backends, WAL writer, checkpointer, …). */
function postgresPids(postmaster: number): number[] {
  const pids = [postmaster]
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === postmaster) pids.push(Number(name))
    } catch {
      // gone
    }
  }
  return pids
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: 'string', default: '15' },
      clients: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '5' },
    },
  })
  const warmup = Number(args.warmup)
  const seconds = Number(args.seconds)
  const clients = Number(args.clients)
  const concurrency = Number(args.concurrency)
  const dir = mkdtempSync(join(tmpdir(), 'stratos-meta-floor-'))
  const pgServer = await startPostgres({ durable: true })
  const children: ChildProcess[] = []
  try {
    const url = await createDatabase(pgServer, 'meta_floor')
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    await c.query(`CREATE TABLE nonces (owner text NOT NULL, nonce bigint NOT NULL, PRIMARY KEY (owner, nonce));
      CREATE TABLE uploads (id bytea PRIMARY KEY, owner text NOT NULL, request bytea NOT NULL);
      CREATE TABLE files (id bytea PRIMARY KEY, owner text NOT NULL, size bigint NOT NULL);
      CREATE TABLE locations (file bytea NOT NULL, shard int NOT NULL, node int NOT NULL, PRIMARY KEY (file, shard))`)
    await c.end()
    const metas: string[] = []
    const rolePids: Record<string, number[]> = { meta: [], 'resource nodes': [] }
    for (let i = 0; i < META_PROCESSES; i++) {
      const m = await child<{ url: string }>(['meta', url])
      children.push(m.process)
      metas.push(m.message.url)
      rolePids.meta!.push(m.process.pid!)
    }
    const shards: string[] = []
    for (let i = 0; i < SHARD_NODES; i++) {
      const shardDir = join(dir, `node${i}`)
      mkdirSync(shardDir)
      const s = await child<{ url: string }>(['shard', shardDir])
      children.push(s.process)
      shards.push(s.message.url)
      rolePids['resource nodes']!.push(s.process.pid!)
    }
    const results: Record<string, unknown> = {}
    for (const phase of ['upload', 'read'] as const) {
      // Warm-up: the same load, not measured, so V8 has compiled the servers' hot paths (as meta-index --warmup).
      if (warmup > 0)
        await Promise.all(
          Array.from({ length: clients }, (_, index) =>
            child<{ done: number }>([
              'client',
              JSON.stringify({ index, metas, shards, concurrency, seconds: warmup, phase } satisfies ClientConfig),
            ]),
          ),
        )
      const loadStart = loadavg()
      const started = clients
        ? Array.from({ length: clients }, (_, index) =>
            child<{ done: number; errors: number; cpuMs: number }>([
              'client',
              JSON.stringify({ index, metas, shards, concurrency, seconds, phase } satisfies ClientConfig),
            ]),
          )
        : []
      const cpu = (pids: number[]): number => pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0)
      const pgBefore = new Map(postgresPids(pgServer.process.pid!).map((pid) => [pid, processCpuMs(pid) ?? 0]))
      const before = {
        meta: cpu(rolePids.meta!),
        nodes: cpu(rolePids['resource nodes']!),
      }
      const t0 = performance.now()
      const finished = await Promise.all(started)
      const wall = (performance.now() - t0) / 1000
      const clientCpu = finished.reduce((sum, f) => sum + f.message.cpuMs, 0)
      const after = {
        meta: cpu(rolePids.meta!),
        nodes: cpu(rolePids['resource nodes']!),
      }
      // PostgreSQL's server processes, counted from when each was first seen (backends come and go; one that
      // exited during the phase is lost, so this can only under-count).
      let pgCpu = 0
      for (const pid of postgresPids(pgServer.process.pid!)) {
        const now = processCpuMs(pid)
        if (now !== undefined) pgCpu += now - (pgBefore.get(pid) ?? 0)
      }
      const done = finished.reduce((sum, f) => sum + f.message.done, 0)
      const errors = finished.reduce((sum, f) => sum + f.message.errors, 0)
      const perOp = (ms: number): number => Math.round((ms / Math.max(1, done)) * 100) / 100
      const cpuMsPerOp = {
        clients: perOp(clientCpu),
        meta: perOp(after.meta - before.meta),
        'resource nodes': perOp(after.nodes - before.nodes),
        postgresql: perOp(pgCpu),
      }
      const total = Object.values(cpuMsPerOp).reduce((a, b) => a + b, 0)
      results[phase] = {
        count: done,
        perSecond: Math.round((done / seconds) * 10) / 10,
        errors,
        wallSeconds: Math.round(wall * 10) / 10,
        cpuMsPerOp,
        cpuMsPerOpTotal: Math.round(total * 100) / 100,
        /** What all the machine's cores could carry at this CPU per operation, with nothing else running. */
        ceilingPerSecondOnAllCores: Math.round((cpus().length * 1000) / total),
        loadavg: { start: loadStart, end: loadavg() },
      }
      console.log(phase, JSON.stringify(results[phase]))
    }
    const out = {
      date: new Date().toISOString(),
      machine: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
      node: process.version,
      config: { seconds, warmup, clients, concurrency, metaProcesses: META_PROCESSES, shardNodes: SHARD_NODES },
      ...results,
    }
    mkdirSync('bench/results', { recursive: true })
    const file = `bench/results/${out.date.slice(0, 10)}-meta-floor.json`
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`)
    console.log(`wrote ${file}`)
  } finally {
    for (const p of children) p.kill('SIGKILL')
    await pgServer.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (role === 'meta') await runMeta(process.argv[3]!)
else if (role === 'shard') await runShard(process.argv[3]!)
else if (role === 'client') await runClient(JSON.parse(process.argv[3]!) as ClientConfig)
else await main()
