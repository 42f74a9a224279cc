/**
 * How the IPFS RPC API renders errors: capacity failures of the storage network (too few nodes, no space, a node
 * gone) are a 503 with Kubo's error shape and a plain explanation, not a bare 500; everything else keeps Kubo's
 * mapping (500 Code 0, client errors 400 Code 1), before and after the response has started.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { StratosError } from '../../../src/errors.ts'
import { clientError, kuboBody, kuboStatus, sendKuboError } from '../../../src/ipfs/rpc/kubo-error.ts'

const notEnough = new StratosError('NOT_ENOUGH_NODES', 'need 6 nodes with 262144 bytes free, 5 eligible', {
  needed: 6,
  eligible: 5,
})

test('capacity errors: 503, Code 0, a message that says what is missing and keeps our code and detail', () => {
  assert.deepEqual(kuboStatus(notEnough), { status: 503, code: 0 })
  assert.deepEqual(kuboBody(notEnough), {
    Message:
      'not enough storage nodes online to place the data; retry once more resource nodes are online (NOT_ENOUGH_NODES: need 6 nodes with 262144 bytes free, 5 eligible)',
    Code: 0,
    Type: 'error',
  })
  for (const code of ['INSUFFICIENT_STORAGE', 'NODE_UNAVAILABLE'] as const) {
    const e = new StratosError(code, 'x')
    assert.deepEqual(kuboStatus(e), { status: 503, code: 0 }, code)
    assert.match(kuboBody(e).Message, new RegExp(`retry.*\\(${code}: x\\)$`), code)
  }
})

test("other errors keep Kubo's mapping and our message as it is", () => {
  const internal = new StratosError('INTERNAL', 'boom')
  assert.deepEqual(kuboStatus(internal), { status: 500, code: 0 })
  assert.equal(kuboBody(internal).Message, 'boom')
  assert.deepEqual(kuboStatus(new StratosError('FILE_NOT_FOUND', 'no such file')), { status: 500, code: 0 })
  assert.deepEqual(kuboStatus(clientError('argument "key" is required')), { status: 400, code: 1 })
  assert.deepEqual(kuboStatus(new StratosError('PAYLOAD_TOO_LARGE', 'big')), { status: 413, code: 1 })
})

test('on the wire: a JSON body before the head, the X-Stream-Error trailer after it', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/streamed') {
      res.writeHead(200, { trailer: 'X-Stream-Error' })
      res.write('{"Name":"a"}\n')
    }
    sendKuboError(res, notEnough)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    const r = await fetch(`${base}/plain`, { method: 'POST' })
    assert.equal(r.status, 503)
    assert.equal(r.headers.get('content-type'), 'application/json')
    assert.deepEqual(await r.json(), kuboBody(notEnough))

    const trailers = await new Promise<NodeJS.Dict<string>>((resolve, reject) => {
      http
        .get(`${base}/streamed`, (res) => {
          res.resume()
          res.on('end', () => resolve(res.trailers))
        })
        .on('error', reject)
    })
    assert.equal(trailers['x-stream-error'], kuboBody(notEnough).Message)
  } finally {
    await new Promise((r) => server.close(r))
  }
})
