/**
 * Transport floor: how fast can two Node processes on this machine move a 200 MiB file that sits in the
 * page cache over loopback TCP, doing only what a verified Stratos download cannot avoid?
 *
 *   copy     — the sender preads 1 MiB at a time into reused buffers and writes them to the socket; the
 *              receiver reads the socket straight into one reused buffer (`onread`). No HTTP, no tickets,
 *              no erasure code, one connection.
 *   verified — the same plus BLAKE3 of every 256 KiB chunk at both ends (a resource node verifies what it
 *              serves, the client verifies what it receives: both stay in Stratos).
 *
 *   fan-out  — verified, from four sender processes at once, each a quarter of the file, as a Stratos
 *              download reads the four data shards of a segment from four resource nodes.
 *
 * This is an upper bound for a Stratos download of the same file on this machine (which also has meta
 * round trips, HTTP, orders, signatures and segment assembly), used to judge a download target. CPU is
 * read from /proc for the senders and from process.cpuUsage() for the receiver.
 *
 * Usage: npm run bench:floor -- [--size-mib 200] [--runs 7] [--out FILE]
 * Results go to bench/results/<date>-transport-floor.json unless --out says otherwise.
 */
import { fork } from 'node:child_process'
import { open, rm, writeFile, mkdir } from 'node:fs/promises'
import net from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { blake3 } from '../src/crypto/blake3.ts'
import { SHARD_CHUNK_BYTES } from '../src/limits.ts'
import { processCpuMs } from './cpu.ts'
import { writeSeededFile } from './data.ts'
import { median } from './stats.ts'

const MiB = 1 << 20
/** Sender's pread size (a resource node's read batch is 4 chunks = 1 MiB too). */
const READ_BYTES = 4 * SHARD_CHUNK_BYTES
/** Receiver's landing buffer (reused; bytes are counted and hashed, not kept). */
const LANDING_BYTES = 8 * MiB
const MAX_SOCKET_READ_BYTES = 64 * 1024

type Mode = 'copy' | 'verified' | 'fan-out'
const MODES: readonly Mode[] = ['copy', 'verified', 'fan-out']
/** Sender processes of the fan-out mode (k = 4 data shards per segment, each on its own node). */
const FAN_OUT_SENDERS = 4

/** The sending side: per connection, the first line says `copy|verify FROM TO`; it sends those bytes of the file. */
async function serve(file: string): Promise<void> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.once('data', (first) => {
      const [how, from, to] = first.toString('utf8').trim().split(' ')
      void send(socket, file, Number(from), Number(to), how === 'verify').catch((e) => socket.destroy(e))
    })
  })
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    if (address && typeof address === 'object') process.send?.(address.port)
  })
  process.on('disconnect', () => process.exit(0))
}

async function send(socket: net.Socket, file: string, from: number, to: number, verify: boolean): Promise<void> {
  const fh = await open(file)
  // Three buffers: one being read, one queued in the socket, one spare (a node keeps one batch read ahead).
  const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(READ_BYTES))
  try {
    for (let pos = from, i = 0; pos < to; pos += READ_BYTES, i++) {
      const buf = buffers[i % buffers.length].subarray(0, Math.min(READ_BYTES, to - pos))
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos)
      if (bytesRead !== buf.length) throw new Error('short read')
      if (verify) for (let o = 0; o < buf.length; o += SHARD_CHUNK_BYTES) blake3(buf.subarray(o, o + SHARD_CHUNK_BYTES))
      if (!socket.write(buf)) await new Promise((resolve) => socket.once('drain', resolve))
    }
  } finally {
    await fh.close()
  }
  socket.end()
}

/** Receives bytes [from, to) of the file from the sender at `port` into `landing`. */
function receive(port: number, verify: boolean, from: number, to: number, landing: Buffer): Promise<void> {
  const size = to - from
  let received = 0
  let unhashed = 0
  return new Promise<void>((resolve, reject) => {
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      onread: {
        // Each read lands after the previous one (wrapping), so a chunk's bytes are contiguous when hashed.
        buffer: () =>
          landing.subarray(
            received % LANDING_BYTES,
            Math.min(LANDING_BYTES, (received % LANDING_BYTES) + MAX_SOCKET_READ_BYTES),
          ),
        callback: (n: number) => {
          received += n
          if (verify) {
            unhashed += n
            while (unhashed >= SHARD_CHUNK_BYTES || (received === size && unhashed > 0)) {
              const take = Math.min(SHARD_CHUNK_BYTES, unhashed)
              const end = ((received - unhashed) % LANDING_BYTES) + take
              blake3(landing.subarray(end - take, end))
              unhashed -= take
            }
          }
          return true
        },
      },
    })
    socket.once('connect', () => socket.write(`${verify ? 'verify' : 'copy'} ${from} ${to}\n`))
    socket.once('end', () =>
      received === size ? resolve() : reject(new Error(`received ${received} of ${size} bytes`)),
    )
    socket.once('error', reject)
  })
}

/** One transfer of the whole file in `mode`; returns wall ms and the CPU ms of the receiver and the senders used. */
async function transfer(
  mode: Mode,
  size: number,
  senders: { port: number; pid: number }[],
  landings: Buffer[],
): Promise<{ ms: number; cpuMs: number }> {
  const used = mode === 'fan-out' ? senders : senders.slice(0, 1)
  const part = size / used.length
  const before = used.map((x) => processCpuMs(x.pid) ?? 0)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(used.map((x, j) => receive(x.port, mode !== 'copy', j * part, (j + 1) * part, landings[j])))
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const sendersMs = used.reduce((sum, x, j) => sum + ((processCpuMs(x.pid) ?? before[j]) - before[j]), 0)
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 + sendersMs }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '200' },
      runs: { type: 'string', default: '7' },
      out: { type: 'string' },
    },
  })
  const size = Number(values['size-mib']) * MiB
  const runs = Number(values.runs)
  // Each fan-out part is a whole number of chunks (so is every landing offset).
  if (size % (FAN_OUT_SENDERS * SHARD_CHUNK_BYTES) !== 0) throw new Error('--size-mib must be a whole number of MiB')
  const dir = join(tmpdir(), `stratos-floor-${process.pid}`)
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'input')
  const children = Array.from({ length: FAN_OUT_SENDERS }, () =>
    fork(new URL(import.meta.url).pathname, ['--serve', file], { execArgv: ['--import', 'tsx'] }),
  )
  try {
    await writeSeededFile(file, size, 1)
    const senders = await Promise.all(
      children.map(
        (child) =>
          new Promise<{ port: number; pid: number }>((resolve, reject) => {
            child.once('message', (m) => resolve({ port: Number(m), pid: child.pid! }))
            child.once('exit', (code) => reject(new Error(`sender exited with ${code}`)))
          }),
      ),
    )
    const landings = senders.map(() => Buffer.allocUnsafeSlow(LANDING_BYTES))
    // Warm-up: the file into the page cache, every side's code compiled.
    for (const mode of MODES) await transfer(mode, size, senders, landings)
    const results = Object.fromEntries(
      MODES.map((mode) => [mode, { ms: [] as number[], cpuMs: [] as number[] }]),
    ) as Record<Mode, { ms: number[]; cpuMs: number[] }>
    for (let r = 0; r < runs; r++) {
      // Interleaved, in rotating order, so every mode sees the same machine.
      for (let i = 0; i < MODES.length; i++) {
        const mode = MODES[(r + i) % MODES.length]
        const { ms, cpuMs } = await transfer(mode, size, senders, landings)
        results[mode].ms.push(ms)
        results[mode].cpuMs.push(cpuMs)
      }
    }
    const summary = Object.fromEntries(
      MODES.map((mode) => {
        const ms = median(results[mode].ms)
        return [
          mode,
          {
            medianMs: Math.round(ms),
            mbPerSecond: Math.round(size / ms / 1e3),
            cpuMsMedian: Math.round(median(results[mode].cpuMs)),
            runsMs: results[mode].ms.map(Math.round),
          },
        ]
      }),
    )
    const report = {
      kind: 'transport-floor',
      date: new Date().toISOString(),
      bytes: size,
      runs,
      cpus: cpus().length,
      loadavg: loadavg(),
      readBytes: READ_BYTES,
      chunkBytes: SHARD_CHUNK_BYTES,
      fanOutSenders: FAN_OUT_SENDERS,
      ...summary,
    }
    console.log(JSON.stringify(report, null, 2))
    const out = values.out ?? join(import.meta.dirname, 'results', `${report.date.slice(0, 10)}-transport-floor.json`)
    await writeFile(out, JSON.stringify(report, null, 2) + '\n')
    console.log(`written to ${out}`)
  } finally {
    for (const child of children) child.kill()
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3])
else await main()
