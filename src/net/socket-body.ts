/**
 * Shard PUT bodies read by the kernel straight into the store's staging buffers (the fast path).
 *
 * node:http hands a request body to JavaScript as a fresh ~64 KiB Buffer per socket read, which the
 * store then copies into its aligned staging buffers. A client that sends
 * `Connection: Upgrade` + `Upgrade: stratos-shard-body` (SHARD_BODY_UPGRADE) on a shard PUT gets its
 * socket handed over by node:http once the request head is parsed (the 'upgrade' event); from then
 * on each socket read lands in the staging buffer the disk write goes out from (net.Socket `onread`
 * with a buffer chosen per read). That halves the user CPU per MiB against node:http, at the same
 * system time (bench/README.md, "Measurements cited by the code").
 *
 * The connection is not switched to another protocol: the node answers in HTTP/1.1 (a server may
 * ignore an Upgrade request, RFC 9110 §7.8) and closes the connection after its answer.
 *
 * Node exposes no public way to give an existing socket an `onread` buffer, so the socket's handle is
 * moved into a new net.Socket (`_handle`, stable across Node 20); the old socket object is destroyed
 * when the new one closes, which keeps the server's connection count (and close()) right.
 */
import net from 'node:net'
import type { Writable } from 'node:stream'
import { STATUS_CODES } from 'node:http'
import { StratosError, toStratosError } from '../errors.ts'
import { DIRECT_PUT_IDLE_TIMEOUT_MS, PUMP_STAGING_BUFFERS } from '../limits.ts'

/**
 * Where the body's bytes are read into: the resource store's staging buffers (src/sds/resource/pump.ts
 * StagingBuffers has this shape). Declared here, by its consumer, so the transport imports nothing of a role.
 */
export interface StagingBuffers {
  take(): Buffer
  give(buf: Buffer): void
}

/** Bytes the body reader parks in while nothing wants them (draining a refused body). */
const DISCARD_BYTES = 64 * 1024

export class SocketBody {
  /** Declared body length (Content-Length). */
  readonly length: number
  readonly #socket: net.Socket
  /** The request's socket, whose handle this body reads from: kept referenced for as long as the body lives. */
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: held only to keep the socket (and its handle) alive
  readonly #old: net.Socket
  /** Body bytes received so far (the head's included). */
  #received = 0
  /** Bytes that arrived with the request head, consumed by the first pump or drain. */
  #head: Buffer
  /**
   * Where the next socket read should go. The handle asks for it right after each read (and once at
   * the hand-over), so a read always lands in the buffer handed out before it: `#issued`.
   */
  #target: Uint8Array
  #issued: Uint8Array
  /** Runs once the handle no longer holds `#issued` (the next read, or the close). */
  #onRelease: (() => void) | undefined
  #onBytes: (n: number, into: Uint8Array) => boolean = () => true
  #onGone: (e: StratosError) => void = () => {}
  readonly #discard = Buffer.allocUnsafe(DISCARD_BYTES)
  #closed = false
  readonly closed: Promise<void>

  private constructor(old: net.Socket, head: Buffer, length: number) {
    this.length = length
    this.#old = old
    this.#head = head
    this.#target = this.#discard
    this.#issued = this.#discard
    const handle = (old as unknown as { _handle: unknown })._handle
    if (!handle) throw new StratosError('ABORTED', 'the connection closed before its body')
    ;(old as unknown as { _handle: unknown })._handle = null
    this.#socket = new net.Socket({
      handle,
      readable: true,
      writable: true,
      pauseOnCreate: true,
      onread: { buffer: () => this.#issue(), callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf) },
    } as unknown as net.SocketConstructorOpts)
    this.#socket.setNoDelay(true)
    // A sender that stalls mid-body (or never reads the answer) does not hold the connection forever.
    this.#socket.setTimeout(DIRECT_PUT_IDLE_TIMEOUT_MS, () => this.#socket.destroy())
    this.closed = new Promise<void>((resolve) =>
      this.#socket.once('close', () => {
        this.#closed = true
        this.#released()
        old.destroy() // the server counts its connection as closed only now
        this.#onGone(new StratosError('ABORTED', 'the sender went away before the body was complete'))
        resolve()
      }),
    )
    this.#socket.on('error', () => {}) // surfaces as 'close'
    this.#socket.on('end', () => this.#onGone(new StratosError('ABORTED', 'the body ended before all bytes arrived')))
  }

  /** Takes over an upgraded request's socket (from the 'upgrade' event) and its first body bytes. */
  static adopt(socket: net.Socket, head: Buffer, length: number): SocketBody {
    return new SocketBody(socket, head, length)
  }

  /**
   * Reads the whole body into staging buffers and writes each one, full, to `sink` (the last one
   * partial), after `inspect` saw it. At most PUMP_STAGING_BUFFERS writes wait at once; the socket is
   * paused beyond. Resolves once the sink finished; a body longer than declared never gets read.
   */
  pump(sink: Writable, inspect: (piece: Buffer) => void, staging: StagingBuffers, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let current = staging.take()
      let fill = 0
      let inFlight = 0
      let done = false
      const finish = (e?: unknown): void => {
        if (done) return
        done = true
        this.#socket.pause()
        this.#target = this.#discard
        this.#onBytes = () => true
        this.#onGone = () => {}
        signal?.removeEventListener('abort', onAbort)
        // The handle may still hold a view of `current` for its next read: give it back only after.
        const last = current
        if (this.#issued.buffer === last.buffer && !this.#closed) this.#onRelease = () => staging.give(last)
        else staging.give(last)
        if (e === undefined) {
          resolve()
          return
        }
        if (!sink.destroyed) sink.destroy()
        reject(e)
      }
      const room = (): Uint8Array =>
        current.subarray(fill, Math.min(current.length, fill + this.length - this.#received))
      const flush = (): void => {
        const buf = current
        const piece = fill === buf.length ? buf : buf.subarray(0, fill)
        inspect(piece)
        inFlight++
        sink.write(piece, (err) => {
          inFlight--
          staging.give(buf)
          if (err || done) return
          if (this.#received < this.length && inFlight < PUMP_STAGING_BUFFERS) this.#socket.resume()
        })
        current = staging.take()
        fill = 0
      }
      /** Bytes of a read: in place when the read went to `room()` (the usual case), copied otherwise. */
      const onRead = (n: number, into: Uint8Array): boolean => {
        const dest = current.subarray(fill)
        if (n > this.length - this.#received || n > dest.length) {
          finish(new StratosError('BAD_REQUEST', 'more bytes than the declared body length'))
          return false
        }
        if (into.buffer !== current.buffer || into.byteOffset !== current.byteOffset + fill)
          dest.set(into.subarray(0, n))
        return accept(n)
      }
      const accept = (n: number): boolean => {
        fill += n
        this.#received += n
        try {
          if (fill === current.length || this.#received === this.length) flush()
        } catch (e) {
          finish(e)
          return false
        }
        if (this.#received === this.length) {
          this.#target = this.#discard
          sink.once('finish', () => finish())
          sink.end()
          return false
        }
        this.#target = room()
        return inFlight < PUMP_STAGING_BUFFERS
      }
      const onAbort = (): void =>
        finish(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      sink.once('error', (e) => finish(e))
      this.#onGone = (e) => finish(e)
      this.#onBytes = onRead
      // The bytes that came with the head first (they were read before the hand-over).
      let head: Buffer
      try {
        head = this.#takeHead()
      } catch (e) {
        return finish(e)
      }
      // (The socket is still paused: nothing to pause when a staging buffer fills here.)
      for (let off = 0; off < head.length && !done; ) {
        const n = Math.min(head.length - off, current.length - fill)
        head.copy(current, fill, off, off + n)
        off += n
        accept(n)
      }
      if (done || this.#received === this.length) return
      if (this.#closed) return finish(new StratosError('ABORTED', 'the sender went away before the body was complete'))
      this.#target = room()
      if (inFlight < PUMP_STAGING_BUFFERS) this.#socket.resume()
    })
  }

  /**
   * Reads and discards the rest of the body (at most `maxBytes` more), so a refused sender still reads
   * the answer; resolves with the bytes discarded, or early when the sender goes away.
   */
  drain(maxBytes: number): Promise<number> {
    return new Promise<number>((resolve) => {
      // A head longer than the body (pipelined bytes) counts as the body; the connection closes anyway.
      let discarded = Math.min(this.#head.length, this.length - this.#received)
      this.#head = Buffer.alloc(0)
      this.#received += discarded
      const limit = Math.min(this.length, this.#received - discarded + maxBytes)
      if (this.#received >= limit || this.#closed) return resolve(discarded)
      this.#target = this.#discard.subarray(0, Math.min(DISCARD_BYTES, limit - this.#received))
      this.#onGone = () => resolve(discarded)
      this.#onBytes = (n) => {
        this.#received += n
        discarded += n
        if (this.#received >= limit) {
          this.#onGone = () => {}
          resolve(discarded)
          return false
        }
        this.#target = this.#discard.subarray(0, Math.min(DISCARD_BYTES, limit - this.#received))
        return true
      }
      this.#socket.resume()
    })
  }

  /**
   * Sends a complete HTTP/1.1 answer with a JSON body and ends the connection's sending side. With
   * `close`, the connection is closed once the answer is flushed (the body was read whole); without,
   * the caller drains what is left of the body and then destroys.
   */
  respond(status: number, body: unknown, close = true): void {
    if (this.#closed) return
    const text = JSON.stringify(body)
    this.#socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      close ? () => this.#socket.destroy() : undefined,
    )
  }

  /** Answers with a typed error and keeps reading (see respond; drain next). */
  respondError(e: unknown): void {
    const err = toStratosError(e)
    this.respond(err.httpStatus, err.toBody(), false)
  }

  /** Sends `HTTP/1.1 100 Continue` (the client asked with `Expect: 100-continue`). */
  continue(): void {
    if (!this.#closed) this.#socket.write('HTTP/1.1 100 Continue\r\n\r\n')
  }

  destroy(): void {
    this.#socket.destroy()
  }

  #takeHead(): Buffer {
    const head = this.#head
    this.#head = Buffer.alloc(0)
    if (head.length > this.length) throw new StratosError('BAD_REQUEST', 'more bytes than the declared body length')
    return head
  }

  #issue(): Uint8Array {
    this.#issued = this.#target
    return this.#issued
  }

  #released(): void {
    const release = this.#onRelease
    this.#onRelease = undefined
    release?.()
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    if (n <= 0) return true
    const result = this.#onBytes(n, buf)
    // The handle is done with the buffer it read into; the next one is issued after this returns.
    this.#released()
    return result
  }
}
