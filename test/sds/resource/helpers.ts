/** Shared fixtures of the resource node tests: temp dirs, deterministic shard bytes, polling. */
import { closeSync, mkdtempSync, openSync, readSync, readdirSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { computeShardId } from '../../../src/sds/protocol/shard.ts'
import { isStratosError } from '../../../src/errors.ts'

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'stratos-resource-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Deterministic, non-repeating bytes (differs per seed). */
export function shardBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  let s = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i++) {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    out[i] = s & 0xff
  }
  return out
}

export function makeShard(size: number, seed = 1): { id: string; data: Uint8Array; chunkHashes: Uint8Array } {
  const data = shardBytes(size, seed)
  return { data, ...computeShardId(data) }
}

/** Every file below dir, relative paths. */
export function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1))
  } catch {
    return []
  }
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export async function rejectsWithCode(p: Promise<unknown> | (() => Promise<unknown>), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    if (isStratosError(e) && e.code === code) return
    throw new Error(`expected StratosError ${code}, got ${isStratosError(e) ? e.code : String(e)}`, { cause: e })
  }
  throw new Error(`expected StratosError ${code}, but it resolved`)
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of source) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

/** Flips bits of the byte at `offset` of a file on disk (what bit rot does): `mask` says which. */
export function flipByte(path: string, offset: number, mask = 0x40): void {
  const fd = openSync(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, offset)
    b[0] ^= mask
    writeSync(fd, b, 0, 1, offset)
  } finally {
    closeSync(fd)
  }
}
