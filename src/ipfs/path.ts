/**
 * The one parser of IPFS paths: `/ipfs/<cid>[/name…]` as the gateway receives them (a request target) and as Kubo's
 * commands take them (an argument, where `<cid>[/name…]` without the namespace is accepted too).
 *
 * Guarantees, for every caller: a segment is never `.` or `..` and never holds a slash, backslash or NUL (so no
 * spelling can walk out of the root or split a name), empty segments are dropped, and the root is a syntactically
 * valid CID of any codec (whether it is stored here is the DAG reader's answer, not the parser's). With
 * `encoding: 'url'` each segment is percent-decoded on its own, so an encoded slash stays inside its segment and is
 * refused. Errors are typed: INVALID_CID for the root, BAD_REQUEST for everything else.
 */
import { CID } from 'multiformats/cid'
import { StratosError } from '../errors.ts'

export interface IpfsPath {
  root: CID
  /** Names below the root, decoded. */
  path: string[]
  /** The path ended in `/` (a directory listing asked as such). */
  trailingSlash: boolean
}

export interface ParseIpfsPathOptions {
  /**
   * How segments are written: 'url' — percent-encoded, as in a request target; 'text' — as they are, as in a command
   * argument. @default 'url'
   */
  encoding?: 'url' | 'text'
}

const PREFIX = '/ipfs/'

export function parseIpfsPath(text: string, options: ParseIpfsPathOptions = {}): IpfsPath {
  const encoding = options.encoding ?? 'url'
  let rest: string
  if (text.startsWith(PREFIX)) rest = text.slice(PREFIX.length)
  else if (text.startsWith('/ipns/')) throw new StratosError('BAD_REQUEST', 'IPNS names are not supported here')
  else if (text.startsWith('/')) throw new StratosError('BAD_REQUEST', 'unknown namespace: use /ipfs/{cid}[/{path}]')
  else rest = text
  const parts = rest.split('/').filter((p) => p !== '')
  if (parts.length === 0) throw new StratosError('BAD_REQUEST', 'no CID in the path: use /ipfs/{cid}[/{path}]')
  const decoded = parts.map((p) => checkSegment(encoding === 'url' ? decodeSegment(p) : p))
  let root: CID
  try {
    root = CID.parse(decoded[0])
  } catch (e) {
    throw new StratosError('INVALID_CID', `"${decoded[0].slice(0, 100)}" is not a valid CID`, undefined, { cause: e })
  }
  return { root, path: decoded.slice(1), trailingSlash: rest.endsWith('/') }
}

function decodeSegment(p: string): string {
  try {
    return decodeURIComponent(p)
  } catch {
    throw new StratosError('BAD_REQUEST', 'malformed percent-encoding in the path')
  }
}

function checkSegment(s: string): string {
  if (s === '.' || s === '..') throw new StratosError('BAD_REQUEST', 'path segments "." and ".." are not allowed')
  if (s.includes('/') || s.includes('\\') || s.includes('\0'))
    throw new StratosError('BAD_REQUEST', 'a path segment may not contain a slash, backslash or NUL')
  return s
}
