/**
 * A validator in its own process, for the kill -9 test: `node --import tsx validator-child.ts <dataDir>`.
 * Prints one JSON line `{ "url": … }` once it serves; SIGTERM stops it cleanly.
 */
import { startValidator } from '../../../src/chain/node/index.ts'
import { nodeGenesis } from './fixtures.ts'

const dataDir = process.argv[2]
if (!dataDir) throw new Error('usage: validator-child.ts <dataDir>')
const v = await startValidator({
  dataDir,
  port: 0,
  genesis: nodeGenesis(),
  blockIntervalMs: Number(process.env.BLOCK_MS ?? 30),
})
process.stdout.write(JSON.stringify({ url: v.url, height: v.height, stateHash: v.stateHash }) + '\n')
process.on('SIGTERM', () => {
  void v.stop().then(() => process.exit(0))
})
