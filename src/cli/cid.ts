/** Local CID check so a malformed argument fails fast with INVALID_CID, before any network call. */
import { CID } from 'multiformats/cid'
import { StratosError } from '../errors.ts'

export function checkCid(text: string): string {
  const s = text.trim()
  try {
    CID.parse(s)
  } catch {
    throw new StratosError('INVALID_CID', `"${text}" is not a valid CID`)
  }
  return s
}
