/**
 * The ABCI socket server: CometBFT connects to it (over TCP, `tcp://host:port`, or a Unix socket, `unix:///path`)
 * with four connections (consensus, mempool, info, snapshot), each a stream of length-prefixed protobuf
 * `Request`s (src/chain/abci/framing.ts). Every request is answered by the application synchronously, in the
 * order received, on its own connection; the responses of one received chunk go out in one write.
 *
 * A connection that sends a message over MAX_ABCI_MESSAGE_BYTES, an undecodable message, or drops is closed
 * (logged); the others and the app go on, and CometBFT reconnects or stops as its own rules say.
 */
import { existsSync, rmSync } from 'node:fs'
import net from 'node:net'
import { Request, Response } from 'cosmjs-types/tendermint/abci/types'
import { toStratosError } from '../../../errors.ts'
import { MAX_ABCI_MESSAGE_BYTES } from '../../../limits.ts'
import { silentLogger, type Logger } from '../../../util/components.ts'
import { encodeFrame, FrameDecoder } from '../../abci/framing.ts'

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
    socket.on('data', (chunk: Buffer) => {
      try {
        const out: Uint8Array[] = []
        for (const frame of decoder.push(chunk)) {
          const res = this.#app.handle(Request.decode(frame))
          out.push(encodeFrame(Response.encode(res).finish()))
        }
        if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out))
      } catch (e) {
        this.#logger.warn({ err: toStratosError(e) }, 'ABCI connection closed: bad message')
        socket.destroy()
      }
    })
    socket.on('error', (err) => this.#logger.debug({ err }, 'ABCI connection error'))
    socket.on('close', () => this.#sockets.delete(socket))
  }
}
