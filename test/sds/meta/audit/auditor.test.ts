/**
 * The auditor against a node that misbehaves on the wire (a real HTTP server answering audits badly), through a real
 * meta node: oversized and malformed answers fail the audit, an unreachable node costs online score only, and an
 * inconclusive refusal changes nothing.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { AUDIT_MAX_ANSWER_BYTES } from '../../../../src/limits.ts'
import { startHarness, TestNode, uploadFile, walletA } from '../helpers.ts'

type Mode = 'huge' | 'garbage' | 'untrusted' | 'not-me'

test('oversized or malformed answers fail; unreachable costs online score; an inconclusive refusal changes nothing', async (t) => {
  let mode: Mode = 'huge'
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (mode === 'huge') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('"' + 'x'.repeat(AUDIT_MAX_ANSWER_BYTES + 10) + '"')
      } else if (mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ response: { payload: {}, signer: 'x', key: 'y', signature: 'z' }, data: '' }))
      } else {
        // Refusals that prove nothing about the node: it does not trust us yet, or another node answers at its URL.
        res.writeHead(403, { 'content-type': 'application/json' })
        const code = mode === 'untrusted' ? 'UNTRUSTED_ISSUER' : 'AUDIT_INVALID'
        res.end(JSON.stringify({ error: { code, message: 'no' } }))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const h = await startHarness()
  t.after(() => h.close())
  const node = new TestNode(1)
  h.nodes.set(node.address, node)
  await node.heartbeat(h, { url })
  const shards: string[] = []
  for (let i = 0; i < 3; i++)
    shards.push((await uploadFile(h, walletA, { size: 100, k: 1, m: 0, seed: 10 + i })).file.segments[0].shards[0].id)
  const rep = async () => (await h.client.nodes())[0].reputation!
  const auditor = h.meta.auditor

  assert.equal(await auditor.audit(node.address, url, shards[0]), 'failed')
  assert.equal(auditor.locationState(node.address, shards[0]), 'bad')
  mode = 'garbage'
  assert.equal(await auditor.audit(node.address, url, shards[1]), 'failed')
  mode = 'untrusted'
  assert.equal(await auditor.audit(node.address, url, shards[2]), 'skipped')
  mode = 'not-me'
  assert.equal(await auditor.audit(node.address, url, shards[2]), 'skipped')
  assert.equal(auditor.locationState(node.address, shards[2]), 'referenced')
  let r = await rep()
  assert.equal(r.audits, 2)
  assert.equal(r.failedAudits, 2)
  assert.equal(r.onlineScore, 1)

  await new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  assert.equal(await auditor.audit(node.address, url, shards[2]), 'unreachable')
  r = await rep()
  assert.equal(r.failedAudits, 2, 'not an audit failure')
  assert.ok(r.onlineScore < 1, 'an online miss')
  assert.equal(auditor.locationState(node.address, shards[2]), 'referenced')
})
