/**
 * The meta node's HTTP server (src/sds/meta/server.ts): routing (404/405), validation (400), body limit (413), status, stop().
 * Harness: ./helpers.ts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { request } from 'undici'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from '../../../src/crypto/hash.ts'
import { ERROR_CODES } from '../../../src/errors.ts'
import { MAX_JSON_BODY_BYTES } from '../../../src/limits.ts'
import {
  expectCode,
  shardIds,
  signCreate,
  startHarness,
  uploadFile,
  walletA,
  ORDER_KEY,
  sc,
  sessionHeader,
} from './helpers.ts'

async function raw(url: string, method: string, body?: string, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: method as 'GET',
    body,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
  })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined }
}

function assertError(
  r: { status: number; body: { error?: { code: string; message: string; details?: Record<string, unknown> } } },
  code: keyof typeof ERROR_CODES,
): void {
  assert.equal(r.body.error?.code, code, JSON.stringify(r.body))
  assert.equal(r.status, ERROR_CODES[code].status)
  assert.equal(typeof r.body.error?.message, 'string')
}

test('routing: unknown paths 404, wrong methods 405, every error is ErrorBody JSON', async () => {
  const h = await startHarness({ nodes: 1 })
  try {
    const u = h.meta.url
    assertError(await raw(`${u}/v1/nope`, 'GET'), 'NOT_FOUND')
    assertError(await raw(`${u}/`, 'GET'), 'NOT_FOUND')
    assertError(await raw(`${u}/v1/files/a/b/c/d`, 'GET'), 'NOT_FOUND')
    const wrong = await raw(`${u}/v1/info`, 'POST', '{}')
    assertError(wrong, 'METHOD_NOT_ALLOWED')
    assert.equal(wrong.headers.allow, 'GET')
    assertError(await raw(`${u}/v1/uploads/${'ab'.repeat(16)}`, 'GET'), 'METHOD_NOT_ALLOWED')
    assertError(await raw(`${u}/v1/files/x/read`, 'GET'), 'METHOD_NOT_ALLOWED')
    // Trailing slash and query strings are fine.
    assert.equal((await raw(`${u}/v1/info/?x=1`, 'GET')).status, 200)
  } finally {
    await h.close()
  }
})

test('validation: malformed JSON, schema violations, bad ids and CIDs are 400-class codes with details', async () => {
  const h = await startHarness({ nodes: 6 })
  try {
    const u = h.meta.url
    assertError(await raw(`${u}/v1/uploads`, 'POST', '{not json'), 'BAD_REQUEST')
    assertError(await raw(`${u}/v1/uploads`, 'POST'), 'BAD_REQUEST') // no body at all
    const bad = await raw(
      `${u}/v1/uploads`,
      'POST',
      JSON.stringify({ payload: { action: 'upload.create', k: 0 }, signature: 'zz' }),
    )
    assertError(bad, 'BAD_REQUEST')
    const issues = bad.body.error.details.issues as { path: string }[]
    assert.ok(issues.some((i) => i.path === 'payload.k'))
    assert.ok(issues.some((i) => i.path === 'signature'))
    assertError(await raw(`${u}/v1/nodes/heartbeat`, 'POST', '[]'), 'BAD_REQUEST')
    assertError(await raw(`${u}/v1/uploads/not-hex/segments`, 'POST', '{}'), 'BAD_REQUEST')
    assertError(
      await raw(
        `${u}/v1/uploads/${'ab'.repeat(16)}/segments`,
        'POST',
        JSON.stringify({ index: -1, size: 1, shardSize: 8, shards: [] }),
      ),
      'BAD_REQUEST',
    )
    assertError(await raw(`${u}/v1/files/not-a-cid`, 'GET'), 'INVALID_CID')
    assertError(await raw(`${u}/v1/files/%E0%A4%A`, 'GET'), 'BAD_REQUEST')
    // A CID with a codec we do not index (dag-cbor).
    const cbor = CID.createV1(0x71, Digest.create(0x12, sha256(new Uint8Array([1])))).toString()
    assertError(await raw(`${u}/v1/files/${cbor}`, 'GET'), 'INVALID_CID')
    assertError(await raw(`${u}/v1/files?limit=abc`, 'GET'), 'BAD_REQUEST')
    assertError(
      await raw(
        `${u}/v1/files/QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH/read`,
        'POST',
        JSON.stringify({ from: 'x' }),
      ),
      'BAD_REQUEST',
    )
    assertError(
      await raw(
        `${u}/v1/uploads/${'ab'.repeat(16)}/commit`,
        'POST',
        JSON.stringify({ request: {}, dagBlocks: ['!!'], receipts: [] }),
      ),
      'BAD_REQUEST',
    )
    // A read must name the reader's order key (the key its GET tickets bind); with only that, it reads the default range.
    const { file } = await uploadFile(h, walletA, { size: 100 })
    assertError(await raw(`${u}/v1/files/${file.cid}/read`, 'POST'), 'BAD_REQUEST')
    // The file is private: a stranger's read is refused; the owner's session (x-stratos-access) reads it.
    assertError(
      await raw(`${u}/v1/files/${file.cid}/read`, 'POST', JSON.stringify({ orderKey: ORDER_KEY })),
      'ACCESS_DENIED',
    )
    assertError(
      await raw(`${u}/v1/files/${file.cid}/read`, 'POST', JSON.stringify({ orderKey: ORDER_KEY }), {
        'x-stratos-access': 'bogus',
      }),
      'BAD_REQUEST',
    )
    const r = await raw(`${u}/v1/files/${file.cid}/read`, 'POST', JSON.stringify({ orderKey: ORDER_KEY }), {
      'x-stratos-access': sessionHeader(h.clock, walletA),
    })
    assert.equal(r.status, 200)
    assert.equal(r.body.tickets.length, 1)
    // Unknown upload through the typed client.
    await expectCode(
      h.client.planSegment(
        'cd'.repeat(16),
        sc(h, 'cd'.repeat(16), 'upload.plan', { index: 0, size: 8, shardSize: 8, shards: shardIds(h.random, 6) }),
      ),
      'UPLOAD_NOT_FOUND',
    )
    // The CreateUpload schema bounds k and m.
    await expectCode(h.client.createUpload(signCreate(h, walletA, { k: 25 })), 'BAD_REQUEST')
  } finally {
    await h.close()
  }
})

test('bodies over MAX_JSON_BODY_BYTES are 413, declared or streamed', async () => {
  const h = await startHarness({ nodes: 1 })
  try {
    const { hostname, port } = new URL(h.meta.url)
    const send = (headers: Record<string, string | number>, chunks: Buffer[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: hostname,
            port,
            method: 'POST',
            path: '/v1/uploads',
            headers: { 'content-type': 'application/json', ...headers },
          },
          (res) => {
            let body = ''
            res.on('data', (c) => {
              body += c
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          },
        )
        req.on('error', reject)
        const write = (i: number): void => {
          if (i === chunks.length) {
            req.end()
            return
          }
          if (!req.write(chunks[i])) req.once('drain', () => write(i + 1))
          else setImmediate(() => write(i + 1))
        }
        write(0)
      })
    const declared = await send({ 'content-length': MAX_JSON_BODY_BYTES + 1 }, [Buffer.from('{')])
    assert.equal(declared.status, 413)
    assert.equal(JSON.parse(declared.body).error.code, 'PAYLOAD_TOO_LARGE')
    // Chunked, no length: refused once the limit is crossed.
    const chunk = Buffer.alloc(4 * 1024 * 1024, 0x20)
    const streamed = await send(
      { 'transfer-encoding': 'chunked' },
      Array.from({ length: MAX_JSON_BODY_BYTES / chunk.length + 1 }, () => chunk),
    ).catch((e: Error) => ({ status: -1, body: e.message }))
    // The server answers 413 and closes; the client may see the answer or, if it was still writing, a reset.
    assert.ok(streamed.status === 413 || streamed.status === -1, `status ${streamed.status}`)
    if (streamed.status === 413) assert.equal(JSON.parse(streamed.body).error.code, 'PAYLOAD_TOO_LARGE')
    // The server is fine afterwards.
    assert.equal((await h.client.info()).address, h.meta.address)
  } finally {
    await h.close()
  }
})

test('status totals and stop() idempotence', async () => {
  const h = await startHarness({ nodes: 6 })
  const status = await h.client.status()
  assert.equal(status.totals.nodesOnline, 6)
  assert.equal(status.totals.capacityBytes, 6 * 20 * 1024 ** 3)
  assert.equal(status.meta.address, h.meta.address)
  await Promise.all([h.meta.stop(), h.meta.stop()])
  await h.meta.stop()
  await expectCode(() => h.meta.url, 'NETWORK_CONFIG')
  await h.restart()
  assert.equal((await h.client.status()).totals.nodesOnline, 6)
  await h.close()
})
