/**
 * The ABCI socket server (src/chain/node/abci/server.ts) on a real Unix socket: requests of one connection are
 * answered in order, Flush requests (answered without going through the app) included, in whatever chunks they
 * arrive; an undecodable message closes only its own connection.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Request, Response } from 'cosmjs-types/tendermint/abci/types'
import { encodeFrame, FrameDecoder } from '../../../src/chain/abci/framing.ts'
import { AbciServer } from '../../../src/chain/node/abci/server.ts'

/** Echoes every Echo; counts what reaches it. */
class EchoApp {
  seen: string[] = []
  handle(req: Request): Response {
    if (req.echo) {
      this.seen.push(`echo:${req.echo.message}`)
      return Response.fromPartial({ echo: { message: req.echo.message } })
    }
    if (req.flush) {
      this.seen.push('flush')
      return Response.fromPartial({ flush: {} })
    }
    return Response.fromPartial({ exception: { error: 'unexpected' } })
  }
}

async function connect(path: string): Promise<{ socket: net.Socket; next: (n: number) => Promise<Response[]> }> {
  const socket = net.createConnection(path)
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j))
  const decoder = new FrameDecoder()
  const got: Response[] = []
  let wake: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) got.push(Response.decode(f))
    wake?.()
  })
  return {
    socket,
    next: async (n) => {
      while (got.length < n) await new Promise<void>((r) => (wake = r))
      return got.splice(0, n)
    },
  }
}

test('ABCI server: answers in request order, flushes included, across chunk boundaries', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'abci-server-'))
  const app = new EchoApp()
  const server = new AbciServer(app)
  t.after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const address = await server.listen(`unix://${join(dir, 'abci.sock')}`)
  const { socket, next } = await connect(new URL(address).pathname)
  const reqs = Array.from({ length: 40 }, (_, i) =>
    i % 3 === 2 ? Request.fromPartial({ flush: {} }) : Request.fromPartial({ echo: { message: `m${i}` } }),
  )
  const stream = Buffer.concat(reqs.map((r) => encodeFrame(Request.encode(r).finish())))
  // In uneven chunks, so frames are split and merged.
  for (let at = 0; at < stream.length; at += 7) socket.write(stream.subarray(at, at + 7))
  const answers = await next(reqs.length)
  answers.forEach((a, i) => {
    if (i % 3 === 2) assert.deepEqual(a, Response.fromPartial({ flush: {} }), `answer ${i}`)
    else assert.equal(a.echo?.message, `m${i}`, `answer ${i}`)
  })
  // Flushes are answered by the server itself; every Echo reached the app, in order.
  assert.deepEqual(
    app.seen,
    reqs.flatMap((r) => (r.echo ? [`echo:${r.echo.message}`] : [])),
  )
  socket.destroy()
})

test('ABCI server: an undecodable message closes its connection only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'abci-server-'))
  const server = new AbciServer(new EchoApp())
  t.after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const address = await server.listen(`unix://${join(dir, 'abci.sock')}`)
  const path = new URL(address).pathname
  const bad = await connect(path)
  const good = await connect(path)
  const closed = new Promise<void>((r) => bad.socket.once('close', () => r()))
  bad.socket.write(encodeFrame(Uint8Array.of(0xff, 0xff, 0xff)))
  await closed
  good.socket.write(encodeFrame(Request.encode(Request.fromPartial({ echo: { message: 'still here' } })).finish()))
  const [a] = await good.next(1)
  assert.equal(a!.echo?.message, 'still here')
  good.socket.destroy()
})
