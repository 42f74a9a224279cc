/**
 * `npm run bench:s3` — the S3 gateway against the network's own CLI, in one run on one fresh devnet (a meta node,
 * six resource nodes, k=4 m=2, the S3 gateway): per run a new seeded file (nothing deduplicated), then, interleaved
 * (the order alternating per run, so background load hits both sides alike):
 *   stratos put   `node bin/stratos.js put FILE`             the whole CLI process
 *   aws up        `aws s3 cp FILE s3://bench/KEY`           Debian's awscli, its defaults (multipart, 10 threads)
 *   stratos get   `node bin/stratos.js get CID -o OUT`
 *   aws down      `aws s3 cp s3://bench/KEY OUT`
 *   floor up/down the same two `aws s3 cp` against bench/s3-sink.mjs, an S3 endpoint that verifies and stores nothing
 *                 (it serves downloads from the page cache): awscli's own cost on this machine, which bounds what any
 *                 gateway can reach. Up: SigV4 SHA-256 and CRC32 of every 8 MiB part in Python, 10 threads.
 * Every download is checked byte-exact (sha256). Target (issue 19): aws up/down ≤ 1.5 × stratos put/get.
 * Writes bench/results/<date>-s3.json with the medians, the ratios, every sample and the load average around it.
 *
 *   options: --size MiB (default 200)  --runs N (default 3)  --keep
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeSeededFile } from './data.ts'
import { startDevnet } from './devnet.ts'
import { median, round3 } from './stats.ts'

const MiB = 1 << 20
const REPO = join(import.meta.dirname, '..')
const STRATOS_BIN = join(REPO, 'bin', 'stratos.js')
const AWS = '/usr/bin/aws'
const TARGET_RATIO = 1.5

function log(msg: string): void {
  process.stderr.write(`[bench:s3] ${msg}\n`)
}

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now()
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  const ms = performance.now() - t0
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-600)}`)
  return { ms, stdout }
}

/** bench/s3-sink.mjs in its own process, serving downloads from `dir`. */
async function startSink(dir: string): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 's3-sink.mjs'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(Number(d.trim())))
    child.once('exit', (code) => reject(new Error(`the S3 sink exited (${code})`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') }
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(path)) h.update(c as Buffer)
  return h.digest('hex')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { size: { type: 'string' }, runs: { type: 'string' }, keep: { type: 'boolean' } },
  })
  const size = Number(values.size ?? 200) * MiB
  const runs = Number(values.runs ?? 3)
  if (!existsSync(AWS)) throw new Error(`${AWS} is missing: apt-get install awscli`)
  const loadStart = loadavg().map(round3)
  const dir = await mkdtemp(join(tmpdir(), 'stratos-bench-s3-'))
  const devnet = await startDevnet({ dir: join(dir, 'devnet'), resources: 6, k: 4, m: 2, log: () => {} })
  let sink: Awaited<ReturnType<typeof startSink>> | undefined
  try {
    sink = await startSink(dir)
    const net = devnet.network
    const w = net.wallets[0]
    const stratosEnv = { STRATOS_HOME: join(dir, 'devnet'), STRATOS_LOG_LEVEL: 'warn' }
    const awsEnv: NodeJS.ProcessEnv = {
      AWS_ACCESS_KEY_ID: w.s3AccessKeyId,
      AWS_SECRET_ACCESS_KEY: w.s3SecretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CA_BUNDLE: '',
      HOME: dir,
    }
    const aws = (args: string[]) => timed(AWS, ['--endpoint-url', net.s3 ?? '', ...args], awsEnv)
    const floorAws = (args: string[]) => timed(AWS, ['--endpoint-url', sink?.url ?? '', ...args], awsEnv)
    await aws(['s3', 'mb', 's3://bench'])
    const samples = {
      stratosPut: [] as number[],
      awsUp: [] as number[],
      floorUp: [] as number[],
      stratosGet: [] as number[],
      awsDown: [] as number[],
      floorDown: [] as number[],
    }
    for (let i = 0; i < runs; i++) {
      const file = join(dir, `in-${i}`)
      await writeSeededFile(file, size, 9000 + i)
      const want = await sha256(file)
      // Two copies of the content would deduplicate: the S3 side gets its own seeded file of the same size.
      const file2 = join(dir, `in-s3-${i}`)
      await writeSeededFile(file2, size, 19000 + i)
      const want2 = await sha256(file2)
      const stratosUp = async () => {
        const r = await timed(process.execPath, [STRATOS_BIN, 'put', file], stratosEnv)
        samples.stratosPut.push(r.ms)
        return (
          r.stdout
            .trim()
            .split(/\s+/)
            .find((x) => /^(Qm|b)/.test(x)) ?? ''
        )
      }
      const awsUp = async () =>
        samples.awsUp.push((await aws(['s3', 'cp', '--only-show-errors', file2, `s3://bench/f${i}`])).ms)
      const floorUp = async () =>
        samples.floorUp.push((await floorAws(['s3', 'cp', '--only-show-errors', file2, `s3://sink/f${i}`])).ms)
      let cid = ''
      if (i % 2 === 0) {
        cid = await stratosUp()
        await awsUp()
        await floorUp()
      } else {
        await floorUp()
        await awsUp()
        cid = await stratosUp()
      }
      if (!cid) throw new Error('stratos put printed no CID')
      const out1 = join(dir, `out-${i}`)
      const out2 = join(dir, `out-s3-${i}`)
      const stratosDown = async () =>
        samples.stratosGet.push((await timed(process.execPath, [STRATOS_BIN, 'get', cid, '-o', out1], stratosEnv)).ms)
      const awsDown = async () =>
        samples.awsDown.push((await aws(['s3', 'cp', '--only-show-errors', `s3://bench/f${i}`, out2])).ms)
      // The sink serves its downloads from the same directory: the key is the input file's name.
      const out3 = join(dir, `out-floor-${i}`)
      const floorDown = async () =>
        samples.floorDown.push((await floorAws(['s3', 'cp', '--only-show-errors', `s3://sink/in-s3-${i}`, out3])).ms)
      if (i % 2 === 0) {
        await stratosDown()
        await awsDown()
        await floorDown()
      } else {
        await floorDown()
        await awsDown()
        await stratosDown()
      }
      if ((await sha256(out1)) !== want) throw new Error('stratos get: bytes differ')
      if ((await sha256(out2)) !== want2) throw new Error('aws s3 cp down: bytes differ')
      if ((await sha256(out3)) !== want2) throw new Error('aws s3 cp down from the sink: bytes differ')
      log(
        `run ${i + 1}/${runs}: put ${Math.round(samples.stratosPut[i])} ms, aws up ${Math.round(samples.awsUp[i])} ms ` +
          `(floor ${Math.round(samples.floorUp[i])} ms), get ${Math.round(samples.stratosGet[i])} ms, ` +
          `aws down ${Math.round(samples.awsDown[i])} ms (floor ${Math.round(samples.floorDown[i])} ms) (byte-exact)`,
      )
      await rm(out1, { force: true })
      await rm(out2, { force: true })
      await rm(out3, { force: true })
      await rm(file, { force: true })
      await rm(file2, { force: true })
    }
    const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(median(v))])) as Record<
      keyof typeof samples,
      number
    >
    const upRatio = round3(med.awsUp / med.stratosPut)
    const downRatio = round3(med.awsDown / med.stratosGet)
    const floorUpRatio = round3(med.floorUp / med.stratosPut)
    const floorDownRatio = round3(med.floorDown / med.stratosGet)
    const result = {
      bench: 's3',
      date: new Date().toISOString(),
      fileBytes: size,
      runs,
      machine: { cpus: cpus().length, loadAverageStart: loadStart, loadAverageEnd: loadavg().map(round3) },
      medianMs: med,
      mbPerSecond: Object.fromEntries(Object.entries(med).map(([k, ms]) => [k, round3(size / MiB / (ms / 1000))])),
      ratios: {
        awsUpVsStratosPut: upRatio,
        awsDownVsStratosGet: downRatio,
        // awscli's own cost against a sink that does nothing: the target cannot be met when these exceed it.
        floorUpVsStratosPut: floorUpRatio,
        floorDownVsStratosGet: floorDownRatio,
      },
      /** What the gateway adds to awscli's own time (median aws − median floor). */
      gatewayOverheadMs: { up: med.awsUp - med.floorUp, down: med.awsDown - med.floorDown },
      target: {
        ratio: TARGET_RATIO,
        up: upRatio <= TARGET_RATIO ? 'met' : 'missed',
        down: downRatio <= TARGET_RATIO ? 'met' : 'missed',
      },
      samplesMs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => Math.round(x))])),
    }
    const outDir = join(REPO, 'bench', 'results')
    await mkdir(outDir, { recursive: true })
    const outFile = join(
      outDir,
      `${result.date
        .slice(0, 16)
        .replace(/[-:T]/g, '')
        .replace(/^(\d{8})/, '$1-')}-s3.json`,
    )
    await writeFile(outFile, JSON.stringify(result, null, 2) + '\n')
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    log(`wrote ${outFile}`)
  } finally {
    sink?.stop()
    await devnet.stop()
    if (!values.keep) await rm(dir, { recursive: true, force: true })
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench:s3] failed: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
