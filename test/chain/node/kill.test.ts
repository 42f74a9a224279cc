/**
 * Kill -9 under load: a validator runs in a child process while wallets submit transfers; it is
 * SIGKILLed at a random moment and restarted on the same data directory. After each restart:
 *   - every block announced (SSE) before the kill is stored with the same hash,
 *   - every tx reported included (GET /txs/:hash/wait) before the kill is still included at the
 *     same height with the same result,
 *   - replaying the stored blocks from genesis on a fresh in-memory state machine gives each
 *     block's state hash and the restarted node's state hash (state and blocks agree).
 * A tx only admitted to the mempool (202) but not yet in a block may be lost: the mempool is in
 * memory. Those are not checked.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ChainApp } from '../../../src/chain/app.ts'
import { decodeSignedTx } from '../../../src/chain/tx.ts'
import { getJson, nodeGenesis, postTx, tempDir, transfer, wallet } from './fixtures.ts'

const CHILD = fileURLToPath(new URL('./validator-child.ts', import.meta.url))

async function startChild(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`validator child exited with ${code}`)))
  })
  return { child, url: JSON.parse(first).url }
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited
}

test('kill -9 at random moments under load: restart has the same blocks, no included tx lost, state = replay of blocks', async (t) => {
  const dataDir = tempDir(t, 'kill9')
  const senders = [wallet(1), wallet(2), wallet(3), wallet(4)]
  const to = wallet(5).address
  const seenBlocks = new Map<number, string>()
  const included = new Map<string, { height: number; code: string }>()
  let node = await startChild(dataDir)
  t.after(() => {
    node.child.kill('SIGKILL')
  })

  for (let round = 0; round < 2; round++) {
    const url = node.url
    let running = true
    const sse = (async () => {
      const res = await fetch(`${url}/events/blocks`)
      const reader = res.body!.getReader()
      const dec = new TextDecoder()
      let buf = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += dec.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = frame.split('\n').find((l) => l.startsWith('data: '))
          if (frame.startsWith('event: block') && data) {
            const b = JSON.parse(data.slice(6))
            seenBlocks.set(b.height, b.hash)
          }
        }
      }
    })().catch(() => {})
    const waits: Promise<void>[] = []
    const load = senders
      .map(async (w) => {
        let nonce = BigInt((await getJson(`${url}/accounts/${w.address}`)).body.nonce)
        while (running) {
          const r = await postTx(url, transfer(w, to, 1n + nonce, nonce))
          if (r.status !== 202) {
            await new Promise((res) => setTimeout(res, 5)) // mempool full or a block raced us: retry
            nonce = BigInt((await getJson(`${url}/accounts/${w.address}`)).body.nonce)
            continue
          }
          nonce++
          const hash: string = r.body.hash
          waits.push(
            getJson(`${url}/txs/${hash}/wait?timeoutMs=3000`).then(
              (w) => {
                if (w.status === 200) included.set(hash, { height: w.body.height, code: w.body.result.code })
              },
              () => {},
            ),
          )
        }
      })
      .map((p) => p.catch(() => {}))
    const delay = 300 + Math.floor(Math.random() * 700)
    await new Promise((r) => setTimeout(r, delay))
    await kill9(node.child)
    running = false
    await Promise.all([...load, sse, ...waits])
    t.diagnostic(
      `round ${round}: killed after ${delay} ms; ${seenBlocks.size} blocks seen, ${included.size} txs reported included`,
    )

    node = await startChild(dataDir)
    const status = (await getJson(`${node.url}/status`)).body
    const maxSeen = Math.max(0, ...seenBlocks.keys())
    assert.ok(status.height >= maxSeen, `restarted at ${status.height}, but block ${maxSeen} was announced`)
    for (const [height, hash] of seenBlocks)
      assert.equal((await getJson(`${node.url}/blocks/${height}`)).body.hash, hash, `block ${height}`)
    for (const [hash, where] of included) {
      const r = await getJson(`${node.url}/txs/${hash}`)
      assert.equal(r.status, 200, `tx ${hash} was reported included before the kill`)
      assert.equal(r.body.height, where.height)
      assert.equal(r.body.result.code, where.code)
    }
    // replay every stored block on a fresh state machine: same state hashes as the headers and the node
    const now = (await getJson(`${node.url}/status`)).body
    const replay = ChainApp.genesis(nodeGenesis())
    assert.equal((await getJson(`${node.url}/blocks/0`)).body.header.stateHash, replay.stateHash)
    for (let h = 1; h <= now.height; h++) {
      const b = (await getJson(`${node.url}/blocks/${h}`)).body
      const r = replay.applyBlock({
        height: h,
        time: b.header.time,
        proposer: b.header.proposer,
        txs: b.txs.map(decodeSignedTx),
      })
      assert.equal(r.stateHash, b.header.stateHash, `replayed block ${h}`)
    }
    assert.equal(replay.stateHash, now.stateHash)
    assert.equal(replay.height, now.height)
  }
  assert.ok(included.size > 0, 'some txs were included under load')
  await kill9(node.child)
})
