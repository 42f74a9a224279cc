/**
 * `stratos share create|ls|rm` as real CLI processes against an in-process network (meta node, resource nodes and a
 * gateway on loopback): the printed link works through the gateway, passwords come from stdin, errors are one line
 * with the code's exit status. Plus the --expires parser.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { ERROR_CODES } from '../../src/errors.ts'
import { parseExpiry } from '../../src/cli/commands/share.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { Gateway } from '../../src/gateway/index.ts'
import { StratosClient } from '../../src/sds/client/index.ts'
import { patternBytes, startNetwork } from '../sds/network.ts'
import { runCli } from '../e2e/harness.ts'

const OWNER_KEY = '44'.repeat(32)
const OTHER_KEY = '55'.repeat(32)

test('--expires: durations from now and ISO times; past and malformed values refused', () => {
  const now = Date.UTC(2030, 0, 1)
  assert.equal(parseExpiry('90s', now), now + 90_000)
  assert.equal(parseExpiry('15m', now), now + 15 * 60_000)
  assert.equal(parseExpiry('1h', now), now + 3_600_000)
  assert.equal(parseExpiry('7d', now), now + 7 * 86_400_000)
  assert.equal(parseExpiry('2w', now), now + 14 * 86_400_000)
  assert.equal(parseExpiry('2030-01-02T00:00:00Z', now), Date.UTC(2030, 0, 2))
  for (const bad of ['0h', '1y', 'soon', '2029-12-31T00:00:00Z', '', '12'])
    assert.throws(() => parseExpiry(bad, now), bad)
})

test('stratos share create/ls/rm: a working gateway link, password from stdin, owner-only revoke', async () => {
  const net = await startNetwork({ nodes: 6, k: 4, m: 2, segmentSize: 256 * 1024 })
  const gateway = new Gateway({ port: 0, metaUrl: net.meta.url })
  await gateway.start()
  const owner = WalletKey.fromPrivateKeyHex(OWNER_KEY)
  const client = await StratosClient.connect({ metaUrl: net.meta.url, wallet: owner })
  const cli = (key: string, args: string[], input?: string) =>
    runCli([...args, '--meta-url', net.meta.url, '--key', key], {
      input: input === undefined ? undefined : Buffer.from(input),
    })
  try {
    const data = patternBytes(300_000, 9)
    const { cid } = await client.put(data, { name: 'notes.bin' })

    const [locked, open, bad] = await Promise.all([
      cli(
        OWNER_KEY,
        ['share', 'create', cid, '--expires', '1h', '--password-stdin', '--gateway', gateway.url, '--json'],
        'hunter2\n',
      ),
      cli(OWNER_KEY, ['share', 'create', cid, '--gateway', gateway.url]),
      cli(OWNER_KEY, ['share', 'create', cid, '--expires', '2001-01-01T00:00:00Z']),
    ])
    assert.equal(locked.code, 0, locked.stderr)
    const share = JSON.parse(locked.stdout.toString()) as {
      id: string
      url: string
      hasPassword: boolean
      expiresAt: number
      state: string
    }
    assert.equal(share.url, `${gateway.url}/share/${share.id}`)
    assert.equal(share.hasPassword, true)
    assert.equal(share.state, 'active')
    assert.ok(share.expiresAt > Date.now() + 3_500_000)
    assert.equal(open.code, 0, open.stderr)
    const openUrl = open.stdout.toString().trim().split('\n').at(-1)!
    assert.match(openUrl, new RegExp(`^${gateway.url}/share/[A-Za-z0-9_-]{22}$`))
    assert.equal(bad.code, ERROR_CODES.BAD_REQUEST.exit, bad.stderr)

    // The printed links work through the gateway.
    const plain = await request(openUrl)
    assert.equal(plain.statusCode, 200)
    assert.ok(Buffer.from(await plain.body.arrayBuffer()).equals(Buffer.from(data)))
    const challenged = await request(share.url)
    await challenged.body.dump()
    assert.equal(challenged.statusCode, 401)
    const withPassword = await request(share.url, {
      headers: { authorization: `Basic ${Buffer.from(':hunter2').toString('base64')}`, range: 'bytes=0-99' },
    })
    assert.equal(withPassword.statusCode, 206)
    assert.ok(Buffer.from(await withPassword.body.arrayBuffer()).equals(Buffer.from(data.subarray(0, 100))))

    const [ls, human] = await Promise.all([
      cli(OWNER_KEY, ['share', 'ls', '--json', '--gateway', gateway.url]),
      cli(OWNER_KEY, ['share', 'ls']),
    ])
    assert.equal(ls.code, 0, ls.stderr)
    const listed = JSON.parse(ls.stdout.toString()) as { owner: string; shares: { id: string; url: string }[] }
    assert.equal(listed.owner, owner.address)
    assert.equal(listed.shares.length, 2)
    assert.ok(listed.shares.some((s) => s.id === share.id && s.url === share.url))
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout.toString(), /^ID +CID +STATE +EXPIRES +PASSWORD +CREATED +NAME\n/)
    assert.match(human.stdout.toString(), new RegExp(`\n${share.id} +${cid} +active +[0-9-]+ [0-9:]+Z +yes +`))

    // One after the other: each answer is then about its own request only.
    const notMine = await cli(OTHER_KEY, ['share', 'rm', share.id])
    const revoked = await cli(OWNER_KEY, ['share', 'rm', openUrl])
    assert.equal(notMine.code, ERROR_CODES.NOT_OWNER.exit, notMine.stderr)
    assert.match(notMine.stderr.trim(), /^error: .+ \(NOT_OWNER\)$/)
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.match(revoked.stdout.toString(), /^revoked [A-Za-z0-9_-]{22}\n$/)
    const gone = await request(openUrl)
    assert.equal(gone.statusCode, 410)
    assert.equal(((await gone.body.json()) as { error: { code: string } }).error.code, 'SHARE_REVOKED')
  } finally {
    await client.close()
    await gateway.stop()
    await net.close()
  }
})
