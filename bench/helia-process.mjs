/**
 * Helia as a whole process, the way a user would run a one-shot add or cat with it: start Node, load Helia, open a
 * filesystem blockstore, add or read one file, exit. Plain JavaScript (no transpiler at start-up, as our CLI runs
 * dist/). Kubo's classic import settings, as bench/helia.ts (CIDv0, dag-pb leaves, 256 KiB chunks, 174 links).
 *
 *   node bench/helia-process.mjs add BLOCKSTORE_DIR FILE   → prints the CID
 *   node bench/helia-process.mjs cat BLOCKSTORE_DIR CID    → the file's bytes on stdout
 */
import { createReadStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { once } from 'node:events'

// Helia 7 / libp2p 3 call Promise.withResolvers (Node 22+); Node 20 needs it first (bench/polyfills.ts says why).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = () => {
    let resolve
    let reject
    const promise = new Promise((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}

const CHUNK_BYTES = 262144
const MAX_LINKS = 174

const [op, dir, arg] = process.argv.slice(2)
const { createHeliaLight } = await import('helia')
const { unixfs } = await import('@helia/unixfs')
const { FsBlockstore } = await import('blockstore-fs')
const { fixedSize } = await import('ipfs-unixfs-importer/chunker')
const { balanced } = await import('ipfs-unixfs-importer/layout')
const { CID } = await import('multiformats/cid')

await mkdir(dir, { recursive: true })
const blockstore = new FsBlockstore(dir)
await blockstore.open()
const helia = createHeliaLight({ blockstore })
await helia.start()
const fs = unixfs(helia)
try {
  if (op === 'add') {
    const cid = await fs.addByteStream(createReadStream(arg, { highWaterMark: 1024 * 1024 }), {
      profile: 'unixfs-v0-2015',
      cidVersion: 0,
      rawLeaves: false,
      reduceSingleLeafToSelf: true,
      chunker: fixedSize({ chunkSize: CHUNK_BYTES }),
      layout: balanced({ maxChildrenPerNode: MAX_LINKS }),
    })
    process.stdout.write(`${cid.toString()}\n`)
  } else if (op === 'cat') {
    for await (const chunk of fs.cat(CID.parse(arg), { offline: true })) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
    }
  } else {
    throw new Error(`usage: helia-process.mjs add|cat DIR FILE|CID (got ${op})`)
  }
} finally {
  await helia.stop()
}
