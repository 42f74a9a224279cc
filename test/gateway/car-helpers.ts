/** Test helpers: verify a CAR block by block, rebuild a UnixFS file from blocks with the reference exporter. */
import assert from 'node:assert/strict'
import { CarReader } from '@ipld/car/reader'
import { exporter } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { collect } from '../sds/network.ts'

/** Collects a CAR, checks every block hashes to its CID, returns the blocks by CID and the roots. */
export async function verifiedCar(
  car: Uint8Array,
): Promise<{ roots: CID[]; blocks: Map<string, Uint8Array>; order: string[] }> {
  const reader = await CarReader.fromBytes(car)
  const blocks = new Map<string, Uint8Array>()
  const order: string[] = []
  for await (const { cid, bytes } of reader.blocks()) {
    const digest = await sha256.digest(bytes)
    assert.deepEqual(digest.digest, cid.multihash.digest, `block ${cid.toString()} does not hash to its CID`)
    blocks.set(cid.toString(), bytes)
    order.push(cid.toString())
  }
  return { roots: await reader.getRoots(), blocks, order }
}

/** Rebuilds a file's bytes from blocks with the reference UnixFS exporter. */
export async function exportFile(root: CID, blocks: Map<string, Uint8Array>): Promise<Buffer> {
  const store = {
    async *get(cid: CID) {
      const b = blocks.get(cid.toString())
      if (!b) throw new Error(`missing block ${cid.toString()}`)
      yield b
    },
  }
  const entry = await exporter(root, store as never)
  assert.ok(entry.type === 'file' || entry.type === 'raw', `${root.toString()} is a ${entry.type}`)
  return collect(entry.content() as AsyncIterable<Uint8Array>)
}
