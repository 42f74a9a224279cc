/**
 * The benchmark's output: the results JSON (every sample, medians, p90s, targets and pass/fail,
 * machine info) and a markdown table of the headline numbers, which is printed and written
 * into bench/README.md between the results markers.
 */
import { cpus, loadavg, totalmem, release } from 'node:os'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { mbPerSecond, type Summary } from './stats.ts'

export interface MachineInfo {
  cpuModel: string
  cores: number
  totalMemoryBytes: number
  node: string
  platform: string
  arch: string
  osRelease: string
  /** 1/5/15-minute load averages when the run started and ended: well above 0 means other work shared the CPU. */
  loadAverageStart: number[]
  loadAverageEnd: number[]
}

export function machineInfo(loadAverageStart: number[]): MachineInfo {
  const c = cpus()
  return {
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    totalMemoryBytes: totalmem(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    osRelease: release(),
    loadAverageStart,
    loadAverageEnd: loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

/** Timed samples in milliseconds plus, for transfers, the throughput of the median sample. */
export interface Timing extends Summary {
  unit: 'ms'
  bytes?: number
  /** bytes / median time, in MB/s (10^6 bytes per second). */
  medianMBps?: number
}

export interface RssResult {
  fileBytes: number
  uploadMs: number
  cid: string
  baselineRssBytes: number
  peakRssBytes: number
}

export interface SideResults {
  /** cpu: CPU ms of every process involved per run (see config.notes). */
  upload: Timing & { cids: string[]; cpu: Summary }
  download: Timing & { cpu: Summary }
  rangeFirstByte: Timing
  rangeTotal: Timing
  rss: { file: RssResult; bigFile: RssResult }
  cidV1RawLeaves: string
  /** Stratos only: the same uploads to a second devnet whose nodes run `--sync always` (fdatasync before each receipt). */
  uploadSyncAlways?: Timing & { cpu: Summary }
}

export interface TargetCheck {
  id: string
  description: string
  target: string
  actual: string
  /** null when not judged (a --quick run, whose sizes are not the target's). */
  pass: boolean | null
}

export interface BenchResults {
  schema: 'stratos-bench-storage/1'
  startedAt: string
  finishedAt: string
  durationMs: number
  quick: boolean
  machine: MachineInfo
  config: {
    fileBytes: number
    bigFileBytes: number
    uploadRuns: number
    downloadRuns: number
    rangeReads: number
    rangeWarmupReads: number
    rangeBytes: number
    devnet: { resources: number; k: number; m: number; segmentSize: number; portBase: number }
    helia: Record<string, unknown>
    notes: string[]
  }
  stratos: SideResults
  helia: SideResults
  comparison: {
    /** stratos median upload time / helia median add time (≤ 1 means we upload at least as fast). */
    uploadTimeRatio: number
    /** stratos median download MB/s / helia median cat MB/s. */
    downloadSpeedRatio: number
    cidV0Match: boolean
    cidV1Match: boolean
    kuboAnchor: { input: string; expected: string; helia: string; stratos: string }
  }
  targets: TargetCheck[]
}

const MiB = 1024 * 1024

export function formatBytes(n: number): string {
  if (n >= 1024 * MiB) return `${(n / 1024 / MiB).toFixed(n % (1024 * MiB) === 0 ? 0 : 2)} GiB`
  return `${(n / MiB).toFixed(n % MiB === 0 ? 0 : 1)} MiB`
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 0)} ms`
}

function speed(mbps: number | undefined): string {
  if (mbps === undefined) return '—'
  return mbps >= 1000 ? `${(mbps / 1000).toFixed(2)} GB/s` : `${mbps.toFixed(0)} MB/s`
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`
}

function code(cid: string | undefined): string {
  return cid ? `\`${cid.slice(0, 8)}…${cid.slice(-4)}\`` : '—'
}

function verdict(pass: boolean | null): string {
  return pass === null ? 'n/a' : pass ? 'pass' : 'FAIL'
}

export function targetChecks(r: Omit<BenchResults, 'targets'>): TargetCheck[] {
  const judged = (ok: boolean): boolean | null => (r.quick ? null : ok)
  const s = r.stratos
  return [
    {
      id: 'upload-time',
      description: `Upload ${formatBytes(r.config.fileBytes)}, median wall time`,
      target: '≤ 1.0 s (200 MiB)',
      actual: ms(s.upload.median),
      pass: judged(s.upload.median <= 1000),
    },
    {
      id: 'download-speed',
      description: `Download ${formatBytes(r.config.fileBytes)}, median throughput`,
      target: '≥ 1 GB/s',
      actual: speed(s.download.medianMBps),
      pass: judged((s.download.medianMBps ?? 0) >= 1000),
    },
    {
      id: 'range-first-byte',
      description: '1 MiB range read in the middle third, first byte, median',
      target: '< 10 ms',
      actual: `${ms(s.rangeFirstByte.median)} (p90 ${ms(s.rangeFirstByte.p90)})`,
      pass: judged(s.rangeFirstByte.median < 10),
    },
    {
      id: 'upload-rss-big',
      description: `Client peak RSS uploading ${formatBytes(r.config.bigFileBytes)}`,
      target: '< 300 MB (1 GiB)',
      actual: mb(s.rss.bigFile.peakRssBytes),
      pass: judged(s.rss.bigFile.peakRssBytes < 300e6),
    },
    {
      id: 'upload-vs-helia',
      description: 'Upload time ÷ Helia add time (medians)',
      target: '≤ 1.0',
      actual: r.comparison.uploadTimeRatio.toFixed(2),
      pass: judged(r.comparison.uploadTimeRatio <= 1),
    },
    {
      id: 'same-cid',
      description: 'Same CID as Helia with Kubo settings (CIDv0 and CIDv1+raw leaves)',
      target: 'equal',
      actual: r.comparison.cidV0Match && r.comparison.cidV1Match ? 'equal' : 'DIFFERENT',
      pass: r.comparison.cidV0Match && r.comparison.cidV1Match,
    },
  ]
}

/** The headline table: ours next to Helia's, with the target and verdict where there is one. */
export function markdownTable(r: BenchResults): string {
  const s = r.stratos
  const h = r.helia
  const t = Object.fromEntries(r.targets.map((x) => [x.id, x]))
  const f = formatBytes(r.config.fileBytes)
  const big = formatBytes(r.config.bigFileBytes)
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const lines = [
    row(['Measurement', 'Stratos', 'Helia', 'Target', 'Result']),
    row(['---', '---:', '---:', '---', '---']),
    row([
      `Upload / add ${f}, median`,
      `${ms(s.upload.median)} (${speed(s.upload.medianMBps)})`,
      `${ms(h.upload.median)} (${speed(h.upload.medianMBps)})`,
      t['upload-time'].target,
      verdict(t['upload-time'].pass),
    ]),
    row([
      'Upload time ÷ Helia add time',
      r.comparison.uploadTimeRatio.toFixed(2),
      '—',
      t['upload-vs-helia'].target,
      verdict(t['upload-vs-helia'].pass),
    ]),
    row(['Upload CPU time, all processes, median', ms(s.upload.cpu.median), ms(h.upload.cpu.median), '—', '—']),
    row([
      `Upload / add ${f} as a fresh process's only upload (cold: no reused buffers, no JIT; one run)`,
      `${ms(s.rss.file.uploadMs)} (${speed(mbPerSecond(s.rss.file.fileBytes, s.rss.file.uploadMs))})`,
      `${ms(h.rss.file.uploadMs)} (${speed(mbPerSecond(h.rss.file.fileBytes, h.rss.file.uploadMs))})`,
      '—',
      '—',
    ]),
    ...(s.uploadSyncAlways
      ? [
          row([
            `Upload ${f} to nodes with \`--sync always\` (fdatasync before each receipt), median`,
            `${ms(s.uploadSyncAlways.median)} (${speed(s.uploadSyncAlways.medianMBps)})`,
            '— (no fsync)',
            '—',
            '—',
          ]),
        ]
      : []),
    row([
      `Download / cat ${f}, median`,
      `${speed(s.download.medianMBps)} (${ms(s.download.median)})`,
      `${speed(h.download.medianMBps)} (${ms(h.download.median)})`,
      t['download-speed'].target,
      verdict(t['download-speed'].pass),
    ]),
    row(['Download speed ÷ Helia cat speed', r.comparison.downloadSpeedRatio.toFixed(2), '—', '—', '—']),
    row(['Download CPU time, all processes, median', ms(s.download.cpu.median), ms(h.download.cpu.median), '—', '—']),
    row([
      '1 MiB range read, first byte, median (p90)',
      `${ms(s.rangeFirstByte.median)} (${ms(s.rangeFirstByte.p90)})`,
      `${ms(h.rangeFirstByte.median)} (${ms(h.rangeFirstByte.p90)})`,
      t['range-first-byte'].target,
      verdict(t['range-first-byte'].pass),
    ]),
    row(['1 MiB range read, whole range, median', ms(s.rangeTotal.median), ms(h.rangeTotal.median), '—', '—']),
    row([
      `Client peak RSS, ${big} upload`,
      mb(s.rss.bigFile.peakRssBytes),
      mb(h.rss.bigFile.peakRssBytes),
      t['upload-rss-big'].target,
      verdict(t['upload-rss-big'].pass),
    ]),
    row([`Client peak RSS, ${f} upload`, mb(s.rss.file.peakRssBytes), mb(h.rss.file.peakRssBytes), '—', '—']),
    row([
      `CID, Kubo defaults (CIDv0), ${f} run 1`,
      code(s.upload.cids[0]),
      code(h.upload.cids[0]),
      'equal (every run)',
      verdict(r.comparison.cidV0Match),
    ]),
    row([
      'CID, CIDv1 + raw leaves, 3 MiB file',
      code(s.cidV1RawLeaves),
      code(h.cidV1RawLeaves),
      'equal',
      verdict(r.comparison.cidV1Match),
    ]),
  ]
  const m = r.machine
  // Judged at the start: by the end the benchmark's own nine devnet processes have raised the load average.
  const busy = (m.loadAverageStart[0] ?? 0) > m.cores / 2
  const caption = `${busy ? `**Measured on a busy machine (load average above ${m.cores / 2} on ${m.cores} cores): noisy, not final.** ` : ''}${r.quick ? 'Quick run (--quick: smaller files, targets not judged). ' : ''}${r.finishedAt.slice(0, 10)}, ${m.cpuModel} × ${m.cores} cores, Node ${m.node}, load average ${m.loadAverageStart[0]} at start / ${m.loadAverageEnd[0]} at end; devnet of 1 meta + ${r.config.devnet.resources} resource nodes, k=${r.config.devnet.k} m=${r.config.devnet.m}.`
  return `${caption}\n\n${lines.join('\n')}\n`
}

export function resultsFileName(r: BenchResults): string {
  return `${r.startedAt.slice(0, 10)}-storage${r.quick ? '-quick' : ''}.json`
}

export async function writeResults(r: BenchResults, resultsDir: string): Promise<string> {
  await mkdir(resultsDir, { recursive: true })
  const path = join(resultsDir, resultsFileName(r))
  await writeFile(path, JSON.stringify(r, null, 2) + '\n')
  return path
}

export const README_RESULTS_START = '<!-- results:start -->'
export const README_RESULTS_END = '<!-- results:end -->'

/** Replaces the table between the results markers of bench/README.md; false if the markers are missing. */
export async function updateReadme(readmePath: string, r: BenchResults, resultsFile: string): Promise<boolean> {
  const text = await readFile(readmePath, 'utf8')
  const a = text.indexOf(README_RESULTS_START)
  const b = text.indexOf(README_RESULTS_END)
  if (a < 0 || b < a) return false
  const body = `\n${markdownTable(r)}\nFull samples: [results/${resultsFile}](results/${resultsFile}).\n`
  await writeFile(readmePath, text.slice(0, a + README_RESULTS_START.length) + body + text.slice(b))
  return true
}
