/**
 * IPFS path arguments as Kubo's commands take them: `<cid>[/path…]`, `/ipfs/<cid>[/path…]`; `/ipns/…` and
 * `/ipld/…` are not served here. A malformed one is Kubo's `invalid path "…": …` (a command error, 500).
 */
import { CID } from 'multiformats/cid'
import { commandError } from './kubo-error.ts'

export interface IpfsPath {
  root: CID
  segments: string[]
  /** The argument as given (Kubo echoes it in `ls` output). */
  text: string
}

export function parseIpfsPath(arg: string): IpfsPath {
  let rest = arg
  if (rest.startsWith('/ipns/')) throw commandError(`invalid path ${JSON.stringify(arg)}: IPNS names are not supported by this API`, 'INVALID_CID')
  if (rest.startsWith('/ipfs/')) rest = rest.slice('/ipfs/'.length)
  else if (rest.startsWith('/')) throw commandError(`invalid path ${JSON.stringify(arg)}: unknown namespace`, 'INVALID_CID')
  const parts = rest.split('/')
  const first = parts.shift() ?? ''
  if (first === '') throw commandError(`invalid path ${JSON.stringify(arg)}: path does not have enough components`, 'INVALID_CID')
  let root: CID
  try {
    root = CID.parse(first)
  } catch (e) {
    throw commandError(`invalid path ${JSON.stringify(arg)}: invalid cid: ${(e as Error).message}`, 'INVALID_CID')
  }
  const segments = parts.filter((p) => p !== '')
  for (const s of segments) {
    if (s === '.' || s === '..' || s.includes('\0')) throw commandError(`invalid path ${JSON.stringify(arg)}: bad segment ${JSON.stringify(s)}`, 'INVALID_CID')
  }
  return { root, segments, text: arg }
}
