/**
 * ChainClient with several validator URLs sends a sender's transactions to one validator (a validator admits a
 * sender's next nonce only after the previous one it admitted itself), picked by the address, and moves the sender
 * only when that validator cannot be reached. Two real validators (each its own single-node chain from one genesis,
 * so where a tx went is visible: only that chain has it).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChainClient, DEFAULT_TX_FEE_WEI } from '../../src/chain-client/client.ts'
import { devnetGenesis } from '../../src/chain/genesis.ts'
import { startValidator, type Validator } from '../../src/chain/node/index.ts'
import { encodeSignedTx, signTx } from '../../src/chain/tx.ts'
import { WalletKey } from '../../src/crypto/wallet-key.ts'
import { isStratosError } from '../../src/errors.ts'
import { silentLogger } from '../../src/util/components.ts'

const wallet = (i: number) => WalletKey.fromPrivateKeyHex((i + 1).toString(16).padStart(64, '0'))

test("a sender's txs go to one validator, picked by its address; it moves only when that one is down", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratos-client-senders-'))
  const wallets = Array.from({ length: 12 }, (_, i) => wallet(i))
  const genesis = devnetGenesis({
    chainId: 'client-senders-1',
    wallets: wallets.map((w) => w.address),
    genesisTime: Date.now(),
  })
  const validators: Validator[] = []
  try {
    for (const name of ['a', 'b'])
      validators.push(
        await startValidator({ dataDir: join(dir, name), port: 0, genesis, blockIntervalMs: 50, logger: silentLogger }),
      )
    const [a, b] = validators as [Validator, Validator]
    const client = new ChainClient({ url: `${a.url},${b.url}` })
    // Senders spread over both validators, the same way in every client.
    const onA = wallets.filter((w) => client.urlFor(w.address) === a.url)
    const onB = wallets.filter((w) => client.urlFor(w.address) === b.url)
    assert.ok(onA.length > 0 && onB.length > 0, `senders on a: ${onA.length}, on b: ${onB.length}`)
    assert.equal(new ChainClient({ url: `${a.url},${b.url}` }).urlFor(onB[0]!.address), b.url)

    // Consecutive txs of one sender, not waiting in between (nonces 0, 1, 2): all go to its validator, whichever
    // validator answered a read last.
    const x = onB[0]!
    await client.status()
    const hashes: string[] = []
    for (let nonce = 0n; nonce < 3n; nonce++) {
      const tx = signTx(x, {
        chainId: genesis.chainId,
        sender: x.address,
        nonce,
        fee: DEFAULT_TX_FEE_WEI,
        msgs: [{ type: 'send', to: onA[0]!.address, amount: 1n }],
      })
      hashes.push(await client.submit(encodeSignedTx(tx)))
    }
    const onChainB = new ChainClient({ url: b.url })
    const onChainA = new ChainClient({ url: a.url })
    for (const h of hashes) {
      assert.equal((await onChainB.waitTx(h, 5_000)).result.code, 'OK')
      await assert.rejects(onChainA.tx(h), (e: unknown) => isStratosError(e, 'NOT_FOUND'))
    }
    // A batch of two senders' txs: each tx to its sender's validator.
    const y = onA[0]!
    const batch = [x, y].map((w, i) =>
      encodeSignedTx(
        signTx(w, {
          chainId: genesis.chainId,
          sender: w.address,
          nonce: w === x ? 3n : 0n,
          fee: DEFAULT_TX_FEE_WEI,
          msgs: [{ type: 'send', to: wallets[11]!.address, amount: BigInt(i + 1) }],
        }),
      ),
    )
    const [rx, ry] = await client.submitBatch(batch)
    assert.ok(rx?.hash && ry?.hash, JSON.stringify([rx, ry]))
    assert.equal((await onChainB.waitTx(rx.hash, 5_000)).result.code, 'OK')
    assert.equal((await onChainA.waitTx(ry.hash, 5_000)).result.code, 'OK')

    // b down: x's next transaction fails over to a (nonce read there, included there) and x stays on a.
    await b.stop()
    const sent = await client.submitAndWait(x, [{ type: 'send', to: y.address, amount: 5n }], {
      fee: DEFAULT_TX_FEE_WEI,
      wait: true,
    })
    assert.equal(sent.code, 'OK')
    assert.equal(sent.nonce, 0n, "a's chain has none of x's earlier txs")
    assert.equal(client.urlFor(x.address), a.url)
    assert.equal((await onChainA.tx(sent.hash)).result.code, 'OK')
  } finally {
    for (const v of validators) await v.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})
