/**
 * Upload sources read straight into preallocated segment buffers: a file (positional reads, no
 * intermediate buffers), bytes in memory, or any async stream of byte pieces.
 */
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { StratosError, throwIfAborted } from '../../errors.ts'
import type { UploadSource } from './types.ts'
import { alignUp, isAligned } from '../../util/aligned-buffers.ts'
import { CLIENT_DIRECT_READ_MIN_BYTES } from '../../limits.ts'

export interface SegmentSource {
  /** Total bytes when known before reading (files, buffers); null for streams. */
  readonly size: number | null
  /** Read with direct I/O: `fill` then needs page-aligned buffers (BufferPool's `aligned`). */
  readonly direct?: boolean
  /** Reads up to `max` bytes into `into[0…]`; fewer only at the end. Returns the count. */
  fill(into: Uint8Array, max: number, signal?: AbortSignal): Promise<number>
  close(): Promise<void>
}

export interface OpenSourceOptions {
  /**
   * Read a file with direct I/O (O_DIRECT) when the file system allows it and the reads can be
   * aligned: `fill` must then be given page-aligned buffers and aligned lengths (an `aligned` BufferPool's buffers,
   * whole segments of a multiple of DIRECT_IO_ALIGN_BYTES). Default false.
   */
  direct?: boolean
}

export async function openSource(source: UploadSource, options: OpenSourceOptions = {}): Promise<SegmentSource> {
  if (typeof source === 'string') return FileSource.open(source, options.direct ?? false)
  if (source instanceof Uint8Array) return new BytesSource(source)
  if (source && typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function')
    return new StreamSource(source)
  throw new StratosError(
    'BAD_REQUEST',
    'upload source must be a file path, a Uint8Array or an AsyncIterable<Uint8Array>',
  )
}

/**
 * A file read with positional reads straight into the caller's buffers. With `direct` (opt-in,
 * PutOptions.directIo), the file is opened with O_DIRECT: the disk fills the buffer without a copy
 * out of the page cache (less CPU per MiB; bench/README.md) and a large upload does not push hotter
 * data out of the page cache; but a file that is cached already then comes from the disk again,
 * which made uploads slower on this project's VMs. Reads are then whole aligned blocks (the
 * last one ends at EOF); bytes read past `max` are ignored and read again by the next fill. Falls
 * back to ordinary reads where the file system refuses O_DIRECT.
 */
class FileSource implements SegmentSource {
  #position = 0
  #fh: FileHandle
  #direct: boolean
  private constructor(
    readonly path: string,
    fh: FileHandle,
    readonly size: number,
    direct: boolean,
  ) {
    this.#fh = fh
    this.#direct = direct
  }

  /** Whether reads bypass the page cache. */
  get direct(): boolean {
    return this.#direct
  }

  static async open(path: string, direct: boolean): Promise<FileSource> {
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
    if (direct && constants.O_DIRECT !== undefined && st.size >= CLIENT_DIRECT_READ_MIN_BYTES) {
      try {
        const directFh = await open(path, constants.O_RDONLY | constants.O_DIRECT)
        await fh.close()
        return new FileSource(path, directFh, st.size, true)
      } catch {
        // EINVAL (tmpfs and other file systems without O_DIRECT): read through the page cache.
      }
    }
    return new FileSource(path, fh, st.size, false)
  }

  async fill(into: Uint8Array, max: number, signal?: AbortSignal): Promise<number> {
    let n = 0
    while (n < max) {
      throwIfAborted(signal)
      const want = max - n
      // O_DIRECT: aligned offset and length (the buffer has room: callers pass whole aligned segments).
      const ask =
        this.#direct && isAligned(this.#position) && isAligned(n) && into.byteLength - n >= alignUp(want)
          ? alignUp(want)
          : want
      let bytesRead: number
      try {
        ;({ bytesRead } = await this.#fh.read(into, n, ask, this.#position))
      } catch (e) {
        if (!this.#direct || (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
        await this.#reopenBuffered()
        continue
      }
      if (bytesRead === 0) break
      const kept = Math.min(bytesRead, want)
      n += kept
      this.#position += kept
    }
    return n
  }

  /** An unaligned buffer or position after all: go on through the page cache. */
  async #reopenBuffered(): Promise<void> {
    const old = this.#fh
    this.#fh = await open(this.path, 'r')
    this.#direct = false
    await old.close().catch(() => {})
  }

  async close(): Promise<void> {
    await this.#fh.close().catch(() => {})
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
        if (!(r.value instanceof Uint8Array))
          throw new StratosError('BAD_REQUEST', 'upload stream yielded something that is not a Uint8Array')
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

/**
 * A local file-system failure as the SDK and the CLI both report it, naming `path` as the caller
 * gave it: a path that does not exist (or runs through a file) is NOT_FOUND, one the caller may
 * not use or cannot name is BAD_REQUEST; anything else is INTERNAL with the system's message.
 */
export function localFileError(e: unknown, path: string): StratosError {
  const code = (e as { code?: string })?.code
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new StratosError('NOT_FOUND', `no such file or directory: ${path}`, { path, errno: code })
  if (code === 'EACCES' || code === 'EPERM')
    return new StratosError('BAD_REQUEST', `permission denied: ${path}`, { path, errno: code })
  if (code === 'EISDIR') return new StratosError('BAD_REQUEST', `${path} is a directory`, { path, errno: code })
  if (code === 'ELOOP' || code === 'ENAMETOOLONG')
    return new StratosError(
      'BAD_REQUEST',
      `cannot use ${path}: ${code === 'ELOOP' ? 'too many symbolic links' : 'name too long'}`,
      { path, errno: code },
    )
  return new StratosError(
    'INTERNAL',
    `cannot read ${path}: ${(e as Error)?.message ?? String(e)}`,
    { path },
    { cause: e },
  )
}
