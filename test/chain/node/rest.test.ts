/**
 * The validator end to end over HTTP: signed transfers through POST /txs land in blocks, balances
 * and nonces via GET, block headers chain and commit to their txs, SSE delivers blocks, bad input
 * gets the right 4xx code, and a restart resumes at the same height and state hash.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { blockHash, startValidator, txMerkleRoot } from '../../../src/chain/node/index.ts'
import { stos } from '../../../src/chain/params.ts'
import { encodeSignedTx } from '../../../src/chain/tx.ts'
import { CHAIN_ID, FEE, getJson, nodeGenesis, postTx, tempDir, transfer, wallet } from './fixtures.ts'

const BLOCK_MS = 40

test('transfers through POST /txs are included; balances, nonces, blocks and queries over GET', async (t) => {
  const dataDir = tempDir(t)
  const v = await startValidator({ dataDir, port: 0, genesis: nodeGenesis(), blockIntervalMs: BLOCK_MS })
  t.after(() => v.stop())
  const base = v.url
  const [a, b, to] = [wallet(1), wallet(2), wallet(5)]
  const before = (await getJson(`${base}/accounts/${to.address}`)).body
  const txs = [
    transfer(a, to.address, stos(1), 0n),
    transfer(a, to.address, stos(2), 1n),
    transfer(b, to.address, 7n, 0n),
  ]
  const hashes: string[] = []
  for (const tx of txs) {
    const r = await postTx(base, tx)
    assert.equal(r.status, 202, JSON.stringify(r.body))
    hashes.push(r.body.hash)
  }
  for (const hash of hashes) {
    const r = await getJson(`${base}/txs/${hash}/wait?timeoutMs=5000`)
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.hash, hash)
    assert.equal(r.body.result.code, 'OK')
    assert.equal(r.body.result.included, true)
  }
  const after = (await getJson(`${base}/accounts/${to.address}`)).body
  assert.equal(BigInt(after.balance) - BigInt(before.balance), stos(3) + 7n)
  const acc = (await getJson(`${base}/accounts/${a.address}`)).body
  assert.equal(acc.nonce, '2')
  assert.equal((await getJson(`${base}/accounts/${b.address}`)).body.nonce, '1')
  // a block holds its txs, its header commits to them and chains to its parent
  const where = (await getJson(`${base}/txs/${hashes[0]}`)).body
  const block = (await getJson(`${base}/blocks/${where.height}`)).body
  assert.equal(block.hash, blockHash(block.header))
  assert.equal(block.header.txRoot, txMerkleRoot(block.txs.map((_: unknown, i: number) => block.results[i].hash)))
  assert.equal(block.txs[where.index].signature, txs[0]!.signature)
  assert.equal(block.header.txCount, block.txs.length)
  const parent = (await getJson(`${base}/blocks/${where.height - 1}`)).body
  assert.equal(block.header.parentHash, parent.hash)
  const genesis = (await getJson(`${base}/blocks/0`)).body
  assert.equal(genesis.header.parentHash, '0'.repeat(64))
  // the validator collected the fees (it proposes every block)
  const status = (await getJson(`${base}/status`)).body
  assert.equal(status.chainId, CHAIN_ID)
  assert.ok(status.height >= where.height)
  const latest = (await getJson(`${base}/blocks/latest`)).body
  assert.ok(latest.header.height >= status.height)
  assert.equal((await getJson(`${base}/blocks/${latest.header.height}`)).body.hash, latest.hash)
  // tx not yet known → 404; a replay of an included tx → REPLAYED_NONCE
  assert.equal((await getJson(`${base}/txs/${'ab'.repeat(32)}`)).status, 404)
  const replay = await postTx(base, txs[0]!)
  assert.equal(replay.status, 409)
  assert.equal(replay.body.error.code, 'REPLAYED_NONCE')
  // the other read endpoints answer
  const val = wallet(0).address
  for (const path of [
    '/ozone',
    `/ozone/${to.address}`,
    '/validators',
    `/validators/${val}/delegations`,
    `/delegations/${val}`,
    '/nodes/resource',
    '/nodes/meta',
    `/rewards/${val}`,
    `/rewards/${val}?epoch=1`,
    '/reports',
    '/reports?epoch=1',
    '/mining',
  ]) {
    const r = await getJson(base + path)
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`)
  }
  assert.equal((await getJson(`${base}/validators`)).body[0].operator, val)
  assert.equal((await getJson(`${base}/mining`)).body.totalSupply, stos(100_000_000).toString())
  assert.equal((await getJson(`${base}/delegations/${val}`)).body.delegations.length, 1)
})

test('every bad input gets its 4xx code and changes nothing', async (t) => {
  const v = await startValidator({ dataDir: tempDir(t), port: 0, genesis: nodeGenesis(), blockIntervalMs: BLOCK_MS })
  t.after(() => v.stop())
  const base = v.url
  const a = wallet(1),
    to = wallet(5).address
  const good = transfer(a, to, 1n, 0n)
  const json = JSON.parse(encodeSignedTx(good))
  const withMsg = (m: Record<string, unknown>) =>
    JSON.stringify({ ...json, tx: { ...json.tx, msgs: [{ ...json.tx.msgs[0], ...m }] } })
  const badChecksum = to.slice(0, -1) + (to.endsWith('q') ? 'p' : 'q')
  const cases: Array<[string, string, number]> = [
    ['{"tx":', 'BAD_REQUEST', 400],
    ['[]', 'BAD_REQUEST', 400],
    [withMsg({ type: 'mint_money' }), 'UNKNOWN_MESSAGE', 400],
    [withMsg({ amount: '-5' }), 'BAD_REQUEST', 400],
    [withMsg({ amount: '1.5' }), 'BAD_REQUEST', 400],
    [withMsg({ amount: 5 }), 'BAD_REQUEST', 400],
    [withMsg({ to: badChecksum }), 'BAD_REQUEST', 400],
    [JSON.stringify({ ...json, tx: { ...json.tx, sender: badChecksum } }), 'BAD_REQUEST', 400],
    [withMsg({ amount: '2' }), 'INVALID_SIGNATURE', 401],
    [encodeSignedTx(transfer(a, to, 1n, 0n, { chainId: 'other-chain' })), 'WRONG_CHAIN', 401],
    [encodeSignedTx(transfer(a, to, 1n, 1000n)), 'BAD_NONCE', 409],
    [encodeSignedTx(transfer(a, to, 1n, 0n, { fee: FEE - 1n })), 'INSUFFICIENT_FEE', 422],
    ['{"pad":"' + 'x'.repeat(9 * 1024 * 1024) + '"}', 'PAYLOAD_TOO_LARGE', 413],
  ]
  for (const [body, code, status] of cases) {
    const r = await postTx(base, body)
    assert.equal(r.body.error?.code, code, `${body.slice(0, 80)} → ${JSON.stringify(r.body).slice(0, 300)}`)
    assert.equal(r.status, status)
    assert.equal(typeof r.body.error.message, 'string')
  }
  const bad: Array<[string, string, number]> = [
    [`/accounts/${badChecksum}`, 'BAD_REQUEST', 400],
    [`/accounts/${to.toUpperCase()}`, 'BAD_REQUEST', 400],
    ['/blocks/-1', 'BAD_REQUEST', 400],
    ['/blocks/1.5', 'BAD_REQUEST', 400],
    ['/blocks/999999', 'NOT_FOUND', 404],
    ['/txs/xyz', 'BAD_REQUEST', 400],
    [`/rewards/${to}?epoch=abc`, 'BAD_REQUEST', 400],
    ['/nope', 'NOT_FOUND', 404],
  ]
  for (const [path, code, status] of bad) {
    const r = await getJson(base + path)
    assert.equal(r.body.error?.code, code, path)
    assert.equal(r.status, status, path)
  }
  const del = await fetch(`${base}/status`, { method: 'DELETE' })
  assert.equal(del.status, 405)
  // a wait that times out
  const w = await getJson(`${base}/txs/${'cd'.repeat(32)}/wait?timeoutMs=60`)
  assert.equal(w.body.error.code, 'TIMEOUT')
  // nothing of the above changed a's account; the good tx still goes through
  assert.equal((await getJson(`${base}/accounts/${a.address}`)).body.nonce, '0')
  assert.equal((await postTx(base, good)).status, 202)
  const dup = await postTx(base, good)
  assert.ok(dup.body.error.code === 'CONFLICT' || dup.body.error.code === 'REPLAYED_NONCE', dup.body.error.code)
})

test('a tx admitted but rejected by its block is reported with included: false and its code', async (t) => {
  const v = await startValidator({ dataDir: tempDir(t), port: 0, genesis: nodeGenesis(), blockIntervalMs: 10_000 })
  t.after(() => v.stop())
  const a = wallet(1),
    to = wallet(5).address
  const balance = BigInt((await getJson(`${v.url}/accounts/${a.address}`)).body.balance)
  const drain = transfer(a, to, balance - FEE, 0n)
  const late = transfer(a, to, 1n, 1n)
  assert.equal((await postTx(v.url, drain)).status, 202)
  const r = await postTx(v.url, late)
  assert.equal(r.status, 202)
  const pending = await getJson(`${v.url}/txs/${r.body.hash}`)
  assert.equal(pending.status, 404)
  assert.equal(pending.body.error.details.pending, true)
  const waiting = getJson(`${v.url}/txs/${r.body.hash}/wait?timeoutMs=5000`)
  const block = v.producer.produceBlock()
  assert.equal(block.header.txCount, 2)
  const res = await waiting
  assert.equal(res.status, 200)
  assert.equal(res.body.result.included, false)
  assert.equal(res.body.result.code, 'INSUFFICIENT_FUNDS')
  assert.equal((await getJson(`${v.url}/accounts/${a.address}`)).body.nonce, '1')
  assert.equal((await getJson(`${v.url}/status`)).body.mempool.txs, 0)
})

async function readSse(url: string, events: number): Promise<any[]> {
  const res = await fetch(url)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
  const out: any[] = []
  const decoder = new TextDecoder()
  let buf = ''
  const reader = res.body!.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buf += decoder.decode(value, { stream: true })
    let i: number
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i)
      buf = buf.slice(i + 2)
      if (!frame.startsWith('event: block')) continue
      out.push(
        JSON.parse(
          frame
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6),
        ),
      )
      if (out.length === events) {
        await reader.cancel()
        return out
      }
    }
  }
  return out
}

test('GET /events/blocks streams every new block; subscribers are bounded', async (t) => {
  const v = await startValidator({
    dataDir: tempDir(t),
    port: 0,
    genesis: nodeGenesis(),
    blockIntervalMs: BLOCK_MS,
    maxSseSubscribers: 1,
  })
  t.after(() => v.stop())
  const streamed = readSse(`${v.url}/events/blocks`, 4)
  await new Promise((r) => setTimeout(r, 20))
  const second = await getJson(`${v.url}/events/blocks`)
  assert.equal(second.status, 503)
  assert.equal(second.body.error.code, 'BUSY')
  const blocks = await streamed
  assert.equal(blocks.length, 4)
  for (let i = 1; i < blocks.length; i++) assert.equal(blocks[i].height, blocks[i - 1].height + 1)
  for (const b of blocks) {
    const stored = (await getJson(`${v.url}/blocks/${b.height}`)).body
    assert.equal(stored.hash, b.hash)
    assert.equal(b.txCount, 0)
  }
})

test('a stopped validator restarts at the same height and state hash and keeps producing', async (t) => {
  const dataDir = tempDir(t)
  const v1 = await startValidator({ dataDir, port: 0, genesis: nodeGenesis(), blockIntervalMs: BLOCK_MS })
  const r = await postTx(v1.url, transfer(wallet(1), wallet(5).address, 1n, 0n))
  await getJson(`${v1.url}/txs/${r.body.hash}/wait?timeoutMs=5000`)
  await v1.stop()
  const height = v1.height,
    stateHash = v1.stateHash
  assert.ok(height >= 1)
  // no genesis given: it comes from the store (genesis.json is the copy)
  const v2 = await startValidator({ dataDir, port: 0, blockIntervalMs: 10_000 })
  t.after(() => v2.stop())
  const status = (await getJson(`${v2.url}/status`)).body
  assert.equal(status.height, height)
  assert.equal(status.stateHash, stateHash)
  assert.equal(v2.chainId, CHAIN_ID)
  assert.equal((await getJson(`${v2.url}/txs/${r.body.hash}`)).body.result.code, 'OK')
  const next = v2.producer.produceBlock()
  assert.equal(next.header.height, height + 1)
  assert.equal(next.header.parentHash, status.latestBlockHash)
  await assert.rejects(startValidator({ dataDir: tempDir(t), port: 0 }), (e: any) => e.code === 'NETWORK_CONFIG')
})

test('GET /accounts/:address/txs: the txs an address sent or received, newest first, paged by height', async (t) => {
  const dataDir = tempDir(t)
  const v = await startValidator({ dataDir, port: 0, genesis: nodeGenesis(), blockIntervalMs: BLOCK_MS })
  t.after(() => v.stop())
  const base = v.url
  const [a, b, to] = [wallet(1), wallet(2), wallet(6)]
  const hashes: string[] = []
  for (const tx of [transfer(a, to.address, 5n, 0n), transfer(b, to.address, 6n, 0n), transfer(a, b.address, 7n, 1n)]) {
    const r = await postTx(base, tx)
    assert.equal(r.status, 202, JSON.stringify(r.body))
    hashes.push(r.body.hash)
    assert.equal((await getJson(`${base}/txs/${r.body.hash}/wait?timeoutMs=5000`)).status, 200)
  }
  const received = (await getJson(`${base}/accounts/${to.address}/txs`)).body.txs
  assert.deepEqual(
    received.map((x: { hash: string }) => x.hash),
    [hashes[1], hashes[0]],
  )
  assert.equal(received[0].tx.tx.sender, b.address)
  assert.equal(received[0].result.code, 'OK')
  // a's history: both its sends, newest first; b's: what it received and what it sent
  assert.deepEqual(
    (await getJson(`${base}/accounts/${a.address}/txs`)).body.txs.map((x: { hash: string }) => x.hash),
    [hashes[2], hashes[0]],
  )
  assert.deepEqual(
    (await getJson(`${base}/accounts/${b.address}/txs`)).body.txs.map((x: { hash: string }) => x.hash),
    [hashes[2], hashes[1]],
  )
  // paging: limit 1, then below the first entry's height
  const first = (await getJson(`${base}/accounts/${to.address}/txs?limit=1`)).body.txs
  assert.deepEqual(
    first.map((x: { hash: string }) => x.hash),
    [hashes[1]],
  )
  const next = (await getJson(`${base}/accounts/${to.address}/txs?limit=1&before=${first[0].height}`)).body.txs
  assert.deepEqual(
    next.map((x: { hash: string }) => x.hash),
    [hashes[0]],
  )
  assert.deepEqual((await getJson(`${base}/accounts/${wallet(7).address}/txs`)).body.txs, [])
  const bad = await getJson(`${base}/accounts/${to.address}/txs?limit=x`)
  assert.equal(bad.status, 400)
  assert.equal(bad.body.error.code, 'BAD_REQUEST')
})
