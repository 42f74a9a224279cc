/** The resource node's POST /v1/audit over real HTTP: honest answers, refusals, and a corrupt chunk quarantined. */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { NodeKey } from '../../../src/crypto/node-key.ts'
import { SHARD_CHUNK_BYTES } from '../../../src/limits.ts'
import { seededRandom, silentLogger } from '../../../src/util/components.ts'
import { RESOURCE_ROUTES } from '../../../src/sds/protocol/api.ts'
import {
  challengedChunk,
  createAuditChallenge,
  verifyAuditAnswer,
  type AuditAnswer,
  type SignedAuditChallenge,
} from '../../../src/sds/protocol/audit.ts'
import { closeDefaultDispatcher, jsonRequest } from '../../../src/net/json-request.ts'
import { startResourceNode } from '../../../src/sds/resource/index.ts'
import { SHARD_DATA_OFFSET } from '../../../src/sds/resource/shard-file.ts'
import { makeShard, rejectsWithCode, tempDir } from './helpers.ts'

const chainId = 'audit-node-test'
const meta = NodeKey.generate(seededRandom(21))
const stranger = NodeKey.generate(seededRandom(22))

after(() => closeDefaultDispatcher())

test('a node answers audits of what it holds and refuses the rest; a corrupt chunk fails the audit and is quarantined', async (t) => {
  const dataDir = tempDir(t)
  const node = await startResourceNode({
    dataDir,
    port: 0,
    chainId,
    metaUrl: 'http://127.0.0.1:9',
    metaAddresses: [meta.address],
    fsync: false,
    heartbeatIntervalMs: 60_000,
    logger: silentLogger,
  })
  t.after(() => node.stop())
  const shard = makeShard(2 * SHARD_CHUNK_BYTES + 500, 3)
  await node.store.put(shard.id, shard.data.length, [shard.data])
  const post = (c: SignedAuditChallenge) =>
    jsonRequest<AuditAnswer>(node.url + RESOURCE_ROUTES.audit, { method: 'POST', body: c })
  const challenge = (over: { key?: NodeKey; node?: string; shard?: string; seed?: number } = {}) =>
    createAuditChallenge({
      key: over.key ?? meta,
      chainId,
      node: over.node ?? node.address,
      shard: over.shard ?? shard.id,
      now: Date.now(),
      random: seededRandom(over.seed ?? 1),
    })

  for (let seed = 1; seed <= 3; seed++) {
    const c = challenge({ seed })
    const r = verifyAuditAnswer(await post(c), c.payload, { chainId, now: Date.now() })
    assert.equal(r.chunk, challengedChunk(c.payload, shard.data.length))
  }
  await rejectsWithCode(post(challenge({ seed: 1 })), 'REPLAYED_NONCE')
  await rejectsWithCode(post(challenge({ key: stranger, seed: 50 })), 'UNTRUSTED_ISSUER')
  await rejectsWithCode(post(challenge({ node: stranger.address, seed: 51 })), 'AUDIT_INVALID')
  await rejectsWithCode(post(challenge({ shard: 'ab'.repeat(32), seed: 52 })), 'SHARD_NOT_FOUND')
  await rejectsWithCode(
    jsonRequest(node.url + RESOURCE_ROUTES.audit, { method: 'POST', body: { nonsense: true } }),
    'BAD_REQUEST',
  )
  await rejectsWithCode(jsonRequest(node.url + RESOURCE_ROUTES.audit, { method: 'GET' }), 'METHOD_NOT_ALLOWED')

  // Flip a byte in every chunk on disk: whichever chunk is challenged, the node's own verification catches it.
  const fd = openSync(node.store.pathOf(shard.id), 'r+')
  for (let off = 0; off < shard.data.length; off += SHARD_CHUNK_BYTES) {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, SHARD_DATA_OFFSET + off + 1)
    b[0] ^= 1
    writeSync(fd, b, 0, 1, SHARD_DATA_OFFSET + off + 1)
  }
  closeSync(fd)
  await rejectsWithCode(post(challenge({ seed: 60 })), 'SHARD_CORRUPT')
  assert.equal(node.store.has(shard.id), false, 'quarantined')
  assert.deepEqual(node.store.pendingCorrupt(), [shard.id], 'reported at the next heartbeat')
  await rejectsWithCode(post(challenge({ seed: 61 })), 'SHARD_NOT_FOUND')
})
