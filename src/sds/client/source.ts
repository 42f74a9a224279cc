/**
 * Upload sources read straight into preallocated segment buffers: a file (positional reads, no
 * intermediate buffers), bytes in memory, or any async stream of byte pieces.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { StratosError, throwIfAborted } from '../../errors.ts'
import type { UploadSource } from './types.ts'

export interface SegmentSource {
  /** Total bytes when known before reading (files, buffers); null for streams. */
  readonly size: number | null
  /** Reads up to `max` bytes into `into[0…]`; fewer only at the end. Returns the count. */
  fill(into: Uint8Array, max: number, signal?: AbortSignal): Promise<number>
  close(): Promise<void>
}

export async function openSource(source: UploadSource): Promise<SegmentSource> {
  if (typeof source === 'string') return FileSource.open(source)
  if (source instanceof Uint8Array) return new BytesSource(source)
  if (source && typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') return new StreamSource(source)
  throw new StratosError('BAD_REQUEST', 'upload source must be a file path, a Uint8Array or an AsyncIterable<Uint8Array>')
}

class FileSource implements SegmentSource {
  #position = 0
  private constructor(readonly path: string, readonly fh: FileHandle, readonly size: number) {}

  static async open(path: string): Promise<FileSource> {
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (e) {
      throw localFileError(e, path)
    }
    const st = await fh.stat()
    if (!st.isFile()) {
      await fh.close()
      throw new StratosError('BAD_REQUEST', `${path} is not a regular file`, { path })
    }
    return new FileSource(path, fh, st.size)
  }

  async fill(into: Uint8Array, max: number, signal?: AbortSignal): Promise<number> {
    let n = 0
    while (n < max) {
      throwIfAborted(signal)
      const { bytesRead } = await this.fh.read(into, n, max - n, this.#position)
      if (bytesRead === 0) break
      n += bytesRead
      this.#position += bytesRead
    }
    return n
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {})
  }
}

class BytesSource implements SegmentSource {
  #position = 0
  readonly size: number
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length
  }

  async fill(into: Uint8Array, max: number): Promise<number> {
    const n = Math.min(max, this.bytes.length - this.#position)
    into.set(this.bytes.subarray(this.#position, this.#position + n))
    this.#position += n
    return n
  }

  async close(): Promise<void> {}
}

class StreamSource implements SegmentSource {
  readonly size = null
  readonly #it: AsyncIterator<Uint8Array>
  #rest: Uint8Array | null = null
  #done = false

  constructor(stream: AsyncIterable<Uint8Array>) {
    this.#it = stream[Symbol.asyncIterator]()
  }

  async fill(into: Uint8Array, max: number, signal?: AbortSignal): Promise<number> {
    let n = 0
    while (n < max) {
      throwIfAborted(signal)
      let piece = this.#rest
      this.#rest = null
      if (!piece) {
        if (this.#done) break
        const r = await this.#it.next()
        if (r.done) {
          this.#done = true
          break
        }
        if (!(r.value instanceof Uint8Array)) throw new StratosError('BAD_REQUEST', 'upload stream yielded something that is not a Uint8Array')
        piece = r.value
      }
      const take = Math.min(piece.length, max - n)
      into.set(piece.subarray(0, take), n)
      n += take
      if (take < piece.length) this.#rest = piece.subarray(take)
    }
    return n
  }

  async close(): Promise<void> {
    if (!this.#done) await this.#it.return?.().catch(() => undefined)
  }
}

export function localFileError(e: unknown, path: string): StratosError {
  const code = (e as { code?: string })?.code
  if (code === 'ENOENT') return new StratosError('NOT_FOUND', `no such file: ${path}`, { path })
  if (code === 'EACCES' || code === 'EPERM') return new StratosError('BAD_REQUEST', `permission denied: ${path}`, { path })
  if (code === 'EISDIR') return new StratosError('BAD_REQUEST', `${path} is a directory`, { path })
  return new StratosError('INTERNAL', `cannot read ${path}: ${(e as Error)?.message ?? String(e)}`, { path }, { cause: e })
}
