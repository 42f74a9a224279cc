/**
 * Benchmark input files: incompressible, reproducible bytes written to disk once per run.
 *
 * Bytes are the AES-128-CTR keystream of a key derived from a seed: as random as crypto random
 * for compression and dedup purposes, generated at GB/s, and identical on every machine, so a
 * given (seed, size) always has the same CID and runs are comparable. Each upload run uses its
 * own seed so no run can profit from shards or blocks a previous run already stored.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

const WRITE_BLOCK_BYTES = 8 * 1024 * 1024

export async function writeSeededFile(path: string, size: number, seed: number): Promise<void> {
  const key = createHash('sha256').update(`stratos-bench-${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(WRITE_BLOCK_BYTES)
  const fh = await open(path, 'w')
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(WRITE_BLOCK_BYTES, size - written)
      const block = cipher.update(n === WRITE_BLOCK_BYTES ? zeros : zeros.subarray(0, n))
      await fh.write(block, 0, block.length)
      written += n
    }
    // Flush now, so the kernel's write-back of gigabytes of input does not compete with the
    // measured uploads for the disk.
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

/** Deterministic uniform integers in [0, n) for picking read offsets (mulberry32). */
export function seededInts(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296
    return Math.floor(u * n)
  }
}
