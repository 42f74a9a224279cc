/**
 * POST /txs/batch and the recovery pool behind it, GET /params: a batch admits each tx on its
 * own (one sender's consecutive nonces may share a batch; a bad tx is rejected with its code and
 * the others still land), bounds are enforced, and signers recovered on worker threads give
 * exactly the main thread's answers.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRecoverSigner } from '../../../src/chain/native-secp256k1.ts'
import { startValidator } from '../../../src/chain/node/index.ts'
import { MAX_TX_BATCH_TXS, stos } from '../../../src/chain/params.ts'
import { RecoveryPool } from '../../../src/chain/recovery-pool.ts'
import { encodeSignedTx, recoverTxSigner, txEnvelope, type SignedTx } from '../../../src/chain/tx.ts'
import { CHAIN_ID, FEE, getJson, nodeGenesis, tempDir, transfer, wallet } from './fixtures.ts'

const BLOCK_MS = 40

async function postBatch(base: string, body: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/txs/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  return { status: res.status, body: await res.json() }
}

const batchOf = (txs: Array<SignedTx | string>) =>
  `{"txs":[${txs.map((t) => (typeof t === 'string' ? t : encodeSignedTx(t))).join(',')}]}`

test('POST /txs/batch admits each tx on its own, in order; the admitted ones are included', async (t) => {
  const v = await startValidator({
    dataDir: tempDir(t),
    port: 0,
    genesis: nodeGenesis(),
    blockIntervalMs: BLOCK_MS,
    recoverSigner: createRecoverSigner(),
    recoveryWorkers: 1,
  })
  t.after(() => v.stop())
  const [a, b, to] = [wallet(1), wallet(2), wallet(5)]
  const forged = { ...transfer(b, to.address, 5n, 0n), signature: transfer(a, to.address, 5n, 0n).signature } // a's signature, b as sender
  const txs: Array<SignedTx | string> = [
    transfer(a, to.address, stos(1), 0n),
    transfer(a, to.address, stos(2), 1n), // same sender, next nonce, same batch
    forged,
    '{"tx":{"chainId":"x"},"signature":"00"}', // malformed
    transfer(b, to.address, 7n, 0n, { chainId: 'other-chain' }),
    transfer(b, to.address, 7n, 0n),
    transfer(a, to.address, stos(1), 1n), // nonce 1 already pending
  ]
  const r = await postBatch(v.url, batchOf(txs))
  assert.equal(r.status, 200, JSON.stringify(r.body))
  const codes = r.body.results.map((x: any) => x.error?.code ?? 'OK')
  assert.deepEqual(codes, ['OK', 'OK', 'INVALID_SIGNATURE', 'BAD_REQUEST', 'WRONG_CHAIN', 'OK', 'CONFLICT'])
  assert.equal(r.body.results[0].hash, txEnvelope(txs[0] as SignedTx).hash)
  assert.equal(r.body.results[2].hash, txEnvelope(forged).hash)
  for (const i of [0, 1, 5]) {
    const w = await getJson(`${v.url}/txs/${r.body.results[i].hash}/wait?timeoutMs=5000`)
    assert.equal(w.status, 200, JSON.stringify(w.body))
    assert.equal(w.body.result.code, 'OK')
  }
  assert.equal((await getJson(`${v.url}/accounts/${a.address}`)).body.nonce, '2')
  assert.equal((await getJson(`${v.url}/accounts/${b.address}`)).body.nonce, '1')
  assert.equal((await getJson(`${v.url}/txs/${r.body.results[2].hash}`)).status, 404) // the forged tx never entered
  // single POST /txs goes through the pool as well
  const single = await fetch(`${v.url}/txs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: encodeSignedTx(transfer(b, to.address, 1n, 1n)),
  })
  assert.equal(single.status, 202)
  const forgedSingle = await fetch(`${v.url}/txs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: encodeSignedTx({ ...transfer(b, to.address, 9n, 2n), signature: transfer(a, to.address, 9n, 2n).signature }),
  })
  assert.equal(forgedSingle.status, 401)
  assert.equal(((await forgedSingle.json()) as any).error.code, 'INVALID_SIGNATURE')
})

test('POST /txs/batch bounds: shape, count and body size', async (t) => {
  const v = await startValidator({ dataDir: tempDir(t), port: 0, genesis: nodeGenesis(), blockIntervalMs: 10_000 })
  t.after(() => v.stop())
  const status0 = (await getJson(`${v.url}/status`)).body
  for (const body of ['[]', '{"txs":{}}', '{"txs":[],"more":1}', 'not json', '{}']) {
    const r = await postBatch(v.url, body)
    assert.equal(r.status, 400, body)
    assert.equal(r.body.error.code, 'BAD_REQUEST', body)
  }
  const empty = await postBatch(v.url, '{"txs":[]}')
  assert.equal(empty.status, 200)
  assert.deepEqual(empty.body.results, [])
  const tooMany = await postBatch(
    v.url,
    `{"txs":[${Array(MAX_TX_BATCH_TXS + 1)
      .fill('{}')
      .join(',')}]}`,
  )
  assert.equal(tooMany.status, 413)
  assert.equal(tooMany.body.error.code, 'PAYLOAD_TOO_LARGE')
  const huge = await fetch(`${v.url}/txs/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) },
    body: '{}',
  }).catch(() => undefined)
  if (huge) assert.equal(huge.status, 413)
  const status1 = (await getJson(`${v.url}/status`)).body
  assert.equal(status1.mempool.txs, status0.mempool.txs)
})

test('GET /params: the chain id, genesis time and the ChainParams in wei', async (t) => {
  const genesis = nodeGenesis()
  const v = await startValidator({ dataDir: tempDir(t), port: 0, genesis, blockIntervalMs: 10_000 })
  t.after(() => v.stop())
  const r = await getJson(`${v.url}/params`)
  assert.equal(r.status, 200)
  assert.equal(r.body.chainId, CHAIN_ID)
  assert.equal(r.body.genesisTime, genesis.genesisTime)
  const p = genesis.params
  assert.deepEqual(r.body.params, {
    epochBlocks: p.epochBlocks,
    maturityEpochs: p.maturityEpochs,
    unbondingBlocks: p.unbondingBlocks,
    reportWindowEpochs: p.reportWindowEpochs,
    historyEpochs: p.historyEpochs,
    minFeeWei: p.minFeeWei.toString(),
    minSelfDelegationWei: p.minSelfDelegationWei.toString(),
    resourceNodeTiersWei: p.resourceNodeTiersWei.map(String),
    minMetaNodeDepositWei: p.minMetaNodeDepositWei.toString(),
    signedBlocksWindow: p.signedBlocksWindow,
    minSignedPerWindowBps: p.minSignedPerWindowBps,
    downtimeJailBlocks: p.downtimeJailBlocks,
    slashFractionDowntimeBps: p.slashFractionDowntimeBps,
    slashFractionDoubleSignBps: p.slashFractionDoubleSignBps,
  })
  assert.equal(r.body.params.minFeeWei, FEE.toString())
  assert.equal((await fetch(`${v.url}/params`, { method: 'POST' })).status, 405)
})

test('the recovery pool answers exactly as the main thread, native and pure JS, and falls back after stop', async () => {
  const [a, b] = [wallet(1), wallet(2)]
  const txs: SignedTx[] = []
  for (let i = 0; i < 40; i++) txs.push(transfer(i % 2 ? a : b, a.address, BigInt(i + 1), BigInt(i)))
  txs.push({ ...txs[0]!, signature: 'ff' + txs[0]!.signature.slice(2) }) // bad recovery byte
  txs.push({ ...txs[1]!, signature: txs[1]!.signature.slice(0, 66) + 'f'.repeat(64) }) // high s
  txs.push({ ...txs[2]!, signature: txs[3]!.signature }) // another tx's signature: recovers some other key
  const envs = txs.map((x) => txEnvelope(x))
  const expected = envs.map((e) => recoverTxSigner(e))
  assert.equal(expected[0], b.address)
  assert.equal(expected[40], null)
  assert.equal(expected[41], null)
  assert.notEqual(expected[42], b.address)
  for (const native of [true, false]) {
    const pool = await RecoveryPool.start({
      workers: 2,
      native,
      fallback: native ? createRecoverSigner() : recoverTxSigner,
      maxBatch: 7,
    })
    try {
      assert.equal(pool.workers, 2)
      // several callers in the same tick share messages; each gets its own answers in order
      const [all, few] = await Promise.all([pool.recover(envs), pool.recover(envs.slice(40))])
      assert.deepEqual(all, expected, `native=${native}`)
      assert.deepEqual(few, expected.slice(40))
      assert.deepEqual(await pool.recover([]), [])
    } finally {
      await pool.stop()
    }
    assert.deepEqual(
      await pool.recover(envs.slice(0, 3)),
      expected.slice(0, 3),
      'after stop: recovered on the main thread',
    )
  }
})

test('admission answers BUSY (503) instead of queueing more signatures than the recovery bound', async (t) => {
  const v = await startValidator({
    dataDir: tempDir(t),
    port: 0,
    genesis: nodeGenesis(),
    blockIntervalMs: 10_000,
    recoverSigner: createRecoverSigner(),
    recoveryWorkers: 1,
    mempool: { maxRecoveryQueueTxs: 4 },
  })
  t.after(() => v.stop())
  const [a, to] = [wallet(1), wallet(5)]
  const txs = Array.from({ length: 5 }, (_, i) => transfer(a, to.address, 1n, BigInt(i)))
  const tooMany = await postBatch(v.url, batchOf(txs))
  assert.equal(tooMany.status, 503)
  assert.equal(tooMany.body.error.code, 'BUSY')
  assert.equal(v.chain.mempool.size, 0)
  // within the bound it goes through; two concurrent batches of 4 exceed it together only if both wait at once
  const ok = await postBatch(v.url, batchOf(txs.slice(0, 4)))
  assert.equal(ok.status, 200)
  assert.deepEqual(
    ok.body.results.map((r: any) => r.error?.code ?? 'OK'),
    ['OK', 'OK', 'OK', 'OK'],
  )
  assert.equal(v.chain.mempool.size, 4)
})
