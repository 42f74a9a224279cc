/**
 * `npm run bench` — storage benchmark: Stratos (client SDK → fresh devnet of a meta node and six
 * resource nodes as separate processes, k=4 m=2) side by side with Helia (filesystem
 * blockstore, Kubo import settings), on the same files, in one run.
 *
 *   npm run bench                 200 MiB file, 1 GiB memory test, 5 upload/download runs, 50 range reads
 *   npm run bench -- --quick      32 MiB / 128 MiB smoke test (targets not judged, README untouched)
 *   options: --runs N  --reads N  --keep (keep the temp dir)  --no-readme  --no-users  --users-only
 *
 * Then, on the same devnet, what users get (bench/users.ts): whole-process CLI put/get, gateway first and second read,
 * RPC add/cat, the loopback floor, Helia and Kubo as whole processes, small uploads; --no-users skips it,
 * --users-only runs only it (`npm run bench:users` does the same on a devnet of its own).
 *
 * Uploads, downloads and range reads alternate between the two sides (Helia, Stratos, Helia, …)
 * so background load on a shared machine hits both alike. Writes
 * bench/results/<date>-storage.json and, for full runs, the table in bench/README.md.
 */
import './polyfills.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { StratosClient } from '../src/sds/client/index.ts'
import { writeSeededFile, seededInts } from './data.ts'
import { HeliaPeer, KUBO_CID_V1, KUBO_DEFAULTS, describeImportSettings, timedHeliaAdd } from './helia.ts'
import { connectStratos, timedStratosPut, type StratosTarget } from './stratos.ts'
import { startDevnet, type RunningDevnet } from './devnet.ts'
import { withCpu } from './cpu.ts'
import { middleThirdOffsets, sha256OfFile, timeFullRead, timeRangeRead, verifyFullRead, type CatFn } from './measure.ts'
import { mbPerSecond, round3, summarize } from './stats.ts'
import {
  formatBytes,
  machineInfo,
  markdownTable,
  targetChecks,
  updateReadme,
  writeResults,
  type BenchResults,
  type RssResult,
  type SideResults,
  type Timing,
} from './report.ts'
import { runUploadChild, type UploadChildResult } from './upload-child.ts'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS } from '../src/limits.ts'
import { USERS_FULL, USERS_QUICK, measureUsers, usersMarkdown, writeUsers } from './users.ts'

const MiB = 1024 * 1024
const FULL = { fileBytes: 200 * MiB, bigFileBytes: 1024 * MiB, runs: 5, reads: 50 }
const QUICK = { fileBytes: 32 * MiB, bigFileBytes: 128 * MiB, runs: 3, reads: 20 }
const RANGE_BYTES = 1 * MiB
/** Untimed range reads first, so the timed ones run on warm connections and warm code. */
const RANGE_WARMUP_READS = 5
/** File for the CIDv1 + raw-leaves check: several chunks and a short last one, one segment. */
const CID_CHECK_FILE_BYTES = 3 * MiB + 12_345
const RESOURCE_NODES = 6
/** The whole benchmark is abandoned (and cleaned up) if it runs longer than this. */
const WATCHDOG_MS = 45 * 60_000
/** Upload run i uses file seed i; the other inputs have their own seeds. */
const SEED_RSS_FILE = 500
const SEED_WARMUP_FILE = 600
const SEED_BIG_FILE = 1000
const SEED_CID_CHECK = 7
const SEED_RANGE_OFFSETS = 42
/** `echo "hello world" | ipfs add` with Kubo's defaults. */
const KUBO_ANCHOR = { input: 'hello world\n', cid: 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o' }

/** Set once a signal or the watchdog has started tearing the run down; later errors are its echo. */
let interrupted = false

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`)
}

interface Config {
  quick: boolean
  fileBytes: number
  bigFileBytes: number
  runs: number
  reads: number
}

interface Inputs {
  /** One file per upload run; files[0] is also the one every read uses. */
  files: string[]
  readSha256: string
  rssFile: string
  /** Uploaded once per side, untimed, before the timed runs. */
  warmupFile: string
  bigFile: string
  cidCheckFile: string
  rangeOffsets: number[]
}

interface Sides {
  client: StratosClient
  target: StratosTarget
  /** Pids of the devnet's processes, whose CPU time counts toward Stratos operations. */
  devnetPids: number[]
  heliaDir: (run: number) => string
}

/** One timed operation: wall time, and CPU time of every process involved. */
interface Op {
  ms: number
  cpuMs: number
}
interface UploadOp extends Op {
  cid: string
}

function timing(samples: number[], bytes?: number): Timing {
  const s = summarize(samples)
  return { unit: 'ms', ...s, ...(bytes !== undefined ? { bytes, medianMBps: mbPerSecond(bytes, s.median) } : {}) }
}

function rssResult(r: UploadChildResult): RssResult {
  return {
    fileBytes: r.bytes,
    uploadMs: Math.round(r.ms),
    cid: r.cid,
    baselineRssBytes: r.baselineRssBytes,
    peakRssBytes: r.peakRssBytes,
  }
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`

async function prepareInputs(tmp: string, c: Config): Promise<Inputs> {
  log(
    `generating ${c.runs + 1} × ${formatBytes(c.fileBytes)} + ${formatBytes(c.bigFileBytes)} of seeded random data in ${tmp}`,
  )
  const files = Array.from({ length: c.runs }, (_, i) => join(tmp, `data-${i}.bin`))
  for (const [i, f] of files.entries()) await writeSeededFile(f, c.fileBytes, i)
  const inputs: Inputs = {
    files,
    readSha256: await sha256OfFile(files[0]),
    rssFile: join(tmp, 'rss.bin'),
    warmupFile: join(tmp, 'warmup.bin'),
    bigFile: join(tmp, 'big.bin'),
    cidCheckFile: join(tmp, 'cid-check.bin'),
    rangeOffsets: middleThirdOffsets(
      c.fileBytes,
      RANGE_BYTES,
      RANGE_WARMUP_READS + c.reads,
      seededInts(SEED_RANGE_OFFSETS),
    ),
  }
  await writeSeededFile(inputs.rssFile, c.fileBytes, SEED_RSS_FILE)
  await writeSeededFile(inputs.warmupFile, c.fileBytes, SEED_WARMUP_FILE)
  await writeSeededFile(inputs.bigFile, c.bigFileBytes, SEED_BIG_FILE)
  await writeSeededFile(inputs.cidCheckFile, CID_CHECK_FILE_BYTES, SEED_CID_CHECK)
  return inputs
}

/** Each run adds file i to a fresh Helia blockstore and uploads it to Stratos. */
async function measureUploads(sides: Sides, inputs: Inputs): Promise<{ helia: UploadOp[]; stratos: UploadOp[] }> {
  const helia: UploadOp[] = []
  const stratos: UploadOp[] = []
  // One untimed upload per side first: both start cold (fresh processes, JIT, connection pools;
  // the devnet's nodes just started), and the first of five runs measured up to 1.9× the last.
  await timedHeliaAdd(inputs.warmupFile, sides.heliaDir(-1), KUBO_DEFAULTS)
  await rm(sides.heliaDir(-1), { recursive: true, force: true })
  await timedStratosPut(sides.client, inputs.warmupFile, KUBO_DEFAULTS)
  log('warm-up upload done on both sides (untimed)')
  for (const [i, file] of inputs.files.entries()) {
    const hc = await withCpu([], () => timedHeliaAdd(file, sides.heliaDir(i), KUBO_DEFAULTS))
    if (i > 0) await rm(sides.heliaDir(i), { recursive: true, force: true }) // run 0's blocks serve the reads
    const sc = await withCpu(sides.devnetPids, () => timedStratosPut(sides.client, file, KUBO_DEFAULTS))
    const h = { ...hc.value, cpuMs: hc.cpuMs }
    const s = { cid: sc.value.cid, ms: sc.value.ms, cpuMs: sc.cpuMs }
    helia.push(h)
    stratos.push(s)
    log(
      `upload ${i + 1}/${inputs.files.length}: helia ${h.ms.toFixed(0)} ms, stratos ${s.ms.toFixed(0)} ms${s.cid === h.cid ? '' : ` — CIDs differ: ${s.cid} vs ${h.cid}`}`,
    )
  }
  return { helia, stratos }
}

interface ReadTimings {
  download: Op[]
  firstByte: number[]
  rangeTotal: number[]
}

/** Full downloads then range reads of file 0, alternating sides; each side verified once first. */
async function measureReads(
  sides: Sides,
  inputs: Inputs,
  c: Config,
  cids: { helia: string; stratos: string },
): Promise<{ helia: ReadTimings; stratos: ReadTimings }> {
  const peer = await HeliaPeer.open(sides.heliaDir(0))
  try {
    /** Each side: how it reads, what it reads, and which processes' CPU time counts. */
    const readers: { name: 'helia' | 'stratos'; cat: CatFn; cid: string; pids: number[] }[] = [
      {
        name: 'helia',
        cat: (cid, o) => peer.cat(cid, { offset: o?.offset, length: o?.length }),
        cid: cids.helia,
        pids: [],
      },
      {
        name: 'stratos',
        cat: (cid, o) =>
          sides.client.cat(cid, { offset: o?.offset, length: o?.length, reuseBuffers: o?.consumeEachChunk }),
        cid: cids.stratos,
        pids: sides.devnetPids,
      },
    ]
    const out: Record<'helia' | 'stratos', ReadTimings> = {
      helia: { download: [], firstByte: [], rangeTotal: [] },
      stratos: { download: [], firstByte: [], rangeTotal: [] },
    }
    for (const { cat, cid } of readers) await verifyFullRead(cat, cid, inputs.readSha256, c.fileBytes)
    for (let i = 0; i < c.runs; i++) {
      for (const { name, cat, cid, pids } of readers) {
        const r = await withCpu(pids, () => timeFullRead(cat, cid, c.fileBytes))
        out[name].download.push({ ms: r.value, cpuMs: r.cpuMs })
      }
      log(
        `download ${i + 1}/${c.runs}: helia ${out.helia.download[i].ms.toFixed(0)} ms, stratos ${out.stratos.download[i].ms.toFixed(0)} ms`,
      )
    }
    for (const [i, offset] of inputs.rangeOffsets.entries()) {
      for (const { name, cat, cid } of readers) {
        const r = await timeRangeRead(cat, cid, offset, RANGE_BYTES, inputs.files[0])
        if (i < RANGE_WARMUP_READS) continue
        out[name].firstByte.push(r.firstByteMs)
        out[name].rangeTotal.push(r.totalMs)
      }
    }
    log(
      `range reads: ${c.reads} per side after ${RANGE_WARMUP_READS} warm-up reads; first byte median helia ${summarize(out.helia.firstByte).median} ms, stratos ${summarize(out.stratos.firstByte).median} ms`,
    )
    return out
  } finally {
    await peer.stop()
  }
}

/** Kubo's "hello world" CID on both sides, and a CIDv1 + raw-leaves file on both sides. */
async function checkCids(
  sides: Sides,
  inputs: Inputs,
): Promise<{ heliaAnchor: string; stratosAnchor: string; heliaV1: string; stratosV1: string }> {
  const bytes = new TextEncoder().encode(KUBO_ANCHOR.input)
  const mem = await HeliaPeer.inMemory()
  try {
    return {
      heliaAnchor: (await mem.addBytes(bytes, KUBO_DEFAULTS)).toString(),
      heliaV1: (await mem.addPath(inputs.cidCheckFile, KUBO_CID_V1)).toString(),
      stratosAnchor: (await sides.client.put(bytes, KUBO_DEFAULTS)).cid,
      stratosV1: (await timedStratosPut(sides.client, inputs.cidCheckFile, KUBO_CID_V1)).cid,
    }
  } finally {
    await mem.stop()
  }
}

/** Peak RSS of one upload per process: the run-size file and the big file, both sides. */
async function measureMemory(
  sides: Sides,
  inputs: Inputs,
  tmp: string,
): Promise<{ helia: SideResults['rss']; stratos: SideResults['rss'] }> {
  const heliaRss = async (file: string): Promise<UploadChildResult> => {
    const blockstore = join(tmp, 'helia-rss')
    try {
      return await runUploadChild({ impl: 'helia', file, blockstore })
    } finally {
      await rm(blockstore, { recursive: true, force: true })
    }
  }
  const stratosRss = (file: string): Promise<UploadChildResult> =>
    runUploadChild({ impl: 'stratos', file, ...sides.target })
  const r = {
    helia: { file: rssResult(await heliaRss(inputs.rssFile)), bigFile: rssResult(await heliaRss(inputs.bigFile)) },
    stratos: {
      file: rssResult(await stratosRss(inputs.rssFile)),
      bigFile: rssResult(await stratosRss(inputs.bigFile)),
    },
  }
  log(
    `peak RSS (run-size file / big file): helia ${mb(r.helia.file.peakRssBytes)} / ${mb(r.helia.bigFile.peakRssBytes)}, stratos ${mb(r.stratos.file.peakRssBytes)} / ${mb(r.stratos.bigFile.peakRssBytes)}`,
  )
  return r
}

/**
 * The upload runs again against a second devnet whose nodes fdatasync every shard before its receipt
 * (`--sync always`), for comparison with the default (`batch`: durable within ~1 s, acknowledged first).
 */
async function measureSyncAlwaysUploads(inputs: Inputs, tmp: string): Promise<Op[]> {
  log('starting a second devnet with --sync always')
  const devnet = await startDevnet({
    dir: join(tmp, 'devnet-sync-always'),
    resources: RESOURCE_NODES,
    k: DEFAULT_DATA_SHARDS,
    m: DEFAULT_PARITY_SHARDS,
    sync: 'always',
    log: (line) => {
      if (process.env.BENCH_VERBOSE) log(`devnet (sync always): ${line}`)
    },
  })
  try {
    const client = await connectStratos({
      metaUrl: devnet.network.meta.url,
      mnemonic: devnet.network.wallets[0].mnemonic,
    })
    const pids = [
      ...devnet.network.processes.map((p) => p.pid),
      ...(devnet.network.devnetPid ? [devnet.network.devnetPid] : []),
    ]
    const out: Op[] = []
    try {
      await timedStratosPut(client, inputs.warmupFile, KUBO_DEFAULTS)
      for (const [i, file] of inputs.files.entries()) {
        const r = await withCpu(pids, () => timedStratosPut(client, file, KUBO_DEFAULTS))
        out.push({ ms: r.value.ms, cpuMs: r.cpuMs })
        log(`upload ${i + 1}/${inputs.files.length} with --sync always: ${r.value.ms.toFixed(0)} ms`)
      }
    } finally {
      await client.close()
    }
    return out
  } finally {
    await devnet.stop()
  }
}

async function bench(c: Config, tmp: string, devnetSlot: { current?: RunningDevnet }): Promise<BenchResults> {
  const startedAt = new Date()
  const loadStart = loadavg().map((x) => round3(x))
  log(
    `load average ${loadStart.join(' ')} on ${machineInfo(loadStart).cores} cores${loadStart[0] > 0.5 ? ' — the machine is busy, expect noisy numbers' : ''}`,
  )
  const inputs = await prepareInputs(tmp, c)

  log(`starting devnet: meta + ${RESOURCE_NODES} resource nodes, k=${DEFAULT_DATA_SHARDS} m=${DEFAULT_PARITY_SHARDS}`)
  const devnet = await startDevnet({
    dir: join(tmp, 'devnet'),
    resources: RESOURCE_NODES,
    k: DEFAULT_DATA_SHARDS,
    m: DEFAULT_PARITY_SHARDS,
    log: (line) => {
      if (process.env.BENCH_VERBOSE) log(`devnet: ${line}`)
    },
  })
  devnetSlot.current = devnet
  const wallet = devnet.network.wallets[0]
  if (!wallet) throw new Error('devnet.json lists no dev wallet')
  const target: StratosTarget = { metaUrl: devnet.network.meta.url, mnemonic: wallet.mnemonic }
  const client = await connectStratos(target)
  log(`devnet ready: meta ${target.metaUrl}, port base ${devnet.portBase}, uploading as ${wallet.name}`)
  const devnetPids = [
    ...devnet.network.processes.map((p) => p.pid),
    ...(devnet.network.devnetPid ? [devnet.network.devnetPid] : []),
  ]
  const sides: Sides = { client, target, devnetPids, heliaDir: (i) => join(tmp, 'helia', `run-${i}`) }

  try {
    const up = await measureUploads(sides, inputs)
    const reads = await measureReads(sides, inputs, c, { helia: up.helia[0].cid, stratos: up.stratos[0].cid })
    await rm(join(tmp, 'helia'), { recursive: true, force: true })
    const cids = await checkCids(sides, inputs)
    const rss = await measureMemory(sides, inputs, tmp)
    const always = await measureSyncAlwaysUploads(inputs, tmp)

    const side = (u: UploadOp[], r: ReadTimings, mem: SideResults['rss'], v1: string): SideResults => ({
      upload: {
        ...timing(
          u.map((x) => x.ms),
          c.fileBytes,
        ),
        cids: u.map((x) => x.cid),
        cpu: summarize(u.map((x) => x.cpuMs)),
      },
      download: {
        ...timing(
          r.download.map((x) => x.ms),
          c.fileBytes,
        ),
        cpu: summarize(r.download.map((x) => x.cpuMs)),
      },
      rangeFirstByte: timing(r.firstByte),
      rangeTotal: timing(r.rangeTotal, RANGE_BYTES),
      rss: mem,
      cidV1RawLeaves: v1,
    })
    const helia = side(up.helia, reads.helia, rss.helia, cids.heliaV1)
    const ours: SideResults = {
      ...side(up.stratos, reads.stratos, rss.stratos, cids.stratosV1),
      ...(always
        ? {
            uploadSyncAlways: {
              ...timing(
                always.map((x) => x.ms),
                c.fileBytes,
              ),
              cpu: summarize(always.map((x) => x.cpuMs)),
            },
          }
        : {}),
    }
    const finishedAt = new Date()
    const net = devnet.network
    const partial: Omit<BenchResults, 'targets'> = {
      schema: 'stratos-bench-storage/1',
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      quick: c.quick,
      machine: machineInfo(loadStart),
      config: {
        fileBytes: c.fileBytes,
        bigFileBytes: c.bigFileBytes,
        uploadRuns: c.runs,
        downloadRuns: c.runs,
        rangeReads: c.reads,
        rangeWarmupReads: RANGE_WARMUP_READS,
        rangeBytes: RANGE_BYTES,
        devnet: {
          resources: RESOURCE_NODES,
          k: net.k,
          m: net.m,
          segmentSize: net.segmentSize,
          portBase: devnet.portBase,
        },
        helia: {
          ...describeImportSettings(KUBO_DEFAULTS),
          node: 'createHeliaLight (no libp2p, no networking)',
          blockstore: 'blockstore-fs (temp file + rename, no fsync)',
          datastore: 'in-memory',
        },
        notes: [
          'Input files are seeded AES-CTR keystreams, one per upload run (nothing deduplicates across runs), read from a warm page cache.',
          'Uploads, downloads and range reads alternate Helia / Stratos so background load affects both alike.',
          'Upload time is wall clock around StratosClient.put(path) / unixfs.addByteStream(file stream) only (client connect and blockstore open excluded); one untimed warm-up upload of another file per side (and per devnet) comes first.',
          'Resource nodes run the default --sync batch (a shard is acknowledged once written and verified, fdatasynced within ~1 s, re-verified after a crash); uploadSyncAlways repeats the uploads on a second devnet with --sync always (fdatasync before every receipt). blockstore-fs never fsyncs.',
          'Download time is wall clock around streaming every byte to a counting sink (Stratos with reuseBuffers: the sink is done with a chunk before asking for the next); both sides were verified by sha256 once, untimed.',
          'Range reads: a fresh cat(cid, { offset, length: 1 MiB }) per read on a warm client; first byte = first non-empty chunk; bytes checked against the file, untimed.',
          'cpu = CPU time (user + system) of every process involved, in ms, each operation starting after a full garbage collection of the harness (which hosts both the Stratos client and Helia): the harness for Helia; the harness (client) plus every devnet process (from /proc/<pid>/stat) for Stratos. Less sensitive to a busy machine than wall time.',
          'Peak RSS is VmHWM (/proc/self/status) of a child process that does only that one upload (not maxRSS, which Linux carries over from the parent across exec).',
          'MB/s and GB/s are decimal (10^6, 10^9 bytes per second); RSS in MB is 10^6 bytes; file sizes are binary (MiB, GiB). p90 is nearest-rank.',
        ],
      },
      stratos: ours,
      helia,
      comparison: {
        uploadTimeRatio: round3(ours.upload.median / helia.upload.median),
        downloadSpeedRatio: round3((ours.download.medianMBps ?? 0) / (helia.download.medianMBps ?? 1)),
        cidV0Match: up.stratos.every((s, i) => s.cid === up.helia[i].cid),
        cidV1Match: cids.stratosV1 === cids.heliaV1,
        kuboAnchor: {
          input: KUBO_ANCHOR.input,
          expected: KUBO_ANCHOR.cid,
          helia: cids.heliaAnchor,
          stratos: cids.stratosAnchor,
        },
      },
    }
    const targets = targetChecks(partial)
    targets.push({
      id: 'kubo-anchor',
      description: `"hello world\\n" gives Kubo's CID on both sides`,
      target: KUBO_ANCHOR.cid,
      actual:
        cids.heliaAnchor === cids.stratosAnchor
          ? cids.stratosAnchor
          : `helia ${cids.heliaAnchor}, stratos ${cids.stratosAnchor}`,
      pass: cids.heliaAnchor === KUBO_ANCHOR.cid && cids.stratosAnchor === KUBO_ANCHOR.cid,
    })
    return { ...partial, targets }
  } finally {
    await client.close()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      reads: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-readme': { type: 'boolean', default: false },
      'no-users': { type: 'boolean', default: false },
      'users-only': { type: 'boolean', default: false },
    },
  })
  const quick = values.quick === true
  const preset = quick ? QUICK : FULL
  const c: Config = {
    quick,
    fileBytes: preset.fileBytes,
    bigFileBytes: preset.bigFileBytes,
    runs: values.runs ? Number(values.runs) : preset.runs,
    reads: values.reads ? Number(values.reads) : preset.reads,
  }
  if (!(Number.isInteger(c.runs) && c.runs >= 1 && Number.isInteger(c.reads) && c.reads >= 1))
    throw new Error('--runs and --reads must be positive integers')

  const tmp = await mkdtemp(join(tmpdir(), 'stratos-bench-'))
  const devnet: { current?: RunningDevnet } = {}
  let cleaned = false
  const cleanup = async (): Promise<void> => {
    if (cleaned) return
    cleaned = true
    await devnet.current?.stop().catch((e: unknown) => log(`devnet stop failed: ${String(e)}`))
    if (values.keep) log(`kept ${tmp}`)
    else await rm(tmp, { recursive: true, force: true })
  }
  // Idempotent: Ctrl-C under `npm run bench` can arrive twice (from the terminal and relayed by tsx).
  const abort = (code: number) => (): void => {
    if (interrupted) return
    interrupted = true
    log('stopping: cleaning up the devnet and temp files')
    void cleanup().finally(() => process.exit(code))
  }
  process.on('SIGINT', abort(130))
  process.on('SIGTERM', abort(143))
  const watchdog = setTimeout(() => {
    log(`gave up after ${WATCHDOG_MS / 60_000} minutes`)
    abort(1)()
  }, WATCHDOG_MS)

  try {
    if (!values['users-only']) {
      const results = await bench(c, tmp, devnet)
      const resultsDir = join(import.meta.dirname, 'results')
      const path = await writeResults(results, resultsDir)
      log(`results: ${path}`)
      if (!quick && !values['no-readme']) {
        const updated = await updateReadme(join(import.meta.dirname, 'README.md'), results, basename(path))
        log(updated ? 'bench/README.md table updated' : 'bench/README.md has no results markers; table not written')
      }
      process.stdout.write('\n' + markdownTable(results) + '\n')
      const missed = results.targets.filter((x) => x.pass === false)
      if (missed.length) log(`targets missed: ${missed.map((x) => x.id).join(', ')}`)
    }
    if (!values['no-users']) {
      const dir = join(tmp, 'devnet-users')
      log('what users get: whole processes and HTTP clients (bench/users.ts), on a fresh devnet')
      await devnet.current?.stop()
      devnet.current = undefined
      devnet.current = await startDevnet({
        dir,
        resources: RESOURCE_NODES,
        k: DEFAULT_DATA_SHARDS,
        m: DEFAULT_PARITY_SHARDS,
        log: (line) => {
          if (process.env.BENCH_VERBOSE) log(`devnet: ${line}`)
        },
      })
      const net = devnet.current.network
      const users = await measureUsers({
        network: net,
        devnetDir: dir,
        devnetPids: [...net.processes.map((p) => p.pid), ...(net.devnetPid ? [net.devnetPid] : [])],
        tmp,
        c: quick ? USERS_QUICK : USERS_FULL,
        log,
      })
      const path = await writeUsers(users, quick, !values['no-readme'])
      log(`results: ${path}`)
      process.stdout.write('\n' + usersMarkdown(users, basename(path), 'users.svg') + '\n')
      const missed = users.targets.filter((x) => x.pass === false)
      if (missed.length) log(`user targets missed: ${missed.map((x) => x.id).join(', ')}`)
    }
  } finally {
    clearTimeout(watchdog)
    await cleanup()
  }
}

main().catch((e: unknown) => {
  if (interrupted) return
  log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
  process.exitCode = 1
})
