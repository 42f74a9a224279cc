/**
 * Moves a request body into a file stream with backpressure, inspecting every piece on the way.
 *
 * Unlike stream.pipeline, a failure here never destroys the source: an HTTP server still needs
 * the request's socket to answer the error (it drains the rest of the body itself), and only a
 * client that really went away ends the connection.
 */
import type { Readable, Writable } from 'node:stream'
import { StratosError } from '../../errors.ts'

export function pumpInto(source: Readable, sink: Writable, inspect: (piece: Buffer) => void, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false
    let ended = false

    const finish = (err?: unknown): void => {
      if (done) return
      done = true
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onSourceError)
      source.off('close', onSourceClose)
      sink.off('drain', onDrain)
      sink.off('error', onSinkError)
      sink.off('finish', onFinish)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) {
        resolve()
      } else {
        if (!sink.destroyed) sink.destroy()
        reject(err)
      }
    }
    const onData = (piece: Buffer): void => {
      try {
        inspect(piece)
      } catch (e) {
        source.pause()
        finish(e)
        return
      }
      if (!sink.write(piece)) source.pause()
    }
    const onDrain = (): void => {
      if (!done) source.resume()
    }
    const onEnd = (): void => {
      ended = true
      sink.end()
    }
    const onFinish = (): void => finish()
    const onSourceError = (e: unknown): void => finish(asAborted(e))
    const onSourceClose = (): void => {
      if (!ended) finish(new StratosError('ABORTED', 'the body ended before all bytes arrived'))
    }
    const onSinkError = (e: unknown): void => finish(e)
    const onAbort = (): void => finish(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))

    if (signal?.aborted) return onAbort()
    if (source.destroyed && !source.readableEnded) return finish(new StratosError('ABORTED', 'the body was already closed'))
    signal?.addEventListener('abort', onAbort, { once: true })
    sink.on('drain', onDrain)
    sink.on('error', onSinkError)
    sink.on('finish', onFinish)
    source.on('error', onSourceError)
    source.on('close', onSourceClose)
    source.on('end', onEnd)
    if (source.readableEnded) onEnd()
    else source.on('data', onData)
  })
}

/** Reads a source to its end, discarding the bytes; fails if more than `maxBytes` arrive. Returns the byte count. */
export function drainSource(source: Readable, maxBytes: number, signal?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let total = 0
    let done = false
    const finish = (err?: unknown): void => {
      if (done) return
      done = true
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onError)
      source.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve(total)
      else reject(err)
    }
    const onData = (piece: Buffer): void => {
      total += piece.length
      if (total > maxBytes) finish(new StratosError('SIZE_MISMATCH', `body is longer than the expected ${maxBytes} bytes`))
    }
    const onEnd = (): void => finish()
    const onError = (e: unknown): void => finish(asAborted(e))
    const onClose = (): void => {
      if (!source.readableEnded) finish(new StratosError('ABORTED', 'the body ended before all bytes arrived'))
    }
    const onAbort = (): void => finish(new StratosError('ABORTED', 'operation aborted', undefined, { cause: signal?.reason }))
    if (signal?.aborted) return onAbort()
    if (source.readableEnded) return finish()
    if (source.destroyed) return finish(new StratosError('ABORTED', 'the body was already closed'))
    signal?.addEventListener('abort', onAbort, { once: true })
    source.on('end', onEnd)
    source.on('error', onError)
    source.on('close', onClose)
    source.on('data', onData)
  })
}

/** Errors of the body source mean the sender went away (connection reset, aborted request). */
function asAborted(e: unknown): StratosError {
  if (e instanceof StratosError) return e
  return new StratosError('ABORTED', 'the sender went away before the body was complete', undefined, { cause: e })
}
