/**
 * Stands in for node:fs, node:path and node:os in the browser bundle. The shared modules the portal imports
 * (node-key.ts, util/fs.ts) name these for their file-backed helpers, which a browser never calls; each stub
 * throws if one ever is.
 */
function unavailable(name: string): () => never {
  return () => {
    throw new Error(`${name} is not available in the browser`)
  }
}

export const readFileSync = unavailable('readFileSync')
export const existsSync = unavailable('existsSync')
export const closeSync = unavailable('closeSync')
export const fsyncSync = unavailable('fsyncSync')
export const mkdirSync = unavailable('mkdirSync')
export const openSync = unavailable('openSync')
export const renameSync = unavailable('renameSync')
export const writeSync = unavailable('writeSync')
export const rmSync = unavailable('rmSync')
export const open = unavailable('fs.promises.open')
export const join = unavailable('path.join')
export const dirname = unavailable('path.dirname')
export const basename = unavailable('path.basename')
export const resolve = unavailable('path.resolve')
export const tmpdir = unavailable('os.tmpdir')
export default {}
