/**
 * The ABCI socket server: CometBFT connects to it (over TCP, `tcp://host:port`, or a Unix socket, `unix:///path`)
 * with four connections (consensus, mempool, info, snapshot), each a stream of length-prefixed protobuf
 * `Request`s (src/chain/abci/framing.ts). Every request is answered by the application synchronously, in the
 * order received, on its own connection; the responses of one received chunk go out in one write. A connection
 * gets at most ABCI_SLICE_MS of the app's (single) thread at a time: when its requests take longer (a burst of
 * CheckTx on the mempool connection), it is paused and resumed after the other connections had their turn, so
 * a FinalizeBlock or Commit on the consensus connection does not wait behind thousands of queued CheckTx.
 * Flush requests (CometBFT sends one after almost every request) are answered in their place without the app.
 *
 * A connection that sends a message over MAX_ABCI_MESSAGE_BYTES, an undecodable message, or drops is closed
 * (logged); the others and the app go on, and CometBFT reconnects or stops as its own rules say.
 */
import { existsSync, rmSync } from 'node:fs'
import net from 'node:net'
import { Request, Response } from 'cosmjs-types/tendermint/abci/types'
import { toStratosError } from '../../../errors.ts'
import { performance } from 'node:perf_hooks'
import { ABCI_SLICE_MS, MAX_ABCI_MESSAGE_BYTES } from '../../../limits.ts'
import { silentLogger, type Logger } from '../../../util/components.ts'
import { encodeFrame, FrameDecoder } from '../../abci/framing.ts'
// One allocation pool for cosmjs-types' protobuf writer instead of a fresh 8 KiB slab per message (see the module).
import './protobuf-pool.ts'

const EMPTY = new Uint8Array(0)
/**
 * A Flush request's bytes (field 2, empty) and the framed Flush response: CometBFT's socket client sends a Flush
 * after almost every request (its flush throttle is 20 ns), so flushes are answered without protobuf objects.
 */
const FLUSH_REQUEST = Request.encode(Request.fromPartial({ flush: {} })).finish()
const FLUSH_RESPONSE_FRAME = encodeFrame(Response.encode(Response.fromPartial({ flush: {} })).finish())

function isFlush(frame: Uint8Array): boolean {
  return frame.length === FLUSH_REQUEST.length && frame[0] === FLUSH_REQUEST[0] && frame[1] === FLUSH_REQUEST[1]
}

export interface AbciHandler {
  handle(req: Request): Response
}

export interface AbciServerOptions {
  /** Default MAX_ABCI_MESSAGE_BYTES. */
  maxMessageBytes?: number
  logger?: Logger
}

export class AbciServer {
  readonly #app: AbciHandler
  readonly #maxBytes: number
  readonly #logger: Logger
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #address = ''

  constructor(app: AbciHandler, o: AbciServerOptions = {}) {
    this.#app = app
    this.#maxBytes = o.maxMessageBytes ?? MAX_ABCI_MESSAGE_BYTES
    this.#logger = o.logger ?? silentLogger
    this.#server = net.createServer((socket) => this.#serve(socket))
  }

  /** The address CometBFT's `proxy_app` takes (`unix:///…` or `tcp://host:port`). */
  get address(): string {
    return this.#address
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#sockets.size
  }

  /** Listens on `unix:///path` (a stale socket file is removed first) or `tcp://host:port` (port 0: any free one). */
  async listen(address: string): Promise<string> {
    const url = new URL(address)
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      if (url.protocol === 'unix:') {
        if (existsSync(url.pathname)) rmSync(url.pathname)
        this.#server.listen(url.pathname, resolve)
      } else if (url.protocol === 'tcp:') {
        this.#server.listen(Number(url.port), url.hostname, resolve)
      } else reject(new Error(`ABCI address must be unix:// or tcp://, not ${address}`))
    })
    const a = this.#server.address()
    this.#address = typeof a === 'string' ? `unix://${a}` : `tcp://${a?.address}:${a?.port}`
    return this.#address
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const s of this.#sockets) s.destroy()
    await closed
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.setNoDelay(true)
    const decoder = new FrameDecoder(this.#maxBytes)
    // Frames received and not yet answered, in order (`next` is the first unanswered one).
    let frames: Uint8Array[] = []
    let next = 0
    let resumeScheduled = false
    const drain = (): void => {
      try {
        const started = performance.now()
        const out: Uint8Array[] = []
        while (next < frames.length) {
          const frame = frames[next]!
          frames[next++] = EMPTY
          out.push(
            isFlush(frame)
              ? FLUSH_RESPONSE_FRAME
              : encodeFrame(Response.encode(this.#app.handle(Request.decode(frame))).finish()),
          )
          if (performance.now() - started >= ABCI_SLICE_MS) break
        }
        if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
        if (next < frames.length) {
          // Yield to the other connections; this one goes on after them (its unread bytes wait in the kernel).
          socket.pause()
          resumeScheduled = true
          setImmediate(() => {
            resumeScheduled = false
            if (socket.destroyed) return
            socket.resume()
            drain()
          })
        } else {
          frames = []
          next = 0
        }
      } catch (e) {
        this.#logger.warn({ err: toStratosError(e) }, 'ABCI connection closed: bad message')
        socket.destroy()
      }
    }
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) frames.push(frame)
      } catch (e) {
        this.#logger.warn({ err: toStratosError(e) }, 'ABCI connection closed: bad message')
        socket.destroy()
        return
      }
      if (!resumeScheduled) drain()
    })
    socket.on('error', (err) => this.#logger.debug({ err }, 'ABCI connection error'))
    socket.on('close', () => this.#sockets.delete(socket))
  }
}
