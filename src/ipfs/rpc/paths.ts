/**
 * IPFS path arguments as Kubo's commands take them: `<cid>[/path…]`, `/ipfs/<cid>[/path…]`; `/ipns/…` and
 * `/ipld/…` are not served here. Parsed by the one IPFS path parser (ipfs/path.ts, segments as written, not
 * percent-decoded); a malformed one is Kubo's `invalid path "…": …` (a command error, 500).
 */
import type { CID } from 'multiformats/cid'
import { isStratosError } from '../../errors.ts'
import { parseIpfsPath } from '../path.ts'
import { commandError } from './kubo-error.ts'

export interface PathArg {
  root: CID
  segments: string[]
  /** The argument as given (Kubo echoes it in `ls` output). */
  text: string
}

export function parsePathArg(arg: string): PathArg {
  try {
    const p = parseIpfsPath(arg, { encoding: 'text' })
    return { root: p.root, segments: p.path, text: arg }
  } catch (e) {
    if (isStratosError(e)) throw commandError(`invalid path ${JSON.stringify(arg)}: ${e.message}`, e.code)
    throw e
  }
}
