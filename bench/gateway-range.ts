/**
 * Gateway range-read latency on a devnet: time to first byte (and to last byte) of 1 MiB ranges in the middle of a
 * large file, served by the gateway process at /ipfs/{cid} with `Range:`.
 *
 *   cold  — every range at a new offset (nothing of it in the gateway's hot-range cache: the SDK fetches the shards)
 *   warm  — the same range again (served from the gateway's cache)
 *   sdk   — for reference, the SDK's own cold 1 MiB range read from a warm client in this process (tickets cached),
 *           first byte and last byte, taken between the gateway's cold ranges (other offsets, so both stay cold)
 *
 * Usage: node --import tsx bench/gateway-range.ts [--network DIR] [--size-mib 128] [--runs 30] [--no-sdk]
 * Without --network it starts its own devnet (32 MiB segments, k=4, m=2) in a temp dir and removes it afterwards.
 */
import { parseArgs } from 'node:util'
import { Readable } from 'node:stream'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { TestDevnet } from '../test/e2e/harness.ts'
import { readNetworkFile, type NetworkFile } from '../src/devnet/network.ts'
import { StratosClient } from '../src/sds/client/index.ts'

const MiB = 1 << 20

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

/** Deterministic bytes without holding them all: a generator of 1 MiB blocks. */
async function* pattern(size: number): AsyncIterable<Uint8Array> {
  let s = 0x9e3779b9
  for (let done = 0; done < size; ) {
    const n = Math.min(MiB, size - done)
    const b = new Uint8Array(n)
    const w = new Uint32Array(b.buffer, 0, n >>> 2)
    for (let i = 0; i < w.length; i++) {
      s ^= s << 13
      s >>>= 0
      s ^= s >>> 17
      s ^= s << 5
      s >>>= 0
      w[i] = s
    }
    done += n
    yield b
  }
}

async function timedRange(url: string, start: number, length: number): Promise<{ firstMs: number; totalMs: number }> {
  const t0 = performance.now()
  const r = await request(url, { headers: { range: `bytes=${start}-${start + length - 1}` } })
  if (r.statusCode !== 206) throw new Error(`status ${r.statusCode}: ${await r.body.text()}`)
  let first = 0
  let got = 0
  for await (const chunk of r.body) {
    if (got === 0) first = performance.now() - t0
    got += (chunk as Buffer).length
  }
  if (got !== length) throw new Error(`got ${got} of ${length} bytes`)
  return { firstMs: first, totalMs: performance.now() - t0 }
}

/** The SDK's own verified range read: first and last byte. */
async function sdkRange(
  client: StratosClient,
  cid: string,
  offset: number,
  length: number,
): Promise<{ firstMs: number; totalMs: number }> {
  const t0 = performance.now()
  let first = 0
  let got = 0
  for await (const chunk of client.cat(cid, { offset, length })) {
    if (got === 0) first = performance.now() - t0
    got += chunk.length
  }
  if (got !== length) throw new Error(`SDK read got ${got} of ${length} bytes`)
  return { firstMs: first, totalMs: performance.now() - t0 }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      network: { type: 'string' },
      'size-mib': { type: 'string', default: '128' },
      runs: { type: 'string', default: '30' },
      'no-sdk': { type: 'boolean', default: false },
    },
  })
  const size = Number(values['size-mib']) * MiB
  const runs = Number(values.runs)
  let devnet: TestDevnet | undefined
  let network: NetworkFile
  if (values.network) {
    network = readNetworkFile(values.network.endsWith('.json') ? values.network : join(values.network, 'devnet.json'))
  } else {
    devnet = await TestDevnet.start({ segmentSize: 32 * MiB })
    network = devnet.network
  }
  const gatewayUrl = network.gatewayUrl
  let sdk: StratosClient | undefined
  try {
    const t0 = performance.now()
    const add = await request(`${gatewayUrl}/api/v1/add?name=bench.bin`, {
      method: 'POST',
      body: Readable.from(pattern(size)),
    })
    const { cid } = (await add.body.json()) as { cid: string }
    if (add.statusCode !== 200) throw new Error(`upload failed: ${JSON.stringify(cid)}`)
    const uploadS = (performance.now() - t0) / 1000
    const url = `${gatewayUrl}/ipfs/${cid}`
    // One request to warm the connection pools and the meta node's record cache (not measured).
    await timedRange(url, 0, 4096)
    if (!values['no-sdk']) {
      sdk = await StratosClient.connect({ metaUrl: network.meta.url })
      await sdkRange(sdk, cid, 0, 4096)
    }
    const cold: { firstMs: number; totalMs: number }[] = []
    const warm: { firstMs: number; totalMs: number }[] = []
    const sdkCold: { firstMs: number; totalMs: number }[] = []
    // Cold: distinct 1 MiB ranges spread over the middle half of the file, none overlapping another's cache pieces;
    // the SDK's own reads take the gap half-way to the next gateway range (the gaps are ≥ 2 MiB at 30 runs of 128 MiB).
    const span = size / 2
    for (let i = 0; i < runs; i++) {
      const start = Math.floor(size / 4 + (span * i) / runs) + 12_345
      cold.push(await timedRange(url, start, MiB))
      if (sdk) sdkCold.push(await sdkRange(sdk, cid, Math.floor(start + span / runs / 2), MiB))
    }
    const mid = Math.floor(size / 2) + 777
    await timedRange(url, mid, MiB)
    for (let i = 0; i < runs; i++) warm.push(await timedRange(url, mid, MiB))
    const summary = (xs: { firstMs: number; totalMs: number }[]) => ({
      firstByteMs: {
        median: +median(xs.map((x) => x.firstMs)).toFixed(2),
        p90: +pct(
          xs.map((x) => x.firstMs),
          0.9,
        ).toFixed(2),
      },
      lastByteMs: {
        median: +median(xs.map((x) => x.totalMs)).toFixed(2),
        p90: +pct(
          xs.map((x) => x.totalMs),
          0.9,
        ).toFixed(2),
      },
    })
    // The machine's load matters: on a shared box every hop (client → gateway → meta → resource node) waits for a CPU.
    const machine = { cpus: cpus().length, loadAverage1m: +loadavg()[0].toFixed(1) }
    const result = {
      date: new Date().toISOString(),
      machine,
      fileMiB: size / MiB,
      runs,
      uploadSeconds: +uploadS.toFixed(2),
      cid,
      cold: summary(cold),
      warm: summary(warm),
      ...(sdk ? { sdkCold1MiB: summary(sdkCold) } : {}),
    }
    console.log(JSON.stringify(result, null, 2))
  } finally {
    await sdk?.close()
    await devnet?.destroy()
  }
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
