/**
 * Human output of the CLI: STOS amounts, byte counts, the status tables (100 columns, space
 * labelled as offered), a downloaded file's temp path mapped back to the user's path, and the
 * local-file error codes the SDK and the CLI share.
 */
import { test } from 'node:test'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import {
  formatAge,
  formatBytes,
  formatBytesExact,
  groupDigits,
  shorten,
  formatStos,
  formatStosAmount,
} from '../../src/cli/output.ts'
import { STATUS_MAX_COLUMNS, naturalCompare, renderStatus } from '../../src/cli/commands/status.ts'
import { withUserPath } from '../../src/cli/commands/read.ts'
import { localFileError, openSource } from '../../src/sds/client/source.ts'
import { StratosError, isStratosError } from '../../src/errors.ts'
import type { NetworkStatus, NodeView } from '../../src/sds/protocol/api.ts'
import type { PotExtras } from '../../src/cli/commands/traffic.ts'

const STOS = 10n ** 18n
const GiB = 1024 ** 3

test('STOS for people: at most 6 decimals, thousands grouped, cuts marked, tiny amounts not shown as 0', () => {
  assert.equal(formatStos(0n), '0')
  assert.equal(formatStos(1n), '<0.000001')
  assert.equal(formatStos(-1n), '>-0.000001')
  assert.equal(formatStos((3n * STOS) / 2n), '1.5')
  assert.equal(formatStos(100_000_000n * STOS), '100,000,000')
  assert.equal(formatStos(10n ** 12n), '0.000001')
  assert.equal(formatStos(10n ** 13n), '0.00001') // the default fee
  // More than 6 decimals: cut toward zero (never more than there is), marked with "~".
  assert.equal(formatStos(1_035_605_536_332_113_852n), '~1.035605')
  assert.equal(formatStos(STOS - 1n), '~0.999999')
  assert.equal(formatStos(-1_035_605_536_332_113_852n), '~-1.035605')
  assert.equal(formatStos(48n * STOS + 2_604_000_000_000_000n + 7n), '~48.002604')
  assert.equal(formatStos((5n * STOS) / 3n, 0), '~1')
  assert.equal(formatStos(12n * STOS, 0), '12')
  assert.equal(formatStos(1n, 18), '0.000000000000000001')
  assert.throws(() => formatStos(1n, 19), RangeError)
  // The exact form stays what --json and typed-back values use.
  assert.equal(formatStosAmount(1_035_605_536_332_113_852n), '1.035605536332113852')
})

test('groupDigits and the status sort give what Intl gives (they avoid loading it), on random and edge values', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (n) => {
      assert.equal(groupDigits(n), n.toLocaleString('en-US'))
    }),
  )
  fc.assert(
    fc.property(fc.oneof(fc.integer(), fc.double({ min: -1e15, max: 1e15, noNaN: true }), fc.maxSafeInteger()), (n) => {
      assert.equal(groupDigits(n), n.toLocaleString('en-US', { maximumFractionDigits: 0 }))
    }),
  )
  for (const n of [0, -0, 0.5, -0.5, 1.5, -2.5, 999.5, 1e21, Number.MAX_SAFE_INTEGER, Infinity])
    assert.equal(groupDigits(n), n.toLocaleString('en-US', { maximumFractionDigits: 0 }), String(n))
  // What the status table sorts: process names (resource-N, meta, meta-N, …) and, without names, node URLs.
  const names = fc.oneof(
    fc.tuple(fc.constantFrom('resource', 'meta', 'gateway', 'node'), fc.nat(300)).map(([p, n]) => `${p}-${n}`),
    fc.constantFrom('meta', 'validator'),
    fc.tuple(fc.nat(255), fc.nat(65535)).map(([h, p]) => `http://127.0.0.${h}:${p}`),
  )
  fc.assert(
    fc.property(fc.array(names, { maxLength: 12 }), (xs) => {
      const intl = [...xs].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      const ours = [...xs].sort(naturalCompare)
      assert.deepEqual(ours, intl)
    }),
  )
  assert.deepEqual(
    ['resource-10', 'resource-2', 'meta', 'resource-1', 'http://127.0.0.1:7210', 'http://127.0.0.1:7201'].sort(
      naturalCompare,
    ),
    ['http://127.0.0.1:7201', 'http://127.0.0.1:7210', 'meta', 'resource-1', 'resource-2', 'resource-10'],
  )
})

test('byte counts: binary units, exact figures with separators beside them', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(1023), '1023 B')
  assert.equal(formatBytes(1024), '1.0 KiB')
  assert.equal(formatBytes(3_000_000), '2.9 MiB')
  assert.equal(formatBytes(472 * GiB), '472 GiB')
  assert.equal(formatBytes(106_681_763_204n), '99.4 GiB')
  assert.equal(formatBytesExact(106_681_763_204n), '99.4 GiB (106,681,763,204 bytes)')
  assert.equal(formatBytesExact(106_681_763_204), '99.4 GiB (106,681,763,204 bytes)')
  assert.equal(formatBytesExact(512), '512 bytes')
  assert.equal(formatBytesExact(1n), '1 byte')
  assert.equal(formatBytesExact(0), '0 bytes')
  // Ozone is a bigint and may exceed 2^53: the exact part stays exact.
  assert.equal(formatBytesExact(2n ** 64n), '16384 PiB (18,446,744,073,709,551,616 bytes)')
  assert.equal(groupDigits(1234), '1,234')
  assert.equal(formatAge(100_000, 99_000), '1s')
  assert.equal(formatAge(10 * 60_000, 0), '10m')
  assert.equal(formatAge(5 * 3_600_000, 0), '5h')
  assert.equal(formatAge(3 * 86_400_000, 0), '3d')
  assert.equal(formatAge(0, 5_000), '0s', 'a heartbeat from a clock ahead of ours')
  assert.equal(shorten('stsds109zqk70q9j67e3kgcnfjwxumdq84hnxkzvc0dx', 16), 'stsds109zq…vc0dx')
  assert.equal(shorten('resource-1', 16), 'resource-1')
})

/** A node on a disk with `free` bytes free; addresses are full-length like real ones. */
function nodeView(i: number, free: number, extra: Partial<NodeView> = {}): NodeView {
  return {
    address: `stsds1${String(i).padStart(38, 'q')}`,
    url: `http://127.0.0.1:${23200 + i}`,
    state: 'online',
    version: '0.1.0',
    capacityBytes: free + 733 * 1024,
    freeBytes: free,
    usedBytes: 733 * 1024,
    shardCount: 123_456,
    load: 12,
    lastSeen: 1_000,
    registeredAt: 0,
    ...extra,
  }
}

function networkStatus(nodes: NodeView[]): NetworkStatus {
  // As the meta node counts them: space of online nodes only.
  const online = nodes.filter((n) => n.state === 'online')
  const sum = (f: (n: NodeView) => number) => online.reduce((a, n) => a + f(n), 0)
  return {
    chainId: 'stratos-devnet-1',
    meta: { address: 'stsds15megfpmkhrqvh22atemwc756awayg0tl9qs82s', version: '0.1.0' },
    nodes,
    totals: {
      nodesOnline: online.length,
      nodesOffline: nodes.length - online.length,
      capacityBytes: sum((n) => n.capacityBytes),
      freeBytes: sum((n) => n.freeBytes),
      usedBytes: sum((n) => n.usedBytes),
      files: 1,
      fileBytes: 3_000_000,
      openUploads: 0,
    },
  }
}

/** Every column at its widest: long states, chain states, big rewards, scores, names. */
function busyNetwork(): { status: NetworkStatus; names: Map<string, string>; pot: PotExtras } {
  const reputation = {
    state: 'maintenance' as const,
    auditScore: 0.5,
    onlineScore: 1,
    audits: 3,
    failedAudits: 1,
    slashIncidents: 0,
  }
  // Six nodes on one disk (their reports a few MiB apart: written between heartbeats), two on disks of their own.
  const nodes = [
    ...Array.from({ length: 6 }, (_, i) => nodeView(i + 1, 78 * GiB + i * 3 * 1024 ** 2, { reputation })),
    nodeView(7, 500 * GiB, { state: 'offline' }),
    nodeView(8, 1023 * GiB),
  ]
  const names = new Map(
    nodes.slice(0, 7).map((n, i) => [n.address, i === 6 ? 'a-very-long-process-name' : `resource-${i + 1}`]),
  )
  const owner = 'st1zul4stftvjfx8t92uvfjfvmedxeu290jqe2x94'
  const pot: PotExtras = {
    traffic: {
      epoch: 1234,
      currentEpoch: 1234,
      nodes: nodes.map((n) => ({
        node: n.address,
        bytes: 999 * GiB,
        orders: 1,
        totalBytes: 1023 * 1024 * GiB,
        report: 'none',
        chainState: 'unregistered',
      })),
    } as unknown as PotExtras['traffic'],
    chainNodes: new Map(
      nodes.map((n, i) => [n.address, { node: n.address, owner, status: i === 7 ? 'unregistered' : 'unbonding' }]),
    ) as unknown as PotExtras['chainNodes'],
    rewards: new Map([[owner, 12_345_678n * STOS + 123_456_789n]]),
  }
  return { status: networkStatus(nodes), names, pot }
}

test('status: both tables fit 100 columns at their widest; --wide adds full addresses and URLs', () => {
  const { status, names, pot } = busyNetwork()
  const text = renderStatus(status, names, 3_600_000, pot)
  for (const line of text.split('\n')) assert.ok(line.length <= STATUS_MAX_COLUMNS, `${line.length} columns: ${line}`)
  assert.match(text, /^resource-1 +stsds1q+…q+1 +maintenance +78\.0 GiB/m)
  assert.match(text, /^NAME +CHAIN +TRAFFIC \(EPOCH\) +TRAFFIC \(ALL\) +OWNER REWARDS +AUDIT\/ONLINE$/m)
  assert.match(text, /~12,345,678 STOS +0\.50\/1\.00$/m, 'rewards: grouped, at most 6 decimals')
  assert.doesNotMatch(text, /http:/, 'URLs only with --wide')
  const wide = renderStatus(status, names, 3_600_000, pot, { wide: true })
  for (const n of status.nodes) {
    assert.ok(wide.includes(n.address), 'full address')
    assert.ok(wide.includes(n.url), 'URL')
  }
  // Without a network file: no NAME column, short addresses key both tables.
  const anonymous = renderStatus(status, new Map(), 3_600_000, pot)
  for (const line of anonymous.split('\n'))
    assert.ok(line.length <= STATUS_MAX_COLUMNS, `${line.length} columns: ${line}`)
  assert.match(anonymous, /^ADDRESS +STATE +OFFERED/m)
})

test('status: space is the sum of what nodes offer; nodes reporting the same free space are pointed out', () => {
  const { status, names, pot } = busyNetwork()
  const text = renderStatus(status, names, 3_600_000, pot)
  assert.match(text, /OFFERED/)
  assert.match(text, /^storage: .* free of .* offered/m)
  // Six online nodes on one 78 GiB disk plus a 1023 GiB one (the offline node counts in neither figure):
  // ~1101 GiB free if the six share it, not the 1491 GiB the sum says.
  const hint = /(\d+) nodes report about the same free space[\s\S]*network has (\S+ \S+) free/.exec(text)
  assert.ok(hint, text)
  assert.equal(hint[1], '6')
  assert.equal(hint[2], formatBytes(78 * GiB + 15 * 1024 ** 2 + 1023 * GiB))
  assert.match(text, new RegExp(`free of ${formatBytes(status.totals.capacityBytes).replace('.', '\\.')} offered`))
  // Nodes on separate disks (free space far apart): no hint.
  const separate = networkStatus([nodeView(1, 10 * GiB), nodeView(2, 20 * GiB), nodeView(3, 30 * GiB)])
  assert.doesNotMatch(renderStatus(separate, new Map(), 2_000), /report about the same free space/)
  assert.match(renderStatus(networkStatus([]), new Map(), 0), /no resource nodes have registered yet/)
})

test("get: a failure on the SDK's temp file names the user's path", () => {
  const out = '/data/out/x.bin'
  const temp = new StratosError('NOT_FOUND', 'no such file or directory: /data/out/.x.bin.0123456789ab.tmp', {
    path: '/data/out/.x.bin.0123456789ab.tmp',
  })
  const mapped = withUserPath(temp, out) as StratosError
  assert.equal(mapped.code, 'NOT_FOUND')
  assert.equal(mapped.details?.path, out)
  assert.ok(mapped.message.includes(out) && !mapped.message.includes('.tmp'), mapped.message)
  // Inside a directory download: the temp folder and an inner temp file both map back.
  const inner = new StratosError(
    'INTERNAL',
    'cannot read /data/out/.d.aaaaaaaaaaaa.tmp/sub/.f.txt.bbbbbbbbbbbb.tmp: EIO',
    { path: '/data/out/.d.aaaaaaaaaaaa.tmp/sub/.f.txt.bbbbbbbbbbbb.tmp' },
  )
  assert.equal((withUserPath(inner, '/data/out/d') as StratosError).details?.path, '/data/out/d/sub/f.txt')
  // Anything else passes through untouched.
  const other = new StratosError('FILE_NOT_FOUND', 'no file Qm…')
  assert.equal(withUserPath(other, out), other)
  const elsewhere = new StratosError('NOT_FOUND', 'x', { path: '/elsewhere/.x.bin.0123456789ab.tmp' })
  assert.equal(withUserPath(elsewhere, out), elsewhere)
})

test('local files: the SDK and the CLI report a missing path as NOT_FOUND naming it', async () => {
  const missing = join(tmpdir(), 'stratos-no-such-dir', 'missing.bin')
  const fromSdk = await openSource(missing).then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.ok(isStratosError(fromSdk, 'NOT_FOUND'), String(fromSdk))
  assert.equal(fromSdk.details?.path, missing)
  assert.ok(fromSdk.message.includes(missing))
  const err = (code: string) => Object.assign(new Error(code), { code })
  assert.equal(localFileError(err('ENOENT'), 'p').code, 'NOT_FOUND')
  assert.equal(localFileError(err('ENOTDIR'), 'p').code, 'NOT_FOUND')
  assert.equal(localFileError(err('EACCES'), 'p').code, 'BAD_REQUEST')
  assert.equal(localFileError(err('ELOOP'), 'p').code, 'BAD_REQUEST')
  assert.equal(localFileError(err('EIO'), 'p').code, 'INTERNAL')
})
