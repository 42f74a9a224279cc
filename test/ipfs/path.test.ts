/** The one IPFS path parser (src/ipfs/path.ts): as the gateway receives paths (percent-encoded) and as Kubo's commands take them. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseIpfsPath } from '../../src/ipfs/path.ts'
import { isStratosError } from '../../src/errors.ts'

const cid = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o'

function throwsCode(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => isStratosError(e) && e.code === code)
}

test('url encoding: per-segment decoding; dots, encoded slashes and bad escapes refused', () => {
  const p = parseIpfsPath(`/ipfs/${cid}/a%20b//c/`)
  assert.equal(p.root.toString(), cid)
  assert.deepEqual(p.path, ['a b', 'c'])
  assert.equal(p.trailingSlash, true)
  assert.equal(parseIpfsPath(`/ipfs/${cid}`).trailingSlash, false)
  throwsCode(() => parseIpfsPath('/ipfs/xyz'), 'INVALID_CID')
  for (const bad of [
    `/ipfs/${cid}/..`,
    `/ipfs/${cid}/%2E%2E/x`,
    `/ipfs/${cid}/.`,
    `/ipfs/${cid}/a%2Fb`,
    `/ipfs/${cid}/a%5Cb`,
    `/ipfs/${cid}/a%00`,
    `/ipfs/${cid}/%ZZ`,
    '/ipfs/',
  ]) {
    throwsCode(() => parseIpfsPath(bad), 'BAD_REQUEST')
  }
})

test('text encoding: a bare <cid>[/path] or /ipfs/…, taken as written; other namespaces refused', () => {
  const p = parseIpfsPath(`/ipfs/${cid}/a%20b/c`, { encoding: 'text' })
  assert.equal(p.root.toString(), cid)
  assert.deepEqual(p.path, ['a%20b', 'c'])
  assert.deepEqual(parseIpfsPath(`${cid}/x/`, { encoding: 'text' }).path, ['x'])
  throwsCode(() => parseIpfsPath('not-a-cid', { encoding: 'text' }), 'INVALID_CID')
  for (const bad of [
    '',
    '/ipfs/',
    '/ipns/example.com',
    '/foo/bar',
    `${cid}/../x`,
    `${cid}/./x`,
    `${cid}/a\\b`,
    `${cid}/a\0`,
  ]) {
    throwsCode(() => parseIpfsPath(bad, { encoding: 'text' }), 'BAD_REQUEST')
  }
})

test('the root may be any valid CID (whether it is stored is for the reader to say)', () => {
  const cbor = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
  assert.equal(parseIpfsPath(`/ipfs/${cbor}`).root.toString(), cbor)
})
